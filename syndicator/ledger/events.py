"""The event log, read back: the audit trail (``syndicator log``, the monthly report) and
the alerts raised about problems that need an operator. Events are written by the
transitions themselves (``Store._event``), in the same transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .codec import NO_TIME_AFTER, NO_TIME_BEFORE, _at, _hex, _time
from .store import IN_KEYS, RELEASE_ID, Store, _key_list

_SELECT = "SELECT * FROM event_log"  # the events with their release's key and their words (schema.py)


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
    attempt: int | None = None
    remote_id: str | None = None
    url: str | None = None

    FIELDS = (
        "id",
        "at",
        "release",
        "channel",
        "actor",
        "event",
        "state",
        "attempt",
        "remote_id",
        "url",
        "content_hash",
        "payload_hash",
        "detail",
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "release": self.release_key,
            "channel": self.channel,
            "actor": self.actor,
            "event": self.event,
            "state": self.state,
            "attempt": self.attempt,
            "remote_id": self.remote_id,
            "url": self.url,
            "content_hash": self.content_hash,
            "payload_hash": self.payload_hash,
            "detail": self.detail,
        }


def _event(r: sqlite3.Row) -> Event:
    return Event(
        r["id"],
        _at(r["at"]),
        r["release_key"],
        r["channel"],
        r["actor"],
        r["event"],
        r["state"],
        _hex(r["content_hash"]),
        _hex(r["payload_hash"]),
        r["detail"],
        r["attempt"],
        r["remote_id"],
        r["url"],
    )


def _bound(value: datetime | None, default: int) -> int:
    stored = _time(value)
    return default if stored is None else stored


class EventRecords(Store):
    """Reading the append-only event log; keeping the alerts."""

    def events(
        self,
        *,
        release_key: str | None = None,
        limit: int | None = 200,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Event]:
        """Events oldest first: the last ``limit`` of them, or all in [since, until)."""
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            (f"release = {RELEASE_ID}", release_key),
            ("at >= ?", _time(since)),
            ("at < ?", _time(until)),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = " LIMIT ?" if limit else ""
        rows = self._query(f"{_SELECT}{where} ORDER BY id DESC{tail}", [*params, *([limit] if limit else [])])
        return [_event(r) for r in reversed(rows)]

    def iter_events(
        self, *, since: datetime | None = None, until: datetime | None = None, batch: int = 5000
    ) -> Iterator[Event]:
        """Every event in [since, until), oldest first, read ``batch`` at a time: an export of
        years of an archive's trail holds one batch in memory, not the whole trail, and other
        threads are not kept from the ledger while it is written out."""
        after = 0
        while True:
            rows = self._query(
                _SELECT + " WHERE id > ? AND at >= ? AND at < ? ORDER BY id LIMIT ?",
                (after, _bound(since, NO_TIME_BEFORE), _bound(until, NO_TIME_AFTER), batch),
            )
            yield from map(_event, rows)
            if len(rows) < batch:
                return
            after = rows[-1]["id"]

    def release_events(
        self, release_keys: Iterable[str], *, until: datetime | None = None, chunk: int = 500
    ) -> Iterator[Event]:
        """Every event of ``release_keys`` before ``until``, each release's oldest first, read
        ``chunk`` releases at a time through the release index: what a month's report reads
        of an archive costs about what that month's releases hold."""
        keys = list(dict.fromkeys(release_keys))
        for start in range(0, len(keys), chunk):
            rows = self._query(
                _SELECT
                + " WHERE release IN (SELECT id FROM releases WHERE key"
                + IN_KEYS
                + ") AND at < ? ORDER BY id",
                (_key_list(keys[start : start + chunk]), _bound(until, NO_TIME_AFTER)),
            )
            yield from map(_event, rows)

    def open_alerts(self, current: list[tuple[str, str]], now: datetime) -> set[str]:
        """Record the problems that exist now; clear the ones that went away. Returns the
        problems not yet alerted (new ones, recurring ones, and ones whose alert failed)."""
        keys = {k for k, _ in current}
        with self.transaction() as conn:
            for row in conn.execute("SELECT problem FROM alerts WHERE cleared_at IS NULL").fetchall():
                if row[0] not in keys:
                    conn.execute("UPDATE alerts SET cleared_at = ? WHERE problem = ?", (_time(now), row[0]))
            for key, summary in current:
                conn.execute(
                    "INSERT INTO alerts (problem, first_seen, summary) VALUES (?,?,?) ON CONFLICT (problem) DO"
                    " UPDATE SET summary = excluded.summary, sent_at = CASE WHEN cleared_at IS NULL THEN sent_at END,"
                    " first_seen = CASE WHEN cleared_at IS NULL THEN first_seen ELSE excluded.first_seen END,"
                    " cleared_at = NULL",
                    (key, _time(now), summary),
                )
            rows = conn.execute(
                "SELECT problem FROM alerts WHERE cleared_at IS NULL AND sent_at IS NULL"
            ).fetchall()
        return {r[0] for r in rows} & keys

    def mark_alerts_sent(self, keys: Iterable[str], now: datetime) -> None:
        with self.transaction() as conn:
            for key in keys:
                conn.execute("UPDATE alerts SET sent_at = ? WHERE problem = ?", (_time(now), key))
                self._event(conn, now, "alerted", detail=key)
