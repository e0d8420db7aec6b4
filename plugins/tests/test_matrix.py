"""The matrix channel, against a scripted homeserver on 127.0.0.1 speaking the client-server API."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from syndicator_channels.matrix import MatrixChannel, matrix_html, matrix_to, message_content

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.testing import Recorded, Reply, ScriptedServer

pytest_plugins = ["syndicator.testing"]

TOKEN = "syt_c2VjcmV0_T0KEN"
ROOM = "!room:localhost"
ROOMS = "/_matrix/client/v3/rooms/%21room%3Alocalhost"
SEND = ROOMS + "/send/m.room.message/"
UPLOAD = "/_matrix/media/v3/upload"
CtxFactory = Callable[..., ChannelContext]


class Homeserver:
    """Just enough of a homeserver: sends deduplicated by txn id, uploads, redactions."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.events: dict[str, tuple[str, Any]] = {}  # path (room + txn) -> (event_id, content)
        self.uploads: list[Recorded] = []
        self.send_delays: list[float] = []
        self.lock = threading.Lock()

    def route_send(self, txn: str, room_path: str = ROOMS) -> None:
        self.server.handler("PUT", f"{room_path}/send/m.room.message/{txn}", self._send)

    def route_upload(self) -> None:
        self.server.handler("POST", UPLOAD, self._upload)

    def _send(self, req: Recorded) -> Reply:
        if req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, json={"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown access token"})
        with self.lock:
            if req.path not in self.events:  # a retransmission gets the original event id
                self.events[req.path] = (f"$event{len(self.events) + 1}", req.json)
            delay = self.send_delays.pop(0) if self.send_delays else 0.0
            return Reply(200, json={"event_id": self.events[req.path][0]}, delay=delay)

    def _upload(self, req: Recorded) -> Reply:
        with self.lock:
            self.uploads.append(req)
            return Reply(200, json={"content_uri": f"mxc://localhost/media{len(self.uploads)}"})


@pytest.fixture
def hs(scripted_server: ScriptedServer) -> Homeserver:
    return Homeserver(scripted_server)


@pytest.fixture
def release() -> Release:
    return Release(
        source="diskominfo",
        id="2024-001",
        title="Jembatan baru dibuka",
        summary="Gubernur meresmikan jembatan.",
        body_html=(
            '<p>Isi <b>lengkap</b> <a href="https://example.go.id/x" onclick="steal()">tautan</a>.</p>'
            '<script>alert(1)</script><img src="https://tracker.example/p.gif"><p style="color:red">Dua @room</p>'
        ),
        url="https://example.go.id/rilis/2024-001",
        published=datetime(2024, 5, 1, 1, 30, tzinfo=UTC),
        agency="Diskominfo",
        language="id",
        attachments=(Media("https://example.go.id/data.pdf", kind="file", title="Data"),),
    )


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    def make(
        *,
        key: str = "k-123",
        token: str = TOKEN,
        session: Callable[[], requests.Session] | None = None,
        timeout: float | None = None,
        **raw: Any,
    ) -> ChannelContext:
        values: dict[str, Any] = {
            "homeserver": scripted_server.url,
            "access_token": {"env": "MATRIX_TOKEN"},
            "room_id": ROOM,
            **raw,
        }
        options, problems = resolve_options(values, MatrixChannel.options, environ={"MATRIX_TOKEN": token})
        assert problems == []
        assert MatrixChannel.validate(options) == []
        if timeout is not None:
            options["timeout"] = timeout
        return ChannelContext(
            name="matrix-press",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t"),
            idempotency_key=key,
            timezone="Asia/Makassar",
            _session_factory=session,
        )

    return make


def _publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = MatrixChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- render --------------------------------------------------------------------------------


