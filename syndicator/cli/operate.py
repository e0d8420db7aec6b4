"""Commands an operator uses when something needs a person: retry, resolve, retract, export, doctor."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, TextIO

import click

from . import EXIT_OK, EXIT_PROBLEMS, App, pass_app


def register(cli: click.Group) -> None:
    for command in (retry, resolve, retract, export, doctor):
        cli.add_command(command)


def operator(by: str) -> str:
    if not by.strip():
        raise click.BadParameter("give your name; it goes in the audit trail", param_hint="--by")
    return by.strip()


@click.command()
@click.argument("release", required=False)
@click.option("--channel", metavar="NAME", help="Only deliveries to this channel.")
@click.option("--by", "by", required=True, metavar="NAME", help="Who requeues (recorded in the audit trail).")
@pass_app
def retry(app: App, release: str | None, channel: str | None, by: str) -> None:
    """Put failed and dead deliveries back in the queue, with fresh attempts.

    Without RELEASE, every failed or dead delivery (of --channel, if given). They go out on
    the next run.
    """
    from ..lock import run_lock

    name = operator(by)
    with run_lock(app.config().state_path), app.ledger() as ledger:
        key = ledger.find_release(release).key if release else None
        done = app.engine(ledger, actor=name).requeue(key, channel, name)
    for line in done:
        click.echo(f"requeued: {line}")
    click.echo(
        f"{len(done)} deliveries requeued; they go out on the next run" if done else "nothing to requeue"
    )


@click.command()
@click.argument("release")
@click.option("--channel", required=True, metavar="NAME", help="The channel of the delivery to settle.")
@click.option("--sent", "sent_url", metavar="URL", help="It did go out: here is the post.")
@click.option("--retry", "again", is_flag=True, help="It did not go out: send it (once more).")
@click.option("--abandon", is_flag=True, help="Do not send it on this channel.")
@click.option("--by", "by", required=True, metavar="NAME", help="Who decides (recorded in the audit trail).")
@pass_app
def resolve(
    app: App, release: str, channel: str, sent_url: str | None, again: bool, abandon: bool, by: str
) -> None:
    """Settle a delivery whose outcome is unknown (or that is dead), after checking the platform.

    Exactly one of --sent URL, --retry or --abandon.
    """
    from ..lock import run_lock

    if sum((sent_url is not None, again, abandon)) != 1:
        raise click.UsageError("give exactly one of --sent URL, --retry or --abandon")
    name = operator(by)
    with run_lock(app.config().state_path), app.ledger() as ledger:
        key = ledger.find_release(release).key
        how = app.engine(ledger, actor=name).resolve(key, channel, name, sent_url=sent_url, retry=again)
    click.echo(f"resolved {key} -> {channel}: {how}")


@click.command()
@click.argument("release")
@click.option("--by", "by", required=True, metavar="NAME", help="Who retracts (recorded in the audit trail).")
@click.option("--reason", required=True, help="Why, in a sentence; shown in notices and the trail.")
@pass_app
def retract(app: App, release: str, by: str, reason: str) -> None:
    """Withdraw a published release: delete it where the platform allows, post a notice where
    the channel sets `retraction_notice = true`, and never send it anywhere else.

    The website keeps the page, marked as retracted. Exits 1 if a channel failed (it is
    retried on the next run).
    """
    from ..lock import run_lock

    name = operator(by)
    with run_lock(app.config().state_path), app.ledger() as ledger:
        stored = ledger.find_release(release)
        engine = app.engine(ledger, actor=name)
        outcomes = engine.retract(stored.key, name, reason.strip())
        unsettled = [
            d for d in ledger.deliveries(release_key=stored.key) if str(d.state) in ("unknown", "in_flight")
        ]
    click.echo(f"retracted {stored.key} ({stored.release.title}) by {name}")
    failed = 0
    for o in outcomes:
        if o.state in ("failed", "dead", "unknown", "error"):
            failed += 1
            click.echo(f"{o.state}: {o.channel}: {o.detail}", err=True)
        else:
            click.echo(f"{o.state}: {o.channel}" + (f" ({o.detail})" if o.detail else ""))
    for d in unsettled:
        click.echo(
            f"attention: {d.channel}: its delivery is {d.state}; check the platform, then resolve it",
            err=True,
        )
    click.get_current_context().exit(EXIT_PROBLEMS if failed or unsettled else EXIT_OK)


def _day(value: str | None, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-11-01, got {value!r}") from None
    if len(value) <= 10:  # a bare date: the whole day, counted in UTC
        return datetime.combine(parsed.date(), time(0), UTC) + (timedelta(days=1) if end else timedelta())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command()
@click.option("--since", required=True, metavar="DATE", help="First day (inclusive), e.g. 2026-11-01.")
@click.option("--until", metavar="DATE", help="Last day (inclusive); default: up to now.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File (default: stdout)."
)
@pass_app
def export(app: App, since: str, until: str | None, fmt: str, output: TextIO) -> None:
    """Export the audit trail for a period: every event, with actor, attempt, remote id, URL
    and the SHA-256 of the exact payload sent."""
    from ..ledger import Event

    start, end = _day(since, False), _day(until, True)
    write: Callable[[dict[str, Any]], object]
    if fmt == "jsonl":
        write = lambda row: output.write(json.dumps(row, ensure_ascii=False) + "\n")  # noqa: E731
    else:
        writer = csv.DictWriter(output, fieldnames=list(Event.FIELDS), lineterminator="\n")
        writer.writeheader()
        write = writer.writerow
    written = 0
    with app.ledger() as ledger:
        for event in ledger.iter_events(since=start, until=end):  # streamed: a year's trail is big
            write(event.to_dict())
            written += 1
    if getattr(output, "name", "-") not in ("-", "<stdout>"):
        click.echo(f"{written} events written", err=True)


@click.command()
@pass_app
def doctor(app: App) -> None:
    """Check everything a run needs: the config, the state file, the lock, each channel's credentials."""
    from ..errors import SyndicatorError
    from ..lock import lock_path

    problems = 0

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal problems
        problems += not ok
        click.echo(f"{'ok' if ok else 'FAIL'}: {what}: {detail}", err=not ok)

    config = app.config()  # a config error is reported by the group, exit 2
    report(True, "config", f"{config.path} ({len(config.sources)} sources, {len(config.channels)} channels)")
    try:
        with app.ledger() as ledger:
            integrity = ledger.integrity()
            report(integrity == "ok", "state", f"{config.state_path}: {integrity}")
            report(True, "lock", _lock_state(lock_path(config.state_path)))
            engine = app.engine(ledger)
            for name in config.channels:
                rt = engine.runtime(name)
                try:
                    report(True, f"channel {name}", rt.channel.check(rt.make_context(dry_run=True)))
                except Exception as exc:
                    report(False, f"channel {name}", str(exc) or type(exc).__name__)
    except SyndicatorError as exc:
        report(False, "state", str(exc))
    click.get_current_context().exit(EXIT_PROBLEMS if problems else EXIT_OK)


def _lock_state(path: object) -> str:
    import fcntl
    import os
    from pathlib import Path

    assert isinstance(path, Path)
    if not path.exists():
        return f"{path}: free"
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return f"{path}: a run is going now"
    finally:
        os.close(fd)
    return f"{path}: free"
