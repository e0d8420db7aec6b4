"""The x channel: real tweepy code against a loopback server that speaks X's v2 API.

The fake server checks every OAuth 1.0a signature (HMAC-SHA1 over the exact URL the client
called), so a request that tweepy or requests-oauthlib would sign wrongly is refused as X
would refuse it.
"""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pluggy
import pytest
from oauthlib.oauth1.rfc5849 import signature
from syndicator_channels import x as x_module
from syndicator_channels.x import XChannel, rate_limit_delay
from test_social import SECRET_ENV, make_ctx, parse_multipart, png, strip_number, two_image_release

from syndicator import hookspecs
from syndicator.channel import Channel, Limits
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import make_session
from syndicator.models import DeliveryState, Media, Receipt
from syndicator.render import count
from syndicator.retry import classify
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, make_release

pytest_plugins = ["syndicator.testing"]

DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}


def signature_ok(rec: Recorded, base: str) -> bool:
    """Whether ``rec`` carries a valid OAuth 1.0a HMAC-SHA1 signature for our four secrets."""
    auth = rec.headers.get("Authorization", "")
    if not auth.startswith("OAuth "):
        return False
    uri = base + rec.path + (f"?{urlencode(rec.query)}" if rec.query else "")
    form = rec.text if "x-www-form-urlencoded" in rec.headers.get("Content-Type", "") else None
    params = signature.collect_parameters(
        uri_query=urlencode(rec.query),
        body=form,
        headers={"Authorization": auth},
        exclude_oauth_signature=True,
    )
    oauth = dict(signature.collect_parameters(headers={"Authorization": auth}, exclude_oauth_signature=False))
    if (
        oauth.get("oauth_consumer_key") != SECRET_ENV["X_CK"]
        or oauth.get("oauth_token") != SECRET_ENV["X_AT"]
    ):
        return False
    base_string = signature.signature_base_string(
        rec.method, signature.base_string_uri(uri), signature.normalize_parameters(params)
    )
    keys = SimpleNamespace(client_secret=SECRET_ENV["X_CS"], resource_owner_secret=SECRET_ENV["X_ATS"])
    expected = signature.sign_hmac_sha1_with_client(base_string, keys)
    return signature.safe_string_equals(expected, oauth.get("oauth_signature", ""))


