"""The mastodon channel against a loopback server that speaks the Mastodon REST API.

The fake keeps statuses, honours ``Idempotency-Key`` the way Mastodon does (the same key
returns the status already made), counts length as the instance does (graphemes, URLs 23,
the content warning included) and processes media asynchronously (202, then 206, then 200).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from syndicator_channels import mastodon as mastodon_module
from syndicator_channels.mastodon import MastodonChannel, clear_instance_cache, reset_delay
from test_social import SECRET_ENV, make_ctx, parse_multipart, png, two_image_release

from syndicator.channel import Limits
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError
from syndicator.http import make_session
from syndicator.models import Receipt
from syndicator.options import Secret
from syndicator.render import count
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, make_release

pytest_plugins = ["syndicator.testing"]

TOKEN = SECRET_ENV["MASTODON_TOKEN"]


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """The instance cache is per process; a reused port must not inherit another test's."""
    clear_instance_cache()
    yield
    clear_instance_cache()


class FakeMastodon:
    def __init__(self, server: ScriptedServer, max_characters: int = 500, polls: int = 1) -> None:
        self.server = server
        self.max_characters = max_characters
        self.polls = polls  # 206 answers before a media file is processed
        self.ids = itertools.count(110_000_000_000_000_001)
        self.statuses: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.media: dict[str, dict[str, Any]] = {}
        server.handler("GET", "/api/v2/instance", self.instance)
        server.handler("GET", "/api/v1/accounts/verify_credentials", self.verify)
        server.handler("POST", "/api/v1/statuses", self.create)
        server.handler("POST", "/api/v2/media", self.upload)

    def _denied(self, rec: Recorded) -> Reply | None:
        if rec.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, json={"error": "The access token is invalid"})
        return None

    def instance(self, rec: Recorded) -> Reply:
        statuses = {"max_characters": self.max_characters, "characters_reserved_per_url": 23}
        return Reply(
            200,
            json={
                "domain": "mastodon.example",
                "configuration": {"statuses": statuses, "media_attachments": {"image_size_limit": 16777216}},
            },
        )

    def verify(self, rec: Recorded) -> Reply:
        return self._denied(rec) or Reply(200, json={"id": "7", "username": "humas", "acct": "humas"})

    def _length(self, body: dict[str, Any]) -> int:
        limits = Limits(counting="graphemes", url_length=23)
        return count(body.get("status", ""), limits) + count(body.get("spoiler_text", ""), limits)

    def create(self, rec: Recorded) -> Reply:
        if (denied := self._denied(rec)) is not None:
            return denied
        key = rec.headers.get("Idempotency-Key")
        if key and key in self.keys:
            return Reply(200, json=self.statuses[self.keys[key]])
        body = rec.json
        if self._length(body) > self.max_characters:
            return Reply(422, json={"error": "Validation failed: Text character limit of 500 exceeded"})
        status_id = str(next(self.ids))
        status = {
            "id": status_id,
            "url": f"https://mastodon.example/@humas/{status_id}",
            "content": body["status"],
            "visibility": body.get("visibility"),
            "language": body.get("language"),
            "spoiler_text": body.get("spoiler_text", ""),
            "in_reply_to_id": body.get("in_reply_to_id"),
            "media_ids": body.get("media_ids", []),
        }
        self.statuses[status_id] = status
        if key:
            self.keys[key] = status_id
        self.server.handler("PUT", f"/api/v1/statuses/{status_id}", lambda r, i=status_id: self.edit(r, i))
        self.server.handler(
            "DELETE", f"/api/v1/statuses/{status_id}", lambda r, i=status_id: self.delete(r, i)
        )
        return Reply(200, json=status)

    def edit(self, rec: Recorded, status_id: str) -> Reply:
        if (denied := self._denied(rec)) is not None:
            return denied
        if status_id not in self.statuses:
            return Reply(404, json={"error": "Record not found"})
        self.statuses[status_id]["content"] = rec.json["status"]
        # As Mastodon's controller does: media_ids absent from an edit means "no media".
        self.statuses[status_id]["media_ids"] = rec.json.get("media_ids") or []
        return Reply(200, json=self.statuses[status_id])

    def delete(self, rec: Recorded, status_id: str) -> Reply:
        if (denied := self._denied(rec)) is not None:
            return denied
        status = self.statuses.pop(status_id, None)
        return Reply(404, json={"error": "Record not found"}) if status is None else Reply(200, json=status)

    def upload(self, rec: Recorded) -> Reply:
        if (denied := self._denied(rec)) is not None:
            return denied
        fields = parse_multipart(rec)
        media_id = str(next(self.ids))
        self.media[media_id] = {
            "file": fields["file"][2],
            "type": fields["file"][1],
            "description": fields["description"][2].decode(),
            "polls": self.polls,
        }
        self.server.handler("GET", f"/api/v1/media/{media_id}", lambda r, i=media_id: self.poll(r, i))
        return Reply(202, json={"id": media_id, "type": "image", "url": None})

    def poll(self, rec: Recorded, media_id: str) -> Reply:
        media = self.media[media_id]
        if media["polls"] > 0:
            media["polls"] -= 1
            return Reply(206, json={"id": media_id, "url": None})
        return Reply(200, json={"id": media_id, "url": f"https://files.example/{media_id}.png"})


