"""Loading the TOML configuration: every mistake at once, paths, routing, secrets.

Configs are written as TOML text into a temporary folder and read by the real
``load_config`` with the project's own plugin manager (built-ins plus the webhook channel)
and an explicit ``environ``, so nothing from the outside environment leaks in.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner
from enginekit import plugin_manager, release_text

from syndicator import hookimpl
from syndicator.channel import Channel
from syndicator.cli import build_cli
from syndicator.config import (
    CONFIG_ENV,
    ChannelConfig,
    Config,
    find_config_path,
    load_config,
)
from syndicator.engine import Engine
from syndicator.errors import ConfigError, ConfigProblem
from syndicator.ledger import Ledger
from syndicator.options import Option, Secret
from syndicator.plugins import get_plugin_manager

SECRET_VALUE = "s3cr3t-Hook-Value-9f2c"


class ValidatingChannel(Channel):
    """A test channel whose ``validate`` checks a value beyond its declared type."""

    type = "validating"
    options = (Option("room", str, required=True),)

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        room = options.get("room") or ""
        return [] if room.startswith("!") else [("room", f"must start with '!', got {room!r}")]


class ValidatingPlugin:
    @hookimpl
    def register_channels(self, register: Callable[[type[Channel]], None]) -> None:
        register(ValidatingChannel)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    return plugin_manager(ValidatingPlugin())


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def writer(text: str, name: str = "syndicator.toml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return writer


def load(path: Path, pm: pluggy.PluginManager, **environ: str) -> Config:
    return load_config(path, pm, environ=environ)


def problems(path: Path, pm: pluggy.PluginManager, **environ: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load(path, pm, **environ)
    return caught.value.problems


def where(found: list[ConfigProblem]) -> set[tuple[str, str]]:
    return {(p.table, p.key) for p in found}


def only(found: list[ConfigProblem], table: str, key: str) -> ConfigProblem:
    matching = [p for p in found if (p.table, p.key) == (table, key)]
    assert len(matching) == 1, found
    return matching[0]


GOOD = """
[syndicator]
state = "state/syndicator.db"
timezone = "Asia/Makassar"

[sources.news]
type = "directory"
path = "releases"

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"
"""


def with_line(text: str, table: str, line: str) -> str:
    """``text`` with ``line`` set in ``[table]`` (replacing the line for the same key)."""
    key = line.split("=", 1)[0].strip()
    out: list[str] = []
    current = ""
    for existing in text.splitlines():
        if existing.startswith("["):
            current = existing.strip("[]")
        if current == table and existing.split("=", 1)[0].strip() == key and "=" in existing:
            continue
        out.append(existing)
        if existing == f"[{table}]":
            out.append(line)
    return "\n".join(out) + "\n"


def test_a_good_config_loads_with_defaults_filled_in(write: Callable[..., Path], pm: Any) -> None:
    config = load(write(GOOD), pm)
    assert list(config.sources) == ["news"] and list(config.channels) == ["hook"]
    news, hook = config.sources["news"], config.channels["hook"]
    assert (news.type, news.approval, news.tags, news.enabled) == ("directory", "front-matter", (), True)
    assert (hook.concurrency, hook.max_attempts, hook.backoff, hook.timeout) == (4, 5, 60.0, 30.0)
    assert (hook.sources, hook.tags, hook.backfill, hook.enabled) == (None, None, False, True)
    assert str(config.timezone) == "Asia/Makassar"


# -- every mistake at once ------------------------------------------------------------------------

MANY_MISTAKES = """
colour = "blue"

[syndicator]
timezone = "Mars/Olympus"
verbose = true

[channel.typo]
type = "webhook"

[sources.news]
type = "directory"
path = 3
approval = "yes please"

[sources.wire]
type = "carrier-pigeon"

[channels.hook]
type = "webhook"
url = 5
secret = { env = "HOOK_SECRET" }
concurrency = "4"
sources = ["news", "nowhere"]

[channels.plain]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "written-in-the-file"
concurrency = 0

