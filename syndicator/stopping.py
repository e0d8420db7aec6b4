"""Stopping on SIGTERM or SIGINT: finish the calls in flight, start no more.

A Python signal handler runs in the main thread between two of its steps, and that thread may
be inside ``Event.set()`` (a second signal) or a write to stderr at that moment, holding the
lock the handler would need: it would wait for itself forever. So the handler does nothing;
the signal's wake-up byte goes down a pipe, and a thread of our own sets the event.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _noted(signum: int, frame: object) -> None:
    """The handler: the interpreter has already written the wake-up byte by the time it runs."""


@contextmanager
def stopping_on_signals(
    stop: threading.Event, announce: Callable[[int], None] | None = None
) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT while in the block (main thread only). ``announce``
    is called with the first signal's number, from the watching thread. After the block the
    previous handlers come back, unless a signal came: then the process is on its way out,
    and more of them (a second Ctrl-C, a burst) are absorbed rather than cut its exit short."""
    wake_up, woken = os.pipe()
    os.set_blocking(woken, False)
    previous_fd = signal.set_wakeup_fd(woken)
    previous = {sig: signal.signal(sig, _noted) for sig in SIGNALS}

    def watch() -> None:
        while byte := os.read(wake_up, 1):  # b"" once the block has ended
            if announce is not None and not stop.is_set():
                announce(byte[0])
            stop.set()

    watcher = threading.Thread(target=watch, name="syn-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        os.close(woken)
        watcher.join()
        os.close(wake_up)
        if not stop.is_set():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
