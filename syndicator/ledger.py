"""The ledger: everything the engine knows, in one SQLite file.

Releases (with the approval pinned to a content hash), deliveries (one row per release and
channel, the state machine of DESIGN.md) and an append-only event log that triggers keep
from ever being edited: the audit trail. WAL with ``synchronous=FULL``: a committed
``in_flight`` survives a power cut, which is what makes a crash mid-call detectable.

One connection, shared by the dispatcher's threads behind a lock; every write is its own
short transaction, so a crash loses at most the call in flight, never a recorded outcome.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .approval import PinnedApproval
from .errors import ReleaseNotFound, SyndicatorError
from .models import Delivery, DeliveryState, Receipt, Release

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    release_id TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    data TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    priority TEXT NOT NULL DEFAULT 'normal',
    published TEXT,
    publish_at TEXT,
    first_seen TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    approved_hash TEXT,
    approval_origin TEXT,
    approval_identity TEXT,
    hold_reason TEXT,
    due_since TEXT,
    retracted_at TEXT,
    retracted_by TEXT,
    retracted_reason TEXT
);
CREATE INDEX IF NOT EXISTS releases_source ON releases (source);
CREATE TABLE IF NOT EXISTS deliveries (
    release_key TEXT NOT NULL REFERENCES releases (key),
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    receipt TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,
    PRIMARY KEY (release_key, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    release_key TEXT,
    channel TEXT,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT,
    content_hash TEXT,
    payload_hash TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_release ON events (release_key);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS source_state (
    source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (source, key)
);
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class StoredRelease:
    """A release as the ledger holds it, with its approval and gate facts."""

    release: Release
    first_seen: datetime
    changed_at: datetime
    pinned: PinnedApproval | None
    hold_reason: str | None
    due_since: datetime | None
    retracted_at: datetime | None
    retracted_by: str | None
    retracted_reason: str | None

    @property
    def key(self) -> str:
        return self.release.key

    @property
    def approved_hash(self) -> str | None:
        return self.pinned.approved_hash if self.pinned else None


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    release_key: str | None
    channel: str | None
    actor: str
    event: str
    state: str | None
    content_hash: str | None
    payload_hash: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "release": self.release_key,
            "channel": self.channel,
            "actor": self.actor,
            "event": self.event,
            "state": self.state,
            "content_hash": self.content_hash,
            "payload_hash": self.payload_hash,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class GateRow:
    key: str
    source: str
    tags: tuple[str, ...]
    content_hash: str
    approved_hash: str | None
    approved_by: str | None
    hold_reason: str | None
    publish_at: datetime | None
    due_since: datetime | None
    priority: str


@dataclass(frozen=True)
class Summary:
    """What the engine needs to tell whether a collected release changed, without parsing it."""

    content_hash: str
    pinned: PinnedApproval | None
    hold_reason: str | None


class LedgerError(SyndicatorError):
    """The state file cannot be opened or is not a syndicator ledger."""


class Ledger:
    """The SQLite ledger. Open with :meth:`open`; use as a context manager to close it."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Ledger:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.close()
                raise LedgerError(
                    f"{path}: written by a newer syndicator (schema {version}, this one knows {SCHEMA_VERSION})"
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{path}: cannot open the state file: {exc}") from exc
        except OSError as exc:
            raise LedgerError(f"{path}: cannot create the state folder: {exc.strerror}") from exc
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
        at: datetime,
        event: str,
        *,
        release_key: str | None = None,
        channel: str | None = None,
        actor: str = "syndicator",
        state: str | None = None,
        content_hash: str | None = None,
        payload_hash: str | None = None,
        detail: str = "",
    ) -> None:
        conn.execute(
            "INSERT INTO events (at, release_key, channel, actor, event, state, content_hash,"
            " payload_hash, detail) VALUES (?,?,?,?,?,?,?,?,?)",
            (_iso(at), release_key, channel, actor, event, state, content_hash, payload_hash, detail),
        )

    # -- releases ---------------------------------------------------------------------------

    def summaries(self, source: str) -> dict[str, Summary]:
        rows = self._query(
            "SELECT key, content_hash, approved_by, approved_at, approved_hash, approval_origin,"
            " approval_identity, hold_reason FROM releases WHERE source = ?",
            (source,),
        )
        return {r["key"]: Summary(r["content_hash"], _pinned(r), r["hold_reason"]) for r in rows}

    def store_releases(
        self,
        items: Iterable[tuple[Release, PinnedApproval | None, str | None]],
        now: datetime,
        state: SourceStateBuffer | None = None,
    ) -> list[str]:
        """Store collected releases (with approval and hold reason) and the source's state
        in one transaction, so a crash never records a file as seen without its release.

        Returns "new", "changed" or "same" for each release, in order.
        """
        with self.transaction() as conn:
            outcomes = [self._store(conn, r, pinned, hold, now) for r, pinned, hold in items]
            if state is not None:
                state.apply(conn)
        return outcomes

    def _store(
        self,
        conn: sqlite3.Connection,
        release: Release,
        pinned: PinnedApproval | None,
        hold_reason: str | None,
        now: datetime,
    ) -> str:
        content_hash = release.content_hash
        p = pinned or PinnedApproval(None, None, None, None, None)
        old = conn.execute(
            "SELECT content_hash, approved_hash, approval_identity, hold_reason FROM releases WHERE key = ?",
            (release.key,),
        ).fetchone()
        if old is None:
            outcome = "new"
        elif (old["content_hash"], old["approval_identity"], old["hold_reason"]) != (
            content_hash,
            p.identity,
            hold_reason,
        ):
            outcome = "changed"
        else:
            return "same"
        data = json.dumps(release.to_dict(), ensure_ascii=False, sort_keys=True)
        changed_at = now if old is None or old["content_hash"] != content_hash else None
        conn.execute(
            "INSERT INTO releases (key, source, release_id, title, content_hash, data, tags, priority,"
            " published, publish_at, first_seen, changed_at, approved_by, approved_at, approved_hash,"
            " approval_origin, approval_identity, hold_reason)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (key) DO UPDATE SET title=excluded.title,"
            " content_hash=excluded.content_hash, data=excluded.data, tags=excluded.tags,"
            " priority=excluded.priority,"
            " published=excluded.published, publish_at=excluded.publish_at,"
            " changed_at=COALESCE(?, releases.changed_at), approved_by=excluded.approved_by,"
            " approved_at=excluded.approved_at, approved_hash=excluded.approved_hash,"
            " approval_origin=excluded.approval_origin,"
            " approval_identity=excluded.approval_identity, hold_reason=excluded.hold_reason",
            (
                release.key,
                release.source,
                release.id,
                release.title,
                content_hash,
                data,
                json.dumps(list(release.tags), ensure_ascii=False),
                release.priority,
                _iso(release.published),
                _iso(release.publish_at),
                _iso(now),
                _iso(now),
                p.approved_by,
                p.approved_at,
                p.approved_hash,
                p.origin,
                p.identity,
                hold_reason,
                _iso(changed_at),
            ),
        )
        if outcome == "new":
            self._event(
                conn,
                now,
                "collected",
                release_key=release.key,
                content_hash=content_hash,
                detail=release.origin,
            )
        elif old["content_hash"] != content_hash:
            self._event(
                conn,
                now,
                "changed",
                release_key=release.key,
                content_hash=content_hash,
                detail=release.origin,
            )
        if p.approved_hash and (old is None or old["approval_identity"] != p.identity):
            self._event(
                conn,
                now,
                "approved",
                release_key=release.key,
                actor=p.approved_by or "",
                content_hash=p.approved_hash,
                detail=f"by {p.origin}",
            )
        elif not p.approved_hash and hold_reason and (old is None or old["hold_reason"] != hold_reason):
            self._event(
                conn, now, "held", release_key=release.key, content_hash=content_hash, detail=hold_reason
            )
        return outcome

    def _stored(self, row: sqlite3.Row) -> StoredRelease:
        pinned = _pinned(row)
        first_seen = _dt(row["first_seen"])
        changed_at = _dt(row["changed_at"])
        assert first_seen is not None and changed_at is not None
        return StoredRelease(
            release=Release.from_dict(json.loads(row["data"])),
            first_seen=first_seen,
            changed_at=changed_at,
            pinned=pinned,
            hold_reason=row["hold_reason"],
            due_since=_dt(row["due_since"]),
            retracted_at=_dt(row["retracted_at"]),
            retracted_by=row["retracted_by"],
            retracted_reason=row["retracted_reason"],
        )

    def release(self, key: str) -> StoredRelease | None:
        rows = self._query("SELECT * FROM releases WHERE key = ?", (key,))
        return self._stored(rows[0]) if rows else None

    def find_release(self, ref: str) -> StoredRelease:
        """A release by key (``source/id``), by id alone, or by a unique key prefix."""
        for sql, param in (
            ("SELECT * FROM releases WHERE key = ?", ref),
            ("SELECT * FROM releases WHERE release_id = ?", ref),
            ("SELECT * FROM releases WHERE key LIKE ? ESCAPE '\\' ORDER BY key", _like_prefix(ref)),
        ):
            rows = self._query(sql + " LIMIT 11", (param,))
            if len(rows) == 1:
                return self._stored(rows[0])
            if len(rows) > 1:
                names = ", ".join(r["key"] for r in rows[:10])
                raise ReleaseNotFound(f"{ref!r} matches several releases: {names}; give the full key")
        raise ReleaseNotFound(f"no release {ref!r} in the ledger (see `syndicator releases list`)")

    def releases(self, *, source: str | None = None, limit: int | None = None) -> list[StoredRelease]:
        sql, params = "SELECT * FROM releases", []
        if source:
            sql += " WHERE source = ?"
            params.append(source)
        sql += " ORDER BY COALESCE(published, first_seen) DESC, key"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._stored(r) for r in self._query(sql, params)]

    def approved_releases(self) -> list[StoredRelease]:
        """Releases whose approval matches their content and that are not retracted."""
        rows = self._query(
            "SELECT * FROM releases WHERE approved_hash = content_hash AND retracted_at IS NULL"
            " ORDER BY (priority = 'urgent') DESC, COALESCE(publish_at, published, first_seen), key"
        )
        return [self._stored(r) for r in rows]

    def approve(self, key: str, by: str, now: datetime) -> PinnedApproval:
        """An operator's approval, pinned to the release's current content."""
        with self.transaction() as conn:
            row = conn.execute("SELECT content_hash FROM releases WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise ReleaseNotFound(f"no release {key!r} in the ledger")
            at = _iso(now)
            pinned = PinnedApproval(
                by, at, row["content_hash"], "cli", f"cli|{by}|{at}|{row['content_hash']}"
            )
            conn.execute(
                "UPDATE releases SET approved_by=?, approved_at=?, approved_hash=?, approval_origin=?,"
                " approval_identity=?, hold_reason=NULL WHERE key=?",
                (by, at, pinned.approved_hash, "cli", pinned.identity, key),
            )
            self._event(
                conn,
                now,
                "approved",
                release_key=key,
                actor=by,
                content_hash=pinned.approved_hash,
                detail="by cli",
            )
        return pinned

    def mark_due(self, keys: Iterable[str], now: datetime) -> None:
        """Remember when each release first became due (for the no-backfill rule)."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE releases SET due_since = ? WHERE key = ? AND due_since IS NULL",
                [(_iso(now), k) for k in keys],
            )

    def gate_rows(self) -> list[GateRow]:
        """The few columns the gate and the planner need, for every release not retracted."""
        rows = self._query(
            "SELECT key, source, tags, content_hash, approved_hash, approved_by, hold_reason, publish_at,"
            " due_since, priority FROM releases WHERE retracted_at IS NULL"
            " ORDER BY (priority = 'urgent') DESC, COALESCE(publish_at, published, first_seen), key"
        )
        return [
            GateRow(
                r["key"],
                r["source"],
                tuple(json.loads(r["tags"])),
                r["content_hash"],
                r["approved_hash"],
                r["approved_by"],
                r["hold_reason"],
                _dt(r["publish_at"]),
                _dt(r["due_since"]),
                r["priority"],
            )
            for r in rows
        ]

    def snapshot(self) -> Ledger:
        """An in-memory copy: a dry run works on it, so nothing it does is ever kept."""
        copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        with self._lock:
            self._conn.backup(copy)
        copy.row_factory = sqlite3.Row
        return Ledger(copy, self.path)

    # -- channels ---------------------------------------------------------------------------

    def channel_first_seen(self, name: str, type_: str, now: datetime) -> datetime:
        """When this channel first appeared in the config (recorded on first sight)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO channels (name, type, first_seen) VALUES (?,?,?) ON CONFLICT (name) DO NOTHING",
                (name, type_, _iso(now)),
            )
            row = conn.execute("SELECT first_seen FROM channels WHERE name = ?", (name,)).fetchone()
        first = _dt(row["first_seen"])
        assert first is not None
        return first

    def channels_first_seen(self) -> dict[str, datetime]:
        return {r["name"]: _dt(r["first_seen"]) or utcnow() for r in self._query("SELECT * FROM channels")}

    # -- deliveries -------------------------------------------------------------------------

    def _delivery(self, row: sqlite3.Row) -> Delivery:
        return Delivery(
            release_key=row["release_key"],
            channel=row["channel"],
            state=DeliveryState(row["state"]),
            content_hash=row["content_hash"],
            attempts=row["attempts"],
            next_attempt_at=_dt(row["next_attempt_at"]),
            receipt=Receipt.from_dict(json.loads(row["receipt"])) if row["receipt"] else None,
            last_error=row["last_error"],
            updated_at=_dt(row["updated_at"]),
        )

    def delivery(self, release_key: str, channel: str) -> Delivery | None:
        rows = self._query(
            "SELECT * FROM deliveries WHERE release_key = ? AND channel = ?", (release_key, channel)
        )
        return self._delivery(rows[0]) if rows else None

    def deliveries(
        self,
        *,
        release_key: str | None = None,
        channel: str | None = None,
        states: Iterable[DeliveryState] | None = None,
    ) -> list[Delivery]:
        clauses, params = [], []
        if release_key is not None:
            clauses.append("release_key = ?")
            params.append(release_key)
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if states is not None:
            wanted = [str(s) for s in states]
            clauses.append(f"state IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT * FROM deliveries{where} ORDER BY release_key, channel", params)
        return [self._delivery(r) for r in rows]

    def delivery_index(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(release, channel) -> (state, content hash) for every delivery, for planning."""
        rows = self._query("SELECT release_key, channel, state, content_hash FROM deliveries")
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def plan(self, pairs: Iterable[tuple[str, str, str]], now: datetime) -> list[Delivery]:
        """Create a pending delivery for each (release, channel, content hash) that has none.

        A delivery not yet sent (pending or failed) whose release was edited and approved
        again moves to the new content, with its attempts reset: the next call carries the
        new version and a new idempotency key. Returns the deliveries created or moved.
        """
        changed: list[Delivery] = []
        waiting = (str(DeliveryState.PENDING), str(DeliveryState.FAILED))
        with self.transaction() as conn:
            for release_key, channel, content_hash in pairs:
                cur = conn.execute(
                    "INSERT INTO deliveries (release_key, channel, state, content_hash, created_at,"
                    " updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (release_key, channel, DeliveryState.PENDING, content_hash, _iso(now), _iso(now)),
                )
                event = "planned"
                if not cur.rowcount:
                    cur = conn.execute(
                        "UPDATE deliveries SET content_hash = ?, state = ?, attempts = 0, next_attempt_at = NULL,"
                        " updated_at = ? WHERE release_key = ? AND channel = ? AND content_hash != ?"
                        " AND state IN (?, ?)",
                        (
                            content_hash,
                            DeliveryState.PENDING,
                            _iso(now),
                            release_key,
                            channel,
                            content_hash,
                            *waiting,
                        ),
                    )
                    event = "replanned"
                if cur.rowcount:
                    self._event(
                        conn,
                        now,
                        event,
                        release_key=release_key,
                        channel=channel,
                        state=DeliveryState.PENDING,
                        content_hash=content_hash,
                    )
                    changed.append(Delivery(release_key, channel, DeliveryState.PENDING, content_hash))
        return changed

    def transition(
        self,
        release_key: str,
        channel: str,
        state: DeliveryState,
        now: datetime,
        *,
        event: str | None = None,
        expect: Iterable[DeliveryState] | None = None,
        actor: str = "syndicator",
        attempts: int | None = None,
        next_attempt_at: datetime | None = None,
        receipt: Receipt | None = None,
        error: str | None = None,
        payload_hash: str | None = None,
        detail: str = "",
    ) -> Delivery:
        """Move a delivery to ``state`` and append the event, in one transaction.

        ``expect`` guards against a race: the move happens only from one of those states,
        else :class:`SyndicatorError` (the caller lost the delivery to someone else).
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM deliveries WHERE release_key = ? AND channel = ?", (release_key, channel)
            ).fetchone()
            if row is None:
                raise SyndicatorError(f"no delivery of {release_key} to {channel}")
            if expect is not None and row["state"] not in {str(s) for s in expect}:
                raise SyndicatorError(
                    f"delivery of {release_key} to {channel} is {row['state']}, not {'/'.join(map(str, expect))}"
                )
            sets = ["state = ?", "updated_at = ?", "next_attempt_at = ?"]
            params: list[Any] = [str(state), _iso(now), _iso(next_attempt_at)]
            if attempts is not None:
                sets.append("attempts = ?")
                params.append(attempts)
            if receipt is not None:
                sets.append("receipt = ?")
                params.append(json.dumps(receipt.to_dict(), ensure_ascii=False))
            if error is not None:
                sets.append("last_error = ?")
                params.append(error)
            if state is DeliveryState.SENT:
                sets.append("sent_at = ?")
                params.append(_iso(now))
            conn.execute(
                f"UPDATE deliveries SET {', '.join(sets)} WHERE release_key = ? AND channel = ?",
                (*params, release_key, channel),
            )
            self._event(
                conn,
                now,
                event or str(state),
                release_key=release_key,
                channel=channel,
                actor=actor,
                state=str(state),
                content_hash=row["content_hash"],
                payload_hash=payload_hash,
                detail=error if error and not detail else detail,
            )
            new = conn.execute(
                "SELECT * FROM deliveries WHERE release_key = ? AND channel = ?", (release_key, channel)
            ).fetchone()
        return self._delivery(new)

    def counts(self) -> dict[str, dict[str, int]]:
        """Deliveries per channel per state."""
        out: dict[str, dict[str, int]] = {}
        for r in self._query("SELECT channel, state, COUNT(*) AS n FROM deliveries GROUP BY channel, state"):
            out.setdefault(r["channel"], {})[r["state"]] = r["n"]
        return out

    # -- events -----------------------------------------------------------------------------

    def add_event(self, event: str, now: datetime, **fields: Any) -> None:
        with self.transaction() as conn:
            self._event(conn, now, event, **fields)

    def events(self, *, release_key: str | None = None, limit: int = 200) -> list[Event]:
        sql, params = "SELECT * FROM events", []
        if release_key is not None:
            sql += " WHERE release_key = ?"
            params.append(release_key)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [
            Event(
                r["id"],
                _dt(r["at"]) or utcnow(),
                r["release_key"],
                r["channel"],
                r["actor"],
                r["event"],
                r["state"],
                r["content_hash"],
                r["payload_hash"],
                r["detail"],
            )
            for r in reversed(rows)
        ]

    # -- per-source state -------------------------------------------------------------------

    def source_state(self, source: str) -> SourceState:
        return SourceState(self, source)


