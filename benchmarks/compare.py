"""Side by side with feed2exec, through the shared harness (``../shared/bench``), when it is there.

    .venv/bin/python benchmarks/compare.py [--reps 3] [--out DIR]
        [--shared ../shared/bench] [--feed2exec-venv /tmp/bench-venv] [--syndicator BIN]
    .venv/bin/python benchmarks/compare.py --from-json feed2exec.json syndicator.json

Runs ``run_bench.py bench`` for feed2exec, then for syndicator (``syndicator_runner.py``), one
after the other (about 8 minutes at --reps 3), and prints a markdown table of the two summaries
with their ratios. ``--from-json`` skips the runs and prints the table of two existing results.
``--out DIR`` keeps the two raw JSON files. ``--syndicator`` names the executable to measure
(default ``.venv/bin/syndicator``); ``make bench-compare`` passes a regular install's, as an
office runs it and as feed2exec's venv is, since an editable install puts setuptools' import
hook in front of every import (about 10 ms of each start). Exits 2 when the harness,
feed2exec's venv or the executable is missing, 1 when a run fails or a scenario missed
exactly-once delivery.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench"
SCENARIOS = ("cold", "idle", "incremental")
Summary = dict[str, dict[str, Any]]


def missing(shared: Path, venv: Path, syndicator: Path) -> list[str]:
    """What the comparison needs and cannot find, each with how to get it."""
    problems = []
    if not (shared / "run_bench.py").is_file():
        problems.append(
            f"the shared harness: no {shared / 'run_bench.py'}. It lives next to this checkout "
            "(../shared/bench); pass its folder with --shared"
        )
    if not (venv / "bin" / "feed2exec").is_file():
        problems.append(
            f"feed2exec's venv: no {venv / 'bin' / 'feed2exec'}. Create it with "
            f"`sh ../shared/bench/setup-venv.sh {venv}` (or pass another with --feed2exec-venv)"
        )
    if not syndicator.is_file():
        problems.append(f"syndicator: no {syndicator}. Run `make install` (or `make bench-compare`)")
    return problems


def run(shared: Path, runner: str, opt: str, reps: int, out: Path) -> bool:
    """One ``run_bench.py bench``, its output streamed through; True when it wrote its results."""
    cmd = ["python3", "run_bench.py", "bench", "--runner", runner, "--opt", opt]
    cmd += ["--reps", str(reps), "--out", str(out)]
    print(f"$ (cd {shared} && {' '.join(cmd)})", flush=True)
    rc = subprocess.run(cmd, cwd=shared).returncode
    if rc != 0:
        print(f"run_bench.py exited with {rc}", file=sys.stderr)
    return out.is_file()


def load(path: Path) -> Summary:
    summary: Summary = json.loads(path.read_text(encoding="utf-8"))["summary"]
    return summary


def stat(summary: Summary, scenario: str, metric: str, key: str = "median") -> float | None:
    value = summary.get(scenario, {}).get(metric, {})
    return float(value[key]) if isinstance(value, dict) and key in value else None


def num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def wall(summary: Summary, scenario: str) -> str:
    low, high = stat(summary, scenario, "wall_s", "min"), stat(summary, scenario, "wall_s", "max")
    spread = f" [{num(low)}-{num(high)}]" if low is not None and high is not None else ""
    return num(stat(summary, scenario, "wall_s")) + spread


def ratio(theirs: float | None, ours: float | None) -> str:
    """feed2exec's time over syndicator's, said the way round that reads naturally."""
    if not theirs or not ours:
        return "n/a"
    return f"{theirs / ours:.1f}x faster" if theirs >= ours else f"{ours / theirs:.1f}x slower"


def exactly_once(summary: Summary, scenario: str) -> str:
    ok = summary.get(scenario, {}).get("all_ok")
    return "n/a" if ok is None else ("yes" if ok else "NO")


def table(f2e: Summary, syn: Summary) -> str:
    scenarios = [s for s in SCENARIOS if s in f2e or s in syn]
    scenarios += sorted((set(f2e) | set(syn)) - set(SCENARIOS))
    lines = [
        "| scenario | feed2exec wall s | syndicator wall s | ratio | feed2exec CPU s | syndicator CPU s "
        "| peak MB (feed2exec / syndicator) | exactly-once (feed2exec / syndicator) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        peak = f"{num(stat(f2e, s, 'maxrss_mb'), 1)} / {num(stat(syn, s, 'maxrss_mb'), 1)}"
        lines.append(
            f"| {s} | {wall(f2e, s)} | {wall(syn, s)} "
            f"| {ratio(stat(f2e, s, 'wall_s'), stat(syn, s, 'wall_s'))} "
            f"| {num(stat(f2e, s, 'cpu_s'))} | {num(stat(syn, s, 'cpu_s'))} "
            f"| {peak} | {exactly_once(f2e, s)} / {exactly_once(syn, s)} |"
        )
    state = [stat(x, "cold", "state_bytes") for x in (f2e, syn)]
    shown = ["n/a" if b is None else f"{b / 1e6:.2f} MB ({int(b):,} bytes)" for b in state]
    lines.append(f"\nstate after the cold tick (median): feed2exec {shown[0]}, syndicator {shown[1]}")
    return "\n".join(lines)


def all_ok(*summaries: Summary) -> bool:
    return all(d.get("all_ok", False) for summary in summaries for d in summary.values())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared harness folder")
    parser.add_argument("--feed2exec-venv", type=Path, default=Path("/tmp/bench-venv"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--syndicator", type=Path, default=ROOT / ".venv" / "bin" / "syndicator", help="the executable"
    )
    parser.add_argument("--out", type=Path, help="copy the two result JSON files into this folder")
    parser.add_argument(
        "--from-json", nargs=2, type=Path, metavar=("F2E", "SYN"), help="only print the table"
    )
    a = parser.parse_args()
    if a.from_json:
        absent = [str(p) for p in a.from_json if not p.is_file()]
        if absent:
            print(f"no such file: {', '.join(absent)}", file=sys.stderr)
            return 2
        f2e, syn = load(a.from_json[0]), load(a.from_json[1])
        print(table(f2e, syn))
        return 0 if all_ok(f2e, syn) else 1
    shared, venv = a.shared.resolve(), a.feed2exec_venv.resolve()
    syndicator = a.syndicator.absolute()  # a venv's bin/python may be a symlink: not resolved
    if problems := missing(shared, venv, syndicator):
        print("compare.py cannot run the side-by-side comparison; missing:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("The standalone suite needs none of this: `make bench`.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        results = {"feed2exec": Path(tmp) / "feed2exec.json", "syndicator": Path(tmp) / "syndicator.json"}
        ours = f"{ROOT / 'benchmarks' / 'syndicator_runner.py'}:SyndicatorRunner"
        ran = run(shared, "feed2exec", f"venv={venv}", a.reps, results["feed2exec"])
        ran &= run(shared, ours, f"bin={syndicator}", a.reps, results["syndicator"])
        if not ran:
            print("a run wrote no results; see its output above", file=sys.stderr)
            return 1
        if a.out:
            a.out.mkdir(parents=True, exist_ok=True)
            for path in results.values():
                shutil.copy2(path, a.out / path.name)
        f2e, syn = load(results["feed2exec"]), load(results["syndicator"])
    print()
    print(table(f2e, syn))
    if a.out:
        print(f"\nraw results: {a.out / 'feed2exec.json'}, {a.out / 'syndicator.json'}")
    return 0 if all_ok(f2e, syn) else 1


if __name__ == "__main__":
    sys.exit(main())
