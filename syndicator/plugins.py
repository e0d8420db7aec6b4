"""The plugin manager factory and the tables of channel and source types.

Nothing happens at import time: tests and the CLI each build their own manager.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .channel import Channel
from .errors import PluginError
from .sources.base import Source

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "syndicator"
DISABLE_ENV = "SYNDICATOR_DISABLE_PLUGINS"

#: Core plugins, loaded by dotted name. Channels live in the separate ``plugins/``
#: distribution and arrive through entry points, exactly like third-party ones.
BUILTIN_PLUGINS = (
    "syndicator.sources.directory",
    "syndicator.sources.rss",
    "syndicator.approval",
)


def disabled_names(environ: dict[str, str] | None = None) -> set[str]:
    value = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return {name.strip() for name in value.split(",") if name.strip()}


def get_plugin_manager(
    *,
    load_entry_points: bool = True,
    disabled: Iterable[str] | None = None,
    plugins_dir: Path | None = None,
) -> pluggy.PluginManager:
    """A fresh plugin manager with the hookspecs, built-ins and installed plugins.

    Plugins named in ``SYNDICATOR_DISABLE_PLUGINS`` (comma-separated plugin or module
    names) are blocked before anything loads them.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = disabled_names() if disabled is None else set(disabled)
    for name in blocked:
        pm.set_blocked(name)
    for dotted in BUILTIN_PLUGINS:
        if dotted in blocked:
            continue
        pm.register(importlib.import_module(dotted), name=dotted)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    if plugins_dir is not None:
        load_plugins_dir(pm, plugins_dir)
    pm.check_pending()
    return pm


def load_plugins_dir(pm: pluggy.PluginManager, folder: Path) -> None:
    """Register each ``*.py`` file in ``folder`` as a plugin (one-off local plugins)."""
    import importlib.util

    for path in sorted(folder.glob("*.py")):
        name = f"syndicator_local_{path.stem}"
        if pm.is_blocked(path.stem) or pm.has_plugin(name):
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"{path}: cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a one-off plugin with a bug: name the file, not a traceback
            raise PluginError(f"{path}: cannot load the plugin: {type(exc).__name__}: {exc}") from exc
        pm.register(module, name=name)


@dataclass(frozen=True)
class Registration:
    cls: Any
    plugin: str


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or str(getattr(plugin, "__name__", repr(plugin)))


def _collect(pm: pluggy.PluginManager, hook_name: str, base: type, kind: str) -> dict[str, Registration]:
    table: dict[str, Registration] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        plugin = _plugin_name(pm, impl.plugin)

        def register(cls: type, _plugin: str = plugin) -> None:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise PluginError(f"plugin {_plugin} registered {cls!r}, which is not a {base.__name__}")
            name = getattr(cls, "type", "")
            if not name:
                raise PluginError(f"plugin {_plugin}: {cls.__name__} has no 'type' name")
            if name in table:
                other = table[name].plugin
                raise PluginError(
                    f"{kind} type {name!r} is registered twice: by plugin {other} "
                    f"({table[name].cls.__name__}) and by plugin {_plugin} ({cls.__name__})"
                )
            table[name] = Registration(cls, _plugin)

        impl.function(register=register)
    return table


def channel_types(pm: pluggy.PluginManager) -> dict[str, Registration]:
    """Every registered channel type, by name. Duplicate names raise PluginError."""
    return _collect(pm, "register_channels", Channel, "channel")


def source_types(pm: pluggy.PluginManager) -> dict[str, Registration]:
    return _collect(pm, "register_sources", Source, "source")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    distribution: str


def _version_of(plugin: Any, dist_by_plugin: dict[int, Any]) -> tuple[str, str]:
    dist = dist_by_plugin.get(id(plugin))
    if dist is not None:
        return dist.metadata["name"], dist.version
    module = plugin if isinstance(plugin, ModuleType) else None
    top = (module.__name__ if module else type(plugin).__module__).split(".")[0]
    try:
        return top, metadata.version(top)
    except metadata.PackageNotFoundError:
        return top, "-"


def plugin_infos(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Each registered plugin with its distribution version and the hooks it implements."""
    dist_by_plugin = {id(p): d for p, d in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        dist, version = _version_of(plugin, dist_by_plugin)
        infos.append(PluginInfo(name, version, hooks, dist))
    return sorted(infos, key=lambda i: i.name)
