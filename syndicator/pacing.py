"""Per-channel pacing: a rate such as ``"20/min"`` and a rolling daily quota.

Bursts are spread, not dropped: a call waits for its slot. The quota is counted from the
ledger's events (calls made in the last 24 hours), so it holds across runs and processes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


def parse_rate(text: str) -> float:
    """Seconds between calls for ``"N/unit"`` (``"1/s"``, ``"20/min"``, ``"300/15min"``)."""
    m = _RATE.match(text.lower())
    if not m or m.group(3) not in _UNITS or float(m.group(1)) <= 0:
        raise ValueError(f'expected a rate like "1/s", "20/min" or "300/15min", got {text!r}')
    per = (float(m.group(2)) if m.group(2) else 1.0) * _UNITS[m.group(3)]
    return per / float(m.group(1))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``"90s"``, ``"5m"``, ``"30min"``, ``"12h"`` or ``"3d"``."""
    m = _DURATION.match(text.lower())
    unit = m.group(2) if m else ""
    if unit not in _UNITS and len(unit) > 1 and unit.endswith("s"):
        unit = unit[:-1]  # "mins", "hours", "days"
    if not m or unit not in _UNITS:
        raise ValueError(f'expected a duration like "90s", "5m", "12h" or "3d", got {text!r}')
    return float(m.group(1)) * _UNITS[unit]


class Pacer:
    """Hands out call slots at most one per ``interval`` seconds, across threads."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, sleep: Callable[[float], object] | None = None) -> float:
        """Block until this caller's slot; returns the seconds waited.

        ``sleep`` may be an interruptible wait (``threading.Event.wait``) so a stopping run
        does not sit out a long pacing interval.
        """
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            (sleep or self._sleep)(delay)
        return delay
