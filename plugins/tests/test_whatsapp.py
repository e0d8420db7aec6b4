"""The whatsapp channel, against a scripted Cloud API (Graph) on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from syndicator_channels.whatsapp import PARAM_BUDGET, WhatsAppChannel, fit_parameters

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import make_session
from syndicator.models import Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, hard_releases

pytest_plugins = ["syndicator.testing"]

TOKEN = "EAAGm0PX4ZCpsBAs3cretT0kenXYZ"
NUMBER_ID = "109876543210987"
WABA = "204060801020304"
MESSAGES = f"/v23.0/{NUMBER_ID}/messages"
ALICE, BOB, CAROL = "+6281234567890", "+6285712345678", "+628111222333"
CtxFactory = Callable[..., ChannelContext]


def graph_error(status: int, code: int, message: str, details: str = "", subcode: int | None = None) -> Reply:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Reply(status, json={"error": error})


class CloudApi:
    """Just enough of the Cloud API: Bearer check, template messages, a wamid per recipient."""

    def __init__(self, server: ScriptedServer) -> None:
        self.lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []
        self.by_recipient: dict[str, list[Reply]] = {}
        server.handler("POST", MESSAGES, self._send)

    def refuse(self, number: str, *replies: Reply) -> None:
        self.by_recipient.setdefault(number.removeprefix("+"), []).extend(replies)

    def _send(self, req: Recorded) -> Reply:
        if req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        body = req.json
        with self.lock:
            queued = self.by_recipient.get(body["to"])
            if queued:
                return queued.pop(0)
            if body.get("messaging_product") != "whatsapp" or body.get("type") != "template":
                return graph_error(400, 100, "Invalid parameter")
            for param in body["template"]["components"][0]["parameters"]:
                text = param["text"]
                if not text or "\n" in text or "\t" in text or "     " in text:
                    return graph_error(
                        400,
                        100,
                        "Invalid parameter",
                        "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
                    )
            self.sent.append(body)
            wamid = f"wamid.HBgN{len(self.sent):04d}"
        return Reply(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            },
        )


@pytest.fixture
def api(scripted_server: ScriptedServer) -> CloudApi:
    return CloudApi(scripted_server)


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    def make(
        *,
        token: str = TOKEN,
        session: Callable[[], requests.Session] | None = None,
        **raw: Any,
    ) -> ChannelContext:
        values: dict[str, Any] = {
            "token": {"env": "WA_TOKEN"},
            "phone_number_id": NUMBER_ID,
            "template": "siaran_pers_baru",
            "language": "id",
            "recipients": [ALICE, BOB],
            "api_base": scripted_server.url,
            **raw,
        }
        options, problems = resolve_options(values, WhatsAppChannel.options, environ={"WA_TOKEN": token})
        assert problems == []
        assert WhatsAppChannel.validate(options) == []
        return ChannelContext(
            name="whatsapp-press",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t.whatsapp"),
            idempotency_key="k-123",
            timezone="Asia/Jakarta",
            _session_factory=session,
        )

    return make


@pytest.fixture
def release() -> Release:
    return Release(
        source="diskominfo",
        id="2026-050",
        title="Banjir\tSurut,\n  Sekolah    Kembali Dibuka",
        summary="Seluruh sekolah di tiga kecamatan kembali dibuka.",
        url="https://bpbd.example.go.id/rilis/2026-050",
        published=datetime(2026, 3, 2, 20, 0, tzinfo=UTC),
        agency="BPBD",
        language="id",
    )


def _publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = WhatsAppChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the contract -------------------------------------------------------------------------------


class TestWhatsAppContract(ChannelContract):
    channel_class = WhatsAppChannel
    channel_name = "whatsapp-press"

    def options(self, url: str) -> dict[str, Any]:
        return {
            "token": {"env": "WA_TOKEN"},
            "phone_number_id": NUMBER_ID,
            "template": "siaran_pers_baru",
            "language": "id",
            "recipients": [ALICE, BOB],
            "api_base": url,
        }

    def environ(self, url: str) -> dict[str, str]:
        return {"WA_TOKEN": TOKEN}

    def script_success(self, server: ScriptedServer) -> None:
        CloudApi(server)

    def script_transient(self, server: ScriptedServer) -> None:
        server.script(
            "POST",
            MESSAGES,
            graph_error(400, 130429, "Rate limit hit", "Cloud API message throughput has been reached."),
        )

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script(
            "POST",
            MESSAGES,
            graph_error(
                400,
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed",
            ),
        )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script(
            "POST", MESSAGES, graph_error(401, 190, "Error validating access token: Session has expired")
        )

    def script_check(self, server: ScriptedServer) -> None:
        CloudApi(server)
        server.script(
            "GET",
            f"/v23.0/{NUMBER_ID}",
            Reply(
                200,
                json={"display_phone_number": "+62 21 555 0100", "verified_name": "Humas", "id": NUMBER_ID},
            ),
        )


# -- render ---------------------------------------------------------------------------------------


def test_render_template_and_preview(release: Release, make_ctx: CtxFactory) -> None:
    post = WhatsAppChannel().render(release, make_ctx())
    assert post.extra["template"] == {
        "name": "siaran_pers_baru",
        "language": {"code": "id"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Banjir Surut, Sekolah Kembali Dibuka"},
                    {"type": "text", "text": "https://bpbd.example.go.id/rilis/2026-050"},
                ],
            }
        ],
    }
    assert post.extra["recipients"] == [ALICE, BOB]
    assert post.text == (
        "WhatsApp template siaran_pers_baru (id) to 2 recipient(s)\n"
        "{{1}} Banjir Surut, Sekolah Kembali Dibuka\n"
        "{{2}} https://bpbd.example.go.id/rilis/2026-050"
    )


def test_render_chosen_parameters(release: Release, make_ctx: CtxFactory) -> None:
    ctx = make_ctx(parameters=["agency", "date", "summary", "id"])
    params = WhatsAppChannel().render(release, ctx).extra["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == [
        "BPBD",
        "2026-03-03",  # the date where the office is (Asia/Jakarta)
        "Seluruh sekolah di tiga kecamatan kembali dibuka.",
        "2026-050",
    ]
    assert WhatsAppChannel().render(release, make_ctx(parameters=[])).extra["template"]["components"] == []


def test_parameters_are_one_line_never_empty_and_within_budget() -> None:
    url = "https://e.example/" + "a" * 500
    out = fit_parameters([("title", "kata " * 400), ("url", url), ("summary", ""), ("agency", "A\n\nB")])
    assert out[1] == url and out[2] == "-" and out[3] == "A B"
    assert sum(map(len, out)) <= PARAM_BUDGET and out[0].endswith("…")
    for value in out:
        assert "\n" not in value and "\t" not in value and "  " not in value


def test_every_hard_release_renders_valid_parameters(make_ctx: CtxFactory) -> None:
    ctx = make_ctx(parameters=["title", "url", "summary", "agency"])
    for name, release in hard_releases().items():
        post = WhatsAppChannel().render(release, ctx)
        params = [p["text"] for p in post.extra["template"]["components"][0]["parameters"]]
        assert all(p and "\n" not in p for p in params), name
        assert params[1] == (release.url or "-")


def test_correction_and_retraction_say_so_in_the_title(release: Release, make_ctx: CtxFactory) -> None:
    ctx = make_ctx()
    original = Receipt(remote_id="wamid.1")
    correction = WhatsAppChannel().render_correction(release, original, ctx)
    first = correction.extra["template"]["components"][0]["parameters"][0]["text"]
    assert first == "Ralat: Banjir Surut, Sekolah Kembali Dibuka"
    retraction = WhatsAppChannel().render_retraction(release, original, "data keliru", ctx)
    first = retraction.extra["template"]["components"][0]["parameters"][0]["text"]
    assert first == "Pencabutan siaran pers: Banjir Surut, Sekolah Kembali Dibuka (data keliru)"


# -- publish --------------------------------------------------------------------------------------


def test_publish_one_template_message_per_recipient(
    release: Release, make_ctx: CtxFactory, api: CloudApi, scripted_server: ScriptedServer
) -> None:
    ctx = make_ctx()
    post = WhatsAppChannel().render(release, ctx)
    receipt = WhatsAppChannel().publish(post, ctx)
    assert [(r.method, r.path) for r in scripted_server.requests] == [("POST", MESSAGES)] * 2
    for req, number in zip(scripted_server.requests, [ALICE, BOB], strict=True):
        assert req.headers["Authorization"] == f"Bearer {TOKEN}"
        assert req.headers["Content-Type"] == "application/json"
        assert req.json == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": number.removeprefix("+"),
            "type": "template",
            "template": post.extra["template"],
        }
    assert receipt == Receipt(
        remote_id="wamid.HBgN0001",
        ids=("wamid.HBgN0001", "wamid.HBgN0002"),
        extra={
            "template": "siaran_pers_baru",
            "sent": {ALICE: "wamid.HBgN0001", BOB: "wamid.HBgN0002"},
            "failed": {},
        },
    )


def test_some_recipients_failing_is_recorded_not_retried(
    release: Release, make_ctx: CtxFactory, api: CloudApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.refuse(BOB, graph_error(400, 131026, "Message undeliverable"))
    api.refuse(CAROL, graph_error(400, 130429, "Rate limit hit"))
    caplog.set_level(logging.WARNING, logger="t.whatsapp")
    receipt = _publish(make_ctx(recipients=[ALICE, BOB, CAROL]), release)
    assert receipt.extra["sent"] == {ALICE: "wamid.HBgN0001"}
    failed = receipt.extra["failed"]
    assert set(failed) == {BOB, CAROL}
    assert failed[BOB]["class"] == "permanent" and failed[BOB]["code"] == 131026
    assert "could not deliver" in failed[BOB]["error"]
    assert failed[CAROL]["class"] == "transient" and failed[CAROL]["code"] == 130429
    assert f"{BOB} not reached" in caplog.text and f"{CAROL} not reached" in caplog.text


def test_everyone_outside_the_24_hour_window_is_permanent(
    release: Release, make_ctx: CtxFactory, api: CloudApi
) -> None:
    for number in (ALICE, BOB):
        api.refuse(
            number, graph_error(400, 131047, "Re-engagement message", "more than 24 hours have passed")
        )
    with pytest.raises(PermanentError) as info:
        _publish(make_ctx(), release)
    assert not isinstance(info.value, AuthError)
    assert "24 hours" in str(info.value) and "approved template" in str(info.value)
    assert ALICE in str(info.value) and BOB in str(info.value)


@pytest.mark.parametrize(
    "reply",
    [
        graph_error(401, 190, "Error validating access token: Session has expired"),
        graph_error(403, 10, "Application does not have permission for this action"),
        graph_error(400, 200, "Permissions error"),
    ],
)
def test_a_refused_token_stops_at_the_first_recipient(
    reply: Reply, release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", MESSAGES, reply)
    with pytest.raises(AuthError):
        _publish(make_ctx(recipients=[ALICE, BOB, CAROL]), release)
    assert len(scripted_server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (graph_error(400, 130429, "Rate limit hit"), None),
        (graph_error(400, 131056, "(Business Account, Consumer Account) pair rate limit hit"), None),
        (graph_error(400, 4, "Application request limit reached"), None),
        (Reply(503, body=b"Service Unavailable", headers={"Retry-After": "20"}), 20.0),
        (graph_error(500, 131000, "Something went wrong"), None),
    ],
)
def test_everyone_rate_limited_or_server_errors_are_transient(
    reply: Reply,
    retry_after: float | None,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script("POST", MESSAGES, reply)
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after == retry_after


def test_template_problems_are_permanent_with_a_hint(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script(
        "POST", MESSAGES, graph_error(404, 132001, "Template name does not exist in the translation")
    )
    with pytest.raises(PermanentError, match="check `template` and `language`"):
        _publish(make_ctx(), release)


def test_timeouts_are_unknown_unless_someone_was_reached(
    release: Release, make_ctx: CtxFactory, api: CloudApi
) -> None:
    api.refuse(ALICE, Reply(200, delay=2))
    ctx = make_ctx(session=lambda: make_session(timeout=0.3))
    receipt = _publish(ctx, release)  # Bob was reached: sent, and Alice's fate recorded
    assert receipt.extra["sent"] == {BOB: "wamid.HBgN0001"}
    assert receipt.extra["failed"][ALICE]["class"] == "unknown"
    api.refuse(ALICE, Reply(200, delay=2))
    api.refuse(BOB, graph_error(400, 130429, "Rate limit hit"))
    with pytest.raises(UnknownOutcome, match="may have been delivered"):
        _publish(ctx, release)  # nobody surely reached, Alice perhaps: never blindly again


def test_connection_refused_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    with pytest.raises(TransientError, match="nothing was sent"):
        _publish(make_ctx(api_base=f"http://127.0.0.1:{_closed_port()}"), release)


@pytest.mark.parametrize(
    "reply",
    [
        graph_error(401, 190, f"Invalid OAuth access token {TOKEN}"),
        Reply(500, body=f"upstream rejected Bearer {TOKEN}".encode()),
        Reply.reset(),
        Reply(200, delay=2),
    ],
)
def test_token_never_in_errors_or_logs(
    reply: Reply,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted_server.script("POST", MESSAGES, reply)
    caplog.set_level(logging.DEBUG, logger="t.whatsapp")
    ctx = make_ctx(session=lambda: make_session(timeout=0.3))
    with pytest.raises(ChannelError) as info:
        _publish(ctx, release)
    for text in (str(info.value), repr(info.value), repr(ctx), caplog.text):
        assert TOKEN not in text


# -- check ----------------------------------------------------------------------------------------


def _script_number(server: ScriptedServer) -> None:
    server.script(
        "GET",
        f"/v23.0/{NUMBER_ID}",
        Reply(
            200,
            json={"display_phone_number": "+62 21 555 0100", "verified_name": "Humas Jabar", "id": NUMBER_ID},
        ),
    )


def test_check_reads_the_phone_number(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    _script_number(scripted_server)
    status = WhatsAppChannel().check(make_ctx())
    assert status.startswith("sending as +62 21 555 0100 (Humas Jabar); template not checked")
    (req,) = scripted_server.requests
    assert (req.method, req.path, req.query) == (
        "GET",
        f"/v23.0/{NUMBER_ID}",
        {"fields": "display_phone_number,verified_name"},
    )
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("rows", "expect"),
    [
        ([{"name": "siaran_pers_baru", "language": "id", "status": "APPROVED", "id": "1"}], "is approved"),
        ([{"name": "siaran_pers_baru", "language": "id", "status": "PAUSED", "id": "1"}], "is PAUSED"),
        (
            [{"name": "siaran_pers_baru", "language": "en_US", "status": "APPROVED", "id": "1"}],
            "found: en_US",
        ),
    ],
)
def test_check_finds_the_template(
    rows: list[dict[str, str]], expect: str, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    _script_number(scripted_server)
    scripted_server.script("GET", f"/v23.0/{WABA}/message_templates", Reply(200, json={"data": rows}))
    ctx = make_ctx(business_account_id=WABA)
    if expect == "is approved":
        assert WhatsAppChannel().check(ctx).endswith("template siaran_pers_baru (id) is approved")
    else:
        with pytest.raises(PermanentError, match=expect):
            WhatsAppChannel().check(ctx)
    assert scripted_server.requests[1].query == {"name": "siaran_pers_baru", "fields": "name,language,status"}
    assert all(r.method == "GET" for r in scripted_server.requests)


def test_check_with_an_expired_token(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", f"/v23.0/{NUMBER_ID}", graph_error(401, 190, "Session has expired"))
    with pytest.raises(AuthError, match="access token expired"):
        WhatsAppChannel().check(make_ctx())


# -- options and the plugin ---------------------------------------------------------------------


def test_validate() -> None:
    good = {
        "token": Secret(TOKEN, "T"),
        "phone_number_id": NUMBER_ID,
        "template": "siaran_pers_baru",
        "language": "en_US",
        "recipients": [ALICE],
        "parameters": ["title", "url"],
        "api_base": "https://graph.facebook.com",
        "api_version": "v23.0",
    }
    assert WhatsAppChannel.validate(good) == []
    assert WhatsAppChannel.validate({**good, "api_base": "http://localhost:9000"}) == []
    for key, value in (
        ("recipients", ["081234567890"]),
        ("recipients", ["+62 812 3456 7890"]),
        ("recipients", ["+0123456789"]),
        ("recipients", []),
        ("recipients", [ALICE, ALICE]),
        ("template", "Siaran Pers"),
        ("language", "Bahasa"),
        ("parameters", ["title", "body"]),
        ("phone_number_id", "+6281234"),
        ("business_account_id", "abc"),
        ("api_version", "23"),
        ("api_base", "http://graph.facebook.com"),
    ):
        assert [k for k, _ in WhatsAppChannel.validate({**good, key: value})] == [key], (key, value)


def test_loading_the_plugin_does_not_import_requests() -> None:
    code = "import sys, syndicator_channels.whatsapp; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_registers_through_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import whatsapp

    pm.register(whatsapp)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [WhatsAppChannel]
    assert WhatsAppChannel.idempotency == "none"
    assert not WhatsAppChannel.capabilities.edit and not WhatsAppChannel.capabilities.delete


def test_the_module_says_what_whatsapp_does_not_allow() -> None:
    from syndicator_channels import whatsapp

    doc = " ".join((whatsapp.__doc__ or "").split())
    assert "only a **pre-approved template** can be sent" in doc
    assert "There is **no public API for WhatsApp Channels**" in doc
    assert "at most once" in doc
