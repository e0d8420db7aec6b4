"""One run, the same idempotent step every time: collect, gate, plan, reconcile, deliver.

The engine wires configured sources and channels to the ledger and the dispatcher. It
holds no state of its own between runs: everything it knows is in the ledger.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import itertools
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import pluggy

from .approval import Hold, PinnedApproval, gate, pin
from .channel import ChannelContext
from .config import ChannelConfig, Config, SourceConfig
from .dispatch import (
    ChannelRuntime,
    Dispatcher,
    Outcome,
    effective_idempotency,
    idempotency_key,
    import_channel_modules,
    notify,
)
from .errors import SourceError, StateError, SyndicatorError
from .fanout import can_fork, split_by_channel, start_helpers, usable_cpus
from .http import made_once
from .ledger import GateRow, Ledger, SourceStateBuffer, utcnow
from .models import NEEDS_OPERATOR, Action, DeliveryState, Receipt, Release
from .pacing import Pacer, parse_rate
from .sources.base import SourceContext

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

RETRACTABLE = (DeliveryState.PENDING, DeliveryState.FAILED, DeliveryState.DEAD)

#: Sources read at once, across every host: enough to hide feed latency.
FETCH_CONCURRENCY = 16
#: Requests at once to any one host: few enough to be polite to its server.
FETCH_PER_HOST = 8
#: Due deliveries from which a run hands channels to helper processes by default: below
#: this, forking costs more than a second core saves.
SPLIT_FROM = 100


@dataclass
class RunReport:
    """What one run did, for the summary and the exit code."""

    dry_run: bool = False
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    source_errors: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # release key -> reason (all held releases)
    fresh: set[str] = field(default_factory=set)  # keys new or changed in this run
    outcomes: list[Outcome] = field(default_factory=list)
    needs_operator: int = 0  # dead or unknown deliveries in the ledger after the run
    not_backfilled: int = 0

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes if o.state == state)

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state in ("failed", "dead", "unknown", "error")]

    @property
    def held_reasons(self) -> Counter[str]:
        return Counter(_reason_kind(r) for r in self.held.values())

    @property
    def exit_code(self) -> int:
        return 1 if self.problems or self.source_errors or self.needs_operator else 0


HOLD_KINDS = ("not approved", "changed since approval", "embargoed", "retracted", "approval hook failed")


def _reason_kind(reason: str) -> str:
    return next((k for k in HOLD_KINDS if reason.startswith(k)), reason.split(":", 1)[0])


def _taking_turns(configs: list[SourceConfig], hosts: dict[str, str | None]) -> list[SourceConfig]:
    """``configs`` with their hosts taking turns (a, b, a, b, a, ...), so that the threads
    waiting for one busy host's turn do not hold up the sources of the others."""
    by_host: dict[str | None, list[SourceConfig]] = {}
    for cfg in configs:
        by_host.setdefault(hosts[cfg.name], []).append(cfg)
    rounds = itertools.zip_longest(*by_host.values())
    return [cfg for turn in rounds for cfg in turn if cfg is not None]


def plan_fingerprint(channels: Iterable[ChannelConfig]) -> str:
    """What decides which channels a release is planned for. A release planned under the same
    fingerprint, for the content still approved, needs no planning again; adding a channel or
    changing its routing or backfill changes it, and every release is gated once more."""
    routing = sorted(
        (c.name, c.type, c.sources and sorted(c.sources), c.tags and sorted(c.tags), c.backfill)
        for c in channels
    )
    return hashlib.sha256(json.dumps(routing).encode()).hexdigest()[:16]


