"""Delivering across processes: a big run's channels, split between forked processes.

One interpreter makes a few hundred deliveries a second before its lock (the GIL) is the
limit, not the channels: most of a delivery's CPU goes to the HTTP client and the ledger. A
run with many due deliveries over several channels therefore gives whole channels to helper
processes, one group each, and delivers the first group itself. A channel never spans two
processes, so its concurrency, pacing, quota and ``finish()`` work as they do in one.

Each helper opens its own ledger connection and records every step itself, exactly as the
run's own threads do; what it sends back is only the outcomes, for the run's report and
progress. A helper that dies leaves its calls recorded up to the last durable step, and the
run reports its unreported deliveries as errors: the ledger says what was sent.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .dispatch import Outcome

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess
    from pathlib import Path

log = logging.getLogger(__name__)

Task = tuple[str, str]  # (release key, channel)
Report = Callable[[Outcome], None]
Work = Callable[[list[Task], Report, threading.Event], None]

_DONE = "done"


def usable_cpus(cgroups: str = "/sys/fs/cgroup", membership: str = "/proc/self/cgroup") -> int:
    """The CPUs this process may use: its affinity, and no more than a CPU quota of its
    control group (a container's ``--cpus``, systemd's ``CPUQuota=``) allows, rounded up."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cpu_quota(cgroups, membership)
    return max(1, min(cpus, quota)) if quota else cpus


def _cpu_quota(cgroups: str, membership: str) -> int | None:
    """The tightest CPU quota on this process's control group or its parents, in whole CPUs
    (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``); None without one, or off Linux."""
    import math
    from pathlib import Path

    try:
        lines = Path(membership).read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":  # v2: "0::/system.slice/x.service"
            mounts, name = [Path(cgroups)], "cpu.max"
        elif "cpu" in controllers.split(","):  # v1: "4:cpu,cpuacct:/docker/abc", mounted either way
            mounts, name = [Path(cgroups, m) for m in dict.fromkeys(("cpu", controllers))], "cpu.cfs_quota_us"
        else:
            continue
        for mount in mounts:
            folder = mount / group.lstrip("/")
            for level in (folder, *folder.parents):  # the group, then its parents up to the mount
                if not level.is_relative_to(mount):
                    break
                quotas.append(_quota_in(level, name))
    found = [q for q in quotas if q]
    return math.ceil(min(found)) if found else None


def _quota_in(folder: Path, name: str) -> float | None:
    try:
        if name == "cpu.max":
            limit, period = (folder / name).read_text().split()
        else:
            limit = (folder / name).read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
        return None if limit in ("max", "-1") else int(limit) / int(period)
    except (OSError, ValueError):
        return None


def can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def split_by_channel(tasks: list[Task], processes: int) -> list[list[Task]]:
    """``tasks`` in at most ``processes`` groups of whole channels, about equal in size: the
    busiest channels first, each to the group with the fewest tasks so far. Each group keeps
    the order it was given (dispatch order). One group when there is nothing to split."""
    counts = Counter(channel for _, channel in tasks)
    groups = min(processes, len(counts))
    if groups < 2:
        return [tasks]
    load = [0] * groups
    owner: dict[str, int] = {}
    for channel, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lightest = load.index(min(load))
        owner[channel] = lightest
        load[lightest] += count
    split: list[list[Task]] = [[] for _ in range(groups)]
    for task in tasks:
        split[owner[task[1]]].append(task)
    return split


@dataclass
class _Helper:
    process: BaseProcess
    reader: Connection
    tasks: list[Task]
    reported: set[Task] = field(default_factory=set)
    done: bool = False


