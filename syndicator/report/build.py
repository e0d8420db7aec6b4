"""Building the report from the ledger alone: the event-log trails and ``build_report``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from .model import FAILURE_STATES, Copy, Counts, Day, Entry, Group, Month, MonthlyReport, Timing, hold_kind

if TYPE_CHECKING:
    from ..config import Config
    from ..ledger import Event, Ledger, StoredRelease
    from ..models import Delivery


# -- reading the ledger ------------------------------------------------------------------------


@dataclass
class _Trail:
    """What the event log says about one release, up to the end of the report."""

    approvals: list[datetime] = field(default_factory=list)  # when each approval took effect
    recorded: list[datetime] = field(default_factory=list)  # when the ledger recorded each
    approvers: list[str] = field(default_factory=list)  # who gave each
    published: dict[str, tuple[datetime, str, str]] = field(default_factory=dict)  # channel -> (at, url, id)
    state: dict[str, str] = field(default_factory=dict)  # channel -> last recorded delivery state
    error: dict[str, str] = field(default_factory=dict)  # channel -> the last failure's detail
    failed_in_month: set[str] = field(default_factory=set)  # channels with a failure in the month

    def approval_before(self, moment: datetime) -> datetime | None:
        earlier = [a for a in self.approvals if a <= moment]
        return max(earlier) if earlier else None


def _parse_time(value: str | None, zone: tzinfo) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _trails(
    events: Iterable[Event], stored: dict[str, StoredRelease], zone: tzinfo, start: datetime, end: datetime
) -> dict[str, _Trail]:
    trails: dict[str, _Trail] = {}
    approved_events: dict[str, list[Event]] = {}
    for e in events:  # each release's oldest first (releases are independent of each other)
        if not e.release_key or e.release_key not in stored:
            continue
        trail = trails.setdefault(e.release_key, _Trail())
        if e.event == "approved":
            approved_events.setdefault(e.release_key, []).append(e)
            continue
        if not e.channel or not e.state:
            continue
        trail.state[e.channel] = e.state
        if e.state == "sent" and e.channel not in trail.published:
            trail.published[e.channel] = (e.at, e.url or "", e.remote_id or "")
        if e.state in FAILURE_STATES:
            trail.error[e.channel] = e.detail
            if start <= e.at < end:
                trail.failed_in_month.add(e.channel)
    for key, found in approved_events.items():
        s = stored[key]
        pinned_at = _parse_time(s.pinned.approved_at if s.pinned else None, zone)
        last = len(found) - 1
        for i, e in enumerate(found):
            at = e.at
            # The approval in force gives its own time (e.g. the front matter's approved_at);
            # it cannot take effect later than the ledger recorded it.
            if i == last and pinned_at is not None and e.content_hash == s.approved_hash:
                at = min(at, pinned_at)
            trails[key].approvals.append(at)
            trails[key].recorded.append(e.at)
            trails[key].approvers.append(e.actor)
    return trails


def build_report(
    ledger: Ledger, config: Config, month: Month, now: datetime, *, generated_at: datetime | None = None
) -> MonthlyReport:
    """The report for ``month`` as the ledger stands, counted in the config's time zone.

    ``now`` bounds what is read: the current month is reported up to ``now``, a past month up
    to its end. ``generated_at`` (default ``now``) is only printed.
    """
    from ..status import release_status

    zone = config.timezone
    start, end = month.bounds(zone)
    if start > now:
        raise ValueError(f"{month} has not begun yet")
    as_of = min(now, end)
    through = as_of + timedelta(microseconds=1)  # what the ledger holds up to as_of, inclusive
    # Only a release first seen, or with an event, in the month can be counted in it: the
    # others are never read, so a month of an archive of years costs about what the month holds.
    touched = ledger.releases_touched(start, min(end, through))
    stored = {s.key: s for s in ledger.releases(keys=touched, text=False) if s.first_seen < as_of}
    trails = _trails(ledger.release_events(stored, until=through), stored, zone, start, end)
    deliveries: dict[str, list[Delivery]] = {}
    for d in ledger.deliveries(release_keys=stored):
        deliveries.setdefault(d.release_key, []).append(d)
    channel_seen = ledger.channels_first_seen()

    def in_month(moment: datetime | None) -> bool:
        return moment is not None and start <= moment < end

    totals = Counts()
    agencies: dict[str, Group] = {}
    channels: dict[str, Group] = {name: Group(name, type=cfg.type) for name, cfg in config.channels.items()}
    samples: dict[str, list[tuple[float, str]]] = {}
    per_day = {d: [0, 0] for d in month.days()}
    entries: list[Entry] = []

    for key in sorted(stored):
        s = stored[key]
        r = s.release
        trail = trails.get(key, _Trail())
        mine = deliveries.get(key, [])
        retracted = s.retracted_at is not None and s.retracted_at <= as_of
        status = release_status(replace(s, retracted_at=None), mine, config, as_of, channel_seen)
        names = sorted(set(status.routed) | {d.channel for d in mine} | set(trail.state))
        first_publication = min((p[0] for p in trail.published.values()), default=None)
        published_here = any(in_month(p[0]) for p in trail.published.values())

        received = in_month(s.first_seen)
        approved = any(in_month(a) for a in trail.recorded)
        failed = {c for c in trail.failed_in_month if trail.state.get(c) in FAILURE_STATES}

        state, reason = _state(status.state, status.reason, retracted, s, trail, failed, names)
        held = state == "held" and received
        retracted_here = retracted and in_month(s.retracted_at)
        if not (received or approved or published_here or failed or retracted_here):
            continue

        agency = agencies.setdefault(r.agency, Group(r.agency))
        for counts in (totals, agency.counts):
            counts.received += received
            counts.approved += approved
            counts.published += in_month(first_publication)
            counts.failed += bool(failed)
            counts.retracted += retracted and in_month(s.retracted_at)
            if held:
                kind = hold_kind(reason)
                counts.held[kind] = counts.held.get(kind, 0) + 1
        if received:
            per_day[s.first_seen.astimezone(zone).date()][0] += 1
        if first_publication is not None and in_month(first_publication):
            per_day[first_publication.astimezone(zone).date()][1] += 1

        by_channel = {d.channel: d for d in mine}
        copies = []
        for name in names:
            group = channels.setdefault(name, Group(name))
            c = group.counts
            publication = trail.published.get(name)
            c.received += received
            c.approved += approved
            c.failed += name in failed
            if held and name in status.routed:
                kind = hold_kind(reason)
                c.held[kind] = c.held.get(kind, 0) + 1
            seconds = None
            if publication is not None:
                c.published += in_month(publication[0])
                c.retracted += retracted and in_month(s.retracted_at)
                approval = trail.approval_before(publication[0])
                if approval is not None:
                    seconds = round((publication[0] - approval).total_seconds())
                    if in_month(publication[0]):
                        samples.setdefault(name, []).append((seconds, key))
            delivery = by_channel.get(name)
            receipt_url = delivery.receipt.url if delivery and delivery.receipt else ""
            copies.append(
                Copy(
                    channel=name,
                    state=trail.state.get(name, ""),
                    published_at=publication[0] if publication else None,
                    url=(receipt_url or publication[1]) if publication else "",
                    remote_id=publication[2] if publication else "",
                    seconds_from_approval=seconds,
                    error=trail.error.get(name, "") if name in failed else "",
                )
            )
        entries.append(
            Entry(
                key=key,
                title=r.title,
                agency=r.agency,
                source=r.source,
                date=r.published,
                received_at=s.first_seen,
                approved_at=trail.approvals[-1] if trail.approvals else None,  # the latest given
                approved_by=trail.approvers[-1] if trail.approvers else "",
                state=state,
                reason=reason,
                retracted_at=s.retracted_at if retracted else None,
                copies=tuple(copies),
            )
        )

    for name, group in channels.items():
        group.timing = Timing.of(samples.get(name, []))
    entries.sort(key=lambda e: (e.date or e.received_at, e.key))
    return MonthlyReport(
        month=month,
        timezone=str(zone),
        start=start,
        end=end,
        as_of=as_of,
        generated_at=generated_at or now,
        totals=totals,
        timing=Timing.of(s for group in samples.values() for s in group),
        agencies=sorted(agencies.values(), key=lambda g: (g.name == "", g.name.casefold(), g.name)),
        channels=sorted(channels.values(), key=lambda g: g.name),
        days=[Day(d, n[0], n[1]) for d, n in per_day.items()],
        releases=entries,
    )


def _state(
    status: str,
    why: str,
    retracted: bool,
    stored: StoredRelease,
    trail: _Trail,
    failed: set[str],
    names: list[str],
) -> tuple[str, str]:
    """Where a release stood at the end of the report, and why (for held ones)."""
    if retracted:
        return "retracted", stored.retracted_reason or ""
    if any(trail.state.get(n) == "sent" for n in names):
        return "published", ""
    if not trail.approvals:  # approved only after the report's end, or never
        return "held", why if status == "held" else (stored.hold_reason or "not approved")
    if status == "held":
        return "held", why
    if failed or any(trail.state.get(n) in FAILURE_STATES for n in names):
        return "failed", ""
    if status == "unrouted":
        return "unrouted", why
    return "pending", ""
