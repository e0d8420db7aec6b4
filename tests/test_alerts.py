"""Fail loudly: dead and unknown deliveries, refused credentials and stale sources reach the
operators' alert channels, once per problem while it lasts, and again if it comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import Harness

from syndicator.alerts import current_problems, send_alerts
from syndicator.engine import RunReport
from syndicator.errors import AuthError, PermanentError
from syndicator.models import DeliveryState


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.channels["social"] = {"type": "recorder", "max_attempts": 1, "sources": ["news"]}
    harness.channels["ops"] = {"type": "recorder", "sources": ["nothing"]}
    harness.sources["nothing"] = {"type": "directory", "path": "empty"}
    (tmp_path / "empty").mkdir()
    harness.extra_toml = '\n[alerts]\nchannels = ["ops"]\n'
    yield harness
    harness.close()


def alerts_sent(h: Harness) -> list[str]:
    return [c.release_key for c in h.journal.calls_to("ops")]


def test_a_dead_delivery_is_alerted_once_while_it_lasts(h: Harness) -> None:
    h.write("a.md", id="a", title="Jembatan dibuka")
    h.journal.fail("social", PermanentError("HTTP 400 bad request"), forever=True)
    engine = h.engine()
    report = engine.run()

    sent = send_alerts(engine, report)
    assert len(sent) == 1 and "news/a -> social: dead" in sent[0]
    assert len(alerts_sent(h)) == 1 and alerts_sent(h)[0].startswith("syndicator/alert-")

    engine = h.engine()
    assert send_alerts(engine, engine.run()) == []  # same problem: no second alert
    assert len(alerts_sent(h)) == 1


def test_a_problem_that_clears_and_comes_back_alerts_again(h: Harness) -> None:
    h.write("a.md", id="a", title="Jembatan dibuka")
    h.journal.fail("social", PermanentError("HTTP 400"), forever=True)
    engine = h.engine()
    send_alerts(engine, engine.run())
    engine.requeue("news/a", "social", "ops-team")
    assert send_alerts(engine, RunReport()) == []  # pending again: the problem is cleared
    engine = h.engine()
    report = engine.run()  # and dies again
    assert h.delivery("news/a", "social").state is DeliveryState.DEAD
    assert len(send_alerts(engine, report)) == 1
    assert len(alerts_sent(h)) == 2


def test_refused_credentials_are_a_problem_of_the_channel(h: Harness) -> None:
    h.write("a.md", id="a", title="Jembatan dibuka")
    h.journal.fail("social", AuthError("token expired"), forever=True)
    engine = h.engine()
    report = engine.run()
    keys = {p.key for p in current_problems(engine, report)}
    assert "auth:social" in keys


def test_a_source_with_nothing_new_for_stale_after_is_alerted(h: Harness) -> None:
    h.sources["news"]["stale_after"] = "2d"
    h.write("a.md", id="a", title="Jembatan dibuka")
    engine = h.engine()
    assert send_alerts(engine, engine.run()) == []
    h.clock.advance(days=3)
    engine = h.engine()
    sent = send_alerts(engine, engine.run())
    assert sent and "source news: nothing new since" in sent[0]


def test_without_alert_channels_problems_are_only_recorded(h: Harness) -> None:
    h.extra_toml = ""
    h.write("a.md", id="a", title="Jembatan dibuka")
    h.journal.fail("social", PermanentError("HTTP 400"), forever=True)
    engine = h.engine()
    assert send_alerts(engine, engine.run()) == []
    assert alerts_sent(h) == []


def test_alert_channels_must_be_configured(h: Harness) -> None:
    from syndicator.errors import ConfigError

    h.extra_toml = '\n[alerts]\nchannels = ["pager"]\nstale_after = "soon"\n'
    with pytest.raises(ConfigError) as info:
        h.engine()
    text = str(info.value)
    assert "[alerts] channels: no channel named 'pager'" in text
    assert "[alerts] stale_after: expected a duration" in text
