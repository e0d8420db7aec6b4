"""The plugin manager: built-ins, entry points, one-off local plugins, type tables, laziness.

Every test builds its own manager with ``get_plugin_manager``; nothing is registered
globally, so tests cannot leak plugins into each other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy
import pytest

from syndicator import __version__, hookimpl
from syndicator.channel import Channel
from syndicator.config import load_config
from syndicator.errors import ConfigError, PluginError
from syndicator.plugins import (
    BUILTIN_PLUGINS,
    DISABLE_ENV,
    channel_types,
    get_plugin_manager,
    plugin_infos,
    source_types,
)
from syndicator.sources.base import Source

FIRST_PARTY_CHANNELS = {"website", "webhook", "email", "slack", "matrix"}
HEAVY = ("requests", "feedparser", "jinja2")


def bare() -> pluggy.PluginManager:
    """Built-ins only: no entry points, nothing disabled."""
    return get_plugin_manager(load_entry_points=False, disabled=())


class FaxChannel(Channel):
    type = "fax"


class OtherFaxChannel(Channel):
    type = "fax"


class PigeonSource(Source):
    type = "pigeon"


class RegistersChannels:
    def __init__(self, *classes: Any) -> None:
        self.classes = classes

    @hookimpl
    def register_channels(self, register: Callable[[Any], None]) -> None:
        for cls in self.classes:
            register(cls)


class RegistersSources:
    def __init__(self, *classes: Any) -> None:
        self.classes = classes

    @hookimpl
    def register_sources(self, register: Callable[[Any], None]) -> None:
        for cls in self.classes:
            register(cls)


# -- built-ins and entry points ---------------------------------------------------------------------


def test_a_fresh_manager_has_the_built_in_sources_and_approval_policy() -> None:
    pm = bare()
    assert {name for name, _ in pm.list_name_plugin()} == set(BUILTIN_PLUGINS)
    sources = source_types(pm)
    assert set(sources) == {"directory", "rss"}
    assert sources["rss"].plugin == "syndicator.sources.rss"
    assert channel_types(pm) == {}  # channels arrive through entry points only


def test_each_manager_is_fresh() -> None:
    first, second = bare(), bare()
    first.register(RegistersChannels(FaxChannel), name="fax-plugin")
    assert "fax" in channel_types(first)
    assert "fax" not in channel_types(second)


def test_entry_points_provide_the_first_party_channels() -> None:
    table = channel_types(get_plugin_manager(disabled=()))
    assert set(table) >= FIRST_PARTY_CHANNELS
    for name in FIRST_PARTY_CHANNELS:
        assert table[name].plugin == name  # the entry point's name
        assert issubclass(table[name].cls, Channel) and table[name].cls.type == name


# -- lazy registration -----------------------------------------------------------------------------


class RegistersLazily:
    def __init__(self, type_name: str, target: str) -> None:
        self.type_name, self.target = type_name, target

    @hookimpl
    def register_channels(self, register: Any) -> None:
        register.lazy(self.type_name, self.target)


def test_a_lazily_registered_channel_is_imported_only_when_used(tmp_path: Path) -> None:
    (tmp_path / "fax_plugin_lazy.py").write_text(
        "from syndicator.channel import Channel\nclass Fax(Channel):\n    type = 'fax'\n", encoding="utf-8"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        pm = bare()
        pm.register(RegistersLazily("fax", "fax_plugin_lazy:Fax"), name="fax-plugin")
        table = channel_types(pm)
        assert "fax_plugin_lazy" not in sys.modules
        assert table["fax"].plugin == "fax-plugin" and table["fax"].cls.type == "fax"
        assert "fax_plugin_lazy" in sys.modules
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("fax_plugin_lazy", None)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("no_such_module_here:Fax", "cannot load no_such_module_here:Fax (type 'fax'): ModuleNotFoundError"),
        ("syndicator.sources.rss:RssSource", "syndicator.sources.rss:RssSource is not a Channel"),
        ("syndicator_channels.webhook:WebhookChannel", "has type 'webhook', not 'fax' as registered"),
    ],
)
def test_a_lazy_type_that_cannot_load_is_an_error_naming_the_plugin(target: str, expected: str) -> None:
    pm = bare()
    pm.register(RegistersLazily("fax", target), name="fax-plugin")
    registration = channel_types(pm)["fax"]  # nothing is imported yet, so nothing fails yet
    with pytest.raises(PluginError) as caught:
        registration.cls  # noqa: B018
    assert str(caught.value).startswith("plugin fax-plugin: ") and expected in str(caught.value)


def test_a_lazy_type_that_cannot_load_is_a_config_error_naming_the_channel(tmp_path: Path) -> None:
    pm = bare()
    pm.register(RegistersLazily("fax", "no_such_module_here:Fax"), name="fax-plugin")
    path = tmp_path / "syndicator.toml"
    path.write_text('[channels.kantor]\ntype = "fax"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, pm, environ={})
    (problem,) = caught.value.problems
    assert (problem.table, problem.key) == ("channels.kantor", "type")
    assert "fax-plugin" in problem.message and "no_such_module_here" in problem.message


def test_a_lazy_registration_needs_a_module_and_a_class() -> None:
    pm = bare()
    pm.register(RegistersLazily("fax", "fax_plugin_without_class"), name="fax-plugin")
    with pytest.raises(PluginError, match="needs a type name and 'module:Class'"):
        channel_types(pm)


def test_one_class_registered_lazily_and_by_its_own_module_is_one_type() -> None:
    from syndicator_channels import webhook

    pm = get_plugin_manager(disabled=())
    pm.register(webhook, name="webhook-module")  # as a test kit's register_plugin(module) does
    table = channel_types(pm)
    assert table["webhook"].plugin == "webhook" and table["webhook"].cls is webhook.WebhookChannel


def test_two_plugins_naming_different_classes_for_one_type_lazily_is_an_error_naming_both() -> None:
    pm = bare()
    pm.register(RegistersLazily("fax", "fax_plugin_elsewhere:Fax"), name="alpha-fax")
    pm.register(RegistersChannels(OtherFaxChannel), name="beta-fax")
    with pytest.raises(PluginError) as caught:
        channel_types(pm)
    message = str(caught.value)
    assert "alpha-fax (fax_plugin_elsewhere:Fax)" in message and "beta-fax (OtherFaxChannel)" in message


# -- duplicate type names ----------------------------------------------------------------------------


def test_two_plugins_registering_one_channel_type_is_an_error_naming_both() -> None:
    pm = bare()
    pm.register(RegistersChannels(FaxChannel), name="alpha-fax")
    pm.register(RegistersChannels(OtherFaxChannel), name="beta-fax")
    with pytest.raises(PluginError) as caught:
        channel_types(pm)
    message = str(caught.value)
    assert "channel type 'fax' is registered twice" in message
    assert "alpha-fax" in message and "beta-fax" in message
    assert "FaxChannel" in message and "OtherFaxChannel" in message


def test_two_plugins_registering_one_source_type_is_an_error_naming_both() -> None:
    pm = bare()
    pm.register(RegistersSources(PigeonSource), name="alpha-pigeon")
    pm.register(RegistersSources(type("PigeonAgain", (Source,), {"type": "pigeon"})), name="beta-pigeon")
    with pytest.raises(PluginError) as caught:
        source_types(pm)
    message = str(caught.value)
    assert "source type 'pigeon' is registered twice" in message
    assert "alpha-pigeon" in message and "beta-pigeon" in message


def test_a_plugin_claiming_a_built_in_type_name_is_an_error_naming_the_built_in() -> None:
    pm = bare()
    pm.register(RegistersSources(type("MyRss", (Source,), {"type": "rss"})), name="my-rss")
    with pytest.raises(PluginError) as caught:
        source_types(pm)
    assert "syndicator.sources.rss" in str(caught.value) and "my-rss" in str(caught.value)


def test_a_duplicate_type_is_a_config_error_when_the_config_loads(tmp_path: Path) -> None:
    pm = bare()
    pm.register(RegistersChannels(FaxChannel), name="alpha-fax")
    pm.register(RegistersChannels(OtherFaxChannel), name="beta-fax")
    path = tmp_path / "syndicator.toml"
    path.write_text("[syndicator]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, pm, environ={})
    (problem,) = caught.value.problems
    assert problem.file == str(path) and "alpha-fax" in problem.message and "beta-fax" in problem.message


# -- disabling -------------------------------------------------------------------------------------


def test_syndicator_disable_plugins_removes_a_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "website")
    pm = get_plugin_manager()
    assert pm.get_plugin("website") is None and pm.is_blocked("website")
    table = channel_types(pm)
    assert "website" not in table and "webhook" in table


def test_syndicator_disable_plugins_takes_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, " website , syndicator.sources.rss,")
    pm = get_plugin_manager()
    assert "website" not in channel_types(pm)
    assert set(source_types(pm)) == {"directory"}


def test_the_disabled_argument_removes_a_plugin_and_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "webhook")
    pm = get_plugin_manager(disabled=["website"])
    table = channel_types(pm)
    assert "website" not in table and "webhook" in table
    assert set(channel_types(get_plugin_manager(disabled=()))) >= FIRST_PARTY_CHANNELS


# -- one-off plugins in plugins_dir ---------------------------------------------------------------------

FAX_PLUGIN = '''
"""A one-off local channel."""
from syndicator import hookimpl
from syndicator.channel import Channel


class LocalFax(Channel):
    type = "local-fax"
    description = "sends a fax"


@hookimpl
def register_channels(register):
    register(LocalFax)
'''


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "fax.py").write_text(FAX_PLUGIN, encoding="utf-8")
    (folder / "README.md").write_text("not a plugin", encoding="utf-8")
    (folder / "notes.txt").write_text("raise SystemExit('not python')", encoding="utf-8")
    return folder


def test_plugins_dir_registers_each_python_file_as_a_plugin(plugins_dir: Path) -> None:
    pm = get_plugin_manager(load_entry_points=False, disabled=(), plugins_dir=plugins_dir)
    table = channel_types(pm)
    assert set(table) == {"local-fax"}
    assert table["local-fax"].plugin == "syndicator_local_fax"
    assert table["local-fax"].cls.description == "sends a fax"


def test_a_local_plugin_can_be_disabled_by_its_file_name(plugins_dir: Path) -> None:
    pm = get_plugin_manager(load_entry_points=False, disabled=["fax"], plugins_dir=plugins_dir)
    assert channel_types(pm) == {}


def test_the_config_plugins_dir_makes_local_channel_types_usable(plugins_dir: Path) -> None:
    path = plugins_dir.parent / "syndicator.toml"
    path.write_text('[syndicator]\nplugins_dir = "plugins"\n\n[channels.fax]\ntype = "local-fax"\n')
    config = load_config(path, bare(), environ={})
    assert config.channels["fax"].cls.__name__ == "LocalFax"


BROKEN = {
    "syntax-error": "def register_channels(:\n",
    "raises-on-import": "raise RuntimeError('the fax modem is unplugged')\n",
    "missing-dependency": "import syndicator_no_such_fax_library\n",
}


@pytest.mark.parametrize("body", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_local_plugin_is_a_plugin_error_naming_the_file(tmp_path: Path, body: str) -> None:
    (tmp_path / "broken_fax.py").write_text(body, encoding="utf-8")
    with pytest.raises(PluginError, match=r"broken_fax\.py"):
        get_plugin_manager(load_entry_points=False, disabled=(), plugins_dir=tmp_path)


@pytest.mark.parametrize("body", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_local_plugin_named_in_the_config_is_a_config_problem(tmp_path: Path, body: str) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken_fax.py").write_text(body, encoding="utf-8")
    path = tmp_path / "syndicator.toml"
    path.write_text('[syndicator]\nplugins_dir = "plugins"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, bare(), environ={})
    (problem,) = caught.value.problems
    assert (problem.file, problem.table, problem.key) == (str(path), "syndicator", "plugins_dir")
    assert problem.message.startswith("cannot load plugin: ")


@pytest.mark.parametrize("kind", ["raises-on-import", "missing-dependency"])
def test_a_broken_local_plugin_in_the_config_names_the_file(tmp_path: Path, kind: str) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken_fax.py").write_text(BROKEN[kind], encoding="utf-8")
    path = tmp_path / "syndicator.toml"
    path.write_text('[syndicator]\nplugins_dir = "plugins"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, bare(), environ={})
    assert "broken_fax.py" in caught.value.problems[0].message


# -- plugin_infos -----------------------------------------------------------------------------------


def test_plugin_infos_lists_name_distribution_version_and_hooks(plugins_dir: Path) -> None:
    infos = {i.name: i for i in plugin_infos(get_plugin_manager(disabled=(), plugins_dir=plugins_dir))}
    channels_version = metadata.version("syndicator-channels")

    assert list(infos) == sorted(infos)
    for name in FIRST_PARTY_CHANNELS:
        info = infos[name]
        assert (info.distribution, info.version, info.hooks) == (
            "syndicator-channels",
            channels_version,
            ("register_channels",),
        )
    rss = infos["syndicator.sources.rss"]
    assert (rss.distribution, rss.version, rss.hooks) == ("syndicator", __version__, ("register_sources",))
    assert infos["syndicator.approval"].hooks == ("approve_release",)
    local = infos["syndicator_local_fax"]
    assert (local.version, local.hooks) == ("-", ("register_channels",))


# -- registering something that is not a channel -------------------------------------------------------


@pytest.mark.parametrize(
    "thing",
    [str, PigeonSource, FaxChannel(), "fax"],
    ids=["a-plain-class", "a-source-class", "an-instance", "a-string"],
)
def test_registering_something_that_is_not_a_channel_class_is_refused(thing: Any) -> None:
    pm = bare()
    pm.register(RegistersChannels(thing), name="confused-plugin")
    with pytest.raises(PluginError) as caught:
        channel_types(pm)
    assert str(caught.value) == f"plugin confused-plugin registered {thing!r}, which is not a Channel"


def test_registering_a_channel_class_as_a_source_is_refused() -> None:
    pm = bare()
    pm.register(RegistersSources(FaxChannel), name="confused-plugin")
    with pytest.raises(PluginError, match=r"registered .*FaxChannel.*, which is not a Source"):
        source_types(pm)


def test_a_channel_class_without_a_type_name_is_refused() -> None:
    pm = bare()
    pm.register(RegistersChannels(type("Nameless", (Channel,), {})), name="nameless-plugin")
    with pytest.raises(PluginError, match="plugin nameless-plugin: Nameless has no 'type' name"):
        channel_types(pm)


# -- nothing heavy at import time ----------------------------------------------------------------------


def python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (no SYNDICATOR_* variables) and return its stdout."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")} | env
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


HEAVY_LOADED = f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"


def test_importing_syndicator_plugins_imports_nothing_heavy_and_registers_nothing() -> None:
    out = python(
        f"import sys, syndicator.plugins\n{HEAVY_LOADED}\nprint('syndicator.sources.rss' in sys.modules)"
    )
    assert out.split("\n")[:2] == ["[]", "False"]


VERSION_WRAPPER = f"""
import sys
from syndicator.cli import main
try:
    main(["--version"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
{HEAVY_LOADED}
"""


def test_syndicator_version_imports_nothing_heavy() -> None:
    out = python(VERSION_WRAPPER)
    assert out.splitlines() == ["syndicator, version " + __version__, "[]"]


def test_syndicator_version_imports_nothing_heavy_without_the_matrix_and_slack_plugins() -> None:
    out = python(VERSION_WRAPPER, **{DISABLE_ENV: "matrix,slack"})
    assert out.splitlines() == ["syndicator, version " + __version__, "[]"]
