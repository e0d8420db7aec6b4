"""Whole-process timings an operator feels: start-up, and a demo tick cold and idle.

    .venv/bin/python benchmarks/startup.py [--reps 7]

Each figure is the median wall time of --reps runs of a fresh process (as cron runs it).
The demo runs on a copy of config/ in a temporary folder, so the checkout is untouched.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).with_name("syndicator")


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    reps = parser.parse_args().reps
    version = [timed([str(BIN), "--version"]) for _ in range(reps)]
    baseline = [timed([sys.executable, "-c", "pass"]) for _ in range(reps)]
    cold, idle = [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config"
            shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("state", "site"))
            cmd = [str(BIN), "-q", "--config", str(config / "demo.toml"), "run"]
            cold.append(timed(cmd))
            idle.append(timed(cmd))
    print("| what | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, xs in (
        ("python -c pass (interpreter floor)", baseline),
        ("syndicator --version", version),
        ("demo run, cold (10 releases, website)", cold),
        ("demo run, idle (nothing new)", idle),
    ):
        print(f"| {name} | {statistics.median(xs):.3f} | {min(xs):.3f} | {max(xs):.3f} |")


if __name__ == "__main__":
    main()
