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


class Registration:
    """One registered channel or source type: its class, imported on first use when the
    plugin named it as ``"module:Class"`` (:meth:`Registrar.lazy`)."""

    def __init__(
        self, plugin: str, type_name: str, base: type, cls: type | None = None, target: str = ""
    ) -> None:
        self.plugin, self.type_name, self._base = plugin, type_name, base
        self._cls, self.target = cls, target

    @property
    def dotted(self) -> str:
        """Where the class lives, as ``"module:Class"``."""
        return self.target or f"{self.cls.__module__}:{self.cls.__qualname__}"

    @property
    def cls(self) -> Any:
        if self._cls is None:
            self._cls = self._load()
        return self._cls

    def _load(self) -> type:
        module_name, _, attribute = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:  # a plugin that cannot load fails its own type, named
            raise PluginError(
                f"plugin {self.plugin}: cannot load {self.target} (type {self.type_name!r}):"
                f" {type(exc).__name__}: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise PluginError(f"plugin {self.plugin}: {self.target} is not a {self._base.__name__}")
        if getattr(cls, "type", "") != self.type_name:
            raise PluginError(
                f"plugin {self.plugin}: {self.target} has type {getattr(cls, 'type', '')!r},"
                f" not {self.type_name!r} as registered"
            )
        return cls


class Registrar:
    """The ``register`` callback the ``register_channels`` and ``register_sources`` hooks get."""

    def __init__(self, table: dict[str, Registration], base: type, kind: str, plugin: str) -> None:
        self._table, self._base, self._kind, self._plugin = table, base, kind, plugin

    def __call__(self, cls: type) -> None:
        """Register ``cls``, a subclass of the base class, under its ``type`` name."""
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise PluginError(
                f"plugin {self._plugin} registered {cls!r}, which is not a {self._base.__name__}"
            )
        name = getattr(cls, "type", "")
        if not name:
            raise PluginError(f"plugin {self._plugin}: {cls.__name__} has no 'type' name")
        self._add(Registration(self._plugin, name, self._base, cls=cls), cls.__name__)

    def lazy(self, type_name: str, target: str) -> None:
        """Register the class ``target`` ("package.module:Class") under ``type_name`` without
        importing it: its module loads only when a config uses the type, so a tick does not
        pay for every channel installed."""
        module_name, colon, attribute = target.partition(":")
        if not (type_name and module_name and colon and attribute):
            raise PluginError(
                f"plugin {self._plugin}: lazy({type_name!r}, {target!r}) needs a type name and 'module:Class'"
            )
        self._add(Registration(self._plugin, type_name, self._base, target=target), target)

    def _add(self, registration: Registration, what: str) -> None:
        name = registration.type_name
        if name in self._table:
            other = self._table[name]
            if other.dotted == registration.dotted:  # one class, named lazily and registered itself
                return
            raise PluginError(
                f"{self._kind} type {name!r} is registered twice: by plugin {other.plugin} "
                f"({other.target or other.cls.__name__}) and by plugin {self._plugin} ({what})"
            )
        self._table[name] = registration


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or str(getattr(plugin, "__name__", repr(plugin)))


def _collect(pm: pluggy.PluginManager, hook_name: str, base: type, kind: str) -> dict[str, Registration]:
    table: dict[str, Registration] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        impl.function(register=Registrar(table, base, kind, _plugin_name(pm, impl.plugin)))
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
