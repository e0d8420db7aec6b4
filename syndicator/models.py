"""The values that flow through a run. Frozen, so no stage can alter what another approved."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any


class DeliveryState(enum.StrEnum):
    """States of one release on one channel (see DESIGN.md, the ledger's state machine)."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    UNKNOWN = "unknown"
    ABANDONED = "abandoned"
    RETRACTED = "retracted"


class Action(enum.StrEnum):
    """What a delivery does on the platform when it is due."""

    PUBLISH = "publish"
    UPDATE = "update"  # edit the earlier post in place (corrections on channels that can edit)
    CORRECT = "correct"  # post a correction that links the original
    RETRACT = "retract"  # delete the post, or post a retraction notice


#: States that need an operator's attention; a run that leaves any exits with code 1.
NEEDS_OPERATOR = frozenset({DeliveryState.DEAD, DeliveryState.UNKNOWN})


@dataclass(frozen=True)
class Media:
    """An image or an attachment. ``location`` is a local path or an http(s) URL."""

    location: str
    kind: str = "image"  # "image" | "file"
    alt: str = ""
    title: str = ""
    mime_type: str = ""
    size: int | None = None
    digest: str = ""  # sha256 of a local file's bytes, so a changed file changes the release

    @property
    def is_remote(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "alt": self.alt,
            "title": self.title,
            "mime_type": self.mime_type,
            "size": self.size,
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Media:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Approval:
    """Who approved a release, when, and which content (by hash) they approved.

    ``content_hash`` None means "the content as it is when the engine first sees this
    approval": the gate then pins the current hash.
    """

    approved_by: str
    approved_at: datetime | None = None
    content_hash: str | None = None
    origin: str = "source"  # "source" | "policy" | "cli"

    @property
    def identity(self) -> str:
        """What makes two approvals the same act, whatever content they pinned."""
        at = self.approved_at.isoformat() if self.approved_at else ""
        return f"{self.origin}|{self.approved_by}|{at}|{self.content_hash or ''}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Release:
    """One press release, normalised from whatever source it came from."""

    source: str
    id: str
    title: str
    summary: str = ""
    body_html: str = ""
    body_text: str = ""
    url: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    agency: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    language: str = ""
    images: tuple[Media, ...] = ()
    attachments: tuple[Media, ...] = ()
    priority: str = "normal"  # "normal" | "urgent"
    publish_at: datetime | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    status: str = ""  # what the source says: "approved", "draft", ...
    approval: Approval | None = None  # what the source says about approval
    origin: str = ""  # file path or feed URL, for messages

    @property
    def key(self) -> str:
        """Globally unique: ids are only unique within their source."""
        return f"{self.source}/{self.id}"

    def canonical_fields(self) -> dict[str, Any]:
        """The fields an approver approves: any change to these needs a new approval."""
        return {
            "title": self.title,
            "summary": self.summary,
            "body_html": self.body_html,
            "url": self.url,
            "published": _iso(self.published),
            "agency": self.agency,
            "author": self.author,
            "tags": list(self.tags),
            "language": self.language,
            "images": [m.to_dict() for m in self.images],
            "attachments": [m.to_dict() for m in self.attachments],
            "priority": self.priority,
            "publish_at": _iso(self.publish_at),
            "overrides": self.overrides,
        }

    @cached_property
    def content_hash(self) -> str:
        # Cached: computed once per release object (frozen, so it cannot go stale).
        canonical = json.dumps(
            self.canonical_fields(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = self.canonical_fields()
        data.update(
            source=self.source,
            id=self.id,
            body_text=self.body_text,
            updated=_iso(self.updated),
            status=self.status,
            origin=self.origin,
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        return cls(
            source=data["source"],
            id=data["id"],
            title=data["title"],
            summary=data.get("summary", ""),
            body_html=data.get("body_html", ""),
            body_text=data.get("body_text", ""),
            url=data.get("url", ""),
            published=_from_iso(data.get("published")),
            updated=_from_iso(data.get("updated")),
            agency=data.get("agency", ""),
            author=data.get("author", ""),
            tags=tuple(data.get("tags", ())),
            language=data.get("language", ""),
            images=tuple(Media.from_dict(m) for m in data.get("images", ())),
            attachments=tuple(Media.from_dict(m) for m in data.get("attachments", ())),
            priority=data.get("priority", "normal"),
            publish_at=_from_iso(data.get("publish_at")),
            overrides=data.get("overrides") or {},
            status=data.get("status", ""),
            origin=data.get("origin", ""),
        )

    def with_changes(self, **changes: Any) -> Release:
        return replace(self, **changes)


@dataclass(frozen=True)
class Post:
    """What a channel will send for one release: the output of the pure ``render``.

    ``parts`` holds a thread (each part within the channel's limit); ``text`` is the whole.
    ``extra`` carries channel-specific payload (a web page, a JSON body).
    """

    channel: str
    release_key: str
    text: str
    title: str = ""
    link: str = ""
    parts: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def payload_hash(self) -> str:
        blob = json.dumps(
            {"text": self.text, "parts": list(self.parts), "extra": self.extra},
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """Proof of publication: the platform's id(s) and URL(s) for what was posted."""

    remote_id: str = ""
    url: str = ""
    ids: tuple[str, ...] = ()  # every id when one release became several posts (a thread)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote_id": self.remote_id,
            "url": self.url,
            "ids": list(self.ids),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        return cls(
            remote_id=data.get("remote_id", ""),
            url=data.get("url", ""),
            ids=tuple(data.get("ids", ())),
            extra=data.get("extra") or {},
        )


@dataclass(frozen=True)
class Delivery:
    """One release on one channel, as the ledger knows it."""

    release_key: str
    channel: str
    state: DeliveryState
    content_hash: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    receipt: Receipt | None = None
    last_error: str = ""
    updated_at: datetime | None = None
    action: Action = Action.PUBLISH