class Helpers:
    """Forked helper processes, each delivering one group, and the thread that gathers what
    they report. Make them with :func:`start_helpers`; :meth:`join` waits and returns every
    outcome they reported, plus an error for each delivery a dead helper did not report."""

    def __init__(self, helpers: list[_Helper], stop: threading.Event, progress: Report | None) -> None:
        self._helpers = helpers
        self._stop = stop
        self._progress = progress
        self._outcomes: list[Outcome] = []
        self._thread = threading.Thread(target=self._gather, name="syn-helpers", daemon=True)
        self._thread.start()

    @property
    def channels(self) -> set[str]:
        """The channels the helpers deliver to."""
        return {channel for helper in self._helpers for _, channel in helper.tasks}

    def _gather(self) -> None:
        from multiprocessing.connection import wait

        open_readers: dict[Any, _Helper] = {h.reader: h for h in self._helpers}
        forwarded = False
        while open_readers:  # until every helper has closed its end (finished, or died)
            for reader in wait(list(open_readers), timeout=0.2):
                helper = open_readers[reader]
                try:
                    message = helper.reader.recv()
                except (EOFError, OSError):
                    del open_readers[reader]
                    continue
                if message == _DONE:
                    helper.done = True
                elif isinstance(message, Outcome):
                    helper.reported.add((message.release_key, message.channel))
                    self._outcomes.append(message)
                    self._show(message)
            if self._stop.is_set() and not forwarded:  # SIGTERM reached this process alone: pass it on
                forwarded = True
                for helper in self._helpers:
                    if helper.process.is_alive() and helper.process.pid:
                        os.kill(helper.process.pid, signal.SIGTERM)

    def _show(self, outcome: Outcome) -> None:
        if self._progress is None:
            return
        try:
            self._progress(outcome)
        except Exception as exc:  # a display must never stop the gathering (helpers would block)
            log.debug("progress display failed: %s", exc, exc_info=True)

    def join(self) -> list[Outcome]:
        self._thread.join()
        outcomes = self._outcomes
        for helper in self._helpers:
            helper.process.join()
            helper.reader.close()
            if helper.done:
                continue
            why = f"its delivery process ended early (exit code {helper.process.exitcode})"
            log.error(
                "a delivery process (pid %s) ended early (exit code %s); the ledger records every call it made",
                helper.process.pid,
                helper.process.exitcode,
            )
            outcomes += [
                Outcome(key, channel, "error", f"{why}: see `syndicator history`")
                for key, channel in helper.tasks
                if (key, channel) not in helper.reported
            ]
        return outcomes


def start_helpers(
    groups: list[list[Task]], work: Work, stop: threading.Event, progress: Report | None
) -> Helpers:
    """Fork one helper for each group. Call it with no thread of the run alive but this
    one (a fork copies only the calling thread, and any lock another thread holds stays
    held in the child) and with no SQLite connection open (see ``Store.disconnected``).
    A group whose helper cannot be forked (a process limit) is not among ``channels``: the
    caller delivers it itself."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    helpers: list[_Helper] = []
    gc.freeze()  # the collector would otherwise write to (and so copy) every shared page
    try:
        for group in groups:
            reader, writer = context.Pipe(duplex=False)
            readers = [reader, *(helper.reader for helper in helpers)]  # the child closes its copies
            process = context.Process(
                target=_helper_main,
                args=(work, group, writer, readers, os.getpid()),
                name="syndicator-deliver",
                daemon=False,
            )
            try:
                process.start()
            except OSError as exc:
                log.warning("cannot start a delivery process (%s); delivering its channels here", exc)
                reader.close()
                break
            finally:
                writer.close()
            helpers.append(_Helper(process, reader, group))
    finally:
        gc.unfreeze()
    return Helpers(helpers, stop, progress)


def _stop_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM when the run's process dies (Linux), so that a killed run's
    helpers stop as its own threads would: after their calls in flight. Elsewhere a helper
    notices at its next report, when the pipe home is broken."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _helper_main(
    work: Work, tasks: list[Task], writer: Connection, readers: list[Connection], parent: int
) -> None:
    """In the helper: deliver ``tasks``, sending each outcome home as it is reported."""
    for reader in readers:  # with no reader left but the run, its death breaks the pipe
        reader.close()
    from .stopping import stopping_on_signals

    stop = threading.Event()
    lock = threading.Lock()
    orphaned = False

    def send(message: Any) -> None:
        nonlocal orphaned
        with lock:  # the dispatcher reports from several threads
            if orphaned:
                return
            try:
                writer.send(message)
            except OSError:  # the run was killed: stop as it would have; the ledger has the rest
                orphaned = True
                stop.set()

    try:
        with stopping_on_signals(stop):  # SIGTERM, SIGINT: finish the calls in flight, start no more
            _stop_with_parent(parent)
            work(tasks, send, stop)
    except Exception:
        log.exception("a delivery process failed")
        raise SystemExit(1) from None
    send(_DONE)
    writer.close()
