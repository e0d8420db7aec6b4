"""The facebook channel against a loopback server that speaks the Graph API (v23.0)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from syndicator_channels.facebook import FacebookChannel, usage_delay
from test_social import SECRET_ENV, make_ctx, parse_multipart, png, two_image_release

from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import make_session
from syndicator.models import DeliveryState, Media, Receipt
from syndicator.options import resolve_options
from syndicator.retry import classify
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, make_release

pytest_plugins = ["syndicator.testing"]

PAGE = "1234567890"
TOKEN = SECRET_ENV["FB_TOKEN"]
V = "/v23.0"


def graph_error(code: int, message: str = "error", status: int = 400, **extra: Any) -> Reply:
    return Reply(
        status,
        json={
            "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1", **extra}
        },
    )


def fields_of(rec: Recorded) -> dict[str, Any]:
    """The request's parameters: query, then form or multipart body."""
    out: dict[str, Any] = dict(rec.query)
    ctype = rec.headers.get("Content-Type", "")
    if ctype.startswith("multipart/"):
        for name, (filename, kind, data) in parse_multipart(rec).items():
            out[name] = (filename, kind, data) if filename else data.decode()
    elif rec.body:
        out.update(parse_qsl(rec.text, keep_blank_values=True))
    return out


class FakeGraph:
    def __init__(self, server: ScriptedServer, me: str = PAGE) -> None:
        self.server = server
        self.me_id = me
        self.ids = itertools.count(100001)
        self.posts: dict[str, dict[str, Any]] = {}
        self.photos: dict[str, dict[str, Any]] = {}
        server.handler("POST", f"{V}/{PAGE}/feed", self.feed)
        server.handler("POST", f"{V}/{PAGE}/photos", self.photo)
        server.handler("GET", f"{V}/me", self.me)
        server.handler("GET", f"{V}/{PAGE}/published_posts", self.published)

    def _denied(self, fields: dict[str, Any]) -> Reply | None:
        if fields.get("access_token") != TOKEN:
            return graph_error(190, "Error validating access token: Session has expired", error_subcode=463)
        return None

    def _new_post(self, body: dict[str, Any]) -> str:
        post_id = f"{PAGE}_{next(self.ids)}"
        self.posts[post_id] = body
        self.server.handler("POST", f"{V}/{post_id}", lambda r, i=post_id: self.edit(r, i))
        self.server.handler("DELETE", f"{V}/{post_id}", lambda r, i=post_id: self.delete(r, i))
        return post_id

    def feed(self, rec: Recorded) -> Reply:
        fields = fields_of(rec)
        if (denied := self._denied(fields)) is not None:
            return denied
        attached = [
            json.loads(v)["media_fbid"] for k, v in sorted(fields.items()) if k.startswith("attached_media[")
        ]
        if any(fbid not in self.photos for fbid in attached):
            return graph_error(100, "Invalid parameter")
        post_id = self._new_post(
            {"message": fields.get("message"), "link": fields.get("link"), "attached": attached}
        )
        return Reply(200, json={"id": post_id})

    def photo(self, rec: Recorded) -> Reply:
        fields = fields_of(rec)
        if (denied := self._denied(fields)) is not None:
            return denied
        photo_id = str(next(self.ids))
        self.photos[photo_id] = fields
        if fields.get("published") == "false":
            return Reply(200, json={"id": photo_id})
        post_id = self._new_post({"message": fields.get("caption"), "photo": photo_id})
        return Reply(200, json={"id": photo_id, "post_id": post_id})

    def edit(self, rec: Recorded, post_id: str) -> Reply:
        fields = fields_of(rec)
        if (denied := self._denied(fields)) is not None:
            return denied
        self.posts[post_id]["message"] = fields["message"]
        return Reply(200, json={"success": True})

    def delete(self, rec: Recorded, post_id: str) -> Reply:
        if (denied := self._denied(fields_of(rec))) is not None:
            return denied
        if self.posts.pop(post_id, None) is None:
            return graph_error(100, "Object does not exist", error_subcode=33)
        return Reply(200, json={"success": True})

    def me(self, rec: Recorded) -> Reply:
        return self._denied(fields_of(rec)) or Reply(
            200, json={"id": self.me_id, "name": "Diskominfo Provinsi"}
        )

    def published(self, rec: Recorded) -> Reply:
        if (denied := self._denied(fields_of(rec))) is not None:
            return denied
        data = [
            {"id": i, "message": p["message"], "created_time": "2026-03-02T02:00:00+0000"}
            for i, p in reversed(self.posts.items())
        ]
        return Reply(200, json={"data": data, "paging": {}})


@pytest.fixture
def fake(scripted_server: ScriptedServer) -> FakeGraph:
    return FakeGraph(scripted_server)


def publish(ctx: Any, release: Any = None) -> Receipt:
    channel = FacebookChannel()
    return channel.publish(channel.render(release or make_release(images=()), ctx), ctx)


def writes(server: ScriptedServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method != "GET"]


# -- the contract ---------------------------------------------------------------------------------


