"""Whole runs over ``rss`` sources: a local feed server, a webhook channel, a real ledger.

The feeds come from :class:`FeedServer` (ETag / Last-Modified / 304) and the webhook posts
to :class:`ScriptedServer`; both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import Harness
from feedserver import FeedServer, free_port

from syndicator.headstart import HEADSTART_LIMIT
from syndicator.models import DeliveryState
from syndicator.testing import Recorded, Reply, ScriptedServer


def rss(*ids: str) -> str:
    items = "".join(
        f"""
  <item>
    <guid isPermaLink="false">{i}</guid>
    <title>Rilis {i}</title>
    <link>https://pemprov.example.go.id/rilis/{i}</link>
    <description>Isi rilis {i}.</description>
    <pubDate>Mon, 09 Nov 2026 09:00:00 +0800</pubDate>
  </item>"""
        for i in ids
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Pemprov</title><link>https://pemprov.example.go.id/</link>{items}
</channel></rss>
"""


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        server.script("POST", "/hook", Reply(201, json={"id": "w-1", "url": "https://hook.test/w-1"}))
        yield server


@pytest.fixture
def h(tmp_path: Path, hook: ScriptedServer) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.sources = {}
    harness.channels = {"hook": {"type": "webhook", "url": hook.url + "/hook"}}
    yield harness
    harness.close()


def posted(hook: ScriptedServer) -> list[str]:
    return [r.json["id"] for r in hook.requests if r.path == "/hook"]


def add_feed(h: Harness, name: str, url: str) -> None:
    h.sources[name] = {"type": "rss", "url": url, "approval": "trusted", "timeout": 5.0}


@pytest.mark.parametrize(
    ("validator", "request_header"),
    [
        ({"etag": '"v1"'}, ("If-None-Match", '"v1"')),
        (
            {"last_modified": "Mon, 09 Nov 2026 01:00:00 GMT"},
            ("If-Modified-Since", "Mon, 09 Nov 2026 01:00:00 GMT"),
        ),
    ],
    ids=["etag", "last-modified"],
)
def test_each_item_is_delivered_once_and_a_304_on_the_next_run_delivers_nothing(
    h: Harness,
    feeds: FeedServer,
    hook: ScriptedServer,
    validator: dict[str, str],
    request_header: tuple[str, str],
) -> None:
    add_feed(h, "pemprov", feeds.set("/feed.xml", rss("a", "b"), **validator))

    first = h.run()
    h.clock.advance(minutes=10)
    second = h.run()

    assert sorted(first.new) == ["pemprov/a", "pemprov/b"]
    assert sorted((o.release_key, o.state) for o in first.outcomes) == [
        ("pemprov/a", "sent"),
        ("pemprov/b", "sent"),
    ]
    assert first.exit_code == 0 and first.source_errors == []
    assert feeds.count("/feed.xml") == 2
    name, value = request_header
    assert feeds.last("/feed.xml").headers.get(name) == value  # so the server answered 304
    assert (second.new, second.changed, second.outcomes, second.source_errors) == ([], [], [], [])
    assert sorted(posted(hook)) == ["pemprov/a", "pemprov/b"]


def test_a_new_item_in_the_feed_is_exactly_one_new_delivery(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    add_feed(h, "pemprov", feeds.set("/feed.xml", rss("a", "b"), etag='"v1"'))
    h.run()
    h.clock.advance(minutes=10)
    feeds.set("/feed.xml", rss("c", "a", "b"), etag='"v2"')

    report = h.run()

    assert report.new == ["pemprov/c"] and report.changed == []
    assert [(o.release_key, o.channel, o.state) for o in report.outcomes] == [("pemprov/c", "hook", "sent")]
    assert sorted(posted(hook)) == ["pemprov/a", "pemprov/b", "pemprov/c"]
    assert feeds.count("/feed.xml") == 2
    assert feeds.last("/feed.xml").headers.get("If-None-Match") == '"v1"'


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ({"body": rss("x"), "status": 500}, "HTTP 500 Internal Server Error"),
        ({"body": "<html><body><p>Maintenance</p></body></html>", "content_type": "text/html"}, "not a feed"),
        (None, "connection refused"),
    ],
    ids=["http-500", "not-a-feed", "connection-refused"],
)
def test_a_failing_feed_is_named_in_source_errors_and_the_healthy_one_is_still_delivered(
    h: Harness, feeds: FeedServer, hook: ScriptedServer, route: dict[str, str] | None, reason: str
) -> None:
    if route is None:
        broken_url = f"http://127.0.0.1:{free_port()}/feed.xml"
    else:
        broken_url = feeds.set("/broken.xml", route.pop("body"), **route)
    add_feed(h, "broken", broken_url)
    add_feed(h, "pemprov", feeds.set("/feed.xml", rss("a", "b")))

    report = h.run()

    assert len(report.source_errors) == 1
    (error,) = report.source_errors
    assert error.startswith("broken: ") and reason in error
    assert sorted(report.new) == ["pemprov/a", "pemprov/b"]
    assert sorted(posted(hook)) == ["pemprov/a", "pemprov/b"]
    assert report.exit_code == 1  # cron hears about the broken feed


