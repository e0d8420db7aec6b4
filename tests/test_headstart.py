"""HeadStart on its own: batches in order, the per-run limit, and what a failure does.

Whole runs with a head start (a slow feed, a burst, an undecided call, a dry run) are in
``test_engine_rss.py``; here ``plan`` and ``deliver`` are plain functions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from syndicator.dispatch import Outcome
from syndicator.errors import StateError
from syndicator.headstart import HeadStart

Task = tuple[str, str]


def plan_for(channels: list[str]) -> Callable[[list[str]], list[Task]]:
    def plan(keys: list[str]) -> list[Task]:
        return [(key, channel) for key in keys for channel in channels]

    return plan


def sent(tasks: list[Task]) -> list[Outcome]:
    return [Outcome(key, channel, "sent") for key, channel in tasks]


def test_nothing_offered_starts_no_thread_and_finishes_with_no_outcomes() -> None:
    before = threading.active_count()
    early = HeadStart(plan_for(["site"]), sent)
    early.offer([])
    assert threading.active_count() == before
    assert early.finish() == []


def test_batches_are_delivered_in_the_order_offered_up_to_the_limit() -> None:
    early = HeadStart(plan_for(["site", "x"]), sent, limit=5)
    early.offer(["a/1", "a/2"])
    early.offer(["b/1", "b/2"])  # one of its four fits
    early.offer(["c/1"])  # no room left: the delivery stage sends it

    outcomes = early.finish()

    assert [(o.release_key, o.channel) for o in outcomes] == [
        ("a/1", "site"),
        ("a/1", "x"),
        ("a/2", "site"),
        ("a/2", "x"),
        ("b/1", "site"),
    ]


def test_a_failed_batch_is_raised_in_the_runs_thread_and_no_later_batch_starts() -> None:
    delivered: list[Task] = []
    first = threading.Event()

    def deliver(tasks: list[Task]) -> list[Outcome]:
        first.wait(5)
        if tasks[0][0] == "a/1":
            raise StateError("state.db: cannot write the state file: disk I/O error")
        delivered.extend(tasks)
        return sent(tasks)

    early = HeadStart(plan_for(["site"]), deliver)
    early.offer(["a/1"])
    early.offer(["b/1"])
    first.set()

    with pytest.raises(StateError, match="disk I/O error"):
        early.finish()
    assert delivered == []


def test_abandoned_the_batch_under_way_ends_and_none_not_yet_begun_starts() -> None:
    begun, release = threading.Event(), threading.Event()
    delivered: list[Task] = []

    def deliver(tasks: list[Task]) -> list[Outcome]:
        begun.set()
        release.wait(5)
        delivered.extend(tasks)
        return sent(tasks)

    early = HeadStart(plan_for(["site"]), deliver)
    early.offer(["a/1"])
    early.offer(["b/1"])
    begun.wait(5)
    finished: list[list[Outcome]] = []
    waiting = threading.Thread(target=lambda: finished.append(early.finish(abandon=True)))
    waiting.start()
    early._abandon.wait(5)  # finish() has said so; now let a/1's calls end
    release.set()
    waiting.join(5)

    assert delivered == [("a/1", "site")]  # b/1 was never begun: it is still pending
    assert [(o.release_key, o.state) for o in finished[0]] == [("a/1", "sent")]


def test_abandoned_a_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    begun, release = threading.Event(), threading.Event()

    def deliver(tasks: list[Task]) -> list[Outcome]:
        begun.set()
        release.wait(5)
        raise StateError("state.db: cannot write the state file: disk full")

    early = HeadStart(plan_for(["site"]), deliver)
    early.offer(["a/1"])
    begun.wait(5)
    release.set()

    with caplog.at_level(logging.ERROR, logger="syndicator.headstart"):
        assert early.finish(abandon=True) == []

    assert "disk full" in caplog.text
