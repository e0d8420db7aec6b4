"""One run, the same idempotent step every time: collect, gate, plan, reconcile, deliver.

The engine wires configured sources and channels to the ledger and the dispatcher. It
holds no state of its own between runs: everything it knows is in the ledger. Collecting is
``syndicator.collect``'s; gating, planning and reconciling, ``syndicator.planning``'s;
delivering while sources are read, ``syndicator.headstart``'s; delivering across
processes, ``syndicator.fanout``'s.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pluggy

from .collect import Collecting
from .config import ChannelConfig, Config
from .dispatch import Dispatcher, Outcome
from .errors import SyndicatorError
from .fanout import can_fork, split_by_channel, start_helpers, usable_cpus
from .headstart import HeadStart
from .ledger import Ledger, utcnow
from .models import NEEDS_OPERATOR, Action, DeliveryState, Receipt
from .planning import Planning
from .runtime import ChannelRuntime, finish_channel, import_channel_modules, make_runtime, notify

log = logging.getLogger(__name__)

RETRACTABLE = (DeliveryState.PENDING, DeliveryState.FAILED, DeliveryState.DEAD)

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
    text_awaited: int = 0  # deliveries for a channel added later, waiting for a let-go text

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


class Engine(Collecting, Planning):
    """One run's stages over the configured sources and channels (``collect``: see
    ``syndicator.collect``; gate, plan and reconcile: ``syndicator.planning``), and the
    operator's actions on deliveries."""

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
            self._runtimes[name] = make_runtime(self.config.channels[name], self.config)
        return self._runtimes[name]

    def channels(self, only: Iterable[str] | None = None) -> list[ChannelConfig]:
        wanted = set(only) if only else None
        return [c for n, c in self.config.channels.items() if c.enabled and (wanted is None or n in wanted)]

    # -- the stages after collect -----------------------------------------------------------

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
        stop = stop or threading.Event()
        early = None if dry_run else self._head_start(report, selected, stop, progress)
        try:
            self.collect(report, sources, on_stored=early.offer if early else None)
        except BaseException:
            if early is not None:
                early.finish(abandon=True)  # calls in flight end and are recorded; no more start
                self._finish_channels(early.channels)
            raise
        report.outcomes = early.finish() if early else []
        self.gate_and_plan(report, selected)
        if not dry_run:
            self.reconcile(report, selected)
        tasks = self.due_tasks(selected, sources)
        if report.outcomes:  # a head start's: what it answered for is not tried twice in a run
            answered = {(o.release_key, o.channel) for o in report.outcomes}
            tasks = [task for task in tasks if task not in answered]
        report.outcomes += self.deliver(tasks, selected, dry_run=dry_run, stop=stop, progress=progress)
        if early is not None:  # the delivery stage finished the channels it delivered to
            self._finish_channels(early.channels - {channel for _, channel in tasks})
        if not dry_run and self.config.keep_text == "until-delivered":
            self.ledger.let_go_of_delivered_text()
        report.needs_operator = len(self.ledger.deliveries(states=NEEDS_OPERATOR))
        return report

    def _head_start(
        self,
        report: RunReport,
        channels: list[ChannelConfig],
        stop: threading.Event,
        progress: Callable[[Outcome], None] | None,
    ) -> HeadStart | None:
        """Deliveries that may start while sources are still being read (``headstart``); None
        when a call of an earlier run is still undecided: ``reconcile`` settles it first."""
        if not channels or self.ledger.deliveries(states=[DeliveryState.IN_FLIGHT, DeliveryState.UNKNOWN]):
            return None

        def plan(keys: list[str]) -> list[tuple[str, str]]:
            self.gate_and_plan(report, channels)
            return self.due_tasks(channels, None, keys)

        def deliver(tasks: list[tuple[str, str]]) -> list[Outcome]:
            runtimes = {name: self.runtime(name) for name in dict.fromkeys(c for _, c in tasks)}
            return self._dispatcher(runtimes, stop, progress, finish=False).run(tasks)

        return HeadStart(plan, deliver)

    def _finish_channels(self, names: Iterable[str]) -> None:
        for name in sorted(names):
            finish_channel(self.runtime(name))

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
        finish: bool = True,
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
            finish=finish,
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
