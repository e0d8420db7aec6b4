"""A ledger written by an older syndicator is upgraded when it is opened, and reads back
exactly as the older syndicator read it.

``data/ledger-v3.sql`` is a schema-3 ledger written by syndicator at 9568c68 (the last
release before schema 4): six releases (sent, edited after approval, approved from the
CLI, held as a draft, embargoed, retracted), deliveries in every outcome (sent, failed and
waiting, dead, retracted), the text of two let go, two alerts. ``ledger-v3-facts.json`` is
what that syndicator read from it through the ledger's API.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from enginekit import Harness, closing_connection

from syndicator.errors import PermanentError, TransientError
from syndicator.ledger import SCHEMA_VERSION, Ledger, LedgerError
from syndicator.ledger.codec import _at, _hash, _hex, _time

DATA = Path(__file__).parent / "data"


def write_v3(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing_connection(path) as conn:
        conn.executescript((DATA / "ledger-v3.sql").read_text(encoding="utf-8"))
        conn.execute("PRAGMA user_version = 3")
        conn.execute("PRAGMA journal_mode = WAL")
    return path


def facts(ledger: Ledger) -> dict[str, Any]:
    """What the ledger's API reads from a file: the same reading as made the facts file."""
    out: dict[str, Any] = {"releases": [], "deliveries": []}
    for s in ledger.releases():
        out["releases"].append(
            {
                "release": s.release.to_dict(),
                "content_hash": s.release.content_hash,
                "has_text": s.has_text,
                "first_seen": s.first_seen.isoformat(),
                "changed_at": s.changed_at.isoformat(),
                "pinned": list(s.pinned.__dict__.values()) if s.pinned else None,
                "hold_reason": s.hold_reason,
                "due_since": s.due_since and s.due_since.isoformat(),
                "retracted": [
                    s.retracted_at and s.retracted_at.isoformat(),
                    s.retracted_by,
                    s.retracted_reason,
                ],
            }
        )
    for d in ledger.deliveries():
        out["deliveries"].append(
            {
                "release": d.release_key,
                "channel": d.channel,
                "state": str(d.state),
                "content_hash": d.content_hash,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at and d.next_attempt_at.isoformat(),
                "receipt": d.receipt.to_dict() if d.receipt else None,
                "last_error": d.last_error,
                "updated_at": d.updated_at and d.updated_at.isoformat(),
                "action": str(d.action),
            }
        )
    out["events"] = [e.to_dict() for e in ledger.events(limit=None)]
    out["source_state"] = ledger.source_state("news").get_all()
    out["channels"] = {k: v.isoformat() for k, v in ledger.channels_first_seen().items()}
    return out


def expected() -> dict[str, Any]:
    return json.loads((DATA / "ledger-v3-facts.json").read_text(encoding="utf-8"))