def test_render_content(release: Release, make_ctx: CtxFactory) -> None:
    post = MatrixChannel().render(release, make_ctx(msgtype="m.notice"))
    content = post.extra["content"]
    assert content["msgtype"] == "m.notice"
    assert content["format"] == "org.matrix.custom.html"
    assert content["m.mentions"] == {}
    assert content["body"] == post.text
    assert post.text == (
        "Jembatan baru dibuka\nDiskominfo · 2024-05-01 09:30 WITA\n\n"
        "Gubernur meresmikan jembatan.\n\n"
        "Isi lengkap tautan.\n\nDua @room\n\n"
        "https://example.go.id/rilis/2024-001\n\n"
        "- Data: https://example.go.id/data.pdf"
    )
    html = content["formatted_body"]
    assert html.startswith(
        "<h3>Jembatan baru dibuka</h3>\n<p><em>Diskominfo · 2024-05-01 09:30 WITA</em></p>"
    )
    assert '<p>Isi <b>lengkap</b> <a href="https://example.go.id/x">tautan</a>.</p>' in html
    for banned in ("<script", "alert(1)", "onclick", "<img", "tracker.example", "style=", "rel="):
        assert banned not in html
    assert '<ul><li><a href="https://example.go.id/data.pdf">Data</a></li></ul>' in html


def test_matrix_html_subset() -> None:
    assert matrix_html('<figure><img src="x.png"><figcaption>Cap</figcaption></figure>') == "Cap"
    assert matrix_html('<a href="javascript:alert(1)">x</a>') == "<a>x</a>"
    assert matrix_html('<p>Pada <time datetime="2024-05-01">1 Mei</time></p>') == "<p>Pada 1 Mei</p>"
    assert (
        matrix_html("<table><tr><td>a</td></tr></table>")
        == "<table><tbody><tr><td>a</td></tr></tbody></table>"
    )


