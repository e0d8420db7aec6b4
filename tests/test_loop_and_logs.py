"""The loop without cron, and logs for machines: as an operator and a log collector see them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syndicator.testing import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-hook-key-never-printed"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config", ignore=shutil.ignore_patterns("state", "site"))
    return tmp_path / "config" / "demo.toml"


def syndicator(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "syndicator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        **kw,  # type: ignore[call-overload]
    )


def test_the_loop_ticks_until_sigterm_and_exits_cleanly_without_sending_twice(demo: Path) -> None:
    proc = syndicator("--config", str(demo), "run", "--every", "0.3s")
    site = demo.parent / "site" / "index.html"
    deadline = time.monotonic() + 30
    while not site.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # a few idle ticks
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after the calls in flight" in err
    assert out.count("published: diskominfo/2026-11-004 -> site") == 1
    assert out.count("0 new, 0 changed; 0 published") >= 1  # later ticks found nothing to do


def test_a_burst_of_signals_stops_the_loop_once_and_never_hangs_it(demo: Path) -> None:
    """A handler that set the stop event itself could wait forever for a lock the main thread
    held when the next signal interrupted it (systemd's SIGTERM, then an impatient Ctrl-C)."""
    proc = syndicator("--config", str(demo), "run", "--every", "0.2s")
    site = demo.parent / "site" / "index.html"
    deadline = time.monotonic() + 30
    while not site.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for sig in (signal.SIGTERM, signal.SIGINT) * 25:
        proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert err.count("stopping after the calls in flight") == 1, err


def test_a_bad_every_is_a_usage_error(demo: Path) -> None:
    proc = syndicator("--config", str(demo), "run", "--every", "soon")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--every" in err and "expected a duration" in err


def test_json_logs_carry_release_channel_state_attempt_and_duration(demo: Path) -> None:
    log_file = demo.parent / "logs" / "syndicator.jsonl"
    proc = syndicator("--config", str(demo), "--log-format", "json", "--log-file", str(log_file), "run")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    sent = [e for e in events if e.get("state") == "sent"]
    assert len(sent) == 7
    for e in sent:
        assert e["channel"] == "site" and e["release"].startswith("diskominfo/")
        assert e["attempt"] == 1 and e["duration"] >= 0 and e["level"] == "info"
    for line in err.splitlines():  # stderr at the default level stays quiet, and JSON when it speaks
        json.loads(line)


def test_secrets_never_reach_output_or_logs(demo: Path) -> None:
    with ScriptedServer() as server:
        server.script("POST", "/hook", Reply(503, body=f"echo {SECRET}".encode()))
        text = demo.read_text(encoding="utf-8") + (
            f'\n[channels.hook]\ntype = "webhook"\nurl = "{server.url}/hook"\nsecret = {{ env = "HOOK_SECRET" }}\n'
            "max_attempts = 1\n"
        )
        demo.write_text(text, encoding="utf-8")
        log_file = demo.parent / "syndicator.log"
        env = {"HOOK_SECRET": SECRET}
        outputs = []
        for args in (
            ("-vv", "--log-file", str(log_file), "run"),
            ("--log-format", "json", "-vv", "run"),
            ("config", "check"),
            ("config", "check", "--json"),
            ("channels", "list", "--json"),
            ("status", "--json"),
            ("history", "--json", "-n", "1000"),
        ):
            proc = syndicator("--config", str(demo), *args, env=env)
            outputs += list(proc.communicate(timeout=60))
        assert server.requests, "the webhook was called"
    outputs.append(log_file.read_text(encoding="utf-8"))
    for text in outputs:
        assert SECRET not in text
