"""The entry points name every first-party channel lazily, and each name resolves."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib import metadata

import syndicator_channels
from syndicator_channels.registry import LazyChannel

from syndicator.channel import Channel
from syndicator.plugins import channel_types, get_plugin_manager


def _first_party_entry_points() -> dict[str, metadata.EntryPoint]:
    return {
        ep.name: ep
        for ep in metadata.entry_points(group="syndicator")
        if ep.value.startswith("syndicator_channels.")
    }


def _channel_classes() -> dict[str, type[Channel]]:
    found = {}
    for info in pkgutil.iter_modules(syndicator_channels.__path__):
        module = importlib.import_module(f"syndicator_channels.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Channel) and cls.__module__ == module.__name__ and cls.type:
                found[cls.type] = cls
    return found


def test_each_entry_point_registers_its_channel_by_name_and_it_resolves() -> None:
    eps = _first_party_entry_points()
    classes = _channel_classes()
    assert set(eps) == set(classes)  # no channel class without its entry point
    table = channel_types(get_plugin_manager(disabled=()))
    for name, ep in eps.items():
        assert isinstance(ep.load(), LazyChannel)
        assert table[name].plugin == name and table[name].cls is classes[name]
