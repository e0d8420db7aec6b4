"""Deliver due releases to channels: one self-contained unit of work per release and channel.

``deliver_one`` reads what it needs from the ledger, re-checks the gate, renders, commits
``in_flight``, calls the channel, and records the outcome, so the same unit could run as a
task elsewhere. The rule that matters most: an exception after ``in_flight`` is never
recorded as success, and an outcome we cannot know is ``unknown``, never retried blindly.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

import pluggy

from .channel import ChannelContext
from .channelqueue import ChannelQueue
from .errors import AuthError, PermanentError
from .ledger import Ledger, Pending, StoredRelease
from .models import Action, Delivery, DeliveryState, Post, Receipt, Release
from .retry import backoff_delay, classify, effective_idempotency, idempotency_key
from .runtime import ChannelRuntime, finish_channel, import_channel_modules, notify

log = logging.getLogger(__name__)

#: Delivery threads per run, shared by all channels. Threads mostly wait on the network;
#: more than this only makes them fight over the interpreter lock.
MAX_WORKERS = 16
RETRYABLE = (DeliveryState.PENDING, DeliveryState.FAILED)


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery in this run, for the summary."""

    release_key: str
    channel: str
    state: str  # a DeliveryState value, or "skipped" / "would-publish"
    detail: str = ""
    url: str = ""
    post: Post | None = None
    attempt: int = 0


@dataclass(frozen=True)
class _Unsettled:
    """An outcome whose record is queued for the ledger's next commit (see ``start_delivery``)."""

    pending: Pending[Delivery]
    event: str
    outcome: Outcome


