"""The bluesky channel against a loopback server that speaks the PDS's XRPC API.

The fake PDS issues JWT-shaped tokens with an ``exp``, refuses expired ones with
``ExpiredToken``, keeps records by record key (a second create at the same key fails as the
MST does, with a generic error), stores blobs, and checks that every facet's UTF-8 byte
range lands exactly on the text it claims.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from syndicator_channels import bluesky as bluesky_module
from syndicator_channels.bluesky import (
    BlueskyChannel,
    facets_for,
    parse_at_uri,
    record_key,
    tid_base,
    token_expires_within,
)
from syndicator_channels.social import display_link
from test_social import SECRET_ENV, make_ctx, png, two_image_release

from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError
from syndicator.http import make_session
from syndicator.models import Media, Receipt
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, make_release

pytest_plugins = ["syndicator.testing"]

HANDLE = "humas.example.go.id"
DID = "did:plc:humasprovinsi0000000000"
PASSWORD = SECRET_ENV["BSKY_PASSWORD"]
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


@pytest.fixture(autouse=True)
def fresh_sessions() -> Iterator[None]:
    """Sessions are cached per process by (service, handle); a reused port must start clean."""
    bluesky_module._sessions.clear()
    yield
    bluesky_module._sessions.clear()


def jwt(exp: float, kind: str, iat: float | None = None) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return (
        f"{part({'alg': 'ES256K'})}.{part({'scope': kind, 'exp': int(exp), 'jti': os.urandom(4).hex()})}.sig"
    )


class FakePDS:
    def __init__(self, server: ScriptedServer, access_ttl: float = 7200) -> None:
        self.server = server
        self.access_ttl = access_ttl
        self.logins = 0
        self.refreshes = 0
        self.access: dict[str, float] = {}  # token -> expiry
        self.refresh: set[str] = set()
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {"uri","cid","value"}
        self.blobs: dict[str, tuple[str, bytes]] = {}
        self.cids = itertools.count(1)
        self.facet_errors: list[str] = []
        routes = {
            ("POST", "com.atproto.server.createSession"): self.create_session,
            ("POST", "com.atproto.server.refreshSession"): self.refresh_session,
            ("GET", "com.atproto.server.getSession"): self.get_session,
            ("POST", "com.atproto.repo.createRecord"): self.create_record,
            ("GET", "com.atproto.repo.getRecord"): self.get_record,
            ("POST", "com.atproto.repo.deleteRecord"): self.delete_record,
            ("POST", "com.atproto.repo.uploadBlob"): self.upload_blob,
        }
        for (method, nsid), fn in routes.items():
            server.handler(method, f"/xrpc/{nsid}", fn)

    def _session(self) -> dict[str, str]:
        access, refresh = (
            jwt(time.time() + self.access_ttl, "access"),
            jwt(time.time() + 90 * 86400, "refresh"),
        )
        self.access[access] = time.time() + self.access_ttl
        self.refresh.add(refresh)
        return {"did": DID, "handle": HANDLE, "accessJwt": access, "refreshJwt": refresh}

    def _authed(self, rec: Recorded) -> Reply | None:
        token = rec.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.access:
            return Reply(401, json={"error": "AuthenticationRequired", "message": "Invalid token"})
        if self.access[token] < time.time():
            return Reply(400, json={"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def create_session(self, rec: Recorded) -> Reply:
        body = rec.json
        if body != {"identifier": HANDLE, "password": PASSWORD}:
            return Reply(
                401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
            )
        self.logins += 1
        return Reply(200, json={**self._session(), "email": "humas@example.go.id", "active": True})

    def refresh_session(self, rec: Recorded) -> Reply:
        token = rec.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.refresh:
            return Reply(400, json={"error": "ExpiredToken", "message": "Token has been revoked"})
        self.refresh.discard(token)
        self.refreshes += 1
        return Reply(200, json=self._session())

    def get_session(self, rec: Recorded) -> Reply:
        return self._authed(rec) or Reply(200, json={"did": DID, "handle": HANDLE, "active": True})

    def create_record(self, rec: Recorded) -> Reply:
        if (refused := self._authed(rec)) is not None:
            return refused
        body = rec.json
        if body["repo"] != DID or body["collection"] != "app.bsky.feed.post":
            return Reply(400, json={"error": "InvalidRequest", "message": "bad repo or collection"})
        rkey = body.get("rkey") or f"auto{next(self.cids):09d}"
        if rkey in self.records:
            return Reply(
                500, json={"error": "InternalServerError", "message": "There is already a value at key"}
            )
        record = body["record"]
        self._check_facets(record)
        if len(record["text"].encode()) > 3000:
            return Reply(400, json={"error": "InvalidRequest", "message": "text too long"})
        uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
        self.records[rkey] = {"uri": uri, "cid": f"bafyreicid{next(self.cids):04d}", "value": record}
        return Reply(200, json={"uri": uri, "cid": self.records[rkey]["cid"], "validationStatus": "valid"})

    def _check_facets(self, record: dict[str, Any]) -> None:
        raw = record["text"].encode("utf-8")
        for facet in record.get("facets", []):
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            try:
                piece = raw[start:end].decode("utf-8")
            except UnicodeDecodeError:
                self.facet_errors.append(f"{start}:{end} splits a character")
                continue
            feature = facet["features"][0]
            if feature["$type"] == "app.bsky.richtext.facet#tag" and piece != "#" + feature["tag"]:
                self.facet_errors.append(f"tag facet covers {piece!r}")
            if feature["$type"] == "app.bsky.richtext.facet#link" and not (
                piece == feature["uri"] or piece == display_link(feature["uri"])
            ):
                self.facet_errors.append(f"link facet covers {piece!r} for {feature['uri']}")

    def get_record(self, rec: Recorded) -> Reply:
        if (refused := self._authed(rec)) is not None:
            return refused
        found = self.records.get(rec.query.get("rkey", ""))
        if found is None or rec.query.get("repo") != DID:
            return Reply(400, json={"error": "RecordNotFound", "message": "Could not locate record"})
        return Reply(200, json=found)

    def delete_record(self, rec: Recorded) -> Reply:
        if (refused := self._authed(rec)) is not None:
            return refused
        self.records.pop(rec.json["rkey"], None)
        return Reply(200, json={"commit": {"cid": "bafyreicommit", "rev": "3l"}})

    def upload_blob(self, rec: Recorded) -> Reply:
        if (refused := self._authed(rec)) is not None:
            return refused
        link = f"bafkreiblob{next(self.cids):04d}"
        mime = rec.headers.get("Content-Type", "")
        self.blobs[link] = (mime, rec.body)
        blob = {"$type": "blob", "ref": {"$link": link}, "mimeType": mime, "size": len(rec.body)}
        return Reply(200, json={"blob": blob})


@pytest.fixture
def pds(scripted_server: ScriptedServer) -> FakePDS:
    return FakePDS(scripted_server)


def publish(ctx: Any, release: Any = None) -> Receipt:
    channel = BlueskyChannel()
    return channel.publish(channel.render(release or make_release(images=()), ctx), ctx)


def calls(server: ScriptedServer, nsid: str) -> list[Recorded]:
    return [r for r in server.requests if r.path == f"/xrpc/{nsid}"]


# -- the contract ---------------------------------------------------------------------------------


class TestBlueskyContract(ChannelContract):
    channel_class = BlueskyChannel
    # Logging in and renewing a session are POSTs that write nothing on the account.
    check_may_call = frozenset(
        {
            ("POST", "/xrpc/com.atproto.server.createSession"),
            ("POST", "/xrpc/com.atproto.server.refreshSession"),
        }
    )

    def options(self, url: str) -> dict[str, Any]:
        return {"service": url, "handle": HANDLE, "app_password": {"env": "BSKY_PASSWORD"}, "thread": True}

    def environ(self, url: str) -> dict[str, str]:
        return SECRET_ENV

    def script_success(self, server: ScriptedServer) -> None:
        FakePDS(server)

    def script_transient(self, server: ScriptedServer) -> None:
        FakePDS(server)
        server.script(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            Reply(
                429,
                json={"error": "RateLimitExceeded"},
                headers={"RateLimit-Reset": str(int(time.time()) + 60)},
            ),
        )

    def script_permanent(self, server: ScriptedServer) -> None:
        FakePDS(server)
        server.script(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            Reply(400, json={"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"}),
        )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        FakePDS(server)
        server.script(
            "POST",
            "/xrpc/com.atproto.server.createSession",
            Reply(401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"}),
        )

    def test_idempotency_key_goes_on_the_wire(self, tmp_path: Path) -> None:
        """Bluesky takes no key header: the key becomes the record keys (TIDs) on the wire,
        so a second publish of the same delivery creates nothing new."""
        release = self.sample_release()
        with self.start_server() as server:
            pds = FakePDS(server)
            ctx = self.context(server, tmp_path, idempotency_key=self.idempotency_key_for(release))
            post = BlueskyChannel().render(release, ctx)
            first = BlueskyChannel().publish(post, ctx)
            again = BlueskyChannel().publish(post, ctx)  # a retry that does not know the first landed
        expected = [record_key(ctx.idempotency_key, tid_base(release), n) for n in range(len(post.parts))]
        sent = [r.json["rkey"] for r in server.requests if r.path.endswith("createRecord")]
        assert sent[: len(expected)] == expected
        assert again == first and sorted(pds.records) == sorted(expected)


# -- facets and text ----------------------------------------------------------------------------------


def test_facets_use_utf8_byte_offsets_on_non_ascii_text(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = make_release(
        title="Festival Budaya 👨‍👩‍👧‍👦 dibuka — 文化节 🇮🇩",
        summary="Warga é café naïve: jadwal lengkap di https://ppid.example.go.id/jadwal-festival-budaya-2026/hari-pertama ya.",
        url="https://ppid.example.go.id/siaran-pers/festival-budaya",
        tags=("budaya", "festival"),
        images=(),
    )
    publish(make_ctx(BlueskyChannel, tmp_path, scripted_server), release)
    (record,) = [r["value"] for r in pds.records.values()]
    assert pds.facet_errors == []
    text = record["text"]
    raw = text.encode()
    links = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#link")]
    tags = [f["features"][0]["tag"] for f in record["facets"] if f["features"][0]["$type"].endswith("#tag")]
    assert [f["features"][0]["uri"] for f in links] == [
        "https://ppid.example.go.id/jadwal-festival-budaya-2026/hari-pertama",
        release.url,
    ]
    assert tags == ["Budaya", "Festival"]
    first = links[0]["index"]
    assert raw[first["byteStart"] : first["byteEnd"]].decode() == "ppid.example.go.id/jadwal-fes…"
    # The byte offset is not the character offset: the emoji and CJK before it weigh more.
    assert first["byteStart"] > text.index("ppid.example.go.id/jadwal")
    assert "https://" not in text  # every link shown short, linked whole by its facet


def test_unshortened_links_link_to_themselves(tmp_path: Path) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, shorten_links=False)
    post = BlueskyChannel().render(make_release(images=()), ctx)
    (record,) = post.extra["records"]
    (link,) = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#link")]
    raw = record["text"].encode()
    assert raw[link["index"]["byteStart"] : link["index"]["byteEnd"]].decode() == link["features"][0]["uri"]


def test_facets_for_spans() -> None:
    text = "Cek 🎉 https://a.example/x dan #Banjir."
    facets = facets_for(text)
    assert [(f["index"]["byteStart"], f["index"]["byteEnd"]) for f in facets] == [(9, 28), (33, 40)]


def test_emoji_heavy_text_stays_within_3000_bytes(tmp_path: Path) -> None:
    family = "👨‍👩‍👧‍👦"
    release = make_release(title=family * 10, summary=(family + " ") * 200, images=())
    post = BlueskyChannel().render(release, make_ctx(BlueskyChannel, tmp_path))
    assert len(post.text.encode()) <= 3000
    assert post.extra["lengths"][0] <= 300


# -- records, embeds, threads ----------------------------------------------------------------------------


def test_link_card_when_there_are_no_images(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = make_release(images=(), language="id")
    receipt = publish(make_ctx(BlueskyChannel, tmp_path, scripted_server), release)
    record = pds.records[receipt.remote_id.rsplit("/", 1)[1]]["value"]
    assert record["$type"] == "app.bsky.feed.post" and record["langs"] == ["id"]
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {"uri": release.url, "title": release.title, "description": release.summary},
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["createdAt"])
    assert calls(scripted_server, "com.atproto.repo.uploadBlob") == []


def test_card_with_thumbnail_from_the_release(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    release = two_image_release(tmp_path)
    receipt = publish(make_ctx(BlueskyChannel, tmp_path, scripted_server, embed="card"), release)
    external = pds.records[receipt.remote_id.rsplit("/", 1)[1]]["value"]["embed"]["external"]
    (upload,) = calls(scripted_server, "com.atproto.repo.uploadBlob")
    assert upload.body == png() and upload.headers["Content-Type"] == "image/png"
    assert external["thumb"]["ref"]["$link"] in pds.blobs
    assert external["uri"] == release.url and external["title"] == release.title


def test_images_uploaded_as_blobs_with_alt(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    receipt = publish(make_ctx(BlueskyChannel, tmp_path, scripted_server), two_image_release(tmp_path))
    embed = pds.records[receipt.remote_id.rsplit("/", 1)[1]]["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == [
        "Relawan memasang rambu evakuasi",
        "Peta jalur evakuasi desa",
    ]
    assert [pds.blobs[i["image"]["ref"]["$link"]] for i in embed["images"]] == [
        ("image/png", png()),
        ("image/png", png(64)),
    ]
    assert all(
        r.headers["Authorization"].startswith("Bearer ")
        for r in calls(scripted_server, "com.atproto.repo.uploadBlob")
    )


def test_oversize_image_skipped(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server, max_image_bytes=100)
    receipt = publish(ctx, two_image_release(tmp_path))
    images = pds.records[receipt.remote_id.rsplit("/", 1)[1]]["value"]["embed"]["images"]
    assert len(images) == 1 and "skipped image img/dua.png" in caplog.text


def test_thread_with_root_and_parent_refs(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server, thread=True)
    post = BlueskyChannel().render(two_image_release(tmp_path), ctx)
    receipt = BlueskyChannel().publish(post, ctx)
    assert len(receipt.ids) == len(post.parts) == 5
    records = [pds.records[parse_at_uri(uri)[2]] for uri in receipt.ids]
    root = {"uri": records[0]["uri"], "cid": records[0]["cid"]}
    assert "reply" not in records[0]["value"] and "embed" in records[0]["value"]
    for before, record in itertools.pairwise(records):
        assert record["value"]["reply"] == {
            "root": root,
            "parent": {"uri": before["uri"], "cid": before["cid"]},
        }
        assert "embed" not in record["value"]
    assert [r["value"]["text"] for r in records] == list(post.parts)
    assert all(TID_RE.match(parse_at_uri(uri)[2]) for uri in receipt.ids)
    assert receipt.url == f"https://bsky.app/profile/{HANDLE}/post/{parse_at_uri(receipt.ids[0])[2]}"
    assert pds.facet_errors == []


def test_record_keys_are_stable_tids() -> None:
    keys = [record_key("syn-abc", 1_772_416_800_000_000, n) for n in range(64)]
    assert len(set(keys)) == 64 and all(TID_RE.match(k) for k in keys)
    assert keys == sorted(keys)  # parts sort in order
    assert record_key("syn-abc", 1_772_416_800_000_000, 0) == keys[0]
    assert record_key("syn-abd", 1_772_416_800_000_000, 0) != keys[0]
    with pytest.raises(PermanentError):
        record_key("syn-abc", 0, 64)


def test_lost_answer_is_found_by_its_record_key(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    calls_made = itertools.count(1)

    def third_times_out(rec: Recorded) -> Reply:
        reply = pds.create_record(rec)  # made, but the answer is lost
        return Reply(reply.status, json=reply.json, delay=1.0) if next(calls_made) == 3 else reply

    scripted_server.handler("POST", "/xrpc/com.atproto.repo.createRecord", third_times_out)
    slow = make_ctx(
        BlueskyChannel, tmp_path, scripted_server, thread=True, session=lambda: make_session(timeout=0.3)
    )
    receipt = publish(slow, two_image_release(tmp_path))
    assert len(pds.records) == len(receipt.ids) == 5
    assert len(calls(scripted_server, "com.atproto.repo.getRecord")) == 1  # asked once, after the timeout


def test_retry_never_posts_twice(pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    calls_made = itertools.count(1)

    def third_fails(rec: Recorded) -> Reply:
        return Reply(502, body=b"bad gateway") if next(calls_made) == 3 else pds.create_record(rec)

    scripted_server.handler("POST", "/xrpc/com.atproto.repo.createRecord", third_fails)
    with pytest.raises(TransientError, match="502"):
        publish(make_ctx(BlueskyChannel, tmp_path, scripted_server, thread=True), release)
    assert len(pds.records) == 2
    scripted_server.handler("POST", "/xrpc/com.atproto.repo.createRecord", pds.create_record)
    blobs = len(pds.blobs)
    receipt = publish(make_ctx(BlueskyChannel, tmp_path, scripted_server, thread=True, attempt=2), release)
    assert len(pds.records) == len(receipt.ids) == 5
    assert len(pds.blobs) == blobs  # the root existed: its images were not uploaded again
    # Attempt 1 again (a reconciled retry): the duplicate key fails, and the record is reused.
    again = publish(make_ctx(BlueskyChannel, tmp_path, scripted_server, thread=True, attempt=1), release)
    assert again.ids == receipt.ids and len(pds.records) == 5


def test_find_existing(pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    release = make_release(images=())
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server)
    assert BlueskyChannel().find_existing(release, ctx) is None
    receipt = publish(ctx, release)
    assert BlueskyChannel().find_existing(release, ctx) == receipt


# -- session ------------------------------------------------------------------------------------------------


def test_session_is_reused_persisted_and_refreshed(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server)
    publish(ctx, make_release(id="a", images=()))
    publish(ctx, make_release(id="b", images=()))
    assert pds.logins == 1
    path = tmp_path / "state" / "bluesky-bluesky.session.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    saved = json.loads(path.read_text())
    assert saved["did"] == DID and PASSWORD not in path.read_text()

    bluesky_module._sessions.clear()  # a new process: the file is enough
    publish(ctx, make_release(id="c", images=()))
    assert pds.logins == 1 and pds.refreshes == 0

    for token in pds.access:  # the server expires every access token
        pds.access[token] = time.time() - 1
    publish(ctx, make_release(id="d", images=()))
    assert pds.logins == 1 and pds.refreshes == 1
    assert json.loads(path.read_text())["accessJwt"] != saved["accessJwt"]


def test_token_near_expiry_is_refreshed_before_use(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server)
    publish(ctx, make_release(id="a", images=()))
    # Two hours old, 100 seconds left: still valid, but inside the refresh margin.
    (session,) = bluesky_module._sessions.values()
    session["accessJwt"] = jwt(time.time() + 100, "access", iat=time.time() - 7100)
    pds.access[session["accessJwt"]] = time.time() + 100
    publish(ctx, make_release(id="b", images=()))
    assert pds.logins == 1 and pds.refreshes == 1
    assert len(calls(scripted_server, "com.atproto.repo.createRecord")) == 2  # no ExpiredToken round trip


def test_revoked_refresh_token_logs_in_again(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server)
    publish(ctx, make_release(id="a", images=()))
    pds.refresh.clear()
    for token in pds.access:
        pds.access[token] = time.time() - 1
    publish(ctx, make_release(id="b", images=()))
    assert pds.logins == 2


def test_token_expiry_reader() -> None:
    now = time.time()
    assert token_expires_within(jwt(now + 100, "access"), 300, now)
    assert not token_expires_within(jwt(now + 1000, "access"), 300, now)
    assert not token_expires_within("not-a-jwt", 300, now)


def test_wrong_app_password_is_an_auth_error(
    scripted_server: ScriptedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    FakePDS(scripted_server)
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server, handle="someone.else")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError, match="app password was refused") as info:
        publish(ctx)
    assert PASSWORD not in f"{info.value} {caplog.text}"
    assert calls(scripted_server, "com.atproto.repo.createRecord") == []


# -- errors, delete, check -------------------------------------------------------------------------------------


def test_429_honours_ratelimit_reset(pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    reset = int(time.time()) + 300
    scripted_server.script(
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        Reply(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-reset": str(reset)},
        ),
    )
    with pytest.raises(TransientError) as info:
        publish(make_ctx(BlueskyChannel, tmp_path, scripted_server))
    assert info.value.retry_after is not None and 295 <= info.value.retry_after <= 301
    assert calls(scripted_server, "com.atproto.repo.getRecord") == []  # refused: nothing to look for


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply(
                400,
                json={
                    "error": "InvalidRequest",
                    "message": "Record/text must not be longer than 300 graphemes",
                },
            ),
            PermanentError,
        ),
        (Reply(502, body=b"bad gateway"), TransientError),
        (Reply(403, json={"error": "AccountTakedown", "message": "Account has been taken down"}), AuthError),
    ],
)
def test_error_classes(
    reply: Reply, error: type[ChannelError], pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.script("POST", "/xrpc/com.atproto.repo.createRecord", reply)
    with pytest.raises(error) as info:
        publish(make_ctx(BlueskyChannel, tmp_path, scripted_server))
    if error is PermanentError:
        assert not isinstance(info.value, AuthError)
    assert str(reply.status) in str(info.value)


def test_delete_every_record(pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server, thread=True)
    receipt = publish(ctx, two_image_release(tmp_path, images=()))
    BlueskyChannel().delete(receipt, ctx)
    deletes = [r.json for r in calls(scripted_server, "com.atproto.repo.deleteRecord")]
    assert deletes == [
        {"repo": DID, "collection": "app.bsky.feed.post", "rkey": parse_at_uri(uri)[2]}
        for uri in reversed(receipt.ids)
    ]
    assert pds.records == {}


def test_check_uses_the_session_and_posts_nothing(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server)
    assert BlueskyChannel().check(ctx) == f"authenticated as {HANDLE} ({DID})"
    assert BlueskyChannel().check(ctx) == f"authenticated as {HANDLE} ({DID})"
    assert [r.path for r in scripted_server.requests] == [
        "/xrpc/com.atproto.server.createSession",
        "/xrpc/com.atproto.server.getSession",
        "/xrpc/com.atproto.server.getSession",
    ]
    assert pds.records == {} and pds.logins == 1


def test_remote_image_is_downloaded_in_publish(
    pds: FakePDS, scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.script(
        "GET", "/img/foto.png", Reply(200, body=png(), headers={"Content-Type": "image/png"})
    )
    release = make_release(images=(Media(scripted_server.url + "/img/foto.png", alt="Foto"),))
    ctx = make_ctx(BlueskyChannel, tmp_path, scripted_server)
    BlueskyChannel().render(release, ctx)
    assert scripted_server.requests == []  # nothing fetched by render
    publish(ctx, release)
    assert [r.path for r in scripted_server.requests if r.method == "GET"] == ["/img/foto.png"]


def test_declarations() -> None:
    assert BlueskyChannel.idempotency == "key"
    assert BlueskyChannel.limits.max_length == 300 and BlueskyChannel.limits.counting == "graphemes"
    assert BlueskyChannel.limits.max_media == 4 and BlueskyChannel.limits.max_media_bytes == 1_000_000
    assert not BlueskyChannel.capabilities.edit and BlueskyChannel.capabilities.delete
