"""Fault injection for the delivery guarantees: a loopback channel server, a config writer, the crash loop.

:class:`ChannelServer` plays three platforms at once on 127.0.0.1 (routes ``/c/<channel>``). It
counts every POST per release and per ``Idempotency-Key``, deduplicates by key where the
channel has one (same key, same post, counted once, like a real idempotent API), and injects
seeded faults: HTTP 500, 429 with ``Retry-After``, a hang past the client's timeout (the post
lands, the answer never comes in time), and a connection reset after reading the request (the
post lands or not, seeded). It records arrival times, so a test can check that no call came
before the ``Retry-After`` it was given. A fault is decided per (channel, release, attempt) from
the seed, so the same seed gives the same faults whatever order the threads call in.

:func:`write_setup` writes a config with a directory source of N approved releases and three
channels pointed at the server: ``hook`` (the real webhook plugin, idempotency "key"),
``look`` (a test channel with idempotency "lookup", whose ``find_existing`` asks the server)
and ``none`` (a test channel with neither). The test channels live in a module written into
the config's ``plugins_dir``, so a ``syndicator run`` subprocess loads them too.

:func:`crash_trial` is the crash loop used by ``tests/test_faults.py`` and by
``benchmarks/soak_crash.py``: SIGKILL real ``syndicator run`` processes at random points of a
fan-out, recover, and count deliveries, duplicates and losses on the server's side.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from syndicator.testing import Recorded, Reply, ScriptedServer

if TYPE_CHECKING:
    from click.testing import Result

#: Channel names in the config :func:`write_setup` writes, by how they settle an unknown outcome.
KEY, LOOKUP, NONE = "hook", "look", "none"
CHANNELS = (KEY, LOOKUP, NONE)
SOURCE = "news"

# -- the test channels, as a plugins_dir module ------------------------------------------------------

PLUGIN_MODULE = "faultchannels.py"

PLUGIN_SOURCE = '''\
"""Test channels of the fault-injection suite (written here by tests/faultkit.py).

