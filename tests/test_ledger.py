"""The SQLite ledger, on real files in a temporary folder."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from enginekit import START, closing_connection

from syndicator.approval import PinnedApproval
from syndicator.errors import ReleaseNotFound, SyndicatorError
from syndicator.ledger import Ledger, LedgerError, SourceState, SourceStateBuffer
from syndicator.models import DeliveryState, Release

NOW = START
LATER = START + timedelta(hours=1)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syndicator.db"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger.open(path) as opened:
        yield opened


def release(
    id: str = "r1", *, source: str = "news", title: str = "Jembatan dibuka", **more: object
) -> Release:
    return Release(source=source, id=id, title=title, **more)  # type: ignore[arg-type]


def approval(r: Release, by: str = "Kepala Dinas") -> PinnedApproval:
    at = "2026-11-09T02:30:00+00:00"
    return PinnedApproval(by, at, r.content_hash, "source", f"source|{by}|{at}")


def event_names(ledger: Ledger, key: str | None = None) -> list[str]:
    return [e.event for e in ledger.events(release_key=key)]


# -- storing releases ---------------------------------------------------------------------------


def test_a_new_release_is_stored_with_a_collected_event(ledger: Ledger) -> None:
    r = release()
    assert ledger.store_releases([(r, None, "not approved (status: draft)")], NOW) == ["new"]
    stored = ledger.release("news/r1")
    assert stored is not None
    assert stored.release.title == "Jembatan dibuka"
    assert stored.release.content_hash == r.content_hash
    assert stored.hold_reason == "not approved (status: draft)"
    assert event_names(ledger, "news/r1") == ["collected", "held"]


def test_a_new_approved_release_records_who_approved_it(ledger: Ledger) -> None:
    r = release()
    assert ledger.store_releases([(r, approval(r), None)], NOW) == ["new"]
    collected, approved = ledger.events(release_key="news/r1")
    assert collected.event == "collected"
    assert (approved.event, approved.actor, approved.content_hash) == (
        "approved",
        "Kepala Dinas",
        r.content_hash,
    )


def test_storing_the_same_release_again_is_same_and_appends_nothing(ledger: Ledger) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    before = ledger.events()
    assert ledger.store_releases([(r, approval(r), None)], LATER) == ["same"]
    assert ledger.events() == before


def test_edited_content_is_changed_with_a_changed_event(ledger: Ledger) -> None:
    r = release()
    pinned = approval(r)
    ledger.store_releases([(r, pinned, None)], NOW)
    edited = r.with_changes(title="Jembatan baru dibuka")
    assert ledger.store_releases([(edited, pinned, None)], LATER) == ["changed"]
    assert event_names(ledger, "news/r1") == ["collected", "approved", "changed"]
    stored = ledger.release("news/r1")
    assert stored is not None
    assert stored.release.title == "Jembatan baru dibuka"
    assert stored.approved_hash == r.content_hash  # the approval still pins the old content
    assert stored.changed_at == LATER
    assert stored.first_seen == NOW


def test_a_release_reads_back_with_the_plain_text_it_was_collected_with(ledger: Ledger) -> None:
    r = release("a").with_changes(body_html="<p>Isi <b>rilis</b>.</p>", body_text="Isi rilis, ringkas.")
    ledger.store_releases([(r, approval(r), None)], NOW)

    stored = ledger.release(r.key)
    assert stored is not None and stored.release == r  # not derived again from the HTML


def test_store_reports_outcomes_in_order(ledger: Ledger) -> None:
    a, b = release("a"), release("b")
    ledger.store_releases([(a, None, "held"), (b, None, "held")], NOW)
    outcomes = ledger.store_releases(
        [(a, None, "held"), (b.with_changes(title="B2"), None, "held"), (release("c"), None, "held")], LATER
    )
    assert outcomes == ["same", "changed", "new"]


# -- the event log --------------------------------------------------------------------------------


def test_the_event_log_reads_in_batches_exactly_as_at_once(ledger: Ledger) -> None:
    """``iter_events`` (what ``export`` streams) gives the same events as ``events`` over the
    same days, across batch boundaries and at the edges of the period."""
    for day in range(5):
        at = NOW + timedelta(days=day)
        ledger.store_releases([(release(f"r{day}"), None, "held")], at)
        ledger.approve(f"news/r{day}", "Kepala Dinas", at + timedelta(hours=1))
    since, until = NOW + timedelta(days=1), NOW + timedelta(days=3, hours=1)
    expected = ledger.events(since=since, until=until, limit=None)
    # collected, held, approved: days 1 and 2 whole, day 3 up to its approval (not included)
    assert [e.event for e in expected] == ["collected", "held", "approved"] * 2 + ["collected", "held"]
    for batch in (1, 2, 5, 100):
        assert list(ledger.iter_events(since=since, until=until, batch=batch)) == expected
    assert list(ledger.iter_events(batch=3)) == ledger.events(limit=None)
    assert list(ledger.iter_events(since=NOW + timedelta(days=9))) == []


def test_the_releases_a_period_touched_are_those_first_seen_or_with_an_event_in_it(ledger: Ledger) -> None:
    """What a monthly report reads: a release collected before the period counts when its
    approval (or any other event) falls in it; one untouched in it is not read at all."""
    for day in range(4):
        ledger.store_releases([(release(f"r{day}"), None, "held")], NOW + timedelta(days=day))
    ledger.approve("news/r0", "Kepala Dinas", NOW + timedelta(days=2, hours=3))
    since, until = NOW + timedelta(days=2), NOW + timedelta(days=3)
    assert ledger.releases_touched(since, until) == {"news/r0", "news/r2"}
    assert ledger.releases_touched(NOW + timedelta(days=9), NOW + timedelta(days=10)) == set()
    until = NOW + timedelta(days=2, hours=4)
    for chunk in (1, 2, 500):  # what the report reads of them: each release's events, in order
        read = list(ledger.release_events(["news/r0", "news/r2", "news/r0"], until=until, chunk=chunk))
        for key in ("news/r0", "news/r2"):
            mine = [e for e in ledger.events(limit=None, until=until) if e.release_key == key]
            assert [e for e in read if e.release_key == key] == mine
        assert len(read) == 3 + 2  # r0: collected, held, approved; r2: collected, held
    picked = ledger.releases(keys=["news/r2", "news/r0", "news/nowhere"], text=False)
    assert [s.key for s in picked] == ["news/r2", "news/r0"]  # newest first, as ever
    assert ledger.releases(keys=[]) == []


def test_the_event_log_cannot_be_edited_or_deleted(ledger: Ledger, path: Path) -> None:
    ledger.store_releases([(release(), None, "held")], NOW)
    with closing_connection(path) as raw:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("UPDATE events SET actor = 'someone else'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("DELETE FROM events")
        assert raw.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2


# -- planning and transitions ---------------------------------------------------------------------


def test_planning_a_pair_twice_creates_one_pending_delivery(ledger: Ledger) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    assert len(ledger.plan([("news/r1", "site", r.content_hash)], NOW)) == 1
    assert ledger.plan([("news/r1", "site", r.content_hash)], LATER) == []
    [delivery] = ledger.deliveries()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)
    assert event_names(ledger).count("planned") == 1


def test_transition_moves_state_and_appends_an_event(ledger: Ledger) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    ledger.plan([("news/r1", "site", r.content_hash)], NOW)
    moved = ledger.transition(
        "news/r1", "site", DeliveryState.IN_FLIGHT, LATER, expect=[DeliveryState.PENDING], attempts=1
    )
    assert (moved.state, moved.attempts, moved.updated_at) == (DeliveryState.IN_FLIGHT, 1, LATER)
    last = ledger.events()[-1]
    assert (last.event, last.channel, last.state) == ("in_flight", "site", "in_flight")


def test_transition_guard_refuses_a_delivery_in_another_state(ledger: Ledger) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    ledger.plan([("news/r1", "site", r.content_hash)], NOW)
    ledger.transition("news/r1", "site", DeliveryState.IN_FLIGHT, NOW, expect=[DeliveryState.PENDING])
    events = len(ledger.events())
    with pytest.raises(SyndicatorError, match="is in_flight, not pending"):
        ledger.transition("news/r1", "site", DeliveryState.SENT, LATER, expect=[DeliveryState.PENDING])
    assert ledger.delivery("news/r1", "site").state is DeliveryState.IN_FLIGHT  # type: ignore[union-attr]
    assert len(ledger.events()) == events


def test_transition_of_an_unplanned_delivery_is_an_error(ledger: Ledger) -> None:
    with pytest.raises(SyndicatorError, match="no delivery of news/r1 to site"):
        ledger.transition("news/r1", "site", DeliveryState.SENT, NOW)


def _state_on_disk(path: Path, key: str, channel: str) -> str:
    """The delivery's state as another process would read it from the file."""
    with closing_connection(path) as conn:
        row = conn.execute(
            "SELECT state FROM deliveries JOIN releases ON id = release WHERE key = ? AND channel = ?",
            (key, channel),
        ).fetchone()
    return str(row[0])


