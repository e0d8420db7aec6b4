"""Delivery across processes (``syndicator.fanout``): a big run hands whole channels to helper
processes. Real ``syndicator run`` processes against the loopback channel server of the fault
suite; a plugin in the config's plugins_dir writes down which process recorded each delivery.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest
from faultkit import (
    CHANNELS,
    KEY,
    LOOKUP,
    NONE,
    ChannelServer,
    Setup,
    crash_trial,
    delivery_states,
    invoke,
    run,
    start,
    write_setup,
)

from syndicator.config import load_config
from syndicator.errors import ConfigError
from syndicator.fanout import _cpu_quota, split_by_channel, usable_cpus
from syndicator.plugins import get_plugin_manager

#: Appends "pid channel event" for every delivery recorded, from whichever process records it.
#: The run plans every delivery itself; the calls' records come from the process that made them.
PID_PLUGIN = """\
import os
from pathlib import Path

from syndicator import hookimpl

LOG = Path(__file__).with_name("recorded-by.log")


@hookimpl
def delivery_recorded(delivery, event):
    with LOG.open("a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {delivery.channel} {event}\\n")
"""


def _with_pid_log(setup: Setup) -> Path:
    (setup.root / "plugins" / "recordedby.py").write_text(PID_PLUGIN, encoding="utf-8")
    return setup.root / "plugins" / "recorded-by.log"


def _processes_by_channel(log: Path) -> dict[str, set[int]]:
    by_channel: dict[str, set[int]] = defaultdict(set)
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            pid, channel, event = line.split()
            if event not in ("planned", "replanned"):  # planning is the run's own; calls are whose?
                by_channel[channel].add(int(pid))
    return dict(by_channel)


def _posted_at_most_once(server: ChannelServer, setup: Setup) -> None:
    for key in setup.keys:
        for channel in CHANNELS:
            assert server.count(channel, key) <= 1, (
                f"{key} -> {channel}: posted {server.count(channel, key)} times"
            )


# -- splitting ----------------------------------------------------------------------------------------


def test_channels_are_split_whole_into_groups_of_about_equal_size_in_the_order_given() -> None:
    tasks = [(f"r{n}", channel) for n in range(10) for channel in ("a", "b", "c")]
    tasks += [(f"x{n}", "d") for n in range(3)]

    groups = split_by_channel(tasks, 2)

    assert len(groups) == 2
    owners = [{channel for _, channel in group} for group in groups]
    assert owners[0].isdisjoint(owners[1])
    assert sorted(task for group in groups for task in group) == sorted(tasks)
    assert sorted(len(group) for group in groups) == [13, 20]  # {a, c} and {b, d}: the best split
    for group in groups:
        assert group == [task for task in tasks if task in group]  # dispatch order kept


def test_nothing_is_split_with_one_process_or_one_channel() -> None:
    tasks = [(f"r{n}", "a") for n in range(50)]
    assert split_by_channel(tasks, 4) == [tasks]
    mixed = [*tasks, ("r0", "b")]
    assert split_by_channel(mixed, 1) == [mixed]
    assert split_by_channel([], 4) == [[]]
    assert len(split_by_channel(mixed, 8)) == 2  # never more groups than channels


# -- a whole run --------------------------------------------------------------------------------------


def test_a_big_run_hands_whole_channels_to_helpers_and_sends_each_release_once(tmp_path: Path) -> None:
    with ChannelServer(seed=5, latency=0.01) as server:
        setup = write_setup(tmp_path, server, releases=30, concurrency=4, settings={"delivery_processes": 3})
        log = _with_pid_log(setup)

        proc = start(setup)
        _, err = proc.communicate(timeout=120)

        assert proc.returncode == 0, err
        for key in setup.keys:
            for channel in CHANNELS:
                assert server.count(channel, key) == 1, (key, channel)
        assert set(delivery_states(setup).values()) == {"sent"}
        by_channel = _processes_by_channel(log)
        assert set(by_channel) == set(CHANNELS)
        assert all(len(pids) == 1 for pids in by_channel.values()), by_channel  # a channel stays whole
        pids = {pid for found in by_channel.values() for pid in found}
        assert len(pids) == 3 and proc.pid in pids  # two helpers, and the run delivers a group itself

        posts = server.post_count()
        again = run(setup)
        assert again.returncode == 0, again.stderr
        assert server.post_count() == posts


def test_below_the_automatic_threshold_a_run_delivers_in_its_own_process(tmp_path: Path) -> None:
    with ChannelServer(seed=5) as server:
        setup = write_setup(tmp_path, server, releases=5, concurrency=4)  # 15 deliveries
        log = _with_pid_log(setup)

        proc = start(setup)
        _, err = proc.communicate(timeout=60)

        assert proc.returncode == 0, err
        assert {pid for pids in _processes_by_channel(log).values() for pid in pids} == {proc.pid}


def test_in_process_the_cli_gathers_every_helpers_outcomes_into_its_summary(tmp_path: Path) -> None:
    with ChannelServer(seed=5) as server:
        setup = write_setup(tmp_path, server, releases=8, concurrency=2, settings={"delivery_processes": 2})

        result = invoke(setup, "run")  # in this process: the run forks its helper from here

        assert "8 new, 0 changed; 24 published" in result.stdout, result.stdout
        assert result.stdout.count("published: ") == 24  # one line per delivery, whoever made it
        for key in setup.keys:
            for channel in CHANNELS:
                assert server.count(channel, key) == 1
        assert set(delivery_states(setup).values()) == {"sent"}


def test_a_helper_killed_mid_run_is_an_error_and_the_next_runs_finish_without_duplicates(
    tmp_path: Path,
) -> None:
    with ChannelServer(seed=7, latency=0.15) as server:
        setup = write_setup(tmp_path, server, releases=10, concurrency=1, settings={"delivery_processes": 3})
        log = _with_pid_log(setup)

        proc = start(setup)
        deadline = time.monotonic() + 30
        victim = None
        while victim is None and time.monotonic() < deadline:
            helpers = {p for pids in _processes_by_channel(log).values() for p in pids} - {proc.pid}
            victim = next(iter(helpers), None)
            time.sleep(0.02)
        assert victim is not None, "no helper process recorded a delivery"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)

        assert proc.returncode == 1, err
        assert "ended early" in err, err
        for _ in range(4):  # recovery: what cron's next ticks would do
            if run(setup).returncode == 0:
                break
        _posted_at_most_once(server, setup)
        states = delivery_states(setup)
        for key in setup.keys:
            for channel in (KEY, LOOKUP):  # these settle an unknown outcome by themselves
                assert states[(key, channel)] == "sent" and server.count(channel, key) == 1
            assert states[(key, NONE)] in ("sent", "unknown")  # the operator decides, never a resend


def test_sigterm_to_the_loop_stops_its_helpers_after_their_calls_in_flight(tmp_path: Path) -> None:
    with ChannelServer(seed=3, latency=0.2) as server:
        setup = write_setup(tmp_path, server, releases=12, concurrency=1, settings={"delivery_processes": 3})
        proc = start(setup, "run", "--every", "1h")
        deadline = time.monotonic() + 30
        while server.post_count() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)

        assert proc.returncode == 0, err
        assert server.post_count() < 3 * len(setup.keys)  # stopped early, in every process
        _posted_at_most_once(server, setup)
        assert run(setup).returncode == 0
        for key in setup.keys:
            for channel in CHANNELS:
                assert server.count(channel, key) == 1


def test_sigkill_of_a_run_with_helpers_never_duplicates_and_never_loses(tmp_path: Path) -> None:
    result = crash_trial(tmp_path, seed=21, kills=4, settings={"delivery_processes": 3})

    assert result.kills >= 2, result
    assert result.duplicates == 0 and result.losses == 0, result.problems


def test_a_negative_number_of_processes_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "syndicator.toml"
    config.write_text("[syndicator]\ndelivery_processes = -1\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(config, get_plugin_manager())

    [problem] = caught.value.problems
    assert (problem.table, problem.key) == ("syndicator", "delivery_processes")
    assert "0 or more" in problem.message and str(config) in str(problem)


# -- how many processes: CPU affinity, and a control group's CPU quota ------------------------------


def _cgroup(root: Path, membership: str, files: dict[str, str]) -> tuple[str, str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "self-cgroup").write_text(membership)
    return str(root / "fs"), str(root / "self-cgroup")


def test_a_systemd_cpu_quota_caps_the_processes_and_a_parents_tighter_quota_wins(tmp_path: Path) -> None:
    service = "fs/system.slice/syndicator.service/cpu.max"
    cgroups, membership = _cgroup(
        tmp_path, "0::/system.slice/syndicator.service\n", {service: "150000 100000\n"}
    )
    assert _cpu_quota(cgroups, membership) == 2  # 1.5 CPUs, rounded up
    assert usable_cpus(cgroups, membership) == min(2, usable_cpus("/nonexistent", "/nonexistent"))

    (tmp_path / "fs/system.slice/cpu.max").write_text("100000 100000\n")
    assert _cpu_quota(cgroups, membership) == 1


def test_no_quota_or_no_cgroups_leaves_the_cpu_affinity(tmp_path: Path) -> None:
    unlimited = _cgroup(tmp_path / "a", "0::/x\n", {"fs/x/cpu.max": "max 100000\n"})
    assert _cpu_quota(*unlimited) is None
    assert _cpu_quota(str(tmp_path / "none"), str(tmp_path / "none" / "cgroup")) is None
    garbled = _cgroup(tmp_path / "b", "not a cgroup line\n0::/y\n", {"fs/y/cpu.max": "lots\n"})
    assert _cpu_quota(*garbled) is None


def test_a_cgroup_v1_cfs_quota_counts_too(tmp_path: Path) -> None:
    files = {
        "fs/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
        "fs/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
    }
    cgroups, membership = _cgroup(tmp_path, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n", files)
    assert _cpu_quota(cgroups, membership) == 1  # half a CPU is one process
