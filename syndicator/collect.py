"""The collect stage: read every enabled source, side by side, and store what it holds.

Feeds spend most of their time waiting on the network, so sources are read by threads, a
bounded number at once and fewer per host; parsing goes to forked parser processes where it
pays; each source's releases are approved (``approve_release``) and stored here, one source
at a time. :class:`Collecting` is a part of :class:`syndicator.engine.Engine`.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from .approval import Hold, PinnedApproval, pin
from .config import Config, SourceConfig
from .errors import SourceError, StateError
from .fanout import can_fork, usable_cpus
from .http import made_once
from .ledger import Ledger, SourceStateBuffer
from .models import Release
from .sources.base import SourceContext

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    import pluggy

    from .engine import RunReport

log = logging.getLogger(__name__)

T = TypeVar("T")
SourceRead = tuple[list[Release | SourceError], SourceStateBuffer]  # what reading one source gave

#: Sources read at once, across every host: enough to hide feed latency.
FETCH_CONCURRENCY = 16
#: Requests at once to any one host: few enough to be polite to its server.
FETCH_PER_HOST = 8
#: Parser processes pay off when a run parses at least this many feeds.
PARALLEL_PARSES = 2
#: A burst (a run with parser processes) waits this long, in seconds, for all its sources
#: before what is stored starts going out (a head start). A quick burst is delivered whole,
#: urgent first across every source and over processes; a slow feed holds the others up
#: this long, not up to its timeout.
BURST_PATIENCE = 3.0
#: The ledger hint that carries how many feeds read before changed in the last run.
CHANGED_HINT = "feeds_changed"
#: The ledger hint that names the sources the last run could not read (a JSON list).
FAILED_HINT = "sources_failed"


def _completed(futures: Iterable[Future[T]], wake_at: float | None) -> Iterator[Future[T] | None]:
    """Each of ``futures`` as it completes (as ``as_completed`` gives them), and None once at
    ``wake_at`` (a ``time.monotonic`` time) if some are still running then."""
    running = set(futures)
    while running:
        timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
        done, running = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        while done:  # popped, not iterated: a stored source's releases are not kept alive here
            yield done.pop()
        if wake_at is not None and time.monotonic() >= wake_at:
            wake_at = None
            if running:
                yield None


def _text_of_html(release: Release) -> Release:
    """The release with the text of its approved HTML as its plain text: a source's own
    ``body_text`` is not covered by the approval, and channels publish it."""
    from .content import html_to_text  # with a source that needs it: not on an idle tick

    text = html_to_text(release.body_html)
    return release if release.body_text == text else release.with_changes(body_text=text)


def _named(hint: str | None) -> set[str]:
    """The source names a list hint holds; none if it is missing or not a list of names."""
    try:
        names = json.loads(hint or "[]")
    except ValueError:
        return set()
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def _taking_turns(configs: list[SourceConfig], hosts: dict[str, str | None]) -> list[SourceConfig]:
    """``configs`` with their hosts taking turns (a, b, a, b, a, ...), so that the threads
    waiting for one busy host's turn do not hold up the sources of the others."""
    by_host: dict[str | None, list[SourceConfig]] = {}
    for cfg in configs:
        by_host.setdefault(hosts[cfg.name], []).append(cfg)
    rounds = itertools.zip_longest(*by_host.values())
    return [cfg for turn in rounds for cfg in turn if cfg is not None]


def _offload(
    pool: ProcessPoolExecutor | None, changed: list[str] | None, fn: Callable[..., Any], *args: Any
) -> Any:
    if changed is not None:
        changed.append(fn.__name__)  # list.append is atomic: every source's thread counts here
    if pool is None:
        return fn(*args)
    from concurrent.futures.process import BrokenProcessPool

    try:
        return pool.submit(fn, *args).result()
    except BrokenProcessPool:  # a parser process died (killed, out of memory): parse here
        log.warning("a parser process stopped; parsing in the main process")
        return fn(*args)


