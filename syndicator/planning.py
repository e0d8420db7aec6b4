"""The gate, plan and reconcile stages: which stored releases are due, one pending delivery
per due release and routed channel, and the deliveries a crash or a timeout left undecided,
settled before anything else is sent. :class:`Planning` is a part of
:class:`syndicator.engine.Engine`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .approval import gate
from .config import ChannelConfig, Config
from .ledger import GateRow, Ledger
from .models import Action, DeliveryState
from .retry import effective_idempotency, idempotency_key
from .runtime import ChannelRuntime, notify

if TYPE_CHECKING:
    import pluggy

    from .engine import RunReport

log = logging.getLogger(__name__)


def plan_fingerprint(channels: Iterable[ChannelConfig]) -> str:
    """What decides which channels a release is planned for. A release planned under the same
    fingerprint, for the content still approved, needs no planning again; adding a channel or
    changing its routing or backfill changes it, and every release is gated once more."""
    routing = sorted(
        (c.name, c.type, c.sources and sorted(c.sources), c.tags and sorted(c.tags), c.backfill)
        for c in channels
    )
    return hashlib.sha256(json.dumps(routing).encode()).hexdigest()[:16]


class Planning:
    """The engine's gate, plan and reconcile stages."""

    config: Config
    pm: pluggy.PluginManager
    ledger: Ledger
    now: Callable[[], datetime]
    actor: str
    runtime: Callable[[str], ChannelRuntime]
    channels: Callable[[], list[ChannelConfig]]  # the enabled channels (Engine.channels)

    def gate_and_plan(self, report: RunReport, channels: list[ChannelConfig]) -> None:
        """Find due releases and create a pending delivery per routed channel.

        A release planned before, under the same channels, for the content still approved
        is not gated again (see ``plan_fingerprint``): an idle tick gates nothing. The marks
        always mean "planned for every enabled channel": a run for some of them (``run
        --channel``) plans for those and leaves the marks as they were.
        """
        now = self.now()
        zone = f" ({self.config.timezone})"
        everyone = self.channels()
        whole = {c.name for c in channels} >= {c.name for c in everyone}
        self.ledger.plan_under(plan_fingerprint(everyone))
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
                report.held.pop(row.key, None)  # held at a head start's gate, due by now
            else:
                report.held[row.key] = verdict.reason
        if not due:
            return
        # Every enabled channel is recorded (a run for some channels included: the others are
        # in the config too), and before the releases are marked due: a run that dies between
        # the two must not leave releases looking older than the channels, which would leave
        # them out for good as not to be backfilled.
        first_seen = self.ledger.record_channels(((c.name, c.type) for c in everyone), now)
        self.ledger.mark_due([r.key for r in due if r.due_since is None], now)
        existing = self.ledger.delivery_index(r.key for r in due)
        waiting = (DeliveryState.PENDING, DeliveryState.FAILED)
        pairs: list[tuple[str, str, str]] = []
        changes: list[tuple[str, str, str, Action]] = []
        by_source: dict[str, list[GateRow]] = {}
        for row in due:
            by_source.setdefault(row.source, []).append(row)
        order = {row.key: i for i, row in enumerate(due)}  # urgent first
        let_go: dict[str, str] = {}  # release -> source: due to a new channel, its text let go
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
                    report.text_awaited += 1
                    let_go.setdefault(row.key, row.source)
                    continue
                pairs.append((row.key, cfg.name, row.content_hash))
        if let_go:
            self._want_text_back(let_go)
        for delivery in self.ledger.plan(pairs, now):
            notify(self.pm, delivery, "planned")
        for delivery in self.ledger.replan(changes, now, detail="approved again with new content"):
            notify(self.pm, delivery, "replanned")
        if whole:  # every routed channel of these releases now has its delivery, or never will
            self.ledger.mark_planned((r.key, r.content_hash) for r in due)

    def _want_text_back(self, let_go: dict[str, str]) -> None:
        """Releases a channel added later (``backfill``) should have, whose text was let go
        (``keep_text``): their sources are read again in full on the next run, and a release
        still there, unchanged, keeps its text again and goes out then. Asked once: a release
        its source no longer has is not sent."""
        asked = self.ledger.want_text(let_go)
        sources = sorted({let_go[key] for key in asked})
        if sources:
            self.ledger.forget_source_state(sources)
            log.warning(
                "%d releases for a channel added later had their text let go (keep_text);"
                " the next run reads %s again in full to get it back",
                len(asked),
                ", ".join(sources),
            )
        if missing := sorted(set(let_go) - asked):
            log.warning(
                "%d releases for a channel added later are not sent: their text was let go"
                " (keep_text) and their source no longer has them as they were (first: %s)",
                len(missing),
                missing[0],
            )

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
        self,
        channels: list[ChannelConfig],
        sources: Iterable[str] | None,
        releases: Iterable[str] | None = None,
    ) -> list[tuple[str, str]]:
        """(release key, channel) of every delivery due now to ``channels``, of ``sources``
        (or all) and ``releases`` (or all: a head start names a source's), urgent first."""
        now = self.now()
        wanted = set(sources) if sources else None
        names = {c.name for c in channels}
        waiting = [DeliveryState.PENDING, DeliveryState.FAILED]
        tasks = [
            (d.release_key, d.channel)
            for d in self.ledger.deliveries(states=waiting, release_keys=releases)
            if d.channel in names
            and (d.next_attempt_at is None or d.next_attempt_at <= now)
            and (wanted is None or d.release_key.split("/", 1)[0] in wanted)
        ]
        if not tasks:
            return tasks
        order = {key: i for i, key in enumerate(self.ledger.in_dispatch_order({t[0] for t in tasks}))}
        return sorted(tasks, key=lambda t: order.get(t[0], len(order)))
