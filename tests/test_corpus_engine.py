"""The shared corpus through the real command line: ``run --dry-run``, then real runs.

Skipped unless ``SYNDICATOR_CORPUS`` points at the corpus folder (the one with
``releases/`` and ``feeds/``). The CLI runs in a subprocess, as cron runs it, over a config
whose directory source reads ``$SYNDICATOR_CORPUS/releases``, or whose many rss sources
read every corpus feed from a local :class:`FeedServer`; a webhook channel posts to a
:class:`ScriptedServer`. Both servers listen on 127.0.0.1 only. Each process has a generous
timeout: it detects a hang, it is not a speed goal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from enginekit import toml_text
from feedserver import FeedServer
from test_corpus import CONTENT_TYPES, NOT_FEEDS, _upstream_headers

from syndicator.testing import Reply, ScriptedServer

pytestmark = pytest.mark.service

CORPUS = Path(os.environ["SYNDICATOR_CORPUS"]) if os.environ.get("SYNDICATOR_CORPUS") else None
SKIP = "corpus engine tests need SYNDICATOR_CORPUS=/path/to/corpus (e.g. /work/shared/corpus)"
HANG_GUARD = 300.0  # seconds: a hang detector, not a speed goal


@pytest.fixture(scope="module")
def corpus() -> Path:
    if CORPUS is None:
        pytest.skip(SKIP)
    for folder in ("releases", "feeds"):
        if not (CORPUS / folder).is_dir():
            pytest.skip(f"{CORPUS / folder} is missing")
    return CORPUS


@pytest.fixture
def hook() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        server.script("POST", "/hook", Reply(201, json={"id": "w", "url": "https://hook.test/w"}))
        yield server


@dataclass
class Ran:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"{' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def keys(self, prefix: str) -> list[str]:
        """Release keys of stdout lines like ``published: KEY -> hook ...``."""
        return [
            line[len(prefix) :].split(" -> ", 1)[0]
            for line in self.stdout.splitlines()
            if line.startswith(prefix)
        ]

    @property
    def source_errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("source error: ")]


def syndicator(config: Path, *args: str) -> Ran:
    argv = [sys.executable, "-m", "syndicator", "--config", str(config), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATOR_")}
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=config.parent, timeout=HANG_GUARD, check=False
    )
    return Ran(argv, done.returncode, done.stdout, done.stderr)


def assert_clean(ran: Ran, names_a_file: Callable[[str], bool]) -> None:
    """Exit 0 or 1, a summary, no traceback, and every source error line naming its file."""
    assert ran.returncode in (0, 1), ran.describe()
    assert "Traceback" not in ran.stderr, ran.describe()
    assert re.search(r"^(dry run: )?\d+ new, \d+ changed; ", ran.stdout, re.MULTILINE), ran.describe()
    unnamed = [line for line in ran.source_errors if not names_a_file(line[len("source error: ") :])]
    assert unnamed == [], ran.describe()


def dry_then_real_then_again(config: Path, hook: ScriptedServer, names_a_file: Callable[[str], bool]) -> None:
    dry = syndicator(config, "run", "--dry-run")
    assert_clean(dry, names_a_file)
    assert hook.requests == [], "a dry run posted"

    real = syndicator(config, "run")
    assert_clean(real, names_a_file)
    posted = [r.json["id"] for r in hook.requests]
    assert len(posted) == len(set(posted)), "a release was posted twice"
    assert sorted(posted) == sorted(real.keys("published: ")), real.describe()
    assert sorted(real.keys("published: ")) == sorted(dry.keys("would publish: "))

    again = syndicator(config, "run")
    assert_clean(again, names_a_file)
    assert len(hook.requests) == len(posted), "the second run posted again"
    assert again.keys("published: ") == []


# -- the release files ---------------------------------------------------------------------------------


def test_the_corpus_release_folder_runs_through_the_cli_without_a_traceback(
    corpus: Path, hook: ScriptedServer, tmp_path: Path
) -> None:
    root = corpus / "releases"
    paths = {p.relative_to(root).as_posix() for p in root.rglob("*")}
    config = tmp_path / "syndicator.toml"
    config.write_text(
        toml_text(
            {"state": "state/syndicator.db", "timezone": "Asia/Makassar"},
            {"corpus": {"type": "directory", "path": str(root), "approval": "trusted"}},
            {"hook": {"type": "webhook", "url": hook.url + "/hook"}},
        ),
        encoding="utf-8",
    )

    def names_a_file(error: str) -> bool:
        source, _, rest = error.partition(": ")
        # "corpus: <relative path>: <reason>"; a path may itself hold ": ", so try each split
        parts = rest.split(": ")
        return source == "corpus" and any(": ".join(parts[:n]) in paths for n in range(1, len(parts)))

    dry_then_real_then_again(config, hook, names_a_file)


# -- the feeds -------------------------------------------------------------------------------------------


def source_name(relative: str, taken: set[str]) -> str:
    base = "feed-" + re.sub(r"[^a-z0-9]+", "-", relative.lower()).strip("-")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


@pytest.fixture
def feeds(corpus: Path) -> Iterator[tuple[FeedServer, dict[str, dict[str, Any]], dict[str, str]]]:
    """A started FeedServer serving every corpus feed, the rss source tables, name -> file."""
    root = corpus / "feeds"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    with FeedServer() as server:
        sources: dict[str, dict[str, Any]] = {}
        files_by_name: dict[str, str] = {}
        for relative in (f for f in files if not NOT_FEEDS.search(f)):
            data = (root / relative).read_bytes()
            headers = _upstream_headers(data)
            content_type = headers.pop(
                "Content-Type", CONTENT_TYPES.get(Path(relative).suffix, "application/xml")
            )
            url = server.set("/" + quote(relative), data, content_type=content_type, headers=headers)
            name = source_name(relative, set(sources))
            sources[name] = {"type": "rss", "url": url, "approval": "trusted", "timeout": 10.0}
            files_by_name[name] = relative
        yield server, sources, files_by_name


def test_every_corpus_feed_as_an_rss_source_runs_through_the_cli_without_a_traceback(
    feeds: tuple[FeedServer, dict[str, dict[str, Any]], dict[str, str]],
    hook: ScriptedServer,
    tmp_path: Path,
) -> None:
    server, sources, files_by_name = feeds
    assert len(sources) > 100
    config = tmp_path / "syndicator.toml"
    config.write_text(
        toml_text(
            {"state": "state/syndicator.db", "timezone": "Asia/Makassar"},
            sources,
            {"hook": {"type": "webhook", "url": hook.url + "/hook"}},
        ),
        encoding="utf-8",
    )

    def names_a_file(error: str) -> bool:
        return error.partition(": ")[0] in files_by_name

    dry_then_real_then_again(config, hook, names_a_file)
    assert server.count() >= 3 * len(sources)  # every feed fetched on every run