They POST {"release", "text", "kind"} to their url and let requests' own exceptions through,
so the core classifies timeouts and resets exactly as it would for a simple plugin.
"""

from __future__ import annotations

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel
from syndicator.errors import AuthError, PermanentError, TransientError
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt
from syndicator.options import Option


def _answer(resp):
    if resp.status_code == 429 or resp.status_code >= 500:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise TransientError(f"HTTP {resp.status_code}", retry_after=retry_after)
    if resp.status_code in (401, 403):
        raise AuthError(f"HTTP {resp.status_code}")
    if resp.status_code >= 400:
        raise PermanentError(f"HTTP {resp.status_code}: {resp.text[:200]}")
    data = resp.json() if resp.content else {}
    return Receipt(remote_id=str(data.get("id", "")), url=str(data.get("url", "")))


def _kind(post):
    if post.extra.get("correction"):
        return "correction"
    if "retraction_of" in post.extra:
        return "retraction"
    return "post"


class FaultNoneChannel(Channel):
    type = "fault-none"
    description = "test channel: POST to the fault server; no idempotency key, no lookup"
    idempotency = "none"
    options = (
        Option("url", str, required=True),
        Option("check_error", str, default="", help="make check() fail with this message"),
    )

    def render(self, release, ctx):
        text = f"{release.title}\\n{release.url}".strip()
        return Post(channel=ctx.name, release_key=release.key, text=text, title=release.title, link=release.url)

    def publish(self, post, ctx):
        payload = {"release": post.release_key, "text": post.text, "kind": _kind(post)}
        return _answer(ctx.http.post(ctx.options["url"], json=payload))

    def check(self, ctx):
        if ctx.options.get("check_error"):
            raise AuthError(ctx.options["check_error"])
        return "ok (fault server)"


class FaultLookupChannel(FaultNoneChannel):
    type = "fault-lookup"
    description = "test channel: like fault-none, and find_existing asks the server"
    idempotency = "lookup"

    def find_existing(self, release, ctx):
        resp = ctx.http.get(ctx.options["url"] + "/find", params={"release": release.key})
        if resp.status_code == 404:
            return None
        return _answer(resp)


class FaultEditableChannel(FaultNoneChannel):
    type = "fault-editable"
    description = "test channel: like fault-none, and it can edit and delete its posts"
    capabilities = Capabilities(edit=True, delete=True)

    def update(self, receipt, post, ctx):
        payload = {"release": post.release_key, "text": post.text, "kind": "update"}
        return _answer(ctx.http.put(ctx.options["url"] + "/post", params={"id": receipt.remote_id}, json=payload))

    def delete(self, receipt, ctx):
        _answer(ctx.http.delete(ctx.options["url"] + "/post", params={"id": receipt.remote_id}))


@hookimpl
def register_channels(register):
    for cls in (FaultNoneChannel, FaultLookupChannel, FaultEditableChannel):
        register(cls)
'''


# -- the server -----------------------------------------------------------------------------------------

FAULTS = ("500", "429", "hang", "reset")
#: What :meth:`ChannelServer.script` accepts: a fault, "reset-landed" / "reset-lost", or "ok".
SCRIPTABLE = (*FAULTS, "reset-landed", "reset-lost", "ok")


@dataclass
class Arrival:
    """One request, stamped (``time.time()``) when the server had read it."""

    at: float
    method: str
    channel: str
    release: str
    key: str  # a POST's Idempotency-Key ("" without one); the post id a PUT or DELETE names
    fault: str  # "ok", one of FAULTS (reset as "reset-landed"/"reset-lost"), or "bad"
    not_before: float | None = None  # the Retry-After this (channel, release) was given earlier
    digest: str = ""  # "sha256:<hex>" of the body received


@dataclass
class Stored:
    """A post as the platform holds it."""

    id: str
    channel: str
    release: str
    text: str
    kind: str
    key: str
    url: str
    created: float
    edits: list[str] = field(default_factory=list)
    deleted: bool = False


class ChannelServer:
    """Loopback platforms for the channels of :func:`write_setup` (and any added with :meth:`add`).

    Probabilities ``p500``, ``p429``, ``phang`` and ``preset`` apply to each POST (a 429 says
    ``Retry-After: <retry_after>``, or an HTTP date that far ahead with ``retry_after_date``); ``latency``
    delays every successful answer (the post exists from the moment the request is read, so a
    client killed during the latency leaves a post it never heard of); ``hang`` is how long a
    hung answer takes (make it longer than the channel's timeout); ``reset_lands`` is the chance
    that a reset happens after the post was stored rather than before.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        latency: float = 0.0,
        p500: float = 0.0,
        p429: float = 0.0,
        phang: float = 0.0,
        preset: float = 0.0,
        retry_after: int = 1,
        retry_after_date: bool = False,
        hang: float = 1.5,
        reset_lands: float = 0.5,
    ) -> None:
        self.seed = seed
        self.latency = latency
        self.retry_after = retry_after
        self.retry_after_date = retry_after_date
        self.hang = hang
        self.reset_lands = reset_lands
        self.set_faults(p500=p500, p429=p429, phang=phang, preset=preset)
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._posts: dict[str, Stored] = {}
        self._by_release: dict[tuple[str, str], list[str]] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._scripted: dict[tuple[str, str], list[str]] = {}
        self._not_before: dict[tuple[str, str], float] = {}
        self._keyed: dict[str, bool] = {}
        self.violations: list[Arrival] = []
        self._http = ScriptedServer()

    # -- set-up ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._http.url

    def channel_url(self, name: str) -> str:
        return f"{self.url}/c/{name}"

    def add(self, name: str, *, keyed: bool = False) -> str:
        """Serve a channel called ``name`` (deduplicating by Idempotency-Key if ``keyed``); its URL."""
        base = f"/c/{name}"
        self._keyed[name] = keyed
        self._http.handler("POST", base, lambda r: self._on_post(name, r))
        self._http.handler("GET", base + "/find", lambda r: self._on_find(name, r))
        self._http.handler("PUT", base + "/post", lambda r: self._on_put(name, r))
        self._http.handler("DELETE", base + "/post", lambda r: self._on_delete(name, r))
        self._http.script("HEAD", base, Reply(200))
        return self.channel_url(name)

    def set_faults(
        self, *, p500: float = 0.0, p429: float = 0.0, phang: float = 0.0, preset: float = 0.0
    ) -> None:
        """Change the fault probabilities (all zero: a healthy platform)."""
        assert 0.0 <= p500 + p429 + phang + preset <= 1.0
        self._odds = (("500", p500), ("429", p429), ("hang", phang), ("reset", preset))

    def script(self, channel: str, release: str, *faults: str) -> None:
        """Force the answers to the next POSTs of ``release`` on ``channel`` (then the odds apply)."""
        assert all(f in SCRIPTABLE for f in faults), faults
        with self._lock:
            self._scripted.setdefault((channel, release), []).extend(faults)

    # -- what happened ------------------------------------------------------------------------------

    def arrivals(self, channel: str | None = None, method: str = "POST") -> list[Arrival]:
        with self._lock:
            return [
                a for a in self._arrivals if a.method == method and (channel is None or a.channel == channel)
            ]

    def post_count(self) -> int:
        """POSTs received so far, on every channel."""
        with self._lock:
            return sum(1 for a in self._arrivals if a.method == "POST")

    def posts(self, channel: str, release: str | None = None) -> list[Stored]:
        """Posts stored on ``channel`` (for ``release``), oldest first."""
        with self._lock:
            return [
                p
                for p in self._posts.values()
                if p.channel == channel and (release is None or p.release == release)
            ]

    def count(self, channel: str, release: str, kind: str = "post") -> int:
        """How many distinct posts of ``kind`` exist for ``release``: a delivery, counted once."""
        return sum(1 for p in self.posts(channel, release) if p.kind == kind)

    def calls_per_key(self, channel: str) -> Counter[str]:
        return Counter(a.key for a in self.arrivals(channel) if a.key)

    def faults_served(self, channel: str | None = None) -> Counter[str]:
        return Counter(a.fault for a in self.arrivals(channel))

    # -- handlers ------------------------------------------------------------------------------------

    def _decide(self, channel: str, release: str) -> str:
        n = self._attempts[(channel, release)]
        self._attempts[(channel, release)] += 1
        queue = self._scripted.get((channel, release))
        if queue:
            fault = queue.pop(0)
        else:
            u = random.Random(f"{self.seed}|{channel}|{release}|{n}").random()
            fault, edge = "ok", 0.0
            for name, p in self._odds:
                edge += p
                if u < edge:
                    fault = name
                    break
        if fault == "reset":
            lands = random.Random(f"{self.seed}|{channel}|{release}|{n}|lands").random() < self.reset_lands
            fault = "reset-landed" if lands else "reset-lost"
        return fault

    def _on_post(self, channel: str, req: Recorded) -> Reply:
        now = time.time()
        try:
            body = req.json
            release = str(body.get("release") or body["id"])  # test channels / the webhook
            text = str(body.get("text", ""))
            kind = str(body.get("kind", "post"))
        except (ValueError, KeyError, AttributeError, TypeError):  # e.g. a client killed mid-request
            with self._lock:
                self._arrivals.append(Arrival(now, "POST", channel, "", "", "bad"))
            return Reply(400, json={"error": "unreadable request"})
        key = req.headers.get("Idempotency-Key", "")
        digest = "sha256:" + hashlib.sha256(req.body).hexdigest()
        with self._lock:
            not_before = self._not_before.get((channel, release))
            arrival = Arrival(now, "POST", channel, release, key, "", not_before, digest)
            if not_before is not None and now < not_before:
                self.violations.append(arrival)
            arrival.fault = fault = self._decide(channel, release)
            self._arrivals.append(arrival)
            if fault == "500":
                return Reply(500, json={"error": "injected failure"})
            if fault == "429":
                if self.retry_after_date:  # an HTTP date has whole seconds: not before that second
                    when = float(math.floor(now) + 1 + self.retry_after)
                    header = email.utils.formatdate(when, usegmt=True)
                else:
                    when, header = now + self.retry_after, str(self.retry_after)
                self._not_before[(channel, release)] = when
                return Reply(429, json={"error": "slow down"}, headers={"Retry-After": header})
            if fault == "reset-lost":
                return Reply.reset()
            post, again = self._store(channel, release, text, kind, key, now)
        answer = {"id": post.id, "url": post.url}
        if fault == "hang":
            return Reply(201, json=answer, delay=self.hang)
        if fault == "reset-landed":
            return Reply.reset(delay=min(self.latency, 0.05))
        return Reply(200 if again else 201, json=answer, delay=self.latency)

    def _store(
        self, channel: str, release: str, text: str, kind: str, key: str, now: float
    ) -> tuple[Stored, bool]:
        if key and self._keyed.get(channel):
            known = self._by_key.get((channel, key))
            if known is not None:
                return self._posts[known], True
        post_id = f"{channel}-{len(self._posts) + 1}"
        post = Stored(post_id, channel, release, text, kind, key, f"{self.url}/p/{post_id}", now)
        self._posts[post_id] = post
        self._by_release.setdefault((channel, release), []).append(post_id)
        if key and self._keyed.get(channel):
            self._by_key[(channel, key)] = post_id
        return post, False

    def _on_find(self, channel: str, req: Recorded) -> Reply:
        release = req.query.get("release", "")
        with self._lock:
            self._arrivals.append(Arrival(time.time(), "GET", channel, release, "", "ok"))
            ids = [
                i
                for i in self._by_release.get((channel, release), [])
                if self._posts[i].kind == "post" and not self._posts[i].deleted
            ]
            if not ids:
                return Reply(404, json={"error": "no such post"})
            post = self._posts[ids[0]]
        return Reply(200, json={"id": post.id, "url": post.url})

    def _on_put(self, channel: str, req: Recorded) -> Reply:
        post_id = req.query.get("id", "")
        with self._lock:
            post = self._posts.get(post_id)
            self._arrivals.append(
                Arrival(time.time(), "PUT", channel, post.release if post else "", post_id, "ok")
            )
            if post is None or post.channel != channel:
                return Reply(404, json={"error": f"no post {post_id!r}"})
            post.edits.append(str((req.json or {}).get("text", "")))
        return Reply(200, json={"id": post.id, "url": post.url})

    def _on_delete(self, channel: str, req: Recorded) -> Reply:
        post_id = req.query.get("id", "")
        with self._lock:
            post = self._posts.get(post_id)
            self._arrivals.append(
                Arrival(time.time(), "DELETE", channel, post.release if post else "", post_id, "ok")
            )
            if post is None or post.channel != channel:
                return Reply(404, json={"error": f"no post {post_id!r}"})
            post.deleted = True
        return Reply(200, json={})

    # -- lifecycle ------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChannelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the installation: config, releases, plugins_dir ------------------------------------------------------