[channels.fax]
type = "telefax"
"""


def test_every_mistake_is_reported_at_once_with_the_file_table_and_key(
    write: Callable[..., Path], pm: Any
) -> None:
    path = write(MANY_MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load(path, pm)

    found = caught.value.problems
    assert where(found) == {
        ("", "colour"),
        ("", "channel"),
        ("syndicator", "timezone"),
        ("syndicator", "verbose"),
        ("sources.news", "path"),
        ("sources.news", "approval"),
        ("sources.wire", "type"),
        ("channels.hook", "url"),
        ("channels.hook", "secret"),
        ("channels.hook", "concurrency"),
        ("channels.hook", "sources"),
        ("channels.plain", "secret"),
        ("channels.plain", "concurrency"),
        ("channels.fax", "type"),
    }
    assert len(found) == 14
    assert {p.file for p in found} == {str(path)}
    lines = str(caught.value).splitlines()
    assert len(lines) == len(found)
    assert f"{path}: [channels.hook] url: expected a string, got 5" in lines
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_an_unknown_top_level_table_is_named_with_the_tables_that_exist(
    write: Callable[..., Path], pm: Any
) -> None:
    found = problems(write(GOOD + '\n[channel.typo]\ntype = "webhook"\n'), pm)
    problem = only(found, "", "channel")
    assert "unknown table" in problem.message and "[channels.NAME]" in problem.message
    assert str(problem).startswith(f"{problem.file}: (top level) channel: unknown table")


def test_an_unknown_key_in_the_syndicator_table_lists_the_known_keys(
    write: Callable[..., Path], pm: Any
) -> None:
    found = problems(write(GOOD.replace("[syndicator]", "[syndicator]\nstat = 'x.db'")), pm)
    assert [(p.table, p.key) for p in found] == [("syndicator", "stat")]
    assert (
        found[0].message
        == "unknown key (known keys: delivery_processes, keep_text, parse_workers, plugins_dir, state, timezone, user_agent)"
    )


def test_an_unknown_source_or_channel_type_lists_the_available_ones(write: Callable[..., Path]) -> None:
    path = write(GOOD.replace('"directory"', '"folder"').replace('"webhook"', '"webhok"'))
    found = problems(path, get_plugin_manager(disabled=()))
    source = only(found, "sources.news", "type")
    assert source.message == "unknown source type 'folder' (available: directory, rss)"
    channel = only(found, "channels.hook", "type")
    assert channel.message.startswith("unknown channel type 'webhok' (available: ")
    available = channel.message.split("(available: ", 1)[1].rstrip(")").split(", ")
    assert {"email", "matrix", "slack", "webhook", "website"} <= set(available)
    assert available == sorted(available)


@pytest.mark.parametrize(
    ("table", "line", "key", "expected"),
    [
        ("syndicator", "state = 5", "state", "expected a string, got 5"),
        ("syndicator", "user_agent = ['a']", "user_agent", "expected a string, got ['a']"),
        ("sources.news", "enabled = 'yes'", "enabled", "expected true or false, got 'yes'"),
        ("sources.news", "tags = 'kaltim'", "tags", "expected a list, got 'kaltim'"),
        ("sources.news", "tags = [1, 2]", "tags", "expected a list of strings"),
        ("sources.news", "path = 3", "path", "expected a string, got 3"),
        ("channels.hook", "concurrency = '4'", "concurrency", "expected an integer, got '4'"),
        ("channels.hook", "concurrency = 2.5", "concurrency", "expected an integer, got 2.5"),
        ("channels.hook", "max_attempts = true", "max_attempts", "expected an integer, got True"),
        ("channels.hook", "backoff = true", "backoff", "expected a number, got True"),
        ("channels.hook", "timeout = '30s'", "timeout", "expected a number, got '30s'"),
        ("channels.hook", "sources = 'news'", "sources", "expected a list, got 'news'"),
        ("channels.hook", "tags = ['a', 1]", "tags", "expected a list of strings"),
        ("channels.hook", "backfill = 1", "backfill", "expected true or false, got 1"),
        ("channels.hook", "url = 5", "url", "expected a string, got 5"),
        ("channels.hook", "headers = 'X-Team: press'", "headers", "expected a table, got 'X-Team: press'"),
    ],
)
def test_a_wrong_type_for_a_core_or_plugin_key_names_the_key_and_the_type_expected(
    write: Callable[..., Path], pm: Any, table: str, line: str, key: str, expected: str
) -> None:
    text = with_line(GOOD, table, line)
    found = problems(write(text), pm)
    assert [(p.table, p.key, p.message) for p in found] == [(table, key, expected)]


def test_a_missing_environment_variable_for_a_secret_is_named(write: Callable[..., Path], pm: Any) -> None:
    path = write(GOOD + 'secret = { env = "HOOK_SECRET" }\n')
    found = problems(path, pm, OTHER="x")
    assert [(p.table, p.key, p.message) for p in found] == [
        ("channels.hook", "secret", "environment variable HOOK_SECRET is not set")
    ]


def test_an_env_reference_needs_a_variable_name(write: Callable[..., Path], pm: Any) -> None:
    found = problems(write(GOOD + 'secret = { env = "" }\n'), pm)
    assert [(p.key, p.message) for p in found] == [
        ("secret", "{ env = ... } needs the name of an environment variable")
    ]


def test_a_secret_written_in_the_file_is_refused_with_how_to_give_it(
    write: Callable[..., Path], pm: Any
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(GOOD + f'secret = "{SECRET_VALUE}"\n'), pm)
    (problem,) = caught.value.problems
    assert (problem.table, problem.key) == ("channels.hook", "secret")
    assert '{ env = "VARIABLE" }' in problem.message and "never in the file" in problem.message
    assert SECRET_VALUE not in str(caught.value)


@pytest.mark.parametrize("policy", ["yes please", "Trusted", "category:", "category:   ", "auto"])
def test_a_bad_approval_policy_lists_the_policies(write: Callable[..., Path], pm: Any, policy: str) -> None:
    path = write(GOOD.replace('path = "releases"', f'path = "releases"\napproval = "{policy}"'))
    (problem,) = problems(path, pm)
    assert (problem.table, problem.key) == ("sources.news", "approval")
    assert problem.message == (
        f'expected "front-matter", "trusted", "manual" or "category:NAME", got {policy!r}'
    )


@pytest.mark.parametrize("policy", ["front-matter", "trusted", "manual", "category:pers"])
def test_each_documented_approval_policy_is_accepted(
    write: Callable[..., Path], pm: Any, policy: str
) -> None:
    path = write(GOOD.replace('path = "releases"', f'path = "releases"\napproval = "{policy}"'))
    assert load(path, pm).sources["news"].approval == policy


def test_a_channel_naming_an_unconfigured_source_is_refused(write: Callable[..., Path], pm: Any) -> None:
    found = problems(write(GOOD + 'sources = ["news", "wire"]\n'), pm)
    assert [(p.table, p.key, p.message) for p in found] == [
        ("channels.hook", "sources", "no source named 'wire' is configured")
    ]


@pytest.mark.parametrize("key", ["concurrency", "max_attempts"])
@pytest.mark.parametrize("value", [0, -3])
def test_a_count_below_one_is_refused(write: Callable[..., Path], pm: Any, key: str, value: int) -> None:
    found = problems(write(GOOD + f"{key} = {value}\n"), pm)
    assert [(p.table, p.key, p.message) for p in found] == [
        ("channels.hook", key, f"expected a positive integer, got {value}")
    ]


@pytest.mark.parametrize("line", ["timeout = 0", "timeout = -1.5", "backoff = -60"])
def test_a_non_positive_timeout_or_negative_backoff_is_a_config_problem(
    write: Callable[..., Path], pm: Any, line: str
) -> None:
    found = problems(write(GOOD + line + "\n"), pm)
    assert [(p.table, p.key) for p in found] == [("channels.hook", line.split(" ")[0])]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "UTC+8"])
def test_an_unknown_timezone_is_named_with_an_example(write: Callable[..., Path], pm: Any, zone: str) -> None:
    found = problems(write(GOOD.replace('"Asia/Makassar"', json.dumps(zone))), pm)
    assert [(p.table, p.key) for p in found] == [("syndicator", "timezone")]
    assert found[0].message == f'unknown time zone {zone!r} (e.g. "Asia/Jakarta")'


def test_invalid_toml_names_the_file_and_the_line(write: Callable[..., Path], pm: Any) -> None:
    path = write('[syndicator]\nstate = "a.db"\ntimezone =\n')
    with pytest.raises(ConfigError) as caught:
        load(path, pm)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.message.startswith("not valid TOML: ") and "line 3" in problem.message
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_suggests_syndicator_init(tmp_path: Path, pm: Any) -> None:
    path = tmp_path / "nowhere" / "syndicator.toml"
    with pytest.raises(ConfigError) as caught:
        load(path, pm)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert "file not found" in problem.message and "`syndicator init`" in problem.message


@pytest.mark.parametrize("value", ["many", "0"])
def test_an_env_reference_for_an_integer_option_is_type_checked(
    write: Callable[..., Path], pm: Any, value: str
) -> None:
    path = write(GOOD + 'concurrency = { env = "HOOK_CONCURRENCY" }\n')
    try:
        config = load(path, pm, HOOK_CONCURRENCY=value)
    except ConfigError as exc:
        assert [(p.table, p.key) for p in exc.problems] == [("channels.hook", "concurrency")]
    else:
        pytest.fail(f"loaded concurrency = {config.channels['hook'].concurrency!r}")


# -- paths ------------------------------------------------------------------------------------------

FAX_PLUGIN = """
from syndicator import hookimpl
from syndicator.channel import Channel


