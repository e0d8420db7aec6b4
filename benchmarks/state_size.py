"""Where a ledger's bytes go, table by table.

    .venv/bin/python benchmarks/state_size.py STATE_DB

Reads a ledger (never writes it) and prints the size of each table with its indexes,
through SQLite's ``dbstat``: as the file is, in a vacuumed copy (what the pages' free space
costs), and in a vacuumed copy without the kept text (what ``keep_text = "always"`` costs).
Issue 8 asks that the state after a cold tick of 1,000 releases be under 1.5 MB.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

MB = 1_000_000


def table_sizes(path: Path) -> dict[str, int]:
    """Bytes per table, each with its indexes, and ``file`` for the whole file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        owner = dict(
            conn.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')")
        )
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + int(size)
    finally:
        conn.close()
    sizes["file"] = path.stat().st_size
    return sizes


def vacuumed(source: Path, target: Path, *, without_text: bool) -> Path:
    shutil.copyfile(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        if without_text:
            conn.execute("DELETE FROM release_text")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return target


def report(forms: dict[str, dict[str, int]]) -> str:
    tables = sorted(
        {t for sizes in forms.values() for t in sizes} - {"file"}, key=lambda t: -forms["as is"].get(t, 0)
    )
    lines = [
        "| form | file MB | " + " | ".join(tables) + " |",
        "|---|---|" + "---|" * len(tables),
    ]
    for form, sizes in forms.items():
        cells = [f"{sizes.get(t, 0) / MB:.3f}" for t in tables]
        lines.append(f"| {form} | {sizes['file'] / MB:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nMB: 10^6 bytes; each table with its indexes."


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("state", type=Path, help="the ledger (its WAL folded in: run after syndicator exits)")
    args = parser.parse_args()
    if not args.state.is_file():
        print(f"{args.state}: no such file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        forms = {
            "as is": table_sizes(args.state),
            "vacuumed": table_sizes(vacuumed(args.state, Path(scratch, "v.db"), without_text=False)),
            "vacuumed, no text": table_sizes(vacuumed(args.state, Path(scratch, "t.db"), without_text=True)),
        }
    print(report(forms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
