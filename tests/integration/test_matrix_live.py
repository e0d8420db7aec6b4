"""The matrix channel against a real homeserver (Synapse from PyPI, sqlite).

Start one with ``bash .ci/services/synapse-up.sh`` and export what it writes::

    set -a; . /tmp/syndicator-synapse/env; set +a   # SYNDICATOR_MATRIX_URL, _TOKEN, _ROOM

Without those variables, or with the homeserver unreachable, these tests skip with a message
(and fail under SYNDICATOR_REQUIRE_SERVICES=1, as in CI). Every test uses release ids and
transaction ids of its own, so they can run again and again against the same room.
"""

from __future__ import annotations

import logging
import os
import struct
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from syndicator_channels.matrix import MatrixChannel

from syndicator.channel import ChannelContext
from syndicator.errors import AuthError
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import resolve_options

pytestmark = pytest.mark.service

ENV = ("SYNDICATOR_MATRIX_URL", "SYNDICATOR_MATRIX_TOKEN", "SYNDICATOR_MATRIX_ROOM")
API = "/_matrix/client/v3"


@pytest.fixture(scope="module")
def homeserver() -> dict[str, str]:
    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        pytest.skip(
            f"no Matrix homeserver to test against: {', '.join(missing)} not set "
            "(run .ci/services/synapse-up.sh and export its env file)"
        )
    url = os.environ["SYNDICATOR_MATRIX_URL"].rstrip("/")
    try:
        requests.get(f"{url}/_matrix/client/versions", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.skip(f"the Matrix homeserver at {url} is not reachable: {exc}")
    return {
        "url": url,
        "token": os.environ["SYNDICATOR_MATRIX_TOKEN"],
        "room": os.environ["SYNDICATOR_MATRIX_ROOM"],
    }


class Room:
    """Reads the room as a member would, to check what the channel sent."""

    def __init__(self, hs: dict[str, str]) -> None:
        self.base = hs["url"]
        self.room = hs["room"]
        self.headers = {"Authorization": f"Bearer {hs['token']}"}

    def get(self, path: str, **params: Any) -> Any:
        resp = requests.get(self.base + path, params=params, headers=self.headers, timeout=30)
        resp.raise_for_status()
        return resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else resp

    def event(self, event_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(
            f"{API}/rooms/{quote(self.room, safe='')}/event/{quote(event_id, safe='')}"
        )
        return found

    def timeline(self, limit: int = 200) -> list[dict[str, Any]]:
        data = self.get(f"{API}/rooms/{quote(self.room, safe='')}/messages", dir="b", limit=limit)
        return [e for e in data["chunk"] if e.get("type") == "m.room.message"]

    def media(self, mxc: str) -> requests.Response:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        resp: requests.Response = self.get(f"/_matrix/client/v1/media/download/{server}/{media_id}")
        return resp


@pytest.fixture
def room(homeserver: dict[str, str]) -> Room:
    return Room(homeserver)


def make_ctx(hs: dict[str, str], base: Path, key: str, token: str | None = None) -> ChannelContext:
    options, problems = resolve_options(
        {"homeserver": hs["url"], "access_token": {"env": "MATRIX_TOKEN"}, "room_id": hs["room"]},
        MatrixChannel.options,
        environ={"MATRIX_TOKEN": token or hs["token"]},
    )
    assert problems == [] and MatrixChannel.validate(options) == []
    return ChannelContext(
        name="matrix-live",
        options=options,
        base_dir=base,
        logger=logging.getLogger("t.matrix-live"),
        idempotency_key=key,
        timezone="Asia/Jakarta",
        _session_factory=lambda: make_session(timeout=30),
    )


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG, built with the standard library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xd0\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def release(tag: str, **changes: Any) -> Release:
    fields: dict[str, Any] = {
        "source": "live",
        "id": f"matrix-{tag}",
        "title": f"Jembatan Sukamaju Diresmikan {tag}",
        "summary": "Jembatan gantung sepanjang 120 meter menghubungkan dua dusun.",
        "body_html": "<p>Warga kini <b>tidak perlu</b> memutar 14 km. @room</p><p>Paragraf kedua &amp; terakhir.</p>",
        "body_text": "Warga kini tidak perlu memutar 14 km. @room\n\nParagraf kedua & terakhir.",
        "url": f"https://ppid.example.go.id/siaran-pers/{tag}",
        "published": datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        "agency": "Dinas PU",
        "language": "id",
    }
    fields.update(changes)
    return Release(**fields)


def publish(ctx: ChannelContext, item: Release) -> Receipt:
    channel = MatrixChannel()
    return channel.publish(channel.render(item, ctx), ctx)


def test_a_release_arrives_in_the_room_field_by_field(
    homeserver: dict[str, str], room: Room, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    item = release(tag)
    receipt = publish(make_ctx(homeserver, tmp_path, f"syn-live-{tag}"), item)
    assert receipt.ids == (receipt.remote_id,) and receipt.extra["room_id"] == homeserver["room"]
    assert receipt.url.startswith("https://matrix.to/#/")
    event = room.event(receipt.remote_id)
    assert event["type"] == "m.room.message" and event["sender"].startswith("@syndicator:")
    content = event["content"]
    assert content["msgtype"] == "m.text"
    assert content["format"] == "org.matrix.custom.html"
    assert content["m.mentions"] == {}
    body = content["body"]
    assert body.startswith(f"Jembatan Sukamaju Diresmikan {tag}\nDinas PU · 2026-03-02 09:00 WIB")
    for piece in (item.summary, "Paragraf kedua & terakhir.", item.url):
        assert piece in body
    html = content["formatted_body"]
    assert f"<h3>Jembatan Sukamaju Diresmikan {tag}</h3>" in html
    assert "<b>tidak perlu</b>" in html and "Paragraf kedua &amp; terakhir." in html
    assert f'<a href="{item.url}">' in html


def test_the_same_transaction_twice_is_one_event(
    homeserver: dict[str, str], room: Room, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    item = release(tag)
    ctx = make_ctx(homeserver, tmp_path, f"syn-live-{tag}")
    first = publish(ctx, item)
    again = publish(ctx, item)  # a retry after a timeout: the same txn id
    assert again.remote_id == first.remote_id
    titled = [e for e in room.timeline() if e["content"].get("body", "").startswith(item.title)]
    assert [e["event_id"] for e in titled] == [first.remote_id]


def test_images_are_uploaded_and_sent(homeserver: dict[str, str], room: Room, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    (tmp_path / "img").mkdir()
    data = png()
    (tmp_path / "img" / "jembatan.png").write_bytes(data)
    item = release(
        tag, images=(Media("img/jembatan.png", alt="Warga menyeberangi jembatan", mime_type="image/png"),)
    )
    receipt = publish(make_ctx(homeserver, tmp_path, f"syn-live-{tag}"), item)
    assert len(receipt.ids) == 2
    image = room.event(receipt.ids[1])["content"]
    assert image["msgtype"] == "m.image" and image["body"] == "Warga menyeberangi jembatan"
    assert image["info"] == {"mimetype": "image/png", "size": len(data)}
    assert image["url"].startswith("mxc://")
    assert room.media(image["url"]).content == data


def test_delete_redacts_every_event(homeserver: dict[str, str], room: Room, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    (tmp_path / "a.png").write_bytes(png())
    item = release(tag, images=(Media("a.png", alt="A", mime_type="image/png"),))
    ctx = make_ctx(homeserver, tmp_path, f"syn-live-{tag}")
    receipt = publish(ctx, item)
    MatrixChannel().delete(receipt, make_ctx(homeserver, tmp_path, f"syn-live-{tag}-retract"))
    for event_id in receipt.ids:
        event = room.event(event_id)
        assert event["content"] == {}
        assert event["unsigned"]["redacted_because"]["type"] == "m.room.redaction"


def test_check_and_a_refused_token(homeserver: dict[str, str], tmp_path: Path) -> None:
    status = MatrixChannel().check(make_ctx(homeserver, tmp_path, "syn-live-check"))
    assert status.startswith("logged in as @syndicator:") and homeserver["room"] in status
    with pytest.raises(AuthError):
        MatrixChannel().check(make_ctx(homeserver, tmp_path, "syn-live-check", token="syt_not_a_token"))
