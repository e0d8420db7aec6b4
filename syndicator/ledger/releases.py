"""Releases in the ledger: what sources collected, approvals, and the gate's facts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache

from ..approval import PinnedApproval, approval_identity
from ..errors import ReleaseNotFound
from ..models import Release
from .codec import _at, _dt, _hash, _hex, _tags, _time
from .rows import Columns, GateRow, ReleaseFacts, StoredRelease, Summary, pack_release, unpack_release
from .sourcestate import SourceStateBuffer
from .store import IN_KEYS, Store, _key_list

# The order releases go out in: urgent first, then by when each is (or was) due.
_DISPATCH_ORDER = " ORDER BY (priority = 'urgent') DESC, COALESCE(publish_at, published, first_seen), key"
_NEWEST_FIRST = " ORDER BY COALESCE(published, first_seen) DESC, key"
_SELECT = (
    "SELECT releases.*, release_text.data AS text, release_text.release IS NOT NULL AS kept"
    " FROM releases LEFT JOIN release_text ON release_text.release = releases.id"
)
_KEPT = "releases.id IN (SELECT release FROM release_text)"  # whether the text is kept, not read
# The same rows without the text: whether it is kept, but not the text itself.
_SELECT_FACTS = f"SELECT releases.*, NULL AS text, {_KEPT} AS kept FROM releases"


class ReleaseRecords(Store):
    def summaries(self, keys: Iterable[str]) -> dict[str, Summary]:
        """What is stored of each of ``keys`` (absent keys are new releases)."""
        rows = self._query(
            "SELECT key, content_hash, approved_by, approved_at, approved_hash, approval_origin,"
            " approval_identity, hold_reason FROM releases WHERE key" + IN_KEYS,
            (_key_list(keys),),
        )
        return {r["key"]: Summary(_hex(r["content_hash"]) or "", _pinned(r), r["hold_reason"]) for r in rows}

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
        stored_hash = _hash(content_hash)
        p = pinned or PinnedApproval(None, None, None, None, None)
        old = conn.execute(
            "SELECT id, content_hash, approval_identity, hold_reason,"
            " id IN (SELECT release FROM text_wanted) AS wanted FROM releases WHERE key = ?",
            (release.key,),
        ).fetchone()
        if old is not None and old["wanted"]:  # seen again: keep its text this time
            conn.execute("DELETE FROM text_wanted WHERE release = ?", (old["id"],))
        if old is None:
            outcome = "new"
        elif (old["content_hash"], old["approval_identity"], old["hold_reason"]) != (
            stored_hash,
            p.identity,
            hold_reason,
        ):
            outcome = "changed"
        else:
            if old["wanted"]:  # the same content as let go: keep it again, and plan it again
                conn.execute(
                    "INSERT INTO release_text (release, data) VALUES (?,?) ON CONFLICT DO NOTHING",
                    (old["id"], pack_release(release)[1]),
                )
                conn.execute("UPDATE releases SET planned = NULL WHERE id = ?", (old["id"],))
            return "same"
        data, text = pack_release(release)
        changed_at = now if old is None or old["content_hash"] != stored_hash else None
        row = conn.execute(
            "INSERT INTO releases (key, source, title, content_hash, data, tags, priority,"
            " published, publish_at, first_seen, changed_at, approved_by, approved_at, approved_hash,"
            " approval_origin, approval_identity, hold_reason)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (key) DO UPDATE SET title=excluded.title,"
            " content_hash=excluded.content_hash, data=excluded.data, tags=excluded.tags,"
            " priority=excluded.priority,"
            " published=excluded.published, publish_at=excluded.publish_at,"
            " changed_at=COALESCE(?, releases.changed_at), approved_by=excluded.approved_by,"
            " approved_at=excluded.approved_at, approved_hash=excluded.approved_hash,"
            " approval_origin=excluded.approval_origin,"
            " approval_identity=excluded.approval_identity, hold_reason=excluded.hold_reason,"
            " planned=CASE WHEN releases.content_hash = excluded.content_hash THEN releases.planned END"
            " RETURNING id",
            (
                release.key,
                release.source,
                release.title,
                stored_hash,
                data,
                _tags(release.tags),
                release.priority,
                _time(release.published),
                _time(release.publish_at),
                _time(now),
                _time(now),
                p.approved_by,
                p.approved_at,
                _hash(p.approved_hash),
                p.origin,
                p.identity,
                hold_reason,
                _time(changed_at),
            ),
        ).fetchone()
        conn.execute(
            "INSERT INTO release_text (release, data) VALUES (?,?)"
            " ON CONFLICT (release) DO UPDATE SET data=excluded.data",
            (row[0], text),
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
        elif old["content_hash"] != stored_hash:
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
        """The release in a row of ``_SELECT`` or ``_SELECT_FACTS``."""
        pinned = _pinned(row)
        first_seen, changed_at = _at(row["first_seen"]), _at(row["changed_at"])
        text = row["text"]
        return StoredRelease(
            release=unpack_release(row["data"], text, _columns(row), _hex(row["content_hash"])),
            first_seen=first_seen,
            changed_at=changed_at,
            pinned=pinned,
            hold_reason=row["hold_reason"],
            due_since=_dt(row["due_since"]),
            retracted_at=_dt(row["retracted_at"]),
            retracted_by=row["retracted_by"],
            retracted_reason=row["retracted_reason"],
            has_text=bool(row["kept"]),
        )

    def release(self, key: str) -> StoredRelease | None:
        rows = self._query(_SELECT + " WHERE key = ?", (key,))
        return self._stored(rows[0]) if rows else None

    def find_release(self, ref: str) -> StoredRelease:
        """A release by key (``source/id``), by id alone, or by a unique key prefix."""
        for sql, param in (
            (_SELECT + " WHERE key = ?", ref),
            (_SELECT + " WHERE key = source || '/' || ?", ref),
            (_SELECT + " WHERE key LIKE ? ESCAPE '\\' ORDER BY key", _like_prefix(ref)),
        ):
            rows = self._query(sql + " LIMIT 11", (param,))
            if len(rows) == 1:
                return self._stored(rows[0])
            if len(rows) > 1:
                names = ", ".join(r["key"] for r in rows[:10])
                raise ReleaseNotFound(f"{ref!r} matches several releases: {names}; give the full key")
        raise ReleaseNotFound(f"no release {ref!r} in the ledger (see `syndicator releases list`)")

    def releases(
        self,
        *,
        source: str | None = None,
        keys: Iterable[str] | None = None,
        limit: int | None = None,
        text: bool = True,
    ) -> list[StoredRelease]:
        """Releases (of ``source``, or only ``keys``), newest first. With ``text=False`` each
        comes without its summary and body, and keeps the content hash its row records (it
        cannot be computed without them): what reading thousands of releases needs, without
        unpacking as many texts."""
        sql, params = (_SELECT if text else _SELECT_FACTS), []
        clauses = []
        if source:
            clauses.append("source = ?")
            params.append(source)
        if keys is not None:
            clauses.append("releases.key" + IN_KEYS)
            params.append(_key_list(keys))
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += _NEWEST_FIRST
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._stored(r) for r in self._query(sql, params)]

    def releases_touched(self, since: datetime, until: datetime) -> set[str]:
        """The releases first seen, or with any event, in [since, until): all that a report of
        that period can count, whatever the size of the archive before it."""
        rows = self._query(
            "SELECT key FROM releases WHERE first_seen >= ?1 AND first_seen < ?2"
            " UNION SELECT releases.key FROM events JOIN releases ON releases.id = events.release"
            " WHERE at >= ?1 AND at < ?2",
            (_time(since), _time(until)),
        )
        return {str(r[0]) for r in rows}

    def release_facts(self, *, source: str | None = None) -> list[ReleaseFacts]:
        """Every release as its row tells it, newest first, none of them unpacked: a listing
        of an archive of thousands costs a few microseconds a release."""
        sql, params = (
            "SELECT key, source, title, tags, published, publish_at, content_hash, first_seen,"
            " approved_by, approved_at, approved_hash, approval_origin, approval_identity,"
            " hold_reason, due_since, retracted_at, retracted_reason FROM releases",
            [],
        )
        if source:
            sql += " WHERE source = ?"
            params.append(source)
        sql += _NEWEST_FIRST
        tags = _tag_sets()
        result = []
        for r in self._query(sql, params):
            first_seen = _at(r["first_seen"])
            result.append(
                ReleaseFacts(
                    key=r["key"],
                    source=r["source"],
                    title=r["title"],
                    tags=tags(r["tags"]),
                    published=_dt(r["published"]),
                    publish_at=_dt(r["publish_at"]),
                    content_hash=_hex(r["content_hash"]) or "",
                    first_seen=first_seen,
                    pinned=_pinned(r),
                    hold_reason=r["hold_reason"],
                    due_since=_dt(r["due_since"]),
                    retracted_at=_dt(r["retracted_at"]),
                    retracted_reason=r["retracted_reason"],
                )
            )
        return result

    def approved_releases(self) -> list[StoredRelease]:
        """Releases whose approval matches their content and that are not retracted."""
        rows = self._query(
            _SELECT + " WHERE approved_hash = content_hash AND retracted_at IS NULL" + _DISPATCH_ORDER
        )
        return [self._stored(r) for r in rows]

    def approve(self, key: str, by: str, now: datetime) -> PinnedApproval:
        """An operator's approval, pinned to the release's current content."""
        with self.transaction() as conn:
            row = conn.execute("SELECT content_hash FROM releases WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise ReleaseNotFound(f"no release {key!r} in the ledger")
            at = now.astimezone(UTC).isoformat(timespec="microseconds")
            content_hash = _hex(row["content_hash"])
            identity = approval_identity("cli", by, at, content_hash)
            pinned = PinnedApproval(by, at, content_hash, "cli", identity)
            conn.execute(
                "UPDATE releases SET approved_by=?, approved_at=?, approved_hash=?, approval_origin=?,"
                " approval_identity=?, hold_reason=NULL WHERE key=?",
                (by, at, row["content_hash"], "cli", identity, key),
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

    def latest_change_per_source(self) -> dict[str, datetime]:
        """When each source last brought something new or changed."""
        rows = self._query("SELECT source, MAX(changed_at) FROM releases GROUP BY source")
        return {r[0]: d for r in rows if (d := _dt(r[1])) is not None}

    def retract(self, key: str, by: str, reason: str, now: datetime) -> None:
        """Mark a release retracted: it is never delivered again, and its posts are withdrawn."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE releases SET retracted_at = ?, retracted_by = ?, retracted_reason = ?"
                " WHERE key = ? AND retracted_at IS NULL",
                (_time(now), by, reason, key),
            )
            if cur.rowcount:
                self._event(conn, now, "retracted", release_key=key, actor=by, detail=reason)

    def plan_under(self, fingerprint: str) -> None:
        """Planning is about to happen for channels with this fingerprint: if it is not the one
        the releases' ``planned`` marks were made under, forget them all."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'plan'").fetchone()
            if row is not None and row[0] == fingerprint:
                return
            conn.execute("UPDATE releases SET planned = NULL WHERE planned IS NOT NULL")
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('plan', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (fingerprint,),
            )

    def mark_planned(self, rows: Iterable[tuple[str, str]]) -> None:
        """Record that each (key, content hash) has its deliveries planned (see :meth:`plan_under`)."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE releases SET planned = 1 WHERE key = ? AND content_hash = ?",
                [(key, _hash(content_hash)) for key, content_hash in rows],
            )

    def in_dispatch_order(self, keys: Iterable[str]) -> list[str]:
        """``keys`` urgent first, then by when each is (or was) due."""
        rows = self._query(
            "SELECT key FROM releases WHERE key" + IN_KEYS + _DISPATCH_ORDER, (_key_list(keys),)
        )
        return [r[0] for r in rows]

    def mark_due(self, keys: Iterable[str], now: datetime) -> None:
        """Remember when each release first became due (for the no-backfill rule)."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE releases SET due_since = ? WHERE key = ? AND due_since IS NULL",
                [(_time(now), k) for k in keys],
            )

    def gate_rows(self, skip_planned: bool = False) -> list[GateRow]:
        """The few columns the gate and the planner need, for every release not retracted.

        With ``skip_planned``, releases already planned (:meth:`plan_under`) for their current,
        still approved content are left out: nothing about them can have changed, and an
        archive of thousands would otherwise be gated again on every tick.
        """
        skip = " AND NOT (planned IS 1 AND approved_hash IS content_hash)" if skip_planned else ""
        rows = self._query(
            "SELECT key, source, tags, content_hash, approved_hash, approved_by, hold_reason, publish_at,"
            f" due_since, priority, {_KEPT} FROM releases WHERE retracted_at IS NULL" + skip + _DISPATCH_ORDER
        )
        tags = _tag_sets()
        times: dict[str | None, datetime | None] = {None: None}  # due times repeat too
        result = []
        for r in rows:
            publish_at, due_since = r["publish_at"], r["due_since"]
            for text in (publish_at, due_since):
                if text not in times:
                    times[text] = _dt(text)
            result.append(
                GateRow(
                    r["key"],
                    r["source"],
                    tags(r["tags"]),
                    _hex(r["content_hash"]) or "",
                    _hex(r["approved_hash"]),
                    r["approved_by"],
                    r["hold_reason"],
                    times[publish_at],
                    times[due_since],
                    r["priority"],
                    bool(r[10]),
                )
            )
        return result

    # -- channels ---------------------------------------------------------------------------

    def record_channels(self, channels: Iterable[tuple[str, str]], now: datetime) -> dict[str, datetime]:
        """Record each (name, type) channel not seen before as first seen ``now``; return when
        each of them first appeared in the config."""
        wanted = dict(channels)
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO channels (name, type, first_seen) VALUES (?,?,?) ON CONFLICT (name) DO NOTHING",
                [(name, type_, _time(now)) for name, type_ in wanted.items()],
            )
        return {name: seen for name, seen in self.channels_first_seen().items() if name in wanted}

    def channels_first_seen(self) -> dict[str, datetime]:
        return {r["name"]: _at(r["first_seen"]) for r in self._query("SELECT * FROM channels")}


def _tag_sets() -> Callable[[str], tuple[str, ...]]:
    """Tags from their JSON text, for one query's rows: releases share a few tag sets, so
    each distinct one is parsed once."""

    @cache
    def parse(text: str) -> tuple[str, ...]:
        return tuple(json.loads(text))

    return parse


def _pinned(row: sqlite3.Row) -> PinnedApproval | None:
    if not row["approved_hash"]:
        return None
    return PinnedApproval(
        row["approved_by"],
        row["approved_at"],
        _hex(row["approved_hash"]),
        row["approval_origin"],
        row["approval_identity"],
    )


def _columns(row: sqlite3.Row) -> Columns:
    key, source = row["key"], row["source"]
    return Columns(source, key[len(source) + 1 :], row["title"], json.loads(row["tags"]), row["priority"])


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
