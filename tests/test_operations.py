"""What an operator does when something needs a person, end to end against a loopback platform:
retry, resolve, retract, corrections, pacing (rate, daily quota), export, doctor, history.

The commands run in this process through click's CliRunner with a fresh plugin manager (the
console script's path), on a config whose test channels live in its ``plugins_dir`` (see
``faultkit``). The channels' platform is a :class:`faultkit.ChannelServer` on 127.0.0.1.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faultkit import KEY, LOOKUP, NONE, ChannelServer, Setup, invoke, plugin_manager, status_json, write_setup

from syndicator.config import load_config
from syndicator.engine import Engine
from syndicator.ledger import Ledger, utcnow

OPERATOR = "Ana Operator"
APPROVED_AGAIN = "2026-11-09T12:00:00+08:00"  # a later approved_at: the edited file is approved again


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [k for k in os.environ if k.startswith("SYNDICATOR_")]:
        monkeypatch.delenv(name)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def server() -> Iterator[ChannelServer]:
    with ChannelServer(seed=23) as s:
        yield s


def state(setup: Setup, key: str, channel: str) -> dict[str, Any]:
    """One delivery as ``status --json`` shows it."""
    for release in status_json(setup)["releases"]:
        if release["key"] == key:
            return dict(release["deliveries"][channel])
    raise AssertionError(f"no release {key} in status")


def history(setup: Setup, key: str | None = None) -> list[dict[str, Any]]:
    args = ["history", "--json", "--limit", "100000", *([key] if key else [])]
    return list(json.loads(invoke(setup, *args).stdout))


def posts_to(server: ChannelServer, channel: str, key: str) -> int:
    """POSTs the platform received for ``key`` (whatever became of them)."""
    return len([a for a in server.arrivals(channel) if a.release == key])


def edit_and_approve_again(setup: Setup, rid: str, title: str, **fields: Any) -> None:
    setup.write_release(
        rid, title=title, approved_at=APPROVED_AGAIN, url=f"https://ppid.example.go.id/{rid}", **fields
    )


# -- retry ---------------------------------------------------------------------------------------------------


def test_retry_requeues_dead_and_failed_deliveries_by_channel_or_release_and_they_go_out_next_run(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(
        tmp_path,
        server,
        releases=2,
        channels={
            KEY: {"type": "webhook", "url": server.add(KEY, keyed=True), "max_attempts": 1},
            LOOKUP: {"type": "fault-lookup", "url": server.add(LOOKUP), "max_attempts": 1},
            NONE: {"type": "fault-none", "url": server.add(NONE), "backoff": 3600.0},
        },
    )
    for channel in (KEY, LOOKUP, NONE):
        server.script(channel, "news/r00", "500")
    invoke(setup, "run", expect=1)
    assert [state(setup, "news/r00", c)["state"] for c in (KEY, LOOKUP, NONE)] == ["dead", "dead", "failed"]

    assert invoke(setup, "retry", expect=2).exit_code == 2  # --by is required
    assert "give your name" in invoke(setup, "retry", "--by", "  ", expect=2).stderr

    by_channel = invoke(setup, "retry", "--channel", KEY, "--by", OPERATOR)
    assert by_channel.stdout.splitlines() == [
        f"requeued: news/r00 -> {KEY}",
        "1 deliveries requeued; they go out on the next run",
    ]
    invoke(setup, "run", expect=1)  # look is still dead; none waits an hour for its backoff
    assert server.count(KEY, "news/r00") == 1 and state(setup, "news/r00", KEY)["state"] == "sent"
    assert posts_to(server, LOOKUP, "news/r00") == posts_to(server, NONE, "news/r00") == 1

    by_release = invoke(setup, "retry", "news/r00", "--by", OPERATOR)
    assert sorted(by_release.stdout.splitlines()[:2]) == [
        f"requeued: news/r00 -> {LOOKUP}",
        f"requeued: news/r00 -> {NONE}",
    ]
    invoke(setup, "run")
    for channel in (KEY, LOOKUP, NONE):
        assert server.count(channel, "news/r00") == 1
        assert state(setup, "news/r00", channel)["state"] == "sent"
    assert invoke(setup, "retry", "--by", OPERATOR).stdout.strip() == "nothing to requeue"

    requeued = [e for e in history(setup, "news/r00") if e["event"] == "requeued"]
    assert [(e["channel"], e["actor"], e["state"]) for e in requeued] == [
        (KEY, OPERATOR, "pending"),
        (LOOKUP, OPERATOR, "pending"),
        (NONE, OPERATOR, "pending"),
    ]
    text = invoke(setup, "history", "news/r00").stdout
    assert f"requeued -> {KEY} by {OPERATOR}: was dead" in text
    assert f"requeued -> {NONE} by {OPERATOR}: was failed" in text


# -- resolve -------------------------------------------------------------------------------------------------


def test_resolve_settles_unknown_deliveries_sent_retry_or_abandon_and_refuses_a_sent_one(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(tmp_path, server, releases=4)
    for rid in ("r00", "r01", "r02"):  # reset after reading: the outcome cannot be known
        server.script(NONE, f"news/{rid}", "reset-lost")
    first = invoke(setup, "run", expect=1)
    assert "attention: 3 deliveries are dead or unknown" in first.stderr
    assert status_json(setup)["needs_operator"] == ["news/r00", "news/r01", "news/r02"]

    url = "https://none.example/posts/77"
    sent = invoke(setup, "resolve", "news/r00", "--channel", NONE, "--sent", url, "--by", OPERATOR)
    assert sent.stdout.strip() == f"resolved news/r00 -> {NONE}: found published at {url}"
    invoke(setup, "resolve", "news/r01", "--channel", NONE, "--retry", "--by", OPERATOR)
    invoke(setup, "resolve", "news/r02", "--channel", NONE, "--abandon", "--by", OPERATOR)

    settled = state(setup, "news/r00", NONE)
    assert (settled["state"], settled["url"]) == ("sent", url)
    invoke(setup, "run")
    invoke(setup, "run")
    assert posts_to(server, NONE, "news/r00") == 1  # only the first, reset, call: never posted again
    assert posts_to(server, NONE, "news/r01") == 2 and server.count(NONE, "news/r01") == 1  # sent once more
    assert posts_to(server, NONE, "news/r02") == 1  # abandoned: never posted again
    assert [state(setup, f"news/{r}", NONE)["state"] for r in ("r00", "r01", "r02")] == [
        "sent",
        "sent",
        "abandoned",
    ]
    assert status_json(setup)["needs_operator"] == []

    resolved = [e for e in history(setup) if e["event"] == "resolved"]
    assert [(e["release"], e["actor"], e["state"], e["url"]) for e in resolved] == [
        ("news/r00", OPERATOR, "sent", url),
        ("news/r01", OPERATOR, "pending", None),
        ("news/r02", OPERATOR, "abandoned", None),
    ]
    assert (
        f"resolved news/r00 -> {NONE} by {OPERATOR}: found published at {url}"
        in invoke(setup, "history").stdout
    )

    refused = invoke(setup, "resolve", "news/r03", "--channel", NONE, "--abandon", "--by", OPERATOR, expect=1)
    assert "news/r03 -> none is sent; only unknown or dead deliveries are resolved" in refused.stderr
    assert state(setup, "news/r03", NONE)["state"] == "sent"
    both = invoke(
        setup, "resolve", "news/r03", "--channel", NONE, "--retry", "--abandon", "--by", "x", expect=2
    )
    assert "exactly one of --sent URL, --retry or --abandon" in both.stderr


# -- retract -------------------------------------------------------------------------------------------------


def retract_channels(server: ChannelServer, **extra: Any) -> dict[str, dict[str, Any]]:
    return {
        KEY: {"type": "webhook", "url": server.add(KEY, keyed=True), **extra},
        "del": {"type": "fault-editable", "url": server.add("del"), **extra},
        "notice": {"type": "fault-none", "url": server.add("notice"), "retraction_notice": True, **extra},
        "plain": {"type": "fault-none", "url": server.add("plain"), **extra},
    }


def test_retract_deletes_where_it_can_posts_a_notice_where_configured_and_leaves_the_rest_recorded(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(tmp_path, server, releases=2, channels=retract_channels(server))
    invoke(setup, "run")
    original = {c: state(setup, "news/r00", c) for c in (KEY, "del", "notice", "plain")}
    [deletable] = server.posts("del", "news/r00")
    reason = "Angka anggaran dalam siaran ini keliru"

    result = invoke(setup, "retract", "news/r00", "--by", OPERATOR, "--reason", reason)

    lines = result.stdout.splitlines()
    assert lines[0] == f"retracted news/r00 (Siaran pers r00) by {OPERATOR}"
    assert sorted(lines[1:]) == [
        "retract: del",
        "retract: notice",
        f"retracted: {KEY} (left in place: webhook cannot delete)",
        "retracted: plain (left in place: fault-none cannot delete)",
    ]
    # delete(), with the receipt of the original post
    [delete] = server.arrivals("del", method="DELETE")
    assert delete.key == deletable.id and deletable.deleted
    # a notice post, naming the reason and linking the original
    [notice] = [p for p in server.posts("notice", "news/r00") if p.kind == "retraction"]
    assert notice.text.startswith("Retracted: Siaran pers r00")
    assert reason in notice.text and original["notice"]["url"] in notice.text
    # the others: nothing sent, recorded as retracted
    assert posts_to(server, KEY, "news/r00") == posts_to(server, "plain", "news/r00") == 1
    for channel in (KEY, "del", "notice", "plain"):
        assert state(setup, "news/r00", channel)["state"] == "retracted"
    [release] = [r for r in status_json(setup)["releases"] if r["key"] == "news/r00"]
    assert (release["state"], release["reason"]) == ("retracted", reason)
    events = [e for e in history(setup, "news/r00") if e["actor"] == OPERATOR]
    assert events[0]["event"] == "retracted" and events[0]["detail"] == reason
    assert {e["channel"] for e in events if e["state"] == "retracted"} == {KEY, "del", "notice", "plain"}
    assert f"retracted news/r00 by {OPERATOR}: {reason}" in invoke(setup, "history").stdout

    calls = len(server.arrivals(method="POST"))
    invoke(setup, "run")
    assert len(server.arrivals(method="POST")) == calls  # nothing more, and r01 is untouched
    assert state(setup, "news/r01", "del")["state"] == "sent"


def test_a_release_retracted_before_it_was_sent_is_never_sent(tmp_path: Path, server: ChannelServer) -> None:
    setup = write_setup(tmp_path, server, releases=2, channels=retract_channels(server, backoff=3600.0))
    for channel in (KEY, "del", "notice", "plain"):
        server.script(channel, "news/r00", "500")
    invoke(setup, "run", expect=1)
    # and one that was never approved, so never planned anywhere
    setup.write_release("r02", status="review", approved_by=None, approved_at=None)
    invoke(setup, "run")

    invoke(setup, "retract", "news/r00", "--by", OPERATOR, "--reason", "dibatalkan")
    invoke(setup, "retract", "news/r02", "--by", OPERATOR, "--reason", "dibatalkan")
    setup.write_release("r02")  # approved after all: it stays retracted
    invoke(setup, "run")
    invoke(setup, "retry", "--by", OPERATOR)
    invoke(setup, "run")

    for channel in (KEY, "del", "notice", "plain"):
        assert posts_to(server, channel, "news/r00") == 1  # the failed first call, never another
        assert posts_to(server, channel, "news/r02") == 0
        assert state(setup, "news/r00", channel)["state"] == "abandoned"
    assert server.arrivals(method="DELETE") == []
    abandoned = [e for e in history(setup, "news/r00") if e["event"] == "abandoned"]
    assert len(abandoned) == 4 and {e["actor"] for e in abandoned} == {OPERATOR}


def test_a_webhook_with_retraction_notice_posts_the_notice(tmp_path: Path, server: ChannelServer) -> None:
    channels = {KEY: {"type": "webhook", "url": server.add(KEY, keyed=True), "retraction_notice": True}}
    setup = write_setup(tmp_path, server, releases=1, channels=channels)
    invoke(setup, "run")

    result = invoke(setup, "retract", "news/r00", "--by", OPERATOR, "--reason", "keliru", expect=None)

    assert posts_to(server, KEY, "news/r00") == 2, result.stdout + result.stderr
    assert result.exit_code == 0 and state(setup, "news/r00", KEY)["state"] == "retracted"


def test_retracting_a_release_whose_correction_is_still_pending_withdraws_the_published_post(
    tmp_path: Path, server: ChannelServer
) -> None:
    channels = {"notice": {"type": "fault-none", "url": server.add("notice"), "retraction_notice": True}}
    setup = write_setup(tmp_path, server, releases=1, channels=channels)
    invoke(setup, "run")
    edit_and_approve_again(setup, "r00", "Siaran pers r00 (diperbaiki)")
    server.script("notice", "news/r00", "500")
    invoke(setup, "run", expect=1)  # the correction post failed; it would be retried
    assert state(setup, "news/r00", "notice")["state"] == "failed"

    invoke(setup, "retract", "news/r00", "--by", OPERATOR, "--reason", "dibatalkan", expect=None)
    invoke(setup, "run", expect=None)

    kinds = [p.kind for p in server.posts("notice", "news/r00")]
    assert kinds == ["post", "retraction"], kinds


# -- corrections ---------------------------------------------------------------------------------------------


def test_an_edited_release_approved_again_is_updated_where_the_channel_can_edit_and_corrected_elsewhere(
    tmp_path: Path, server: ChannelServer
) -> None:
    channels = {
        "edit": {"type": "fault-editable", "url": server.add("edit")},
        "edit-correct": {"type": "fault-editable", "url": server.add("edit-correct"), "on_change": "correct"},
        "plain": {"type": "fault-none", "url": server.add("plain")},
        "ignore": {"type": "fault-none", "url": server.add("ignore"), "on_change": "ignore"},
    }
    setup = write_setup(tmp_path, server, releases=2, channels=channels)
    setup.write_release("r01", language="id", url="https://ppid.example.go.id/r01")
    invoke(setup, "run")
    first = {(c, k): state(setup, k, c)["url"] for c in channels for k in ("news/r00", "news/r01")}
    [edited] = server.posts("edit", "news/r00")

    setup.write_release("r00", title="Changed, not approved", url="https://ppid.example.go.id/r00")
    invoke(setup, "run")
    assert len(server.arrivals(method="POST")) == 8 and server.arrivals(method="PUT") == []  # held

    edit_and_approve_again(setup, "r00", "Jembatan dibuka 12 November")
    edit_and_approve_again(setup, "r01", "Jembatan dibuka 13 November", language="id")
    result = invoke(setup, "run")

    # on_change = "update" on a channel that can edit: update() with the original receipt
    [put, _] = sorted(server.arrivals("edit", method="PUT"), key=lambda a: a.release)
    assert (put.release, put.key) == ("news/r00", edited.id)
    assert edited.edits == ["Jembatan dibuka 12 November\nhttps://ppid.example.go.id/r00"]
    assert server.count("edit", "news/r00") == 1  # no new post
    # a correction post linking the original, in the release's language
    for channel in ("edit-correct", "plain"):
        [en] = [p for p in server.posts(channel, "news/r00") if p.kind == "correction"]
        assert en.text.startswith("Correction: Jembatan dibuka 12 November")
        assert en.text.endswith(f"Original: {first[(channel, 'news/r00')]}")
        [id_] = [p for p in server.posts(channel, "news/r01") if p.kind == "correction"]
        assert id_.text.startswith("Ralat: Jembatan dibuka 13 November")
        assert id_.text.endswith(f"Tautan asli: {first[(channel, 'news/r01')]}")
        assert (
            state(setup, "news/r00", channel)["url"] == first[(channel, "news/r00")]
        )  # the original stays the reference
    # on_change = "ignore": nothing
    assert posts_to(server, "ignore", "news/r00") == 1
    assert "updated: news/r00 -> edit" in result.stdout and "corrected: news/r00 -> plain" in result.stdout
    invoke(setup, "run")
    assert len(server.arrivals(method="POST")) == 12 and len(server.arrivals(method="PUT")) == 2  # once


def test_a_webhook_correction_says_it_is_a_correction(tmp_path: Path, server: ChannelServer) -> None:
    setup = write_setup(
        tmp_path, server, releases=1, channels={KEY: {"type": "webhook", "url": server.add(KEY, keyed=True)}}
    )
    invoke(setup, "run")
    edit_and_approve_again(setup, "r00", "Jembatan dibuka 12 November")
    invoke(setup, "run")

    [_, correction] = server.posts(KEY, "news/r00")
    assert correction.text.startswith("Correction: Jembatan dibuka 12 November"), correction.text


def test_a_correction_whose_outcome_is_unknown_on_a_lookup_channel_is_not_marked_sent_unpublished(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(
        tmp_path, server, releases=1, channels={LOOKUP: {"type": "fault-lookup", "url": server.add(LOOKUP)}}
    )
    invoke(setup, "run")
    edit_and_approve_again(setup, "r00", "Jembatan dibuka 12 November")
    server.script(LOOKUP, "news/r00", "reset-lost")  # the correction never reached the platform
    invoke(setup, "run", expect=1)
    assert state(setup, "news/r00", LOOKUP)["state"] == "unknown"

    invoke(setup, "run", expect=None)
    invoke(setup, "run", expect=None)

    published = server.count(LOOKUP, "news/r00", kind="correction")
    settled = state(setup, "news/r00", LOOKUP)["state"]
    assert published == 1 or settled == "unknown", (published, settled)


def test_a_retraction_notice_whose_outcome_is_unknown_on_a_lookup_channel_is_not_settled_by_the_original(
    tmp_path: Path, server: ChannelServer
) -> None:
    channels = {LOOKUP: {"type": "fault-lookup", "url": server.add(LOOKUP), "retraction_notice": True}}
    setup = write_setup(tmp_path, server, releases=1, channels=channels)
    invoke(setup, "run")
    server.script(LOOKUP, "news/r00", "reset-lost")  # the notice never reached the platform
    invoke(setup, "retract", "news/r00", "--by", OPERATOR, "--reason", "keliru", expect=1)

    invoke(setup, "run", expect=None)

    published = server.count(LOOKUP, "news/r00", kind="retraction")
    settled = state(setup, "news/r00", LOOKUP)["state"]
    assert (published, settled) in ((1, "retracted"), (0, "unknown")), (published, settled)


# -- pacing: rate and daily quota ------------------------------------------------------------------------------


def test_a_rate_of_5_per_second_spreads_the_calls(tmp_path: Path, server: ChannelServer) -> None:
    channels = {"paced": {"type": "fault-none", "url": server.add("paced"), "rate": "5/s", "concurrency": 4}}
    setup = write_setup(tmp_path, server, releases=8, channels=channels)

    invoke(setup, "run")

    times = sorted(a.at for a in server.arrivals("paced"))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 8
    assert statistics.median(gaps) >= 0.18, gaps  # 0.2 s apart, less a little noise
    assert times[-1] - times[0] >= 7 * 0.2 * 0.9, gaps  # spread, not dropped


def test_a_daily_quota_of_2_sends_two_urgent_first_and_the_rest_24_hours_later(
    tmp_path: Path, server: ChannelServer
) -> None:
    channels = {
        "quota": {"type": "fault-none", "url": server.add("quota"), "daily_quota": 2, "concurrency": 1}
    }
    setup = write_setup(tmp_path, server, releases=4, channels=channels)
    setup.write_release("r03", priority="urgent", url="https://ppid.example.go.id/r03")

    result = invoke(setup, "run")

    assert [a.release for a in server.arrivals("quota")] == ["news/r03", "news/r00"]
    waiting = [line for line in result.stdout.splitlines() if line.startswith("waiting: ")]
    assert [line.split()[1] for line in waiting] == ["news/r01", "news/r02"]
    assert all("daily quota of 2 calls reached; next slot at" in line for line in waiting), waiting
    assert [state(setup, f"news/r0{n}", "quota")["state"] for n in range(4)] == [
        "sent",
        "pending",
        "pending",
        "sent",
    ]
    invoke(setup, "run")  # the same day: still waiting
    assert len(server.arrivals("quota")) == 2

    pm = plugin_manager()
    config = load_config(setup.config, pm, environ={})
    later = utcnow() + timedelta(hours=24, minutes=1)
    with Ledger.open(setup.state) as ledger:
        report = Engine(config, pm, ledger, now=lambda: later).run()
    assert sorted(o.state for o in report.outcomes) == ["sent", "sent"]
    assert sorted(a.release for a in server.arrivals("quota")) == [f"news/r0{n}" for n in range(4)]


def test_status_says_a_delivery_waits_for_the_daily_quota(tmp_path: Path, server: ChannelServer) -> None:
    channels = {"x": {"type": "fault-none", "url": server.add("x"), "daily_quota": 1}}
    setup = write_setup(tmp_path, server, releases=2, channels=channels)
    invoke(setup, "run")

    text = invoke(setup, "status").stdout
    [waiting] = [r for r in status_json(setup)["releases"] if r["state"] == "due"]

    assert "x (fault-none): 1 pending, 1 sent; daily quota of 1 used; next slot " in text, text
    assert waiting["reason"].startswith("next run: x (daily quota of 1 used; next slot "), waiting


# -- export, doctor ------------------------------------------------------------------------------------------


def test_export_csv_and_jsonl_carry_actor_attempt_remote_id_url_and_payload_hash_within_the_dates(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(tmp_path, server, releases=2, backoff=0.05)
    server.script(KEY, "news/r00", "500")
    invoke(setup, "run", expect=1)
    time.sleep(0.2)  # past the backoff
    invoke(setup, "run")
    today = datetime.now(UTC).date()

    rows = list(csv.DictReader(io.StringIO(invoke(setup, "export", "--since", str(today)).stdout)))
    lines = invoke(setup, "export", "--since", str(today), "--until", str(today), "--format", "jsonl").stdout
    records = [json.loads(line) for line in lines.splitlines()]

    assert len(rows) == len(records) == len(history(setup)) > 0
    for sent in ([r for r in rows if r["event"] == "sent"], [r for r in records if r["event"] == "sent"]):
        assert len(sent) == 6
        for event in sent:
            assert event["actor"] == "cron"  # an unattended run (no terminal)
            assert str(event["attempt"]) in ("1", "2")
            assert event["remote_id"] and event["url"].startswith(server.url)
            assert str(event["payload_hash"]).startswith("sha256:")
        retried = [e for e in sent if e["release"] == "news/r00" and e["channel"] == KEY]
        assert [str(e["attempt"]) for e in retried] == ["2"]
    in_flight = {
        (r["release"], r["channel"], r["attempt"]): r["payload_hash"]
        for r in records
        if r["event"] == "in_flight"
    }
    for r in records:
        if r["event"] == "sent":  # the hash of what the call carried, recorded before and after it
            assert r["payload_hash"] == in_flight[(r["release"], r["channel"], r["attempt"])]

    header = ",".join(rows[0])
    assert invoke(setup, "export", "--since", str(today + timedelta(days=1))).stdout.splitlines() == [header]
    assert (
        invoke(
            setup,
            "export",
            "--since",
            "2020-01-01",
            "--until",
            str(today - timedelta(days=1)),
            "--format",
            "jsonl",
        ).stdout
        == ""
    )
    out = tmp_path / "audit.csv"
    written = invoke(setup, "export", "--since", str(today), "-o", str(out))
    assert written.stderr.strip() == f"{len(rows)} events written"
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == len(rows)


def test_the_payload_hash_of_a_webhook_delivery_is_the_sha256_of_the_body_sent(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(
        tmp_path, server, releases=1, channels={KEY: {"type": "webhook", "url": server.add(KEY, keyed=True)}}
    )
    invoke(setup, "run")

    [arrival] = server.arrivals(KEY)
    [sent] = [e for e in history(setup) if e["event"] == "sent"]
    assert sent["payload_hash"] == arrival.digest


def test_doctor_passes_a_good_installation_and_names_a_channel_whose_check_fails(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(tmp_path, server, releases=1)

    good = invoke(setup, "doctor")
    assert good.stdout.splitlines()[0].startswith(f"ok: config: {setup.config}")
    assert f"ok: state: {setup.state}: ok" in good.stdout
    assert f"ok: channel {KEY}: reachable (HTTP 200)" in good.stdout
    assert f"ok: channel {NONE}: ok (fault server)" in good.stdout

    setup.channels["broken"] = {
        "type": "fault-none",
        "url": server.add("broken"),
        "check_error": "token revoked",
    }
    setup.rewrite_config()
    bad = invoke(setup, "doctor", expect=1)
    assert bad.stderr.strip() == "FAIL: channel broken: token revoked"
    assert f"ok: channel {LOOKUP}" in bad.stdout  # the others are still checked
    assert server.arrivals(method="POST") == []  # a check never posts


def test_history_names_the_operator_of_each_operator_action(tmp_path: Path, server: ChannelServer) -> None:
    setup = write_setup(tmp_path, server, releases=3, channels=retract_channels(server, max_attempts=1))
    server.script("plain", "news/r01", "500")
    server.script("notice", "news/r02", "reset-lost")
    invoke(setup, "run", expect=1)
    invoke(setup, "retry", "--by", "Budi")
    invoke(setup, "resolve", "news/r02", "--channel", "notice", "--abandon", "--by", "Citra")
    invoke(setup, "retract", "news/r00", "--by", "Dewi", "--reason", "keliru")
    invoke(setup, "approve", "news/r01", "--by", "Eko")

    text = invoke(setup, "history").stdout
    assert "requeued news/r01 -> plain by Budi: was dead" in text
    assert "resolved news/r02 -> notice by Citra: abandoned" in text
    assert "retracted news/r00 by Dewi: keliru" in text
    assert "retracted news/r00 -> del by Dewi" in text
    assert "approved news/r01 by Eko: by cli" in text
    calls = {(e["detail"].split(",")[0], e["actor"]) for e in history(setup) if e["event"] == "in_flight"}
    assert calls == {("publish", "cron"), ("retract", "Dewi")}  # an unattended run is "cron"
    # the retractions it queued are the operator's too
    assert {e["actor"] for e in history(setup, "news/r00") if e["event"] == "replanned"} == {"Dewi"}
