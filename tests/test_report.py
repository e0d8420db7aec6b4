"""The monthly report, from a month built by the real engine: release files, a TOML config, a
SQLite ledger file and the recorder channels, with the clock moved from one day to the next.

The month (Asia/Makassar, WITA = UTC+8), November 2026:

    okt  31 Oct 23:00  collected and published to site and hook (October's, not November's)
    a    1 Nov 00:30   collected (still 31 Oct in UTC) and published; approved_at 31 Oct 23:45
    b    3 Nov 09:00   approved 08:00; site at once; hook fails once, sent at 11:00; retracted 25 Nov
    c    3 Nov 09:00   status review: held, not approved
    d    3 Nov 09:00   approved, embargoed until 5 Dec: held
    e    10 Nov 10:00  approved 09:00; site sent; hook refuses it (dead)
    f    10 Nov 10:00  draft; approved with `approve` on 20 Nov 14:00, published 14:05
    h    30 Nov 23:50  draft, no agency; approved on 2 Dec and published then
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from enginekit import Harness

from syndicator.cli import build_cli
from syndicator.errors import PermanentError, TransientError
from syndicator.report import (
    CSV_FIELDS,
    Month,
    MonthlyReport,
    build_report,
    hold_kind,
    render,
    render_csv,
    render_html,
    render_json,
)

NOV = Month(2026, 11)
NOW = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)  # when the reports are made
SVG = "{http://www.w3.org/2000/svg}"


def wita(day: str, clock: str) -> datetime:
    """A WITA wall-clock time as UTC (what the harness clock holds)."""
    return datetime.fromisoformat(f"{day}T{clock}:00+08:00").astimezone(UTC)


def build_month(root: Path) -> Harness:
    h = Harness(root)
    h.channels["site"] = {"type": "recorder-key"}
    h.channels["hook"] = {"type": "recorder", "backoff": 60.0}

    def at(day: str, clock: str) -> None:
        h.clock.now = wita(day, clock)

    at("2026-10-31", "23:00")
    h.write(
        "okt.md",
        id="okt",
        title="Rilis Oktober",
        agency="Dinas Kesehatan",
        date="2026-10-31T22:00:00+08:00",
        approved_at="2026-10-31T22:00:00+08:00",
    )
    h.run()
    at("2026-11-01", "00:30")
    h.write(
        "a.md",
        id="a",
        title="Posyandu buka hari Minggu",
        agency="Dinas Kesehatan",
        date="2026-11-01T00:00:00+08:00",
        approved_at="2026-10-31T23:45:00+08:00",
    )
    h.run()
    at("2026-11-03", "09:00")
    approved = {"approved_at": "2026-11-03T08:00:00+08:00", "date": "2026-11-03T08:00:00+08:00"}
    h.write("b.md", id="b", title="Jadwal PPDB", agency="Dinas Pendidikan", **approved)
    h.write(
        "c.md",
        id="c",
        title="Beasiswa daerah",
        agency="Dinas Pendidikan",
        status="review",
        approved_by=None,
        approved_at=None,
        date="2026-11-03T08:30:00+08:00",
    )
    h.write(
        "d.md",
        id="d",
        title="Vaksinasi massal",
        agency="Dinas Kesehatan",
        publish_at="2026-12-05T08:00:00+08:00",
        **approved,
    )
    h.journal.fail("hook", TransientError("HTTP 503"))
    h.run()
    at("2026-11-03", "11:00")
    h.run()
    at("2026-11-10", "10:00")
    h.write(
        "e.md",
        id="e",
        title="Ujian sekolah",
        agency="Dinas Pendidikan",
        approved_at="2026-11-10T09:00:00+08:00",
        date="2026-11-10T09:00:00+08:00",
    )
    h.write(
        "f.md",
        id="f",
        title="Festival literasi",
        agency="Dinas Komunikasi dan Informatika",
        status="draft",
        approved_by=None,
        approved_at=None,
        date="2026-11-10T09:30:00+08:00",
    )
    h.journal.fail("hook", PermanentError("HTTP 422: text too long"))
    h.run()
    at("2026-11-20", "14:00")
    h.ledger.approve("news/f", "Kepala Diskominfo", h.clock.now)
    h.clock.advance(minutes=5)
    h.run()
    at("2026-11-25", "08:00")
    h.engine().retract("news/b", by="Kepala Diskominfo", reason="jadwal berubah")
    at("2026-11-30", "23:50")
    h.write(
        "h.md",
        id="h",
        title="Pengumuman tanpa instansi",
        status="draft",
        approved_by=None,
        approved_at=None,
        date="2026-11-30T23:00:00+08:00",
    )
    h.run()
    at("2026-12-02", "09:00")
    h.ledger.approve("news/h", "Kepala Diskominfo", h.clock.now)
    h.run()
    return h


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = build_month(tmp_path_factory.mktemp("report"))
    yield h
    h.close()


@pytest.fixture(scope="module")
def nov(month: Harness) -> MonthlyReport:
    return build_report(month.ledger, month.engine().config, NOV, NOW)


def by_name(groups: list[Any], name: str) -> Any:
    found = [g for g in groups if g.name == name]
    assert len(found) == 1, [g.name for g in groups]
    return found[0]


# -- the numbers -----------------------------------------------------------------------------------


def test_the_month_is_counted_in_the_configs_time_zone(nov: MonthlyReport, month: Harness) -> None:
    assert nov.start.isoformat() == "2026-11-01T00:00:00+08:00"
    assert nov.end.isoformat() == "2026-12-01T00:00:00+08:00"
    assert nov.as_of == nov.end  # a past month is reported up to its end
    keys = [e.key for e in nov.releases]
    assert "news/okt" not in keys  # 31 Oct 23:00 WITA
    assert "news/a" in keys  # 1 Nov 00:30 WITA, though 31 Oct in UTC
    october = build_report(month.ledger, month.engine().config, Month(2026, 10), NOW)
    assert [e.key for e in october.releases] == ["news/okt"]
    assert october.totals.to_dict() | {"approval_to_publication": None} == {
        "received": 1,
        "approved": 1,  # a's approval (approved_at 31 Oct 23:45) was recorded in November
        "published": 1,
        "held": 0,
        "held_by_reason": {},
        "failed": 0,
        "retracted": 0,
        "approval_to_publication": None,
    }


def test_totals(nov: MonthlyReport) -> None:
    assert nov.totals.to_dict() == {
        "received": 7,  # a b c d e f h
        "approved": 5,  # a b d e f (recorded in November; h's in December)
        "published": 4,  # a b e f
        "held": 3,
        "held_by_reason": {"embargoed": 1, "not approved": 2},  # d; c, and h at the month's end
        "failed": 1,  # e on hook
        "retracted": 1,  # b
    }


def test_per_agency(nov: MonthlyReport) -> None:
    assert [g.name for g in nov.agencies] == [
        "Dinas Kesehatan",
        "Dinas Komunikasi dan Informatika",
        "Dinas Pendidikan",
        "",  # no agency: last
    ]
    health = by_name(nov.agencies, "Dinas Kesehatan").counts.to_dict()
    assert health == {
        "received": 2,
        "approved": 2,
        "published": 1,
        "held": 1,
        "held_by_reason": {"embargoed": 1},
        "failed": 0,
        "retracted": 0,
    }
    education = by_name(nov.agencies, "Dinas Pendidikan").counts.to_dict()
    assert education == {
        "received": 3,
        "approved": 2,
        "published": 2,
        "held": 1,
        "held_by_reason": {"not approved": 1},
        "failed": 1,
        "retracted": 1,
    }
    assert by_name(nov.agencies, "").counts.to_dict()["held_by_reason"] == {"not approved": 1}


def test_per_channel_counts(nov: MonthlyReport) -> None:
    assert [(g.name, g.type) for g in nov.channels] == [("hook", "recorder"), ("site", "recorder-key")]
    site = by_name(nov.channels, "site").counts.to_dict()
    hook = by_name(nov.channels, "hook").counts.to_dict()
    common = {"received": 7, "approved": 5, "held": 3, "held_by_reason": {"embargoed": 1, "not approved": 2}}
    assert site == {**common, "published": 4, "failed": 0, "retracted": 1}
    assert hook == {**common, "published": 3, "failed": 1, "retracted": 1}


def test_time_from_approval_to_publication(nov: MonthlyReport) -> None:
    site = by_name(nov.channels, "site").timing
    # a 45 min (from the front matter's approved_at), b 1 h, e 1 h, f 5 min (from `approve`)
    assert (site.count, site.median_seconds, site.longest_seconds) == (4, 3150, 3600)
    assert site.longest_release == "news/b"  # b and e tie: the first key
    hook = by_name(nov.channels, "hook").timing
    # a 45 min, b 3 h (a failed call first), f 5 min; e never went out
    assert (hook.count, hook.median_seconds, hook.longest_seconds, hook.longest_release) == (
        3,
        2700,
        10800,
        "news/b",
    )
    assert (nov.timing.count, nov.timing.median_seconds, nov.timing.longest_seconds) == (7, 2700, 10800)


def test_held_is_the_state_at_the_months_end(nov: MonthlyReport, month: Harness) -> None:
    states = {e.key: (e.state, hold_kind(e.reason) if e.state == "held" else e.reason) for e in nov.releases}
    assert states == {
        "news/a": ("published", ""),
        "news/b": ("retracted", "jadwal berubah"),
        "news/c": ("held", "not approved"),
        "news/d": ("held", "embargoed"),
        "news/e": ("published", ""),
        "news/f": ("published", ""),
        "news/h": ("held", "not approved"),  # approved on 2 Dec: not yet at the end of November
    }
    december = build_report(month.ledger, month.engine().config, Month(2026, 12), NOW)
    assert december.totals.to_dict() == {
        "received": 0,
        "approved": 1,
        "published": 1,
        "held": 0,
        "held_by_reason": {},
        "failed": 0,
        "retracted": 0,
    }
    (h,) = december.releases
    assert (h.key, h.state, h.approved_by) == ("news/h", "published", "Kepala Diskominfo")
    assert by_name(december.channels, "site").timing.median_seconds == 0


def test_the_release_list_links_every_published_copy(nov: MonthlyReport) -> None:
    assert [e.key for e in nov.releases] == [
        "news/a",
        "news/b",
        "news/d",  # 3 Nov 08:00, like b
        "news/c",  # 3 Nov 08:30
        "news/e",
        "news/f",
        "news/h",
    ]  # by the release's own date, then by key
    entries = {e.key: e for e in nov.releases}
    copies = {(e.key, c.channel): c for e in nov.releases for c in e.copies}
    assert copies["news/a", "site"].url == "https://site.test/news/a"
    assert copies["news/a", "hook"].url == "https://hook.test/news/a"
    assert copies["news/a", "site"].published_at == wita("2026-11-01", "00:30")
    assert copies["news/a", "site"].seconds_from_approval == 45 * 60
    assert copies["news/b", "hook"].published_at == wita("2026-11-03", "11:00")
    assert copies["news/b", "hook"].state == "retracted"  # left in place, recorded
    assert copies["news/b", "hook"].url == "https://hook.test/news/b"
    assert entries["news/b"].retracted_at == wita("2026-11-25", "08:00")
    dead = copies["news/e", "hook"]
    assert (dead.state, dead.url, dead.published_at) == ("dead", "", None)
    assert "HTTP 422" in dead.error
    assert copies["news/c", "site"].state == ""  # held: never planned
    assert copies["news/h", "site"].state == ""  # planned only in December
    assert entries["news/f"].approved_by == "Kepala Diskominfo"
    assert entries["news/f"].approved_at == wita("2026-11-20", "14:00")
    assert entries["news/a"].approved_at == wita("2026-10-31", "23:45")
    assert entries["news/h"].approved_at is None and entries["news/h"].approved_by == ""


def test_days(nov: MonthlyReport) -> None:
    assert len(nov.days) == 30 and nov.days[0].date == date(2026, 11, 1)
    busy = {d.date.day: (d.received, d.published) for d in nov.days if d.received or d.published}
    assert busy == {1: (1, 1), 3: (3, 1), 10: (2, 1), 20: (0, 1), 30: (1, 0)}


def test_the_current_month_is_reported_up_to_now(month: Harness) -> None:
    config = month.engine().config
    midway = wita("2026-11-10", "12:00")
    report = build_report(month.ledger, config, NOV, midway)
    assert report.as_of == midway
    assert [e.key for e in report.releases] == ["news/a", "news/b", "news/d", "news/c", "news/e", "news/f"]
    assert report.totals.published == 3  # a b e; f not yet approved
    assert {e.key: e.state for e in report.releases}["news/b"] == "published"  # retracted later
    assert report.totals.held == {"embargoed": 1, "not approved": 2}  # c, d, f
    with pytest.raises(ValueError, match="has not begun"):
        build_report(month.ledger, config, Month(2026, 12), midway)


def test_a_correction_is_not_a_second_publication(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        h.channels["site"] = {"type": "recorder-key"}
        h.clock.now = wita("2026-11-05", "10:00")
        fields = {"id": "g", "title": "Tarif air", "approved_by": "Kabid Humas"}
        h.write("g.md", approved_at="2026-11-05T09:00:00+08:00", **fields)
        h.run()
        h.clock.now = wita("2026-12-03", "10:00")
        h.write("g.md", approved_at="2026-11-05T09:00:00+08:00", body="Isi yang dikoreksi.", **fields)
        h.run()  # changed since approval: held
        h.ledger.approve("news/g", "Kepala Dinas", h.clock.now)
        h.run()  # a correction post
        assert len(h.journal.sent_keys("site")) == 2
        config = h.engine().config
        nov = build_report(h.ledger, config, NOV, NOW)
        dec = build_report(h.ledger, config, Month(2026, 12), NOW)
    finally:
        h.close()
    (g,) = nov.releases
    # The ledger keeps the time a release gives only for its current approval: an approval
    # that was superseded counts from when it was recorded.
    assert (g.approved_by, g.approved_at, g.state) == (
        "Kabid Humas",
        wita("2026-11-05", "10:00"),
        "published",
    )
    assert nov.totals.published == 1
    (g,) = dec.releases
    assert (g.approved_by, g.approved_at) == ("Kepala Dinas", wita("2026-12-03", "10:00"))
    assert (dec.totals.approved, dec.totals.published, dec.totals.received) == (1, 0, 0)
    assert by_name(dec.channels, "site").counts.published == 0
    assert g.copies[0].published_at == wita("2026-11-05", "10:00")  # the first publication


def test_an_empty_month(month: Harness) -> None:
    report = build_report(month.ledger, month.engine().config, Month(2026, 9), NOW)
    assert report.releases == [] and report.agencies == []
    assert report.totals.to_dict()["received"] == 0
    page = render_html(report)
    assert "Tidak ada siaran pers pada bulan ini." in page
    ET.fromstring(strip_doctype(page))
    assert render_csv(report) == ",".join(CSV_FIELDS) + "\n"


# -- the month argument ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("2026-11", date(2027, 3, 5), Month(2026, 11)),
        (" 2026-02 ", date(2027, 3, 5), Month(2026, 2)),
        ("this", date(2026, 11, 30), Month(2026, 11)),
        ("last", date(2026, 11, 30), Month(2026, 10)),
        ("LAST", date(2027, 1, 1), Month(2026, 12)),
    ],
)
def test_month_parse(text: str, today: date, expected: Month) -> None:
    assert Month.parse(text, today) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "November", "26-11", ""])
def test_month_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected a month like"):
        Month.parse(text, date(2026, 11, 1))


def test_month_bounds_and_days() -> None:
    assert len(Month(2028, 2).days()) == 29
    assert Month(2026, 12).next() == Month(2027, 1)
    start, end = Month(2026, 12).bounds(UTC)
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00")


# -- CSV and JSON ------------------------------------------------------------------------------------


def test_csv_has_one_row_per_release_and_channel(nov: MonthlyReport) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(nov))))
    assert list(rows[0]) == list(CSV_FIELDS)
    assert len(rows) == 7 * 2
    assert {(r["release"], r["channel"]) for r in rows} == {
        (e.key, ch) for e in nov.releases for ch in ("site", "hook")
    }
    a_site = next(r for r in rows if r["release"] == "news/a" and r["channel"] == "site")
    assert a_site == {
        **a_site,
        "month": "2026-11",
        "agency": "Dinas Kesehatan",
        "received_at": "2026-11-01T00:30:00+08:00",
        "approved_at": "2026-10-31T23:45:00+08:00",
        "release_state": "published",
        "channel_type": "recorder-key",
        "delivery_state": "sent",
        "published_at": "2026-11-01T00:30:00+08:00",
        "seconds_from_approval": "2700",
        "url": "https://site.test/news/a",
    }
    c_hook = next(r for r in rows if r["release"] == "news/c" and r["channel"] == "hook")
    assert (c_hook["release_state"], c_hook["delivery_state"], c_hook["url"]) == ("held", "", "")
    assert c_hook["reason"].startswith("not approved")


def test_json_is_the_full_structure(nov: MonthlyReport) -> None:
    data = json.loads(render_json(nov))
    assert set(data) == {
        "month",
        "timezone",
        "start",
        "end",
        "as_of",
        "generated_at",
        "totals",
        "agencies",
        "channels",
        "days",
        "releases",
    }
    assert data["month"] == "2026-11" and data["timezone"] == "Asia/Makassar"
    assert data["generated_at"] == "2026-12-10T10:00:00+08:00"
    assert data["totals"]["held_by_reason"] == {"embargoed": 1, "not approved": 2}
    assert data["totals"]["approval_to_publication"] == {
        "count": 7,
        "median_seconds": 2700,
        "longest_seconds": 10800,
        "longest_release": "news/b",
    }
    site = next(c for c in data["channels"] if c["name"] == "site")
    assert site["approval_to_publication"]["median_seconds"] == 3150
    assert len(data["days"]) == 30
    a = data["releases"][0]
    assert a["key"] == "news/a" and a["approved_at"] == "2026-10-31T23:45:00+08:00"
    assert [c["url"] for c in a["copies"]] == ["https://hook.test/news/a", "https://site.test/news/a"]


def test_output_is_deterministic(month: Harness) -> None:
    config = month.engine().config
    for fmt in ("json", "csv", "html"):
        first = render(build_report(month.ledger, config, NOV, NOW), fmt)
        again = render(build_report(month.ledger, config, NOV, NOW + timedelta(days=30)), fmt)
        if fmt == "json":
            first, again = (
                re.sub(r'"generated_at": "[^"]*"', "", first),
                re.sub(r'"generated_at": "[^"]*"', "", again),
            )
        if fmt == "html":
            first, again = drop_generated(first), drop_generated(again)
        assert first == again, fmt  # a past month does not change with the day it is made
    with pytest.raises(ValueError, match="unknown report format"):
        render(build_report(month.ledger, config, NOV, NOW), "pdf")


# -- HTML ----------------------------------------------------------------------------------------------


def strip_doctype(page: str) -> str:
    assert page.startswith("<!DOCTYPE html>\n")
    return page.removeprefix("<!DOCTYPE html>\n")


def drop_generated(page: str) -> str:
    return re.sub(r"<strong>(Dibuat|Generated):</strong>[^<]*", "", page)


class TagCheck(HTMLParser):
    """Every start tag closed in order (void elements aside); every src and href collected."""

    VOID = frozenset({"meta", "br", "img", "link", "hr", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                self.refs.append((tag, name, value or ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href"):
                self.refs.append((tag, name, value or ""))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_html_is_well_formed_and_self_contained(nov: MonthlyReport) -> None:
    page = render_html(nov)
    check = TagCheck()
    check.feed(page)
    check.close()
    assert check.problems == [] and check.stack == []
    root = ET.fromstring(strip_doctype(page))  # well-formed as XML too
    assert root.tag == "html" and root.get("lang") == "id"
    links = {c.url for e in nov.releases for c in e.copies if c.url}
    assert links == {f"https://{ch}.test/news/{k}" for ch in ("site", "hook") for k in "abf"} | {
        "https://site.test/news/e"
    }
    assert {value for tag, name, value in check.refs} == links  # the only references at all
    assert all(tag == "a" and name == "href" for tag, name, _ in check.refs)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    external = re.findall(r"https?://[^\s\"'<>)]+", page)
    assert set(external) <= links


def test_html_has_accessible_svg_charts(nov: MonthlyReport) -> None:
    root = ET.fromstring(strip_doctype(render_html(nov)))
    figures = root.findall(".//figure")
    assert len(figures) == 3
    for figure in figures:
        svg = figure.find("svg")
        assert svg is not None and svg.get("role") == "img"
        title, desc = svg.find("title"), svg.find("desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        caption = figure.find("figcaption")
        assert caption is not None and caption.text == title.text
        assert svg.findall(".//rect"), "a chart with bars"
    days = figures[0].find("svg")
    assert days is not None
    desc_text = days.findtext("desc") or ""
    assert "3 Nov: 3 diterima, 1 diterbitkan" in desc_text
    bar_titles = [t.text for t in days.iter("title")]
    assert "10 Nov: 2 diterima" in bar_titles
    assert figures[0].findtext("figcaption", "").startswith("Gambar 1. ")


def test_html_tables_have_headers_and_the_numbers(nov: MonthlyReport) -> None:
    root = ET.fromstring(strip_doctype(render_html(nov)))
    assert root.findtext(".//h1") == "Laporan Bulanan Publikasi Siaran Pers"
    assert [h.text for h in root.iter("h2")] == [
        "Ringkasan",
        "Grafik",
        "Rekap per Instansi",
        "Rekap per Kanal",
        "Siaran Pers yang Tertahan",
        "Daftar Siaran Pers",
        "Keterangan",
    ]
    tables = root.findall(".//table")
    assert all(t.find("caption") is not None for t in tables)
    for th in root.iter("th"):
        assert th.get("scope") in ("col", "row")
    cards = {div.findtext("dt"): div.findtext("dd") for div in root.findall(".//dl[@class='cards']/div")}
    assert cards == {
        "Diterima": "7",
        "Disetujui": "5",
        "Diterbitkan": "4",
        "Tertahan": "3",
        "Ditarik": "1",
        "Gagal": "1",
    }
    channel_rows = {
        tr.findtext("th"): [td.text for td in tr.findall("td")] for tr in tables[1].findall("tbody/tr")
    }
    assert channel_rows["site"][:8] == ["recorder-key", "7", "5", "4", "3", "0", "1", "52 menit"]
    assert channel_rows["hook"][7] == "45 menit"
    held = {tr.findtext("th"): tr.findtext("td") for tr in tables[2].findall("tbody/tr")}
    assert held == {"belum disetujui": "2", "masih diembargo": "1"}
    listing = ET.tostring(tables[3], encoding="unicode")
    assert "(tanpa instansi)" in listing and "Kepala Diskominfo" in listing
    assert '<a href="https://hook.test/news/b">' in listing


def test_html_in_english(nov: MonthlyReport) -> None:
    page = render_html(nov, "en")
    root = ET.fromstring(strip_doctype(page))
    assert root.get("lang") == "en"
    assert root.findtext(".//h1") == "Monthly Press Release Publication Report"
    assert "Figure 1. Releases received and published per day, November 2026." in page
    assert "Tidak" not in page and "Diterima" not in page
    with pytest.raises(ValueError, match="unknown report language"):
        render_html(nov, "fr")


def test_html_escapes_what_the_releases_say(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        h.channels["site"] = {"type": "recorder-key"}
        h.clock.now = wita("2026-11-05", "10:00")
        h.write("x.md", id="x", title='Tarif <b>5%</b> & "naik" <script>x()</script>', agency="A & B <C>")
        h.run()
        (stored,) = h.ledger.releases()
        page = render_html(build_report(h.ledger, h.engine().config, NOV, NOW))
    finally:
        h.close()
    ET.fromstring(strip_doctype(page))
    assert "<script" not in page and "<b>" not in page
    title, agency = stored.release.title, stored.release.agency
    assert '"naik"' in title and "<C>" in agency
    assert html.escape(title) in page and html.escape(agency) in page


# -- the command ---------------------------------------------------------------------------------------


def cli_for(h: Harness) -> click.Group:
    cli = build_cli(h.pm)
    if "report" not in cli.commands:  # until syndicator/cli/__init__.py registers it
        from syndicator.cli import report

        report.register(cli)
    return cli


def invoke(h: Harness, *args: str, expect: int = 0) -> Any:
    result = CliRunner().invoke(cli_for(h), ["--config", str(h.config_path), *args])
    assert result.exit_code == expect, f"{result.output}\n{result.exception!r}"
    return result


def test_command_writes_each_format(month: Harness, tmp_path: Path) -> None:
    now = "2026-12-10T10:00"  # the config's zone
    html_out = invoke(month, "report", "--month", "2026-11", "--now", now).stdout
    assert html_out == render_html(build_report(month.ledger, month.engine().config, NOV, NOW))
    target = tmp_path / "laporan-2026-11.csv"
    result = invoke(month, "report", "--month", "2026-11", "--now", now, "-o", str(target))
    assert "written to" in result.stderr and result.stdout == ""
    assert target.read_text(encoding="utf-8").startswith(",".join(CSV_FIELDS))  # format from the suffix
    data = json.loads(invoke(month, "report", "--month", "2026-11", "--format", "json", "--now", now).stdout)
    assert data["totals"]["published"] == 4 and data["generated_at"] == "2026-12-10T10:00:00+08:00"
    english = invoke(month, "report", "--month", "2026-11", "--lang", "en", "--now", now).stdout
    assert '<html lang="en">' in english
    quiet = invoke(month, "-q", "report", "--month", "2026-11", "--now", now, "-o", str(tmp_path / "r.html"))
    assert quiet.stderr == "" and (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE")
    last = invoke(month, "report", "--month", "last", "--format", "json", "--now", now).stdout
    assert json.loads(last)["month"] == "2026-11"
    named = tmp_path / "laporan" / "laporan-{month}.json"  # folders made, the month filled in
    invoke(month, "-q", "report", "--month", "last", "--now", now, "-o", str(named))
    written = tmp_path / "laporan" / "laporan-2026-11.json"
    assert json.loads(written.read_text(encoding="utf-8"))["month"] == "2026-11"


def test_command_usage_errors(month: Harness, tmp_path: Path) -> None:
    bad = invoke(month, "report", "--month", "2026-13", expect=2)
    assert "expected a month like" in bad.stderr
    future = invoke(month, "report", "--month", "2027-01", "--now", "2026-12-10T10:00", expect=2)
    assert "has not begun" in future.stderr
    assert "--now" in invoke(month, "report", "--month", "2026-11", "--now", "soon", expect=2).stderr
    assert "--month" in invoke(month, "report", expect=2).stderr
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    blocked = tmp_path / "a-file" / "r.html"
    assert "--output" in invoke(month, "report", "--month", "2026-11", "-o", str(blocked), expect=2).stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]  # nothing half-written anywhere
