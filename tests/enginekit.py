"""Shared helpers for the ledger, engine and dispatch tests.

Everything here is real: release files on disk, a TOML config loaded by ``load_config``, a
SQLite ledger file, the project's own plugin manager. Only the channels are test doubles:
``recorder`` (idempotency "none"), ``recorder-key`` ("key") and ``recorder-lookup``
("lookup"), all writing what they were asked to do into one :class:`Journal`.

    h = Harness(tmp_path)
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Jembatan dibuka")
    report = h.run()
    assert h.journal.sent_keys("rec") == ["news/a"]
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pluggy
from syndicator_channels import webhook

from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext
from syndicator.config import load_config
from syndicator.engine import Engine, RunReport
from syndicator.ledger import Ledger
from syndicator.models import Delivery, Post, Receipt, Release
from syndicator.plugins import get_plugin_manager

#: 08:00 WITA on 10 November 2026: after the sample approval times, before the embargoes.
START = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)


class Clock:
    """A controllable ``now`` for :class:`Engine` (``now=clock``)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


# -- test channels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call of ``publish`` (made whether or not it then raised)."""

    channel: str
    release_key: str
    idempotency_key: str
    attempt: int


class Journal:
    """What the recorder channels were asked to do, and how they should misbehave."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []  # every publish call
        self.sent: list[Call] = []  # publish calls that returned a receipt
        self.rendered: list[tuple[str, str]] = []  # (channel, release key)
        self.lookups: list[tuple[str, str]] = []  # find_existing calls: (channel, release key)
        self.finished: list[str] = []  # finish calls: channel names
        self.found: dict[tuple[str, str], Receipt] = {}  # what find_existing answers
        self.render_errors: dict[str, BaseException] = {}  # channel -> raised by render
        self._errors: dict[str, list[BaseException]] = {}
        self._forever: set[str] = set()
        self.delay = 0.0  # seconds each publish takes
        self.active = 0
        self.max_active = 0

    def fail(self, channel: str, *errors: BaseException, forever: bool = False) -> None:
        """``publish`` on ``channel`` raises these, one per call, in order; then succeeds
        (or, with ``forever``, keeps raising the last one)."""
        with self._lock:
            self._errors.setdefault(channel, []).extend(errors)
            if forever:
                self._forever.add(channel)

    def _next_error(self, channel: str) -> BaseException | None:
        queue = self._errors.get(channel)
        if not queue:
            return None
        if len(queue) == 1 and channel in self._forever:
            return queue[0]
        return queue.pop(0)

    def calls_to(self, channel: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.channel == channel]

    def sent_keys(self, channel: str) -> list[str]:
        with self._lock:
            return [c.release_key for c in self.sent if c.channel == channel]

    # called by the channels --------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        with self._lock:
            self.rendered.append((ctx.name, release.key))
            error = self.render_errors.get(ctx.name)
        if error is not None:
            raise error
        return Post(channel=ctx.name, release_key=release.key, text=release.title, title=release.title)

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        call = Call(ctx.name, post.release_key, ctx.idempotency_key, ctx.attempt)
        with self._lock:
            self.calls.append(call)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            error = self._next_error(ctx.name)
        try:
            if self.delay:
                time.sleep(self.delay)
            if error is not None:
                raise error
            with self._lock:
                self.sent.append(call)
            return Receipt(remote_id=post.release_key, url=f"https://{ctx.name}.test/{post.release_key}")
        finally:
            with self._lock:
                self.active -= 1

    def find_existing(self, release: Release, ctx: ChannelContext) -> Receipt | None:
        with self._lock:
            self.lookups.append((ctx.name, release.key))
            return self.found.get((ctx.name, release.key))

    def finish(self, ctx: ChannelContext) -> None:
        with self._lock:
            self.finished.append(ctx.name)


class RecorderChannel(Channel):
    """Records into ``journal``; never touches the network."""

    type = "recorder"
    description = "test channel: records what it is asked to publish"
    idempotency = "none"
    journal: ClassVar[Journal]

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        return self.journal.render(release, ctx)

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        return self.journal.publish(post, ctx)

    def find_existing(self, release: Release, ctx: ChannelContext) -> Receipt | None:
        return self.journal.find_existing(release, ctx)

    def finish(self, ctx: ChannelContext) -> None:
        self.journal.finish(ctx)


class KeyedRecorderChannel(RecorderChannel):
    type = "recorder-key"
    idempotency = "key"


class LookupRecorderChannel(RecorderChannel):
    type = "recorder-lookup"
    idempotency = "lookup"


class RecorderPlugin:
    """Registers the three recorder types, bound to one journal."""

    def __init__(self, journal: Journal) -> None:
        self.classes = [
            type(cls.__name__, (cls,), {"journal": journal})
            for cls in (RecorderChannel, KeyedRecorderChannel, LookupRecorderChannel)
        ]

    @hookimpl
    def register_channels(self, register: Callable[[type[Channel]], None]) -> None:
        for cls in self.classes:
            register(cls)


def plugin_manager(*plugins: object) -> pluggy.PluginManager:
    """The project's plugin manager (built-ins, no entry points) plus the webhook and ``plugins``."""
    pm = get_plugin_manager(load_entry_points=False, disabled=())
    pm.register(webhook, name="syndicator_channels.webhook")
    for plugin in plugins:
        pm.register(plugin)
    return pm