def _offload(pool: ProcessPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return pool.submit(fn, *args).result()
    except BrokenProcessPool:  # a parser process died (killed, out of memory): parse here
        log.warning("a parser process stopped; parsing in the main process")
        return fn(*args)


class Engine:
    def __init__(
        self,
        config: Config,
        pm: pluggy.PluginManager,
        ledger: Ledger,
        *,
        now: Callable[[], datetime] = utcnow,
        actor: str = "syndicator",
    ) -> None:
        self.config = config
        self.actor = actor  # who the audit trail names: an operator, or "cron" for unattended runs
        self.pm = pm
        self.ledger = ledger
        self.now = now
        self._runtimes: dict[str, ChannelRuntime] = {}
        self._source_pool = self._new_source_pool()  # one keep-alive HTTP client for all sources

    # -- building blocks ----------------------------------------------------------------------

    def runtime(self, name: str) -> ChannelRuntime:
        if name not in self._runtimes:
            self._runtimes[name] = self._make_runtime(self.config.channels[name])
        return self._runtimes[name]

    def _make_runtime(self, cfg: ChannelConfig) -> ChannelRuntime:
        from .http import make_session

        # requests.Session is not thread-safe: each call borrows one, and gives it back
        # afterwards with its open connections, so a channel keeps at most `concurrency`.
        idle: list[Any] = []
        lock = threading.Lock()

        def session() -> Any:
            with lock:
                if idle:
                    return idle.pop()
            return make_session(timeout=cfg.timeout, user_agent=self.config.user_agent, pool_size=1)

        def recycle(ctx: ChannelContext) -> None:
            if ctx._session is not None:
                with lock:
                    idle.append(ctx._session)
                ctx._session = None

        def new_pool() -> Any:
            from .http import Pool

            return Pool(timeout=cfg.timeout, user_agent=self.config.user_agent, maxsize=cfg.concurrency)

        pool = made_once(new_pool)
        logger = logging.getLogger(f"syndicator.channel.{cfg.name}")

        def make_context(**overrides: Any) -> ChannelContext:
            return ChannelContext(
                name=cfg.name,
                options=cfg.options,
                base_dir=self.config.base_dir,
                logger=logger,
                timezone=str(self.config.timezone),
                _session_factory=session,
                _pool_factory=pool,  # one per channel, shared by its calls
                **overrides,
            )

        pacer = Pacer(parse_rate(cfg.rate)) if cfg.rate else None
        return ChannelRuntime(cfg, cfg.cls(), make_context, pacer=pacer, recycle=recycle)

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

    def channels(self, only: Iterable[str] | None = None) -> list[ChannelConfig]:
        wanted = set(only) if only else None
        return [c for n, c in self.config.channels.items() if c.enabled and (wanted is None or n in wanted)]

    # -- the stages ---------------------------------------------------------------------------

    def collect(self, report: RunReport, only: Iterable[str] | None = None) -> None:
        """Read every enabled source; store new and changed releases with their approval.

        Sources are read side by side (feeds spend most of their time waiting on the
        network); what they yield is approved and stored here, one source at a time.
        """
        wanted = set(only) if only else None
        configs = [
            c for c in self.config.sources.values() if c.enabled and (wanted is None or c.name in wanted)
        ]
        if not configs:
            return
        parsers = self._start_parsers(sum(1 for c in configs if c.cls.offloads))
        for module in sorted({m for c in configs for m in c.cls.imports}):
            importlib.import_module(module)
        hosts = {cfg.name: cfg.cls.fetches_from(cfg.options) for cfg in configs}
        slots = {host: threading.BoundedSemaphore(FETCH_PER_HOST) for host in set(hosts.values()) if host}
        try:
            with ThreadPoolExecutor(
                min(FETCH_CONCURRENCY, len(configs)), thread_name_prefix="syn-source"
            ) as pool:
                futures = {
                    pool.submit(self._read_source, cfg, parsers, slots.get(hosts[cfg.name] or "")): cfg
                    for cfg in _taking_turns(configs, hosts)
                }
                for future in as_completed(futures):
                    cfg = futures.pop(future)  # a source's releases are let go once stored
                    try:
                        items, state = future.result()
                        self._store_source(cfg, items, state, report)
                    except SourceError as exc:
                        report.source_errors.append(str(exc))
                    except StateError:  # the ledger cannot be written: stop the run, not just this source
                        raise
                    except Exception as exc:  # a broken source plugin must not stop the other sources
                        log.debug("source %s crashed", cfg.name, exc_info=True)
                        report.source_errors.append(f"{cfg.name}: {type(exc).__name__}: {exc}")
        finally:
            if parsers is not None:
                parsers.shutdown(cancel_futures=True)

    def _start_parsers(self, sources: int) -> ProcessPoolExecutor | None:
        """Parser processes for sources to ``offload`` to, or None to parse in this process.

        They are forked before any thread of this run exists (forking a threaded process can
        copy a lock some other thread holds), and only pay off with several sources that
        offload (``Source.offloads``): a run over folders alone forks nothing.
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        workers = self.config.parse_workers
        if workers is None:
            workers = min(4, usable_cpus())
        workers = min(workers, sources)
        if workers < 2 or not can_fork():
            return None
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
        parsers: ProcessPoolExecutor | None = None,
        slot: threading.BoundedSemaphore | None = None,
    ) -> tuple[list[Release | SourceError], SourceStateBuffer]:
        state = SourceStateBuffer(self.ledger, cfg.name)
        ctx = self.source_context(cfg, state)
        if parsers is not None:
            ctx._offload = partial(_offload, parsers)
        with slot or nullcontext():  # one of the few requests its host may have at a time
            return list(cfg.cls().collect(ctx)), state

    def _store_source(
        self,
        cfg: SourceConfig,
        found: list[Release | SourceError],
        state: SourceStateBuffer,
        report: RunReport,
    ) -> None:
        if not found and not state.dirty:  # not modified (a 304, an unchanged folder): nothing to write
            return
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
        for (release, _, _), outcome in zip(items, outcomes, strict=True):
            if outcome == "same":
                continue
            (report.new if outcome == "new" else report.changed).append(release.key)
            report.fresh.add(release.key)
            try:
                self.pm.hook.release_collected(release=release, is_new=outcome == "new")
            except Exception as exc:  # an observer must never stop collection
                log.error("a release_collected hook failed for %s: %s", release.key, exc, exc_info=True)

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

    def gate_and_plan(self, report: RunReport, channels: list[ChannelConfig]) -> None:
        """Find due releases and create a pending delivery per routed channel.

        A release planned before, under the same channels, for the content still approved
        is not gated again (see ``plan_fingerprint``): an idle tick gates nothing.
        """
        now = self.now()
        zone = f" ({self.config.timezone})"
        self.ledger.plan_under(plan_fingerprint(channels))
        due: list[GateRow] = []
        for row in self.ledger.gate_rows(skip_planned=True):
            verdict = gate(
                content_hash=row.content_hash,
                approved_hash=row.approved_hash,
                approved_by=row.approved_by,
                hold_reason=row.hold_reason,
                publish_at=row.publish_at.astimezone(self.config.timezone) if row.publish_at else None,
                retracted=False,
                now=now,
                zone_label=zone,
            )
            if verdict.due:
                due.append(row)
            else:
                report.held[row.key] = verdict.reason
        if not due:
            return
        self.ledger.mark_due([r.key for r in due if r.due_since is None], now)
        existing = self.ledger.delivery_index(r.key for r in due)
        waiting = (DeliveryState.PENDING, DeliveryState.FAILED)
        pairs: list[tuple[str, str, str]] = []
        changes: list[tuple[str, str, str, Action]] = []
        by_source: dict[str, list[GateRow]] = {}
        for row in due:
            by_source.setdefault(row.source, []).append(row)
        order = {row.key: i for i, row in enumerate(due)}  # urgent first
        first_seen = self.ledger.record_channels(((c.name, c.type) for c in channels), now)
        for cfg in channels:
            for row in self._routed(cfg, due, by_source, order):
                if not cfg.routes(row.source, row.tags):
                    continue
                known = existing.get((row.key, cfg.name))
                if known is not None:
                    if known[1] == row.content_hash:
                        continue
                    if known[0] in waiting:  # not sent yet, approved again: send the new version
                        pairs.append((row.key, cfg.name, row.content_hash))
                    elif known[0] == DeliveryState.SENT and cfg.on_change != "ignore":
                        changes.append((row.key, cfg.name, row.content_hash, self._change_action(cfg)))
                    continue
                if not cfg.backfill and (row.due_since or now) < first_seen[cfg.name]:
                    report.not_backfilled += 1
                    continue
                if not row.has_text:  # delivered everywhere before this channel came, and let go
                    log.warning("%s -> %s: not sent, its text was let go (keep_text)", row.key, cfg.name)
                    report.not_backfilled += 1
                    continue
                pairs.append((row.key, cfg.name, row.content_hash))
        for delivery in self.ledger.plan(pairs, now):
            notify(self.pm, delivery, "planned")
        for delivery in self.ledger.replan(changes, now, detail="approved again with new content"):
            notify(self.pm, delivery, "replanned")
        # Every routed channel of these releases now has its delivery, or never will.
        self.ledger.mark_planned((r.key, r.content_hash) for r in due)

    def _routed(
        self,
        cfg: ChannelConfig,
        due: list[GateRow],
        by_source: dict[str, list[GateRow]],
        order: dict[str, int],
    ) -> list[GateRow]:
        """The due rows of the sources ``cfg`` takes, in dispatch order: with a channel per
        agency, walking every row for every channel would cost channels x releases."""
        if cfg.sources is None:
            return due
        picked = [row for name in dict.fromkeys(cfg.sources) for row in by_source.get(name, ())]
        return picked if len(cfg.sources) == 1 else sorted(picked, key=lambda r: order[r.key])

    def _change_action(self, cfg: ChannelConfig) -> Action:
        if cfg.on_change == "update" and cfg.cls.capabilities.edit:
            return Action.UPDATE
        return Action.CORRECT

    def reconcile(self, report: RunReport, channels: list[ChannelConfig]) -> None:
        """Settle deliveries a crash or a timeout left undecided, without posting blindly."""
        names = {c.name for c in channels}
        for d in self.ledger.deliveries(states=[DeliveryState.IN_FLIGHT]):
            # We hold the run lock, so no other process can be mid-call: this one was interrupted.
            self._transition(
                d.release_key,
                d.channel,
                DeliveryState.UNKNOWN,
                self.now(),
                event="interrupted",
                expect=[DeliveryState.IN_FLIGHT],
                detail="a run stopped during the call",
            )
        for d in self.ledger.deliveries(states=[DeliveryState.UNKNOWN]):
            if d.channel not in names:
                continue
            rt = self.runtime(d.channel)
            how = effective_idempotency(rt.channel, d.action)
            if how == "key":
                self._transition(
                    d.release_key,
                    d.channel,
                    DeliveryState.PENDING,
                    self.now(),
                    event="reconciled",
                    expect=[DeliveryState.UNKNOWN],
                    detail="retry with the same idempotency key",
                )
            elif how == "lookup" and d.action is Action.PUBLISH:
                # A lookup finds the original post; it cannot tell whether a correction or a
                # notice went out after it, so those stay unknown for the operator.
                self._lookup(rt, d.release_key, report)

    def _lookup(self, rt: ChannelRuntime, key: str, report: RunReport) -> None:
        stored = self.ledger.release(key)
        if stored is None:
            return
        ctx = rt.make_context(
            idempotency_key=idempotency_key(key, rt.config.name, stored.release.content_hash)
        )
        try:
            receipt = rt.channel.find_existing(stored.release, ctx)
        except Exception as exc:  # still unknown; the operator sees it in status
            log.warning("%s -> %s: lookup failed, still unknown: %s", key, rt.config.name, exc)
            return
        if receipt is not None:
            self._transition(
                key,
                rt.config.name,
                DeliveryState.SENT,
                self.now(),
                event="reconciled",
                expect=[DeliveryState.UNKNOWN],
                receipt=receipt,
                detail=f"found on the platform: {receipt.url}",
            )
        else:
            self._transition(
                key,
                rt.config.name,
                DeliveryState.PENDING,
                self.now(),
                event="reconciled",
                expect=[DeliveryState.UNKNOWN],
                detail="not found on the platform; will post",
            )

    def _transition(self, key: str, channel: str, state: DeliveryState, now: datetime, **kw: Any) -> None:
        kw.setdefault("actor", self.actor)
        notify(self.pm, self.ledger.transition(key, channel, state, now, **kw), kw.get("event") or str(state))

    def due_tasks(
        self, channels: list[ChannelConfig], sources: Iterable[str] | None
    ) -> list[tuple[str, str]]:
        now = self.now()
        wanted = set(sources) if sources else None
        names = {c.name for c in channels}
        tasks = [
            (d.release_key, d.channel)
            for d in self.ledger.deliveries(states=[DeliveryState.PENDING, DeliveryState.FAILED])
            if d.channel in names
            and (d.next_attempt_at is None or d.next_attempt_at <= now)
            and (wanted is None or d.release_key.split("/", 1)[0] in wanted)
        ]
        if not tasks:
            return tasks
        order = {key: i for i, key in enumerate(self.ledger.in_dispatch_order({t[0] for t in tasks}))}
        return sorted(tasks, key=lambda t: order.get(t[0], len(order)))

    # -- the run ------------------------------------------------------------------------------

    def run(
        self,
        *,
        sources: Iterable[str] | None = None,
        channels: Iterable[str] | None = None,
        dry_run: bool = False,
        stop: threading.Event | None = None,
        progress: Callable[[Outcome], None] | None = None,
    ) -> RunReport:
        """Collect, gate, plan, reconcile and deliver. A dry run works on an in-memory copy
        of the ledger and only renders, so nothing it does is published or kept."""
        self._check_names(sources, channels)
        if dry_run:
            copy = Engine(self.config, self.pm, self.ledger.snapshot(), now=self.now, actor=self.actor)
            try:
                return copy._run(sources, channels, dry_run=True, stop=stop, progress=progress)
            finally:
                copy.ledger.close()
        return self._run(sources, channels, dry_run=False, stop=stop, progress=progress)

    def _run(
        self,
        sources: Iterable[str] | None,
        channels: Iterable[str] | None,
        *,
        dry_run: bool,
        stop: threading.Event | None = None,
        progress: Callable[[Outcome], None] | None = None,
    ) -> RunReport:
        report = RunReport(dry_run=dry_run)
        selected = self.channels(channels)
        self.collect(report, sources)
        self.gate_and_plan(report, selected)
        if not dry_run:
            self.reconcile(report, selected)
        tasks = self.due_tasks(selected, sources)
        report.outcomes = self.deliver(
            tasks, selected, dry_run=dry_run, stop=stop or threading.Event(), progress=progress
        )
        if not dry_run and self.config.keep_text == "until-delivered":
            self.ledger.let_go_of_delivered_text()
        report.needs_operator = len(self.ledger.deliveries(states=NEEDS_OPERATOR))
        return report

    def deliver(
        self,
        tasks: list[tuple[str, str]],
        channels: list[ChannelConfig],
        *,
        dry_run: bool,
        stop: threading.Event,
        progress: Callable[[Outcome], None] | None,
    ) -> list[Outcome]:
        """Deliver ``tasks`` (release key, channel) in this process, or, with many due over
        several channels, with whole channels handed to helper processes (``fanout``)."""
        runtimes = {c.name: self.runtime(c.name) for c in channels}
        groups = [tasks]
        if not dry_run and not stop.is_set():  # a dry run's ledger is an in-memory copy: stay here
            groups = split_by_channel(tasks, self._delivery_processes(len(tasks)))
        if len(groups) == 1:
            return self._dispatcher(runtimes, stop, progress, dry_run=dry_run).run(tasks)
        import_channel_modules(runtimes.values())  # once, before the fork
        with self.ledger.disconnected():
            helpers = start_helpers(groups[1:], self._deliver_in_helper, stop, progress)
        handed_off = helpers.channels
        own = [task for task in tasks if task[1] not in handed_off]  # a helper that could not start: here
        try:
            outcomes = self._dispatcher(runtimes, stop, progress).run(own)
        except BaseException:
            stop.set()  # the helpers finish their calls in flight, start no more, and report
            helpers.join()
            raise
        return outcomes + helpers.join()

    def _delivery_processes(self, due: int) -> int:
        wanted = self.config.delivery_processes
        if wanted is None:  # automatic: only where a second core repays the fork
            wanted = min(4, usable_cpus()) if due >= SPLIT_FROM else 1
        return wanted if wanted > 1 and can_fork() else 1

    def _deliver_in_helper(
        self, tasks: list[tuple[str, str]], report: Callable[[Outcome], None], stop: threading.Event
    ) -> None:
        """In a helper process: its own ledger connection and its own channel runtimes (the
        parent's may hold open sockets, and an inherited SQLite connection is never safe)."""
        self.ledger = Ledger.open(self.ledger.path)
        self._runtimes = {}
        try:
            runtimes = {name: self.runtime(name) for name in dict.fromkeys(channel for _, channel in tasks)}
            self._dispatcher(runtimes, stop, report).run(tasks)
        finally:
            self.ledger.close(tidy=False)  # the run's own process folds the WAL in at its end

    def _dispatcher(
        self,
        runtimes: dict[str, ChannelRuntime],
        stop: threading.Event,
        progress: Callable[[Outcome], None] | None,
        *,
        dry_run: bool = False,
    ) -> Dispatcher:
        return Dispatcher(
            self.ledger,
            runtimes,
            self.pm,
            now=self.now,
            dry_run=dry_run,
            actor=self.actor,
            stop=stop,
            progress=progress,
        )

    def _check_names(self, sources: Iterable[str] | None, channels: Iterable[str] | None) -> None:
        for kind, given, known in (
            ("source", sources, self.config.sources),
            ("channel", channels, self.config.channels),
        ):
            for name in given or ():
                if name not in known:
                    raise SyndicatorError(
                        f"no {kind} named {name!r} in {self.config.path} (have: {', '.join(known)})"
                    )

    # -- operator actions ---------------------------------------------------------------------

    def retract(self, key: str, by: str, reason: str) -> list[Outcome]:
        """Withdraw a release everywhere it went: delete where the platform allows, post a notice
        where configured, and never send it anywhere it has not gone yet."""
        now = self.now()
        self.ledger.retract(key, by, reason, now)
        changes = []
        for d in self.ledger.deliveries(release_key=key):
            if d.state is DeliveryState.SENT or (d.receipt is not None and d.state in RETRACTABLE):
                # Published once (a correction may still be pending): withdraw what went out.
                changes.append((key, d.channel, d.content_hash, Action.RETRACT))
            elif d.state in RETRACTABLE:
                self._transition(
                    key,
                    d.channel,
                    DeliveryState.ABANDONED,
                    now,
                    event="abandoned",
                    actor=by,
                    detail="release retracted before it was sent",
                )
        for delivery in self.ledger.replan(changes, now, actor=by, detail=reason):
            notify(self.pm, delivery, "replanned")
        names = {c.name for c in self.channels()}
        runtimes = {n: self.runtime(n) for n in names}
        dispatcher = Dispatcher(self.ledger, runtimes, self.pm, now=self.now, actor=by)
        return dispatcher.run([(key, ch) for _, ch, _, _ in changes if ch in names])

    def requeue(self, key: str | None, channel: str | None, by: str) -> list[str]:
        """Put failed and dead deliveries back in the queue with fresh attempts."""
        done = []
        for d in self.ledger.deliveries(
            release_key=key, channel=channel, states=[DeliveryState.FAILED, DeliveryState.DEAD]
        ):
            self._transition(
                d.release_key,
                d.channel,
                DeliveryState.PENDING,
                self.now(),
                event="requeued",
                actor=by,
                attempts=0,
                expect=[d.state],
                detail=f"was {d.state}",
            )
            done.append(f"{d.release_key} -> {d.channel}")
        return done

    def resolve(self, key: str, channel: str, by: str, *, sent_url: str | None, retry: bool) -> str:
        """An operator settles an unknown (or dead) delivery: it was sent, send it, or drop it."""
        d = self.ledger.delivery(key, channel)
        if d is None:
            raise SyndicatorError(f"{key} has no delivery to {channel!r}")
        if d.state not in NEEDS_OPERATOR:
            raise SyndicatorError(
                f"{key} -> {channel} is {d.state}; only unknown or dead deliveries are resolved"
            )
        if sent_url is not None:
            state, how = DeliveryState.SENT, f"found published at {sent_url}"
            receipt = Receipt(url=sent_url, extra={"resolved_by": by})
        elif retry:
            state, how, receipt = DeliveryState.PENDING, "send it again", None
        else:
            state, how, receipt = DeliveryState.ABANDONED, "abandoned", None
        self._transition(
            key,
            channel,
            state,
            self.now(),
            event="resolved",
            actor=by,
            expect=[d.state],
            receipt=receipt,
            attempts=0 if retry else None,
            detail=how,
        )
        return how
