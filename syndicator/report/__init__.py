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

from .build import build_report
from .charts import DARK, LIGHT, RED
from .formats import CSV_FIELDS, render, render_csv, render_json
from .html import render_html
from .model import (
    FAILURE_STATES,
    FORMATS,
    HOLD_KINDS,
    LANGUAGES,
    Copy,
    Counts,
    Day,
    Entry,
    Group,
    Month,
    MonthlyReport,
    Timing,
    hold_kind,
)

__all__ = [
    "CSV_FIELDS",
    "DARK",
    "FAILURE_STATES",
    "FORMATS",
    "HOLD_KINDS",
    "LANGUAGES",
    "LIGHT",
    "RED",
    "Copy",
    "Counts",
    "Day",
    "Entry",
    "Group",
    "Month",
    "MonthlyReport",
    "Timing",
    "build_report",
    "hold_kind",
    "render",
    "render_csv",
    "render_html",
    "render_json",
]
