"""The fault-injection suite of "Delivery you can trust": crashes, a flaky platform, overlapping
runs and storage faults, against real ``syndicator`` processes and a loopback channel server.

Always runs (no marker); everything is on 127.0.0.1 and seeded. The crash figures (trials,
kills, deliveries, duplicates, losses) are printed whatever the capture mode, recorded as the
test's properties, and written to ``crash_figures.json`` in pytest's base temp folder;
``benchmarks/soak_crash.py`` runs the same loop for longer.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shlex
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faultkit import (
    KEY,
    LOOKUP,
    NONE,
    ChannelServer,
    Figures,
    Setup,
    crash_trial,
    delivery_states,
    plugin_manager,
    run,
    start,
    subprocess_env,
    write_setup,
)

from syndicator.config import load_config
from syndicator.engine import Engine
from syndicator.ledger import Ledger
from syndicator.models import Delivery, DeliveryState

#: Seeds of the crash trials; each trial SIGKILLs KILLS_PER_TRIAL runs of one installation
#: (a few more trials follow if runs that ended on their own left fewer than MIN_KILLS kills).
CRASH_SEEDS = range(6)
KILLS_PER_TRIAL = 9
MIN_KILLS = 50


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
    with ChannelServer(seed=11) as s:
        yield s


# -- crash: SIGKILL mid fan-out, then recovery ------------------------------------------------------------


def test_sigkill_mid_fan_out_never_duplicates_and_never_loses(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At least 50 SIGKILLs of real `syndicator run` processes fanning 20 releases (and one
    more after each kill) out to three channels; after recovery runs: exactly once on the key
    and lookup channels (the server counts posts), at most once on the channel with neither,
    where each release is either delivered or shown `unknown`; nothing lost."""
    figures = Figures()
    started = time.monotonic()
    seeds = list(CRASH_SEEDS)
    while seeds:
        seed = seeds.pop(0)
        figures.add(crash_trial(tmp_path / f"trial-{seed}", seed, kills=KILLS_PER_TRIAL))
        if not seeds and figures.kills < MIN_KILLS and seed < 100 + 3:  # a run ended before its kill
            seeds.append(max(seed + 1, 100))
    figures.seconds = time.monotonic() - started

    out = tmp_path_factory.getbasetemp() / "crash_figures.json"
    out.write_text(json.dumps(figures.to_dict(), indent=2) + "\n", encoding="utf-8")
    for name, value in figures.to_dict().items():
        if name != "problems":
            record_property(f"crash_{name}", value)
    with capsys.disabled():
        print(f"\ncrash figures: {figures.summary()} ({out})")

    assert figures.kills >= MIN_KILLS, figures.summary()
    assert (figures.duplicates, figures.losses, figures.problems) == (0, 0, []), figures.summary()
    assert figures.deliveries >= figures.releases * 3 - figures.unknown, figures.summary()


# -- a flaky platform ------------------------------------------------------------------------------------------

FLAKY_RUNS = 40
FLAKY_SEED = 5


def test_sigkill_during_a_head_start_never_duplicates_and_never_loses(tmp_path: Path) -> None:
    """Each run's folder releases go out while a slow feed is still being read, and the
    kills land there: the next runs settle what was in flight before anything else."""
    result = crash_trial(tmp_path, seed=31, kills=6, slow_feed=0.4)

    assert result.kills >= 4 and result.kills_mid_fan_out >= 2, result
    assert result.duplicates == 0 and result.losses == 0, result.problems


