"""Delivery: retries, dead letters, unknown outcomes, reconciliation after a crash, concurrency."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from enginekit import Harness, write_file

from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext
from syndicator.engine import RunReport
from syndicator.errors import AuthError, TransientError
from syndicator.models import Delivery, DeliveryState, Post, Receipt, Release
from syndicator.options import Option
from syndicator.retry import MAX_BACKOFF, backoff_delay, idempotency_key
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
    return make()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


def content_hash(h: Harness, key: str) -> str:
    stored = h.ledger.release(key)
    assert stored is not None
    return stored.release.content_hash


def crash_mid_call(h: Harness, key: str, channel: str) -> None:
    """A run that collected, planned and committed ``in_flight``, then died during the call."""
    engine = h.engine()
    report = RunReport()
    engine.collect(report)
    engine.gate_and_plan(report, engine.channels())
    h.ledger.transition(
        key, channel, DeliveryState.IN_FLIGHT, h.clock(), expect=[DeliveryState.PENDING], attempts=1
    )
    h.clock.advance(minutes=5)


# -- HTTP failures through the real webhook channel ---------------------------------------------------


def test_503_with_retry_after_waits_then_succeeds_with_the_same_idempotency_key(
    h: Harness, server: ScriptedServer
) -> None:
    server.script(
        "POST",
        "/hook",
        Reply(503, json={"error": "busy"}, headers={"Retry-After": "120"}),
        Reply(201, json={"id": "w-9", "url": "https://hook.test/w-9"}),
    )
    h.channels["hook"] = {"type": "webhook", "url": server.url + "/hook", "backoff": 1.0}
    h.write("a.md", id="a", title="Rilis A")
    started = h.clock()

    first = h.run()
    failed = h.delivery("news/a", "hook")
    assert [o.state for o in first.outcomes] == ["failed"]
    assert failed.state is DeliveryState.FAILED
    assert "HTTP 503" in failed.last_error
    assert failed.next_attempt_at is not None
    assert (failed.next_attempt_at - started).total_seconds() >= 120

    h.clock.advance(seconds=60)
    assert h.run().outcomes == []  # Retry-After not over yet: no call
    assert len(server.requests) == 1

    h.clock.advance(seconds=61)
    last = h.run()
    assert [o.state for o in last.outcomes] == ["sent"]
    sent = h.delivery("news/a", "hook")
    assert (sent.state, sent.attempts) == (DeliveryState.SENT, 2)
    assert sent.receipt is not None and sent.receipt.url == "https://hook.test/w-9"
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert keys == [idempotency_key("news/a", "hook", content_hash(h, "news/a"))] * 2


def test_400_is_dead_at_once_and_never_retried(h: Harness, server: ScriptedServer) -> None:
    server.script("POST", "/hook", Reply(400, json={"error": "invalid payload"}))
    h.channels["hook"] = {"type": "webhook", "url": server.url + "/hook"}
    h.write("a.md", id="a", title="Rilis A")

    report = h.run()
    h.clock.advance(days=1)
    later = h.run()

    dead = h.delivery("news/a", "hook")
    assert dead.state is DeliveryState.DEAD
    assert "HTTP 400" in dead.last_error and "invalid payload" in dead.last_error
    assert (report.exit_code, report.needs_operator) == (1, 1)
    assert later.outcomes == [] and later.exit_code == 1
    assert len(server.requests) == 1


def test_transient_failures_become_dead_after_max_attempts(h: Harness, server: ScriptedServer) -> None:
    server.script("POST", "/hook", Reply(500, json={"error": "oops"}))
    h.channels["hook"] = {"type": "webhook", "url": server.url + "/hook", "max_attempts": 3, "backoff": 1.0}
    h.write("a.md", id="a", title="Rilis A")

    states = []
    for _ in range(4):
        states.append([o.state for o in h.run().outcomes])
        h.clock.advance(hours=1)

    assert states == [["failed"], ["failed"], ["dead"], []]
    dead = h.delivery("news/a", "hook")
    assert (dead.state, dead.attempts) == (DeliveryState.DEAD, 3)
    assert dead.last_error.endswith("(gave up after 3 attempts)")
    assert len(server.requests) == 3


# -- unknown outcomes and reconciliation --------------------------------------------------------------


def test_a_read_timeout_without_idempotency_is_unknown_and_never_called_again(h: Harness) -> None:
    h.channels["rec"] = {"type": "recorder"}
    h.journal.fail("rec", requests.ReadTimeout("read timed out"))
    h.write("a.md", id="a", title="Rilis A")

    first = h.run()
    h.clock.advance(hours=6)
    second = h.run()

    unknown = h.delivery("news/a", "rec")
    assert unknown.state is DeliveryState.UNKNOWN
    assert "outcome unknown (timed out)" in unknown.last_error
    assert [o.state for o in first.outcomes] == ["unknown"]
    assert second.outcomes == []
    assert (second.needs_operator, second.exit_code) == (1, 1)
    assert len(h.journal.calls) == 1


def test_after_a_crash_a_keyed_channel_is_retried_with_the_same_key(
    h: Harness, server: ScriptedServer
) -> None:
    server.script("POST", "/hook", Reply(201, json={"id": "w-1"}))
    h.channels["hook"] = {"type": "webhook", "url": server.url + "/hook"}
    h.write("a.md", id="a", title="Rilis A")
    crash_mid_call(h, "news/a", "hook")

    report = h.run()

    assert [(o.release_key, o.state) for o in report.outcomes] == [("news/a", "sent")]
    [request] = server.requests
    assert request.headers["Idempotency-Key"] == idempotency_key("news/a", "hook", content_hash(h, "news/a"))
    assert h.delivery("news/a", "hook").attempts == 2
    events = [(e.event, e.state) for e in h.ledger.events(release_key="news/a") if e.channel == "hook"]
    assert events == [
        ("planned", "pending"),
        ("in_flight", "in_flight"),
        ("interrupted", "unknown"),
        ("reconciled", "pending"),
        ("in_flight", "in_flight"),
        ("sent", "sent"),
    ]
    assert report.exit_code == 0


def test_after_a_crash_a_lookup_channel_that_finds_the_post_records_it_without_posting(h: Harness) -> None:
    h.channels["look"] = {"type": "recorder-lookup"}
    h.write("a.md", id="a", title="Rilis A")
    crash_mid_call(h, "news/a", "look")
    h.journal.found[("look", "news/a")] = Receipt(remote_id="77", url="https://look.test/77")

    report = h.run()

    assert h.journal.lookups == [("look", "news/a")]
    assert h.journal.calls == []
    sent = h.delivery("news/a", "look")
    assert sent.state is DeliveryState.SENT
    assert sent.receipt == Receipt(remote_id="77", url="https://look.test/77")
    assert report.exit_code == 0


def test_after_a_crash_a_lookup_channel_that_finds_nothing_posts(h: Harness) -> None:
    h.channels["look"] = {"type": "recorder-lookup"}
    h.write("a.md", id="a", title="Rilis A")
    crash_mid_call(h, "news/a", "look")

    report = h.run()

    assert h.journal.lookups == [("look", "news/a")]
    assert h.journal.sent_keys("look") == ["news/a"]
    assert h.delivery("news/a", "look").state is DeliveryState.SENT
    assert report.exit_code == 0


def test_after_a_crash_a_channel_without_idempotency_waits_for_the_operator(h: Harness) -> None:
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Rilis A")
    crash_mid_call(h, "news/a", "rec")

    report = h.run()
    h.clock.advance(days=1)
    later = h.run()

    assert h.journal.calls == []
    assert h.journal.lookups == []
    assert h.delivery("news/a", "rec").state is DeliveryState.UNKNOWN
    assert (report.needs_operator, report.exit_code) == (1, 1)
    assert (later.needs_operator, later.exit_code) == (1, 1)


# -- channel errors -----------------------------------------------------------------------------------


def test_refused_credentials_stop_calls_to_that_channel_while_others_deliver(h: Harness) -> None:
    h.channels["locked"] = {"type": "recorder", "concurrency": 1}
    h.channels["open"] = {"type": "recorder"}
    h.journal.fail("locked", AuthError("token revoked"), forever=True)
    for name in "abc":
        h.write(f"{name}.md", id=name, title=f"Rilis {name}")

    report = h.run()

    assert len(h.journal.calls_to("locked")) == 1
    assert sorted(h.journal.sent_keys("open")) == ["news/a", "news/b", "news/c"]
    locked = sorted(o.state for o in report.outcomes if o.channel == "locked")
    assert locked == ["dead", "skipped", "skipped"]
    states = sorted(d.state for d in h.ledger.deliveries(channel="locked"))
    assert states == [DeliveryState.DEAD, DeliveryState.PENDING, DeliveryState.PENDING]
    [dead] = h.ledger.deliveries(channel="locked", states=[DeliveryState.DEAD])
    assert dead.last_error == "credentials refused: token revoked"
    assert report.exit_code == 1


def test_a_render_error_is_dead_and_publish_is_never_called(h: Harness) -> None:
    h.channels["rec"] = {"type": "recorder"}
    h.journal.render_errors["rec"] = ValueError("template has {oops}")
    h.write("a.md", id="a", title="Rilis A")

    report = h.run()

    dead = h.delivery("news/a", "rec")
    assert dead.state is DeliveryState.DEAD
    assert dead.last_error == "render failed: template has {oops}"
    assert h.journal.calls == []
    assert [o.state for o in report.outcomes] == ["dead"]


class BrokenObserver:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def delivery_recorded(self, delivery: Delivery, event: str) -> None:
        self.calls += 1
        raise RuntimeError("metrics backend is down")


def test_a_failing_delivery_recorded_observer_does_not_change_outcomes(make: MakeHarness) -> None:
    observer = BrokenObserver()
    h = make(observer)
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Rilis A")
    h.write("b.md", id="b", title="Rilis B")

    report = h.run()

    assert observer.calls >= 4  # in_flight and sent, for each release
    assert sorted((o.release_key, o.state) for o in report.outcomes) == [
        ("news/a", "sent"),
        ("news/b", "sent"),
    ]
    assert [d.state for d in h.ledger.deliveries()] == [DeliveryState.SENT, DeliveryState.SENT]
    assert report.exit_code == 0


# -- backoff and keys ---------------------------------------------------------------------------------


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 40):
        ceiling = min(MAX_BACKOFF, 60.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= backoff_delay(attempt, 60.0, None, rng) <= ceiling
    assert backoff_delay(30, 60.0, None, rng) <= MAX_BACKOFF


def test_backoff_honours_a_longer_retry_after() -> None:
    rng = random.Random(7)
    assert backoff_delay(1, 60.0, 3600.0, rng) == 3600.0
    assert backoff_delay(1, 60.0, 2 * MAX_BACKOFF, rng) == 2 * MAX_BACKOFF  # the server knows best
    assert 120.0 <= backoff_delay(3, 60.0, 5.0, rng) <= 240.0  # a shorter one does not hurry us


def test_backoff_is_capped_for_any_number_of_attempts() -> None:
    assert backoff_delay(1100, 60.0, None, random.Random(7)) <= MAX_BACKOFF


def test_idempotency_key_is_stable_and_distinct_per_channel_and_content() -> None:
    key = idempotency_key("news/a", "hook", "sha256:" + "1" * 64)
    assert key == idempotency_key("news/a", "hook", "sha256:" + "1" * 64)
    assert key.startswith("syn-") and len(key) == 44
    assert key != idempotency_key("news/a", "other-hook", "sha256:" + "1" * 64)
    assert key != idempotency_key("news/a", "hook", "sha256:" + "2" * 64)
    assert key != idempotency_key("news/b", "hook", "sha256:" + "1" * 64)


# -- concurrency --------------------------------------------------------------------------------------


def test_a_channel_delivers_several_releases_at_once_up_to_its_concurrency(h: Harness) -> None:
    h.channels["rec"] = {"type": "recorder", "concurrency": 4}
    h.journal.delay = 0.2
    for n in range(8):
        h.write(f"r{n}.md", id=f"r{n}", title=f"Rilis {n}")

    report = h.run()

    assert 2 <= h.journal.max_active <= 4
    assert sorted(o.state for o in report.outcomes) == ["sent"] * 8
    assert len(h.journal.calls) == 8


def test_every_outcome_reported_is_already_on_disk(h: Harness) -> None:
    """Outcomes are queued for the next commit; none is reported (progress, summary) before
    another process reading the state file would see it."""
    from enginekit import closing_connection

    h.channels["rec"] = {"type": "recorder", "concurrency": 3}
    for n in range(9):
        h.write(f"r{n}.md", id=f"r{n}", title=f"Rilis {n}")
    seen: list[tuple[str, str]] = []

    def on_disk(outcome: object) -> None:
        with closing_connection(h.state_path) as conn:
            row = conn.execute(
                "SELECT state FROM deliveries JOIN releases ON id = release WHERE key = ? AND channel = 'rec'",
                (outcome.release_key,),  # type: ignore[attr-defined]
            ).fetchone()
        seen.append((outcome.state, row[0]))  # type: ignore[attr-defined]

    report = h.run(progress=on_disk)

    assert seen == [("sent", "sent")] * 9
    assert sorted(o.state for o in report.outcomes) == ["sent"] * 9


def test_a_paced_channel_records_each_outcome_before_waiting_its_turn(h: Harness) -> None:
    """The record of a finished call never waits on the next call's turn: a crash while a
    paced channel waits must not leave a delivered release ``in_flight``."""
    from enginekit import closing_connection

    h.channels["rec"] = {"type": "recorder", "rate": "4/s", "concurrency": 1}
    for n in range(3):
        h.write(f"r{n}.md", id=f"r{n}", title=f"Rilis {n}")
    happened: list[str] = []
    publish = h.journal.publish

    def publish_and_note(post: Post, ctx: ChannelContext) -> Receipt:
        happened.append(f"call {post.release_key}")
        return publish(post, ctx)

    def reported(outcome: object) -> None:
        key = outcome.release_key  # type: ignore[attr-defined]
        with closing_connection(h.state_path) as conn:
            (state,) = conn.execute(
                "SELECT state FROM deliveries JOIN releases ON id = release WHERE key = ?", (key,)
            ).fetchone()
        happened.append(f"{state} {key}")

    h.journal.publish = publish_and_note  # type: ignore[method-assign]
    h.run(progress=reported)

    # Each outcome is on disk and reported before the next call's turn comes.
    assert happened == [
        "call news/r0",
        "sent news/r0",
        "call news/r1",
        "sent news/r1",
        "call news/r2",
        "sent news/r2",
    ]


# -- bugs found ---------------------------------------------------------------------------------------


def test_a_failed_delivery_goes_out_with_the_new_content_after_edit_and_reapproval(h: Harness) -> None:
    h.channels["rec"] = {"type": "recorder", "backoff": 1.0}
    h.journal.fail("rec", TransientError("platform busy"))
    path = h.write("a.md", id="a", title="Versi satu")
    assert [o.state for o in h.run().outcomes] == ["failed"]

    h.clock.advance(hours=1)
    text = path.read_text(encoding="utf-8").replace("Versi satu", "Versi dua")
    write_file(path, text.replace("2026-11-09T10:30:00+08:00", "2026-11-09T11:30:00+08:00"))  # approved again
    h.run()
    h.clock.advance(hours=1)
    h.run()

    assert h.journal.sent_keys("rec") == ["news/a"]
    sent = h.delivery("news/a", "rec")
    assert sent.state is DeliveryState.SENT
    assert sent.content_hash == content_hash(h, "news/a")


class PlainHttpChannel(Channel):
    """POSTs with no idempotency key and lets requests' errors through, as a simple plugin would."""

    type = "plain-http"
    idempotency = "none"
    options = (Option("url", str, required=True),)

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        return Post(channel=ctx.name, release_key=release.key, text=release.title)

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        resp = ctx.http.post(ctx.options["url"], json={"text": post.text}, timeout=5)
        resp.raise_for_status()
        return Receipt(remote_id=str(resp.json()["id"]))


