"""Commands that act: run, preview, approve."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from . import EXIT_OK, App, pass_app

if TYPE_CHECKING:
    from ..dispatch import Outcome
    from ..engine import RunReport


def register(cli: click.Group) -> None:
    cli.add_command(run)
    cli.add_command(preview)
    cli.add_command(approve)


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Collect and render, report what would go out; publish and keep nothing."
)
@click.option(
    "--source", "sources", multiple=True, metavar="NAME", help="Only collect from this source (repeatable)."
)
@click.option(
    "--channel", "channels", multiple=True, metavar="NAME", help="Only deliver to this channel (repeatable)."
)
@click.option(
    "--every",
    metavar="DURATION",
    help='Keep running, one tick every DURATION ("5m", "1h"), until SIGTERM or Ctrl-C.',
)
@pass_app
def run(
    app: App, dry_run: bool, sources: tuple[str, ...], channels: tuple[str, ...], every: str | None
) -> None:
    """Collect, gate and deliver everything that is due: the job cron runs.

    Safe to run as often as you like: each approved release reaches each channel once.
    Exits 1 when a delivery failed or needs an operator, 75 when another run is going.
    With --every it loops instead of cron, holding the same lock for each tick; on SIGTERM
    or Ctrl-C it finishes the calls in flight, starts no more, and exits.
    """
    config = app.config()
    check_names(config.sources, sources, "--source")
    check_names(config.channels, channels, "--channel")
    if every is None:
        report = tick(app, sources, channels, dry_run, threading.Event())
        click.get_current_context().exit(report.exit_code or EXIT_OK)
    from ..pacing import parse_duration

    try:
        interval = parse_duration(every)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    loop(app, sources, channels, dry_run, interval)


def tick(
    app: App, sources: tuple[str, ...], channels: tuple[str, ...], dry_run: bool, stop: threading.Event
) -> RunReport:
    """One run: collect, gate, deliver, alert; print the summary."""
    from ..lock import run_lock

    config = app.config()
    progress = Progress() if sys.stderr.isatty() and app.verbosity >= 0 else None
    if dry_run:
        with app.ledger() as ledger:
            report = app.engine(ledger).run(
                sources=sources, channels=channels, dry_run=True, stop=stop, progress=progress
            )
    else:
        with run_lock(config.state_path), app.ledger() as ledger:
            engine = app.engine(ledger)
            report = engine.run(sources=sources, channels=channels, stop=stop, progress=progress)
            if config.alert_channels or any(s.stale_after for s in config.sources.values()):
                from ..alerts import send_alerts

                for line in send_alerts(engine, report):
                    click.echo(f"alerted: {line}", err=True)
    if progress is not None:
        progress.clear()
    print_summary(report, app.verbosity)
    return report


def loop(
    app: App, sources: tuple[str, ...], channels: tuple[str, ...], dry_run: bool, interval: float
) -> None:
    """Ticks every ``interval`` seconds until a signal; a tick that finds the lock taken is skipped."""
    from ..console import collect_as_usual
    from ..errors import ConfigError, LockedError
    from ..stopping import stopping_on_signals

    collect_as_usual()  # a service pays start-up once
    stop = threading.Event()

    def announce(signum: int) -> None:
        click.echo(f"syndicator: {signal.Signals(signum).name}: stopping after the calls in flight", err=True)

    with stopping_on_signals(stop, announce):
        while not stop.is_set():
            started = time.monotonic()
            app.reload()  # an edited config takes effect at the next tick
            try:
                tick(app, sources, channels, dry_run, stop)
            except LockedError as exc:
                click.echo(f"syndicator: {exc}; skipping this tick", err=True)
            except ConfigError as exc:
                for problem in exc.problems:
                    click.echo(f"error: {problem}", err=True)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    click.get_current_context().exit(EXIT_OK)


class Progress:
    """One self-updating line on a terminal: per channel, done, failed and waiting."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.lock = threading.Lock()

    def __call__(self, outcome: Outcome) -> None:
        kind = {"sent": "done", "update": "done", "correct": "done", "retracted": "done"}.get(outcome.state)
        kind = kind or ("waiting" if outcome.state in ("waiting", "skipped") else "failed")
        if outcome.state.startswith("would-"):
            kind = "done"
        with self.lock:
            per = self.counts.setdefault(outcome.channel, {"done": 0, "failed": 0, "waiting": 0})
            per[kind] += 1
            line = "  ".join(
                f"{name}: {c['done']} done" + "".join(f", {c[k]} {k}" for k in ("failed", "waiting") if c[k])
                for name, c in sorted(self.counts.items())
            )
            click.echo("\r\033[K" + line, nl=False, err=True)

    def clear(self) -> None:
        if self.counts:
            click.echo("\r\033[K", nl=False, err=True)


