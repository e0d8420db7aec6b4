"""Stopping on signals (``syndicator.stopping``), as ``run --every`` and delivery helpers use it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from syndicator.stopping import stopping_on_signals


@pytest.fixture
def handlers() -> Iterator[None]:
    """Put back this process's handlers: after a signal, the block leaves them absorbing."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_a_signal_that_lands_while_the_main_thread_holds_the_events_lock_cannot_hang_it(
    handlers: None,
) -> None:
    stop = threading.Event()
    heard: list[int] = []
    with stopping_on_signals(stop, heard.append):
        with stop._cond:  # as if the signal interrupted this thread inside stop.set()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs here, in this thread: it must not wait for the lock
            assert not stop.is_set()
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal: no second announcement
        time.sleep(0.1)
    assert heard == [signal.SIGTERM]
    os.kill(os.getpid(), signal.SIGTERM)  # after the block, on the way out: absorbed
    time.sleep(0.1)


def test_the_previous_handlers_come_back_after_the_block() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    with stopping_on_signals(threading.Event()):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert signal.set_wakeup_fd(-1) == -1  # and no wake-up fd is left behind