class PlainHttpPlugin:
    @hookimpl
    def register_channels(self, register: Callable[[type[Channel]], None]) -> None:
        register(PlainHttpChannel)


def test_a_connection_reset_after_sending_is_not_retried_blindly(
    make: MakeHarness, server: ScriptedServer
) -> None:
    server.script("POST", "/post", Reply.reset(), Reply(201, json={"id": 1}))
    h = make(PlainHttpPlugin())
    h.channels["plain"] = {"type": "plain-http", "url": server.url + "/post"}
    h.write("a.md", id="a", title="Rilis A")

    h.run()
    h.clock.advance(hours=1)
    h.run()

    assert len(server.requests) == 1  # the first POST reached the server before the reset
    assert h.delivery("news/a", "plain").state is DeliveryState.UNKNOWN


class Watcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, DeliveryState, str]] = []

    @hookimpl
    def delivery_recorded(self, delivery: Delivery, event: str) -> None:
        self.seen.append((delivery.release_key, delivery.channel, delivery.state, event))


def test_delivery_recorded_observers_hear_of_a_delivery_left_unknown_by_a_crash(make: MakeHarness) -> None:
    watcher = Watcher()
    h = make(watcher)
    h.channels["rec"] = {"type": "recorder"}
    h.write("a.md", id="a", title="Rilis A")
    crash_mid_call(h, "news/a", "rec")

    h.run()

    assert h.delivery("news/a", "rec").state is DeliveryState.UNKNOWN
    assert ("news/a", "rec", DeliveryState.UNKNOWN) in [s[:3] for s in watcher.seen]


