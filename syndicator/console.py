"""The console script: answers ``--version`` before importing anything else, so the
start-up that cron pays on every tick (and that ``--version`` measures) stays small."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from . import __version__

        print(f"syndicator, version {__version__}")
        return
    if argv is None:  # this process is the command: see _collect_less_often
        _collect_less_often()
    from .cli import main as cli_main

    try:
        cli_main(args)
    finally:
        if argv is None:  # this process ends here: see _before_exit
            _before_exit()


#: Allocations between the collector's youngest passes in a command's process, and Python's.
YOUNG_THRESHOLD = 100_000
USUAL_YOUNG_THRESHOLD = 700


def _collect_less_often() -> None:
    """Start-up allocates some 45,000 objects (modules, classes, functions) that all live until
    exit; at the default threshold the collector makes about 60 passes over them before the
    first feed request leaves, and finds nothing. With this threshold an idle tick makes none
    (8-13 ms less, a fortieth of the tick; BENCHMARKS.md). Long runs still collect: at most
    this many young objects wait for a pass (tens of megabytes if all were garbage); a service
    goes back to the usual pace (:func:`collect_as_usual`)."""
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def collect_as_usual() -> None:
    """Python's own pace again, in a process that was started at :data:`YOUNG_THRESHOLD`.

    For ``run --every``: a service pays start-up once, and its idle ticks leave a little
    garbage each, which at the command's pace would wait for a pass 10 MB at a time (35 MB
    against 45 MB after a few minutes of 1-second ticks). Elsewhere it changes nothing."""
    young, *older = gc.get_threshold()
    if young == YOUNG_THRESHOLD:
        gc.set_threshold(USUAL_YOUNG_THRESHOLD, *older)


def _before_exit() -> None:
    """Spare the interpreter's exit a collector pass over every object it still holds (about
    50 ms, a tenth of an idle tick). Nothing is lost: the run closed its ledger, files and
    connections itself, and exit frees the memory regardless."""
    gc.freeze()