class TestFacebookContract(ChannelContract):
    channel_class = FacebookChannel

    def options(self, url: str) -> dict[str, Any]:
        return {"api_base": url, "page_id": PAGE, "page_token": {"env": "FB_TOKEN"}}

    def environ(self, url: str) -> dict[str, str]:
        return SECRET_ENV

    def script_success(self, server: ScriptedServer) -> None:
        FakeGraph(server)

    # Each failure is scripted on both routes: a text post goes to /feed, a photo to /photos.

    def script_transient(self, server: ScriptedServer) -> None:
        for route in ("feed", "photos"):
            server.script(
                "POST", f"{V}/{PAGE}/{route}", graph_error(32, "Page request limit reached", status=403)
            )

    def script_permanent(self, server: ScriptedServer) -> None:
        for route in ("feed", "photos"):
            server.script(
                "POST",
                f"{V}/{PAGE}/{route}",
                graph_error(368, "The action attempted has been deemed abusive"),
            )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        for route in ("feed", "photos"):
            server.script(
                "POST", f"{V}/{PAGE}/{route}", graph_error(190, "Error validating access token", status=401)
            )


# -- publish ----------------------------------------------------------------------------------------


def test_feed_post_with_link(fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    release = make_release(images=())
    ctx = make_ctx(FacebookChannel, tmp_path, scripted_server)
    post = FacebookChannel().render(release, ctx)
    receipt = publish(ctx, release)
    (req,) = scripted_server.requests
    assert (req.method, req.path) == ("POST", f"{V}/{PAGE}/feed")
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert fields_of(req) == {"message": post.text, "link": release.url, "access_token": TOKEN}
    assert req.query == {}  # the token travels in the body, not the URL
    assert receipt.remote_id in fake.posts and receipt.url == f"https://www.facebook.com/{receipt.remote_id}"
    assert "Siaran pers Dinas Pekerjaan Umum" in post.text  # the long template


def test_single_remote_image_is_fetched_by_facebook(
    fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = make_release()  # one public image
    receipt = publish(make_ctx(FacebookChannel, tmp_path, scripted_server), release)
    (req,) = scripted_server.requests
    assert req.path == f"{V}/{PAGE}/photos"
    fields = fields_of(req)
    assert fields["url"] == release.images[0].location
    assert fields["alt_text_custom"] == release.images[0].alt
    assert fields["caption"] == fake.posts[receipt.remote_id]["message"]
    assert receipt.extra["photo_ids"] == list(fake.photos)


def test_single_local_image_is_uploaded(
    fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    (tmp_path / "foto.png").write_bytes(png())
    release = make_release(images=(Media("foto.png", alt="Foto lokal", mime_type="image/png"),))
    publish(make_ctx(FacebookChannel, tmp_path, scripted_server), release)
    fields = fields_of(scripted_server.requests[0])
    assert fields["source"] == ("foto.png", "image/png", png())
    assert fields["alt_text_custom"] == "Foto lokal" and fields["access_token"] == TOKEN


def test_two_images_become_one_post(fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    ctx = make_ctx(FacebookChannel, tmp_path, scripted_server)
    post = FacebookChannel().render(release, ctx)
    receipt = publish(ctx, release)
    assert writes(scripted_server) == [
        f"POST {V}/{PAGE}/photos",
        f"POST {V}/{PAGE}/photos",
        f"POST {V}/{PAGE}/feed",
    ]
    uploads = [fields_of(r) for r in scripted_server.requests[:2]]
    assert [u["published"] for u in uploads] == ["false", "false"]
    assert [u["alt_text_custom"] for u in uploads] == [
        "Relawan memasang rambu evakuasi",
        "Peta jalur evakuasi desa",
    ]
    assert [u["source"][2] for u in uploads] == [png(), png(64)]
    assert fake.posts[receipt.remote_id] == {
        "message": post.text,
        "link": None,
        "attached": list(fake.photos),
    }


def test_appsecret_proof(fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    ctx = make_ctx(FacebookChannel, tmp_path, scripted_server, app_secret={"env": "FB_APP_SECRET"})
    publish(ctx)
    proof = hmac.new(SECRET_ENV["FB_APP_SECRET"].encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert fields_of(scripted_server.requests[0])["appsecret_proof"] == proof
    assert SECRET_ENV["FB_APP_SECRET"] not in scripted_server.requests[0].text


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (graph_error(190, "Error validating access token: Session has expired", status=401), AuthError),
        (graph_error(102, "Session key invalid"), AuthError),
        (graph_error(10, "Application does not have permission for this action", status=403), AuthError),
        (graph_error(200, "Permissions error", status=403), AuthError),
        (graph_error(4, "Application request limit reached", status=403), TransientError),
        (graph_error(17, "User request limit reached", status=403), TransientError),
        (graph_error(613, "Calls to this api have exceeded the rate limit"), TransientError),
        (graph_error(1, "An unknown error occurred", status=500), TransientError),
        (graph_error(2, "Service temporarily unavailable", status=503), TransientError),
        (graph_error(9007, "odd", is_transient=True), TransientError),
        (
            graph_error(368, "The action attempted has been deemed abusive or is otherwise disallowed"),
            PermanentError,
        ),
        (graph_error(100, "Invalid parameter"), PermanentError),
        (graph_error(506, "Duplicate status message"), PermanentError),
        (Reply(502, body=b"<html>bad gateway</html>"), TransientError),
    ],
)
def test_graph_error_codes(
    reply: Reply, error: type[ChannelError], scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.script("POST", f"{V}/{PAGE}/feed", reply)
    with pytest.raises(error) as info:
        publish(make_ctx(FacebookChannel, tmp_path, scripted_server))
    if error is PermanentError:
        assert not isinstance(info.value, AuthError)
    code = reply.json["error"]["code"] if reply.json else 502
    assert str(code) in str(info.value)


def test_throttling_waits_for_the_usage_header(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    usage = json.dumps({PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]})
    scripted_server.script(
        "POST",
        f"{V}/{PAGE}/feed",
        Reply(
            403,
            json={"error": {"code": 32, "message": "Page request limit"}},
            headers={"X-Business-Use-Case-Usage": usage},
        ),
    )
    with pytest.raises(TransientError) as info:
        publish(make_ctx(FacebookChannel, tmp_path, scripted_server))
    assert info.value.retry_after == 420
    assert usage_delay({"X-Business-Use-Case-Usage": "not json", "Retry-After": "5"}) == 5


def test_timeout_is_unknown_then_found_by_lookup(
    fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = make_release(images=())

    def slow(rec: Recorded) -> Reply:
        reply = fake.feed(rec)
        return Reply(reply.status, json=reply.json, delay=1.5)

    scripted_server.handler("POST", f"{V}/{PAGE}/feed", slow)
    ctx = make_ctx(FacebookChannel, tmp_path, scripted_server, session=lambda: make_session(timeout=0.3))
    with pytest.raises(UnknownOutcome) as info:
        publish(ctx, release)
    assert classify(info.value, FacebookChannel.idempotency)[0] is DeliveryState.UNKNOWN
    found = FacebookChannel().find_existing(release, make_ctx(FacebookChannel, tmp_path, scripted_server))
    assert found is not None and found.remote_id in fake.posts
    lookup = scripted_server.requests[-1]
    assert lookup.path == f"{V}/{PAGE}/published_posts" and lookup.query["fields"].startswith("id,message")
    other = make_release(id="lain", title="Rilis lain", images=())
    assert (
        FacebookChannel().find_existing(other, make_ctx(FacebookChannel, tmp_path, scripted_server)) is None
    )


def test_duplicate_on_a_retry_is_looked_up(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    scripted_server.script("POST", f"{V}/{PAGE}/feed", graph_error(506, "Duplicate status message"))
    with pytest.raises(UnknownOutcome, match="looked up"):
        publish(make_ctx(FacebookChannel, tmp_path, scripted_server, attempt=2))


def test_token_never_in_errors_or_logs(
    scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.script(
        "POST", f"{V}/{PAGE}/feed", graph_error(100, f"Invalid OAuth access token {TOKEN}")
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentError) as info:
        publish(make_ctx(FacebookChannel, tmp_path, scripted_server))
    assert TOKEN not in f"{info.value} {info.value!r} {caplog.text}" and "<secret>" in str(info.value)


# -- update, delete, check --------------------------------------------------------------------------------


def test_update_and_delete(fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    ctx = make_ctx(FacebookChannel, tmp_path, scripted_server)
    receipt = publish(ctx)
    corrected = FacebookChannel().render(make_release(title="Koreksi: jembatan", images=()), ctx)
    assert FacebookChannel().update(receipt, corrected, ctx) == receipt
    assert fake.posts[receipt.remote_id]["message"] == corrected.text
    FacebookChannel().delete(receipt, ctx)
    assert fake.posts == {}
    delete = scripted_server.requests[-1]
    assert delete.method == "DELETE" and delete.query["access_token"] == TOKEN
    FacebookChannel().delete(receipt, ctx)  # already gone: fine


def test_check_reads_me_and_writes_nothing(
    fake: FakeGraph, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    line = FacebookChannel().check(make_ctx(FacebookChannel, tmp_path, scripted_server))
    assert line == f"Page 'Diskominfo Provinsi' ({PAGE}): token accepted"
    assert writes(scripted_server) == []


def test_check_refuses_a_token_of_someone_else(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    FakeGraph(scripted_server, me="999")
    with pytest.raises(AuthError, match="not Page 1234567890"):
        FacebookChannel().check(make_ctx(FacebookChannel, tmp_path, scripted_server))


def test_validate_page_and_version() -> None:
    options, _ = resolve_options(
        {"page_id": "diskominfo", "page_token": {"env": "FB_TOKEN"}, "graph_version": "23"},
        FacebookChannel.options,
        environ=SECRET_ENV,
    )
    assert [k for k, _ in FacebookChannel.validate(options)] == ["page_id", "graph_version"]


def test_declarations() -> None:
    assert FacebookChannel.idempotency == "lookup"
    caps = FacebookChannel.capabilities
    assert caps.edit and caps.delete and caps.media and not caps.threads
    assert {o.name for o in FacebookChannel.options}.isdisjoint({"thread", "link_in", "max_parts"})