def test_channels_share_the_delivery_threads_each_within_its_own_concurrency(h: Harness) -> None:
    for name in ("satu", "dua", "tiga"):
        h.channels[name] = {"type": "recorder", "concurrency": 1}
    h.channels.pop("rec", None)
    h.journal.delay = 0.2
    for n in range(4):
        h.write(f"r{n}.md", id=f"r{n}", title=f"Rilis {n}")

    h.run()

    assert 2 <= h.journal.max_active <= 3  # side by side, but one call at a time per channel
    for name in ("satu", "dua", "tiga"):  # one at a time, so in the planned order
        assert h.journal.sent_keys(name) == ["news/r0", "news/r1", "news/r2", "news/r3"]


def test_the_channel_queue_hands_out_in_order_within_limits_and_says_when_a_channel_is_done() -> None:
    """A slot is free once a call is over; a channel is done once all its outcomes are recorded."""
    from syndicator.channelqueue import ChannelQueue

    queue = ChannelQueue([("a", "x"), ("b", "y"), ("c", "x"), ("d", "x")], {"x": 2, "y": 1})
    assert queue.useful_workers() == 3
    assert [queue.take(), queue.take(), queue.take()] == [("a", "x"), ("b", "y"), ("c", "x")]
    queue.release("y")
    assert queue.settled("y") is True  # nothing more for y
    queue.release("x")  # "a"'s call is over, so "d" may go; "a" is not recorded yet
    assert queue.take() == ("d", "x")
    assert queue.take() is None  # all handed out
    assert queue.settled("x") is False  # "a" recorded; "c" and "d" are still open
    queue.release("x")
    queue.release("x")
    assert queue.settled("x") is False
    assert queue.settled("x") is True
