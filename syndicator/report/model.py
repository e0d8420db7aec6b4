"""The report's data model: the month, its counts and timings, the groups, copies and entries."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

FORMATS = ("html", "csv", "json")
LANGUAGES = ("id", "en")

#: Delivery states that mean a call went wrong (the delivery is retried, dead or undecided).
FAILURE_STATES = frozenset({"failed", "dead", "unknown"})
#: Hold reasons, as ``run`` counts them: a reason's kind is the first one it starts with.
HOLD_KINDS = ("not approved", "changed since approval", "embargoed", "approval hook failed")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def hold_kind(reason: str) -> str:
    """The kind of a hold reason ("not approved (status: review)" -> "not approved")."""
    return next((k for k in HOLD_KINDS if reason.startswith(k)), reason.split(":", 1)[0].strip())


# -- the month ----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str, today: date) -> Month:
        """``YYYY-MM``, ``this`` (the month of ``today``) or ``last`` (the one before)."""
        value = text.strip().lower()
        if value == "this":
            return cls(today.year, today.month)
        if value == "last":
            return cls(today.year - 1, 12) if today.month == 1 else cls(today.year, today.month - 1)
        m = _MONTH.match(value)
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
            raise ValueError(f'expected a month like "2026-11" (or "last", "this"), got {text!r}')
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """Midnight on the first day and on the first day of the next month, in ``zone``."""
        nxt = self.next()
        return datetime(self.year, self.month, 1, tzinfo=zone), datetime(nxt.year, nxt.month, 1, tzinfo=zone)

    def days(self) -> list[date]:
        first, nxt = date(self.year, self.month, 1), self.next()
        return [first + timedelta(days=i) for i in range((date(nxt.year, nxt.month, 1) - first).days)]


# -- the report's values -----------------------------------------------------------------------


@dataclass
class Counts:
    received: int = 0
    approved: int = 0
    published: int = 0
    held: dict[str, int] = field(default_factory=dict)  # reason kind -> releases
    failed: int = 0
    retracted: int = 0

    @property
    def held_total(self) -> int:
        return sum(self.held.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "approved": self.approved,
            "published": self.published,
            "held": self.held_total,
            "held_by_reason": dict(sorted(self.held.items())),
            "failed": self.failed,
            "retracted": self.retracted,
        }


@dataclass(frozen=True)
class Timing:
    """Approval to publication, over the month's publications whose approval time is known."""

    count: int = 0
    median_seconds: int | None = None  # whole seconds
    longest_seconds: int | None = None
    longest_release: str | None = None

    @classmethod
    def of(cls, samples: Iterable[tuple[float, str]]) -> Timing:
        values = sorted(samples, key=lambda s: (-s[0], s[1]))  # longest first; ties by key
        if not values:
            return cls()
        median = statistics.median(v for v, _ in values)
        return cls(len(values), round(median), round(values[0][0]), values[0][1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "median_seconds": self.median_seconds,
            "longest_seconds": self.longest_seconds,
            "longest_release": self.longest_release,
        }


@dataclass
class Group:
    """One row of the per-agency or per-channel tables."""

    name: str
    counts: Counts = field(default_factory=Counts)
    type: str = ""  # a channel's type ("" for agencies and for channels no longer configured)
    timing: Timing = field(default_factory=Timing)


@dataclass(frozen=True)
class Copy:
    """A release on one channel, as it stood at the end of the month."""

    channel: str
    state: str  # the delivery's state then ("" when no delivery was planned yet)
    published_at: datetime | None
    url: str
    remote_id: str
    seconds_from_approval: int | None  # whole seconds
    error: str = ""


@dataclass(frozen=True)
class Entry:
    """One release in the month's list."""

    key: str
    title: str
    agency: str
    source: str
    date: datetime | None  # the release's own date
    received_at: datetime
    approved_at: datetime | None
    approved_by: str
    state: str  # published, held, failed, pending, unrouted, retracted
    reason: str
    retracted_at: datetime | None
    copies: tuple[Copy, ...]


@dataclass(frozen=True)
class Day:
    date: date
    received: int
    published: int


@dataclass(frozen=True)
class MonthlyReport:
    month: Month
    timezone: str
    start: datetime
    end: datetime
    as_of: datetime
    generated_at: datetime
    totals: Counts
    timing: Timing
    agencies: list[Group]
    channels: list[Group]
    days: list[Day]
    releases: list[Entry]

    def local(self, value: datetime | None) -> datetime | None:
        return value.astimezone(self.start.tzinfo) if value else None

    def iso(self, value: datetime | None) -> str | None:
        local = self.local(value)
        return local.isoformat(timespec="seconds") if local else None

    def to_dict(self) -> dict[str, Any]:
        iso = self.iso
        return {
            "month": str(self.month),
            "timezone": self.timezone,
            "start": iso(self.start),
            "end": iso(self.end),
            "as_of": iso(self.as_of),
            "generated_at": iso(self.generated_at),
            "totals": {**self.totals.to_dict(), "approval_to_publication": self.timing.to_dict()},
            "agencies": [{"name": g.name, **g.counts.to_dict()} for g in self.agencies],
            "channels": [
                {
                    "name": g.name,
                    "type": g.type,
                    **g.counts.to_dict(),
                    "approval_to_publication": g.timing.to_dict(),
                }
                for g in self.channels
            ],
            "days": [
                {"date": d.date.isoformat(), "received": d.received, "published": d.published}
                for d in self.days
            ],
            "releases": [
                {
                    "key": e.key,
                    "title": e.title,
                    "agency": e.agency,
                    "source": e.source,
                    "date": iso(e.date),
                    "received_at": iso(e.received_at),
                    "approved_at": iso(e.approved_at),
                    "approved_by": e.approved_by,
                    "state": e.state,
                    "reason": e.reason,
                    "retracted_at": iso(e.retracted_at),
                    "copies": [
                        {
                            "channel": c.channel,
                            "state": c.state,
                            "published_at": iso(c.published_at),
                            "url": c.url,
                            "remote_id": c.remote_id,
                            "seconds_from_approval": c.seconds_from_approval,
                            "error": c.error,
                        }
                        for c in e.copies
                    ],
                }
                for e in self.releases
            ],
        }
