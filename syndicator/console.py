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


#: Allocations between the collector's youngest passes (Python's default is 700).
YOUNG_THRESHOLD = 100_000


def _collect_less_often() -> None:
    """Start-up allocates some 45,000 objects (modules, classes, functions) that all live until
    exit; at the default threshold the collector makes about 60 passes over them before the
    first feed request leaves, and finds nothing. With this threshold an idle tick makes none
    (8-13 ms less, a fortieth of the tick; BENCHMARKS.md). Long runs still collect: at most
    this many young objects wait for a pass (tens of megabytes if all were garbage)."""
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _before_exit() -> None:
    """Spare the interpreter's exit a collector pass over every object it still holds (about
    50 ms, a tenth of an idle tick). Nothing is lost: the run closed its ledger, files and
    connections itself, and exit frees the memory regardless."""
    gc.freeze()
