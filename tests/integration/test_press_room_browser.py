"""The demo's press room in a real browser: Debian's Chromium, driven by Playwright for Python.

The demo configuration (a copy of config/) is run through the real command line, the site it
writes is served from 127.0.0.1, and Chromium (``/usr/bin/chromium`` through Playwright's
``executable_path``: no browser download) opens every page. Screenshots go to
``tests/artifacts/browser/`` (or ``$SYNDICATOR_ARTIFACTS/browser``); with
``SYNDICATOR_UPDATE_SCREENSHOT=1`` the README's ``docs/press-room.png`` is refreshed too.

Skips with a message when Chromium or Playwright is missing (install both with
``.ci/services/chromium-install.sh``); under SYNDICATOR_REQUIRE_SERVICES=1 a skip fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SYNDICATOR_CHROMIUM", "/usr/bin/chromium"))
# No sandbox as root; no calls to Google services from a machine without outside network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
BODY_WORD = "Rhizophora"  # only in the body of the mangrove release: not its title or summary


@pytest.fixture(scope="module")
def artifacts() -> Path:
    base = Path(os.environ.get("SYNDICATOR_ARTIFACTS") or ROOT / "tests" / "artifacts")
    folder = base / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, published by the real command line into a copy of config/."""
    folder = tmp_path_factory.mktemp("demo") / "config"
    shutil.copytree(ROOT / "config", folder, ignore=shutil.ignore_patterns("site", "state"))
    run = subprocess.run(
        [sys.executable, "-m", "syndicator", "--config", str(folder / "demo.toml"), "run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    site = folder / "site"
    assert (site / "index.html").is_file(), f"the demo run wrote no site:\n{run.stdout}\n{run.stderr}"
    assert "BPBD" in (site / "index.html").read_text(encoding="utf-8")
    return site


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


@pytest.fixture(scope="module")
def base_url(demo_site: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(demo_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: run .ci/services/chromium-install.sh (apt-get install chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "Playwright for Python is not installed: pip install playwright (no browser download needed)"
        )
    with sync_playwright() as p:
        # Playwright gives each launch a fresh temporary profile (its own --user-data-dir)
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Watch:
    """A page that records console errors, uncaught exceptions and failed loads."""

    def __init__(self, browser: Any, viewport: dict[str, int] = DESKTOP) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        self.page.on("requestfailed", self._failed)
        self.page.on(
            "response",
            lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )

    def _failed(self, request: Any) -> None:
        # loads cancelled by leaving the page (the icon, lazy images) are not failures; a
        # missing file shows up as an HTTP 404 response instead
        if "ERR_ABORTED" not in str(request.failure):
            self.problems.append(f"failed: {request.url} ({request.failure})")

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watch(browser: Any) -> Iterator[Watch]:
    w = Watch(browser)
    yield w
    w.close()


LINKS_JS = """() => [
  ...[...document.querySelectorAll('a[href]')].map(a => a.href),
  ...[...document.querySelectorAll('link[href]')].map(l => l.href),
  ...[...document.querySelectorAll('img[src], script[src]')].map(e => e.src),
]"""
IMAGES_JS = """() => [...document.images].map(i => ({src: i.currentSrc || i.src, alt: i.getAttribute('alt'),
  loaded: i.complete && i.naturalWidth > 0}))"""
OVERFLOW_JS = """() => ({scroll: document.documentElement.scrollWidth, width: window.innerWidth,
  wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className)})"""
# WCAG contrast of every element that holds text, against the first opaque background behind it
CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                                        .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.getClientRects().length === 0) continue;
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const r = ratio(rgb(style.color).slice(0, 3), background(el));
    if (r < need) low.push(`${el.tagName}.${el.className} ${r.toFixed(2)} < ${need}: ${el.textContent.trim().slice(0, 40)}`);
  }
  return low;
}"""


def crawl(watch: Watch, *start: str) -> tuple[list[str], list[str]]:
    """Every page reachable from ``start`` on this host; (pages visited, other files linked)."""
    host = urlsplit(start[0]).netloc
    todo, pages, files, seen = list(start), [], [], set(start)
    while todo:
        url = todo.pop(0)
        watch.page.goto(url, wait_until="load")
        pages.append(url)
        for link in watch.page.evaluate(LINKS_JS):
            target, _ = urldefrag(urljoin(url, link))
            if urlsplit(target).netloc != host or target in seen:
                continue
            seen.add(target)
            (todo if urlsplit(target).path.endswith(".html") else files).append(target)
    return pages, files


def test_every_page_loads_cleanly_and_every_link_resolves(
    watch: Watch, base_url: str, demo_site: Path
) -> None:
    pages, files = crawl(watch, base_url + "index.html", base_url + "search.html")  # a form leads there
    site_pages = {p.relative_to(demo_site).as_posix() for p in demo_site.rglob("*.html")}
    visited = {urlsplit(p).path.lstrip("/") for p in pages}
    assert visited == site_pages, f"pages no link leads to: {site_pages - visited}"
    assert watch.problems == [], "\n".join(watch.problems)
    for url in files:  # feeds, media, the stylesheet, scripts
        response = watch.page.request.get(url)
        assert response.status == 200, f"{url}: HTTP {response.status}"
    assert any(f.endswith("feed.xml") for f in files) and any("/media/" in f for f in files)


def test_every_image_has_alt_text_and_loads(watch: Watch, base_url: str, demo_site: Path) -> None:
    checked = 0
    for page in sorted(demo_site.rglob("*.html")):
        watch.page.goto(base_url + page.relative_to(demo_site).as_posix(), wait_until="load")
        watch.page.evaluate("() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
        for image in watch.page.evaluate(IMAGES_JS):
            assert (image["alt"] or "").strip(), f"{page.name}: {image['src']} has no alt text"
            assert image["loaded"], f"{page.name}: {image['src']} did not load"
            checked += 1
    assert checked >= 2 and watch.problems == []


def test_search_finds_a_release_by_a_word_of_its_body(watch: Watch, base_url: str, artifacts: Path) -> None:
    page = watch.page
    page.goto(base_url + "index.html")
    page.fill("#site-search", BODY_WORD.lower())  # any case
    page.press("#site-search", "Enter")
    page.wait_for_url("**/search.html?q=*")
    first = page.locator("#search-results li a").first
    first.wait_for()
    assert "Mangrove" in first.inner_text()
    assert page.locator("#search-results li").count() == 1
    assert page.locator("#search-results mark").first.inner_text() == BODY_WORD
    assert "1 siaran pers cocok" in page.locator("#search-status").inner_text()
    page.screenshot(path=str(artifacts / "search-desktop.png"), full_page=True)
    first.click()
    page.wait_for_load_state()
    assert "/releases/2026-11-004-" in page.url and BODY_WORD in page.inner_text("main")

    page.goto(base_url + "search.html")
    page.fill("#q", "jembatan-yang-tidak-ada")
    page.press("#q", "Enter")
    assert page.locator("#search-results li").count() == 0
    assert "Tidak ada siaran pers" in page.locator("#search-status").inner_text()
    assert "q=jembatan-yang-tidak-ada" in page.url  # the query stays in the address
    assert watch.problems == []


def test_search_works_from_a_copied_folder(watch: Watch, demo_site: Path) -> None:
    # file:// has no server: the index is a script, which browsers load there (fetch would fail)
    watch.page.goto((demo_site / "search.html").as_uri() + "?q=" + BODY_WORD)
    link = watch.page.locator("#search-results li a").first
    link.wait_for()
    assert "Mangrove" in link.inner_text()
    assert watch.problems == []


def test_layout_holds_at_a_phone_width(browser: Any, base_url: str, demo_site: Path, artifacts: Path) -> None:
    phone = Watch(browser, PHONE)
    try:
        release = next((demo_site / "releases").glob("2026-11-007-*.html"))  # the one with an attachment
        for path in (
            "index.html",
            f"releases/{release.name}",
            next((demo_site / "releases").glob("2026-11-004-*.html")).relative_to(demo_site).as_posix(),
            "archive.html",
            "agencies.html",
            "tags.html",
            f"search.html?q={BODY_WORD}",
        ):
            phone.page.goto(base_url + path, wait_until="load")
            layout = phone.page.evaluate(OVERFLOW_JS)
            assert layout["scroll"] <= layout["width"], f"{path} scrolls sideways at 375px: {layout}"
            name = path.split("?")[0].replace("/", "_").removesuffix(".html")
            phone.page.screenshot(path=str(artifacts / f"phone-{name}.png"), full_page=True)
        assert phone.problems == []
    finally:
        phone.close()


def test_contrast_and_keyboard(watch: Watch, base_url: str, demo_site: Path) -> None:
    page = watch.page
    release = next((demo_site / "releases").glob("2026-11-007-*.html")).relative_to(demo_site).as_posix()
    for path in ("index.html", release, f"search.html?q={BODY_WORD}", "archive.html"):
        page.goto(base_url + path, wait_until="load")
        assert page.evaluate(CONTRAST_JS) == [], path
    page.goto(base_url + "index.html")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.className, document.activeElement.textContent]")
    assert focused == ["skip-link", "Langsung ke isi"]
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0  # shown when focused
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def test_print_drops_the_navigation(watch: Watch, base_url: str, demo_site: Path, artifacts: Path) -> None:
    page = watch.page
    release = next((demo_site / "releases").glob("2026-11-007-*.html")).relative_to(demo_site).as_posix()
    page.goto(base_url + release)
    page.emulate_media(media="print")
    hidden = page.evaluate(
        "() => ['.toolbar', '.site-footer', '.skip-link'].map(s => getComputedStyle(document.querySelector(s)).display)"
    )
    assert hidden == ["none", "none", "none"]
    assert page.locator(".attachments").is_visible()
    page.pdf(path=str(artifacts / "print-release.pdf"))  # what a reader gets from "Print"


def test_screenshot_of_the_press_room(watch: Watch, base_url: str, artifacts: Path) -> None:
    watch.page.goto(base_url + "index.html", wait_until="load")
    watch.page.screenshot(path=str(artifacts / "press-room.png"))
    watch.page.screenshot(path=str(artifacts / "press-room-full.png"), full_page=True)
    assert (artifacts / "press-room.png").stat().st_size > 10_000
    if os.environ.get("SYNDICATOR_UPDATE_SCREENSHOT") == "1":
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(artifacts / "press-room.png", docs / "press-room.png")
    assert watch.problems == []