@pytest.fixture
def fake(scripted_server: ScriptedServer) -> FakeMastodon:
    return FakeMastodon(scripted_server)


class FastMastodon(MastodonChannel):
    poll_interval = 0.01


def publish(ctx: Any, release: Any = None) -> Receipt:
    channel = FastMastodon()
    return channel.publish(channel.render(release or make_release(images=()), ctx), ctx)


def posts(server: ScriptedServer) -> list[Recorded]:
    return [r for r in server.requests if (r.method, r.path) == ("POST", "/api/v1/statuses")]


# -- the contract ---------------------------------------------------------------------------------


class TestMastodonContract(ChannelContract):
    channel_class = MastodonChannel

    def options(self, url: str) -> dict[str, Any]:
        return {"instance": url, "token": {"env": "MASTODON_TOKEN"}, "thread": True}

    def environ(self, url: str) -> dict[str, str]:
        return SECRET_ENV

    def script_success(self, server: ScriptedServer) -> None:
        FakeMastodon(server)

    def script_transient(self, server: ScriptedServer) -> None:
        FakeMastodon(server)
        server.script("POST", "/api/v1/statuses", Reply(503, body=b"<html>Bad gateway</html>"))

    def script_permanent(self, server: ScriptedServer) -> None:
        FakeMastodon(server)
        server.script(
            "POST", "/api/v1/statuses", Reply(422, json={"error": "Validation failed: Text can't be blank"})
        )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        FakeMastodon(server)
        server.script("POST", "/api/v1/statuses", Reply(401, json={"error": "The access token is invalid"}))


# -- publish ----------------------------------------------------------------------------------------


