"""The report as JSON and CSV, and ``render``: any format by name."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .html import render_html
from .model import FORMATS, MonthlyReport

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


def render(report: MonthlyReport, fmt: str, lang: str = "id") -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report, lang)
    raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
