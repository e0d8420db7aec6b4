"""Every feed and release file of the shared corpus through the real sources.

Skipped unless ``SYNDICATOR_CORPUS`` points at the corpus folder (the one with
``MANIFEST.md``, ``feeds/`` and ``releases/``). Each feed is served from a local HTTP
server (127.0.0.1) with the headers its upstream test names (``Header:`` comment lines) and
collected by the rss source; each release file is collected by the directory source.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from feedserver import FeedServer, MemoryState, make_context

from syndicator.errors import SourceError
from syndicator.models import Release
from syndicator.sources.directory import DirectorySource
from syndicator.sources.feeditems import strip_entity_doctype
from syndicator.sources.rss import RssSource

pytestmark = pytest.mark.service

CORPUS = Path(os.environ["SYNDICATOR_CORPUS"]) if os.environ.get("SYNDICATOR_CORPUS") else None
SKIP = "corpus tests need SYNDICATOR_CORPUS=/path/to/corpus (e.g. /work/shared/corpus)"
NOT_FEEDS = re.compile(r"(^|/)(LICENSE[^/]*|NOTICE[^/]*)$|\.(md|tsv|txt)$", re.IGNORECASE)
CONTENT_TYPES = {".atom": "application/atom+xml", ".rss": "application/rss+xml", ".json": "application/json"}
EXPANDED = ("1234567890" * 3, "B" * 200, "123 123", "stealpasswords=[", "boot.ini]")


def _files(folder: str, keep: Any) -> list[Any]:
    if CORPUS is None:
        return [pytest.param("", marks=pytest.mark.skip(reason=SKIP), id="no-corpus")]
    root = CORPUS / folder
    if not root.is_dir():
        return [pytest.param("", marks=pytest.mark.skip(reason=f"{root} is missing"), id="no-corpus")]
    found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [p for p in found if keep(p)]


FEEDS = _files("feeds", lambda p: not NOT_FEEDS.search(p))
RELEASE_FILES = _files("releases", lambda p: p.lower().endswith((".md", ".markdown", ".json")))


def _upstream_headers(data: bytes) -> dict[str, str]:
    """The HTTP headers feedparser's own test served this file with (``Header:`` lines)."""
    headers = {}
    for match in re.finditer(rb"^\s*Header:\s*([A-Za-z-]+):[ \t]*(.*?)\s*$", data[:2000], re.MULTILINE):
        headers[match.group(1).decode("ascii").title()] = match.group(2).decode("latin-1")
    return headers


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


class _Declared(Exception):
    pass


def declares_entities(data: bytes) -> bool:
    """Whether expat sees an entity declaration in ``data`` (stops at the first one)."""
    import xml.parsers.expat

    def found(*args: object) -> None:
        raise _Declared

    parser = xml.parsers.expat.ParserCreate()
    parser.EntityDeclHandler = found
    try:
        parser.Parse(data, True)
    except _Declared:
        return True
    except (xml.parsers.expat.ExpatError, ValueError, LookupError):
        pass
    return False


def _text_of(release: Release) -> str:
    return json.dumps(release.to_dict(), ensure_ascii=False)


@pytest.mark.parametrize("relative", FEEDS)
def test_feed(server: FeedServer, relative: str) -> None:
    assert CORPUS is not None
    data = (CORPUS / "feeds" / relative).read_bytes()
    assert not declares_entities(strip_entity_doctype(data))
    headers = _upstream_headers(data)
    content_type = headers.pop("Content-Type", CONTENT_TYPES.get(Path(relative).suffix, "application/xml"))
    url = server.set("/" + quote(relative), data, content_type=content_type, headers=headers)
    name = "corpus-" + re.sub(r"[^a-z0-9]+", "-", relative.lower()).strip("-")
    ctx = make_context(RssSource, {"url": url, "timeout": 10.0}, name=name, state=MemoryState())
    try:
        items = list(RssSource().collect(ctx))
    except SourceError as exc:
        assert exc.source == name and str(exc).startswith(f"{name}: ") and exc.reason
        return
    assert server.count("/" + quote(relative)) >= 1
    releases = [i for i in items if isinstance(i, Release)]
    assert all(isinstance(i, (Release, SourceError)) for i in items)
    for error in (i for i in items if isinstance(i, SourceError)):
        assert error.source == name and error.item and error.reason
    seen = set()
    total = 0
    for release in releases:
        assert release.source == name and release.id and release.id not in seen and release.title
        seen.add(release.id)
        assert release.origin == url
        for when in (release.published, release.updated):
            assert when is None or when.utcoffset() is not None
        assert "<script" not in release.body_html.lower()
        for media in release.images + release.attachments:
            assert media.location.startswith(("http://", "https://"))
        text = _text_of(release)
        total += len(text)
        for blob in EXPANDED:
            assert blob not in text, f"entity expansion in {relative}: {blob!r}"
        assert release.content_hash.startswith("sha256:")
    # No entity blow-up: what comes out stays in proportion to what went in.
    assert total <= 6 * len(data) + 20_000


def test_defusedxml_and_system_entities_are_not_expanded(server: FeedServer) -> None:
    if CORPUS is None:
        pytest.skip(SKIP)
    nasty = [
        *sorted((CORPUS / "feeds/nasty/defusedxml").glob("*.xml")),
        *sorted((CORPUS / "feeds/nasty/feedvalidator/rss/should").glob("system_entity*.xml")),
    ]
    assert nasty
    for path in nasty:
        assert declares_entities(path.read_bytes()) == (path.name != "dtd.xml"), path.name
        url = server.set("/nasty/" + path.name, path.read_bytes(), content_type="application/xml")
        ctx = make_context(RssSource, {"url": url}, name="nasty", state=MemoryState())
        try:
            items = list(RssSource().collect(ctx))
        except SourceError:
            continue
        text = "".join(_text_of(i) for i in items if isinstance(i, Release))
        for blob in EXPANDED:
            assert blob not in text, path.name


@pytest.fixture(scope="module")
def release_outcomes() -> dict[str, Release | SourceError]:
    if CORPUS is None:
        pytest.skip(SKIP)
    base = CORPUS / "releases"
    ctx = make_context(DirectorySource, {"path": str(base)}, name="corpus-releases", base_dir=base)
    outcomes: dict[str, Release | SourceError] = {}
    for item in DirectorySource().collect(ctx):
        key = item.origin if isinstance(item, Release) else str(item.item)
        assert key not in outcomes, f"two outcomes for {key}"
        outcomes[key] = item
    return outcomes


@pytest.mark.parametrize("relative", RELEASE_FILES)
def test_release_file(release_outcomes: dict[str, Release | SourceError], relative: str) -> None:
    outcome = release_outcomes.get(relative)
    assert outcome is not None, f"{relative} gave neither a release nor an error"
    if isinstance(outcome, SourceError):
        assert outcome.source == "corpus-releases" and outcome.item == relative and outcome.reason
        return
    assert outcome.title and outcome.id and outcome.origin == relative
    assert outcome.published is None or outcome.published.utcoffset() is not None
    assert "<script" not in outcome.body_html.lower()
    json.dumps(outcome.to_dict(), ensure_ascii=False)


def test_only_release_files_are_read(release_outcomes: dict[str, Release | SourceError]) -> None:
    assert set(release_outcomes) == {p for p in RELEASE_FILES if isinstance(p, str)}
