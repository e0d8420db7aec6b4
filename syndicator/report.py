"""The monthly report: what came in, what went out where and how fast, what was held and why.

One calendar month, counted in the config's time zone, read from the ledger alone (releases,
deliveries and the append-only event log), so the same ledger always gives the same report.
Rendered as JSON (the full structure), CSV (one row per release and channel) or one
self-contained HTML file: inline CSS, charts as inline SVG, no scripts and nothing fetched,
printable on A4, in Indonesian (default) or English.

What each number means (the HTML report prints the same definitions):

received
    releases the ledger first saw during the month;
approved
    releases whose approval the ledger recorded during the month (so each approval counts in
    one month only, and a past month's report never changes);
published
    releases first published during the month (per channel: the first ``sent`` event of the
    release on that channel);
held
    releases received during the month that were still held at the end of it (or now, for
    the current month), by reason: the same gate ``run`` and ``releases list`` use;
failed
    deliveries that failed during the month and had not gone out by its end;
retracted
    releases withdrawn during the month.

The time from approval to publication runs from the latest approval before the publication,
at the time the approval gives (the front matter's ``approved_at``), else when it was recorded.
The ledger keeps the given time of a release's current approval only: once a release is
approved again, its earlier approvals count from when they were recorded.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .ledger import Event, Ledger, StoredRelease
    from .models import Delivery

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "Counts",
    "Month",
    "MonthlyReport",
    "build_report",
    "render",
    "render_csv",
    "render_html",
    "render_json",
]

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
    for e in events:  # oldest first
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
    from .status import release_status

    zone = config.timezone
    start, end = month.bounds(zone)
    if start > now:
        raise ValueError(f"{month} has not begun yet")
    as_of = min(now, end)
    stored = {s.key: s for s in ledger.releases() if s.first_seen < as_of}
    trails = _trails(
        ledger.events(limit=None, until=as_of + timedelta(microseconds=1)), stored, zone, start, end
    )
    deliveries: dict[str, list[Delivery]] = {}
    for d in ledger.deliveries():
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


# -- JSON and CSV ------------------------------------------------------------------------------


def render_json(report: MonthlyReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


CSV_FIELDS = (
    "month",
    "release",
    "title",
    "agency",
    "source",
    "date",
    "received_at",
    "approved_at",
    "approved_by",
    "release_state",
    "reason",
    "retracted_at",
    "channel",
    "channel_type",
    "delivery_state",
    "published_at",
    "seconds_from_approval",
    "url",
    "remote_id",
)


def render_csv(report: MonthlyReport) -> str:
    """One row per release and channel (a release no channel takes gets one row without one)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    types = {g.name: g.type for g in report.channels}
    iso = report.iso
    for e in report.releases:
        base = {
            "month": str(report.month),
            "release": e.key,
            "title": e.title,
            "agency": e.agency,
            "source": e.source,
            "date": iso(e.date) or "",
            "received_at": iso(e.received_at) or "",
            "approved_at": iso(e.approved_at) or "",
            "approved_by": e.approved_by,
            "release_state": e.state,
            "reason": e.reason,
            "retracted_at": iso(e.retracted_at) or "",
        }
        for c in e.copies or (None,):
            row: dict[str, Any] = dict.fromkeys(CSV_FIELDS, "") | base
            if c is not None:
                row.update(
                    channel=c.channel,
                    channel_type=types.get(c.channel, ""),
                    delivery_state=c.state,
                    published_at=iso(c.published_at) or "",
                    seconds_from_approval=""
                    if c.seconds_from_approval is None
                    else round(c.seconds_from_approval),
                    url=c.url,
                    remote_id=c.remote_id,
                )
            writer.writerow(row)
    return out.getvalue()


# -- HTML --------------------------------------------------------------------------------------

