"""``syndicator plugin new``: the generated package's own tests pass against this core, and the
generated channel, once registered, is listed and publishes through ``syndicator run``."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pluggy
import pytest

from syndicator.plugins import channel_types
from syndicator.scaffold import MAX_NAME, ScaffoldError, plugin_names, render_files, write_plugin
from syndicator.testing import CliInvoker, PluginRegistrar, Reply, ScriptedServer

pytest_plugins = ["syndicator.testing"]

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
NAME = "noticeboard"
LONGEST = "abcdefghij-klmnopqrst_uvwxyz-012"  # MAX_NAME characters: the lines stay short enough
PATH = "/api/posts"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATOR_", "PYTEST_"))}
    env.update(extra)
    return env


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """A package written by the scaffold: tmp_path/syndicator-noticeboard."""
    write_plugin(NAME, tmp_path)
    return tmp_path / "syndicator-noticeboard"


@pytest.fixture
def plugin_module(generated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The generated module, imported from its folder as PYTHONPATH would (not installed)."""
    monkeypatch.syspath_prepend(str(generated))
    sys.modules.pop("syndicator_noticeboard", None)
    yield importlib.import_module("syndicator_noticeboard")
    sys.modules.pop("syndicator_noticeboard", None)


# -- names -------------------------------------------------------------------------------------


def test_names_derived_from_the_channel_type() -> None:
    names = plugin_names("kabar-desa")
    assert (names.type, names.module, names.distribution) == (
        "kabar-desa",
        "syndicator_kabar_desa",
        "syndicator-kabar-desa",
    )
    assert (names.class_name, names.env) == ("KabarDesaChannel", "KABAR_DESA_TOKEN")
    assert plugin_names("sms_gw2").distribution == "syndicator-sms-gw2"
    assert (
        len(LONGEST) == MAX_NAME
        and plugin_names(LONGEST).module == "syndicator_abcdefghij_klmnopqrst_uvwxyz_012"
    )


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Board",
        "2board",
        "board-",
        "-board",
        "bo--ard",
        "bo ard",
        "bo.ard",
        "papan/x",
        "é",
        "a" * (MAX_NAME + 1),
    ],
)
def test_invalid_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="plugin name"):
        write_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_type_and_existing_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="'webhook' already exists"):
        write_plugin("webhook", tmp_path, taken={"webhook", "website"})
    write_plugin(NAME, tmp_path)
    before = (tmp_path / "syndicator-noticeboard" / "setup.cfg").read_text(encoding="utf-8")
    with pytest.raises(ScaffoldError, match="already exists"):
        write_plugin(NAME, tmp_path)
    assert (tmp_path / "syndicator-noticeboard" / "setup.cfg").read_text(encoding="utf-8") == before


# -- the command ---------------------------------------------------------------------------------


def test_plugin_new_command(cli_runner: CliInvoker, tmp_path: Path) -> None:
    result = cli_runner("plugin", "new", NAME, "--dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    root = tmp_path / "syndicator-noticeboard"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "setup.cfg",
        "syndicator_noticeboard/__init__.py",
        "tests/test_noticeboard.py",
    ]
    assert f"wrote {root / 'setup.cfg'}" in result.stdout
    assert f"cd {root}" in result.stdout and "pytest" in result.stdout
    assert "syndicator =\n    noticeboard = syndicator_noticeboard\n" in (root / "setup.cfg").read_text(
        encoding="utf-8"
    )

    again = cli_runner("plugin", "new", NAME, "--dir", tmp_path)
    assert again.exit_code == 2 and "already exists" in again.stderr
    taken = cli_runner("plugin", "new", "webhook", "--dir", tmp_path)
    assert taken.exit_code == 2 and "a channel type named 'webhook' already exists" in taken.stderr
    bad = cli_runner("plugin", "new", "Papan Info", "--dir", tmp_path)
    assert bad.exit_code == 2 and "invalid plugin name 'Papan Info'" in bad.stderr


