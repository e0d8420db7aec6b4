"""The website channel on an office's archive: a tick that publishes one new release.

    .venv/bin/python benchmarks/bench_website.py [--size 10000] [--reps 3]

A folder of --size release files spread over 48 months, 12 agencies and 40 topics (two a
release), published to a ``website`` channel. One cold tick builds the site; then --reps
times: an idle tick (nothing new), and a tick with one new release, which writes its page
and the indexes that list it. Every figure is a whole ``syndicator -q run`` process, with
its peak memory (GNU time where present). Medians are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_engine import BIN, BODY  # the folder benchmark's executable and release body

TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
AGENCIES = [f"Dinas {name}" for name in "ABCDEFGHIJKL"]
TOPICS = [f"topik-{n:02d}" for n in range(40)]


def write_release(folder: Path, n: int) -> None:
    year, month = 2023 + (n % 48) // 12, 1 + n % 12
    path = folder / f"{n // 1000:03d}" / f"siaran-{n:05d}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"---\nid: r{n:05d}\ntitle: Siaran pers nomor {n}\n"
        f"date: {year}-{month:02d}-{1 + n % 28:02d}T09:00:00+08:00\n"
        f"agency: {AGENCIES[n % len(AGENCIES)]}\n"
        f"tags: [{TOPICS[n % len(TOPICS)]}, {TOPICS[(n * 7 + 3) % len(TOPICS)]}]\n---\n\n"
        f"Ringkasan siaran {n}.\n\n{BODY}\n",
        encoding="utf-8",
    )


def config(root: Path) -> Path:
    path = root / "syndicator.toml"
    path.write_text(
        '[syndicator]\nstate = "state.db"\ntimezone = "Asia/Jakarta"\n\n'
        '[sources.arsip]\ntype = "directory"\npath = "releases"\napproval = "trusted"\n\n'
        '[channels.site]\ntype = "website"\noutput = "site"\ntitle = "Siaran Pers"\n'
        'base_url = "https://ppid.example.go.id"\n',
        encoding="utf-8",
    )
    return path


def tick(cfg: Path) -> tuple[float, float | None]:
    """One ``syndicator -q run``: seconds, and peak memory in MB where GNU time is there."""
    command = [str(BIN), "-q", "--config", str(cfg), "run"]
    if TIME:
        command = [TIME, "-f", "%M", *command]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    peak = float(done.stderr.strip().splitlines()[-1]) / 1024 if TIME else None
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(args.size):
            write_release(root / "releases", n)
        cfg = config(root)
        cold, cold_mb = tick(cfg)
        pages = sum(1 for _ in (root / "site").rglob("*.html"))
        idle: list[float] = []
        new: list[tuple[float, float | None]] = []
        for rep in range(args.reps):
            idle.append(tick(cfg)[0])
            write_release(root / "releases", args.size + rep)
            new.append(tick(cfg))
    mb = [m for _, m in new if m is not None]
    print(f"website, {args.size:,} releases ({pages:,} pages), medians of {args.reps}:")
    print(f"  cold tick       {cold:7.2f} s" + (f"  {cold_mb:.0f} MB" if cold_mb else ""))
    print(f"  idle tick       {statistics.median(idle):7.2f} s")
    print(
        f"  one new release {statistics.median(s for s, _ in new):7.2f} s"
        + (f"  {statistics.median(mb):.0f} MB" if mb else "")
    )


if __name__ == "__main__":
    main()