def test_a_flaky_platform_gets_everything_sent_within_bounded_runs_and_retry_after_is_honoured(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """30% of POSTs fail: 500, 429 + Retry-After: 1, a hang past the 0.5 s timeout (the post
    lands) or a reset after reading (the post lands or not). Runs follow each other in real
    time, as fast as the backoff (0.05 s base) allows."""
    with ChannelServer(
        seed=FLAKY_SEED, p500=0.075, p429=0.075, phang=0.075, preset=0.075, hang=1.0
    ) as server:
        setup = write_setup(
            tmp_path, server, releases=10, concurrency=4, timeout=0.5, backoff=0.05, max_attempts=30
        )
        # Beyond the seeded odds, every kind of fault on every channel at least once:
        for n, channel in enumerate((KEY, LOOKUP, NONE)):
            server.script(channel, f"news/r0{n}", "hang")
            server.script(channel, f"news/r0{n + 3}", "reset-landed")
            server.script(channel, f"news/r0{n + 6}", "reset-lost")
            server.script(channel, f"news/r0{n + 1}", "429", "500")
        runs, final = _run_until_settled(setup, FLAKY_RUNS)

        served = server.faults_served()
        record_property("flaky_runs", runs)
        record_property("flaky_faults", dict(served))
        assert served["500"] and served["429"] and served["hang"], served
        assert served["reset-landed"] + served["reset-lost"], served
        assert _settled_states(final), f"not settled after {runs} runs: {_states(final)}"
        assert server.violations == [], "calls before their Retry-After"
        retried_after_429 = [
            a for a in server.arrivals() if a.not_before is not None and a.at >= a.not_before
        ]
        assert retried_after_429, "no 429 was ever retried: the Retry-After check saw nothing"
        for key in setup.keys:
            assert final[(key, KEY)].state is DeliveryState.SENT
            assert final[(key, LOOKUP)].state is DeliveryState.SENT
            assert server.count(KEY, key) == 1, server.posts(KEY, key)
            assert server.count(LOOKUP, key) == 1, server.posts(LOOKUP, key)
            assert server.count(NONE, key) <= 1, server.posts(NONE, key)
            calls = [a for a in server.arrivals(NONE) if a.release == key]
            if final[(key, NONE)].state is DeliveryState.UNKNOWN:
                # a timeout or a reset after sending: never called again
                assert calls[-1].fault in ("hang", "reset-landed", "reset-lost"), calls
                assert all(c.fault in ("500", "429") for c in calls[:-1]), calls
            else:
                assert final[(key, NONE)].state is DeliveryState.SENT
                assert server.count(NONE, key) == 1
                assert all(c.fault in ("500", "429", "ok") for c in calls), calls
        # every keyed retry reused the key of the first call
        for key in setup.keys:
            assert len({a.key for a in server.arrivals(KEY) if a.release == key}) == 1


def test_a_retry_after_given_as_an_http_date_is_honoured(tmp_path: Path) -> None:
    with ChannelServer(seed=8, retry_after=1, retry_after_date=True) as server:
        setup = write_setup(tmp_path, server, releases=2, backoff=0.01, max_attempts=10)
        for channel in (KEY, LOOKUP, NONE):
            server.script(channel, "news/r00", "429")
        _, final = _run_until_settled(setup, 10)

        assert {d.state for d in final.values()} == {DeliveryState.SENT}, _states(final)

        later = [a for a in server.arrivals() if a.not_before is not None]
        assert len(later) == 3 and server.violations == [], (later, server.violations)
        for channel in (KEY, LOOKUP, NONE):
            assert server.count(channel, "news/r00") == 1


def _run_until_settled(setup: Setup, limit: int) -> tuple[int, dict[tuple[str, str], Delivery]]:
    """Runs in this process, one after the other in real time, each as soon as the earliest
    retry is due, until everything is settled (or ``limit`` runs); the runs and the deliveries."""
    pm = plugin_manager()
    config = load_config(setup.config, pm, environ={})
    runs = 0
    with Ledger.open(setup.state) as ledger:
        while runs < limit:
            runs += 1
            Engine(config, pm, ledger).run()
            if _settled_states({(d.release_key, d.channel): d for d in ledger.deliveries()}):
                break
            due = [d.next_attempt_at for d in ledger.deliveries(states=[DeliveryState.FAILED])]
            wait = min((t - datetime.now(UTC)).total_seconds() for t in due if t) if any(due) else 0.0
            time.sleep(min(max(wait, 0.02), 2.0))
        return runs, {(d.release_key, d.channel): d for d in ledger.deliveries()}


def _settled_states(deliveries: dict[tuple[str, str], Delivery]) -> bool:
    """Sent everywhere, except `unknown` on the channel with neither key nor lookup."""
    for (_, channel), d in deliveries.items():
        if channel == NONE and d.state in (DeliveryState.SENT, DeliveryState.UNKNOWN):
            continue
        if d.state is not DeliveryState.SENT:
            return False
    return bool(deliveries)


def _states(deliveries: dict[tuple[str, str], Delivery]) -> dict[str, str]:
    return {f"{k[0]} -> {k[1]}": str(d.state) for k, d in deliveries.items()}


# -- overlapping runs ----------------------------------------------------------------------------------------


def test_two_runs_started_together_one_exits_75_with_one_line_and_nothing_is_sent_twice(
    tmp_path: Path,
) -> None:
    with ChannelServer(seed=3, latency=0.6) as server:
        setup = write_setup(tmp_path, server, releases=4, concurrency=1)
        procs = [start(setup), start(setup)]
        done = [p.communicate(timeout=60) for p in procs]
        codes = [p.returncode for p in procs]

        assert sorted(codes) == [0, 75], (codes, done)
        out, err = done[codes.index(75)]
        assert out == ""
        assert len(err.splitlines()) == 1, err
        assert "another syndicator run holds" in err and str(setup.state) in err, err
        for key in setup.keys:
            for channel in (KEY, LOOKUP, NONE):
                assert len([a for a in server.arrivals(channel) if a.release == key]) == 1
                assert server.count(channel, key) == 1
        assert set(delivery_states(setup).values()) == {"sent"}


# -- storage faults ------------------------------------------------------------------------------------------


def _claimed(db: Path) -> int:
    """Deliveries in the state file that are in_flight or sent (read without disturbing the run)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        sql = "SELECT COUNT(*) FROM deliveries WHERE state IN ('in_flight', 'sent')"
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _ready_with_work(tmp_path: Path, server: ChannelServer) -> Setup:
    """An installation after one run, with two new approved releases waiting to go out."""
    setup = write_setup(tmp_path, server, releases=2, concurrency=1)
    assert run(setup).returncode == 0
    setup.write_release("new-1")
    setup.write_release("new-2")
    return setup


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_corrupt_state_file_is_exit_2_naming_it_and_is_left_untouched(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = write_setup(tmp_path, server, releases=2)
    setup.state.parent.mkdir(parents=True)
    garbage = random.Random(4).randbytes(16384)
    setup.state.write_bytes(garbage)

    done = run(setup)

    assert done.returncode == 2, done
    assert done.stderr.strip() == f"error: {setup.state}: cannot open the state file: file is not a database"
    assert "Traceback" not in done.stderr
    assert setup.state.read_bytes() == garbage
    assert sorted(p.name for p in setup.state.parent.iterdir()) == ["syndicator.db", "syndicator.db.lock"]
    assert server.post_count() == 0


def test_a_state_file_with_damaged_pages_is_exit_2_naming_it(tmp_path: Path, server: ChannelServer) -> None:
    setup = _ready_with_work(tmp_path, server)
    data = bytearray(setup.state.read_bytes())
    rng = random.Random(6)
    for page in range(2, len(data) // 4096):  # keep page 1 (the header and schema); damage the rest
        data[page * 4096 + 100 : page * 4096 + 4000] = rng.randbytes(3900)
    setup.state.write_bytes(bytes(data))
    posts = server.post_count()

    done = run(setup)

    assert server.post_count() == posts  # nothing sent: true today as well
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2 and str(setup.state) in done.stderr, done


def test_a_state_path_under_a_regular_file_is_exit_2_naming_it(tmp_path: Path, server: ChannelServer) -> None:
    setup = write_setup(tmp_path, server, releases=2)
    blocker = tmp_path / "state"
    blocker.write_text("not a folder\n", encoding="utf-8")

    done = run(setup)

    assert done.returncode == 2, done
    assert len(done.stderr.splitlines()) == 1 and str(blocker) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"
    assert server.post_count() == 0


def _private_mounts() -> str:
    """ "" if this process may mount inside a private mount namespace (root, unshare, mount), else why not."""
    if os.geteuid() != 0:
        return "needs root to mount in a private mount namespace"
    if not (shutil.which("unshare") and shutil.which("mount")):
        return "unshare or mount is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if probe.returncode == 0 else f"cannot mount in a private namespace: {probe.stderr.strip()}"


def _in_private_mounts(setup: Setup, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) in a private mount namespace; ``$RUN`` is the `syndicator run` command.
    The mounts vanish with the process: nothing outside the test's folder is touched."""
    cmd = " ".join(shlex.quote(a) for a in setup.argv("run"))
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script.replace("$RUN", cmd)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=False,
    )