def test_a_feed_that_recovers_is_delivered_on_the_next_run(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    add_feed(h, "flaky", feeds.set("/flaky.xml", rss("x"), status=503))
    first = h.run()
    feeds.set("/flaky.xml", rss("x"))
    h.clock.advance(minutes=10)

    second = h.run()

    assert [e.split(":", 1)[0] for e in first.source_errors] == ["flaky"] and posted(hook) == ["flaky/x"]
    assert second.source_errors == [] and second.new == ["flaky/x"] and second.exit_code == 0


# -- parser processes ---------------------------------------------------------------------------


def _ledger_rows(h: Harness) -> list[tuple[str, str, str]]:
    rows = [(s.key, s.release.content_hash, s.release.body_text) for s in h.ledger.releases()]
    return sorted(rows)


@pytest.mark.parametrize("workers", [0, 2])
def test_parser_processes_store_exactly_what_parsing_here_stores(
    tmp_path: Path, feeds: FeedServer, hook: ScriptedServer, workers: int
) -> None:
    """Three feeds (one broken) parsed in processes or here: the same releases, hashes and errors."""
    results = []
    for mode in (workers, 0):
        h = Harness(tmp_path / f"m{mode}-{len(results)}")
        h.sources = {}
        h.channels = {"hook": {"type": "webhook", "url": hook.url + "/hook"}}
        h.settings["parse_workers"] = mode
        add_feed(h, "satu", feeds.set("/satu.xml", rss("a", "b")))
        add_feed(h, "dua", feeds.set("/dua.xml", rss("c")))
        add_feed(h, "rusak", feeds.set("/rusak.xml", "<html><body>bukan feed</body></html>"))
        report = h.run()
        results.append((_ledger_rows(h), sorted(report.source_errors), sorted(report.new)))
        h.close()
    assert results[0] == results[1]
    _rows, errors, new = results[0]
    assert new == ["dua/c", "satu/a", "satu/b"]
    assert len(errors) == 1 and errors[0].startswith("rusak: not a feed")


def test_parser_processes_start_only_when_several_feeds_are_expected_to_need_parsing(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """Feeds never read before are sure to be parsed; of the others, as many are expected to
    change as changed in the last run. So the run after the first forks nothing, a quiet run
    forks nothing for the next, the first run of a burst parses in its own process (storing
    everything) and the run after it has parser processes again."""
    h.settings["parse_workers"] = 2
    names = [f"f{n}" for n in range(3)]

    def serve(*suffixes: str) -> None:
        for name in names:
            items = [f"{name}-{s}" for s in suffixes]
            add_feed(h, name, feeds.set(f"/{name}.xml", rss(*items), etag=f'"{len(items)}"'))

    def forks() -> bool:
        pool = h.engine()._start_parsers(names)
        if pool is not None:
            pool.shutdown()
        return pool is not None

    serve("a")
    assert forks()  # three feeds never read
    assert len(h.run().new) == 3 and h.ledger.hint("feeds_changed") == "0"
    assert not forks()  # read once each, none changed since
    assert h.run().new == [] and not forks()  # every feed: 304
    serve("a", "b")
    burst = h.run()
    assert sorted(burst.new) == ["f0/f0-b", "f1/f1-b", "f2/f2-b"] and burst.exit_code == 0
    assert h.ledger.hint("feeds_changed") == "3" and forks()
    assert sorted(posted(hook)) == sorted(f"{name}/{name}-{s}" for name in names for s in "ab")
    h.sources["f3"] = {**h.sources["f0"], "url": feeds.set("/f3.xml", rss("f3-a"))}
    h.run()  # one new feed and three quiet ones
    names.append("f3")
    h.sources["f4"] = {**h.sources["f0"], "url": feeds.set("/f4.xml", rss("f4-a"))}
    h.sources["f5"] = {**h.sources["f0"], "url": feeds.set("/f5.xml", rss("f5-a"))}
    assert not forks()
    names += ["f4", "f5"]
    assert forks()  # two feeds never read


def test_feeds_that_never_answer_do_not_fork_parser_processes_every_tick(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """Two feeds that have never been read fail (a dead link, a server error): after the first
    run they are not expected to be parsed, so the usual tick forks nothing. When one comes
    back it is read in the run's own process, and then counts as read."""
    h.settings["parse_workers"] = 2
    add_feed(h, "hidup", feeds.set("/hidup.xml", rss("a"), etag='"1"'))
    add_feed(h, "mati", feeds.set("/mati.xml", "gone", status=404))
    add_feed(h, "rusak", feeds.set("/rusak.xml", rss("x"), status=500))
    names = ["hidup", "mati", "rusak"]

    def forks() -> bool:
        pool = h.engine()._start_parsers(names)
        if pool is not None:
            pool.shutdown()
        return pool is not None

    assert forks()  # never read, never tried
    first = h.run()
    assert first.new == ["hidup/a"]
    assert sorted(e.split(":")[0] for e in first.source_errors) == ["mati", "rusak"]
    assert h.ledger.hint("sources_failed") == '["mati", "rusak"]'
    assert not forks()
    assert len(h.run().source_errors) == 2 and not forks()  # still failing, still nothing to fork
    assert h.run(sources=["hidup"]).source_errors == []  # a run for one source keeps the hints
    assert h.ledger.hint("sources_failed") == '["mati", "rusak"]' and not forks()
    feeds.set("/rusak.xml", rss("y"), etag='"2"')
    back = h.run()
    assert back.new == ["rusak/y"] and h.ledger.hint("sources_failed") == '["mati"]'
    assert not forks() and sorted(posted(hook)) == ["hidup/a", "rusak/y"]
    h.sources["baru"] = {**h.sources["hidup"], "url": feeds.set("/baru.xml", rss("b"))}
    h.sources["lain"] = {**h.sources["hidup"], "url": feeds.set("/lain.xml", rss("c"))}
    names += ["baru", "lain"]
    assert forks()  # two feeds never tried
    ledger = h.ledger
    ledger.note_hint("sources_failed", "not a list")
    assert forks()  # a hint it cannot read counts nothing out


def test_a_hint_is_written_only_when_it_changes(tmp_path: Path) -> None:
    from syndicator.ledger import Ledger

    with Ledger.open(tmp_path / "state.db") as ledger:
        assert ledger.hint("feeds_changed") is None
        ledger.note_hint("feeds_changed", "0")
        changes = ledger._conn.total_changes
        ledger.note_hint("feeds_changed", "0")
        assert ledger._conn.total_changes == changes and ledger.hint("feeds_changed") == "0"
        ledger.note_hint("feeds_changed", "4")
        assert ledger.hint("feeds_changed") == "4"


def test_a_parser_process_that_dies_leaves_the_parsing_to_the_main_process() -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from syndicator.collect import _offload

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        assert _offload(pool, [], _die_unless_in, os.getpid()) == "parsed here"
    finally:
        pool.shutdown()


def _die_unless_in(pid: int) -> str:
    if os.getpid() != pid:
        os._exit(1)  # as the out-of-memory killer would
    return "parsed here"


def test_a_source_error_crosses_from_a_parser_process_whole() -> None:
    import pickle

    from syndicator.errors import SourceError

    error = pickle.loads(pickle.dumps(SourceError("pemprov", "not a feed: HTML page", item="x")))
    assert (error.source, error.reason, error.item, str(error)) == (
        "pemprov",
        "not a feed: HTML page",
        "x",
        "pemprov: x: not a feed: HTML page",
    )


def test_each_host_gets_at_most_eight_requests_at_a_time_and_other_hosts_go_on_beside_it(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """Twenty feeds on one host and four on another, each answered after 0.3 s: never more
    than eight at once on either host, and the four do not wait behind the twenty."""
    with FeedServer() as other:
        for n in range(20):
            add_feed(h, f"near-{n}", feeds.set(f"/near-{n}.xml", rss(f"near-{n}"), delay=0.3))
        for n in range(4):
            url = other.set(f"/far-{n}.xml", rss(f"far-{n}"), delay=0.3)
            add_feed(h, f"far-{n}", url.replace("127.0.0.1", "localhost"))  # another host name

        h.run()

        assert feeds.most_in_flight == 8 and other.most_in_flight == 4
        assert most_at_once(feeds.spans + other.spans) == 12
        first_answered = min(end for _, end in feeds.spans)
        assert all(start < first_answered for start, _ in other.spans)  # in the first round
        assert len(posted(hook)) == 24


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    return max(itertools.accumulate(step for _, step in edges))


def hold_until_posted(hook: ScriptedServer, posts: int) -> threading.Event:
    """An event set once the webhook has received ``posts`` deliveries (each answered 201)."""
    reached, seen = threading.Event(), []

    def answer(request: Recorded) -> Reply:
        seen.append(request.json["id"])
        if len(seen) >= posts:
            reached.set()
        return Reply(201, json={"id": f"w-{len(seen)}"})

    hook.handler("POST", "/hook", answer)
    return reached


def test_a_feed_that_answers_gets_its_releases_out_while_a_slow_feed_is_still_being_read(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """The slow feed answers only once the fast feed's release has been delivered (or after
    20 s): with the head start it is released by the delivery, and each release goes out
    once."""
    h.settings["parse_workers"] = 1  # parsing in the run's own process: the usual tick
    delivered = hold_until_posted(hook, 1)
    add_feed(h, "fast", feeds.set("/fast.xml", rss("cepat"), etag='"f1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=20))
    h.sources["slow"]["timeout"] = 30.0

    report = h.run()

    assert feeds.released == [("/slow.xml", True)]  # answered because the fast release went out
    assert posted(hook) == ["fast/cepat", "slow/lambat"]
    assert sorted((o.release_key, o.state) for o in report.outcomes) == [
        ("fast/cepat", "sent"),
        ("slow/lambat", "sent"),
    ]
    assert report.exit_code == 0
    h.clock.advance(minutes=10)
    assert h.run().outcomes == [] and len(posted(hook)) == 2


def test_each_channel_is_finished_once_per_run_whether_or_not_it_had_a_head_start(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """``early`` takes only the fast feed, so its one delivery goes out during collection;
    ``both`` takes both feeds, so it also delivers after collection. ``finish`` (a website
    rebuilds its indexes there) comes once each, after the run's deliveries."""
    h.settings["parse_workers"] = 1
    delivered = hold_until_posted(hook, 1)
    add_feed(h, "fast", feeds.set("/fast.xml", rss("cepat"), etag='"f1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=20))
    h.sources["slow"]["timeout"] = 30.0
    h.channels["early"] = {"type": "recorder", "sources": ["fast"]}
    h.channels["both"] = {"type": "recorder"}

    h.run()

    assert feeds.released == [("/slow.xml", True)]
    assert sorted(h.journal.finished) == ["both", "early"]
    assert sorted((c.channel, c.release_key) for c in h.journal.sent) == [
        ("both", "fast/cepat"),
        ("both", "slow/lambat"),
        ("early", "fast/cepat"),
    ]


def test_a_run_told_to_stop_during_a_head_start_reports_each_delivery_once(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """Stopped at the head start's first call: that call ends and is recorded, the rest are
    skipped once each and stay pending for the next run, which sends them."""
    h.settings["parse_workers"] = 1
    h.channels["hook"]["concurrency"] = 1
    stop = threading.Event()

    def answer(request: Recorded) -> Reply:
        stop.set()  # as SIGTERM would, mid-call
        return Reply(201, json={"id": "w"})

    hook.handler("POST", "/hook", answer)
    add_feed(h, "fast", feeds.set("/fast.xml", rss("a", "b", "c"), etag='"f1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', delay=0.5))

    report = h.run(stop=stop)

    pairs = [(o.release_key, o.state) for o in report.outcomes]
    assert len(pairs) == len(set(o.release_key for o in report.outcomes)) == 4, pairs
    assert sorted(state for _, state in pairs) == ["sent", "skipped", "skipped", "skipped"]
    h.clock.advance(minutes=10)
    assert sorted(o.state for o in h.run().outcomes) == ["sent"] * 3
    assert sorted(posted(hook)) == ["fast/a", "fast/b", "fast/c", "slow/lambat"]


def test_no_head_start_while_a_call_of_an_earlier_run_is_undecided(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """A run that crashed mid-call left a delivery in flight: reconcile settles it before
    anything else is sent, so this run's releases wait for the whole collection."""
    h.settings["parse_workers"] = 1  # no parser processes: the undecided call is the reason
    h.settings["keep_text"] = "always"  # lama is sent, then made undecided by hand below
    add_feed(h, "fast", feeds.set("/fast.xml", rss("lama"), etag='"f1"'))
    h.run()
    h.ledger.transition("fast/lama", "hook", DeliveryState.IN_FLIGHT, h.clock(), expect=[DeliveryState.SENT])
    h.clock.advance(minutes=10)
    delivered = hold_until_posted(hook, 1)
    feeds.set("/fast.xml", rss("baru", "lama"), etag='"f2"')
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=1.0))

    report = h.run()

    assert feeds.released == [("/slow.xml", False)]  # nothing went out while it was read
    sent = sorted(o.release_key for o in report.outcomes if o.state == "sent")
    assert sent == ["fast/baru", "fast/lama", "slow/lambat"]  # lama: again, under the same idempotency key
    assert h.delivery("fast/lama", "hook").state is DeliveryState.SENT


def test_a_dry_run_starts_nothing_while_sources_are_read(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    h.settings["parse_workers"] = 1
    delivered = hold_until_posted(hook, 1)
    add_feed(h, "fast", feeds.set("/fast.xml", rss("cepat"), etag='"f1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=1.0))

    report = h.run(dry_run=True)

    assert feeds.released == [("/slow.xml", False)] and posted(hook) == []
    assert sorted(o.state for o in report.outcomes) == ["would-publish", "would-publish"]


def test_a_quick_burst_is_delivered_after_collection(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """Parser processes mean a burst is expected (several feeds to parse): read within
    ``BURST_PATIENCE`` (3 s; the slow feed takes 1 s), it is delivered whole once every
    source has been read, urgent first across all of them."""
    h.settings["parse_workers"] = 2
    delivered = hold_until_posted(hook, 1)
    add_feed(h, "fast", feeds.set("/fast.xml", rss("cepat"), etag='"f1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=1.0))

    report = h.run()

    assert feeds.released == [("/slow.xml", False)]
    assert sorted(posted(hook)) == ["fast/cepat", "slow/lambat"] and report.count("sent") == 2


def test_a_burst_with_a_feed_slower_than_its_patience_gets_a_head_start(
    h: Harness, feeds: FeedServer, hook: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three feeds answer at once, one hangs (until the three releases are delivered, or 20
    s): past the burst's patience, what is stored goes out, and the slow feed is released by
    those deliveries. Each release goes out once."""
    monkeypatch.setattr("syndicator.collect.BURST_PATIENCE", 0.3)
    h.settings["parse_workers"] = 2
    delivered = hold_until_posted(hook, 3)
    for name in ("satu", "dua", "tiga"):
        add_feed(h, name, feeds.set(f"/{name}.xml", rss(f"{name}-a"), etag='"1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=20))
    h.sources["slow"]["timeout"] = 30.0
    parsers = h.engine()._start_parsers(list(h.sources))
    assert parsers is not None  # a burst: four feeds never read
    parsers.shutdown()

    report = h.run()

    assert feeds.released == [("/slow.xml", True)]
    assert sorted(posted(hook)[:3]) == ["dua/dua-a", "satu/satu-a", "tiga/tiga-a"]
    assert posted(hook)[3:] == ["slow/lambat"] and report.count("sent") == 4


def test_a_burst_gets_a_limited_head_start_and_the_rest_goes_out_after_collection(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """The slow feed is released by the last delivery the head start may make; every later
    delivery comes after it was answered, and every release goes out exactly once."""
    h.settings["parse_workers"] = 1
    burst = [f"r{n:03}" for n in range(HEADSTART_LIMIT + 6)]
    delivered = hold_until_posted(hook, HEADSTART_LIMIT)
    after_limit: list[bool] = []
    original = hook._handlers[("POST", "/hook")]

    def answer(request: Recorded) -> Reply:
        if len(hook.requests) > HEADSTART_LIMIT:  # this one came after the head start's last
            after_limit.append(("/slow.xml", True) in feeds.released)
        return original(request)

    hook.handler("POST", "/hook", answer)
    add_feed(h, "fast", feeds.set("/fast.xml", rss(*burst), etag='"f1"'))
    add_feed(h, "slow", feeds.set("/slow.xml", rss("lambat"), etag='"s1"', hold=delivered, delay=20))
    h.sources["slow"]["timeout"] = 30.0

    report = h.run()

    assert feeds.released == [("/slow.xml", True)]
    assert after_limit == [True] * 7  # six of the burst and the slow feed's release
    assert sorted(posted(hook)) == sorted([f"fast/{r}" for r in burst] + ["slow/lambat"])
    assert len(report.outcomes) == len(burst) + 1 and report.count("sent") == len(burst) + 1


QUIET_TICK = """
import atexit, sys
from syndicator.cli import main
WANTED = ("syndicator.sources.feeditems", "syndicator.sources.frontmatter", "syndicator.content",
          "feedparser", "multiprocessing", "concurrent.futures.process")
atexit.register(lambda: print(sorted(m for m in WANTED if m in sys.modules)))
main(["-q", "--config", sys.argv[1], "run"])
"""


def test_a_tick_in_which_every_feed_is_not_modified_loads_no_parser(
    tmp_path: Path, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """The usual cron tick (every feed answers 304, a folder unchanged) imports neither the
    feed nor the release-file parser, nor the HTML tools, and forks no parser process."""
    import subprocess
    import sys

    from enginekit import toml_text

    (tmp_path / "releases").mkdir()
    sources: dict[str, dict[str, object]] = {"folder": {"type": "directory", "path": "releases"}}
    for n in range(3):
        url = feeds.set(f"/f{n}.xml", rss(f"f{n}-a"), etag=f'"f{n}"')
        sources[f"f{n}"] = {"type": "rss", "url": url, "approval": "trusted"}
    config = tmp_path / "syndicator.toml"
    channels = {"hook": {"type": "webhook", "url": hook.url + "/hook"}}
    config.write_text(toml_text({"state": "state.db"}, sources, channels), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}

    def tick() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", QUIET_TICK, str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    first = tick()  # three feeds never read: parsed side by side
    assert "syndicator.sources.feeditems" in first[-1] and "multiprocessing" in first[-1]
    assert tick() == ["[]"]
    assert sorted(posted(hook)) == ["f0/f0-a", "f1/f1-a", "f2/f2-a"]


def test_a_channel_added_later_gets_a_let_go_text_back_from_the_feed_that_still_has_it(
    h: Harness, feeds: FeedServer, hook: ScriptedServer
) -> None:
    """The text of a sent item is let go (keep_text's default); a channel added later with
    backfill gets it once the feed is fetched again in full (no validators), and an item the
    feed has dropped since is not sent."""
    add_feed(h, "pemprov", feeds.set("/feed.xml", rss("lama", "hilang"), etag='"v1"'))
    h.run()
    feeds.set("/feed.xml", rss("lama"), etag='"v1"')  # "hilang" dropped; the ETag unchanged
    h.clock.advance(days=1)
    h.channels["archive"] = {"type": "recorder", "backfill": True}

    h.run()
    h.clock.advance(minutes=10)
    h.run()

    assert h.journal.sent_keys("archive") == ["pemprov/lama"]
    assert sorted(posted(hook)) == ["pemprov/hilang", "pemprov/lama"]  # the webhook: once each
