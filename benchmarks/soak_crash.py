"""Crash soak: SIGKILL real `syndicator run` processes mid fan-out, recover, count on the server.

    .venv/bin/python benchmarks/soak_crash.py [--trials 50] [--kills 9] [--releases 20] [--json out.json]

The same loop as ``tests/test_faults.py`` (``tests/faultkit.py``: a loopback channel server on
127.0.0.1 with a webhook channel (idempotency "key"), a lookup channel and a channel with
neither), for as many seeded trials as you like. Each trial kills ``--kills`` runs of one
installation at random points, then runs unkilled until a run sends nothing, and counts:
deliveries (distinct posts on the server), duplicates (posts beyond the first of one release on
one channel), losses (a release x channel neither delivered nor shown `unknown`, or `sent`
with no post), and the `unknown` deliveries left to the operator on the channel with neither.
Exits 1 if there was any duplicate or loss.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from faultkit import Figures, crash_trial  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="installations, each killed --kills times")
    parser.add_argument("--kills", type=int, default=9, help="SIGKILLs per trial")
    parser.add_argument("--releases", type=int, default=20, help="approved releases per trial (x 3 channels)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the server takes to answer")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first trial (then +1 each)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the final figures")
    args = parser.parse_args()

    figures = Figures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-crash-") as tmp:
        for n in range(args.trials):
            seed = args.seed + n
            trial = crash_trial(
                Path(tmp) / f"trial-{seed}",
                seed,
                kills=args.kills,
                releases=args.releases,
                latency=args.latency,
            )
            figures.add(trial)
            if not args.quiet:
                print(
                    f"trial {n + 1}/{args.trials} seed {seed}: kills={trial.kills}"
                    f" (mid fan-out {trial.kills_mid_fan_out}) deliveries={trial.deliveries}"
                    f" duplicates={trial.duplicates} losses={trial.losses} unknown={trial.unknown}",
                    flush=True,
                )
                for problem in trial.problems:
                    print(f"  PROBLEM: {problem}", flush=True)
    figures.seconds = time.monotonic() - started

    print(figures.summary())
    print("| trials | kills | deliveries | duplicates | losses | unknown (none channel) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {figures.trials} | {figures.kills} | {figures.deliveries} | {figures.duplicates}"
        f" | {figures.losses} | {figures.unknown} |"
    )
    if args.json:
        args.json.write_text(json.dumps(figures.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 1 if figures.duplicates or figures.losses or figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