def test_a_read_only_state_folder_is_exit_2_naming_it_and_nothing_is_sent_or_written(
    tmp_path: Path, server: ChannelServer
) -> None:
    setup = _ready_with_work(tmp_path, server)
    folder = setup.state.parent
    before, posts = _dump(setup.state), server.post_count()
    if os.geteuid() != 0:  # an ordinary user: permissions are enough
        folder.chmod(0o555)
        try:
            done = run(setup)
        finally:
            folder.chmod(0o755)
    else:  # root writes through permissions: a read-only bind mount in a private namespace
        why = _private_mounts()
        if why:
            pytest.skip(f"running as root, where chmod does not stop writes, and {why}")
        done = _in_private_mounts(
            setup, f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && $RUN"
        )

    assert done.returncode == 2, done
    assert len(done.stderr.splitlines()) == 1 and str(folder) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert server.post_count() == posts
    assert _dump(setup.state) == before


def _fill_and_run(setup: Setup, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run `syndicator run` with the state folder on a tmpfs that is full; returns the result and a
    copy of the folder as the run left it."""
    folder, hold, after = setup.state.parent, tmp_path / "hold", tmp_path / "after"
    hold.mkdir()
    after.mkdir()
    script = (
        f"cp -a {folder}/. {hold}/ && mount -t tmpfs -o size=1m tmpfs {folder} && cp -a {hold}/. {folder}/"
        f" && (dd if=/dev/zero of={folder}/filler bs=1k 2>/dev/null; true)"
        f" && $RUN; rc=$?; rm -f {folder}/filler; cp -a {folder}/. {after}/; exit $rc"
    )
    return _in_private_mounts(setup, script), after


def test_a_full_state_disk_is_exit_2_naming_the_file_and_nothing_is_sent_or_kept(
    tmp_path: Path, server: ChannelServer
) -> None:
    why = _private_mounts()
    if why:
        pytest.skip(f"a full disk is simulated with a small tmpfs: {why}")
    setup = _ready_with_work(tmp_path, server)
    # A lock file that already holds a line, so taking the lock needs no new block (see the
    # next test for the empty lock file every run leaves behind).
    setup.state.with_name("syndicator.db.lock").write_text("4242\n", encoding="utf-8")
    before, posts = _dump(setup.state), server.post_count()

    done, after = _fill_and_run(setup, tmp_path)

    assert done.returncode == 2, done
    assert len(done.stderr.splitlines()) == 1, done.stderr
    # SQLite says "disk I/O error" or "database or disk is full", depending on what it was writing
    assert done.stderr.startswith(f"error: {setup.state}: cannot open the state file: "), done.stderr
    assert "Traceback" not in done.stderr
    assert server.post_count() == posts
    assert _dump(after / "syndicator.db") == before


def test_a_full_state_disk_with_the_usual_empty_lock_file_is_exit_2(
    tmp_path: Path, server: ChannelServer
) -> None:
    why = _private_mounts()
    if why:
        pytest.skip(f"a full disk is simulated with a small tmpfs: {why}")
    setup = _ready_with_work(tmp_path, server)
    assert setup.state.with_name("syndicator.db.lock").read_bytes() == b""  # as every run leaves it
    posts = server.post_count()

    done, _ = _fill_and_run(setup, tmp_path)

    assert server.post_count() == posts  # nothing sent: true today as well
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2 and str(setup.state.parent) in done.stderr, done


# -- a crash while waiting for the rate limit ------------------------------------------------------------------


def test_a_crash_while_deliveries_wait_for_their_rate_slot_leaves_them_pending(tmp_path: Path) -> None:
    with ChannelServer(seed=2) as server:
        channels = {NONE: {"type": "fault-none", "url": server.add(NONE), "rate": "1/30s", "concurrency": 3}}
        setup = write_setup(tmp_path, server, releases=3, channels=channels)
        proc = start(setup)
        try:
            deadline = time.monotonic() + 30
            while server.post_count() == 0 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            # The other two threads now wait for their slot, 30 s away: today with their in_flight
            # committed (seen at once); once fixed, still pending (then we kill after 5 s).
            deadline = time.monotonic() + 5
            while _claimed(setup.state) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None and server.post_count() == 1
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=30)

        never_sent = [k for k in setup.keys if server.count(NONE, k) == 0]
        assert len(never_sent) == 2
        run(setup)
        states = delivery_states(setup)
        assert all(server.count(NONE, k) == 1 for k in setup.keys)  # each exactly once
        # What should happen: a delivery that never reached the platform is still pending, and
        # this second run (pacing starts afresh in a new process) sends it.
        assert [states[(k, NONE)] for k in never_sent] == ["sent", "sent"], states
