"""The webhook channel, against a real scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from syndicator_channels.webhook import WebhookChannel, canonical_body, describe_url, render_text, sign

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError
from syndicator.http import Pool
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.testing import Recorded, Reply, ScriptedServer

pytest_plugins = ["syndicator.testing"]

SECRET = "s3cret"
PATH = "/hook"

CtxFactory = Callable[..., ChannelContext]


@pytest.fixture
def release() -> Release:
    return Release(
        source="diskominfo",
        id="2024-001",
        title="Jembatan baru dibuka",
        summary="Gubernur meresmikan jembatan.",
        body_html="<p>Isi <b>lengkap</b>.</p>",
        body_text="Isi lengkap.",
        url="https://example.go.id/rilis/2024-001",
        published=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        agency="Diskominfo",
        author="Humas",
        tags=("infrastruktur", "jembatan"),
        language="id",
        images=(Media("img/jembatan.jpg", alt="Jembatan", mime_type="image/jpeg", size=1234),),
        attachments=(Media("https://example.go.id/data.pdf", kind="file", title="Data"),),
        priority="urgent",
    )


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    """A ChannelContext with every option resolved, pointed at the scripted server."""

    def make(
        *,
        secret: str | None = SECRET,
        session: Callable[[], requests.Session] | None = None,
        pool: Callable[[], Pool] | None = None,
        url: str | None = None,
        **raw: Any,
    ) -> ChannelContext:
        values: dict[str, Any] = {"url": url or scripted_server.url + PATH, **raw}
        timeout = values.pop("timeout", None)
        options, problems = resolve_options(values, WebhookChannel.options)
        assert problems == []
        if secret is not None:
            options["secret"] = Secret(secret, "HOOK_SECRET")
        if timeout is not None:
            options["timeout"] = timeout
        return ChannelContext(
            name="hook",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t"),
            idempotency_key="k-123",
            _session_factory=session,
            _pool_factory=pool,
        )

    return make


def _publish(ctx: ChannelContext, release: Release) -> Any:
    channel = WebhookChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def _verifying(secret: str) -> Callable[[Recorded], Reply]:
    """A server-side handler that checks the signature the way a receiver would."""

    def handle(req: Recorded) -> Reply:
        expected = "sha256=" + hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(req.headers.get("X-Syndicator-Signature", ""), expected):
            return Reply(401, json={"error": "bad signature"})
        return Reply(201, json={"id": 99, "url": "https://receiver.example/99"})

    return handle


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- render --------------------------------------------------------------------------------


def test_render_payload_fields(release: Release, make_ctx: CtxFactory) -> None:
    post = WebhookChannel().render(release, make_ctx())
    payload = post.extra["payload"]
    assert payload == {
        "id": "diskominfo/2024-001",
        "source": "diskominfo",
        "release_id": "2024-001",
        "title": "Jembatan baru dibuka",
        "summary": "Gubernur meresmikan jembatan.",
        "body_text": "Isi lengkap.",
        "body_html": "<p>Isi <b>lengkap</b>.</p>",
        "url": "https://example.go.id/rilis/2024-001",
        "published": "2024-05-01T09:30:00+00:00",
        "updated": None,
        "agency": "Diskominfo",
        "author": "Humas",
        "tags": ["infrastruktur", "jembatan"],
        "language": "id",
        "priority": "urgent",
        "media": [
            {
                "kind": "image",
                "url_or_path": "img/jembatan.jpg",
                "alt": "Jembatan",
                "title": "",
                "mime_type": "image/jpeg",
                "size": 1234,
            },
            {
                "kind": "file",
                "url_or_path": "https://example.go.id/data.pdf",
                "alt": "",
                "title": "Data",
                "mime_type": "",
                "size": None,
            },
        ],
        "text": "Jembatan baru dibuka\n\nGubernur meresmikan jembatan.\n\nhttps://example.go.id/rilis/2024-001",
        "channel": "hook",
    }
    assert isinstance(post, Post)
    assert (post.channel, post.release_key, post.title, post.link) == (
        "hook",
        "diskominfo/2024-001",
        release.title,
        release.url,
    )
    assert post.text == payload["text"]


def test_render_collapses_empty_parts(release: Release, make_ctx: CtxFactory) -> None:
    post = WebhookChannel().render(release.with_changes(summary=""), make_ctx())
    assert post.text == "Jembatan baru dibuka\n\nhttps://example.go.id/rilis/2024-001"
    assert render_text("{title}\n\n{summary}\n\n{url}", release.with_changes(summary="", url="")) == (
        "Jembatan baru dibuka"
    )


def test_render_custom_template(release: Release, make_ctx: CtxFactory) -> None:
    post = WebhookChannel().render(release, make_ctx(template="[{agency}] {title} {url}"))
    assert post.text == "[Diskominfo] Jembatan baru dibuka https://example.go.id/rilis/2024-001"


def test_render_unknown_template_field(release: Release, make_ctx: CtxFactory) -> None:
    with pytest.raises(PermanentError, match=r"\{body\}"):
        WebhookChannel().render(release, make_ctx(template="{body}"))


def test_render_override_text(release: Release, make_ctx: CtxFactory) -> None:
    rel = release.with_changes(overrides={"hook": {"text": "Teks khusus"}, "other": {"text": "no"}})
    post = WebhookChannel().render(rel, make_ctx())
    assert post.text == "Teks khusus"
    assert post.extra["payload"]["text"] == "Teks khusus"


def test_render_is_pure(release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    def no_session() -> requests.Session:
        raise AssertionError("render must not touch the network")

    ctx = make_ctx(session=no_session)
    assert WebhookChannel().render(release, ctx) == WebhookChannel().render(release, ctx)
    assert scripted_server.requests == []


# -- publish -------------------------------------------------------------------------------


def test_publish_sends_canonical_json_with_headers(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(201, json={"id": 42, "url": "https://r.example/42"}))
    ctx = make_ctx(headers={"X-Team": "press"})
    receipt = _publish(ctx, release)
    assert receipt.remote_id == "42"
    assert receipt.url == "https://r.example/42"
    assert receipt.extra == {"status": 201}
    (req,) = scripted_server.requests
    assert req.method == "POST" and req.path == PATH
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == "k-123"
    assert req.headers["x-team"] == "press"
    payload = WebhookChannel().render(release, ctx).extra["payload"]
    assert req.body == canonical_body(payload)
    assert req.body == json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert "Jembatan" in req.body.decode("utf-8")
    assert req.json["id"] == "diskominfo/2024-001"
    assert req.headers["X-Syndicator-Signature"] == sign(SECRET, req.body)


def test_the_recorded_hash_is_of_the_exact_body_sent_for_posts_corrections_and_retractions(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(201, json={"id": 42}))
    ctx, channel = make_ctx(), WebhookChannel()
    original = Receipt(remote_id="41", url="https://r.example/41")
    posts = [
        channel.render(release, ctx),
        channel.render_correction(release, original, ctx),
        channel.render_retraction(release, original, "ditarik atas permintaan dinas", ctx),
    ]
    for post in posts:
        channel.publish(post, ctx)
    for post, request in zip(posts, scripted_server.requests, strict=True):
        assert post.extra["payload_sha256"] == "sha256:" + hashlib.sha256(request.body).hexdigest()
        assert request.json == post.extra["payload"]
    assert [r.json.get("kind") for r in scripted_server.requests] == [None, "correction", "retraction"]


def test_idempotency_key_and_body_stable_across_publishes(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(200, json={"id": "a"}))
    _publish(make_ctx(), release)
    _publish(make_ctx(), release)
    first, second = scripted_server.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "k-123"
    assert first.body == second.body
    assert first.headers["X-Syndicator-Signature"] == second.headers["X-Syndicator-Signature"]


def test_static_headers_cannot_override_protocol_headers(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(204))
    _publish(make_ctx(headers={"Idempotency-Key": "mine", "Content-Type": "text/plain"}), release)
    req = scripted_server.requests[0]
    assert req.headers["Idempotency-Key"] == "k-123"
    assert req.headers["Content-Type"] == "application/json"


def test_signature_verified_server_side(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.handler("POST", PATH, _verifying(SECRET))
    receipt = _publish(make_ctx(), release)
    assert (receipt.remote_id, receipt.url) == ("99", "https://receiver.example/99")
    with pytest.raises(AuthError, match="401"):
        _publish(make_ctx(secret="wrong-key"), release)
    with pytest.raises(AuthError):
        _publish(make_ctx(secret=None), release)  # no signature at all
    assert "X-Syndicator-Signature" not in scripted_server.requests[-1].headers


@pytest.mark.parametrize(
    "reply",
    [
        Reply(204),
        Reply(200, body=b""),
        Reply(200, body=b"OK", headers={"Content-Type": "text/plain"}),
        Reply(202, json=[1, 2]),
        Reply(200, json={"ok": True}),
    ],
)
def test_2xx_without_id_is_success(
    reply: Reply, release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, reply)
    receipt = _publish(make_ctx(), release)
    assert receipt.remote_id == "" and receipt.url == ""
    assert receipt.extra == {"status": reply.status}


def test_429_retry_after_seconds(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(429, headers={"Retry-After": "7"}))
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after == 7.0


def test_429_retry_after_http_date(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script(
        "POST", PATH, Reply(429, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)})
    )
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after is not None
    assert 27 <= info.value.retry_after <= 31


def test_503_with_and_without_retry_after(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(503, headers={"Retry-After": "120"}), Reply(503))
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after == 120.0
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_server_errors_are_transient(
    status: int, release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(status, body=b"oops"))
    with pytest.raises(TransientError, match=str(status)):
        _publish(make_ctx(), release)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_permanent(
    status: int, release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(status, json={"error": "invalid field: title"}))
    with pytest.raises(PermanentError) as info:
        _publish(make_ctx(), release)
    assert not isinstance(info.value, AuthError)
    assert str(status) in str(info.value)
    assert "invalid field: title" in str(info.value)


def test_error_snippet_is_short(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(400, body=b"x" * 5000))
    with pytest.raises(PermanentError) as info:
        _publish(make_ctx(), release)
    assert str(info.value).count("x") <= 200


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors(
    status: int, release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(status))
    with pytest.raises(AuthError, match=str(status)):
        _publish(make_ctx(), release)


def test_redirect_is_not_followed(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(302, headers={"Location": "/elsewhere"}))
    scripted_server.script("GET", "/elsewhere", Reply(200, json={"id": "wrong"}))
    with pytest.raises(PermanentError, match="redirect"):
        _publish(make_ctx(), release)
    assert [r.method for r in scripted_server.requests] == ["POST"]


def test_timeout_from_the_channel_config_is_transient(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(201, json={"id": 1}, delay=3))
    ctx = make_ctx(pool=lambda: Pool(timeout=0.2))  # the channel's timeout, as the engine sets it
    start = time.monotonic()
    with pytest.raises(TransientError, match="Idempotency-Key"):
        _publish(ctx, release)
    assert time.monotonic() - start < 2
    assert len(scripted_server.requests) == 1  # it was sent: only the key makes a retry safe


def test_timeout_option_is_used(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(201, delay=3))
    start = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        _publish(make_ctx(timeout=0.2), release)
    assert time.monotonic() - start < 2


def test_connection_refused_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    port = _closed_port()
    with pytest.raises(TransientError, match=f"127.0.0.1:{port}") as info:
        _publish(make_ctx(url=f"http://127.0.0.1:{port}/hook"), release)
    assert "refused" in str(info.value).lower()


def test_reset_is_transient(release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", PATH, Reply.reset())
    with pytest.raises(TransientError, match="connection failed"):
        _publish(make_ctx(), release)


def test_bad_options_are_permanent(release: Release, make_ctx: CtxFactory) -> None:
    with pytest.raises(PermanentError, match="http"):
        _publish(make_ctx(url="ftp://example.org/x"), release)
    with pytest.raises(PermanentError, match="headers"):
        _publish(make_ctx(headers={"X-Count": 3}), release)


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, body=f"bad request, your key {SECRET} is wrong".encode()),
        Reply(401, body=SECRET.encode()),
        Reply(500, body=SECRET.encode()),
        Reply(429),
        Reply.reset(),
        Reply(200, delay=3),
    ],
)
def test_secret_never_in_errors_or_logs(
    reply: Reply,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted_server.script("POST", PATH, reply)
    ctx = make_ctx(pool=lambda: Pool(timeout=0.3))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ChannelError) as info:
        _publish(ctx, release)
    for text in (str(info.value), repr(info.value), repr(ctx), caplog.text):
        assert SECRET not in text
    assert SECRET not in scripted_server.requests[0].body.decode()
    assert SECRET not in json.dumps(dict(scripted_server.requests[0].headers))


def test_url_token_not_in_messages(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", "/hooks/T0KEN", Reply(404))
    with pytest.raises(PermanentError) as info:
        _publish(make_ctx(url=scripted_server.url + "/hooks/T0KEN?sig=abc"), release)
    assert "T0KEN" not in str(info.value) and "abc" not in str(info.value)
    assert describe_url("https://h.example:8443/a/b?c=d") == "https://h.example:8443/…"
    assert describe_url("https://h.example") == "https://h.example"


# -- check ---------------------------------------------------------------------------------


def test_check_head_never_posts(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("HEAD", PATH, Reply(405))
    assert WebhookChannel().check(make_ctx()) == "reachable (HTTP 405)"
    assert {r.method for r in scripted_server.requests} <= {"HEAD", "OPTIONS"}
    head = scripted_server.requests[0]
    assert head.headers["X-Syndicator-Signature"] == sign(SECRET, b"")
    assert "Idempotency-Key" not in head.headers


def test_check_falls_back_to_options(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("HEAD", PATH, Reply(405))
    scripted_server.script("OPTIONS", PATH, Reply(204))
    assert WebhookChannel().check(make_ctx()) == "reachable (HTTP 204)"
    assert [r.method for r in scripted_server.requests] == ["HEAD", "OPTIONS"]
    scripted_server.clear()
    scripted_server.script("HEAD", PATH, Reply(405))
    scripted_server.script("OPTIONS", PATH, Reply(403))
    with pytest.raises(AuthError):
        WebhookChannel().check(make_ctx())


def test_check_any_status_is_reachable(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    assert WebhookChannel().check(make_ctx()) == "reachable (HTTP 404)"  # unscripted
    scripted_server.script("HEAD", PATH, Reply(200))
    assert WebhookChannel().check(make_ctx()) == "reachable (HTTP 200)"


@pytest.mark.parametrize("status", [401, 403])
def test_check_auth(status: int, make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("HEAD", PATH, Reply(status))
    with pytest.raises(AuthError):
        WebhookChannel().check(make_ctx())


def test_check_unreachable(make_ctx: CtxFactory) -> None:
    port = _closed_port()
    with pytest.raises(TransientError, match=f"http://127.0.0.1:{port}"):
        WebhookChannel().check(make_ctx(url=f"http://127.0.0.1:{port}/hook"))


# -- plugin --------------------------------------------------------------------------------


def test_registers_through_hook_and_entry_point() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import webhook

    pm.register(webhook)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [WebhookChannel]
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="syndicator")}
    assert eps.get("webhook") == "syndicator_channels.registry:webhook"  # see test_registry.py


def test_options_schema() -> None:
    _, problems = resolve_options({}, WebhookChannel.options)
    assert ("url", "is required (a string)") in problems
    _, problems = resolve_options({"url": "https://x", "secret": "plain"}, WebhookChannel.options)
    assert [k for k, _ in problems] == ["secret"]
    options, problems = resolve_options(
        {"url": "https://x", "secret": {"env": "HOOK_SECRET"}},
        WebhookChannel.options,
        environ={"HOOK_SECRET": SECRET},
    )
    assert problems == [] and isinstance(options["secret"], Secret)
    assert options["headers"] == {} and options["template"] is None
    assert WebhookChannel.idempotency == "key"
    assert not WebhookChannel.capabilities.edit and not WebhookChannel.capabilities.delete