def test_publish_sends_key_token_and_options(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(
        MastodonChannel, tmp_path, scripted_server, visibility="unlisted", spoiler_text="Info banjir"
    )
    post = MastodonChannel().render(make_release(images=(), language="id-ID"), ctx)
    receipt = publish(ctx, make_release(images=(), language="id-ID"))
    (req,) = posts(scripted_server)
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["Idempotency-Key"] == ctx.idempotency_key
    assert req.json == {
        "status": post.text,
        "visibility": "unlisted",
        "language": "id",
        "spoiler_text": "Info banjir",
    }
    assert receipt.url == f"https://mastodon.example/@humas/{receipt.remote_id}"
    assert [f"{r.method} {r.path}" for r in scripted_server.requests] == [
        "GET /api/v2/instance",
        "POST /api/v1/statuses",
    ]


def test_retry_after_timeout_reuses_the_idempotency_key(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    def slow_create(rec: Recorded) -> Reply:
        reply = fake.create(rec)  # the status is made, but the answer comes too late
        return Reply(reply.status, json=reply.json, delay=1.5)

    scripted_server.handler("POST", "/api/v1/statuses", slow_create)
    ctx = make_ctx(MastodonChannel, tmp_path, scripted_server, session=lambda: make_session(timeout=0.3))
    with pytest.raises(TransientError, match="Idempotency-Key"):
        publish(ctx)
    scripted_server.handler("POST", "/api/v1/statuses", fake.create)
    receipt = publish(make_ctx(MastodonChannel, tmp_path, scripted_server, attempt=2))
    assert len(fake.statuses) == 1 and receipt.remote_id in fake.statuses
    keys = [r.headers["Idempotency-Key"] for r in posts(scripted_server)]
    assert keys[0] == keys[1] != ""


def test_thread_replies_each_with_its_own_key(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = two_image_release(tmp_path)
    ctx = make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True)
    post = FastMastodon().render(release, ctx)
    receipt = FastMastodon().publish(post, ctx)
    sent = posts(scripted_server)
    assert [r.json["status"] for r in sent] == list(post.parts) and len(sent) == 5
    key = ctx.idempotency_key
    assert [r.headers["Idempotency-Key"] for r in sent] == [
        key,
        f"{key}-2",
        f"{key}-3",
        f"{key}-4",
        f"{key}-5",
    ]
    assert [r.json.get("in_reply_to_id") for r in sent] == [None, *receipt.ids[:-1]]
    assert sent[0].json["media_ids"] == list(fake.media) and all("media_ids" not in r.json for r in sent[1:])
    assert [p.rsplit(" ", 1)[1] for p in post.parts] == ["1/5", "2/5", "3/5", "4/5", "5/5"]


def test_a_thread_retried_midway_does_not_repeat_parts(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    calls = itertools.count(1)

    def third_fails(rec: Recorded) -> Reply:
        return Reply(502) if next(calls) == 3 else fake.create(rec)

    release = two_image_release(tmp_path, images=())
    scripted_server.handler("POST", "/api/v1/statuses", third_fails)
    with pytest.raises(TransientError):
        publish(make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True), release)
    assert len(fake.statuses) == 2
    scripted_server.handler("POST", "/api/v1/statuses", fake.create)
    receipt = publish(make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True, attempt=2), release)
    assert len(fake.statuses) == len(receipt.ids) == 5  # parts 1 and 2 came back by their keys
    assert list(fake.statuses) == list(receipt.ids)


def test_media_with_description_polled_until_processed(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    fake = FakeMastodon(scripted_server, polls=2)
    receipt = publish(make_ctx(MastodonChannel, tmp_path, scripted_server), two_image_release(tmp_path))
    uploads = [r for r in scripted_server.requests if r.path == "/api/v2/media"]
    assert len(uploads) == 2 and all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in uploads)
    assert [m["description"] for m in fake.media.values()] == [
        "Relawan memasang rambu evakuasi",
        "Peta jalur evakuasi desa",
    ]
    assert [m["file"] for m in fake.media.values()] == [png(), png(64)]
    assert [m["type"] for m in fake.media.values()] == ["image/png", "image/png"]
    polls = [r.path for r in scripted_server.requests if r.path.startswith("/api/v1/media/")]
    assert len(polls) == 6  # 206, 206, 200 for each
    assert fake.statuses[receipt.remote_id]["media_ids"] == list(fake.media)


def test_media_never_processed_is_transient(
    scripted_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeMastodon(scripted_server, polls=10**6)
    monkeypatch.setattr(mastodon_module, "MEDIA_TIMEOUT", 0.2)
    with pytest.raises(TransientError, match="still processing"):
        publish(make_ctx(MastodonChannel, tmp_path, scripted_server), two_image_release(tmp_path))
    assert posts(scripted_server) == []


# -- instance limits --------------------------------------------------------------------------------


def test_instance_with_a_smaller_limit_is_refused_before_posting(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    fake = FakeMastodon(scripted_server, max_characters=300)
    release = two_image_release(tmp_path)  # fits 500, not 300
    with pytest.raises(PermanentError, match="set max_characters = 300"):
        publish(make_ctx(MastodonChannel, tmp_path, scripted_server), release)
    assert posts(scripted_server) == []
    receipt = publish(make_ctx(MastodonChannel, tmp_path, scripted_server, max_characters=300), release)
    assert receipt.remote_id in fake.statuses
    instance_reads = [r for r in scripted_server.requests if r.path == "/api/v2/instance"]
    assert len(instance_reads) == 1  # cached for the process


def test_render_uses_the_configured_limits_and_the_content_warning(tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    limits = Limits(counting="graphemes", url_length=23)
    small = MastodonChannel().render(release, make_ctx(MastodonChannel, tmp_path, max_characters=200))
    assert count(small.text, limits) <= 200
    warned = MastodonChannel().render(
        release, make_ctx(MastodonChannel, tmp_path, spoiler_text="Peringatan: bencana")
    )
    assert count(warned.text, limits) + count("Peringatan: bencana", limits) <= 500
    assert warned.extra["status"]["spoiler_text"] == "Peringatan: bencana"
    big = MastodonChannel().render(release, make_ctx(MastodonChannel, tmp_path, max_characters=5000))
    assert count(big.text, limits) > 500


def test_check_reports_the_instance_limits_and_posts_nothing(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    FakeMastodon(scripted_server, max_characters=5000)
    line = MastodonChannel().check(make_ctx(MastodonChannel, tmp_path, scripted_server))
    assert line.startswith("authenticated as @humas")
    assert "instance allows 5000 characters, 23 per URL (configured max_characters is 500)" in line
    assert {r.method for r in scripted_server.requests} == {"GET"}


def test_check_refused_token(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    FakeMastodon(scripted_server)
    ctx = make_ctx(MastodonChannel, tmp_path, scripted_server)
    ctx.options = {**ctx.options, "token": Secret("wrong", "MASTODON_TOKEN")}
    with pytest.raises(AuthError, match="401"):
        MastodonChannel().check(ctx)


def test_old_instance_without_v2_falls_back_to_v1(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    fake = FakeMastodon(scripted_server, max_characters=400)
    scripted_server.script("GET", "/api/v2/instance", Reply(404, json={"error": "Not found"}))
    scripted_server.handler("GET", "/api/v1/instance", fake.instance)
    line = MastodonChannel().check(make_ctx(MastodonChannel, tmp_path, scripted_server))
    assert "instance allows 400" in line


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(401, json={"error": "The access token is invalid"}), AuthError),
        (Reply(403, json={"error": "This action is outside the authorized scopes"}), AuthError),
        (
            Reply(422, json={"error": "Validation failed: Text character limit of 500 exceeded"}),
            PermanentError,
        ),
        (Reply(404, json={"error": "Record not found"}), PermanentError),
        (Reply(503, body=b"busy"), TransientError),
    ],
)
def test_error_classes(
    reply: Reply,
    error: type[ChannelError],
    fake: FakeMastodon,
    scripted_server: ScriptedServer,
    tmp_path: Path,
) -> None:
    scripted_server.script("POST", "/api/v1/statuses", reply)
    with pytest.raises(error) as info:
        publish(make_ctx(MastodonChannel, tmp_path, scripted_server))
    if error is PermanentError:
        assert not isinstance(info.value, AuthError)
    assert str(reply.status) in str(info.value)


def test_429_honours_x_ratelimit_reset(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    scripted_server.script(
        "POST",
        "/api/v1/statuses",
        Reply(429, json={"error": "Too many requests"}, headers={"X-RateLimit-Reset": reset}),
    )
    with pytest.raises(TransientError) as info:
        publish(make_ctx(MastodonChannel, tmp_path, scripted_server))
    assert info.value.retry_after is not None and 85 <= info.value.retry_after <= 91
    assert reset_delay({"Retry-After": "12"}) == 12
    assert reset_delay({"X-RateLimit-Reset": "2000-01-01T00:00:00.000Z"}, now=time.time()) == 0


def test_token_never_in_errors_or_logs(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.script("POST", "/api/v1/statuses", Reply(400, json={"error": f"bad token {TOKEN}"}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentError) as info:
        publish(make_ctx(MastodonChannel, tmp_path, scripted_server))
    assert TOKEN not in f"{info.value} {info.value!r} {caplog.text}"


# -- edit and delete ---------------------------------------------------------------------------------


def test_update_edits_in_place_adds_and_removes_parts(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = two_image_release(tmp_path, images=())
    ctx = make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True, max_parts=3)
    receipt = publish(ctx, release)
    longer = make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True, max_parts=4)
    corrected = FastMastodon().render(release.with_changes(title="Koreksi: " + release.title), longer)
    new = FastMastodon().update(receipt, corrected, longer)
    assert new.ids[:3] == receipt.ids and len(new.ids) == 4
    assert [fake.statuses[i]["content"] for i in new.ids] == list(corrected.parts)
    edits = [r for r in scripted_server.requests if r.method == "PUT"]
    assert [r.path for r in edits] == [f"/api/v1/statuses/{i}" for i in receipt.ids]
    assert fake.statuses[new.ids[3]]["in_reply_to_id"] == new.ids[2]

    shorter = make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True, max_parts=2)
    final = FastMastodon().update(new, FastMastodon().render(release, shorter), shorter)
    assert final.ids == new.ids[:2] and set(fake.statuses) == set(final.ids)


def test_update_keeps_the_images(fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    ctx = make_ctx(MastodonChannel, tmp_path, scripted_server)
    receipt = publish(ctx, release)
    media = fake.statuses[receipt.remote_id]["media_ids"]
    assert len(media) == 2
    corrected = FastMastodon().render(release.with_changes(title="Koreksi: " + release.title), ctx)
    FastMastodon().update(receipt, corrected, ctx)
    (edit,) = [r for r in scripted_server.requests if r.method == "PUT"]
    assert edit.json["media_ids"] == media and fake.statuses[receipt.remote_id]["media_ids"] == media
    assert fake.statuses[receipt.remote_id]["content"] == corrected.text


def test_delete_every_part_and_tolerate_gone(
    fake: FakeMastodon, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(MastodonChannel, tmp_path, scripted_server, thread=True)
    receipt = publish(ctx)
    fake.statuses.pop(receipt.ids[0])
    MastodonChannel().delete(receipt, ctx)
    deletes = [r.path for r in scripted_server.requests if r.method == "DELETE"]
    assert deletes == [f"/api/v1/statuses/{i}" for i in reversed(receipt.ids)]
    assert fake.statuses == {}


def test_declarations() -> None:
    assert MastodonChannel.idempotency == "key"
    caps = MastodonChannel.capabilities
    assert caps.threads and caps.media and caps.edit and caps.delete
    assert MastodonChannel.limits.max_length == 500 and MastodonChannel.limits.url_length == 23