def test_a_queued_transition_is_kept_only_once_committed(ledger: Ledger, path: Path) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    ledger.plan([("news/r1", "site", r.content_hash), ("news/r1", "blog", r.content_hash)], NOW)
    pending = ledger.queue_transition("news/r1", "site", DeliveryState.IN_FLIGHT, LATER, attempts=1)
    assert _state_on_disk(path, "news/r1", "site") == "pending"  # queued, not written
    # The next write that waits commits everything queued before it, in order.
    ledger.transition("news/r1", "blog", DeliveryState.IN_FLIGHT, LATER)
    assert _state_on_disk(path, "news/r1", "site") == "in_flight"
    moved = pending.result()
    assert (moved.state, moved.attempts) == (DeliveryState.IN_FLIGHT, 1)


def test_a_queued_transition_reports_its_own_failure_and_spares_the_others(ledger: Ledger) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    ledger.plan([("news/r1", "site", r.content_hash)], NOW)
    bad = ledger.queue_transition("news/r1", "site", DeliveryState.SENT, LATER, expect=[DeliveryState.FAILED])
    good = ledger.queue_transition("news/r1", "site", DeliveryState.IN_FLIGHT, LATER)
    assert good.result().state is DeliveryState.IN_FLIGHT
    with pytest.raises(SyndicatorError, match="is pending, not failed"):
        bad.result()


