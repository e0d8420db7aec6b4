"""Plugin manager and command-line helpers of the test kit: :class:`PluginRegistrar` (the
``register_plugin`` fixture) and :class:`CliInvoker` (the ``cli_runner`` fixture).

PYTEST_DONT_REWRITE: ``pytest_plugins = ["syndicator.testing"]`` marks the whole package for
assertion rewriting; the marker keeps this module as the single-file kit was, unrewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy
    from click.testing import Result


# -- plugin manager and command line -----------------------------------------------------------


class PluginRegistrar:
    """Registers plugins in one plugin manager and takes them out again (the ``register_plugin``
    fixture). A plugin that is already registered (an installed entry point) is left as it is."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._added: list[object] = []

    def __call__(self, plugin: Any, name: str | None = None) -> Any:
        """Register ``plugin`` (a module, class or object with ``@hookimpl`` functions); return it."""
        if not self.pm.is_registered(plugin):
            self.pm.register(plugin, name=name)
            self._added.append(plugin)
        return plugin

    def undo(self) -> None:
        """Unregister every plugin this registrar added, newest first."""
        while self._added:
            plugin = self._added.pop()
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)


class CliInvoker:
    """Runs the ``syndicator`` command line in-process (the ``cli_runner`` fixture).

    Each call builds a fresh command group with ``build_cli(pm)``, as the console script does
    for every process, and returns click's ``Result`` with ``exit_code``, ``stdout`` and
    ``stderr`` apart. ``SYNDICATOR_CONFIG`` from the outside is ignored unless ``env`` sets it.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def __call__(
        self,
        *args: str | Path,
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
        pm: pluggy.PluginManager | None = None,
    ) -> Result:
        import inspect

        from click.testing import CliRunner

        from ..cli import build_cli

        options: dict[str, Any] = {}
        if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:  # click 8.1
            options["mix_stderr"] = False
        merged: dict[str, str | None] = {"SYNDICATOR_CONFIG": None, **(env or {})}
        # The CLI installs one root log handler bound to the stderr of the call that made it;
        # put the handlers back so that the next call gets its own.
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            return CliRunner(**options).invoke(
                build_cli(pm if pm is not None else self.pm),
                [str(a) for a in args],
                env=merged,
                input=input,
            )
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
