"""The delivery stage's work queue: due deliveries per channel, each channel within its
``concurrency``, handed to whichever of the dispatcher's threads asks first."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable


class ChannelQueue:
    """Due deliveries per channel, handed out in their given order to whichever worker asks,
    never more than a channel's ``concurrency`` at once: one slow channel does not hold up
    the others, and no channel is called harder than configured."""

    def __init__(self, tasks: Iterable[tuple[str, str]], limits: dict[str, int]) -> None:
        self._waiting: dict[str, deque[tuple[int, str]]] = {}
        for n, (key, channel) in enumerate(tasks):
            self._waiting.setdefault(channel, deque()).append((n, key))
        self._limits = {name: max(1, limits.get(name, 1)) for name in self._waiting}
        self._busy = dict.fromkeys(self._waiting, 0)  # calls in progress
        self._open = dict.fromkeys(self._waiting, 0)  # taken and not yet recorded
        self._ready = threading.Condition()

    def useful_workers(self) -> int:
        return sum(min(self._limits[c], len(q)) for c, q in self._waiting.items())

    def take(self, wait: bool = True) -> tuple[str, str] | None:
        """The next (release key, channel) whose channel has a free slot; None when all is
        done, or (``wait=False``) when none is free right now."""
        with self._ready:
            while True:
                best: str | None = None
                for channel, queue in self._waiting.items():
                    free = queue and self._busy[channel] < self._limits[channel]
                    if free and (best is None or queue[0][0] < self._waiting[best][0][0]):
                        best = channel
                if best is not None:
                    self._busy[best] += 1
                    self._open[best] += 1
                    return self._waiting[best].popleft()[1], best
                if not wait or not any(self._waiting.values()):
                    return None
                self._ready.wait()

    def release(self, channel: str) -> None:
        """The call is over: free the channel's slot for the next one."""
        with self._ready:
            self._busy[channel] -= 1
            self._ready.notify_all()

    def settled(self, channel: str) -> bool:
        """One of the channel's deliveries is recorded; True once it has nothing left in this run."""
        with self._ready:
            self._open[channel] -= 1
            return not self._waiting[channel] and not self._open[channel]