def test_closing_the_ledger_commits_a_queued_transition(path: Path) -> None:
    r = release()
    with Ledger.open(path) as ledger:
        ledger.store_releases([(r, approval(r), None)], NOW)
        ledger.plan([("news/r1", "site", r.content_hash)], NOW)
        ledger.queue_transition("news/r1", "site", DeliveryState.IN_FLIGHT, LATER)
    assert _state_on_disk(path, "news/r1", "site") == "in_flight"


def test_while_disconnected_the_file_has_every_queued_write_and_another_connection_can_write(
    ledger: Ledger, path: Path
) -> None:
    """What a run does around forking its delivery helpers: nothing queued is left behind, a
    helper's own connection writes meanwhile, and the run's reconnected ledger sees it."""
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    ledger.plan([("news/r1", "site", r.content_hash), ("news/r1", "blog", r.content_hash)], NOW)
    ledger.queue_transition("news/r1", "site", DeliveryState.IN_FLIGHT, LATER)
    with ledger.disconnected():
        assert _state_on_disk(path, "news/r1", "site") == "in_flight"
        helper = Ledger.open(path)
        helper.transition("news/r1", "blog", DeliveryState.IN_FLIGHT, LATER)
        helper.close(tidy=False)
    assert ledger.delivery("news/r1", "blog").state is DeliveryState.IN_FLIGHT  # type: ignore[union-attr]
    ledger.transition("news/r1", "site", DeliveryState.SENT, LATER)
    assert _state_on_disk(path, "news/r1", "site") == "sent"


# -- finding releases -----------------------------------------------------------------------------


@pytest.fixture
def three(ledger: Ledger) -> Ledger:
    items = [release("2026-11-001"), release("2026-11-002"), release("abc", source="wire")]
    ledger.store_releases([(r, None, "held") for r in items], NOW)
    return ledger


def test_find_release_by_full_key(three: Ledger) -> None:
    assert three.find_release("news/2026-11-002").key == "news/2026-11-002"


def test_find_release_by_id_alone(three: Ledger) -> None:
    assert three.find_release("abc").key == "wire/abc"


def test_find_release_by_unique_prefix(three: Ledger) -> None:
    assert three.find_release("wire/a").key == "wire/abc"
    assert three.find_release("wi").key == "wire/abc"


def test_an_ambiguous_prefix_lists_the_matching_keys(three: Ledger) -> None:
    with pytest.raises(ReleaseNotFound) as caught:
        three.find_release("news/2026")
    message = str(caught.value)
    assert "news/2026-11-001" in message and "news/2026-11-002" in message
    assert "wire/abc" not in message
    assert "give the full key" in message


def test_a_prefix_treats_like_wildcards_literally(three: Ledger) -> None:
    with pytest.raises(ReleaseNotFound, match="no release"):
        three.find_release("news/2026_11")
    with pytest.raises(ReleaseNotFound, match="no release"):
        three.find_release("%")


def test_an_unknown_release_is_not_found(three: Ledger) -> None:
    with pytest.raises(ReleaseNotFound, match="no release 'nope' in the ledger"):
        three.find_release("nope")


# -- operator approval ----------------------------------------------------------------------------


def test_approve_pins_the_current_hash_and_records_the_actor(ledger: Ledger) -> None:
    r = release()
    ledger.store_releases([(r, None, "not approved: waiting for `syndicator approve`")], NOW)
    pinned = ledger.approve("news/r1", "Operator Humas", LATER)
    assert pinned.approved_hash == r.content_hash
    stored = ledger.release("news/r1")
    assert stored is not None
    assert stored.approved_hash == r.content_hash
    assert stored.pinned is not None and stored.pinned.approved_by == "Operator Humas"
    assert stored.hold_reason is None
    last = ledger.events(release_key="news/r1")[-1]
    assert (last.event, last.actor, last.content_hash, last.at) == (
        "approved",
        "Operator Humas",
        r.content_hash,
        LATER,
    )
    assert [s.key for s in ledger.approved_releases()] == ["news/r1"]


