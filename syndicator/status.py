"""Where each release stands: held (and why), due, published, or waiting for an operator.

Computed from the ledger with the same gate the engine uses, so `releases list` and
`status` never disagree with what `run` would do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import Config
from .ledger import DeliveryFacts, Ledger, ReleaseFacts, StoredRelease
from .models import NEEDS_OPERATOR, Delivery, DeliveryState

#: Release states, as `releases list --state` accepts them.
STATES = ("held", "due", "retrying", "attention", "published", "retracted", "unrouted")


@dataclass(frozen=True)
class ReleaseStatus:
    stored: StoredRelease | ReleaseFacts  # the whole release, or only what its row says
    state: str  # one of STATES
    reason: str  # why held, or what needs attention
    routed: tuple[str, ...]  # enabled channels that take this release
    deliveries: Mapping[str, Delivery | DeliveryFacts]  # Delivery when whole

    @property
    def key(self) -> str:
        return self.stored.key

    def to_dict(self) -> dict[str, Any]:
        deliveries = {n: d for n, d in self.deliveries.items() if isinstance(d, Delivery)}
        if not isinstance(self.stored, StoredRelease) or len(deliveries) < len(self.deliveries):
            raise TypeError("to_dict needs the whole release: release_statuses(..., whole=True)")
        r = self.stored.release
        return {
            "key": r.key,
            "title": r.title,
            "source": r.source,
            "agency": r.agency,
            "published": r.published.isoformat() if r.published else None,
            "state": self.state,
            "reason": self.reason,
            "content_hash": r.content_hash,
            "approved_by": self.stored.pinned.approved_by if self.stored.pinned else None,
            "approved_hash": self.stored.approved_hash,
            "deliveries": {
                name: {
                    "state": str(d.state),
                    "attempts": d.attempts,
                    "url": d.receipt.url if d.receipt else "",
                    "error": d.last_error,
                    "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
                }
                for name, d in deliveries.items()
            },
        }


def release_status(
    stored: StoredRelease | ReleaseFacts,
    deliveries: Sequence[Delivery | DeliveryFacts],
    config: Config,
    now: datetime,
    first_seen: dict[str, datetime] | None = None,
    quota_waits: Mapping[str, str] | None = None,
) -> ReleaseStatus:
    by_channel = {d.channel: d for d in deliveries}
    seen = first_seen or {}

    def takes(name: str) -> bool:
        cfg = config.channels[name]
        if not cfg.enabled or not cfg.routes(stored.source, stored.tags):
            return False
        # A channel added after this release was due does not backfill it (unless configured);
        # one no run has seen yet will be first seen by the next run, after ``now``.
        added = seen.get(name, now if first_seen is not None else None)
        return (
            cfg.backfill
            or name in by_channel
            or not (stored.due_since and added and stored.due_since < added)
        )

    routed = tuple(n for n in config.channels if takes(n))
    if stored.retracted_at is not None:
        return ReleaseStatus(stored, "retracted", stored.retracted_reason or "", routed, by_channel)
    verdict = stored.verdict(now, config.timezone)
    if not verdict.due:
        return ReleaseStatus(stored, "held", verdict.reason, routed, by_channel)
    states = [by_channel[n].state for n in routed if n in by_channel]
    attention = [f"{d.channel}: {d.state}" for d in by_channel.values() if d.state in NEEDS_OPERATOR]
    if attention:
        return ReleaseStatus(stored, "attention", "; ".join(attention), routed, by_channel)
    if DeliveryState.FAILED in states:
        failed = [
            f"{d.channel}: {d.last_error}" for d in by_channel.values() if d.state is DeliveryState.FAILED
        ]
        return ReleaseStatus(stored, "retrying", "; ".join(failed), routed, by_channel)
    if not routed:
        return ReleaseStatus(stored, "unrouted", "no enabled channel takes it", routed, by_channel)
    if len(states) == len(routed) and all(s is DeliveryState.SENT for s in states):
        return ReleaseStatus(stored, "published", "", routed, by_channel)
    waiting = [n for n in routed if n not in by_channel or by_channel[n].state is not DeliveryState.SENT]
    quota = quota_waits or {}
    names = [f"{n} ({quota[n]})" if n in quota else n for n in waiting]
    return ReleaseStatus(stored, "due", "next run: " + ", ".join(names), routed, by_channel)


def release_statuses(
    ledger: Ledger,
    config: Config,
    now: datetime,
    *,
    source: str | None = None,
    whole: bool = False,
    waits: Mapping[str, str] | None = None,
) -> list[ReleaseStatus]:
    """Where every release stands, newest first. Each status carries what the rows say
    (:class:`ReleaseFacts`, :class:`DeliveryFacts`), or with ``whole`` (for ``to_dict``) the
    unpacked release and every delivery with its receipt and times, which costs an archive
    of ten thousand releases a second or more. ``waits``: :func:`quota_waits` at ``now``,
    when the caller has it already."""
    deliveries: dict[str, list[Delivery | DeliveryFacts]] = {}
    for d in ledger.deliveries() if whole else ledger.delivery_facts():
        deliveries.setdefault(d.release_key, []).append(d)
    first_seen = ledger.channels_first_seen()
    if waits is None:
        waits = quota_waits(ledger, config, now)
    releases: list[StoredRelease] | list[ReleaseFacts] = (
        ledger.releases(source=source, text=False) if whole else ledger.release_facts(source=source)
    )
    return [
        release_status(stored, deliveries.get(stored.key, []), config, now, first_seen, waits)
        for stored in releases
    ]


def quota_waits(ledger: Ledger, config: Config, now: datetime) -> dict[str, str]:
    """Channels whose daily quota is used up, with when the next call may go."""
    out: dict[str, str] = {}
    for name, cfg in config.channels.items():
        slot = ledger.quota_next_slot(name, cfg.daily_quota, now) if cfg.daily_quota else None
        if slot is not None:
            nxt = slot.astimezone(config.timezone)
            out[name] = f"daily quota of {cfg.daily_quota} used; next slot {nxt:%Y-%m-%d %H:%M}"
    return out