class Collecting:
    """The engine's collect stage (and the contexts its sources get)."""

    config: Config
    pm: pluggy.PluginManager
    ledger: Ledger
    now: Callable[[], datetime]
    _source_pool: Callable[[], Any]

    def source_context(self, cfg: SourceConfig, state: Any) -> SourceContext:
        from .http import make_session

        return SourceContext(
            name=cfg.name,
            options=cfg.options,
            base_dir=self.config.base_dir,
            logger=logging.getLogger(f"syndicator.source.{cfg.name}"),
            state=state,
            timezone=self.config.timezone,
            defaults={"agency": cfg.agency, "language": cfg.language, "tags": list(cfg.tags)},
            _session_factory=lambda: make_session(user_agent=self.config.user_agent),
            _pool_factory=self._source_pool,
        )

    def _new_source_pool(self) -> Callable[[], Any]:
        def new_pool() -> Any:
            from .http import Pool

            # Feeds often share a host (a province's agencies): a kept-alive connection for each
            # request that host may have at a time.
            return Pool(user_agent=self.config.user_agent, maxsize=FETCH_PER_HOST)

        return made_once(new_pool)

    def collect(
        self,
        report: RunReport,
        only: Iterable[str] | None = None,
        on_stored: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Read every enabled source; store new and changed releases with their approval.

        Sources are read side by side (feeds spend most of their time waiting on the
        network); what they yield is approved and stored here, one source at a time.
        ``on_stored`` is given the keys of a source's new and changed releases once they are
        stored, while other sources are still being read (see ``syndicator.headstart``): at
        once in the usual tick; in a burst (a run with parser processes) only once it has
        waited :data:`BURST_PATIENCE` for its sources, then all it holds so far in one call.
        """
        wanted = set(only) if only else None
        enabled = [c for c in self.config.sources.values() if c.enabled]
        configs = [c for c in enabled if wanted is None or c.name in wanted]
        if not configs:
            return
        parsers = self._start_parsers([c.name for c in configs if c.cls.offloads])
        changed: list[str] = []  # a parse by a source read before: what the next run expects
        failed: list[str] = []
        for module in sorted({m for c in configs for m in c.cls.imports}):
            importlib.import_module(module)
        hosts = {cfg.name: cfg.cls.fetches_from(cfg.options) for cfg in configs}
        slots = {host: threading.BoundedSemaphore(FETCH_PER_HOST) for host in set(hosts.values()) if host}
        try:
            with ThreadPoolExecutor(
                min(FETCH_CONCURRENCY, len(configs)), thread_name_prefix="syn-source"
            ) as pool:
                futures = {
                    pool.submit(
                        self._read_source, cfg, changed, parsers, slots.get(hosts[cfg.name] or "")
                    ): cfg
                    for cfg in _taking_turns(configs, hosts)
                }
                # A burst waits a little for all its sources before anything goes out.
                holding = parsers is not None
                held: list[str] = []
                wake_at = time.monotonic() + BURST_PATIENCE if holding else None
                for future in _completed(futures, wake_at):
                    if future is None:  # waited long enough: what is stored goes out now
                        holding = False
                        if on_stored is not None and held:
                            on_stored(held)
                        continue
                    cfg = futures.pop(future)  # a source's releases are let go once stored
                    fresh = self._store_result(cfg, future, report, failed)
                    if on_stored is not None and fresh and futures:  # others still being read
                        if holding:
                            held += fresh
                        else:
                            on_stored(fresh)
        finally:
            if parsers is not None:
                parsers.shutdown(cancel_futures=True)
        if len(configs) == len(enabled):  # a run for some sources says nothing of the others
            self.ledger.note_hint(CHANGED_HINT, str(len(changed)))
            self.ledger.note_hint(FAILED_HINT, json.dumps(sorted(failed)))

    def _store_result(
        self, cfg: SourceConfig, future: Future[SourceRead], report: RunReport, failed: list[str]
    ) -> list[str]:
        """Store what reading ``cfg`` gave; a source that failed is reported (and named in
        ``failed``), not raised: the other sources carry on. Returns the fresh keys."""
        try:
            items, state = future.result()
            return self._store_source(cfg, items, state, report)
        except SourceError as exc:
            report.source_errors.append(str(exc))
        except StateError:  # the ledger cannot be written: stop the run, not just this source
            raise
        except Exception as exc:  # a broken source plugin must not stop the other sources
            log.debug("source %s crashed", cfg.name, exc_info=True)
            report.source_errors.append(f"{cfg.name}: {type(exc).__name__}: {exc}")
        failed.append(cfg.name)
        return []

    def _start_parsers(self, sources: list[str]) -> ProcessPoolExecutor | None:
        """Parser processes for sources to ``offload`` to, or None to parse in this process.

        They are forked before any thread of this run exists (forking a threaded process can
        copy a lock some other thread holds), and only pay off with several sources that
        offload (``Source.offloads``): a run over folders alone forks nothing.

        Nor do they pay off in a run where (nearly) every feed answers "not modified", the
        usual cron tick. A run cannot know that before it asks, and cannot fork once its
        fetch threads run, so it counts the parses it expects: every source never read
        before (nothing to compare with: it will be parsed) that the last run did not fail to
        read, and as many of the others as changed in the last run. Below :data:`PARALLEL_PARSES` it parses in this process;
        the first run of a burst after a quiet spell so parses here, the next one not.
        """
        if len(sources) < PARALLEL_PARSES:  # a run over folders, or one feed: nothing to fork
            return None
        last = self.ledger.hint(CHANGED_HINT)
        if last is not None and last.isdigit():
            # A feed that has never answered (a dead link, a host gone) keeps no state; it is
            # not counted as a parse to come, or two of them would fork processes every tick.
            failing = _named(self.ledger.hint(FAILED_HINT))
            unread = set(sources) - self.ledger.sources_with_state(sources) - failing
            if len(unread) + int(last) < PARALLEL_PARSES:
                return None
        workers = self.config.parse_workers
        if workers is None:
            workers = min(4, usable_cpus())
        workers = min(workers, len(sources))
        if workers < 2 or not can_fork():
            return None
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # A forked worker inherits the ledger's connection but never touches it, and leaves
        # with os._exit, so it cannot close or checkpoint the parent's database.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        gc.freeze()  # the collector would otherwise write to (and so copy) every shared page
        try:  # the first submit forks them all, now, while this is the only thread; nothing waits
            pool.submit(int)
        finally:
            gc.unfreeze()
        return pool

    def _read_source(
        self,
        cfg: SourceConfig,
        changed: list[str],
        parsers: ProcessPoolExecutor | None = None,
        slot: threading.BoundedSemaphore | None = None,
    ) -> SourceRead:
        state = SourceStateBuffer(self.ledger, cfg.name)
        ctx = self.source_context(cfg, state)
        counted = cfg.cls.offloads and state.get_all()  # a folder's index is not copied for nothing
        ctx._offload = partial(_offload, parsers, changed if counted else None)
        with slot or nullcontext():  # one of the few requests its host may have at a time
            found = list(cfg.cls().collect(ctx))
        if not cfg.cls.text_from_html:
            found = [item if isinstance(item, SourceError) else _text_of_html(item) for item in found]
        return found, state

    def _store_source(
        self,
        cfg: SourceConfig,
        found: list[Release | SourceError],
        state: SourceStateBuffer,
        report: RunReport,
    ) -> list[str]:
        """Approve and store what a source yielded; return the keys new or changed in this run."""
        if not found and not state.dirty:  # not modified (a 304, an unchanged folder): nothing to write
            return []
        # Only the releases found: a tick with one new file reads one row, not the archive.
        summaries = self.ledger.summaries(item.key for item in found if not isinstance(item, SourceError))
        items: list[tuple[Release, PinnedApproval | None, str | None]] = []
        for item in found:
            if isinstance(item, SourceError):
                report.source_errors.append(str(item))
                continue
            old = summaries.get(item.key)
            pinned, hold = self.decide(item, cfg, old.pinned if old else None)
            items.append((item, pinned, hold))
        outcomes = self.ledger.store_releases(items, self.now(), state)
        fresh = []
        for (release, _, _), outcome in zip(items, outcomes, strict=True):
            if outcome == "same":
                continue
            (report.new if outcome == "new" else report.changed).append(release.key)
            report.fresh.add(release.key)
            fresh.append(release.key)
            try:
                self.pm.hook.release_collected(release=release, is_new=outcome == "new")
            except Exception as exc:  # an observer must never stop collection
                log.error("a release_collected hook failed for %s: %s", release.key, exc, exc_info=True)
        return fresh

    def decide(
        self, release: Release, cfg: SourceConfig, stored: PinnedApproval | None
    ) -> tuple[PinnedApproval | None, str | None]:
        """Ask the approval hooks, then pin the answer to the release's content."""
        try:
            decision = self.pm.hook.approve_release(release=release, source=cfg)
        except Exception as exc:  # a broken policy plugin holds the release; it never approves it
            log.error("approve_release failed for %s: %s", release.key, exc, exc_info=True)
            decision = Hold(f"approval hook failed: {exc}")
        if decision is None:
            decision = Hold("no approval policy decided")
        pinned = pin(decision, release.content_hash, stored)
        # A hold reason only explains a missing approval; an operator's approval outranks it.
        return pinned, (decision.reason if isinstance(decision, Hold) and pinned is None else None)
