"""Commands that look: releases list|show, status, history."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from . import EXIT_OK, EXIT_PROBLEMS, App, pass_app

if TYPE_CHECKING:
    from ..ledger import Event

#: How each delivery state looks in the status grid (plain words: cron mail has no colours).
CELL = {
    "sent": "sent",
    "pending": "pending",
    "in_flight": "in-flight",
    "failed": "retrying",
    "dead": "DEAD",
    "unknown": "UNKNOWN",
    "abandoned": "abandoned",
}


def register(cli: click.Group) -> None:
    cli.add_command(releases)
    cli.add_command(status)
    cli.add_command(history)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@click.group()
def releases() -> None:
    """List releases and show one in detail."""


@releases.command("list")
@click.option("--source", metavar="NAME", help="Only releases from this source.")
@click.option(
    "--state",
    type=click.Choice(["held", "due", "retrying", "attention", "published", "retracted", "unrouted"]),
    help="Only releases in this state.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def releases_list(app: App, source: str | None, state: str | None, as_json: bool) -> None:
    """Every release the ledger knows, newest first, with its state and why it is held."""
    from ..ledger import utcnow
    from ..status import release_statuses

    with app.ledger() as ledger:
        items = release_statuses(ledger, app.config(), utcnow(), source=source, whole=as_json)
    items = [s for s in items if state is None or s.state == state]
    if as_json:
        echo_json([s.to_dict() for s in items])
        return
    if not items:
        click.echo("no releases yet (run `syndicator run` to collect them)")
        return
    zone = app.config().timezone
    rows = []
    for s in items:
        r = s.stored
        date = r.published.astimezone(zone).strftime("%Y-%m-%d %H:%M") if r.published else ""
        why = f": {s.reason}" if s.reason and s.state != "due" else ""
        rows.append([r.key, date, _short(r.title, 48), s.state + why])
    table(rows, ["RELEASE", "DATE", "TITLE", "STATE"])


@releases.command("show")
@click.argument("release")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def releases_show(app: App, release: str, as_json: bool) -> None:
    """One release: its fields, approval, state and every delivery."""
    from ..ledger import utcnow
    from ..status import release_status

    with app.ledger() as ledger:
        stored = ledger.find_release(release)
        deliveries = ledger.deliveries(release_key=stored.key)
        s = release_status(stored, deliveries, app.config(), utcnow(), ledger.channels_first_seen())
    if as_json:
        data = s.to_dict()
        data["release"] = stored.release.to_dict()
        data["text_kept"] = stored.has_text
        echo_json(data)
        return
    r = stored.release
    fields = [
        ("key", r.key),
        ("title", r.title),
        ("agency", r.agency),
        ("published", r.published),
        ("tags", ", ".join(r.tags)),
        ("language", r.language),
        ("url", r.url),
        ("file", r.origin),
        ("content", r.content_hash),
        ("text", "" if stored.has_text else "let go once every channel had it (keep_text)"),
        ("approved by", stored.pinned.approved_by if stored.pinned else "-"),
        ("approved", stored.approved_hash or "-"),
        ("publish at", r.publish_at or "-"),
        ("state", s.state + (f" ({s.reason})" if s.reason else "")),
    ]
    for label, value in fields:
        if value not in ("", None):
            click.echo(f"{label + ':':<13}{value}")
    if r.summary:
        click.echo(f"\n{r.summary}")
    if deliveries:
        click.echo()
        rows = [
            [
                d.channel,
                CELL.get(str(d.state), str(d.state)),
                str(d.attempts),
                d.receipt.url if d.receipt else "",
                _short(d.last_error, 60),
            ]
            for d in sorted(deliveries, key=lambda d: d.channel)
        ]
        table(rows, ["CHANNEL", "STATE", "ATTEMPTS", "URL", "ERROR"])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include releases that are held or fully published.")
@pass_app
def status(app: App, as_json: bool, show_all: bool) -> None:
    """The release × channel grid, and what needs an operator.

    Without --all, only releases with something still to happen are listed. Exits 1 when a
    delivery is dead or its outcome unknown.
    """
    from ..ledger import utcnow
    from ..status import quota_waits, release_statuses

    config = app.config()
    now = utcnow()
    with app.ledger() as ledger:
        waits = quota_waits(ledger, config, now)
        items = release_statuses(ledger, config, now, whole=as_json, waits=waits)
        counts = ledger.counts()
    attention = [s for s in items if s.state == "attention"]
    if as_json:
        echo_json(
            {
                "channels": {n: counts.get(n, {}) for n in config.channels},
                "waiting": waits,
                "releases": [s.to_dict() for s in items],
                "needs_operator": [s.key for s in attention],
            }
        )
        click.get_current_context().exit(EXIT_PROBLEMS if attention else EXIT_OK)
    by_state: dict[str, int] = {}
    for s in items:
        by_state[s.state] = by_state.get(s.state, 0) + 1
    click.echo(
        f"{len(items)} releases: " + (", ".join(f"{n} {k}" for k, n in sorted(by_state.items())) or "none")
    )
    for name, cfg in config.channels.items():
        c = counts.get(name, {})
        summary = ", ".join(f"{n} {CELL.get(k, k)}" for k, n in sorted(c.items())) or "nothing yet"
        wait = f"; {waits[name]}" if name in waits else ""
        click.echo(f"  {name} ({cfg.type}{'' if cfg.enabled else ', disabled'}): {summary}{wait}")
    shown = items if show_all else [s for s in items if s.state not in ("published", "held", "retracted")]
    if shown:
        click.echo()
        names = list(config.channels)
        rows = []
        for s in shown:
            cells = []
            for n in names:
                d = s.deliveries.get(n)
                if d is not None:
                    cells.append(CELL.get(str(d.state), str(d.state)))
                elif n not in s.routed:
                    cells.append("-")
                else:
                    cells.append("held" if s.state == "held" else "due")
            rows.append([s.key, s.state, *cells])
        table(rows, ["RELEASE", "STATE", *names])
    for s in attention:
        click.echo(f"attention: {s.key}: {s.reason}", err=True)
    click.get_current_context().exit(EXIT_PROBLEMS if attention else EXIT_OK)


@click.command()
@click.argument("release", required=False)
@click.option("-n", "--limit", default=50, show_default=True, help="How many events, newest last.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def history(app: App, release: str | None, limit: int, as_json: bool) -> None:
    """The audit trail: every event, or one release's, oldest first."""
    zone = app.config().timezone
    with app.ledger() as ledger:
        key = ledger.find_release(release).key if release else None
        events = ledger.events(release_key=key, limit=limit)
    if as_json:
        echo_json([e.to_dict() for e in events])
        return
    for e in events:
        parts = [f"{e.at.astimezone(zone):%Y-%m-%d %H:%M:%S}", e.event]
        if e.release_key and not key:
            parts.append(e.release_key)
        if e.channel:
            parts.append(f"-> {e.channel}")
        if e.actor and e.actor != "syndicator":
            parts.append(f"by {e.actor}")
        click.echo(" ".join(parts) + (f": {text}" if (text := _said(e)) else ""))


def _said(e: Event) -> str:
    """What an event says besides its name: its detail, and for a call its attempt and the
    post it made (columns of their own since schema 4; an older event has them in its detail)."""
    said = [e.detail] if e.detail else []
    if e.event == "in_flight" and e.attempt and "attempt" not in e.detail:
        said.append(f"attempt {e.attempt}")
    link = e.url or e.remote_id
    if link and link not in e.detail:
        said.append(link)
    return ", ".join(said)