def without_identities(found: dict[str, Any]) -> dict[str, Any]:
    """The facts with each approval's identity left out (schema 4 keeps a digest of it)."""
    copy = json.loads(json.dumps(found))
    for r in copy["releases"]:
        if r["pinned"]:
            r["pinned"] = r["pinned"][:4]
    return copy


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The installation the fixture was written by: its config, its release files as they
    were last written, and the ledger upgraded from the fixture."""
    write_v3(tmp_path / "state" / "syndicator.db")
    harness = Harness(tmp_path)
    harness.settings["keep_text"] = "until-delivered"
    harness.channels.update(rec={"type": "recorder"}, down={"type": "recorder"}, bad={"type": "recorder"})
    tags = ["Layanan", "Publik"]
    harness.write(
        "a.md",
        id="a",
        title="Layanan informasi publik",
        body="Pemerintah provinsi membuka layanan.",
        tags=tags,
    )
    harness.write("b.md", id="b", title="Jembatan baru", body="Jembatan diresmikan hari ini.")
    harness.write("d.md", id="d", title="Salah kirim", body="Rilis yang ditarik.")
    draft: dict[str, Any] = {"status": "draft", "approved_by": None, "approved_at": None}
    harness.write("held.md", id="held", title="Masih draf", body="Belum disetujui.", **draft)
    harness.write("c.md", id="c", title="Disetujui lewat CLI", body="Menunggu persetujuan.", **draft)
    harness.write(
        "e.md",
        id="e",
        title="Embargo",
        body="Terbit nanti.",
        publish_at="2027-01-01T08:00:00+08:00",
        priority="urgent",
    )
    harness.clock.advance(hours=2)
    yield harness
    harness.close()


def test_a_schema_3_file_reads_back_as_the_older_syndicator_read_it(tmp_path: Path) -> None:
    with Ledger.open(write_v3(tmp_path / "v3.db")) as ledger:
        found = facts(ledger)

    assert without_identities(found) == without_identities(expected())
    with closing_connection(tmp_path / "v3.db") as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not {t for t in tables if t.startswith("old_")}
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_after_the_upgrade_a_run_goes_on_where_the_older_one_stopped(h: Harness) -> None:
    """Nothing is sent again, no approval is taken for a new one, the failed delivery is
    retried, and the event log grows only by what this run did."""
    h.journal.fail("down", TransientError("HTTP 503: layanan sibuk"), forever=True)
    h.journal.fail("bad", PermanentError("HTTP 400"), forever=True)
    before = len(expected()["events"])

    h.run()

    assert h.journal.sent_keys("rec") == []
    assert [c.channel for c in h.journal.calls] == ["down"]  # the one retry that was due
    new = [e for e in h.ledger.events(limit=None) if e.id > before]
    assert [(e.release_key, e.channel, e.event) for e in new] == [
        ("news/c", "down", "in_flight"),
        ("news/c", "down", "failed"),
    ]
    assert h.delivery("news/c", "down").attempts == 3
    assert h.ledger.open_alerts([("dead:news/c:bad", "news/c -> bad: dead")], h.clock()) == set()


def test_an_approval_from_before_the_upgrade_is_still_the_same_approval(h: Harness) -> None:
    """Each approval's identity is kept as a digest of what it was: an approver who signs
    the same text again is not a new approval, and one who signs at a new time is."""
    h.run()
    approvals = [e for e in h.ledger.events(release_key="news/b") if e.event == "approved"]
    assert len(approvals) == 1  # b is still held as changed since that approval
    assert "changed since approval" in (h.ledger.release("news/b").verdict(h.clock()).reason)  # type: ignore[union-attr]

    h.write(
        "b.md",
        id="b",
        title="Jembatan baru",
        body="Jembatan diresmikan hari ini.",
        approved_at="2026-11-10T09:00:00+08:00",
    )
    h.run()

    assert [e.event for e in h.ledger.events(release_key="news/b")][-4:] == [
        "approved",
        "replanned",
        "in_flight",
        "sent",
    ]
    assert h.journal.sent_keys("rec") == ["news/b"]


def test_a_schema_1_file_is_upgraded_with_its_texts(tmp_path: Path) -> None:
    """Schema 1 kept each release's text inside its data, and every release its text."""
    path = write_v3(tmp_path / "v1.db")
    with closing_connection(path) as conn:
        for key, data in conn.execute("SELECT key, data FROM releases").fetchall():
            fields = json.loads(zlib.decompress(data))
            text = conn.execute("SELECT data FROM release_text WHERE key = ?", (key,)).fetchone()
            if text:
                fields.update(json.loads(zlib.decompress(text[0])))
                del fields["body_text"]  # schema 1 did not keep the plain text either
            packed = zlib.compress(json.dumps(fields).encode())
            conn.execute("UPDATE releases SET data = ? WHERE key = ?", (packed, key))
        conn.execute("DROP TABLE release_text")
        conn.execute("ALTER TABLE releases DROP COLUMN planned")
        conn.execute("CREATE INDEX events_at ON events (at)")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()

    with Ledger.open(path) as ledger:
        found = {r["release"]["id"]: r for r in facts(ledger)["releases"]}
    before = {r["release"]["id"]: r for r in expected()["releases"]}

    for id in ("b", "c", "e", "held"):  # the releases whose text the fixture kept
        assert found[id]["release"] == before[id]["release"], id
        assert found[id]["content_hash"] == before[id]["content_hash"], id
    assert all(r["has_text"] for r in found.values())
    with closing_connection(path) as raw:
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "events_at" not in names and "events_calls" in names