# -- release files -----------------------------------------------------------------------------


def release_text(
    *,
    title: str,
    id: str | None = None,
    status: str | None = "approved",
    approved_by: str | None = "Kepala Diskominfo",
    approved_at: str | None = "2026-11-09T10:30:00+08:00",
    date: str = "2026-11-09T09:00:00+08:00",
    body: str = "Isi siaran pers.",
    **fields: Any,
) -> str:
    """A Markdown release file with YAML front matter (None leaves a field out)."""
    values: dict[str, Any] = {
        "id": id,
        "title": title,
        "date": date,
        "status": status,
        "approved_by": approved_by,
        "approved_at": approved_at,
        **fields,
    }
    lines = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in values.items() if v is not None]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + body + "\n"


def write_file(path: Path, text: str) -> Path:
    """Write ``text``, making sure the directory source sees a new size or mtime."""
    old = path.stat().st_mtime_ns if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if old is not None:
        mtime = max(path.stat().st_mtime_ns, old + 1_000_000_000)
        os.utime(path, ns=(mtime, mtime))
    return path


# -- config ------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_text(
    settings: dict[str, Any], sources: dict[str, dict[str, Any]], channels: dict[str, dict[str, Any]]
) -> str:
    out = ["[syndicator]", *(f"{k} = {toml_value(v)}" for k, v in settings.items())]
    for section, tables in (("sources", sources), ("channels", channels)):
        for name, table in tables.items():
            out += ["", f'[{section}."{name}"]', *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    return "\n".join(out) + "\n"


# -- the harness -------------------------------------------------------------------------------


class Harness:
    """A syndicator installation in a temporary folder: config, release files, ledger, clock.

    ``sources`` and ``channels`` are the config tables; edit them between runs (the config
    file is rewritten and loaded again by every :meth:`run`, as a cron tick would).
    """

    def __init__(self, root: Path, *plugins: object) -> None:
        self.root = root
        self.releases = root / "releases"
        self.releases.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "syndicator.toml"
        self.state_path = root / "state" / "syndicator.db"
        self.settings: dict[str, Any] = {"state": "state/syndicator.db", "timezone": "Asia/Makassar"}
        self.sources: dict[str, dict[str, Any]] = {"news": {"type": "directory", "path": "releases"}}
        self.channels: dict[str, dict[str, Any]] = {}
        self.extra_toml = ""  # more tables, e.g. [alerts], appended to the config as written
        self.clock = Clock()
        self.journal = Journal()
        self.pm = plugin_manager(RecorderPlugin(self.journal), *plugins)
        self.ledger = Ledger.open(self.state_path)

    def close(self) -> None:
        self.ledger.close()

    def write(self, name: str, folder: Path | None = None, **fields: Any) -> Path:
        """Write a release file (see :func:`release_text`) into the releases folder."""
        return write_file((folder or self.releases) / name, release_text(**fields))

    def engine(self) -> Engine:
        text = toml_text(self.settings, self.sources, self.channels) + self.extra_toml
        self.config_path.write_text(text, encoding="utf-8")
        config = load_config(self.config_path, self.pm, environ={})
        return Engine(config, self.pm, self.ledger, now=self.clock)

    def run(self, **options: Any) -> RunReport:
        return self.engine().run(**options)

    def delivery(self, release_key: str, channel: str) -> Delivery:
        found = self.ledger.delivery(release_key, channel)
        assert found is not None, f"no delivery of {release_key} to {channel}"
        return found

    def dump(self) -> list[str]:
        """Every row of the state file, read through a connection of its own."""
        with closing_connection(self.state_path) as conn:
            return list(conn.iterdump())


@contextmanager
def closing_connection(path: Path) -> Iterator[Any]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        yield conn
    finally:
        conn.close()
