"""Where releases stand, read from the rows alone (what `status` and `releases list` print),
says exactly what it says read from the whole releases and deliveries (their `--json`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import Harness

from syndicator.ledger import DeliveryFacts, ReleaseFacts, StoredRelease
from syndicator.models import Delivery
from syndicator.status import STATES, release_statuses


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.settings["keep_text"] = "until-delivered"
    harness.channels["rec"] = {"type": "recorder"}
    harness.channels["down"] = {"type": "recorder", "tags": ["kesehatan"]}
    harness.channels["later"] = {"type": "recorder", "tags": ["pendidikan"]}
    harness.journal.fail("down", RuntimeError("boom"), forever=True)
    yield harness
    harness.close()


def _archive(h: Harness) -> None:
    """Releases in every state a listing shows."""
    h.write("sent.md", id="sent", title="Terkirim", tags=["umum"])
    h.write("sehat.md", id="sehat", title="Kesehatan", tags=["kesehatan", "umum"])
    h.write("draft.md", id="draft", title="Belum disetujui", status="draft", approved_by=None)
    h.write("embargo.md", id="embargo", title="Embargo", publish_at="2026-11-12T09:00:00+08:00")
    h.write("tarik.md", id="tarik", title="Ditarik", tags=["umum"])
    h.write("sekolah.md", id="sekolah", title="Sekolah", tags=["pendidikan"])
    h.channels["later"]["enabled"] = False
    h.run()
    h.engine().retract("news/tarik", "operator", "salah data")
    h.write("sent.md", id="sent", title="Terkirim, lalu diubah", tags=["umum"])  # changed since approval
    h.run()
    h.channels["later"]["enabled"] = True  # added after: no backfill of what was due before


def _seen(statuses: list) -> list[tuple[str, str, str, tuple[str, ...], dict[str, str]]]:
    return [
        (s.key, s.state, s.reason, s.routed, {n: str(d.state) for n, d in s.deliveries.items()})
        for s in statuses
    ]


def test_the_rows_alone_tell_the_same_states_as_the_whole_releases(h: Harness) -> None:
    _archive(h)
    h.clock.advance(minutes=5)
    config, now = h.engine().config, h.clock()
    lean = release_statuses(h.ledger, config, now)
    whole = release_statuses(h.ledger, config, now, whole=True)

    assert _seen(lean) == _seen(whole)
    assert {s.state for s in lean} <= set(STATES)
    states = {s.key: s.state for s in lean}
    assert states["news/draft"] == "held" and states["news/tarik"] == "retracted"
    assert states["news/embargo"] == "held" and states["news/sehat"] == "attention"
    # "later" was enabled after "sekolah" was due and no run has seen it yet: the next run sees
    # it first and does not backfill, so the listing must not promise it.
    assert states["news/sekolah"] == "published"
    h.run()
    assert h.journal.sent_keys("later") == []
    assert {s.key: s.state for s in release_statuses(h.ledger, config, h.clock())} == states
    assert all(isinstance(s.stored, ReleaseFacts) for s in lean)
    assert all(isinstance(d, DeliveryFacts) for s in lean for d in s.deliveries.values())
    assert all(isinstance(s.stored, StoredRelease) for s in whole)
    assert all(isinstance(d, Delivery) for s in whole for d in s.deliveries.values())
    assert [s.to_dict()["key"] for s in whole] == [s.key for s in lean]
    with pytest.raises(TypeError, match="whole"):
        lean[0].to_dict()


def test_a_release_s_row_says_what_the_release_says(h: Harness) -> None:
    """Every field the listing reads from the row matches the unpacked release, also once its
    text was let go and when it changed after approval."""
    _archive(h)
    facts = {f.key: f for f in h.ledger.release_facts()}
    stored = {s.key: s for s in h.ledger.releases()}
    assert list(facts) == list(stored)  # the same order: newest first
    now, zone = h.clock(), h.engine().config.timezone
    for key, f in facts.items():
        s = stored[key]
        r = s.release
        assert (f.source, f.title, f.tags, f.published, f.publish_at) == (
            r.source,
            r.title,
            r.tags,
            r.published,
            r.publish_at,
        )
        assert (f.first_seen, f.pinned, f.hold_reason, f.due_since) == (
            s.first_seen,
            s.pinned,
            s.hold_reason,
            s.due_since,
        )
        assert (f.retracted_at, f.retracted_reason) == (s.retracted_at, s.retracted_reason)
        assert f.content_hash == r.content_hash and f.verdict(now, zone) == s.verdict(now, zone)
    assert [f.key for f in h.ledger.release_facts(source="news")] == list(facts)
    assert h.ledger.release_facts(source="elsewhere") == []


def test_a_delivery_s_row_says_what_the_delivery_says(h: Harness) -> None:
    _archive(h)
    whole = h.ledger.deliveries()
    assert [(d.release_key, d.channel, d.state, d.last_error) for d in whole] == [
        tuple(f) for f in h.ledger.delivery_facts()
    ]
    assert any(d.last_error for d in whole)