def test_an_upgrade_that_cannot_bring_the_whole_trail_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = write_v3(tmp_path / "v3.db")
    with closing_connection(path) as conn:
        conn.execute(
            "INSERT INTO events (at, release_key, actor, event) VALUES ('2026-11-10T00:00:00+00:00', 'news/gone', 'x', 'collected')"
        )
        conn.commit()
        before = list(conn.iterdump())

    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)

    assert str(path) in str(caught.value) and "1 events name releases" in str(caught.value)
    with closing_connection(path) as conn:
        assert list(conn.iterdump()) == before
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


# -- the encoding --------------------------------------------------------------------------------


def test_a_new_ledger_keeps_hashes_as_bytes_and_times_as_integers(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Layanan")
    h.run()
    h.close()
    with closing_connection(h.state_path) as raw:
        row = raw.execute(
            "SELECT typeof(content_hash), length(content_hash), typeof(first_seen) FROM releases"
        ).fetchone()
        assert row == ("blob", 32, "integer")
        kinds = raw.execute(
            "SELECT DISTINCT typeof(release), typeof(at), typeof(content_hash) FROM events"
        ).fetchall()
        assert kinds == [("integer", "integer", "blob")]


@pytest.mark.parametrize(
    "value",
    [
        "sha256:" + "ab" * 32,
        "sha256:" + "AB" * 32,  # not as syndicator writes one: kept as it is, so it reads back the same
        "sha256:" + "zz" * 32,
        "sha1:" + "ab" * 20,
        "",
        None,
    ],
)
def test_a_hash_reads_back_as_it_was_written(value: str | None) -> None:
    assert _hex(_hash(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 10, 8, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
    ],
)
def test_a_time_reads_back_as_the_same_moment_to_the_microsecond(value: datetime) -> None:
    stored = _time(value)
    assert isinstance(stored, int)
    assert _at(stored) == value and _at(stored).tzinfo is UTC


def test_history_says_an_older_call_once_as_it_said_it_then(tmp_path: Path) -> None:
    """Before schema 4 a call's event repeated its attempt and its post's URL in its detail."""
    from syndicator.cli.inspect import _said

    with Ledger.open(write_v3(tmp_path / "v3.db")) as ledger:
        trail = ledger.events(release_key="news/a", limit=None)

    said = {e.event: _said(e) for e in trail}
    assert said["in_flight"] == "publish, attempt 1"
    assert said["sent"] == "https://rec.test/news/a"


def test_an_upgrade_that_cannot_read_a_release_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = write_v3(tmp_path / "v3.db")
    with closing_connection(path) as conn:
        conn.execute("UPDATE releases SET data = ? WHERE key = 'news/a'", (b"not zlib at all",))
        conn.commit()
        before = list(conn.iterdump())

    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)

    assert str(path) in str(caught.value) and "cannot upgrade" in str(caught.value)
    assert "release news/a: error: Error -3 while decompressing" in str(caught.value)
    with closing_connection(path) as conn:
        assert list(conn.iterdump()) == before


def test_a_release_s_fields_are_compressed_with_the_dictionary_they_name(tmp_path: Path) -> None:
    """The stored JSON names its preset dictionary in its zlib header: the dictionary can
    never change under a stored release (a new one would be added beside it)."""
    from syndicator.ledger.rows import _DICTIONARIES

    h = Harness(tmp_path)
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Layanan", image="https://example.go.id/a.jpg")
    h.run()
    h.close()
    with closing_connection(h.state_path) as raw:
        (data,) = raw.execute("SELECT data FROM releases").fetchone()
    assert data[1] & 0x20 and int.from_bytes(data[2:6], "big") in _DICTIONARIES
    assert list(_DICTIONARIES) == [0xD568A151]  # the first dictionary's Adler-32, for good


def test_the_file_as_it_was_is_kept_beside_the_upgraded_one(tmp_path: Path) -> None:
    path = write_v3(tmp_path / "state.db")
    with closing_connection(path) as conn:
        before = list(conn.iterdump())

    Ledger.open(path).close()
    Ledger.open(path).close()  # nothing more to upgrade: the copy stays as it was

    copy = tmp_path / "state.db.schema-3"
    with closing_connection(copy) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert list(conn.iterdump()) == before
    with Ledger.open(path) as ledger:
        assert len(ledger.releases()) == 6
