"""Helpers for the command-line tests: a private copy of the demo and a CliRunner wrapper.

    demo = Demo.copy(tmp_path)
    result = demo.invoke("run")               # asserts exit 0 unless expect= says otherwise
    data = demo.json("releases", "list", "--json")

Every call builds a fresh plugin manager and a fresh click group (``build_cli``), as the
console script does for every process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pluggy
from click.testing import CliRunner, Result

from syndicator.cli import build_cli
from syndicator.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"

#: The demo's release keys (source "diskominfo"), by what the first run does with them.
PUBLISHED = (
    "diskominfo/2026-11-002",
    "diskominfo/2026-11-003",
    "diskominfo/2026-11-004",
    "diskominfo/2026-11-005",
    "diskominfo/2026-11-007",
    "diskominfo/2026-11-009",
    "diskominfo/2026/11/pengumuman-seleksi-PPPK-“tahap-II”",
)
NOT_APPROVED = "diskominfo/2026-11-010"  # status: review
EMBARGOED = "diskominfo/2026-11-008"  # publish_at: 2027-01-15
CHANGED = "diskominfo/2026-11-006"  # approved_hash of another version
HELD = (CHANGED, EMBARGOED, NOT_APPROVED)

EMBARGOED_FILE = "releases/2026/11/2026-11-008-pendaftaran-beasiswa-nusa-harapan-cerdas-2027.md"
_PUBLISH_AT = re.compile(r"^publish_at: *(\S+)$", re.MULTILINE)


def cli_for(pm: pluggy.PluginManager | None = None) -> click.Group:
    return build_cli(pm if pm is not None else get_plugin_manager())


def describe(result: Result) -> str:
    """Everything about a result, for assertion messages."""
    text = f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    if result.exc_info and result.exception is not None and not isinstance(result.exception, SystemExit):
        text += "\n--- exception\n" + "".join(traceback.format_exception(*result.exc_info))
    return text


def invoke(
    args: list[str],
    *,
    expect: int | None = 0,
    pm: pluggy.PluginManager | None = None,
    env: dict[str, str | None] | None = None,
) -> Result:
    """Run the CLI in-process; assert the exit code unless ``expect`` is None."""
    result = CliRunner().invoke(cli_for(pm), args, env=env)
    if expect is not None:
        assert result.exit_code == expect, describe(result)
    return result


@dataclass
class Demo:
    """A copy of config/demo.toml and config/releases/ (no state/, no site/) in a temp folder."""

    folder: Path
    embargo: str  # the embargoed release's publish_at, as written in its file
    env: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def copy(cls, tmp_path: Path) -> Demo:
        folder = tmp_path / "demo"
        shutil.copytree(
            CONFIG_DIR,
            folder,
            ignore=lambda where, names: [
                n for n in names if Path(where) == CONFIG_DIR and n in ("state", "site")
            ],
        )
        # The demo's embargo is a real date: once the clock passes it, move it (in this copy
        # only) far into the future so the demo keeps its shape of 7 published and 3 held.
        release = folder / EMBARGOED_FILE
        text = release.read_text(encoding="utf-8")
        match = _PUBLISH_AT.search(text)
        assert match, f"{release} has no publish_at line"
        embargo = match.group(1)
        if datetime.fromisoformat(embargo) <= datetime.now(UTC):
            embargo = "2099-01-15T08:00:00+08:00"
            release.write_text(_PUBLISH_AT.sub(f"publish_at: {embargo}", text), encoding="utf-8")
        return cls(folder, embargo)

    @property
    def config(self) -> Path:
        return self.folder / "demo.toml"

    @property
    def site(self) -> Path:
        return self.folder / "site"

    @property
    def state(self) -> Path:
        return self.folder / "state" / "syndicator.db"

    def add_channel(self, name: str, **options: Any) -> None:
        """Append a ``[channels.NAME]`` table; a dict value {"env": X} becomes an env reference."""
        lines = [f"\n[channels.{name}]"]
        for key, value in options.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
        with self.config.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def invoke(self, *args: str, expect: int | None = 0, pm: pluggy.PluginManager | None = None) -> Result:
        return invoke(["--config", str(self.config), *args], expect=expect, pm=pm, env=self.env)

    def json(self, *args: str, expect: int | None = 0) -> Any:
        return json.loads(self.invoke(*args, expect=expect).stdout)

    def event_count(self) -> int:
        return len(self.json("history", "--json", "--limit", "1000000"))


# -- subprocesses -------------------------------------------------------------------------------


def console_script() -> str:
    found = shutil.which("syndicator", path=os.path.dirname(sys.executable))
    assert found, f"no syndicator console script next to {sys.executable}"
    return found


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    env.update(extra)
    return env


def run_process(
    argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