@dataclass
class Setup:
    """A syndicator installation in a folder, its channels served by a :class:`ChannelServer`."""

    root: Path
    config: Path
    state: Path
    releases: Path
    keys: list[str]
    channels: dict[str, dict[str, Any]]
    approval: str = "front-matter"  # the source's policy: "front-matter" or "trusted"
    settings: dict[str, Any] = field(default_factory=dict)  # more of the [syndicator] table
    more_sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # beside the folder

    def argv(self, *args: str) -> list[str]:
        """``python -m syndicator -q --config CFG ARGS``: the command a subprocess runs."""
        return [sys.executable, "-m", "syndicator", "-q", "--config", str(self.config), *args]

    def write_release(self, rid: str, *, title: str | None = None, **fields: Any) -> Path:
        """Write ``releases/<rid>.md`` (approved in its front matter unless the source is trusted)."""
        from enginekit import release_text, write_file

        if self.approval == "front-matter":
            text = release_text(id=rid, title=title or f"Siaran pers {rid}", **fields)
        else:  # trusted: the source itself is the approved outlet; the file says nothing of approval
            text = release_text(
                id=rid,
                title=title or f"Siaran pers {rid}",
                status=None,
                approved_by=None,
                approved_at=None,
                **fields,
            )
        return write_file(self.releases / f"{rid}.md", text)

    def rewrite_config(self) -> None:
        _write_config(self)