def test_render_is_pure(release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    def no_session() -> requests.Session:
        raise AssertionError("render must not touch the network")

    rel = release.with_changes(images=(Media("/nonexistent/foto.jpg", alt="Foto"),))
    ctx = make_ctx(session=no_session)
    post = MatrixChannel().render(rel, ctx)
    assert post == MatrixChannel().render(rel, ctx)
    assert post.extra["images"] == [
        {
            "n": 1,
            "location": "/nonexistent/foto.jpg",
            "path": "/nonexistent/foto.jpg",
            "filename": "foto.jpg",
            "alt": "Foto",
            "mime_type": "",
        }
    ]
    assert scripted_server.requests == []


def test_big_body_fits_the_event_limit() -> None:
    rel = Release(source="s", id="1", title="T", body_text=("Kalimat panjang sekali. " * 40 + "\n\n") * 200)
    content = message_content(rel)
    assert len(json.dumps(content, ensure_ascii=False).encode()) <= 60_000
    assert content["body"].endswith("…") and "<p>Kalimat" in content["formatted_body"]


# -- publish -------------------------------------------------------------------------------


def test_publish_sends_with_txn_id(
    release: Release, make_ctx: CtxFactory, hs: Homeserver, scripted_server: ScriptedServer
) -> None:
    hs.route_send("k-123")
    ctx = make_ctx()
    receipt = _publish(ctx, release)
    assert receipt.remote_id == "$event1"
    assert receipt.ids == ("$event1",)
    assert receipt.url == "https://matrix.to/#/%21room%3Alocalhost/%24event1"
    assert receipt.extra == {"room_id": ROOM}
    (req,) = scripted_server.requests
    assert req.method == "PUT" and req.path == SEND + "k-123"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.json == MatrixChannel().render(release, ctx).extra["content"]


def test_retry_reuses_txn_id_and_event(
    release: Release, make_ctx: CtxFactory, hs: Homeserver, scripted_server: ScriptedServer
) -> None:
    hs.route_send("k-123")
    hs.send_delays = [2.0]  # the first answer never reaches the client
    with pytest.raises(TransientError, match="timed out"):
        _publish(make_ctx(timeout=0.3), release)
    receipt = _publish(make_ctx(), release)
    assert receipt.remote_id == "$event1"
    sends = [r for r in scripted_server.requests if r.method == "PUT"]
    assert [r.path for r in sends] == [SEND + "k-123", SEND + "k-123"]
    assert len(hs.events) == 1  # one event in the room


def test_key_with_odd_characters_is_encoded(release: Release, make_ctx: CtxFactory, hs: Homeserver) -> None:
    hs.route_send("diskominfo%2F2024-001%20matrix")
    receipt = _publish(make_ctx(key="diskominfo/2024-001 matrix"), release)
    assert receipt.remote_id == "$event1"


def test_alias_is_resolved(
    release: Release, make_ctx: CtxFactory, hs: Homeserver, scripted_server: ScriptedServer
) -> None:
    scripted_server.script(
        "GET",
        "/_matrix/client/v3/directory/room/%23press%3Alocalhost",
        Reply(200, json={"room_id": ROOM, "servers": ["localhost"]}),
    )
    hs.route_send("k-123")
    receipt = _publish(make_ctx(room_id="#press:localhost"), release)
    assert receipt.extra["room_id"] == ROOM
    assert [r.method for r in scripted_server.requests] == ["GET", "PUT"]


def test_unknown_alias_is_permanent(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script(
        "GET",
        "/_matrix/client/v3/directory/room/%23nope%3Alocalhost",
        Reply(404, json={"errcode": "M_NOT_FOUND", "error": "Room alias not found"}),
    )
    with pytest.raises(PermanentError, match="M_NOT_FOUND") as info:
        _publish(make_ctx(room_id="#nope:localhost"), release)
    assert not isinstance(info.value, AuthError)


def test_images_uploaded_then_sent(
    release: Release, make_ctx: CtxFactory, hs: Homeserver, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    (tmp_path / "foto.png").write_bytes(b"\x89PNG local")
    scripted_server.script(
        "GET", "/img/udara.jpg", Reply(200, body=b"\xff\xd8 remote", headers={"Content-Type": "image/jpeg"})
    )
    scripted_server.script("GET", "/img/hilang.jpg", Reply(404))
    rel = release.with_changes(
        images=(
            Media("foto.png", alt="Jembatan dari darat", mime_type="image/png"),
            Media(scripted_server.url + "/img/hilang.jpg", alt="Hilang"),
            Media(scripted_server.url + "/img/udara.jpg", alt=""),
        )
    )
    hs.route_upload()
    for txn in ("k-123", "k-123%3Aimg%3A1", "k-123%3Aimg%3A3"):
        hs.route_send(txn)
    receipt = _publish(make_ctx(), rel)

    order = [(r.method, r.path) for r in scripted_server.requests]
    assert order == [
        ("POST", UPLOAD),
        ("GET", "/img/hilang.jpg"),
        ("GET", "/img/udara.jpg"),
        ("POST", UPLOAD),
        ("PUT", SEND + "k-123"),
        ("PUT", SEND + "k-123%3Aimg%3A1"),
        ("PUT", SEND + "k-123%3Aimg%3A3"),
    ]
    first, second = hs.uploads
    assert (first.query, first.headers["Content-Type"], first.body) == (
        {"filename": "foto.png"},
        "image/png",
        b"\x89PNG local",
    )
    assert (second.query, second.headers["Content-Type"], second.body) == (
        {"filename": "udara.jpg"},
        "image/jpeg",
        b"\xff\xd8 remote",
    )
    downloads = [r for r in scripted_server.requests if r.method == "GET"]
    assert all("Authorization" not in r.headers for r in downloads)  # the token stays with the homeserver

    assert receipt.ids == ("$event1", "$event2", "$event3")
    image1 = hs.events[SEND + "k-123%3Aimg%3A1"][1]
    assert image1 == {
        "msgtype": "m.image",
        "body": "Jembatan dari darat",
        "filename": "foto.png",
        "url": "mxc://localhost/media1",
        "info": {"mimetype": "image/png", "size": 10},
        "m.mentions": {},
    }
    image3 = hs.events[SEND + "k-123%3Aimg%3A3"][1]
    assert image3["body"] == "udara.jpg" and image3["url"] == "mxc://localhost/media2"
    assert receipt.extra["skipped_media"] == [scripted_server.url + "/img/hilang.jpg"]


def test_too_large_image_is_skipped(
    release: Release, make_ctx: CtxFactory, hs: Homeserver, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    (tmp_path / "besar.jpg").write_bytes(b"x" * 100)
    scripted_server.script("POST", UPLOAD, Reply(413, json={"errcode": "M_TOO_LARGE", "error": "too big"}))
    hs.route_send("k-123")
    receipt = _publish(make_ctx(), release.with_changes(images=(Media("besar.jpg"),)))
    assert receipt.ids == ("$event1",) and receipt.extra["skipped_media"] == ["besar.jpg"]


def test_missing_local_image_is_permanent(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    with pytest.raises(PermanentError, match="cannot read image"):
        _publish(make_ctx(), release.with_changes(images=(Media("nope.jpg"),)))
    assert scripted_server.requests == []


def test_delete_redacts_every_event(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script(
        "PUT", ROOMS + "/redact/%24event1/k-123%3Aredact%3A1", Reply(200, json={"event_id": "$r1"})
    )
    scripted_server.script(
        "PUT",
        ROOMS + "/redact/%24event2/k-123%3Aredact%3A2",
        Reply(404, json={"errcode": "M_NOT_FOUND", "error": "gone"}),
    )
    receipt = Receipt(remote_id="$event1", ids=("$event1", "$event2"), extra={"room_id": ROOM})
    MatrixChannel().delete(receipt, make_ctx())
    reqs = scripted_server.requests
    assert [(r.method, r.path) for r in reqs] == [
        ("PUT", ROOMS + "/redact/%24event1/k-123%3Aredact%3A1"),
        ("PUT", ROOMS + "/redact/%24event2/k-123%3Aredact%3A2"),
    ]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" and r.json == {} for r in reqs)
    assert MatrixChannel.capabilities.delete


def test_delete_forbidden_is_auth_error(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script(
        "PUT",
        ROOMS + "/redact/%24event1/k-123%3Aredact%3A1",
        Reply(403, json={"errcode": "M_FORBIDDEN", "error": "no"}),
    )
    with pytest.raises(AuthError, match="M_FORBIDDEN"):
        MatrixChannel().delete(Receipt(remote_id="$event1", extra={"room_id": ROOM}), make_ctx())


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (Reply(429, json={"errcode": "M_LIMIT_EXCEEDED", "error": "Too many", "retry_after_ms": 2500}), 2.5),
        (
            Reply(
                429,
                json={"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500},
                headers={"Retry-After": "4"},
            ),
            4.0,
        ),
        (Reply(429, json={"errcode": "M_LIMIT_EXCEEDED"}), None),
        (Reply(502, body=b"Bad gateway"), None),
    ],
)
def test_transient_errors(
    reply: Reply,
    retry_after: float | None,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script("PUT", SEND + "k-123", reply)
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("reply", "auth", "text"),
    [
        (
            Reply(401, json={"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown token", "soft_logout": True}),
            True,
            "soft logout",
        ),
        (
            Reply(403, json={"errcode": "M_FORBIDDEN", "error": "not in room"}),
            True,
            "M_FORBIDDEN: not in room",
        ),
        (Reply(400, json={"errcode": "M_BAD_JSON", "error": "bad"}), False, "M_BAD_JSON"),
        (Reply(413, json={"errcode": "M_TOO_LARGE", "error": "event too large"}), False, "M_TOO_LARGE"),
        (Reply(404, body=b"<html>nginx</html>"), False, "nginx"),
    ],
)
def test_permanent_errors(
    reply: Reply,
    auth: bool,
    text: str,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script("PUT", SEND + "k-123", reply)
    with pytest.raises(PermanentError, match=text) as info:
        _publish(make_ctx(), release)
    assert isinstance(info.value, AuthError) is auth


def test_connection_refused_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    port = _closed_port()
    with pytest.raises(TransientError, match="refused"):
        _publish(make_ctx(homeserver=f"http://127.0.0.1:{port}"), release)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(401, json={"errcode": "M_UNKNOWN_TOKEN", "error": f"token {TOKEN} unknown"}),
        Reply(500, body=TOKEN.encode()),
        Reply.reset(),
        Reply(200, delay=3),
    ],
)
def test_token_never_in_errors_or_logs(
    reply: Reply,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted_server.script("PUT", SEND + "k-123", reply)
    caplog.set_level(logging.DEBUG)
    ctx = make_ctx(session=lambda: make_session(timeout=0.3))
    with pytest.raises(ChannelError) as info:
        _publish(ctx, release)
    for text in (str(info.value), repr(info.value), repr(ctx), caplog.text):
        assert TOKEN not in text


# -- check ---------------------------------------------------------------------------------


def _script_whoami(server: ScriptedServer, joined: list[str]) -> None:
    server.script(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Reply(200, json={"user_id": "@bot:localhost", "device_id": "SYND"}),
    )
    server.script("GET", "/_matrix/client/v3/joined_rooms", Reply(200, json={"joined_rooms": joined}))


def test_check_whoami_and_membership(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    _script_whoami(scripted_server, [ROOM])
    assert MatrixChannel().check(make_ctx()) == f"logged in as @bot:localhost (device SYND); member of {ROOM}"
    assert {r.method for r in scripted_server.requests} == {"GET"}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in scripted_server.requests)


def test_check_alias_not_joined(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    _script_whoami(scripted_server, ["!other:localhost"])
    scripted_server.script(
        "GET", "/_matrix/client/v3/directory/room/%23press%3Alocalhost", Reply(200, json={"room_id": ROOM})
    )
    with pytest.raises(PermanentError, match=r"not a member of #press:localhost \(!room:localhost\)"):
        MatrixChannel().check(make_ctx(room_id="#press:localhost"))
    assert {r.method for r in scripted_server.requests} == {"GET"}


def test_check_bad_token(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script(
        "GET",
        "/_matrix/client/v3/account/whoami",
        Reply(401, json={"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown"}),
    )
    with pytest.raises(AuthError, match="whoami"):
        MatrixChannel().check(make_ctx())


# -- options and plugin --------------------------------------------------------------------


def test_options_validation() -> None:
    def problems(**values: Any) -> list[str]:
        base = {"homeserver": "https://matrix.example.org", "access_token": {"env": "T"}, "room_id": ROOM}
        options, found = resolve_options({**base, **values}, MatrixChannel.options, environ={"T": "x"})
        return [k for k, _ in found] + [k for k, _ in MatrixChannel.validate(options)]

    assert problems() == []
    assert problems(homeserver="http://matrix.example.org") == ["homeserver"]
    assert problems(homeserver="http://localhost:8008") == []
    assert problems(homeserver="matrix.example.org") == ["homeserver"]
    assert problems(room_id="room") == ["room_id"]
    assert problems(room_id="#alias") == ["room_id"]
    assert problems(room_id="#alias:example.org") == []
    assert problems(room_id="!opaqueRoomIdV12") == []
    assert problems(msgtype="m.emote") == ["msgtype"]
    assert problems(access_token="plain") == ["access_token"]
    options, _ = resolve_options(
        {"homeserver": "https://m.example", "access_token": {"env": "T"}, "room_id": ROOM},
        MatrixChannel.options,
        environ={"T": "x"},
    )
    assert isinstance(options["access_token"], Secret) and options["msgtype"] == "m.text"


def test_matrix_to() -> None:
    assert matrix_to("!a:b.c", "$e/f") == "https://matrix.to/#/%21a%3Ab.c/%24e%2Ff"


def test_registers_through_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import matrix

    pm.register(matrix)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [MatrixChannel]
    assert MatrixChannel.idempotency == "key"