class SourceState:
    """A source's key/value store (validators, file index), JSON values in the ledger."""

    def __init__(self, ledger: Ledger, source: str) -> None:
        self._ledger = ledger
        self._source = source

    def get_all(self) -> dict[str, Any]:
        rows = self._ledger._query("SELECT key, value FROM source_state WHERE source = ?", (self._source,))
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def put_many(self, items: Mapping[str, Any]) -> None:
        with self._ledger.transaction() as conn:
            conn.executemany(
                "INSERT INTO source_state (source, key, value) VALUES (?,?,?)"
                " ON CONFLICT (source, key) DO UPDATE SET value = excluded.value",
                [(self._source, k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()],
            )

    def delete_many(self, keys: list[str]) -> None:
        with self._ledger.transaction() as conn:
            conn.executemany(
                "DELETE FROM source_state WHERE source = ? AND key = ?", [(self._source, k) for k in keys]
            )


class SourceStateBuffer:
    """A source's state as the source sees it during collection; writes wait in memory and
    are committed with the releases they describe (see :meth:`Ledger.store_releases`)."""

    def __init__(self, ledger: Ledger, source: str) -> None:
        self._source = source
        self._values = SourceState(ledger, source).get_all()
        self._put: dict[str, Any] = {}
        self._deleted: set[str] = set()

    def get_all(self) -> dict[str, Any]:
        return dict(self._values)

    def put_many(self, items: Mapping[str, Any]) -> None:
        self._values.update(items)
        self._put.update(items)
        self._deleted.difference_update(items)

    def delete_many(self, keys: list[str]) -> None:
        for k in keys:
            self._values.pop(k, None)
            self._put.pop(k, None)
        self._deleted.update(keys)

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "DELETE FROM source_state WHERE source = ? AND key = ?",
            [(self._source, k) for k in self._deleted],
        )
        conn.executemany(
            "INSERT INTO source_state (source, key, value) VALUES (?,?,?)"
            " ON CONFLICT (source, key) DO UPDATE SET value = excluded.value",
            [(self._source, k, json.dumps(v, ensure_ascii=False)) for k, v in self._put.items()],
        )
        self._put.clear()
        self._deleted.clear()


def _pinned(row: sqlite3.Row) -> PinnedApproval | None:
    if not row["approved_hash"]:
        return None
    return PinnedApproval(
        row["approved_by"],
        row["approved_at"],
        row["approved_hash"],
        row["approval_origin"],
        row["approval_identity"],
    )


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
