"""keep_text: a release's text stays in the ledger until every channel has it (the default), or always."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import Harness

from syndicator.models import DeliveryState

BODY = "Pemerintah provinsi membuka layanan informasi publik di setiap kabupaten."


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.channels["rec"] = {"type": "recorder"}
    yield harness
    harness.close()


def test_always_keeps_the_text_after_delivery(h: Harness) -> None:
    h.settings["keep_text"] = "always"
    h.write("a.md", id="a", title="Layanan", body=BODY)
    h.run()

    stored = h.ledger.release("news/a")
    assert stored is not None and stored.has_text
    assert BODY in stored.release.body_html


def test_a_channel_added_later_is_sent_the_archive_when_the_text_is_always_kept(h: Harness) -> None:
    h.settings["keep_text"] = "always"
    h.write("old.md", id="old", title="Sudah terbit", body=BODY)
    h.run()
    h.clock.advance(days=1)
    h.channels["archive"] = {"type": "recorder", "backfill": True}

    h.run()

    assert h.journal.sent_keys("archive") == ["news/old"]


def test_by_default_the_text_is_let_go_and_the_hash_and_the_trail_stay(h: Harness) -> None:
    h.write("a.md", id="a", title="Layanan", body=BODY)
    h.run()
    approved = h.delivery("news/a", "rec").content_hash

    stored = h.ledger.release("news/a")
    assert stored is not None and not stored.has_text
    assert stored.release.body_html == "" and stored.release.title == "Layanan"
    assert stored.release.content_hash == approved  # the stored hash, not one of what is left
    assert stored.verdict(h.clock()).due
    assert [e.event for e in h.ledger.events(release_key="news/a")][-2:] == ["in_flight", "sent"]
    h.run()
    assert h.journal.sent_keys("rec") == ["news/a"]  # nothing goes out again


def test_until_delivered_keeps_the_text_of_what_is_not_everywhere_yet(h: Harness) -> None:
    h.channels["down"] = {"type": "recorder"}
    h.journal.fail("down", RuntimeError("boom"), forever=True)
    h.write("sent.md", id="sent", title="Terkirim", body=BODY)
    h.write("held.md", id="held", title="Belum disetujui", body=BODY, status="draft", approved_by=None)
    h.run()

    for key in ("news/sent", "news/held"):
        stored = h.ledger.release(key)
        assert stored is not None and stored.has_text, key
    assert h.delivery("news/sent", "down").state is not DeliveryState.SENT


def test_a_channel_added_after_the_text_was_let_go_gets_it_from_the_source_on_the_next_run(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.write("old.md", id="old", title="Sudah terbit", body=BODY)
    h.write("other.md", id="other", title="Juga terbit", body=BODY)
    h.run()
    h.clock.advance(days=1)
    h.channels["archive"] = {"type": "recorder", "backfill": True}

    report = h.run()  # nothing without its text: the folder is read again in full next time

    assert h.journal.sent_keys("archive") == []
    assert report.text_awaited == 2 and report.not_backfilled == 0
    assert "the next run reads news again in full" in caplog.text
    h.clock.advance(minutes=5)
    h.run()
    assert sorted(h.journal.sent_keys("archive")) == ["news/old", "news/other"]
    assert h.journal.sent_keys("rec") == ["news/old", "news/other"]  # rec: nothing again
    stored = h.ledger.release("news/old")
    assert stored is not None and not stored.has_text  # let go again once the archive has it
    collected = [e.event for e in h.ledger.events(release_key="news/old")]
    assert collected.count("collected") == 1 and "changed" not in collected


def test_a_let_go_text_its_source_no_longer_has_is_not_sent(h: Harness) -> None:
    h.write("old.md", id="old", title="Sudah terbit", body=BODY)
    h.run()
    h.clock.advance(days=1)
    h.channels["archive"] = {"type": "recorder", "backfill": True}
    h.run()
    h.write("old.md", id="old", title="Sudah terbit", body=BODY + " Disunting tanpa persetujuan baru.")

    h.clock.advance(minutes=5)
    h.run()

    assert h.journal.sent_keys("archive") == []
    assert h.ledger.delivery("news/old", "archive") is None


def test_a_let_go_text_nobody_asked_for_stays_let_go_when_its_file_is_read_again(h: Harness) -> None:
    path = h.write("a.md", id="a", title="Layanan", body=BODY)
    h.run()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # read again, the same

    h.run()

    stored = h.ledger.release("news/a")
    assert stored is not None and not stored.has_text


def test_new_content_approved_after_the_text_was_let_go_is_stored_and_sent(h: Harness) -> None:
    h.channels["rec"]["on_change"] = "correct"
    h.write("a.md", id="a", title="Layanan", body=BODY)
    h.run()
    h.write(
        "a.md",
        id="a",
        title="Layanan",
        body=BODY + " Ralat: mulai Senin.",
        approved_at="2026-11-10T08:00:00+08:00",
    )

    h.run()

    assert h.journal.sent_keys("rec") == ["news/a", "news/a"]
    assert h.delivery("news/a", "rec").action.value == "correct"
    stored = h.ledger.release("news/a")
    assert stored is not None and not stored.has_text  # let go again once the correction went out


def test_a_run_for_some_channels_keeps_the_text_for_the_others(h: Harness) -> None:
    h.channels["archive"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Layanan", body=BODY)

    h.run(channels=["rec"])

    stored = h.ledger.release("news/a")
    assert stored is not None and stored.has_text  # archive has not had it yet
    h.run()
    assert h.journal.sent_keys("archive") == ["news/a"]
    stored = h.ledger.release("news/a")
    assert stored is not None and not stored.has_text
