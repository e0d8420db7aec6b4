"""Deliveries in the ledger: one row per release and channel, and its state machine."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from ..errors import SyndicatorError
from ..models import Action, Delivery, DeliveryState, Receipt
from .codec import _dt, _hash, _hex, _time
from .rows import DeliveryFacts
from .schema import IN_FLIGHT
from .store import IN_KEYS, RELEASE_ID, Pending, Store, _key_list

# A delivery with its release's key (deliveries refer to releases by row number).
_SELECT = "SELECT releases.key AS release_key, deliveries.* FROM deliveries JOIN releases ON releases.id = deliveries.release"
_WHERE_ONE = f"release = {RELEASE_ID} AND channel = ?"


class DeliveryRecords(Store):
    def _delivery(self, row: sqlite3.Row, release_key: str | None = None) -> Delivery:
        """The delivery in a row of ``_SELECT`` (or, with its key, of ``deliveries`` alone)."""
        return Delivery(
            release_key=release_key or row["release_key"],
            channel=row["channel"],
            state=DeliveryState(row["state"]),
            content_hash=_hex(row["content_hash"]) or "",
            attempts=row["attempts"],
            next_attempt_at=_dt(row["next_attempt_at"]),
            receipt=Receipt.from_dict(json.loads(row["receipt"])) if row["receipt"] else None,
            last_error=row["last_error"],
            updated_at=_dt(row["updated_at"]),
            action=Action(row["action"]),
        )

    def delivery(self, release_key: str, channel: str) -> Delivery | None:
        rows = self._query(_SELECT + " WHERE key = ? AND channel = ?", (release_key, channel))
        return self._delivery(rows[0]) if rows else None

    def deliveries(
        self,
        *,
        release_key: str | None = None,
        channel: str | None = None,
        states: Iterable[DeliveryState] | None = None,
        release_keys: Iterable[str] | None = None,
    ) -> list[Delivery]:
        clauses, params = [], []
        if release_key is not None:
            clauses.append("key = ?")
            params.append(release_key)
        if release_keys is not None:
            clauses.append("key" + IN_KEYS)
            params.append(_key_list(release_keys))
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if states is not None:
            wanted = [str(s) for s in states]
            clauses.append(f"state IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"{_SELECT}{where} ORDER BY key, channel", params)
        return [self._delivery(r) for r in rows]

    def delivery_facts(self) -> list[DeliveryFacts]:
        """Every delivery's state and last error, ordered as :meth:`deliveries` orders them."""
        states = {str(s): s for s in DeliveryState}
        rows = self._query(
            "SELECT key, channel, state, last_error FROM deliveries JOIN releases ON releases.id = release"
            " ORDER BY key, channel"
        )
        return [DeliveryFacts(key, channel, states[state], error) for key, channel, state, error in rows]

    def delivery_index(self, keys: Iterable[str]) -> dict[tuple[str, str], tuple[str, str]]:
        """(release, channel) -> (state, content hash) for each delivery of ``keys``, for planning."""
        rows = self._query(
            "SELECT key, channel, state, deliveries.content_hash FROM deliveries"
            " JOIN releases ON releases.id = release WHERE key" + IN_KEYS,
            (_key_list(keys),),
        )
        return {(r[0], r[1]): (r[2], _hex(r[3]) or "") for r in rows}

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
                stored_hash, at = _hash(content_hash), _time(now)
                cur = conn.execute(
                    "INSERT INTO deliveries (release, channel, state, content_hash, created_at,"
                    f" updated_at) VALUES ({RELEASE_ID},?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (release_key, channel, DeliveryState.PENDING, stored_hash, at, at),
                )
                event = "planned"
                if not cur.rowcount:
                    cur = conn.execute(
                        "UPDATE deliveries SET content_hash = ?, state = ?, attempts = 0, next_attempt_at = NULL,"
                        f" updated_at = ? WHERE {_WHERE_ONE} AND content_hash != ?"
                        " AND state IN (?, ?)",
                        (
                            stored_hash,
                            DeliveryState.PENDING,
                            at,
                            release_key,
                            channel,
                            stored_hash,
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
        self, release_key: str, channel: str, state: DeliveryState, now: datetime, **changes: Any
    ) -> Delivery:
        """Move a delivery to ``state`` and append the event, in one transaction, and return
        the moved delivery once that is durable. ``changes``: see :meth:`_transition_op`."""
        return self.group_write(self._transition_op(release_key, channel, state, now, **changes))

    def queue_transition(
        self, release_key: str, channel: str, state: DeliveryState, now: datetime, **changes: Any
    ) -> Pending[Delivery]:
        """:meth:`transition`, queued for the next group commit instead of waiting for one
        (:meth:`~syndicator.ledger.store.Store.queue_write`): nothing may act on the move
        before ``result()`` returns."""
        return self.queue_write(self._transition_op(release_key, channel, state, now, **changes))

    def _transition_op(
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
        action: Action | None = None,
        detail: str = "",
    ) -> Callable[[sqlite3.Connection], Delivery]:
        """The write that moves a delivery to ``state`` and appends its event.

        ``expect`` guards against a race: the move happens only from one of those states,
        else :class:`SyndicatorError` (the caller lost the delivery to someone else).
        """

        sets = ["state = ?", "updated_at = ?", "next_attempt_at = ?"]
        params: list[Any] = [str(state), _time(now), _time(next_attempt_at)]
        if attempts is not None:
            sets.append("attempts = ?")
            params.append(attempts)
        if receipt is not None:
            sets.append("receipt = ?")
            # A field left empty is left out: it reads back as its default.
            fields = {k: v for k, v in receipt.to_dict().items() if v}
            params.append(json.dumps(fields, ensure_ascii=False, separators=(",", ":")))
        if error is not None:
            sets.append("last_error = ?")
            params.append(error)
        if state is DeliveryState.SENT:
            sets.append("sent_at = ?")
            params.append(_time(now))
        if action is not None:
            sets.append("action = ?")
            params.append(str(action))
        where = _WHERE_ONE
        params += [release_key, channel]
        allowed = [str(s) for s in expect] if expect is not None else []
        if expect is not None:
            where += f" AND state IN ({','.join('?' * len(allowed))})"
            params += allowed
        sql = f"UPDATE deliveries SET {', '.join(sets)} WHERE {where} RETURNING *"

        def write(conn: sqlite3.Connection) -> Delivery:
            # One statement moves the row and returns it; the guard is in its WHERE clause.
            row = next(iter(conn.execute(sql, params).fetchall()), None)
            if row is None:
                found = conn.execute(
                    f"SELECT state FROM deliveries WHERE {_WHERE_ONE}", (release_key, channel)
                ).fetchone()
                if found is None:
                    raise SyndicatorError(f"no delivery of {release_key} to {channel}")
                raise SyndicatorError(
                    f"delivery of {release_key} to {channel} is {found[0]}, not {'/'.join(allowed)}"
                )
            self._event(
                conn,
                now,
                event or str(state),
                release_key=release_key,
                channel=channel,
                actor=actor,
                state=str(state),
                content_hash=_hex(row["content_hash"]),
                payload_hash=payload_hash,
                attempt=row["attempts"],
                remote_id=receipt.remote_id if receipt else None,
                url=receipt.url if receipt else None,
                detail=error if error and not detail else detail,
            )
            return self._delivery(row, release_key)

        return write

    def replan(
        self,
        items: Iterable[tuple[str, str, str, Action]],
        now: datetime,
        *,
        actor: str = "syndicator",
        detail: str = "",
    ) -> list[Delivery]:
        """Queue an existing delivery again, for a new version or a new action.

        Each item is (release, channel, content hash, action). The earlier receipt is kept:
        an update or a retraction needs to know which post it acts on.
        """
        out: list[Delivery] = []
        with self.transaction() as conn:
            for release_key, channel, content_hash, action in items:
                cur = conn.execute(
                    "UPDATE deliveries SET state = ?, action = ?, content_hash = ?, attempts = 0,"
                    f" next_attempt_at = NULL, last_error = '', updated_at = ? WHERE {_WHERE_ONE}",
                    (
                        DeliveryState.PENDING,
                        str(action),
                        _hash(content_hash),
                        _time(now),
                        release_key,
                        channel,
                    ),
                )
                if cur.rowcount:
                    self._event(
                        conn,
                        now,
                        "replanned",
                        release_key=release_key,
                        channel=channel,
                        actor=actor,
                        state=DeliveryState.PENDING,
                        content_hash=content_hash,
                        detail=f"{action}" + (f": {detail}" if detail else ""),
                    )
                    out.append(
                        Delivery(release_key, channel, DeliveryState.PENDING, content_hash, action=action)
                    )
        return out

    def quota_next_slot(self, channel: str, quota: int, now: datetime) -> datetime | None:
        """When ``channel`` may next be called under a quota of ``quota`` calls in any 24 hours,
        or None when it may be called now (the calls are the ``in_flight`` events)."""
        since = now - timedelta(hours=24)
        rows = self._query(
            "SELECT COUNT(*), MIN(at) FROM events WHERE channel = (SELECT id FROM names WHERE name = ?)"
            f" AND event = {IN_FLIGHT} AND at >= ?",
            (channel, _time(since)),
        )
        used, oldest = int(rows[0][0]), _dt(rows[0][1])
        if used < quota:
            return None
        return (oldest or now) + timedelta(hours=24)

    def counts(self) -> dict[str, dict[str, int]]:
        """Deliveries per channel per state."""
        out: dict[str, dict[str, int]] = {}
        for r in self._query("SELECT channel, state, COUNT(*) AS n FROM deliveries GROUP BY channel, state"):
            out.setdefault(r["channel"], {})[r["state"]] = r["n"]
        return out