class FaxChannel(Channel):
    type = "fax"


@hookimpl
def register_channels(register):
    register(FaxChannel)
"""


def test_paths_are_relative_to_the_config_file_not_the_working_directory(
    tmp_path: Path, pm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "etc" / "syndicator"
    (home / "local-plugins").mkdir(parents=True)
    (home / "local-plugins" / "fax.py").write_text(FAX_PLUGIN, encoding="utf-8")
    (home / "releases").mkdir()
    (home / "releases" / "a.md").write_text(release_text(id="a", title="Rilis A"), encoding="utf-8")
    path = home / "syndicator.toml"
    path.write_text(
        '[syndicator]\nstate = "state/ledger.db"\nplugins_dir = "local-plugins"\n\n'
        '[sources.news]\ntype = "directory"\npath = "releases"\n\n'
        '[channels.fax]\ntype = "fax"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load(path, pm)

    assert config.state_path == home / "state" / "ledger.db"
    assert config.plugins_dir == home / "local-plugins"
    assert config.channels["fax"].type == "fax"  # the plugin came from the config's folder
    with Ledger.open(config.state_path) as ledger:
        report = Engine(config, pm, ledger).run(dry_run=True)
    assert report.source_errors == [] and report.new == ["news/a"]
    assert not (elsewhere / "state").exists()


def test_an_absolute_state_path_is_kept(write: Callable[..., Path], pm: Any, tmp_path: Path) -> None:
    target = tmp_path / "var" / "ledger.db"
    config = load(write(GOOD.replace('"state/syndicator.db"', json.dumps(str(target)))), pm)
    assert config.state_path == target


def test_a_plugins_dir_that_is_not_a_folder_is_named(write: Callable[..., Path], pm: Any) -> None:
    path = write(GOOD.replace("[syndicator]", '[syndicator]\nplugins_dir = "missing"'))
    (problem,) = problems(path, pm)
    assert (problem.table, problem.key) == ("syndicator", "plugins_dir")
    assert problem.message == f"{path.parent / 'missing'} is not a folder"


# -- finding the config file ---------------------------------------------------------------------------


def test_find_config_path_honours_syndicator_config(tmp_path: Path) -> None:
    chosen = tmp_path / "from-env.toml"
    assert find_config_path(None, {CONFIG_ENV: str(chosen)}) == chosen.resolve()


def test_an_explicit_config_path_wins_over_syndicator_config(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit.toml"
    assert find_config_path(str(explicit), {CONFIG_ENV: str(tmp_path / "env.toml")}) == explicit.resolve()


def test_without_either_the_config_is_syndicator_toml_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config_path(None, {}) == (tmp_path / "syndicator.toml").resolve()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI installs a root log handler bound to CliRunner's stderr; take it away after."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_the_cli_reads_syndicator_config_and_config_option_wins_over_it(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    good = write(GOOD, "chosen/syndicator.toml")
    missing = tmp_path / "env-named.toml"
    env = {k: None for k in os.environ if k.startswith("SYNDICATOR_")} | {CONFIG_ENV: str(missing)}
    runner = CliRunner()

    from_env = runner.invoke(build_cli(get_plugin_manager(disabled=())), ["config", "check"], env=env)
    explicit = runner.invoke(
        build_cli(get_plugin_manager(disabled=())), ["--config", str(good), "config", "check"], env=env
    )

    assert from_env.exit_code == 2
    assert f"error: {missing}: (top level): file not found" in from_env.stderr
    assert explicit.exit_code == 0, explicit.output
    assert explicit.stdout.startswith(f"# {good}: ok")


# -- routing ----------------------------------------------------------------------------------------

ROUTED = """
[sources.news]
type = "directory"
path = "releases"

