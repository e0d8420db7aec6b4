"""The ``syndicator`` command line: the only place errors become messages and exit codes.

``build_cli(pm)`` makes a fresh click group for a plugin manager, so tests build their
own; ``main()`` is the console script. Exit codes: 0 all good; 1 a delivery failed or
needs an operator; 2 usage or configuration error; 75 another run holds the lock.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import __version__
from ..errors import ConfigError, LockedError, PluginError, ReleaseNotFound, StateError, SyndicatorError

if TYPE_CHECKING:
    import pluggy

    from ..config import Config
    from ..engine import Engine
    from ..ledger import Ledger

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 75


@dataclass
class App:
    """What every command shares: the plugin manager, the config path and verbosity."""

    pm: pluggy.PluginManager
    config_option: str | None = None
    verbosity: int = 0
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            from ..config import find_config_path, load_config

            self._config = load_config(find_config_path(self.config_option), self.pm)
        return self._config

    def try_config(self) -> Config | None:
        """The config if it loads, else None (for commands that also work without one)."""
        try:
            return self.config()
        except SyndicatorError:
            return None

    def reload(self) -> None:
        """Forget the loaded config, so the next use reads the file again."""
        self._config = None

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        from ..ledger import Ledger

        with Ledger.open(self.config().state_path) as ledger:
            yield ledger

    def engine(self, ledger: Ledger, actor: str | None = None) -> Engine:
        from ..engine import Engine

        return Engine(self.config(), self.pm, ledger, actor=actor or default_actor())


pass_app = click.make_pass_decorator(App)


def default_actor() -> str:
    """Who the audit trail names for a run: "cron" when unattended, else the login name."""
    if not sys.stdin.isatty():
        return "cron"
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


class SyndicatorGroup(click.Group):
    """Turns syndicator's typed errors into one clear message and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            fail(ctx, EXIT_USAGE)
        except LockedError as exc:
            click.echo(f"syndicator: {exc}", err=True)
            fail(ctx, EXIT_LOCKED)
        except (ReleaseNotFound, PluginError, StateError) as exc:
            click.echo(f"error: {exc}", err=True)
            fail(ctx, EXIT_USAGE)
        except SyndicatorError as exc:
            click.echo(f"error: {exc}", err=True)
            fail(ctx, EXIT_PROBLEMS)


def fail(ctx: click.Context, code: int) -> NoReturn:
    ctx.exit(code)
    raise AssertionError("unreachable")  # ctx.exit raises


def build_cli(pm: pluggy.PluginManager) -> click.Group:
    """A fresh ``syndicator`` command group wired to ``pm``, with plugin commands added."""

    @click.group(cls=SyndicatorGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "-V", "--version", prog_name="syndicator")
    @click.option(
        "-c",
        "--config",
        "config_option",
        metavar="PATH",
        envvar="SYNDICATOR_CONFIG",
        help="Configuration file (default: ./syndicator.toml; or set SYNDICATOR_CONFIG).",
    )
    @click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug).")
    @click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
    @click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        envvar="SYNDICATOR_LOG_FORMAT",
        help="json: one event per line, for log collectors.",
    )
    @click.option(
        "--log-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SYNDICATOR_LOG_FILE",
        help="Also log to this file (every delivery, at least at INFO).",
    )
    @click.option(
        "--plugins-dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        envvar="SYNDICATOR_PLUGINS_DIR",
        help="Load one-off plugin modules (*.py) from this folder.",
    )
    @click.pass_context
    def cli(
        ctx: click.Context,
        config_option: str | None,
        verbose: int,
        quiet: bool,
        log_format: str,
        log_file: Path | None,
        plugins_dir: Path | None,
    ) -> None:
        """Publish approved press releases to websites, social media and messaging, exactly once.

        Every run is the same step: collect releases from the sources, hold what is not
        approved (or changed since approval, or embargoed), and deliver the rest to each
        channel once, recording everything in the ledger.
        """
        from .logs import setup_logging

        verbosity = -1 if quiet else verbose
        setup_logging(verbosity, log_format, log_file)
        if os.environ.get("NO_COLOR"):
            ctx.color = False
        if plugins_dir is not None:
            from ..plugins import load_plugins_dir

            load_plugins_dir(pm, plugins_dir)
        ctx.obj = App(pm, config_option, verbosity)

    from . import admin, inspect, operate, plugin, report, run

    for module in (run, inspect, operate, admin, plugin, report):
        module.register(cli)
    pm.hook.register_commands(cli=cli)
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    from ..plugins import get_plugin_manager

    try:
        pm = get_plugin_manager()
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    build_cli(pm)(args=args, prog_name="syndicator")
