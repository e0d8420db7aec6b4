"""Upgrading a ledger written by an older syndicator, in the transaction that opens it.

Schemas 1 to 3 kept keys, hashes and times as text; schema 4 (:mod:`.schema`) keeps them in
their binary form. The upgrade renames the old tables aside, creates the new ones, copies
every row across, converting each value, and drops the old tables: all in one transaction,
so a failure leaves the file exactly as it was, for the older syndicator to go on with.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import datetime

from ..approval import identity_digest
from ..models import Release
from .codec import _hash, _tags, _time
from .rows import pack_release
from .schema import SCHEMA

# In the order they can be dropped (deliveries refer to releases).
_TABLES = ("events", "deliveries", "release_text", "alerts", "channels", "source_state", "meta", "releases")


def statements(script: str) -> Iterator[str]:
    """The statements of ``script`` one by one: ``executescript`` would commit the
    transaction they belong to."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()


def upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Bring a file of schema ``version`` (1 to 3) to the current schema."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    old = [table for table in _TABLES if table in present]
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall():
        conn.execute(f'DROP {kind.upper()} "{name}"')
    for table in old:
        conn.execute(f'ALTER TABLE "{table}" RENAME TO "old_{table}"')
    for statement in statements(SCHEMA):
        conn.execute(statement)
    conn.create_function("v4_time", 1, _micros, deterministic=True)
    conn.create_function("v4_hash", 1, _hash, deterministic=True)
    if "releases" in present:
        _copy_releases(conn, texts_apart="release_text" in present)
    if "deliveries" in present:
        conn.execute(
            "INSERT INTO deliveries (release, channel, state, action, content_hash, attempts,"
            " next_attempt_at, receipt, last_error, created_at, updated_at, sent_at)"
            " SELECT r.id, d.channel, d.state, d.action, v4_hash(d.content_hash), d.attempts,"
            " v4_time(d.next_attempt_at), d.receipt, d.last_error, v4_time(d.created_at),"
            " v4_time(d.updated_at), v4_time(d.sent_at)"
            " FROM old_deliveries d JOIN releases r ON r.key = d.release_key"
        )
    if "events" in present:
        _copy_events(conn)
    if "alerts" in present:
        conn.execute(
            "INSERT INTO alerts SELECT problem, v4_time(first_seen), v4_time(sent_at), v4_time(cleared_at),"
            " summary FROM old_alerts"
        )
    if "channels" in present:
        conn.execute("INSERT INTO channels SELECT name, type, v4_time(first_seen) FROM old_channels")
    if "meta" in present:
        conn.execute("INSERT INTO meta SELECT key, value FROM old_meta")
    if "source_state" in present:
        conn.execute("INSERT INTO source_state SELECT source, key, value FROM old_source_state")
    for table in old:
        conn.execute(f'DROP TABLE "old_{table}"')


def _micros(text: str | None) -> int | None:
    return None if text is None else _time(datetime.fromisoformat(text))


def _copy_releases(conn: sqlite3.Connection, *, texts_apart: bool) -> None:
    """Each release repacked: schema 1 kept its text inside its data; 2 and 3 beside it,
    or not at all once let go."""
    planned = "planned" in {column[1] for column in conn.execute("PRAGMA table_info(old_releases)")}
    text_of = "SELECT data FROM old_release_text WHERE key = ?"
    # Row by row (an archive's texts are tens of megabytes), writing as it reads.
    for row in conn.execute("SELECT * FROM old_releases ORDER BY rowid"):
        key = row["key"]
        found = conn.execute(text_of, (key,)).fetchone() if texts_apart else None
        kept = found is not None or not texts_apart
        try:
            fields = json.loads(
                zlib.decompress(row["data"]) if isinstance(row["data"], bytes) else row["data"]
            )
            if found is not None:
                fields.update(json.loads(zlib.decompress(found[0])))
            if kept and "body_text" not in fields:  # stored before the plain text was kept
                from ..content import html_to_text

                fields["body_text"] = html_to_text(fields.get("body_html") or "")
            data, text = pack_release(Release.from_dict(fields))
        except (ValueError, TypeError, KeyError, zlib.error) as exc:
            raise ValueError(f"release {key}: {type(exc).__name__}: {exc}") from exc
        identity = row["approval_identity"]
        new_id = conn.execute(
            "INSERT INTO releases (key, source, title, content_hash, data, tags, priority, published,"
            " publish_at, first_seen, changed_at, approved_by, approved_at, approved_hash,"
            " approval_origin, approval_identity, hold_reason, due_since, retracted_at, retracted_by,"
            " retracted_reason, planned) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (
                key,
                row["source"],
                row["title"],
                _hash(row["content_hash"]),
                data,
                _tags(json.loads(row["tags"])),
                row["priority"],
                _micros(row["published"]),
                _micros(row["publish_at"]),
                _micros(row["first_seen"]),
                _micros(row["changed_at"]),
                row["approved_by"],
                row["approved_at"],
                _hash(row["approved_hash"]),
                row["approval_origin"],
                identity_digest(identity) if identity else None,
                row["hold_reason"],
                _micros(row["due_since"]),
                _micros(row["retracted_at"]),
                row["retracted_by"],
                row["retracted_reason"],
                row["planned"] if planned else None,
            ),
        ).fetchone()[0]
        if kept:
            conn.execute("INSERT INTO release_text (release, data) VALUES (?, ?)", (new_id, text))


def _copy_events(conn: sqlite3.Connection) -> None:
    (orphans,) = conn.execute(
        "SELECT COUNT(*) FROM old_events WHERE release_key IS NOT NULL"
        " AND release_key NOT IN (SELECT key FROM releases)"
    ).fetchone()
    if orphans:  # the trail must come across whole, or not at all
        raise sqlite3.IntegrityError(
            f"{orphans} events name releases the file does not hold; not upgraded, the file is as it was"
        )
    for column in ("event", "state", "actor", "channel"):
        conn.execute(
            f"INSERT INTO names (name) SELECT DISTINCT {column} FROM old_events"
            f" WHERE {column} IS NOT NULL ORDER BY {column} ON CONFLICT DO NOTHING"
        )
    conn.execute(
        "INSERT INTO events (id, at, release, channel, actor, event, state, content_hash, payload_hash,"
        " attempt, remote_id, url, detail)"
        " SELECT e.id, v4_time(e.at), r.id, channel.id, actor.id, event.id, state.id,"
        " v4_hash(e.content_hash), v4_hash(e.payload_hash), e.attempt, e.remote_id, e.url, e.detail"
        " FROM old_events e LEFT JOIN releases r ON r.key = e.release_key"
        " LEFT JOIN names channel ON channel.name = e.channel JOIN names actor ON actor.name = e.actor"
        " JOIN names event ON event.name = e.event LEFT JOIN names state ON state.name = e.state"
        " ORDER BY e.id"
    )
