"""Whole runs: a TOML config, a folder of release files, a real ledger file, test channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from enginekit import Harness, write_file

from syndicator import hookimpl
from syndicator.approval import Hold
from syndicator.config import SourceConfig
from syndicator.errors import TransientError
from syndicator.models import Approval, DeliveryState, Release
from syndicator.planning import plan_fingerprint
from syndicator.sources.base import Source, SourceContext
from syndicator.testing import Reply, ScriptedServer

MakeHarness = Callable[..., Harness]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[MakeHarness]:
    made: list[Harness] = []

    def factory(*plugins: object) -> Harness:
        made.append(Harness(tmp_path, *plugins))
        return made[-1]

    yield factory
    for harness in made:
        harness.close()


@pytest.fixture
def h(make: MakeHarness) -> Harness:
    harness = make()
    harness.channels["rec"] = {"type": "recorder"}
    return harness


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        scripted.script("POST", "/hook", Reply(201, json={"id": "w-1", "url": "https://hook.test/w-1"}))
        yield scripted


# -- the gate ---------------------------------------------------------------------------------------


def test_releases_that_are_not_due_are_held_with_the_reason_and_never_sent(h: Harness) -> None:
    h.write("ok.md", id="ok", title="Siap terbit")
    h.write("draft.md", id="draft", title="Masih draf", status="draft")
    h.write("nobody.md", id="nobody", title="Tanpa penyetuju", approved_by=None)
    h.write("embargo.md", id="embargo", title="Embargo", publish_at="2026-11-12T09:00:00+08:00")
    h.write("changed.md", id="changed", title="Disetujui versi lain", approved_hash="sha256:" + "0" * 64)

    report = h.run()

    assert report.held == {
        "news/draft": "not approved (status: draft)",
        "news/nobody": "not approved: status is approved but approved_by is missing",
        "news/embargo": "embargoed until 2026-11-12T09:00:00+08:00 (Asia/Makassar)",
        "news/changed": "changed since approval by Kepala Diskominfo: approve it again",
    }
    assert h.journal.rendered == [("rec", "news/ok")]
    assert h.journal.sent_keys("rec") == ["news/ok"]
    assert [d.release_key for d in h.ledger.deliveries()] == ["news/ok"]
    assert report.exit_code == 0  # held releases are not problems


def test_two_runs_deliver_each_release_to_each_channel_exactly_once(
    h: Harness, server: ScriptedServer
) -> None:
    h.channels["hook"] = {"type": "webhook", "url": server.url + "/hook"}
    h.write("a.md", id="a", title="Rilis A")
    h.write("b.md", id="b", title="Rilis B")

    first = h.run()
    h.clock.advance(minutes=5)
    second = h.run()

    assert sorted((o.release_key, o.channel, o.state) for o in first.outcomes) == [
        ("news/a", "hook", "sent"),
        ("news/a", "rec", "sent"),
        ("news/b", "hook", "sent"),
        ("news/b", "rec", "sent"),
    ]
    assert second.outcomes == []
    assert (second.new, second.changed, second.exit_code) == ([], [], 0)
    assert sorted(h.journal.sent_keys("rec")) == ["news/a", "news/b"]
    assert sorted(r.json["id"] for r in server.requests) == ["news/a", "news/b"]
    assert h.delivery("news/a", "hook").receipt.url == "https://hook.test/w-1"  # type: ignore[union-attr]


def test_an_embargoed_release_goes_out_on_the_first_run_after_the_embargo(h: Harness) -> None:
    h.write("e.md", id="e", title="Embargo", publish_at="2026-11-12T09:00:00+08:00")

    h.run()
    h.clock.now = datetime(2026, 11, 12, 0, 59, tzinfo=UTC)  # 08:59 WITA
    just_before = h.run()
    h.clock.now = datetime(2026, 11, 12, 1, 1, tzinfo=UTC)  # 09:01 WITA
    after = h.run()

    assert "news/e" in just_before.held
    assert h.journal.sent_keys("rec") == ["news/e"]
    assert [(o.release_key, o.state) for o in after.outcomes] == [("news/e", "sent")]
    assert "news/e" not in after.held


# -- routing ----------------------------------------------------------------------------------------


def test_a_channel_takes_only_the_sources_it_names(h: Harness) -> None:
    other = h.root / "wire"
    h.sources["wire"] = {"type": "directory", "path": "wire", "approval": "trusted"}
    h.channels["news-only"] = {"type": "recorder", "sources": ["news"]}
    h.write("a.md", id="a", title="Dari news")
    h.write("b.md", folder=other, id="b", title="Dari wire", status=None)

    h.run()

    assert h.journal.sent_keys("news-only") == ["news/a"]
    assert sorted(h.journal.sent_keys("rec")) == ["news/a", "wire/b"]


def test_a_channel_takes_only_releases_with_one_of_its_tags(h: Harness) -> None:
    h.channels["health"] = {"type": "recorder", "tags": ["kesehatan", "imunisasi"]}
    h.write("a.md", id="a", title="Imunisasi", tags=["imunisasi", "anak"])
    h.write("b.md", id="b", title="Jalan", tags=["infrastruktur"])
    h.write("c.md", id="c", title="Tanpa tag")

    h.run()

    assert h.journal.sent_keys("health") == ["news/a"]
    assert sorted(h.journal.sent_keys("rec")) == ["news/a", "news/b", "news/c"]


# -- channels added later ---------------------------------------------------------------------------


def test_a_channel_added_later_does_not_backfill_earlier_releases(h: Harness) -> None:
    h.write("old.md", id="old", title="Sudah terbit")
    h.run()
    h.clock.advance(days=1)
    h.channels["late"] = {"type": "recorder"}
    h.write("new.md", id="new", title="Baru")

    report = h.run()

    assert h.journal.sent_keys("late") == ["news/new"]
    assert report.not_backfilled == 1
    assert h.ledger.delivery("news/old", "late") is None
    h.clock.advance(days=1)
    h.run()
    assert h.journal.sent_keys("late") == ["news/new"]  # still not, on later runs


def test_a_channel_added_later_with_backfill_catches_up(h: Harness) -> None:
    h.settings["keep_text"] = "always"  # the archive's texts, for the channel that comes later
    h.write("old.md", id="old", title="Sudah terbit")
    h.run()
    h.clock.advance(days=1)
    h.channels["archive"] = {"type": "recorder", "backfill": True}

    report = h.run()

    assert h.journal.sent_keys("archive") == ["news/old"]
    assert report.not_backfilled == 0
    assert h.journal.sent_keys("rec") == ["news/old"]  # the old channel is not sent it again


# -- broken input -----------------------------------------------------------------------------------


def test_a_broken_file_is_reported_by_name_and_the_other_files_go_on(h: Harness) -> None:
    h.write("a.md", id="a", title="Baik")
    write_file(h.releases / "no-title.md", "---\nid: x\nstatus: approved\n---\n\nIsi.\n")
    write_file(h.releases / "bad-yaml.md", "---\ntitle: [tidak ditutup\n---\n\nIsi.\n")
    h.write("z.md", id="z", title="Juga baik")

    report = h.run()

    assert len(report.source_errors) == 2
    assert any("news: no-title.md: no title" in e for e in report.source_errors)
    assert any("news: bad-yaml.md" in e for e in report.source_errors)
    assert sorted(h.journal.sent_keys("rec")) == ["news/a", "news/z"]
    assert report.exit_code == 1


class ExplodingSource(Source):
    type = "exploding"

    def collect(self, ctx: SourceContext) -> Iterator[Release]:
        yield Release(source=ctx.name, id="half", title="Sebelum ledakan")
        raise RuntimeError("feed parser blew up")


class ExplodingSourcePlugin:
    @hookimpl
    def register_sources(self, register: Callable[[type[Source]], None]) -> None:
        register(ExplodingSource)


def test_a_source_plugin_that_raises_does_not_stop_the_other_sources(make: MakeHarness) -> None:
    h = make(ExplodingSourcePlugin())
    h.sources = {"boom": {"type": "exploding", "approval": "trusted"}, **h.sources}
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Baik")

    report = h.run()

    assert report.source_errors == ["boom: RuntimeError: feed parser blew up"]
    assert h.journal.sent_keys("rec") == ["news/a"]
    assert h.ledger.release("boom/half") is None  # nothing half-collected is kept
    assert report.exit_code == 1


class OwnTextSource(Source):
    """A source plugin that gives its own plain text beside the HTML (a CMS's text export)."""

    type = "own-text"

    def collect(self, ctx: SourceContext) -> Iterator[Release]:
        yield Release(
            source=ctx.name,
            id="t",
            title="Teks sendiri",
            body_html="<p>Isi yang <b>disetujui</b>.</p><p>Paragraf kedua.</p>",
            body_text="Isi lain yang tidak pernah disetujui.",
        )


class OwnTextSourcePlugin:
    @hookimpl
    def register_sources(self, register: Callable[[type[Source]], None]) -> None:
        register(OwnTextSource)


def test_a_source_plugins_own_plain_text_never_goes_out_only_the_text_of_the_approved_html(
    make: MakeHarness, server: ScriptedServer
) -> None:
    """Channels publish ``body_text`` (messages, e-mail's text part, the first paragraph of
    a post), and the approval covers ``body_html``: what goes out is the text of that HTML."""
    h = make(OwnTextSourcePlugin())
    h.sources = {"cms": {"type": "own-text", "approval": "trusted"}}
    h.channels["hook"] = {"type": "webhook", "url": server.url + "/hook"}
    h.settings["keep_text"] = "always"  # to read back what was stored

    report = h.run()

    assert [(o.release_key, o.state) for o in report.outcomes] == [("cms/t", "sent")]
    [request] = server.requests
    assert request.json["body_text"] == "Isi yang disetujui.\n\nParagraf kedua."
    assert "tidak pernah disetujui" not in request.body.decode()
    stored = h.ledger.release("cms/t")
    assert stored is not None and stored.release.body_text == "Isi yang disetujui.\n\nParagraf kedua."


def test_the_built_in_sources_make_their_plain_text_from_their_html(h: Harness) -> None:
    """They say so (``text_from_html``), so the engine spares deriving it again: hold them to it."""
    from syndicator.content import html_to_text
    from syndicator.sources.directory import DirectorySource
    from syndicator.sources.rss import RssSource

    assert DirectorySource.text_from_html and RssSource.text_from_html
    h.settings["keep_text"] = "always"  # to read back what was stored
    h.write("a.md", id="a", title="Markdown", body="Satu **dua** & tiga.\n\n- butir\n- butir lain")
    write_file(
        h.releases / "b.json",
        '{"id": "b", "title": "JSON", "body_html": "<h2>Judul</h2><p>Isi &amp; lagi</p>",'
        ' "status": "approved", "approved_by": "Kepala"}',
    )
    h.run()
    stored = [h.ledger.release(key) for key in ("news/a", "news/b")]
    for item in stored:
        assert item is not None and item.release.body_text
        assert item.release.body_text == html_to_text(item.release.body_html)


# -- edits and approval -----------------------------------------------------------------------------


def test_editing_a_sent_release_does_not_resend_it_and_holds_it_as_changed(h: Harness) -> None:
    path = h.write("a.md", id="a", title="Versi pertama")
    h.run()
    h.clock.advance(hours=1)
    write_file(path, path.read_text(encoding="utf-8").replace("Versi pertama", "Versi kedua (ralat)"))

    report = h.run()

    assert report.changed == ["news/a"]
    assert report.held["news/a"] == "changed since approval by Kepala Diskominfo: approve it again"
    assert report.outcomes == []
    assert h.journal.sent_keys("rec") == ["news/a"]
    assert len(h.journal.calls) == 1
    assert h.delivery("news/a", "rec").state is DeliveryState.SENT


def test_a_manual_policy_release_goes_out_once_an_operator_approves_it(h: Harness) -> None:
    h.sources["news"]["approval"] = "manual"
    h.write("a.md", id="a", title="Tunggu persetujuan")

    first = h.run()
    assert first.held == {"news/a": "not approved: waiting for `syndicator approve`"}
    assert h.journal.calls == []

    h.clock.advance(minutes=10)
    h.ledger.approve(h.ledger.find_release("a").key, "Operator Humas", h.clock())
    second = h.run()

    assert [(o.release_key, o.state) for o in second.outcomes] == [("news/a", "sent")]
    assert second.held == {}
    h.clock.advance(minutes=10)
    assert h.run().outcomes == []
    assert h.journal.sent_keys("rec") == ["news/a"]


class NewsroomPolicy:
    """Approves alerts without waiting for front matter; holds anything marked secret."""

    @hookimpl
    def approve_release(self, release: Release, source: SourceConfig) -> Approval | Hold | None:
        if "siaga" in release.tags:
            return Approval("Piket BPBD", None, None, origin="policy")
        if "rahasia" in release.tags:
            return Hold("held by newsroom policy: marked secret")
        return None


def test_an_approve_release_hook_decides_before_the_built_in_policy(make: MakeHarness) -> None:
    h = make(NewsroomPolicy())
    h.channels["rec"] = {"type": "recorder"}
    h.write("alert.md", id="alert", title="Siaga banjir", status="draft", approved_by=None, tags=["siaga"])
    h.write("secret.md", id="secret", title="Rahasia", tags=["rahasia"])
    h.write("plain.md", id="plain", title="Biasa")

    report = h.run()

    assert sorted(h.journal.sent_keys("rec")) == ["news/alert", "news/plain"]
    assert report.held == {"news/secret": "held by newsroom policy: marked secret"}
    stored = h.ledger.release("news/alert")
    assert stored is not None and stored.pinned is not None
    assert stored.pinned.approved_by == "Piket BPBD"


# -- dry run ----------------------------------------------------------------------------------------


def test_a_dry_run_renders_but_never_publishes_nor_changes_the_ledger(h: Harness) -> None:
    h.write("a.md", id="a", title="Rilis A")
    h.write("b.md", id="b", title="Rilis B")
    h.write("draft.md", id="draft", title="Draf", status="draft")
    before = h.dump()

    report = h.run(dry_run=True)

    assert report.dry_run
    assert sorted((o.release_key, o.state, o.post.text) for o in report.outcomes if o.post) == [
        ("news/a", "would-publish", "Rilis A"),
        ("news/b", "would-publish", "Rilis B"),
    ]
    assert sorted(h.journal.rendered) == [("rec", "news/a"), ("rec", "news/b")]
    assert h.journal.calls == []
    assert h.dump() == before
    assert h.ledger.events() == [] and h.ledger.deliveries() == []

    real = h.run()  # the dry run consumed nothing: the real run still sees every file
    assert sorted(real.new) == ["news/a", "news/b", "news/draft"]
    assert sorted(h.journal.sent_keys("rec")) == ["news/a", "news/b"]


def test_a_dry_run_after_real_runs_leaves_deliveries_untouched(h: Harness) -> None:
    h.write("a.md", id="a", title="Rilis A")
    h.run()
    h.write("b.md", id="b", title="Rilis B")
    h.clock.advance(minutes=5)
    before = h.dump()
    events = len(h.ledger.events())

    report = h.run(dry_run=True)

    assert [(o.release_key, o.state) for o in report.outcomes] == [("news/b", "would-publish")]
    assert h.dump() == before
    assert len(h.ledger.events()) == events
    assert h.journal.sent_keys("rec") == ["news/a"]


# -- priority ---------------------------------------------------------------------------------------


def test_urgent_releases_are_dispatched_first(h: Harness) -> None:
    h.channels["rec"]["concurrency"] = 1
    h.write("a.md", id="a", title="Lama", date="2026-11-01T09:00:00+08:00")
    h.write("b.md", id="b", title="Agak lama", date="2026-11-02T09:00:00+08:00")
    h.write("c.md", id="c", title="Siaga banjir", date="2026-11-09T09:00:00+08:00", priority="urgent")

    h.run()

    assert h.journal.sent_keys("rec") == ["news/c", "news/a", "news/b"]


def test_a_retried_urgent_release_still_goes_before_older_ones(h: Harness) -> None:
    h.channels["rec"]["concurrency"] = 1
    h.write("a.md", id="a", title="Lama", date="2026-11-01T09:00:00+08:00")
    h.write("c.md", id="c", title="Siaga banjir", date="2026-11-09T09:00:00+08:00", priority="urgent")
    h.journal.fail("rec", TransientError("platform busy"), TransientError("platform busy"))
    h.run()
    assert h.journal.sent_keys("rec") == []

    h.clock.advance(hours=1)
    h.run()  # neither is gated again (both were planned): the order still comes from the ledger

    assert h.journal.sent_keys("rec") == ["news/c", "news/a"]


# -- what a tick reads again --------------------------------------------------------------------


def test_a_tick_gates_again_only_what_can_have_changed(h: Harness) -> None:
    h.sources["news"]["approval"] = "manual"
    h.write("a.md", id="a", title="Disetujui")
    h.write("b.md", id="b", title="Menunggu")
    h.run()
    h.ledger.approve("news/a", "Operator Humas", h.clock())
    h.clock.advance(minutes=5)
    h.run()

    # the sent release is planned; the held one is gated every tick
    assert h.journal.sent_keys("rec") == ["news/a"]
    assert [row.key for row in h.ledger.gate_rows(skip_planned=True)] == ["news/b"]
    h.clock.advance(minutes=5)
    assert h.run().held == {"news/b": "not approved: waiting for `syndicator approve`"}

    h.ledger.approve("news/b", "Operator Humas", h.clock())
    h.run()
    assert h.ledger.gate_rows(skip_planned=True) == []
    assert h.journal.sent_keys("rec") == ["news/a", "news/b"]

    # an edit after approval is gated again, and held until approved again
    h.write("a.md", id="a", title="Disetujui, lalu diubah")
    h.clock.advance(minutes=5)
    assert "changed since approval" in h.run().held["news/a"]


def test_changing_the_channels_gates_every_release_once_more(h: Harness) -> None:
    h.settings["keep_text"] = "always"  # the archive's texts, for the channel that comes later
    h.write("old.md", id="old", title="Sudah terbit")
    h.run()
    before = plan_fingerprint(h.engine().channels())
    h.channels["archive"] = {"type": "recorder", "backfill": True}
    after = plan_fingerprint(h.engine().channels())

    assert before != after
    assert h.ledger.gate_rows(skip_planned=True) == []
    h.ledger.plan_under(after)  # what the next run does first: the marks were made for other channels
    assert [row.key for row in h.ledger.gate_rows(skip_planned=True)] == ["news/old"]
    h.clock.advance(days=1)
    h.run()
    assert h.journal.sent_keys("archive") == ["news/old"]
    assert h.ledger.gate_rows(skip_planned=True) == []


class _Died(Exception):
    """The run's process dying at this point (SIGKILL, a power cut): what was committed stays."""


def test_a_first_run_that_dies_as_it_marks_releases_due_loses_none_of_them(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run to see the channels dies right after the gate has marked its releases
    due. Those releases must not then look older than the channels, which would leave them
    out for good as "not backfilled" (found by the SIGKILL trials)."""
    from syndicator.ledger import Ledger

    h.write("a.md", id="a", title="Satu")
    mark_due = Ledger.mark_due

    def dies_after(self: Ledger, keys: list[str], now: datetime) -> None:
        mark_due(self, keys, now)
        raise _Died

    monkeypatch.setattr(Ledger, "mark_due", dies_after)
    with pytest.raises(_Died):
        h.run()
    monkeypatch.undo()
    h.clock.advance(minutes=5)

    report = h.run()

    assert report.not_backfilled == 0
    assert h.journal.sent_keys("rec") == ["news/a"]


def test_a_run_for_some_channels_keeps_the_plan_marks_and_leaves_the_rest_to_the_next_run(
    h: Harness,
) -> None:
    """``run --channel`` neither makes the next full run gate the whole archive again nor
    marks a release planned that the other channels have not had yet."""
    h.channels["archive"] = {"type": "recorder"}
    h.write("old.md", id="old", title="Sudah terbit")
    h.run()
    assert h.ledger.gate_rows(skip_planned=True) == []

    h.write("new.md", id="new", title="Baru")
    h.clock.advance(minutes=5)
    only_rec = h.run(channels=["rec"])
    assert [o.channel for o in only_rec.outcomes] == ["rec"]
    assert [row.key for row in h.ledger.gate_rows(skip_planned=True)] == ["news/new"]  # old: still planned

    h.clock.advance(minutes=5)
    assert [(o.release_key, o.channel) for o in h.run().outcomes] == [("news/new", "archive")]
    assert h.ledger.gate_rows(skip_planned=True) == []
    assert h.journal.sent_keys("archive") == ["news/old", "news/new"]

    # a channel added to the config gets what becomes due after it, even in a run for another
    h.channels["baru"] = {"type": "recorder"}
    h.write("later.md", id="later", title="Sesudah")
    h.clock.advance(minutes=5)
    assert [o.channel for o in h.run(channels=["rec"]).outcomes] == ["rec"]
    h.clock.advance(minutes=5)
    assert sorted((o.release_key, o.channel) for o in h.run().outcomes) == [
        ("news/later", "archive"),
        ("news/later", "baru"),
    ]


# -- observers --------------------------------------------------------------------------------------


class CollectionWatcher:
    """A release_collected observer whose backend is down: it records, then raises."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    @hookimpl
    def release_collected(self, release: Release, is_new: bool) -> None:
        self.seen.append((release.key, is_new))
        raise RuntimeError("search index is down")


def test_release_collected_hears_of_new_and_changed_releases_and_cannot_stop_the_run(
    make: MakeHarness,
) -> None:
    watcher = CollectionWatcher()
    h = make(watcher)
    h.channels["rec"] = {"type": "recorder"}
    path = h.write("a.md", id="a", title="Rilis A")
    h.write("b.md", id="b", title="Rilis B")

    first = h.run()
    h.clock.advance(hours=1)
    h.run()
    write_file(path, path.read_text(encoding="utf-8").replace("Rilis A", "Rilis A (ralat)"))
    h.run()

    assert watcher.seen == [("news/a", True), ("news/b", True), ("news/a", False)]
    assert sorted(first.new) == ["news/a", "news/b"]
    assert sorted(h.journal.sent_keys("rec")) == ["news/a", "news/b"]
    assert first.exit_code == 0
