"""Load and validate the TOML configuration.

Every problem (unknown key, wrong type, unknown type, missing environment variable) is
collected and reported together, each with the file, the table and the key, before
anything runs. Paths are relative to the config file's folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pluggy

from .errors import ConfigError, ConfigProblem, PluginError
from .options import Option, redact, resolve_options
from .pacing import parse_duration, parse_rate
from .plugins import Registration, channel_types, load_plugins_dir, source_types

CONFIG_ENV = "SYNDICATOR_CONFIG"
DEFAULT_CONFIG = "syndicator.toml"

_SETTINGS = (
    Option("state", str, default="state/syndicator.db", help="SQLite ledger, relative to this file"),
    Option("timezone", str, default="UTC", help="zone for dates written without one"),
    Option("plugins_dir", str, help="a folder of one-off plugin modules (*.py)"),
    Option("user_agent", str, help="User-Agent for feed fetches and channel calls"),
    Option(
        "keep_text",
        str,
        default="until-delivered",
        choices=("until-delivered", "always"),
        help='"always" keeps a release\'s text after every channel has it (for channels added later)',
    ),
    Option(
        "parse_workers",
        int,
        help="processes that parse feeds side by side (default: one per CPU, at most 4; 0: none)",
    ),
    Option(
        "delivery_processes",
        int,
        help="processes that deliver side by side, whole channels each (default: one per CPU,"
        " at most 4, from 100 due deliveries; 1: this process alone)",
    ),
)
_SOURCE_CORE = (
    Option("type", str, required=True),
    Option(
        "approval", str, default="front-matter", help='"front-matter", "trusted", "manual" or "category:NAME"'
    ),
    Option("agency", str, default="", help="agency name for releases that do not give one"),
    Option("language", str, default="", help="language for releases that do not give one"),
    Option("tags", list, default=[], help="tags added to every release of this source"),
    Option("enabled", bool, default=True),
    Option("stale_after", str, help='alert when nothing new arrived for this long, e.g. "3d"'),
)
_ALERTS = (
    Option("channels", list, default=[], help="configured channels that receive alerts"),
    Option("stale_after", str, help="default for every source: alert when nothing new arrived for this long"),
)
_CHANNEL_CORE = (
    Option("type", str, required=True),
    Option("sources", list, help="only releases from these sources"),
    Option("tags", list, help="only releases with one of these tags"),
    Option("concurrency", int, default=4, help="deliveries in flight at once"),
    Option("max_attempts", int, default=5, help="attempts before a delivery is dead"),
    Option("backoff", float, default=60.0, help="first retry delay in seconds (doubles, capped)"),
    Option("timeout", float, default=30.0, help="seconds for each HTTP call"),
    Option(
        "backfill",
        bool,
        default=False,
        help="also deliver releases that were due before this channel was added",
    ),
    Option("rate", str, help='at most this many calls, e.g. "1/s" or "20/min" (bursts wait their turn)'),
    Option("daily_quota", int, help="at most this many calls in any 24 hours (the rest wait)"),
    Option(
        "on_change",
        str,
        default="update",
        choices=("update", "correct", "ignore"),
        help="a sent release approved again with new content: edit the post where the platform can"
        ' ("update", else a correction), always post a correction ("correct"), or leave it ("ignore")',
    ),
    Option(
        "retraction_notice",
        bool,
        default=False,
        help="on `syndicator retract`, post a notice where the platform cannot delete",
    ),
    Option("enabled", bool, default=True),
)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    approval: str
    options: Mapping[str, Any]
    agency: str = ""
    language: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    cls: Any = object
    stale_after: float | None = None  # seconds

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "approval": self.approval,
            "agency": self.agency,
            "language": self.language,
            "tags": list(self.tags),
            "enabled": self.enabled,
            **redact(dict(self.options)),
        }


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    options: Mapping[str, Any]
    sources: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    concurrency: int = 4
    max_attempts: int = 5
    backoff: float = 60.0
    timeout: float = 30.0
    backfill: bool = False
    enabled: bool = True
    cls: Any = object
    rate: str | None = None
    daily_quota: int | None = None
    on_change: str = "update"
    retraction_notice: bool = False

    def routes(self, source: str, tags: tuple[str, ...] | list[str]) -> bool:
        """Does this channel take releases from ``source`` with ``tags``?"""
        if self.sources is not None and source not in self.sources:
            return False
        return self.tags is None or bool(set(self.tags) & set(tags))

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for key in ("sources", "tags"):
            if getattr(self, key) is not None:
                data[key] = list(getattr(self, key))
        data.update(
            concurrency=self.concurrency,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            timeout=self.timeout,
            backfill=self.backfill,
            enabled=self.enabled,
            on_change=self.on_change,
            retraction_notice=self.retraction_notice,
        )
        if self.rate:
            data["rate"] = self.rate
        if self.daily_quota:
            data["daily_quota"] = self.daily_quota
        data.update(redact(dict(self.options)))
        return data


@dataclass(frozen=True)
class Config:
    path: Path
    state_path: Path
    timezone: ZoneInfo
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    plugins_dir: Path | None = None
    user_agent: str | None = None
    parse_workers: int | None = None  # None: one per CPU core
    delivery_processes: int | None = None  # None: one per CPU core, for big runs
    keep_text: str = "until-delivered"
    alert_channels: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def describe(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"state": str(self.state_path), "timezone": str(self.timezone)}
        if self.plugins_dir:
            settings["plugins_dir"] = str(self.plugins_dir)
        return {
            "syndicator": settings,
            "sources": {n: s.describe() for n, s in self.sources.items()},
            "channels": {n: c.describe() for n, c in self.channels.items()},
        }


def find_config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    value = explicit or env.get(CONFIG_ENV) or DEFAULT_CONFIG
    return Path(value).expanduser().resolve()


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(str(path), "", "", "file not found (create one with `syndicator init`)")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), "", "", f"not valid TOML: {exc}")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), "", "", f"cannot be read: {exc.strerror}")]) from None


def _check_approval(policy: str) -> str | None:
    if policy in ("front-matter", "trusted", "manual"):
        return None
    if policy.startswith("category:") and policy[len("category:") :].strip():
        return None
    return f'expected "front-matter", "trusted", "manual" or "category:NAME", got {policy!r}'


def _loads(reg: Registration, label: str, add: Any) -> bool:
    """Import a lazily registered type's class; a plugin that cannot load is this table's problem."""
    try:
        reg.cls  # noqa: B018 (the property imports it)
    except PluginError as exc:
        add(label, [("type", str(exc))])
        return False
    return True


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def load_config(path: Path, pm: pluggy.PluginManager, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve ``path``. Raises ConfigError listing every problem."""
    raw = read_toml(path)
    file = str(path)
    problems: list[ConfigProblem] = []

    def add(table: str, pairs: list[tuple[str, str]]) -> None:
        problems.extend(ConfigProblem(file, table, key, msg) for key, msg in pairs)

    for key in raw:
        if key not in ("syndicator", "sources", "channels", "alerts"):
            add(
                "",
                [(key, "unknown table (expected [syndicator], [sources.NAME], [channels.NAME], [alerts])")],
            )
    alerts, found = resolve_options(raw.get("alerts", {}), _ALERTS, environ=environ)
    add("alerts", found)
    for name in alerts.get("channels") or ():
        if name not in raw.get("channels", {}):
            add("alerts", [("channels", f"no channel named {name!r} is configured")])
    default_stale = _duration(alerts.get("stale_after"), "alerts", "stale_after", add)

    settings, found = resolve_options(raw.get("syndicator", {}), _SETTINGS, environ=environ)
    add("syndicator", found)
    for key in ("parse_workers", "delivery_processes"):
        if isinstance(settings.get(key), int) and settings[key] < 0:
            add("syndicator", [(key, f"expected a number of processes (0 or more), got {settings[key]}")])
    zone = ZoneInfo("UTC")
    try:
        zone = ZoneInfo(settings.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        add(
            "syndicator",
            [("timezone", f'unknown time zone {settings.get("timezone")!r} (e.g. "Asia/Jakarta")')],
        )

    if isinstance(settings.get("plugins_dir"), str):
        folder = path.parent / settings["plugins_dir"]
        if not folder.is_dir():
            add("syndicator", [("plugins_dir", f"{folder} is not a folder")])
        else:
            try:
                load_plugins_dir(pm, folder)
            except Exception as exc:  # a broken local plugin is a config problem, named
                add("syndicator", [("plugins_dir", f"cannot load plugin: {exc}")])
    try:
        source_table = source_types(pm)
        channel_table = channel_types(pm)
    except PluginError as exc:
        raise ConfigError([ConfigProblem(file, "", "", str(exc))]) from None

    sources: dict[str, SourceConfig] = {}
    for name, table in _tables(raw, "sources", add).items():
        label = f"sources.{name}"
        core, found = resolve_options(
            table, _SOURCE_CORE, environ=environ, ignore=set(table) - {o.name for o in _SOURCE_CORE}
        )
        add(label, found)
        reg = source_table.get(core.get("type") or "")
        if "type" in core and reg is None:
            add(
                label,
                [
                    (
                        "type",
                        f"unknown source type {core['type']!r} (available: {', '.join(sorted(source_table))})",
                    )
                ],
            )
        if isinstance(core.get("approval"), str) and (why := _check_approval(core["approval"])):
            add(label, [("approval", why)])
        if core.get("tags") is not None and not _string_list(core["tags"]):
            add(label, [("tags", "expected a list of strings")])
        if reg is None or not _loads(reg, label, add):
            continue
        options, found = resolve_options(
            table, reg.cls.options, environ=environ, ignore={o.name for o in _SOURCE_CORE}
        )
        add(label, found)
        if problems:
            continue  # the error is raised below, with every other problem; nothing to build
        sources[name] = SourceConfig(
            name=name,
            type=core["type"],
            approval=core["approval"],
            options=options,
            agency=core["agency"],
            language=core["language"],
            tags=tuple(core["tags"] or ()),
            enabled=core["enabled"],
            cls=reg.cls,
            stale_after=_duration(core.get("stale_after"), label, "stale_after", add) or default_stale,
        )

    channels: dict[str, ChannelConfig] = {}
    for name, table in _tables(raw, "channels", add).items():
        label = f"channels.{name}"
        core, found = resolve_options(
            table, _CHANNEL_CORE, environ=environ, ignore=set(table) - {o.name for o in _CHANNEL_CORE}
        )
        add(label, found)
        reg = channel_table.get(core.get("type") or "")
        if "type" in core and reg is None:
            add(
                label,
                [
                    (
                        "type",
                        f"unknown channel type {core['type']!r} (available: {', '.join(sorted(channel_table))})",
                    )
                ],
            )
        for key in ("sources", "tags"):
            if core.get(key) is not None and not _string_list(core[key]):
                add(label, [(key, "expected a list of strings")])
        for src in core.get("sources") or ():
            if isinstance(src, str) and src not in raw.get("sources", {}):
                add(label, [("sources", f"no source named {src!r} is configured")])
        if isinstance(core.get("rate"), str):
            try:
                parse_rate(core["rate"])
            except ValueError as exc:
                add(label, [("rate", str(exc))])
        for key, low in (("timeout", 0.0), ("backoff", -1e-9)):
            if isinstance(core.get(key), int | float) and core[key] <= low:
                add(label, [(key, f"expected a positive number of seconds, got {core[key]}")])
        for key in ("concurrency", "max_attempts", "daily_quota"):
            if isinstance(core.get(key), int) and core[key] < 1:
                add(label, [(key, f"expected a positive integer, got {core[key]}")])
        if reg is None or not _loads(reg, label, add):
            continue
        options, found = resolve_options(
            table, reg.cls.options, environ=environ, ignore={o.name for o in _CHANNEL_CORE}
        )
        add(label, found)
        if not found:
            add(label, reg.cls.validate(options))
        if problems:
            continue
        channels[name] = ChannelConfig(
            name=name,
            type=core["type"],
            options=options,
            sources=tuple(core["sources"]) if core.get("sources") is not None else None,
            tags=tuple(core["tags"]) if core.get("tags") is not None else None,
            concurrency=core["concurrency"],
            max_attempts=core["max_attempts"],
            backoff=float(core["backoff"]),
            timeout=float(core["timeout"]),
            backfill=core["backfill"],
            enabled=core["enabled"],
            cls=reg.cls,
            rate=core.get("rate"),
            daily_quota=core.get("daily_quota") or getattr(reg.cls, "default_daily_quota", None),
            on_change=core["on_change"],
            retraction_notice=core["retraction_notice"],
        )

    if problems:
        raise ConfigError(problems)
    base = path.parent
    state = Path(settings["state"]).expanduser()
    plugins_dir = settings.get("plugins_dir")
    return Config(
        path=path,
        state_path=state if state.is_absolute() else base / state,
        timezone=zone,
        sources=sources,
        channels=channels,
        plugins_dir=(base / plugins_dir) if plugins_dir else None,
        user_agent=settings.get("user_agent"),
        parse_workers=settings.get("parse_workers"),
        delivery_processes=settings.get("delivery_processes"),
        keep_text=settings["keep_text"],
        alert_channels=tuple(alerts.get("channels") or ()),
    )


def _duration(value: Any, table: str, key: str, add: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        add(table, [(key, str(exc))])
        return None


def _tables(raw: dict[str, Any], section: str, add: Any) -> dict[str, dict[str, Any]]:
    value = raw.get(section, {})
    if not isinstance(value, dict):
        add("", [(section, f"expected tables like [{section}.NAME]")])
        return {}
    out = {}
    for name, table in value.items():
        if not isinstance(table, dict):
            add(section, [(name, f"expected a table [{section}.{name}]")])
        else:
            out[name] = table
    return out
