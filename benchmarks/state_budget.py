"""How small could a ledger be? The same records in a compact encoding, measured.

    .venv/bin/python benchmarks/state_budget.py STATE_DB

Reads a ledger (read-only) and writes the same releases, deliveries, events and source
state into scratch SQLite files in successively more compact forms, each vacuumed, and
prints their sizes by table. Nothing here is the ledger's real schema: it answers what
issue 8's state target would cost, before anyone writes a migration for it.

The forms, each including the one before:

- ``as is``: the ledger file, vacuumed (what a cold tick leaves).
- ``text let go``: without ``release_text`` (``keep_text = "until-delivered"``).
- ``binary``: hashes as 32 bytes instead of ``sha256:`` and 64 hex digits, times as
  integer microseconds instead of ISO text, releases referred to by number in deliveries
  and events instead of by key, and no separate ``release_id`` (the key holds it).
- ``no repeats``: besides, nothing a row already holds is repeated elsewhere: the
  release's JSON loses the fields that have columns, the approval identity (compared only
  for equality) becomes an 8-byte digest, and the ``collected`` event loses its detail
  (the feed's URL, which the release's JSON holds).

What every form keeps: one event per transition with its time, actor and payload hash
(DESIGN.md: "the audit trail an information office must keep").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

Row = dict[str, Any]

COMPACT_SCHEMA = """
CREATE TABLE releases (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, source TEXT NOT NULL, title TEXT NOT NULL,
    content_hash BLOB NOT NULL, data BLOB NOT NULL, tags TEXT, priority TEXT,
    published INTEGER, publish_at INTEGER, first_seen INTEGER, changed_at INTEGER,
    approved_by TEXT, approved_at INTEGER, approved_hash BLOB, approval_origin TEXT,
    approval_identity BLOB, hold_reason TEXT, due_since INTEGER, retracted_at INTEGER,
    retracted_by TEXT, retracted_reason TEXT, planned INTEGER
);
CREATE INDEX releases_source ON releases (source);
CREATE TABLE release_text (release INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE deliveries (
    release INTEGER NOT NULL, channel TEXT NOT NULL, state TEXT NOT NULL, action TEXT NOT NULL,
    content_hash BLOB NOT NULL, attempts INTEGER, next_attempt_at INTEGER, receipt TEXT,
    last_error TEXT, created_at INTEGER, updated_at INTEGER, sent_at INTEGER,
    PRIMARY KEY (release, channel)
);
CREATE INDEX deliveries_state ON deliveries (state);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, release INTEGER, channel TEXT,
    actor TEXT NOT NULL, event TEXT NOT NULL, state TEXT, content_hash BLOB, payload_hash BLOB,
    attempt INTEGER, remote_id TEXT, url TEXT, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_release ON events (release);
CREATE INDEX events_calls ON events (channel, at) WHERE event = 'in_flight';
CREATE TABLE source_state (source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (source, key));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE channels (name TEXT PRIMARY KEY, type TEXT NOT NULL, first_seen INTEGER NOT NULL);
CREATE TABLE alerts (problem TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, sent_at INTEGER,
    cleared_at INTEGER, summary TEXT NOT NULL);
"""

# The fields of a release's stored JSON that its row has columns for.
COLUMN_FIELDS = ("title", "tags", "priority", "publish_at", "source", "id", "origin")


def micros(text: str | None) -> int | None:
    return None if text is None else int(datetime.fromisoformat(text).timestamp() * 1_000_000)


def digest(text: str | None) -> bytes | None:
    """``sha256:<hex>`` as its 32 bytes."""
    return None if text is None else bytes.fromhex(text.partition(":")[2])


def without_columns(data: bytes) -> bytes:
    fields = json.loads(zlib.decompress(data))
    kept = {k: v for k, v in fields.items() if k not in COLUMN_FIELDS and v not in ("", None, [], {})}
    return zlib.compress(json.dumps(kept, separators=(",", ":")).encode())


def rows(conn: sqlite3.Connection, sql: str) -> list[Row]:
    return [dict(r) for r in conn.execute(sql)]


def table_sizes(path: Path) -> dict[str, int]:
    """Bytes per table, its indexes counted with it (SQLite's ``dbstat``), or {} without it."""
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')")
        owner = {name: table for name, table in found}
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + size
        return sizes
    except sqlite3.OperationalError:  # built without dbstat
        return {}
    finally:
        conn.close()


def vacuumed_copy(source: Path, target: Path, drop_text: bool) -> None:
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    if drop_text:
        out = sqlite3.connect(target)
        out.execute("DELETE FROM release_text")
        out.commit()
        out.execute("VACUUM")
        out.close()


def compact_copy(source: Path, target: Path, no_repeats: bool) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    src.row_factory = sqlite3.Row
    out = sqlite3.connect(target)
    out.executescript(COMPACT_SCHEMA)
    data: Callable[[bytes], bytes] = without_columns if no_repeats else (lambda b: b)
    number: dict[str, int] = {}
    releases = rows(src, "SELECT * FROM releases ORDER BY first_seen, key")
    for n, r in enumerate(releases, 1):
        number[r["key"]] = n
        identity = r["approval_identity"]
        if identity is not None:
            identity = hashlib.sha256(identity.encode()).digest()[:8] if no_repeats else identity.encode()
        insert(out, "releases", {
            "id": n, "key": r["key"], "source": r["source"], "title": r["title"],
            "content_hash": digest(r["content_hash"]), "data": data(r["data"]), "tags": r["tags"],
            "priority": r["priority"], "published": micros(r["published"]),
            "publish_at": micros(r["publish_at"]), "first_seen": micros(r["first_seen"]),
            "changed_at": micros(r["changed_at"]), "approved_by": r["approved_by"],
            "approved_at": micros(r["approved_at"]), "approved_hash": digest(r["approved_hash"]),
            "approval_origin": r["approval_origin"], "approval_identity": identity,
            "hold_reason": r["hold_reason"], "due_since": micros(r["due_since"]),
            "retracted_at": micros(r["retracted_at"]), "retracted_by": r["retracted_by"],
            "retracted_reason": r["retracted_reason"], "planned": r["planned"],
        })  # fmt: skip
    for r in rows(src, "SELECT * FROM deliveries"):
        insert(out, "deliveries", {
            "release": number[r["release_key"]], "channel": r["channel"], "state": r["state"],
            "action": r["action"], "content_hash": digest(r["content_hash"]),
            "attempts": r["attempts"], "next_attempt_at": micros(r["next_attempt_at"]),
            "receipt": r["receipt"], "last_error": r["last_error"],
            "created_at": micros(r["created_at"]), "updated_at": micros(r["updated_at"]),
            "sent_at": micros(r["sent_at"]),
        })  # fmt: skip
    for r in rows(src, "SELECT * FROM events ORDER BY id"):
        detail = "" if no_repeats and r["event"] == "collected" else r["detail"]
        insert(out, "events", {
            "id": r["id"], "at": micros(r["at"]), "release": number.get(r["release_key"] or ""),
            "channel": r["channel"], "actor": r["actor"], "event": r["event"], "state": r["state"],
            "content_hash": digest(r["content_hash"]), "payload_hash": digest(r["payload_hash"]),
            "attempt": r["attempt"], "remote_id": r["remote_id"], "url": r["url"], "detail": detail,
        })  # fmt: skip
    for table in ("source_state", "meta"):
        for r in rows(src, f"SELECT * FROM {table}"):
            insert(out, table, r)
    for r in rows(src, "SELECT * FROM channels"):
        insert(out, "channels", {**r, "first_seen": micros(r["first_seen"])})
    for r in rows(src, "SELECT * FROM alerts"):
        times = {k: micros(r[k]) for k in ("first_seen", "sent_at", "cleared_at")}
        insert(out, "alerts", {**r, **times})
    out.commit()
    out.execute("VACUUM")
    out.close()
    src.close()


def insert(conn: sqlite3.Connection, table: str, row: Row) -> None:
    names = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def report(forms: Iterable[tuple[str, Path]]) -> str:
    measured = [(label, path.stat().st_size, table_sizes(path)) for label, path in forms]
    tables = sorted({t for _, _, sizes in measured for t in sizes}, key=lambda t: -measured[0][2].get(t, 0))
    lines = ["| form | file MB | " + " | ".join(tables) + " |", "|---" * (len(tables) + 2) + "|"]
    for label, size, sizes in measured:
        cells = [f"{sizes[t] / 1e6:.2f}" if t in sizes else "-" for t in tables]
        lines.append(f"| {label} | {size / 1e6:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ledger", type=Path, help="a syndicator state file (state.db)")
    ledger = parser.parse_args().ledger
    if not ledger.is_file():
        print(f"no such ledger: {ledger}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="state-budget-") as tmp:
        forms = [(label, Path(tmp) / f"{n}.db") for n, label in enumerate(
            ("as is", "text let go", "binary", "no repeats")
        )]  # fmt: skip
        vacuumed_copy(ledger, forms[0][1], drop_text=False)
        vacuumed_copy(ledger, forms[1][1], drop_text=True)
        compact_copy(ledger, forms[2][1], no_repeats=False)
        compact_copy(ledger, forms[3][1], no_repeats=True)
        print(report(forms))
    print("\nMB: 10^6 bytes; each table with its indexes. Every form keeps the event log.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