def channel_tables(server: ChannelServer, **common: Any) -> dict[str, dict[str, Any]]:
    """The three standard channels, pointed at ``server`` (which starts serving them)."""
    return {
        KEY: {"type": "webhook", "url": server.add(KEY, keyed=True), **common},
        LOOKUP: {"type": "fault-lookup", "url": server.add(LOOKUP), **common},
        NONE: {"type": "fault-none", "url": server.add(NONE), **common},
    }


def write_setup(
    root: Path,
    server: ChannelServer,
    *,
    releases: int = 20,
    approval: str = "front-matter",
    channels: dict[str, dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    **common: Any,
) -> Setup:
    """Write ``root/syndicator.toml``, ``root/releases/`` (``releases`` approved files) and
    ``root/plugins/faultchannels.py``. ``channels`` replaces the standard three (hook, look,
    none); ``common`` options (concurrency, timeout, backoff, ...) go in each standard table;
    ``settings`` go in the [syndicator] table."""
    assert approval in ("front-matter", "trusted")
    root.mkdir(parents=True, exist_ok=True)
    (root / "plugins").mkdir(exist_ok=True)
    (root / "plugins" / PLUGIN_MODULE).write_text(PLUGIN_SOURCE, encoding="utf-8")
    setup = Setup(
        root=root,
        config=root / "syndicator.toml",
        state=root / "state" / "syndicator.db",
        releases=root / "releases",
        keys=[],
        channels=channels if channels is not None else channel_tables(server, **common),
        approval=approval,
        settings=dict(settings or {}),
    )
    setup.releases.mkdir(exist_ok=True)
    for n in range(releases):
        rid = f"r{n:02d}"
        setup.write_release(rid, url=f"https://ppid.example.go.id/{rid}")
        setup.keys.append(f"{SOURCE}/{rid}")
    _write_config(setup)
    return setup


def _write_config(setup: Setup) -> None:
    from enginekit import toml_text

    text = toml_text(
        {
            "state": "state/syndicator.db",
            "timezone": "Asia/Makassar",
            "plugins_dir": "plugins",
            **setup.settings,
        },
        {SOURCE: {"type": "directory", "path": "releases", "approval": setup.approval}, **setup.more_sources},
        setup.channels,
    )
    setup.config.write_text(text, encoding="utf-8")


#: Plugins these tests never use, kept out so that work in progress on them (the website's
#: page handling is being rewritten) cannot break a suite about delivery guarantees.
UNUSED_PLUGINS = ("website",)


def plugin_manager() -> pluggy.PluginManager:
    """What the console script builds, minus :data:`UNUSED_PLUGINS`."""
    from syndicator.plugins import get_plugin_manager

    return get_plugin_manager(disabled=UNUSED_PLUGINS)


def subprocess_env() -> dict[str, str]:
    """The environment for a ``syndicator`` subprocess: no SYNDICATOR_* from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env["SYNDICATOR_DISABLE_PLUGINS"] = ",".join(UNUSED_PLUGINS)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def start(setup: Setup, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        setup.argv(*(args or ("run",))),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def run(setup: Setup, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        setup.argv(*(args or ("run",))),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=timeout,
        check=False,
    )


def invoke(setup: Setup, *args: str, expect: int | None = 0) -> Result:
    """``syndicator --config CFG ARGS`` in this process (click's CliRunner, a fresh plugin manager),
    asserting the exit code unless ``expect`` is None. The root logger is left as it was."""
    from click.testing import CliRunner
    from clikit import describe

    from syndicator.cli import build_cli

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        result = CliRunner().invoke(build_cli(plugin_manager()), ["--config", str(setup.config), *args])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    if expect is not None:
        assert result.exit_code == expect, describe(result)
    return result


def status_json(setup: Setup) -> dict[str, Any]:
    """What ``syndicator status --json`` prints (it exits 1 while something needs an operator)."""
    return json.loads(invoke(setup, "status", "--json", expect=None).stdout)


def delivery_states(setup: Setup) -> dict[tuple[str, str], str]:
    """(release, channel) -> state, as ``syndicator status --json`` shows it."""
    data = status_json(setup)
    return {(r["key"], name): d["state"] for r in data["releases"] for name, d in r["deliveries"].items()}


# -- the crash loop ------------------------------------------------------------------------------------------


@dataclass
class TrialResult:
    seed: int
    releases: int = 0  # approved releases, each to go to the three channels
    kills: int = 0  # SIGKILLs that hit a live run
    kills_mid_fan_out: int = 0  # ... after that run's first POST and before it ended
    runs_started: int = 0
    recovery_runs: int = 0
    deliveries: int = 0  # distinct posts on the server
    duplicates: int = 0  # posts beyond the first of one release on one channel
    losses: int = 0  # release x channel neither delivered nor shown unknown (or "sent" with no post)
    unknown: int = 0  # none-channel deliveries left for the operator
    unknown_landed: int = 0  # ... of which the post does exist (the operator resolves --sent)
    posts_before_recovery: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Figures:
    trials: int = 0
    releases: int = 0
    kills: int = 0
    kills_mid_fan_out: int = 0
    deliveries: int = 0
    duplicates: int = 0
    losses: int = 0
    unknown: int = 0
    unknown_landed: int = 0
    runs: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(self, trial: TrialResult) -> None:
        self.trials += 1
        self.releases += trial.releases
        self.kills += trial.kills
        self.kills_mid_fan_out += trial.kills_mid_fan_out
        self.deliveries += trial.deliveries
        self.duplicates += trial.duplicates
        self.losses += trial.losses
        self.unknown += trial.unknown
        self.unknown_landed += trial.unknown_landed
        self.runs += trial.runs_started
        self.problems += [f"seed {trial.seed}: {p}" for p in trial.problems]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"trials={self.trials} releases={self.releases} (x3 channels) "
            f"kills={self.kills} (mid fan-out {self.kills_mid_fan_out}) "
            f"deliveries={self.deliveries} "
            f"duplicates={self.duplicates} losses={self.losses} unknown(none channel)={self.unknown} "
            f"(of which landed={self.unknown_landed}) runs={self.runs} seconds={self.seconds:.1f}"
        )


def _wait_for(predicate: Any, proc: subprocess.Popen[str], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


@contextmanager
def _reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def crash_trial(
    root: Path,
    seed: int,
    *,
    kills: int = 9,
    releases: int = 20,
    latency: float = 0.05,
    concurrency: int = 2,
    new_per_kill: int = 1,
    max_recovery_runs: int = 4,
    settings: dict[str, Any] | None = None,
    slow_feed: float = 0.0,
) -> TrialResult:
    """One trial: ``kills`` runs SIGKILLed mid fan-out on one state, then unkilled runs until quiet.

    ``releases`` approved releases to begin with; after each kill ``new_per_kill`` more are
    approved (the office keeps publishing while things crash), so that later runs still have
    a fan-out to be killed in.

    The kill point is seeded: after the run's first POST plus 0..6 more POSTs, or after a
    random 0..0.5 s from that first POST, or (one time in five) a random 0.2..1 s after the
    process started, wherever it is then (start-up, collect, plan, reconcile, fan-out).

    ``settings`` go in the [syndicator] table: ``{"delivery_processes": 3}`` kills runs whose
    channels are delivered by helper processes, which finish their calls in flight first.
    ``slow_feed`` seconds: a second source, an empty feed that answers that late, so each run
    delivers the folder's releases while it is still being read (``syndicator.headstart``),
    and the kills land in that head start.
    """
    from feedserver import FeedServer

    rng = random.Random(seed)
    result = TrialResult(seed)
    with ChannelServer(seed=seed, latency=latency) as server, FeedServer() as feeds:
        setup = write_setup(
            root, server, releases=releases, concurrency=concurrency, backoff=0.05, settings=settings
        )
        if slow_feed:
            url = feeds.set("/slow.xml", EMPTY_FEED, delay=slow_feed)
            setup.more_sources["slow"] = {"type": "rss", "url": url, "approval": "trusted"}
            setup.rewrite_config()
        attempts = 0
        while result.kills < kills and attempts < kills * 3:
            attempts += 1
            _wait_for_the_lock(setup)
            before = server.post_count()
            result.runs_started += 1
            with _reaped(start(setup)) as proc:
                started = time.monotonic()
                how = rng.random()
                if how < 0.2:
                    time.sleep(rng.uniform(0.2, 1.0))
                else:
                    first = _wait_for(lambda b=before: server.post_count() > b, proc, started + 30)
                    if first:
                        if how < 0.6:
                            more = before + 1 + rng.randint(0, 6)
                            _wait_for(lambda m=more: server.post_count() >= m, proc, time.monotonic() + 10)
                        else:
                            time.sleep(rng.uniform(0.0, 0.5))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    result.kills += 1
                    result.kills_mid_fan_out += server.post_count() > before
            for _ in range(new_per_kill):
                rid = f"k{len(setup.keys):02d}"
                setup.write_release(rid, url=f"https://ppid.example.go.id/{rid}")
                setup.keys.append(f"{SOURCE}/{rid}")
        result.posts_before_recovery = server.post_count()
        # Recovery: unkilled runs until a run sends nothing and nothing is left to send.
        _wait_for_the_lock(setup)  # a killed run's helper processes finish their calls in flight
        for _ in range(max_recovery_runs):
            before = server.post_count()
            result.recovery_runs += 1
            result.runs_started += 1
            done = run(setup)
            if done.returncode not in (0, 1):
                result.problems.append(f"recovery run exited {done.returncode}: {done.stderr.strip()[-500:]}")
            if server.post_count() == before and done.returncode in (0, 1):
                break
        states = delivery_states(setup)
        _judge(server, setup, states, result)
    return result


EMPTY_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Lambat</title><link>https://lambat.example.go.id/</link></channel></rss>
"""


def _wait_for_the_lock(setup: Setup, timeout: float = 30) -> None:
    """Until no process holds the run lock (what cron does by trying again at the next tick)."""
    import fcntl

    from syndicator.lock import lock_path

    path = lock_path(setup.state)
    if not path.exists():
        return
    deadline = time.monotonic() + timeout
    with open(path, "rb") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{path} still held after {timeout} s") from None
                time.sleep(0.05)
                continue
            fcntl.flock(fh, fcntl.LOCK_UN)
            return


def _judge(
    server: ChannelServer, setup: Setup, states: dict[tuple[str, str], str], result: TrialResult
) -> None:
    result.releases = len(setup.keys)
    for key in setup.keys:
        for channel in CHANNELS:
            n = server.count(channel, key)
            state = states.get((key, channel), "missing")
            result.deliveries += n
            result.duplicates += max(0, n - 1)
            if n > 1:
                result.problems.append(f"{key} -> {channel}: posted {n} times")
            if channel in (KEY, LOOKUP):
                if n == 0 or state != "sent":
                    result.losses += 1
                    result.problems.append(f"{key} -> {channel}: {state}, {n} posts on the server")
            elif state == "unknown":
                result.unknown += 1
                result.unknown_landed += n
            elif state != "sent" or n == 0:
                result.losses += 1
                result.problems.append(f"{key} -> {channel}: {state}, {n} posts on the server")