def check_names(known: Iterable[str], given: Iterable[str], option: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        kind = option.lstrip("-")
        names = ", ".join(repr(n) for n in unknown)
        raise click.BadParameter(
            f"no {kind} named {names} in the config (have: {', '.join(known)})", param_hint=option
        )


def print_summary(report: object, verbosity: int) -> None:
    """Problems always; the rest unless -q. One line per fact, so cron mail stays readable."""
    from ..engine import RunReport

    assert isinstance(report, RunReport)
    for message in report.source_errors:
        click.echo(f"source error: {message}", err=True)
    for o in report.problems:
        click.echo(f"{o.state}: {o.release_key} -> {o.channel}: {o.detail}", err=True)
    if report.needs_operator:
        click.echo(
            f"attention: {report.needs_operator} deliveries are dead or unknown (see `syndicator status`)",
            err=True,
        )
    if verbosity < 0:
        return
    words = {
        "sent": "published",
        "update": "updated",
        "correct": "corrected",
        "retract": "retracted",
        "retracted": "retracted",
        "waiting": "waiting",
    }
    for o in report.outcomes:
        if o.state.startswith("would-"):
            click.echo(f"would {o.state[6:]}: {o.release_key} -> {o.channel}")
        elif o.state in words:
            tail = f" {o.url}" if o.url else (f" ({o.detail})" if o.detail else "")
            click.echo(f"{words[o.state]}: {o.release_key} -> {o.channel}{tail}")
    for key in sorted(report.fresh & set(report.held)):
        click.echo(f"held: {key}: {report.held[key]}")
    if verbosity > 0:
        for key in sorted(set(report.held) - report.fresh):
            click.echo(f"held: {key}: {report.held[key]}")
    sent = report.count("sent")
    would = sum(1 for o in report.outcomes if o.state.startswith("would-"))
    parts = [f"{would} would be published" if report.dry_run else f"{sent} published"]
    if report.held:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(report.held_reasons.items()))
        parts.append(f"{len(report.held)} held ({reasons})")
    failed = len(report.problems)
    if failed:
        parts.append(f"{failed} failed")
    if report.source_errors:
        parts.append(f"{len(report.source_errors)} source errors")
    if report.not_backfilled and verbosity > 0:
        parts.append(f"{report.not_backfilled} older deliveries skipped (backfill = false)")
    if report.text_awaited:
        parts.append(
            f"{report.text_awaited} older deliveries wait for their text from the sources (keep_text)"
        )
    new = f"{len(report.new)} new, {len(report.changed)} changed; "
    click.echo(("dry run: " if report.dry_run else "") + new + "; ".join(parts))


@click.command()
@click.argument("release")
@click.option("--channel", "channels", multiple=True, metavar="NAME", help="Only this channel (repeatable).")
@pass_app
def preview(app: App, release: str, channels: tuple[str, ...]) -> None:
    """Print exactly what each channel would send for RELEASE (a key, an id or a prefix).

    The sources are read first (without keeping anything), so an edited file shows as it
    is now. Nothing is published.
    """
    from ..engine import RunReport

    check_names(app.config().channels, channels, "--channel")
    with app.ledger() as ledger:
        engine = app.engine(ledger.snapshot())
        try:
            engine.collect(RunReport(dry_run=True))
            stored = engine.ledger.find_release(release)
            _preview(engine, stored, channels)
        finally:
            engine.ledger.close()


def _preview(engine: object, stored: object, only: Iterable[str]) -> None:
    from ..engine import Engine
    from ..ledger import StoredRelease
    from ..retry import idempotency_key
    from ..status import release_status

    assert isinstance(engine, Engine) and isinstance(stored, StoredRelease)
    config = engine.config
    status = release_status(stored, engine.ledger.deliveries(release_key=stored.key), config, engine.now())
    click.echo(f"{stored.key}: {stored.release.title}")
    click.echo(f"state: {status.state}" + (f" ({status.reason})" if status.reason else ""))
    if not stored.has_text:  # delivered everywhere, and let go: rendering it now would show no body
        click.echo(
            "its text was let go once every channel had it (keep_text); what each channel was sent"
            " is in its receipt, and the SHA-256 of each payload in `syndicator history`"
        )
        return
    names = [n for n in (only or config.channels) if n in config.channels]
    for name in names:
        cfg = config.channels[name]
        routed = cfg.routes(stored.release.source, stored.release.tags)
        click.echo()
        click.secho(
            f"── {name} ({cfg.type}){'' if routed else ' — not routed to this channel'} ──", bold=True
        )
        rt = engine.runtime(name)
        ctx = rt.make_context(
            idempotency_key=idempotency_key(stored.key, name, stored.release.content_hash), dry_run=True
        )
        try:
            post = rt.channel.render(stored.release, ctx)
        except Exception as exc:
            click.echo(f"render failed: {exc}", err=True)
            continue
        lengths = post.extra.get("lengths") or []
        limit = post.extra.get("limit")
        if len(post.parts) > 1:
            for i, part in enumerate(post.parts, 1):
                counted = f" ({lengths[i - 1]}/{limit})" if len(lengths) >= i and limit else ""
                click.echo(f"[{i}/{len(post.parts)}]{counted}\n{part}\n")
        else:
            click.echo(post.text)
            if lengths and limit:
                click.echo(f"({lengths[0]}/{limit} as the platform counts)")
        for media in post.media:
            click.echo(f"[{media.kind}] {media.location}" + (f" — alt: {media.alt}" if media.alt else ""))


@click.command()
@click.argument("release")
@click.option("--by", "by", required=True, metavar="NAME", help="Who approves (recorded in the audit trail).")
@pass_app
def approve(app: App, release: str, by: str) -> None:
    """Approve RELEASE as its content is now; any later edit needs a new approval.

    The release's source is read first, so what you approve is what is on disk or in the
    feed at this moment. It goes out on the next run.
    """
    from ..engine import RunReport
    from ..ledger import utcnow
    from ..lock import run_lock

    if not by.strip():
        raise click.BadParameter("give the approver's name", param_hint="--by")
    with run_lock(app.config().state_path), app.ledger() as ledger:
        engine = app.engine(ledger)
        report = RunReport()
        engine.collect(report)  # approve what the sources hold now, not what the last run saw
        for message in report.source_errors:
            click.echo(f"source error: {message}", err=True)
        stored = ledger.find_release(release)
        pinned = ledger.approve(stored.key, by.strip(), utcnow())
    click.echo(f"approved {stored.key} ({stored.release.title}) by {by.strip()}")
    click.echo(f"content {pinned.approved_hash}; it goes out on the next run")