class Dispatcher:
    """Delivers (release key, channel) pairs for one run: each through ``start_delivery``,
    many side by side (``run``), every step recorded in the ledger before it is reported."""

    def __init__(
        self,
        ledger: Ledger,
        runtimes: dict[str, ChannelRuntime],
        pm: pluggy.PluginManager,
        *,
        now: Callable[[], datetime],
        dry_run: bool = False,
        rng: random.Random | None = None,
        actor: str = "syndicator",
        stop: threading.Event | None = None,
        progress: Callable[[Outcome], None] | None = None,
        finish: bool = True,
    ) -> None:
        self.ledger = ledger
        self.runtimes = runtimes
        self.pm = pm
        self.now = now
        self.dry_run = dry_run
        self.rng = rng or random.Random()
        self.actor = actor
        self.stop = stop or threading.Event()  # set on SIGTERM: finish the calls in flight, start no more
        self.progress = progress
        self.finish = finish  # False: the run calls finish_channel itself, later (``headstart``)
        # A release going to several channels is read once; it is dropped after its last
        # delivery of the run, so memory follows the deliveries in flight, not the backlog.
        self._releases: dict[str, StoredRelease | None] = {}
        self._uses: Counter[str] = Counter()
        self._cache_lock = threading.Lock()

    def run(self, tasks: Iterable[tuple[str, str]]) -> list[Outcome]:
        """Deliver (release key, channel) pairs in the order given, each channel at most
        ``concurrency`` calls at a time, all channels sharing one pool of worker threads."""
        tasks = list(tasks)
        self._uses.update(key for key, _ in tasks)
        queue = ChannelQueue(tasks, {name: rt.config.concurrency for name, rt in self.runtimes.items()})
        outcomes: list[Outcome] = []

        def settle(key: str, name: str, report: Callable[[], Outcome]) -> None:
            try:
                outcomes.append(report())
            finally:
                self._done_with(key)
                if queue.settled(name) and self.finish and not self.dry_run:  # its last delivery here
                    finish_channel(self.runtimes[name])

        def work() -> None:
            # A call's outcome is queued for the next group commit; this worker's next claim
            # carries it to disk (one commit for both), and only then is it reported. A worker
            # about to wait (for a free slot, or for a paced channel's turn) commits it first:
            # a finished call's record never waits on another call.
            previous: tuple[str, str, Callable[[], Outcome]] | None = None
            while True:
                task = queue.take(wait=previous is None)
                if previous is not None and (task is None or self.runtimes[task[1]].pacer is not None):
                    settle(*previous)
                    previous = None
                    if task is None:
                        continue  # now wait for a slot, with nothing left unrecorded
                if task is None:
                    return
                key, name = task
                try:
                    report = self.start_delivery(key, name)
                finally:
                    queue.release(name)
                if previous is not None:
                    settle(*previous)
                previous = (key, name, report)

        workers = min(MAX_WORKERS, queue.useful_workers())
        if workers:
            import_channel_modules(self.runtimes.values())
            with ThreadPoolExecutor(workers, thread_name_prefix="syn-deliver") as pool:
                for future in [pool.submit(work) for _ in range(workers)]:
                    future.result()
        return outcomes

    def deliver_one(self, release_key: str, channel: str) -> Outcome:
        """Deliver one release to one channel, recording every step in the ledger."""
        return self.start_delivery(release_key, channel)()

    def start_delivery(self, release_key: str, channel: str) -> Callable[[], Outcome]:
        """Deliver one release to one channel, up to the record of how the call went, which
        may still be queued for the ledger's next commit. The function returned waits until
        that record is durable, reports it (hooks, log, progress) and returns the outcome."""
        rt = self.runtimes[channel]
        if self.stop.is_set():
            stopped = Outcome(release_key, channel, "skipped", "stopping: left for the next run")
            return lambda: stopped
        started = time.monotonic()
        try:
            result = self._deliver(rt, release_key, channel)
        except Exception as exc:  # never let one delivery stop the pool; the ledger says what is known
            log.error("%s -> %s: %s", release_key, channel, exc, exc_info=True)
            result = Outcome(release_key, channel, "error", f"internal error: {exc}")
        return partial(self._report, release_key, channel, result, time.monotonic() - started)

    def _report(self, release_key: str, channel: str, result: Outcome | _Unsettled, took: float) -> Outcome:
        if isinstance(result, _Unsettled):
            try:
                self._record(result.pending.result(), result.event)
                outcome = result.outcome
            except Exception as exc:  # the call went out but its record did not: the ledger has in_flight
                log.error("%s -> %s: %s", release_key, channel, exc, exc_info=True)
                outcome = Outcome(release_key, channel, "error", f"internal error: {exc}")
        else:
            outcome = result
        log.info(
            "%s -> %s: %s%s",
            release_key,
            channel,
            outcome.state,
            f": {outcome.detail}" if outcome.detail else "",
            extra={
                "release": release_key,
                "channel": channel,
                "state": outcome.state,
                "attempt": outcome.attempt,
                "duration": round(took, 4),
            },
        )
        if self.progress is not None:
            self.progress(outcome)
        return outcome

    def _release(self, key: str) -> StoredRelease | None:
        with self._cache_lock:
            if key in self._releases:
                return self._releases[key]
        stored = self.ledger.release(key)
        with self._cache_lock:
            if self._uses[key] > 0:
                self._releases[key] = stored
        return stored

    def _done_with(self, key: str) -> None:
        with self._cache_lock:
            self._uses[key] -= 1
            if self._uses[key] <= 0:
                self._releases.pop(key, None)

    def _deliver(self, rt: ChannelRuntime, key: str, channel: str) -> Outcome | _Unsettled:
        now = self.now()
        delivery = self.ledger.delivery(key, channel)
        stored = self._release(key)
        if delivery is None or stored is None:
            return Outcome(key, channel, "skipped", "not planned")
        if delivery.state not in RETRYABLE:
            return Outcome(key, channel, "skipped", f"already {delivery.state}")
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return Outcome(key, channel, "skipped", f"next attempt at {delivery.next_attempt_at.isoformat()}")
        release, action = stored.release, delivery.action
        if action is not Action.RETRACT:  # a retraction goes out precisely because the release is withdrawn
            verdict = stored.verdict(now)
            if not verdict.due or release.content_hash != delivery.content_hash:
                return Outcome(key, channel, "skipped", verdict.reason or "content changed since planned")
            if not stored.has_text:  # never send a release without its body
                return Outcome(key, channel, "skipped", "its text was let go (keep_text)")
        if rt.auth_failed:
            return Outcome(key, channel, "skipped", f"credentials refused earlier: {rt.auth_failed}")

        attempt = delivery.attempts + 1
        ctx = rt.make_context(
            idempotency_key=idempotency_key(key, channel, delivery.content_hash, action),
            attempt=attempt,
            dry_run=self.dry_run,
        )
        try:
            return self._attempt(rt, delivery, stored, ctx, attempt)
        finally:
            rt.recycle(ctx)  # its HTTP session serves the next delivery to this channel

    def _attempt(
        self, rt: ChannelRuntime, delivery: Delivery, stored: StoredRelease, ctx: ChannelContext, attempt: int
    ) -> Outcome | _Unsettled:
        """Render, claim (``in_flight``), call the channel, and record what happened."""
        key, channel, action, now = delivery.release_key, delivery.channel, delivery.action, self.now()
        try:
            plan = self._plan_call(rt, delivery, stored.release, stored.retracted_reason or "", ctx)
        except Exception as exc:  # a render bug or a bad template: nothing was sent, so it is safe
            return self._record_error(
                rt, delivery, attempt, PermanentError(f"render failed: {exc}"), None, False
            )
        post, call, final = plan
        if self.dry_run:
            return Outcome(key, channel, f"would-{action}", post=post)
        if call is None:  # nothing to do on the platform (a retraction it cannot carry out)
            recorded = self.ledger.transition(
                key,
                channel,
                final,
                self.now(),
                actor=self.actor,
                expect=RETRYABLE,
                attempts=attempt,
                error="",
                detail=f"left in place: {rt.config.type} cannot delete and retraction_notice is off",
            )
            self._record(recorded, str(final))
            return Outcome(key, channel, str(final), f"left in place: {rt.config.type} cannot delete")

        # The hash of the exact bytes sent where the channel knows them, else of the rendered post.
        payload_hash = (str(post.extra.get("payload_sha256") or "") or post.payload_hash) if post else None
        if rt.pacer is not None:  # wait for the slot before claiming: a crash here leaves it pending
            rt.pacer.wait(self.stop.wait)
            if self.stop.is_set():
                return Outcome(key, channel, "skipped", "stopping: left for the next run")
        # Under a quota, the check and the claim are one step across this channel's threads.
        with rt.lock if rt.config.daily_quota else nullcontext():
            waiting = self._quota_wait(rt, now)
            if waiting:
                return Outcome(key, channel, "waiting", waiting)
            self._record(
                self.ledger.transition(
                    key,
                    channel,
                    DeliveryState.IN_FLIGHT,
                    self.now(),
                    actor=self.actor,
                    expect=RETRYABLE,
                    attempts=attempt,
                    payload_hash=payload_hash,
                    detail=str(action),  # the attempt has a column of its own
                ),
                "in_flight",
            )
        try:
            receipt = call()
        except Exception as exc:
            return self._record_error(rt, delivery, attempt, exc, payload_hash, True)
        receipt = self._merge_receipt(delivery, action, receipt)
        pending = self.ledger.queue_transition(
            key,
            channel,
            final,
            self.now(),
            actor=self.actor,
            receipt=receipt,
            error="",
            payload_hash=payload_hash,  # the receipt's id and URL have columns of their own
        )
        outcome = Outcome(
            key,
            channel,
            str(final) if action is Action.PUBLISH else str(action),
            url=receipt.url,
            attempt=attempt,
        )
        return _Unsettled(pending, str(final), outcome)

    def _plan_call(
        self, rt: ChannelRuntime, delivery: Delivery, release: Release, reason: str, ctx: ChannelContext
    ) -> tuple[Post | None, Callable[[], Receipt | None] | None, DeliveryState]:
        """What to send for this delivery's action, the call that sends it, and the end state."""
        ch, original = rt.channel, delivery.receipt or Receipt()
        action = delivery.action
        if action is Action.PUBLISH:
            post = ch.render(release, ctx)
            return post, lambda: ch.publish(post, ctx), DeliveryState.SENT
        if action is Action.UPDATE:
            post = ch.render(release, ctx)
            return post, lambda: ch.update(original, post, ctx), DeliveryState.SENT
        if action is Action.CORRECT:
            post = ch.render_correction(release, original, ctx)
            return post, lambda: ch.publish(post, ctx), DeliveryState.SENT
        if ch.capabilities.delete:
            return None, lambda: ch.delete(original, ctx), DeliveryState.RETRACTED
        if rt.config.retraction_notice:
            post = ch.render_retraction(release, original, reason, ctx)
            return post, lambda: ch.publish(post, ctx), DeliveryState.RETRACTED
        return None, None, DeliveryState.RETRACTED

    @staticmethod
    def _merge_receipt(delivery: Delivery, action: Action, returned: Receipt | None) -> Receipt:
        """The receipt to keep: the original post stays the reference; follow-ups are listed."""
        if returned is not None and not isinstance(returned, Receipt):  # a plugin bug; the call went out
            returned = Receipt(extra={"returned": repr(returned)[:200]})
        original = delivery.receipt
        if action is Action.PUBLISH or original is None:
            return returned or Receipt()
        if action is Action.UPDATE:
            return returned or original
        follow = {"action": str(action), **(returned.to_dict() if returned else {})}
        extra = dict(original.extra)
        extra["follow_ups"] = [*extra.get("follow_ups", []), follow]
        return replace(original, extra=extra)

    def _quota_wait(self, rt: ChannelRuntime, now: datetime) -> str:
        """Why this channel must wait for its daily quota, or "" when it may call now."""
        quota = rt.config.daily_quota
        slot = self.ledger.quota_next_slot(rt.config.name, quota, now) if quota else None
        return f"daily quota of {quota} calls reached; next slot at {slot.isoformat()}" if slot else ""

    def _record_error(
        self,
        rt: ChannelRuntime,
        delivery: Delivery,
        attempt: int,
        exc: BaseException,
        payload_hash: str | None,
        called: bool,
    ) -> Outcome:
        key, channel, cfg = delivery.release_key, delivery.channel, rt.config
        state, retry_after, message = classify(exc, effective_idempotency(rt.channel, delivery.action))
        if isinstance(exc, AuthError):
            rt.auth_failed = message
        next_at: datetime | None = None
        if state is DeliveryState.FAILED:
            if attempt >= cfg.max_attempts:
                state, message = DeliveryState.DEAD, f"{message} (gave up after {attempt} attempts)"
            else:
                delay = backoff_delay(attempt, cfg.backoff, retry_after, self.rng)
                next_at = self.now() + timedelta(seconds=delay)
        # Nothing was sent when the call was never made: the delivery is still pending/failed.
        expect: tuple[DeliveryState, ...] = (DeliveryState.IN_FLIGHT,) if called else RETRYABLE
        recorded = self.ledger.transition(
            key,
            channel,
            state,
            self.now(),
            actor=self.actor,
            expect=expect,
            attempts=attempt,
            next_attempt_at=next_at,
            error=message,
            payload_hash=payload_hash,
        )
        self._record(recorded, str(state))
        log.warning("%s -> %s: %s: %s", key, channel, state, message)
        return Outcome(key, channel, str(state), message, attempt=attempt)

    def _record(self, delivery: Delivery, event: str) -> None:
        notify(self.pm, delivery, event)