class FakeX:
    """Enough of X's v2 API: tweets, media upload and metadata, users/me, delete."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.ids = itertools.count(1_800_000_000_000_000_001)
        self.tweets: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.bad_signatures = 0
        server.handler("POST", "/2/tweets", self.create)
        server.handler("POST", "/2/media/upload", self.upload)
        server.handler("POST", "/2/media/metadata", self.metadata)
        server.handler("GET", "/2/users/me", self.me)

    def _auth(self, rec: Recorded) -> Reply | None:
        if signature_ok(rec, self.server.url):
            return None
        self.bad_signatures += 1
        return Reply(
            401,
            json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
        )

    def create(self, rec: Recorded) -> Reply:
        if (refused := self._auth(rec)) is not None:
            return refused
        body = rec.json
        if any(t["text"] == body["text"] for t in self.tweets.values()):
            return Reply(403, json=DUPLICATE)
        for media_id in (body.get("media") or {}).get("media_ids", []):
            if media_id not in self.media:
                return Reply(400, json={"title": "Invalid Request", "detail": f"bad media {media_id}"})
        tweet_id = str(next(self.ids))
        self.tweets[tweet_id] = body
        server = self.server
        server.handler("DELETE", f"/2/tweets/{tweet_id}", lambda r, i=tweet_id: self.delete(r, i))
        return Reply(201, json={"data": {"id": tweet_id, "text": body["text"]}})

    def delete(self, rec: Recorded, tweet_id: str) -> Reply:
        if (refused := self._auth(rec)) is not None:
            return refused
        if self.tweets.pop(tweet_id, None) is None:
            return Reply(404, json={"title": "Not Found Error", "detail": "gone"})
        return Reply(200, json={"data": {"deleted": True}})

    def upload(self, rec: Recorded) -> Reply:
        if (refused := self._auth(rec)) is not None:
            return refused
        fields = parse_multipart(rec)
        media_id = str(next(self.ids))
        self.media[media_id] = {
            "bytes": fields["media"][2],
            "category": fields["media_category"][2].decode(),
            "type": fields["media_type"][2].decode(),
        }
        return Reply(
            200,
            json={"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(fields["media"][2])}},
        )

    def metadata(self, rec: Recorded) -> Reply:
        if (refused := self._auth(rec)) is not None:
            return refused
        body = rec.json
        self.media[body["id"]]["alt"] = body["metadata"]["alt_text"]["text"]
        return Reply(200, json={"data": {"associated_metadata": body["metadata"]}})

    def me(self, rec: Recorded) -> Reply:
        if (refused := self._auth(rec)) is not None:
            return refused
        return Reply(200, json={"data": {"id": "1234", "name": "Humas Provinsi", "username": "humasprov"}})


@pytest.fixture
def fake(scripted_server: ScriptedServer) -> FakeX:
    return FakeX(scripted_server)


def writes(server: ScriptedServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method != "GET"]


# -- the contract ---------------------------------------------------------------------------------


class TestXContract(ChannelContract):
    channel_class = XChannel

    def options(self, url: str) -> dict[str, Any]:
        return {
            "api_base": url,
            "consumer_key": {"env": "X_CK"},
            "consumer_secret": {"env": "X_CS"},
            "access_token": {"env": "X_AT"},
            "access_token_secret": {"env": "X_ATS"},
            "thread": True,
        }

    def environ(self, url: str) -> dict[str, str]:
        return SECRET_ENV

    def script_success(self, server: ScriptedServer) -> None:
        FakeX(server)

    def script_transient(self, server: ScriptedServer) -> None:
        reset = str(int(time.time()) + 600)
        server.script(
            "POST",
            "/2/tweets",
            Reply(429, json={"title": "Too Many Requests"}, headers={"x-rate-limit-reset": reset}),
        )

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script(
            "POST", "/2/tweets", Reply(400, json={"title": "Invalid Request", "detail": "text is too long"})
        )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script("POST", "/2/tweets", Reply(401, json={"title": "Unauthorized", "status": 401}))


# -- render -----------------------------------------------------------------------------------------


def test_render_counts_the_x_way(tmp_path: Path) -> None:
    release = make_release(
        title="雅加达文化节 🇮🇩",
        summary="Ringkasan.",
        url="https://ppid.example.go.id/" + "sangat-panjang-" * 20,
        tags=(),
    )
    post = XChannel().render(release, make_ctx(XChannel, tmp_path))
    # CJK 2 each (6 x 2), space 1, flag 2; two blank lines 4; "Ringkasan." 10; the URL 23.
    assert post.extra["lengths"] == [12 + 1 + 2 + 2 + 10 + 2 + 23]
    assert post.extra["counting"] == "weighted" and post.extra["limit"] == 280


def test_render_thread_numbered_each_within_280(tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    post = XChannel().render(release, make_ctx(XChannel, tmp_path, thread=True, max_parts=8))
    assert len(post.parts) == 8
    assert all(count(p, XChannel.limits) <= 280 for p in post.parts)
    assert [p.rsplit(" ", 1)[1] for p in post.parts] == [f"{i}/8" for i in range(1, 9)]
    assert release.url in post.parts[0]
    assert post.text == "\n\n".join(post.parts)


# -- publish ----------------------------------------------------------------------------------------


def test_publish_signs_with_oauth1_and_posts_v2(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = make_release(images=())
    ctx = make_ctx(XChannel, tmp_path, scripted_server)
    post = XChannel().render(release, ctx)
    receipt = XChannel().publish(post, ctx)
    (req,) = scripted_server.requests
    assert (req.method, req.path) == ("POST", "/2/tweets")
    assert req.json == {"text": post.text}  # exactly what preview shows
    auth = req.headers["Authorization"]
    assert auth.startswith("OAuth ") and 'oauth_signature_method="HMAC-SHA1"' in auth
    assert 'oauth_consumer_key="ck-consumer"' in auth and 'oauth_token="1234-access-token"' in auth
    assert signature_ok(req, scripted_server.url) and fake.bad_signatures == 0
    assert "cs-consumer-secret" not in auth and "ats-token-secret" not in auth
    assert "Tweepy" in req.headers["User-Agent"]  # the real tweepy made the call
    assert receipt.remote_id in fake.tweets and receipt.ids == (receipt.remote_id,)
    assert receipt.url == f"https://x.com/i/status/{receipt.remote_id}"


def test_the_fake_refuses_a_bad_signature(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(XChannel, tmp_path, scripted_server)
    XChannel().publish(XChannel().render(make_release(images=()), ctx), ctx)
    good = scripted_server.requests[0]
    forged = Recorded(good.method, good.path, good.query, good.headers.copy(), good.body)
    forged.headers["Authorization"] = good.headers["Authorization"].replace("oauth_nonce=", "oauth_nonce=x")
    assert signature_ok(good, scripted_server.url) and not signature_ok(forged, scripted_server.url)
    wrong_host = scripted_server.url.replace("127.0.0.1", "localhost")
    assert not signature_ok(good, wrong_host)


def test_publish_thread_as_replies(fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    ctx = make_ctx(XChannel, tmp_path, scripted_server, thread=True)
    post = XChannel().render(make_release(images=()), ctx)
    receipt = XChannel().publish(post, ctx)
    bodies = [r.json for r in scripted_server.requests]
    assert [b["text"] for b in bodies] == list(post.parts) and len(bodies) == 3
    assert "reply" not in bodies[0]
    assert [b["reply"]["in_reply_to_tweet_id"] for b in bodies[1:]] == list(receipt.ids[:-1])
    assert [strip_number(p) for p in post.parts] != list(post.parts)


def test_publish_uploads_images_through_v2_with_alt_text(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = two_image_release(tmp_path)
    ctx = make_ctx(XChannel, tmp_path, scripted_server)
    receipt = XChannel().publish(XChannel().render(release, ctx), ctx)
    assert writes(scripted_server) == [
        "POST /2/media/upload",
        "POST /2/media/metadata",
        "POST /2/media/upload",
        "POST /2/media/metadata",
        "POST /2/tweets",
    ]
    upload = scripted_server.requests[0]
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert signature_ok(upload, scripted_server.url) and fake.bad_signatures == 0
    media = list(fake.media.values())
    assert [m["bytes"] for m in media] == [png(), png(64)]
    assert [m["category"] for m in media] == ["tweet_image", "tweet_image"]
    assert [m["alt"] for m in media] == ["Relawan memasang rambu evakuasi", "Peta jalur evakuasi desa"]
    tweet = fake.tweets[receipt.remote_id]
    assert tweet["media"]["media_ids"] == list(fake.media) == receipt.extra["media_ids"]


def test_oversize_image_is_skipped_with_a_warning(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class SmallX(XChannel):
        limits = Limits(max_length=280, counting="weighted", url_length=23, max_media=4, max_media_bytes=100)

    release = two_image_release(tmp_path)  # satu.png fits in 100 bytes, dua.png (64 bytes more) does not
    ctx = make_ctx(XChannel, tmp_path, scripted_server)
    caplog.set_level(logging.WARNING)
    receipt = SmallX().publish(SmallX().render(release, ctx), ctx)
    assert len(fake.tweets[receipt.remote_id]["media"]["media_ids"]) == 1
    assert "skipped image img/dua.png" in caplog.text


def test_missing_local_image_fails_before_posting(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = make_release(images=(Media("img/none.png", alt="x", mime_type="image/png"),))
    ctx = make_ctx(XChannel, tmp_path, scripted_server)
    with pytest.raises(PermanentError, match="cannot read image"):
        XChannel().publish(XChannel().render(release, ctx), ctx)
    assert scripted_server.requests == []


# -- errors -----------------------------------------------------------------------------------------


def _publish(ctx: Any, release: Any = None) -> Receipt:
    channel = XChannel()
    return channel.publish(channel.render(release or make_release(images=()), ctx), ctx)


def test_429_waits_for_x_rate_limit_reset(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    reset = int(time.time()) + 120
    scripted_server.script("POST", "/2/tweets", Reply(429, headers={"x-rate-limit-reset": str(reset)}))
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(XChannel, tmp_path, scripted_server))
    assert info.value.retry_after is not None and 115 <= info.value.retry_after <= 121


def test_daily_cap_uses_the_24_hour_reset() -> None:
    now = 1_000_000.0
    headers = {
        "x-rate-limit-reset": str(int(now) + 60),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(now) + 7200),
    }
    assert rate_limit_delay(headers, now) == 7200
    assert rate_limit_delay({"Retry-After": "30"}, now) == 30
    assert rate_limit_delay({}, now) is None


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(401, json={"title": "Unauthorized", "status": 401}), AuthError),
        (
            Reply(
                403,
                json={
                    "title": "Forbidden",
                    "type": "https://api.twitter.com/2/problems/oauth1-permissions",
                    "detail": "Your client app is not configured with the appropriate oauth1 app permissions",
                },
            ),
            AuthError,
        ),
        (
            Reply(
                403, json={"title": "Forbidden", "detail": "You are not permitted to perform this action."}
            ),
            PermanentError,
        ),
        (
            Reply(400, json={"title": "Invalid Request", "detail": "One or more parameters are invalid."}),
            PermanentError,
        ),
        (Reply(503, json={"title": "Service Unavailable"}), TransientError),
        (Reply(500, body=b"oops"), TransientError),
    ],
)
def test_error_classes(
    reply: Reply, error: type[ChannelError], scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.script("POST", "/2/tweets", reply)
    with pytest.raises(error) as info:
        _publish(make_ctx(XChannel, tmp_path, scripted_server))
    if error is PermanentError:
        assert not isinstance(info.value, AuthError)
    assert str(reply.status) in str(info.value)


def test_duplicate_on_first_attempt_is_permanent(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    _publish(make_ctx(XChannel, tmp_path, scripted_server))
    with pytest.raises(PermanentError, match="identical post exists") as info:
        _publish(make_ctx(XChannel, tmp_path, scripted_server, attempt=1))
    assert not isinstance(info.value, UnknownOutcome)


def test_duplicate_after_an_earlier_attempt_is_probably_posted(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    # Attempt 1: X posts it but the answer is a 503 (it happens); attempt 2 hears "duplicate".
    original = fake.create

    def posts_then_fails(rec: Recorded) -> Reply:
        original(rec)
        return Reply(503, json={"title": "Service Unavailable"})

    scripted_server.handler("POST", "/2/tweets", posts_then_fails)
    with pytest.raises(TransientError):
        _publish(make_ctx(XChannel, tmp_path, scripted_server, attempt=1))
    scripted_server.handler("POST", "/2/tweets", fake.create)
    with pytest.raises(UnknownOutcome, match="probably posted") as info:
        _publish(make_ctx(XChannel, tmp_path, scripted_server, attempt=2))
    state, _, _ = classify(info.value, XChannel.idempotency)
    assert state is DeliveryState.UNKNOWN  # never posted again, never claimed without an id
    assert len(fake.tweets) == 1


def test_timeout_after_sending_is_an_unknown_outcome(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    scripted_server.script("POST", "/2/tweets", Reply(201, json={"data": {"id": "1"}}, delay=2))
    ctx = make_ctx(XChannel, tmp_path, scripted_server, session=lambda: make_session(timeout=0.3))
    with pytest.raises(UnknownOutcome, match="not retried blindly") as info:
        _publish(ctx)
    assert classify(info.value, "none")[0] is DeliveryState.UNKNOWN


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    with ScriptedServer() as gone:
        url = gone.url
    ctx = make_ctx(XChannel, tmp_path, api_base=url)
    with pytest.raises(TransientError, match="nothing was sent"):
        _publish(ctx)


def test_thread_failing_midway_lists_what_was_posted(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    calls = itertools.count(1)

    def second_fails(rec: Recorded) -> Reply:
        return fake.create(rec) if next(calls) == 1 else Reply(503)

    scripted_server.handler("POST", "/2/tweets", second_fails)
    with pytest.raises(UnknownOutcome) as info:
        _publish(make_ctx(XChannel, tmp_path, scripted_server, thread=True))
    (posted,) = fake.tweets
    assert f"ids {posted}" in str(info.value) and "part 2 failed" in str(info.value)


def test_secrets_never_in_errors_or_logs(
    scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.script("POST", "/2/tweets", Reply(400, json={"detail": "bad " + SECRET_ENV["X_CS"]}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentError) as info:
        _publish(make_ctx(XChannel, tmp_path, scripted_server))
    message = f"{info.value} {info.value!r}"
    assert "bad <secret>" in message
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("syndicator"))
    for key in ("X_CK", "X_CS", "X_AT", "X_ATS"):
        assert SECRET_ENV[key] not in message and SECRET_ENV[key] not in ours
    # oauthlib's own DEBUG lines name the consumer key and token (both sent in clear in the
    # OAuth header anyway) but mask the two signing secrets; the CLI keeps them at WARNING.
    signing = "\n".join(r.getMessage() for r in caplog.records if "oauth" in r.name)
    for key in ("X_CS", "X_ATS"):
        assert SECRET_ENV[key] not in signing


# -- delete and check ---------------------------------------------------------------------------------


def test_delete_removes_the_whole_thread_last_first(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(XChannel, tmp_path, scripted_server, thread=True)
    receipt = _publish(ctx)
    fake.tweets.pop(receipt.ids[1])  # one part already deleted by hand
    scripted_server.clear()
    FakeX.__init__(fake, scripted_server)  # re-arm the routes, keep the tweets
    for tweet_id in receipt.ids:
        scripted_server.handler("DELETE", f"/2/tweets/{tweet_id}", lambda r, i=tweet_id: fake.delete(r, i))
    XChannel().delete(receipt, ctx)
    assert [r.path for r in scripted_server.requests] == [f"/2/tweets/{i}" for i in reversed(receipt.ids)]
    assert all(signature_ok(r, scripted_server.url) for r in scripted_server.requests)
    assert fake.tweets == {}


def test_check_reads_users_me_and_posts_nothing(
    fake: FakeX, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    line = XChannel().check(make_ctx(XChannel, tmp_path, scripted_server))
    assert line.startswith("authenticated as @humasprov (id 1234)")
    assert [f"{r.method} {r.path}" for r in scripted_server.requests] == ["GET /2/users/me"]
    assert signature_ok(scripted_server.requests[0], scripted_server.url)


def test_check_refused_credentials(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    scripted_server.script("GET", "/2/users/me", Reply(401, json={"title": "Unauthorized"}))
    with pytest.raises(AuthError):
        XChannel().check(make_ctx(XChannel, tmp_path, scripted_server))


# -- declarations ---------------------------------------------------------------------------------------


def test_declarations() -> None:
    assert XChannel.default_daily_quota == 17
    assert XChannel.idempotency == "none"
    assert XChannel.limits.counting == "weighted" and XChannel.limits.url_length == 23
    assert XChannel.capabilities.threads and XChannel.capabilities.delete and not XChannel.capabilities.edit
    assert [o.name for o in XChannel.options if o.secret] == [
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
    ]


def test_tweepy_is_imported_lazily() -> None:
    code = "import sys, syndicator_channels.x; print('tweepy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unexpected_tweepy_host_is_refused() -> None:
    session = x_module.RebasedSession(make_session(), "http://127.0.0.1:9")
    with pytest.raises(PermanentError, match="unexpected host"):
        session.request("GET", "https://evil.example/2/tweets")


def test_registers_through_the_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(x_module)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [XChannel]