def test_plugin_new_defaults_to_the_current_folder(
    cli_runner: CliInvoker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_runner("plugin", "new", "papan").exit_code == 0
    assert (tmp_path / "syndicator-papan" / "syndicator_papan" / "__init__.py").is_file()


# -- the generated package -------------------------------------------------------------------------


def test_generated_tests_pass_against_this_core(tmp_path: Path) -> None:
    """What CI does in .ci/scaffold-check.sh: the generated tests, with the package on
    PYTHONPATH (not installed), against this checkout. A short and a longest name at once."""
    packages = []
    for name in (NAME, LONGEST):
        write_plugin(name, tmp_path)
        packages.append(tmp_path / plugin_names(name).distribution)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'basetemp'}",  # not the shared one this run is using
            *(str(p / "tests") for p in packages),
        ],
        cwd=tmp_path,
        env=_env(PYTHONPATH=os.pathsep.join(str(p) for p in packages)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = re.search(r"^(\d+) passed in ", done.stdout, re.MULTILINE)
    assert counts and int(counts.group(1)) >= 2 * 14, done.stdout  # the contract's tests and its own
    assert "skipped" not in done.stdout and "error" not in done.stdout


@pytest.mark.parametrize("name", [NAME, LONGEST])
def test_generated_code_is_lint_clean(name: str, tmp_path: Path) -> None:
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is None:
        pytest.skip("ruff is not installed next to this Python")
    write_plugin(name, tmp_path)
    package = tmp_path / plugin_names(name).distribution
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = subprocess.run(
            [ruff, *args], cwd=package, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_generated_plugin_is_listed_and_publishes_through_run(
    plugin_module: ModuleType,
    plugin_manager: pluggy.PluginManager,
    register_plugin: PluginRegistrar,
    cli_runner: CliInvoker,
    scripted_server: ScriptedServer,
    tmp_path: Path,
) -> None:
    register_plugin(plugin_module)
    assert channel_types(plugin_manager)[NAME].cls is plugin_module.NoticeboardChannel
    listed = cli_runner("plugins")
    assert re.search(r"^syndicator_noticeboard\s.*register_channels", listed.stdout, re.MULTILINE), (
        listed.stdout
    )

    config = tmp_path / "site" / "syndicator.toml"
    (config.parent / "releases").mkdir(parents=True)
    config.write_text(
        f"""
[syndicator]
state = "state/syndicator.db"

[sources.desk]
type = "directory"
path = "releases"

[channels.board]
type = "{NAME}"
url = "{scripted_server.url}{PATH}"
token = {{ env = "NOTICEBOARD_TOKEN" }}
""",
        encoding="utf-8",
    )
    (config.parent / "releases" / "2026-001.md").write_text(
        """---
id: 2026-001
title: Pasar Murah Ramadan Dibuka di 12 Kecamatan
summary: Warga dapat membeli bahan pokok dengan harga di bawah pasar.
date: 2026-03-02T09:00:00+07:00
status: approved
approved_by: Kepala Dinas Kominfo
---

Pasar murah berlangsung selama dua pekan.
""",
        encoding="utf-8",
    )
    scripted_server.script("POST", PATH, Reply(201, json={"id": "42", "url": "https://board.example/42"}))
    env = {"NOTICEBOARD_TOKEN": "t0ken"}

    dry = cli_runner("--config", config, "run", "--dry-run", env=env)
    assert dry.exit_code == 0, dry.stderr
    assert "would publish: desk/2026-001 -> board" in dry.stdout
    assert scripted_server.requests == []

    checked = cli_runner("--config", config, "channels", "check", env=env)
    assert checked.exit_code == 0, checked.stderr
    assert "ok: board: reachable (HTTP 404)" in checked.stdout
    assert [r.method for r in scripted_server.requests] == ["GET"]

    run = cli_runner("--config", config, "run", env=env)
    assert run.exit_code == 0, run.stderr
    assert "published: desk/2026-001 -> board https://board.example/42" in run.stdout
    post = scripted_server.requests[-1]
    assert post.method == "POST" and post.headers["Authorization"] == "Bearer t0ken"
    assert post.headers["Idempotency-Key"].startswith("syn-")
    assert post.json["title"] == "Pasar Murah Ramadan Dibuka di 12 Kecamatan"

    again = cli_runner("--config", config, "run", env=env)
    assert again.exit_code == 0 and "published" not in again.stdout.replace("0 published", "")
    assert len(scripted_server.requests) == 2  # the GET of the check and the one POST


# -- the guide shows what the scaffold writes ---------------------------------------------------------


def test_the_guide_shows_the_generated_channel_as_it_is() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", guide, re.MULTILINE | re.DOTALL)
    module = render_files(plugin_names(NAME))["syndicator_noticeboard/__init__.py"]
    assert module in blocks, (
        "docs/plugins.md must show syndicator_noticeboard/__init__.py exactly as generated"
    )
    tests = render_files(plugin_names(NAME))["tests/test_noticeboard.py"]
    assert tests in blocks, "docs/plugins.md must show tests/test_noticeboard.py exactly as generated"
