"""The monthly report: ``syndicator report --month 2026-11 [--format html|csv|json] [-o FILE]``."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import click

from . import App, pass_app

_SUFFIXES = {".html": "html", ".htm": "html", ".csv": "csv", ".json": "json"}


def register(cli: click.Group) -> None:
    cli.add_command(report)


@click.command()
@click.option(
    "--month",
    required=True,
    metavar="YYYY-MM",
    help='The month to report, counted in the config\'s time zone; or "last" or "this".',
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "csv", "json"]),
    help="html: one printable file with charts; csv: one row per release and channel; json: everything."
    "  [default: from the --output suffix, else html]",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output); {month} in the name becomes the month, "
    "e.g. laporan/laporan-{month}.html. Missing folders are created.",
)
@click.option(
    "--lang",
    type=click.Choice(["id", "en"]),
    default="id",
    show_default=True,
    help="Language of the HTML report's words.",
)
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help="Report as if it were this moment (ISO 8601; the config's zone if none is given): "
    "the generated-at line and the end of a current month. For reproducible reports.",
)
@pass_app
def report(
    app: App, month: str, fmt: str | None, output: Path | None, lang: str, now_text: str | None
) -> None:
    """A month's publication report: per agency and per channel, releases received, approved,
    published, held (by reason), failed and retracted; the median and longest time from
    approval to publication; every release with links to its published copies.

    The same ledger gives the same report (a past month does not change with the day it is
    made, except for the generated-at line).
    """
    from ..ledger import utcnow
    from ..report import Month, build_report, render

    config = app.config()
    zone = config.timezone
    now = utcnow()
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter(
                f"expected a date and time like 2026-12-01T08:00, got {now_text!r}", param_hint="--now"
            ) from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=zone)
    try:
        wanted = Month.parse(month, now.astimezone(zone).date())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    if output is not None and "{month}" in str(output):
        output = Path(str(output).replace("{month}", str(wanted)))
    fmt = fmt or (_SUFFIXES.get(output.suffix.lower(), "html") if output else "html")
    with app.ledger() as ledger:
        try:
            built = build_report(ledger, config, wanted, now)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--month") from None
    text = render(built, fmt, lang)
    if output is None:
        click.echo(text, nl=False)
        return
    _write(output, text.encode("utf-8"))
    if app.verbosity >= 0:
        click.echo(f"report for {wanted}: {len(built.releases)} releases, written to {output}", err=True)


def _write(path: Path, data: bytes) -> None:
    """Write whole or not at all: a reader never sees half a report."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise click.BadParameter(f"cannot write to {folder}: {exc.strerror}", param_hint="--output") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
