"""The console script: answers ``--version`` before importing anything else, so the
start-up that cron pays on every tick (and that ``--version`` measures) stays small."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from . import __version__

        print(f"syndicator, version {__version__}")
        return
    from .cli import main as cli_main

    cli_main(args)
