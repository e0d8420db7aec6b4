"""Commands that set up and explain: init, plugins, channels, config check."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, App, pass_app
from .inspect import echo_json, table


def register(cli: click.Group) -> None:
    cli.add_command(init)
    cli.add_command(plugins)
    cli.add_command(channels)
    cli.add_command(config)


def _type_name(kind: object) -> str:
    if isinstance(kind, tuple):
        return " or ".join(_type_name(k) for k in kind)
    return getattr(kind, "__name__", str(kind))


@click.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(folder: Path, force: bool) -> None:
    """Write a starter syndicator.toml and a sample release into FOLDER."""
    from ..starter import write_starter

    try:
        written = write_starter(folder, force=force)
    except FileExistsError as exc:
        click.echo(f"error: {exc}", err=True)
        click.get_current_context().exit(EXIT_USAGE)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: edit {written[0]}, then `syndicator --config {written[0]} run --dry-run`")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def plugins(app: App, as_json: bool) -> None:
    """Every loaded plugin, its version and the hooks it implements."""
    from ..plugins import plugin_infos

    app.try_config()  # a config's plugins_dir adds plugins to list
    infos = plugin_infos(app.pm)
    if as_json:
        echo_json(
            [
                {"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": list(i.hooks)}
                for i in infos
            ]
        )
        return
    table(
        [[i.name, f"{i.distribution} {i.version}", ", ".join(i.hooks)] for i in infos],
        ["PLUGIN", "VERSION", "HOOKS"],
    )


@click.group()
def channels() -> None:
    """The channel types plugins provide, and the channels configured."""


@channels.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def channels_list(app: App, as_json: bool) -> None:
    """Available channel types (with their options) and the configured channels."""
    from ..plugins import channel_types

    app.try_config()  # a config's plugins_dir adds channel types
    types = channel_types(app.pm)
    data = {
        name: {
            "plugin": reg.plugin,
            "description": reg.cls.description,
            "idempotency": reg.cls.idempotency,
            "options": {
                o.name: {
                    "type": _type_name(o.type),
                    "required": o.required,
                    "secret": o.secret,
                    "help": o.help,
                }
                for o in reg.cls.options
            },
        }
        for name, reg in sorted(types.items())
    }
    configured = {}
    try:
        configured = {n: c.describe() for n, c in app.config().channels.items()}
    except Exception as exc:  # listing types must work without a valid config
        click.echo(f"(no configured channels: {str(exc).splitlines()[0]})", err=True)
    if as_json:
        echo_json({"types": data, "configured": configured})
        return
    click.echo("channel types:")
    for name, info in data.items():
        click.echo(f"  {name:<12} {info['description']} [{info['plugin']}]")
        for opt, o in info["options"].items():
            flags = ", ".join(
                f for f, on in (("required", o["required"]), ("secret: env only", o["secret"])) if on
            )
            click.echo(f"      {opt} ({o['type']}{', ' + flags if flags else ''}): {o['help']}")
    if configured:
        click.echo("configured:")
        for name, desc in configured.items():
            click.echo(
                f"  {name:<12} type={desc['type']}" + ("" if desc.get("enabled", True) else " (disabled)")
            )


@channels.command("check")
@click.argument("names", nargs=-1, metavar="[CHANNEL]...")
@pass_app
def channels_check(app: App, names: tuple[str, ...]) -> None:
    """Verify each channel's credentials and reachability, posting nothing."""
    from ..engine import Engine

    cfg = app.config()
    unknown = [n for n in names if n not in cfg.channels]
    if unknown:
        raise click.BadParameter(f"no channel named {', '.join(unknown)}", param_hint="CHANNEL")
    failed = 0
    with app.ledger() as ledger:
        engine = Engine(cfg, app.pm, ledger)
        for name in names or tuple(cfg.channels):
            rt = engine.runtime(name)
            try:
                message = rt.channel.check(rt.make_context(dry_run=True))
                click.echo(f"ok: {name}: {message}")
            except Exception as exc:
                failed += 1
                click.echo(f"failed: {name}: {exc}", err=True)
    click.get_current_context().exit(EXIT_PROBLEMS if failed else EXIT_OK)


@click.group()
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def config_check(app: App, as_json: bool) -> None:
    """Validate the configuration and print it resolved, secrets redacted.

    Every problem is listed at once, with the file, the table and the key; exit code 2.
    """
    cfg = app.config()
    data = cfg.describe()
    if as_json:
        echo_json(data)
        return
    click.echo(f"# {cfg.path}: ok")
    for section, body in data.items():
        if section == "syndicator":
            click.echo("\n[syndicator]")
            for k, v in body.items():
                click.echo(f"{k} = {json.dumps(v, ensure_ascii=False)}")
            continue
        for name, values in body.items():
            click.echo(f"\n[{section}.{name}]")
            for k, v in values.items():
                click.echo(f"{k} = {json.dumps(v, ensure_ascii=False, default=str)}")
