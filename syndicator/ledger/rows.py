"""What the ledger hands out about a release (:class:`StoredRelease`, the listing's
:class:`ReleaseFacts` and :class:`DeliveryFacts`, the gate's :class:`GateRow`, the collector's :class:`Summary`), and how a release is packed into its
row: compressed JSON, with its text apart so that it can be let go (``keep_text``)."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, NamedTuple

from ..approval import GateResult, PinnedApproval, gate
from ..models import DeliveryState, Release


@dataclass(frozen=True)
class StoredRelease:
    """A release as the ledger holds it, with its approval and gate facts."""

    release: Release
    first_seen: datetime
    changed_at: datetime
    pinned: PinnedApproval | None
    hold_reason: str | None
    due_since: datetime | None
    retracted_at: datetime | None
    retracted_by: str | None
    retracted_reason: str | None
    has_text: bool = True  # False once the text was let go (``keep_text``): only the hash is left

    @property
    def key(self) -> str:
        return self.release.key

    @property
    def source(self) -> str:
        return self.release.source

    @property
    def tags(self) -> tuple[str, ...]:
        return self.release.tags

    @property
    def title(self) -> str:
        return self.release.title

    @property
    def published(self) -> datetime | None:
        return self.release.published

    @property
    def approved_hash(self) -> str | None:
        return self.pinned.approved_hash if self.pinned else None

    def verdict(self, now: datetime, zone: tzinfo | None = None) -> GateResult:
        """The gate's answer for this release now, for its content as it is (the hash computed
        from it); ``zone`` only changes how an embargo reads."""
        return _verdict(self.release.content_hash, self.release.publish_at, self, now, zone)


@dataclass(frozen=True)
class ReleaseFacts:
    """What a release's row says without unpacking the release: enough to tell where it
    stands (``syndicator.status``) and to list it, for thousands of releases at a time."""

    key: str
    source: str
    title: str
    tags: tuple[str, ...]
    published: datetime | None
    publish_at: datetime | None
    content_hash: str  # as recorded when the release was stored
    first_seen: datetime
    pinned: PinnedApproval | None
    hold_reason: str | None
    due_since: datetime | None
    retracted_at: datetime | None
    retracted_reason: str | None

    @property
    def approved_hash(self) -> str | None:
        return self.pinned.approved_hash if self.pinned else None

    def verdict(self, now: datetime, zone: tzinfo) -> GateResult:
        """The gate's answer now, for the content hash the row records (as the engine's gate
        reads it, :class:`GateRow`). The row keeps times in UTC, so an embargo is said in
        ``zone`` (the config's), as the whole release's own offset is not kept."""
        return _verdict(self.content_hash, self.publish_at, self, now, zone)


class DeliveryFacts(NamedTuple):
    """Where a delivery stands, as its row tells it: what listing the deliveries of an archive
    needs, without the receipt and times a :class:`~syndicator.models.Delivery` reads."""

    release_key: str
    channel: str
    state: DeliveryState
    last_error: str


def _verdict(
    content_hash: str,
    publish_at: datetime | None,
    row: StoredRelease | ReleaseFacts,
    now: datetime,
    zone: tzinfo | None,
) -> GateResult:
    return gate(
        content_hash=content_hash,
        approved_hash=row.approved_hash,
        approved_by=row.pinned.approved_by if row.pinned else None,
        hold_reason=row.hold_reason,
        publish_at=publish_at.astimezone(zone) if publish_at and zone else publish_at,
        retracted=row.retracted_at is not None,
        now=now,
        zone_label=f" ({zone})" if zone else "",
    )


@dataclass(frozen=True)
class GateRow:
    key: str
    source: str
    tags: tuple[str, ...]
    content_hash: str
    approved_hash: str | None
    approved_by: str | None
    hold_reason: str | None
    publish_at: datetime | None
    due_since: datetime | None
    priority: str
    has_text: bool = True


@dataclass(frozen=True)
class Summary:
    """What the engine needs to tell whether a collected release changed, without parsing it."""

    content_hash: str
    pinned: PinnedApproval | None
    hold_reason: str | None


TEXT_FIELDS = ("summary", "body_html", "body_text")
# What a release's row has columns for: its JSON leaves them out and unpacking takes them back.
COLUMN_FIELDS = ("source", "id", "title", "tags", "priority")

# A preset dictionary for the fields' JSON: the keys and the values most releases share, so
# that each release's few hundred bytes compress as if the others came before them. Never
# edit it: every stored release names it (by its Adler-32, in the zlib header) and needs
# exactly these bytes to be read. A new dictionary is added beside it.
_FIELDS_DICTIONARY = (
    b'"status":"approved","status":"draft",".pdf",".jpg",'
    b'"attachments":[{"location":"https://","kind":"document","alt":"","title":"",'
    b'"mime_type":"application/pdf","size":0,"digest":"sha256:"}],'
    b'{"url":"https://","published":"T00:00:00+09:00","T00:00:00+08:00","T00:00:00+07:00",'
    b'"agency":"","author":"","language":"id","images":[{"location":"https://","kind":"image",'
    b'"alt":"","title":"","mime_type":"image/jpeg","size":0,"digest":""}],"attachments":[],'
    b'"publish_at":null,"overrides":{},"updated":null,"status":"","origin":"https://'
)
_DICTIONARIES = {zlib.adler32(_FIELDS_DICTIONARY): _FIELDS_DICTIONARY}


def pack_release(release: Release) -> tuple[bytes, bytes]:
    """The release as stored: compressed JSON of its fields, without those its row has
    columns for, and apart from them its text (summary, body and its plain text), which
    may be let go once delivered. The plain text is kept as collected: it compresses along
    with the HTML it mostly repeats (about 130 bytes a release), where deriving it again
    cost every delivery a tenth of a millisecond."""
    fields = release.to_dict()
    text = {k: fields.pop(k) for k in TEXT_FIELDS}
    for k in COLUMN_FIELDS:
        del fields[k]
    packer = zlib.compressobj(6, zdict=_FIELDS_DICTIONARY)
    return packer.compress(_json(fields)) + packer.flush(), zlib.compress(_json(text), 6)


def _json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _decompress(data: bytes) -> bytes:
    if len(data) > 6 and data[1] & 0x20:  # FDICT: the header names its preset dictionary
        unpacker = zlib.decompressobj(zdict=_DICTIONARIES[int.from_bytes(data[2:6], "big")])
        return unpacker.decompress(data) + unpacker.flush()
    return zlib.decompress(data)


class Columns(NamedTuple):
    """The fields of a release that its row keeps in columns (:data:`COLUMN_FIELDS`)."""

    source: str
    id: str
    title: str
    tags: list[str]
    priority: str


def unpack_release(
    data: bytes, text: bytes | None, columns: Columns, content_hash: str | None = None
) -> Release:
    """A stored release: its fields, its row's ``columns`` and its text. Without its text (let
    go), it keeps the stored ``content_hash``, which can no longer be computed from what is left."""
    fields = json.loads(_decompress(data))
    fields.update(columns._asdict())
    if text is not None:
        fields.update(json.loads(_decompress(text)))
    release = Release.from_dict(fields)
    if text is None and content_hash:
        release.__dict__["content_hash"] = content_hash  # the cached_property's slot
    return release
