"""Fail loudly: problems that need a person are sent to the operators' channels, once each.

A problem is dead or unknown deliveries, refused credentials, or a source that has produced
nothing new for its ``stale_after``. After a run the current problems are compared with the
``alerts`` table: new ones go out as one summary to every channel named in ``[alerts]``;
problems that went away are cleared, so they alert again if they come back.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from .engine import Engine, RunReport
from .models import DeliveryState, Release

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    key: str  # stable identity: the same problem never alerts twice while it lasts
    summary: str


def current_problems(engine: Engine, report: RunReport) -> list[Problem]:
    ledger, now = engine.ledger, engine.now()
    problems = [
        Problem(
            f"{d.state}:{d.release_key}:{d.channel}",
            f"{d.release_key} -> {d.channel}: {d.state}: {d.last_error}",
        )
        for d in ledger.deliveries(states=[DeliveryState.DEAD, DeliveryState.UNKNOWN])
    ]
    for o in report.outcomes:
        if o.detail.startswith("credentials refused"):
            problems.append(Problem(f"auth:{o.channel}", f"channel {o.channel}: {o.detail}"))
    latest = ledger.latest_change_per_source()
    for cfg in engine.config.sources.values():
        if not cfg.enabled or not cfg.stale_after:
            continue
        last = latest.get(cfg.name)
        if last is not None and now - last > timedelta(seconds=cfg.stale_after):
            problems.append(
                Problem(f"stale:{cfg.name}", f"source {cfg.name}: nothing new since {last.isoformat()}")
            )
    unique = {p.key: p for p in problems}
    return sorted(unique.values(), key=lambda p: p.key)


def send_alerts(engine: Engine, report: RunReport) -> list[str]:
    """Send new problems to the alert channels; return what was sent (one line per problem)."""
    channels = [n for n in engine.config.alert_channels if n in engine.config.channels]
    problems = current_problems(engine, report)
    fresh = engine.ledger.open_alerts([(p.key, p.summary) for p in problems], engine.now())
    if not channels or not fresh:
        return []
    release = _alert_release([p for p in problems if p.key in fresh], engine.now())
    delivered = False
    for name in channels:
        rt = engine.runtime(name)
        ctx = rt.make_context(idempotency_key="alert-" + release.id)
        try:
            rt.channel.publish(rt.channel.render(release, ctx), ctx)
            delivered = True
        except Exception as exc:  # an alert channel that fails must not hide the problems themselves
            log.error("alert channel %s failed: %s", name, exc)
    if delivered:
        engine.ledger.mark_alerts_sent(fresh, engine.now())
        return [p.summary for p in problems if p.key in fresh]
    return []


def _alert_release(problems: list[Problem], now: datetime) -> Release:
    lines = [p.summary for p in problems]
    digest = hashlib.sha256("\n".join(p.key for p in problems).encode()).hexdigest()[:12]
    body = "".join(f"<li>{_escape(line)}</li>" for line in lines)
    return Release(
        source="syndicator",
        id=f"alert-{now:%Y%m%dT%H%M%S}-{digest}",
        title=f"syndicator: {len(lines)} problem{'s' if len(lines) != 1 else ''} need attention",
        summary="; ".join(lines)[:500],
        body_html=f"<ul>{body}</ul>",
        body_text="\n".join(lines),
        published=now,
        language="en",
        tags=("syndicator-alert",),
    )


def _escape(text: str) -> str:
    from .content import escape

    return escape(text)