def test_approving_an_unknown_release_fails(ledger: Ledger) -> None:
    with pytest.raises(ReleaseNotFound):
        ledger.approve("news/missing", "Operator", NOW)


# -- source state ---------------------------------------------------------------------------------


def test_source_state_buffer_writes_wait_for_store_releases(ledger: Ledger, path: Path) -> None:
    buffer = SourceStateBuffer(ledger, "news")
    buffer.put_many({"file:a.md": {"size": 10}})
    assert buffer.get_all() == {"file:a.md": {"size": 10}}
    assert SourceState(ledger, "news").get_all() == {}
    ledger.store_releases([(release("a"), None, "held")], NOW, buffer)
    with Ledger.open(path) as reopened:
        assert reopened.source_state("news").get_all() == {"file:a.md": {"size": 10}}


def test_a_discarded_buffer_persists_nothing(ledger: Ledger, path: Path) -> None:
    ledger.source_state("news").put_many({"file:old.md": 1})
    buffer = SourceStateBuffer(ledger, "news")
    buffer.put_many({"file:a.md": 2})
    buffer.delete_many(["file:old.md"])
    del buffer  # the run crashed before storing its releases
    ledger.close()
    with Ledger.open(path) as reopened:
        assert reopened.source_state("news").get_all() == {"file:old.md": 1}
        assert reopened.releases() == []


def test_buffer_deletes_land_with_the_releases(ledger: Ledger) -> None:
    ledger.source_state("news").put_many({"file:old.md": 1, "file:keep.md": 2})
    buffer = SourceStateBuffer(ledger, "news")
    buffer.delete_many(["file:old.md"])
    assert buffer.get_all() == {"file:keep.md": 2}
    ledger.store_releases([], NOW, buffer)
    assert ledger.source_state("news").get_all() == {"file:keep.md": 2}


# -- snapshot -------------------------------------------------------------------------------------


def test_a_snapshot_is_a_copy_whose_writes_never_reach_the_file(ledger: Ledger, path: Path) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    copy = ledger.snapshot()
    try:
        assert copy.release("news/r1") is not None
        copy.store_releases([(release("r2"), None, "held")], NOW)
        copy.plan([("news/r1", "site", r.content_hash)], NOW)
        copy.source_state("news").put_many({"k": 1})
        assert copy.release("news/r2") is not None
    finally:
        copy.close()
    assert ledger.release("news/r2") is None
    assert ledger.deliveries() == []
    assert ledger.source_state("news").get_all() == {}
    with Ledger.open(path) as reopened:
        assert [s.key for s in reopened.releases()] == ["news/r1"]


# -- opening --------------------------------------------------------------------------------------


def test_a_ledger_from_a_newer_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with closing_connection(path) as raw:
        raw.execute("PRAGMA user_version=99")
        raw.commit()
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)
    assert str(path) in str(caught.value)
    assert "schema 99" in str(caught.value)
    with closing_connection(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 99


def test_a_file_that_is_not_sqlite_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some notes" * 50)
    with pytest.raises(LedgerError, match=str(path)):
        Ledger.open(path)


def test_the_ledger_uses_wal_and_synchronous_full(ledger: Ledger, path: Path) -> None:
    with ledger.transaction() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with closing_connection(path) as raw:  # WAL is a property of the file itself
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_everything(ledger: Ledger, path: Path) -> None:
    r = release()
    ledger.store_releases([(r, approval(r), None)], NOW)
    ledger.plan([("news/r1", "site", r.content_hash)], NOW)
    ledger.close()
    with Ledger.open(path) as reopened:
        assert reopened.delivery("news/r1", "site") is not None
        assert event_names(reopened) == ["collected", "approved", "planned"]


def test_a_word_first_written_in_a_transaction_that_rolled_back_is_written_again(ledger: Ledger) -> None:
    """The event log's words are numbered in a table of their own; a number learnt in a
    transaction that was rolled back must not be used after it."""
    with pytest.raises(RuntimeError), ledger.transaction() as conn:
        ledger._event(conn, NOW, "alerted", channel="kanal-baru", actor="operator-baru")
        raise RuntimeError("the transaction fails after the event was written")

    ledger.add_event("alerted", LATER, channel="kanal-baru", actor="operator-baru", detail="again")

    [event] = ledger.events()
    assert (event.channel, event.actor, event.event, event.detail) == (
        "kanal-baru",
        "operator-baru",
        "alerted",
        "again",
    )
