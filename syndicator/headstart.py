"""A head start: deliver what one source holds while the other sources are still being read.

The collect stage stores each source's releases as soon as that source has been read. Without
a head start they would then wait for the slowest feed (up to its timeout) before going out:
an urgent release from an agency whose site answers at once would wait for another agency's
site that hangs. So the collect stage offers each source's new and changed releases here
while other sources are still being read; they are gated and planned at once, and what is
due goes out from one background thread, a batch at a time, through the same dispatcher as
the delivery stage. The run waits for it before its own delivery stage, which then sends
everything still due: nothing of ours is running when that stage forks helper processes.
A channel's ``finish`` is still called once per run, at the end (its deliveries in a head
start do not call it).

A head start covers a few deliveries (:data:`HEADSTART_LIMIT` per run). The usual tick (one
that parses in its own process, few feeds having changed) gets it as each source is read. A
burst (a run with parser processes) gets it only once it has waited a few seconds for its
sources (``collect.BURST_PATIENCE``), for everything stored by then: a quick burst is left
whole to the delivery stage, which orders it urgent first across every source and spreads
it over processes, while a slow feed still cannot hold the rest up to its timeout. A run
that finds a call of an earlier run undecided gets none, since ``reconcile`` settles that
before anything is sent.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dispatch import Outcome

log = logging.getLogger(__name__)

Task = tuple[str, str]  # (release key, channel)

#: Deliveries that may start, per run, while sources are still being read.
HEADSTART_LIMIT = 64


class HeadStart:
    """Deliveries started during collection, one batch (a source's releases) at a time.

    ``plan(keys)`` gates and plans a source's fresh releases and returns their due tasks;
    ``deliver(tasks)`` delivers them and returns the outcomes. :meth:`offer` is called in
    the run's own thread, once per source read; :meth:`finish` waits for every batch.
    """

    def __init__(
        self,
        plan: Callable[[list[str]], list[Task]],
        deliver: Callable[[list[Task]], list[Outcome]],
        limit: int = HEADSTART_LIMIT,
    ) -> None:
        self._plan, self._deliver = plan, deliver
        self._room = limit
        self._batches: queue.SimpleQueue[list[Task] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._outcomes: list[Outcome] = []
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        #: Channels a batch was begun for: the run calls their ``finish`` once, at its end.
        self.channels: set[str] = set()

    def offer(self, keys: list[str]) -> None:
        """Plan ``keys``, a source's releases new or changed in this run and just stored, and
        start delivering what is due of them (up to the room left; the rest stays pending for
        the delivery stage)."""
        if self._room <= 0 or self._error is not None:
            return
        tasks = self._plan(keys)[: self._room]
        if not tasks:
            return
        self._room -= len(tasks)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="syn-headstart")
            self._thread.start()
        self._batches.put(tasks)

    def finish(self, *, abandon: bool = False) -> list[Outcome]:
        """Wait for the deliveries started here; return their outcomes, or raise what stopped
        them (a ledger that cannot be written, say). ``abandon``: begin no batch not yet
        begun (its deliveries stay pending, for the next run) and raise nothing, because the
        run is already failing."""
        if self._thread is None:
            return []
        if abandon:
            self._abandon.set()
        self._batches.put(None)
        self._thread.join()
        if self._error is not None:
            if not abandon:
                raise self._error
            log.error("deliveries started during collection stopped: %s", self._error)
        return self._outcomes

    def _work(self) -> None:
        while (tasks := self._batches.get()) is not None:
            if self._abandon.is_set() or self._error is not None:
                continue  # left pending: the delivery stage or the next run sends them
            self.channels.update(channel for _, channel in tasks)
            try:
                self._outcomes.extend(self._deliver(tasks))
            except BaseException as exc:  # handed to the run's thread by finish()
                self._error = exc
