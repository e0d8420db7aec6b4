"""``syndicator plugin new NAME``: start a channel plugin package."""

from __future__ import annotations

from pathlib import Path

import click

from . import App, pass_app


def register(cli: click.Group) -> None:
    cli.add_command(plugin)


@click.group()
def plugin() -> None:
    """Write a new plugin package (see docs/plugins.md)."""


@plugin.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    default=".",
    show_default=True,
    metavar="PATH",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the package folder syndicator-NAME/ into.",
)
@pass_app
def new(app: App, name: str, parent: Path) -> None:
    """Write a ready channel plugin package syndicator-NAME/ with tests that pass.

    NAME is the channel type used in the config ([channels.X] type = "NAME"): lowercase
    letters and digits, words joined by '-' or '_'. The channel POSTs each release as JSON
    with an idempotency key; change it to speak your platform's API.
    """
    from ..plugins import channel_types
    from ..scaffold import ScaffoldError, write_plugin

    try:
        written = write_plugin(name, parent, taken=channel_types(app.pm))
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    root = written[0].parent
    click.echo("next:")
    click.echo(f"  cd {root}")
    click.echo("  pip install -e '.[test]'")
    click.echo("  pytest")