[sources.wire]
type = "directory"
path = "wire"

[channels.everything]
type = "webhook"
url = "http://127.0.0.1:9/a"

[channels.news-only]
type = "webhook"
url = "http://127.0.0.1:9/b"
sources = ["news"]

[channels.floods]
type = "webhook"
url = "http://127.0.0.1:9/c"
tags = ["banjir", "longsor"]

[channels.news-floods]
type = "webhook"
url = "http://127.0.0.1:9/d"
sources = ["news"]
tags = ["banjir"]
"""


@pytest.mark.parametrize(
    ("source", "tags", "expected"),
    [
        ("news", (), {"everything", "news-only"}),
        ("news", ("banjir",), {"everything", "news-only", "floods", "news-floods"}),
        ("news", ("longsor", "kaltim"), {"everything", "news-only", "floods"}),
        ("wire", ("banjir",), {"everything", "floods"}),
        ("wire", ("olahraga",), {"everything"}),
    ],
)
def test_channels_route_by_sources_tags_both_or_neither(
    write: Callable[..., Path], pm: Any, source: str, tags: tuple[str, ...], expected: set[str]
) -> None:
    config = load(write(ROUTED), pm)
    assert config.channels["news-floods"].sources == ("news",)
    assert config.channels["news-floods"].tags == ("banjir",)
    assert {name for name, c in config.channels.items() if c.routes(source, tags)} == expected


def test_routes_accepts_tags_as_a_list() -> None:
    channel = ChannelConfig(name="c", type="webhook", options={}, tags=("banjir",))
    assert channel.routes("news", ["kaltim", "banjir"]) and not channel.routes("news", ["kaltim"])


# -- secrets never print -------------------------------------------------------------------------------


def test_describe_redacts_secrets_and_the_value_never_appears_in_the_config(
    write: Callable[..., Path], pm: Any
) -> None:
    config = load(write(GOOD + 'secret = { env = "HOOK_SECRET" }\n'), pm, HOOK_SECRET=SECRET_VALUE)
    hook = config.channels["hook"]

    assert isinstance(hook.options["secret"], Secret) and hook.options["secret"].reveal() == SECRET_VALUE
    described = config.describe()
    assert described["channels"]["hook"]["secret"] == "<secret from $HOOK_SECRET>"
    assert described["channels"]["hook"]["url"] == "http://127.0.0.1:9/hook"
    for text in (
        repr(config),
        str(config),
        repr(hook),
        str(hook.options),
        json.dumps(described),
        json.dumps(hook.describe()),
    ):
        assert SECRET_VALUE not in text
        assert "HOOK_SECRET" in text


# -- Channel.validate --------------------------------------------------------------------------------


def test_problems_from_channel_validate_are_reported_with_the_others(
    write: Callable[..., Path], pm: Any
) -> None:
    path = write(
        GOOD.replace("Asia/Makassar", "Nowhere/Atlantis")
        + '\n[channels.chat]\ntype = "validating"\nroom = "general"\n'
    )
    found = problems(path, pm)
    assert where(found) == {("syndicator", "timezone"), ("channels.chat", "room")}
    room = only(found, "channels.chat", "room")
    assert room.file == str(path) and room.message == "must start with '!', got 'general'"


def test_a_channel_that_passes_validate_loads(write: Callable[..., Path], pm: Any) -> None:
    config = load(write(GOOD + '\n[channels.chat]\ntype = "validating"\nroom = "!abc:example.org"\n'), pm)
    assert config.channels["chat"].options == {"room": "!abc:example.org"}