_MONTHS = {
    "id": (
        [
            "Januari",
            "Februari",
            "Maret",
            "April",
            "Mei",
            "Juni",
            "Juli",
            "Agustus",
            "September",
            "Oktober",
            "November",
            "Desember",
        ]
    ),
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

_TEXT: dict[str, dict[str, str]] = {
    "id": {
        "title": "Laporan Bulanan Publikasi Siaran Pers",
        "period": "Periode",
        "zone": "zona waktu",
        "as_of": "Data per",
        "generated": "Dibuat",
        "summary": "Ringkasan",
        "charts": "Grafik",
        "by_agency": "Rekap per Instansi",
        "by_channel": "Rekap per Kanal",
        "held_title": "Siaran Pers yang Tertahan",
        "list": "Daftar Siaran Pers",
        "notes": "Keterangan",
        "received": "Diterima",
        "approved": "Disetujui",
        "published": "Diterbitkan",
        "held": "Tertahan",
        "failed": "Gagal",
        "retracted": "Ditarik",
        "median": "Median persetujuan–terbit",
        "longest": "Terlama",
        "agency": "Instansi",
        "channel": "Kanal",
        "type": "Jenis",
        "reason": "Alasan",
        "count": "Jumlah",
        "no": "No.",
        "release": "Siaran pers",
        "date": "Tanggal",
        "status": "Status",
        "copies": "Salinan terbit",
        "by": "oleh",
        "none": "Tidak ada.",
        "no_releases": "Tidak ada siaran pers pada bulan ini.",
        "no_data": "Tidak ada data",
        "no_agency": "(tanpa instansi)",
        "total": "Jumlah",
        "figure": "Gambar",
        "table": "Tabel",
        "fig_days": "Jumlah siaran pers yang diterima dan diterbitkan per hari",
        "fig_channels": "Jumlah siaran pers yang diterbitkan dan pengiriman yang gagal per kanal",
        "fig_agencies": "Jumlah siaran pers yang diterima dan diterbitkan per instansi",
        "tab_agencies": "Rekap siaran pers per instansi",
        "tab_channels": "Rekap pengiriman dan waktu dari persetujuan sampai terbit per kanal",
        "tab_held": "Siaran pers yang diterima bulan ini dan masih tertahan, menurut alasan",
        "tab_list": "Daftar siaran pers beserta tautan ke setiap salinan yang terbit",
        "timing_all": "Waktu dari persetujuan sampai terbit (semua kanal)",
        "samples": "publikasi",
        "day": "Tanggal",
        "footer": "Laporan ini dibuat oleh syndicator dari buku besar (ledger) pengiriman. "
        "Angka dihitung menurut zona waktu {zone}.",
        "def_received": "siaran pers yang pertama kali tercatat pada bulan ini.",
        "def_approved": "siaran pers yang persetujuannya tercatat pada bulan ini.",
        "def_published": "siaran pers yang pertama kali terbit pada bulan ini; per kanal: terbit "
        "pertama kali di kanal tersebut.",
        "def_held": "siaran pers yang diterima bulan ini dan pada akhir bulan (atau saat laporan "
        "dibuat) belum boleh terbit, menurut alasannya.",
        "def_failed": "pengiriman yang gagal pada bulan ini dan sampai akhir bulan belum berhasil.",
        "def_retracted": "siaran pers yang ditarik pada bulan ini.",
        "def_timing": "Waktu persetujuan–terbit dihitung dari persetujuan terakhir sebelum terbit "
        "(menurut waktu persetujuan yang tertulis pada siaran pers, atau saat persetujuan dicatat) "
        "sampai salinan terbit di kanal.",
    },
    "en": {
        "title": "Monthly Press Release Publication Report",
        "period": "Period",
        "zone": "time zone",
        "as_of": "Data as of",
        "generated": "Generated",
        "summary": "Summary",
        "charts": "Charts",
        "by_agency": "By Agency",
        "by_channel": "By Channel",
        "held_title": "Held Releases",
        "list": "List of Releases",
        "notes": "Definitions",
        "received": "Received",
        "approved": "Approved",
        "published": "Published",
        "held": "Held",
        "failed": "Failed",
        "retracted": "Retracted",
        "median": "Median approval to publication",
        "longest": "Longest",
        "agency": "Agency",
        "channel": "Channel",
        "type": "Type",
        "reason": "Reason",
        "count": "Count",
        "no": "No.",
        "release": "Release",
        "date": "Date",
        "status": "Status",
        "copies": "Published copies",
        "by": "by",
        "none": "None.",
        "no_releases": "No releases this month.",
        "no_data": "No data",
        "no_agency": "(no agency)",
        "total": "Total",
        "figure": "Figure",
        "table": "Table",
        "fig_days": "Releases received and published per day",
        "fig_channels": "Releases published and failed deliveries per channel",
        "fig_agencies": "Releases received and published per agency",
        "tab_agencies": "Releases per agency",
        "tab_channels": "Deliveries and time from approval to publication per channel",
        "tab_held": "Releases received this month and still held, by reason",
        "tab_list": "Releases with links to every published copy",
        "timing_all": "Time from approval to publication (all channels)",
        "samples": "publications",
        "day": "Day",
        "footer": "This report was made by syndicator from its delivery ledger. "
        "Counted in the {zone} time zone.",
        "def_received": "releases first recorded during the month.",
        "def_approved": "releases whose approval was recorded during the month.",
        "def_published": "releases first published during the month; per channel: first published "
        "on that channel.",
        "def_held": "releases received during the month that, at its end (or when the report was "
        "made), could not go out yet, by reason.",
        "def_failed": "deliveries that failed during the month and had not succeeded by its end.",
        "def_retracted": "releases withdrawn during the month.",
        "def_timing": "Approval to publication runs from the latest approval before publication "
        "(at the approval time the release gives, else when it was recorded) to the copy's "
        "publication on the channel.",
    },
}

_REASONS = {
    "id": {
        "not approved": "belum disetujui",
        "changed since approval": "diubah setelah disetujui",
        "embargoed": "masih diembargo",
        "approval hook failed": "pemeriksaan persetujuan gagal",
    },
    "en": {},
}

_STATES = {
    "id": {
        "published": "terbit",
        "held": "tertahan",
        "failed": "gagal",
        "pending": "menunggu",
        "unrouted": "tanpa kanal",
        "retracted": "ditarik",
        "sent": "terbit",
        "dead": "gagal",
        "unknown": "tidak pasti",
        "in_flight": "sedang dikirim",
        "abandoned": "dibatalkan",
        "": "belum dijadwalkan",
    },
    "en": {
        "failed": "retrying",
        "sent": "published",
        "in_flight": "in flight",
        "": "not planned",
        "dead": "failed",
    },
}

#: Colours for the charts: distinct in hue and in lightness (they survive grey printing).
LIGHT, DARK, RED = "#8fb4d9", "#1f4e79", "#b3261e"

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans", "DejaVu Sans", Arial, Helvetica, sans-serif; color: #111;
  background: #fff; margin: 0 auto; max-width: 60rem; padding: 1.5rem; line-height: 1.45;
  font-size: 15px; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid #1f4e79; }
p.meta { margin: .15rem 0; color: #333; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .9rem; }
caption { text-align: left; font-weight: bold; padding: .3rem 0; }
th, td { border: 1px solid #9aa5b1; padding: .3rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #e8eef4; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.n { white-space: nowrap; }
td.d { text-align: right; }
table.wide { font-size: .82rem; }
tfoot td, tfoot th { font-weight: bold; background: #f4f6f8; }
.cards { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: .6rem;
  margin: 0; padding: 0; }
@media (max-width: 40rem) { .cards { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
.cards div { border: 1px solid #9aa5b1; border-radius: 4px; padding: .5rem .7rem; }
.cards dt { font-size: .85rem; color: #333; }
.cards dd { margin: 0; font-size: 1.6rem; font-weight: bold; }
figure { margin: 1rem 0 1.5rem; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: .9rem; margin-top: .3rem; }
.key { font-family: "DejaVu Sans Mono", monospace; font-size: .8rem; color: #333; }
.copy { display: block; overflow-wrap: anywhere; }
.small { font-size: .85rem; color: #333; }
a { color: #0b4f8a; }
footer { margin-top: 2rem; font-size: .85rem; color: #333; border-top: 1px solid #9aa5b1;
  padding-top: .5rem; }
@page { size: A4; margin: 15mm 12mm 16mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  tr, .cards div, table.keep { break-inside: avoid; page-break-inside: avoid; }
  caption { break-after: avoid; page-break-after: avoid; }
  a { color: #000; }
}
"""


def render(report: MonthlyReport, fmt: str, lang: str = "id") -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report, lang)
    raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


class _Words:
    """Dates, numbers, durations and labels in one language."""

    def __init__(self, lang: str, report: MonthlyReport) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown report language {lang!r} (one of {', '.join(LANGUAGES)})")
        self.lang = lang
        self.text = _TEXT[lang]
        self.report = report

    def __getitem__(self, key: str) -> str:
        return self.text[key]

    def number(self, n: int) -> str:
        s = f"{n:,}"
        return s.replace(",", ".") if self.lang == "id" else s

    def month(self, m: Month) -> str:
        return f"{_MONTHS[self.lang][m.month - 1]} {m.year}"

    def day(self, d: date) -> str:
        return f"{d.day} {_MONTHS[self.lang][d.month - 1][:3]}"

    def moment(self, value: datetime | None, *, year: bool = True) -> str:
        local = self.report.local(value)
        if local is None:
            return "–"
        clock = f"{local:%H.%M}" if self.lang == "id" else f"{local:%H:%M}"
        name = _MONTHS[self.lang][local.month - 1][:3]
        return f"{local.day} {name}{f' {local.year}' if year else ''} {clock} {local.tzname() or ''}".rstrip()

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "–"
        units = (
            (("hari", 86400), ("jam", 3600), ("menit", 60))
            if self.lang == "id"
            else (("d", 86400), ("h", 3600), ("min", 60))
        )
        if seconds < 60:
            return "< 1 " + units[2][0]
        left, parts = int(seconds), []
        for name, size in units:
            if left >= size:
                parts.append(f"{left // size} {name}")
                left %= size
        return " ".join(parts[:2])

    def reason(self, kind: str) -> str:
        return _REASONS[self.lang].get(kind, kind)

    def state(self, state: str) -> str:
        return _STATES[self.lang].get(state, state)

    def agency(self, name: str) -> str:
        return name or self.text["no_agency"]


@dataclass(frozen=True)
class _Series:
    label: str
    colour: str
    values: Sequence[int]


def _ticks(top: int) -> tuple[int, list[int]]:
    """A round axis maximum and its ticks (at most six, integers)."""
    top = max(top, 1)
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        step = candidate
        if top / candidate <= 5:
            break
    ceiling = -(-top // step) * step
    return ceiling, list(range(0, ceiling + 1, step))


def _legend(series: Sequence[_Series], x: float, y: float) -> list[str]:
    out = []
    for s in series:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{s.colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" font-size="11">{_e(s.label)}</text>')
        x += 22 + 6.5 * len(s.label)
    return out


def _svg(ident: str, title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-labelledby="{ident}-t {ident}-d" font-family="DejaVu Sans, Arial, sans-serif" fill="#111">'
        f'<title id="{ident}-t">{_e(title)}</title><desc id="{ident}-d">{_e(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _column_chart(
    ident: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    tips: Sequence[str],
    series: Sequence[_Series],
    empty: str,
) -> str:
    """Vertical bars, one group per label (the days of a month)."""
    width, height, left, right, top, bottom = 720, 250, 40, 8, 30, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling, ticks = _ticks(max((v for s in series for v in s.values), default=0))
    body = _legend(series, left, 14)
    for t in ticks:
        y = top + plot_h - plot_h * t / ceiling
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#d5dbe1"/>')
        body.append(f'<text x="{left - 5}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{t}</text>')
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    for i, label in enumerate(labels):
        x0 = left + i * group + group * 0.1
        for j, s in enumerate(series):
            v = s.values[i]
            if v:
                h = plot_h * v / ceiling
                body.append(
                    f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                    f' fill="{s.colour}"><title>{_e(f"{tips[i]}: {v} {s.label.lower()}")}</title></rect>'
                )
        body.append(
            f'<text x="{left + (i + 0.5) * group:.1f}" y="{height - bottom + 14}" font-size="9"'
            f' text-anchor="middle">{_e(label)}</text>'
        )
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#111"/>'
    )
    if not any(v for s in series for v in s.values):
        body.append(
            f'<text x="{width / 2}" y="{top + plot_h / 2}" font-size="14" text-anchor="middle">{_e(empty)}</text>'
        )
    return _svg(ident, title, desc, width, height, body)


def _bar_chart(
    ident: str, title: str, desc: str, labels: Sequence[str], series: Sequence[_Series], empty: str
) -> str:
    """Horizontal bars, one row per label (channels, agencies), the value at each bar's end."""
    width, left, right, top = 720, 290, 40, 30
    bar, gap = 13, 10
    row = bar * max(len(series), 1) + gap
    height = top + max(len(labels), 1) * row + 24
    plot_w = width - left - right
    ceiling, ticks = _ticks(max((v for s in series for v in s.values), default=0))
    body = _legend(series, left, 14)
    bottom = top + len(labels) * row
    for t in ticks:
        x = left + plot_w * t / ceiling
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#d5dbe1"/>')
        body.append(f'<text x="{x:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">{t}</text>')
    for i, label in enumerate(labels):
        y0 = top + i * row + gap / 2
        short = label if len(label) <= 44 else label[:43] + "…"
        body.append(
            f'<text x="{left - 6}" y="{y0 + bar * len(series) / 2 + 4:.1f}" font-size="11" text-anchor="end">'
            f"<title>{_e(label)}</title>{_e(short)}</text>"
        )
        for j, s in enumerate(series):
            v = s.values[i]
            w = plot_w * v / ceiling
            y = y0 + j * bar
            body.append(
                f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2}" fill="{s.colour}">'
                f"<title>{_e(f'{label}: {v} {s.label.lower()}')}</title></rect>"
            )
            body.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 4:.1f}" font-size="10">{v}</text>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{max(bottom, top + row)}" stroke="#111"/>')
    if not labels:
        body.append(
            f'<text x="{left + plot_w / 2}" y="{top + row / 2 + 4}" font-size="14" text-anchor="middle">{_e(empty)}</text>'
        )
    return _svg(ident, title, desc, width, height, body)


def _listing(pairs: Iterable[tuple[str, Sequence[int]]], names: Sequence[str], lang: str) -> str:
    """The data of a chart as a sentence, for its description (what a screen reader reads)."""
    items = [
        f"{label}: " + ", ".join(f"{n} {name.lower()}" for name, n in zip(names, values, strict=True))
        for label, values in pairs
        if any(values)
    ]
    return "; ".join(items) + "." if items else ("Tidak ada data." if lang == "id" else "No data.")


def render_html(report: MonthlyReport, lang: str = "id") -> str:
    """The report as one self-contained, printable, accessible HTML file."""
    w = _Words(lang, report)
    month = w.month(report.month)
    last_day = report.end - timedelta(days=1)
    zone_name = report.start.tzname() or report.timezone
    metrics = ("received", "approved", "published", "held", "failed", "retracted")
    counter = {"figure": 0, "table": 0}

    def numbered(kind: str, text: str) -> str:
        counter[kind] += 1
        return f"{w[kind]} {counter[kind]}. {text}, {month}."

    def cell(n: int) -> str:
        return f'<td class="n">{w.number(n)}</td>'

    def count_cells(c: Counts) -> str:
        values = (c.received, c.approved, c.published, c.held_total, c.failed, c.retracted)
        return "".join(cell(v) for v in values)

    metric_heads = "".join(f'<th scope="col" class="n">{_e(w[m])}</th>' for m in metrics)
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{_e(w['title'])} — {_e(month)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(w['title'])}</h1>",
        f'<p class="meta"><strong>{_e(w["period"])}:</strong> {report.start.day}–{last_day.day} {_e(month)}'
        f" ({_e(w['zone'])} {_e(zone_name)}, {_e(report.timezone)})</p>",
        f'<p class="meta"><strong>{_e(w["as_of"])}:</strong> {_e(w.moment(report.as_of))} · '
        f"<strong>{_e(w['generated'])}:</strong> {_e(w.moment(report.generated_at))}</p>",
        "</header>",
        "<main>",
        f'<section aria-labelledby="s-summary"><h2 id="s-summary">{_e(w["summary"])}</h2>',
        '<dl class="cards">',
    ]
    t = report.totals
    for m, v in zip(
        metrics, (t.received, t.approved, t.published, t.held_total, t.failed, t.retracted), strict=True
    ):
        out.append(f"<div><dt>{_e(w[m])}</dt><dd>{w.number(v)}</dd></div>")
    out.append("</dl>")
    timing = report.timing
    out.append(
        f"<p>{_e(w['timing_all'])}: {_e(w['median'].split(' ')[0].lower())} {_e(w.duration(timing.median_seconds))}"
        f", {_e(w['longest'].lower())} {_e(w.duration(timing.longest_seconds))}"
        f" ({w.number(timing.count)} {_e(w['samples'])}).</p></section>"
    )

    # charts
    out.append(f'<section aria-labelledby="s-charts"><h2 id="s-charts">{_e(w["charts"])}</h2>')
    day_series = [
        _Series(w["received"], LIGHT, [d.received for d in report.days]),
        _Series(w["published"], DARK, [d.published for d in report.days]),
    ]
    caption = numbered("figure", w["fig_days"])
    desc = _listing(
        ((w.day(d.date), (d.received, d.published)) for d in report.days),
        [w["received"], w["published"]],
        lang,
    )
    chart = _column_chart(
        "chart-days",
        caption,
        desc,
        [str(d.date.day) for d in report.days],
        [w.day(d.date) for d in report.days],
        day_series,
        w["no_data"],
    )
    out.append(f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure>")
    names = [g.name for g in report.channels]
    channel_series = [
        _Series(w["published"], DARK, [g.counts.published for g in report.channels]),
        _Series(w["failed"], RED, [g.counts.failed for g in report.channels]),
    ]
    caption = numbered("figure", w["fig_channels"])
    desc = _listing(
        ((g.name, (g.counts.published, g.counts.failed)) for g in report.channels),
        [w["published"], w["failed"]],
        lang,
    )
    chart = _bar_chart("chart-channels", caption, desc, names, channel_series, w["no_data"])
    out.append(f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure>")
    agency_names = [w.agency(g.name) for g in report.agencies]
    agency_series = [
        _Series(w["received"], LIGHT, [g.counts.received for g in report.agencies]),
        _Series(w["published"], DARK, [g.counts.published for g in report.agencies]),
    ]
    caption = numbered("figure", w["fig_agencies"])
    desc = _listing(
        ((w.agency(g.name), (g.counts.received, g.counts.published)) for g in report.agencies),
        [w["received"], w["published"]],
        lang,
    )
    chart = _bar_chart("chart-agencies", caption, desc, agency_names, agency_series, w["no_data"])
    out.append(f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure></section>")

    # per agency
    out.append(f'<section aria-labelledby="s-agencies"><h2 id="s-agencies">{_e(w["by_agency"])}</h2>')
    out.append(f"<table><caption>{_e(numbered('table', w['tab_agencies']))}</caption>")
    out.append(f'<thead><tr><th scope="col">{_e(w["agency"])}</th>{metric_heads}</tr></thead><tbody>')
    for g in report.agencies:
        out.append(f'<tr><th scope="row">{_e(w.agency(g.name))}</th>{count_cells(g.counts)}</tr>')
    if not report.agencies:
        out.append(f'<tr><td colspan="7">{_e(w["none"])}</td></tr>')
    out.append(
        f'</tbody><tfoot><tr><th scope="row">{_e(w["total"])}</th>{count_cells(t)}</tr></tfoot></table>'
    )
    out.append("</section>")

    # per channel
    out.append(f'<section aria-labelledby="s-channels"><h2 id="s-channels">{_e(w["by_channel"])}</h2>')
    out.append(f'<table class="wide keep"><caption>{_e(numbered("table", w["tab_channels"]))}</caption>')
    out.append(
        f'<thead><tr><th scope="col">{_e(w["channel"])}</th><th scope="col">{_e(w["type"])}</th>'
        f'{metric_heads}<th scope="col" class="n">{_e(w["median"])}</th>'
        f'<th scope="col" class="n">{_e(w["longest"])}</th></tr></thead><tbody>'
    )
    for g in report.channels:
        out.append(
            f'<tr><th scope="row">{_e(g.name)}</th><td>{_e(g.type or "–")}</td>{count_cells(g.counts)}'
            f'<td class="d">{_e(w.duration(g.timing.median_seconds))}</td>'
            f'<td class="d">{_e(w.duration(g.timing.longest_seconds))}'
            + (
                f'<br/><span class="key">{_e(g.timing.longest_release)}</span>'
                if g.timing.longest_release
                else ""
            )
            + "</td></tr>"
        )
    if not report.channels:
        out.append(f'<tr><td colspan="10">{_e(w["none"])}</td></tr>')
    out.append("</tbody></table></section>")

    # held, by reason
    out.append(f'<section aria-labelledby="s-held"><h2 id="s-held">{_e(w["held_title"])}</h2>')
    if t.held:
        out.append(f'<table class="keep"><caption>{_e(numbered("table", w["tab_held"]))}</caption>')
        out.append(
            f'<thead><tr><th scope="col">{_e(w["reason"])}</th>'
            f'<th scope="col" class="n">{_e(w["count"])}</th></tr></thead><tbody>'
        )
        for kind, n in sorted(t.held.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f'<tr><th scope="row">{_e(w.reason(kind))}</th>{cell(n)}</tr>')
        out.append("</tbody></table>")
    else:
        out.append(f"<p>{_e(w['none'])}</p>")
    out.append("</section>")

    # the releases
    out.append(f'<section aria-labelledby="s-list"><h2 id="s-list">{_e(w["list"])}</h2>')
    out.append(f'<table class="wide"><caption>{_e(numbered("table", w["tab_list"]))}</caption>')
    out.append(
        "<thead><tr>"
        + "".join(
            f'<th scope="col">{_e(w[k])}</th>'
            for k in ("no", "release", "date", "approved", "status", "copies")
        )
        + "</tr></thead><tbody>"
    )
    for i, e in enumerate(report.releases, 1):
        status = w.state(e.state)
        if e.reason and e.state in ("held", "retracted", "unrouted"):
            why = w.reason(hold_kind(e.reason)) if e.state == "held" else e.reason
            status += f": {why}"
        approved = w.moment(e.approved_at, year=False)
        if e.approved_by:
            approved += f' <span class="small">{_e(w["by"])} {_e(e.approved_by)}</span>'
        copies = []
        for c in e.copies:
            when = f" {_e(w.moment(c.published_at, year=False))}" if c.published_at else ""
            if c.url.startswith(("https://", "http://")):
                link = f'<a href="{_e(c.url)}">{_e(c.url)}</a>'
            else:
                link = f'<span class="key">{_e(c.url)}</span>' if c.url else ""
            state = "" if c.state == "sent" else f" ({_e(w.state(c.state))})"
            copies.append(
                f'<span class="copy"><strong>{_e(c.channel)}</strong>{state}{when}'
                + (f"<br/>{link}" if link else "")
                + "</span>"
            )
        out.append(
            f'<tr><td class="n">{i}</td><td>{_e(e.title)}<br/><span class="small">{_e(w.agency(e.agency))}'
            f'</span><br/><span class="key">{_e(e.key)}</span></td>'
            f"<td>{_e(w.moment(e.date or e.received_at, year=False))}</td>"
            f"<td>{approved}</td><td>{_e(status)}</td><td>{''.join(copies) or '–'}</td></tr>"
        )
    if not report.releases:
        out.append(f'<tr><td colspan="6">{_e(w["no_releases"])}</td></tr>')
    out.append("</tbody></table></section>")

    # definitions
    out.append(f'<section aria-labelledby="s-notes"><h2 id="s-notes">{_e(w["notes"])}</h2><dl>')
    for m in metrics:
        out.append(f"<dt><strong>{_e(w[m])}</strong></dt><dd>{_e(w['def_' + m])}</dd>")
    out.append(f"</dl><p>{_e(w['def_timing'])}</p></section>")
    out.append("</main>")
    out.append(f"<footer><p>{_e(w['footer'].format(zone=report.timezone))}</p></footer>")
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"
