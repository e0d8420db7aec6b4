"""The ledger's file and connection: opening (and upgrading) it, transactions and group
commits, the hints a run leaves for the next, and writing the event log.

WAL with ``synchronous=FULL``: a committed ``in_flight`` survives a power cut, which is what
makes a crash mid-call detectable. One connection, shared by the dispatcher's threads behind
a lock; every write is its own short transaction (or joins a group commit), so a crash loses
at most the call in flight, never a recorded outcome.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from ..errors import StateError
from .codec import _hash, _time
from .migrate import statements, upgrade
from .schema import SCHEMA, SCHEMA_VERSION

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: ``... IN`` + this, with :func:`_key_list` as its parameter: any number of keys in one
#: parameter (SQLite caps how many a statement may have).
IN_KEYS = " IN (SELECT value FROM json_each(?))"


def _key_list(keys: Iterable[str]) -> str:
    return json.dumps(list(keys))


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the ledger file as every use wants it; the schema is :meth:`Store.open`'s."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _keep_a_copy(path: Path, version: int) -> Path:
    """A copy of the file as it is, beside it, before an upgrade rewrites it: the way back
    to the older syndicator (which refuses a newer file), and a witness of what was there."""
    copy = path.with_name(f"{path.name}.schema-{version}")
    if not copy.exists():  # the first copy is the one to keep
        # Through a connection of its own: ``conn`` holds the write lock (a backup through it
        # would wait for itself), and a reader sees the file as committed, before the upgrade.
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    return copy


#: A release's row number, from its key: how deliveries and events refer to it.
RELEASE_ID = "(SELECT id FROM releases WHERE key = ?)"


T = TypeVar("T")


class _Write(Generic[T]):
    __slots__ = ("done", "error", "op", "result")

    def __init__(self, op: Callable[[sqlite3.Connection], T]) -> None:
        self.op = op
        self.result: T | None = None
        self.error: Exception | None = None
        self.done = False


class Pending(Generic[T]):
    """A write queued for the next group commit (:meth:`Store.queue_write`)."""

    __slots__ = ("_item", "_store")

    def __init__(self, store: Store, item: _Write[T]) -> None:
        self._store, self._item = store, item

    def result(self) -> T:
        """Wait until the write is durable (committing it if no other thread has), and
        return what it returned; raises what it raised."""
        return self._store._settle(self._item)


class LedgerError(StateError):
    """The state file cannot be opened or is not a syndicator ledger."""


class Store:
    """The connection, its lock, transactions (group commits) and writing the event log."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self._pending: list[_Write[Any]] = []  # group commit: writes waiting for the next leader
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._names: dict[str, int] = {}  # the event log's words by number (``_name``)

    @classmethod
    def open(cls, path: Path) -> Self:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(path)
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                # a new file: space freed by let-go text is given back on close
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{path}: cannot open the state file: {exc}") from exc
        except OSError as exc:
            raise LedgerError(f"{path}: cannot create the state folder: {exc.strerror}") from exc
        store = cls(conn, path)
        try:  # always a write: a full disk or a read-only file fails here, before any work
            conn.execute("BEGIN IMMEDIATE")
            # read under the write lock: another process may have just upgraded the file
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                conn.close()
                raise LedgerError(
                    f"{path}: written by a newer syndicator (schema {version}, this one knows {SCHEMA_VERSION})"
                )
            if 0 < version < SCHEMA_VERSION:
                kept = _keep_a_copy(path, version)
                upgrade(conn, version)
                log.warning(
                    "%s: upgraded from schema %d to %d; the old file is kept as %s",
                    path,
                    version,
                    SCHEMA_VERSION,
                    kept,
                )
            else:
                for statement in statements(SCHEMA):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except LedgerError:
            raise
        except Exception as exc:  # closing rolls the transaction back: the file is as it was
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise LedgerError(f"{path}: cannot open the state file: {exc}") from exc
            raise LedgerError(f"{path}: cannot upgrade the state file (left as it was): {exc}") from exc
        return store

    def close(self, *, tidy: bool = True) -> None:
        """Commit what is queued and close. ``tidy`` also gives freed pages back and folds the
        WAL into the file: the last one out does it, not a helper process."""
        self._flush()
        with self._lock:
            if not tidy:
                self._conn.close()
                return
            try:  # give freed pages back (text let go), then fold the WAL into the file
                if self._conn.execute("PRAGMA freelist_count").fetchone()[0]:
                    # executescript steps it to the end; execute would free one page per call
                    self._conn.executescript("PRAGMA incremental_vacuum;")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass  # read-only or busy: the WAL is still valid and is folded in next time
            self._conn.close()

    @contextmanager
    def disconnected(self) -> Iterator[None]:
        """The connection closed for the duration, and opened again after. A process forked
        meanwhile inherits no SQLite connection: SQLite's file locks do not survive a fork, so
        a child must open its own, and this one must not be open when the child is made."""
        self._flush()
        with self._commit_lock, self._lock:
            self._conn.close()
            try:
                yield
            finally:
                try:
                    self._conn = _connect(self.path)
                except sqlite3.DatabaseError as exc:
                    raise LedgerError(f"{self.path}: cannot open the state file again: {exc}") from exc

    def _flush(self) -> None:
        with self._commit_lock:  # a queued write that nobody waited for is still committed
            with self._pending_lock:
                batch, self._pending = self._pending, []
            if batch:
                self._commit(batch)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. A storage fault (disk full, read-only, corrupt) becomes a
        LedgerError naming the file, and nothing of the transaction is kept."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise LedgerError(f"{self.path}: cannot write the state file: {exc}") from exc
            try:
                yield self._conn
            except BaseException as exc:
                self._forget_names()
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.DatabaseError:
                    pass  # SQLite already rolled back (e.g. disk full); the original error matters
                if isinstance(exc, sqlite3.DatabaseError):
                    raise LedgerError(f"{self.path}: cannot write the state file: {exc}") from exc
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._forget_names()
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.DatabaseError:
                    pass
                raise LedgerError(f"{self.path}: cannot write the state file: {exc}") from exc

    def group_write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in a write transaction shared with other threads' waiting writes.

        Group commit: whichever thread gets the commit lock runs every waiting write, each in
        its own savepoint, and commits them with one fsync. Each caller returns only once its
        write is durable, so ``in_flight`` is still on disk before the external call.
        """
        return self._settle(self._enqueue(op))

    def queue_write(self, op: Callable[[sqlite3.Connection], T]) -> Pending[T]:
        """Queue ``op`` for the next group commit and return at once.

        Nothing may treat the write as done (report it, tell a hook) before ``result()``
        returns. Writes commit in the order they were queued, so a thread that queues a
        write and then makes another with :meth:`group_write` has both durable when that
        call returns: the dispatcher records a call's outcome this way, and its next claim
        carries it to disk instead of a commit of its own.
        """
        return Pending(self, self._enqueue(op))

    def _enqueue(self, op: Callable[[sqlite3.Connection], T]) -> _Write[T]:
        item: _Write[T] = _Write(op)
        with self._pending_lock:
            self._pending.append(item)
        return item

    def _settle(self, item: _Write[T]) -> T:
        with self._commit_lock:
            if not item.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Write[Any]]) -> None:
        if len(batch) == 1:  # alone: its own transaction is the savepoint
            item = batch[0]
            try:
                with self.transaction() as conn:
                    item.result = item.op(conn)
            except Exception as exc:
                item.error = exc
            item.done = True
            return
        try:
            with self.transaction() as conn:
                for n, item in enumerate(batch):
                    conn.execute(f"SAVEPOINT w{n}")
                    try:
                        item.result = item.op(conn)
                    except Exception as exc:  # only this write is undone; the others still commit
                        self._forget_names()
                        conn.execute(f"ROLLBACK TO w{n}")
                        item.error = exc
                    conn.execute(f"RELEASE w{n}")
        except Exception as exc:  # the commit itself failed: nothing in the batch was kept
            for item in batch:
                item.result, item.error = None, item.error or exc
        for item in batch:
            item.done = True

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.DatabaseError as exc:  # a damaged page: name the file, never a traceback
                raise LedgerError(f"{self.path}: cannot read the state file: {exc}") from exc

    def hint(self, key: str) -> str | None:
        """What an earlier run noted about how to work (see :meth:`note_hint`), or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (f"hint:{key}",))
        return str(rows[0][0]) if rows else None

    def note_hint(self, key: str, value: str) -> None:
        """Note ``value`` for later runs: how to work, never what to publish. Writes only a
        change, so that a run with nothing new writes nothing."""
        if self.hint(key) == value:
            return
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"hint:{key}", value),
            )

    def _name(self, conn: sqlite3.Connection, name: str) -> int:
        """The number ``name`` has in the ``names`` table, added if it is new (in the caller's
        transaction: a rollback forgets what this one learnt, :meth:`_forget_names`)."""
        number = self._names.get(name)
        if number is None:
            conn.execute("INSERT INTO names (name) VALUES (?) ON CONFLICT DO NOTHING", (name,))
            number = int(conn.execute("SELECT id FROM names WHERE name = ?", (name,)).fetchone()[0])
            self._names[name] = number
        return number

    def _forget_names(self) -> None:
        self._names.clear()

    def _event(
        self,
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
        attempt: int | None = None,
        remote_id: str | None = None,
        url: str | None = None,
        detail: str = "",
    ) -> None:
        conn.execute(
            "INSERT INTO events (at, release, channel, actor, event, state, content_hash,"
            f" payload_hash, attempt, remote_id, url, detail) VALUES (?,{RELEASE_ID},?,?,?,?,?,?,?,?,?,?)",
            (
                _time(at),
                release_key,
                None if channel is None else self._name(conn, channel),
                self._name(conn, actor),
                self._name(conn, event),
                None if state is None else self._name(conn, state),
                _hash(content_hash),
                _hash(payload_hash),
                attempt,
                remote_id,
                url,
                detail,
            ),
        )

    def add_event(self, event: str, now: datetime, **fields: Any) -> None:
        with self.transaction() as conn:
            self._event(conn, now, event, **fields)

    def integrity(self) -> str:
        """SQLite's quick check: "ok", or what is wrong with the file."""
        rows = self._query("PRAGMA quick_check")
        return "; ".join(str(r[0]) for r in rows)

    def snapshot(self) -> Self:
        """An in-memory copy: a dry run works on it, so nothing it does is ever kept."""
        copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        with self._lock:
            self._conn.backup(copy)
        copy.row_factory = sqlite3.Row
        return type(self)(copy, self.path)
