"""The website channel, against real files in tmp_path."""

from __future__ import annotations

import errno
import json
import logging
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from syndicator_channels.website import (
    WebsiteChannel,
    format_date,
    human_size,
    os_error,
    release_slug,
    term_slug,
)

from syndicator.channel import ChannelContext
from syndicator.errors import PermanentError, TransientError
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import resolve_options
from syndicator.plugins import BUILTIN_PLUGINS, channel_types, get_plugin_manager

WITA = ZoneInfo("Asia/Makassar")
ATOM = "{http://www.w3.org/2005/Atom}"


def make_ctx(tmp_path: Path, **options: Any) -> ChannelContext:
    resolved, problems = resolve_options({"output": "site", **options}, WebsiteChannel.options)
    assert problems == []
    return ChannelContext(
        name="site",
        options=resolved,
        base_dir=tmp_path,
        logger=logging.getLogger("test"),
        timezone="Asia/Makassar",
    )


def when(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=WITA)


@pytest.fixture
def releases(tmp_path: Path) -> list[Release]:
    photo = tmp_path / "in" / "Foto Gubernur.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    csv = tmp_path / "in" / "data-inflasi.csv"
    csv.write_text("bulan,inflasi\n" + "Januari,2.1\n" * 180, encoding="utf-8")
    return [
        Release(
            source="kominfo",
            id="2026-11-20-vaksinasi",
            title="Vaksinasi Massal di Kota Kupang",
            summary="Pemerintah provinsi menggelar vaksinasi.",
            body_html="<p>Isi <strong>rilis</strong>.</p><h1>Sub</h1>",
            published=when(20),
            agency="Dinas Kesehatan",
            tags=("Kesehatan", "Vaksinasi"),
            language="id",
            url="https://example.go.id/rilis/vaksinasi",
            images=(
                Media(
                    str(photo), alt="Gubernur menyerahkan vaksin kepada petugas", title="Penyerahan vaksin"
                ),
            ),
            attachments=(Media(str(csv), kind="file", title="Data inflasi", mime_type="text/csv"),),
        ),
        Release(
            source="kominfo",
            id="2026-11-19-investment",
            title="Province Welcomes Foreign Investors",
            summary="An English release.",
            body_html="<p>Body in English.</p>",
            published=when(19),
            agency="Dinas Penanaman Modal",
            tags=("Ekonomi",),
            language="en",
        ),
        Release(
            source="rss",
            id="https://example.go.id/?p=3",
            title="Festival 🎉 文化祭 مهرجان",
            summary="Emoji, CJK and RTL.",
            body_html="<p>Festival.</p>",
            published=when(18),
            agency="Dinas Pariwisata",
            tags=("文化", "Pariwisata"),
            language="id",
        ),
        Release(
            source="rss",
            id="inject",
            title='<script>alert("x")</script> & "Rapat" <b>',
            summary="<img src=x onerror=alert(1)>",
            body_html="<p>Aman.</p>",
            published=when(17),
            agency="Biro <Umum>",
            tags=("Pemerintahan",),
            language="id",
        ),
        Release(
            source="kominfo",
            id="no-date",
            title="Tanpa tanggal",
            body_html="<p>Undated.</p>",
            tags=("Kesehatan",),
        ),
    ]


def publish_all(channel: WebsiteChannel, items: list[Release], ctx: ChannelContext) -> list[Post]:
    posts = [channel.render(r, ctx) for r in items]
    for post in posts:
        channel.publish(post, ctx)
    channel.finish(ctx)
    return posts


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.h1 = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("href", "src") and v]
        if tag == "img":
            self.imgs.append(a)
        elif tag == "h1":
            self.h1 += 1
        elif tag == "html":
            self.lang = a.get("lang")


def parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def broken_links(site: Path) -> list[str]:
    broken = []
    for page in site.rglob("*.html"):
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("#", "//")):
                continue
            assert not link.startswith("/"), f"{page}: absolute link {link}"
            assert not link.endswith("/"), f"{page}: folder link {link}"
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.is_file() or site.resolve() not in target.parents:
                broken.append(f"{page.relative_to(site)} -> {link}")
    return broken


def snapshot(site: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(site)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in site.rglob("*")
        if p.is_file()
    }


def test_plugin_registers_through_entry_point() -> None:
    # built-in source plugins are blocked: this test is about the entry point alone
    pm = get_plugin_manager(disabled=BUILTIN_PLUGINS)
    registration = channel_types(pm)["website"]
    assert registration.cls is WebsiteChannel and registration.plugin == "website"


def test_options_defaults() -> None:
    resolved, problems = resolve_options({}, WebsiteChannel.options)
    assert problems == [("output", "is required (a string)")]
    assert resolved["title"] == "Siaran Pers" and resolved["per_page"] == 20 and resolved["language"] == "id"


def test_render_is_pure_and_escapes(tmp_path: Path, releases: list[Release]) -> None:
    ctx = make_ctx(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    posts = [WebsiteChannel().render(r, ctx) for r in releases]
    assert sorted(tmp_path.rglob("*")) == before
    first = posts[0]
    assert first.link == first.extra["path"] == f"releases/{release_slug(releases[0])}.html"
    assert first.text == "Vaksinasi Massal di Kota Kupang\n\nPemerintah provinsi menggelar vaksinasi."
    assert first.media == releases[0].images + releases[0].attachments
    assert first.extra["release"] == releases[0].to_dict()
    page = first.extra["html"]
    assert "20 November 2026, 09.00 WITA" in page and 'datetime="2026-11-20T09:00:00+08:00"' in page
    assert 'alt="Gubernur menyerahkan vaksin kepada petugas"' in page
    assert "(CSV, 2,1 KB)" in page
    assert page.count("<h1") == 1  # the body's h1 became an h2
    injected = posts[3].extra["html"]
    assert "<script>" not in injected and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in injected
    assert "<b>" not in injected and "<img src=x" not in injected and "Biro &lt;Umum&gt;" in injected
    assert WebsiteChannel().render(releases[0], ctx) == first  # deterministic


def test_slugs_are_stable_and_unique() -> None:
    a = Release(source="a", id="Rilis 1", title="t")
    b = Release(source="b", id="Rilis 1", title="t")
    assert release_slug(a).startswith("rilis-1-") and release_slug(a) != release_slug(b)
    assert term_slug("Dinas Kesehatan") == "dinas-kesehatan"
    assert term_slug("文化") != term_slug("健康") and term_slug("文化").isalnum()


def test_dates_and_sizes() -> None:
    assert format_date(when(20), "Asia/Makassar", "id") == "20 November 2026, 09.00 WITA"
    assert format_date(when(20), "Asia/Jakarta", "en") == "20 November 2026, 08:00 WIB"
    assert format_date(datetime(2026, 3, 1, 12, 5), "UTC", "id") == "1 Maret 2026, 12.05 UTC"
    assert human_size(2150, "id") == "2,1 KB" and human_size(2150, "en") == "2.1 KB"
    assert human_size(512, "id") == "512 B" and human_size(5 * 1024 * 1024, "en") == "5.0 MB"


def test_publish_and_finish_build_a_linked_site(tmp_path: Path, releases: list[Release]) -> None:
    ctx = make_ctx(tmp_path, description="PPID Provinsi")
    channel = WebsiteChannel()
    posts = publish_all(channel, releases, ctx)
    site = tmp_path / "site"
    for name in (
        "index.html",
        "agencies.html",
        "tags.html",
        "feed.xml",
        "feed.json",
        "style.css",
        "agency/dinas-kesehatan.html",
        "tag/kesehatan.html",
        "tag/pemerintahan.html",
    ):
        assert (site / name).is_file(), name
    for post in posts:
        assert (site / post.extra["path"]).is_file()
    assert (site / ".syndicator/releases" / (Path(posts[0].extra["path"]).stem + ".json")).is_file()
    media = sorted(p.name for p in (site / "media").iterdir())
    assert len(media) == 2 and any(n.endswith("-foto-gubernur.jpg") for n in media)
    assert broken_links(site) == []

    for page in site.rglob("*.html"):
        parsed = parse(page)
        assert parsed.h1 == 1, page
        assert all(img.get("alt") for img in parsed.imgs), page
        text = page.read_text(encoding="utf-8")
        assert 'name="viewport"' in text and 'href="#main"' in text and "<main" in text
        scripts = re.findall(r"<script\b[^>]*>", text)
        if page.name == "search.html":  # only the search page runs code, and only from files
            assert scripts == ['<script src="search-index.js" defer>', '<script src="search.js" defer>']
        else:
            assert scripts == [], page
    assert parse(site / posts[0].extra["path"]).lang == "id"
    assert parse(site / posts[1].extra["path"]).lang == "en"
    english = (site / posts[1].extra["path"]).read_text(encoding="utf-8")
    assert "19 November 2026, 09:00 WITA" in english and "Skip to content" in english
    assert 'lang="en"' in (site / "index.html").read_text(encoding="utf-8")  # the English item, in an id page

    index = (site / "index.html").read_text(encoding="utf-8")
    order = [index.index(r.title if "<" not in r.title else "&lt;script&gt;") for r in releases]
    assert order == sorted(order)  # newest first, undated last
    health = (site / "tag/kesehatan.html").read_text(encoding="utf-8")
    assert "Vaksinasi Massal" in health and "Tanpa tanggal" in health and "Festival" not in health

    feed = ET.parse(site / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}updated") == "2026-11-20T09:00:00+08:00"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 5
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 5 and all(i and i.startswith("urn:uuid:") for i in ids)
    assert entries[0].findtext(f"{ATOM}title") == "Vaksinasi Massal di Kota Kupang"
    assert entries[3].findtext(f"{ATOM}title") == releases[3].title
    assert all(e.findtext(f"{ATOM}updated") for e in entries)
    enclosure = entries[0].find(f"{ATOM}link[@rel='enclosure']")
    assert enclosure is not None and enclosure.get("type") == "text/csv"

    jf = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    assert jf["version"] == "https://jsonfeed.org/version/1.1" and jf["title"] == "Siaran Pers"
    assert [i["id"] for i in jf["items"]] == ids
    assert jf["items"][0]["url"] == posts[0].link and jf["items"][0]["tags"] == ["Kesehatan", "Vaksinasi"]
    assert jf["items"][0]["attachments"][0]["mime_type"] == "text/csv"
    assert all(i["content_html"] for i in jf["items"])
    assert channel.check(ctx).endswith("(5 releases)")


def test_base_url_gives_absolute_feed_links_but_relative_pages(
    tmp_path: Path, releases: list[Release]
) -> None:
    ctx = make_ctx(tmp_path, base_url="https://ppid.example.go.id/siaran/")
    channel = WebsiteChannel()
    post = channel.render(releases[0], ctx)
    receipt = channel.publish(post, ctx)
    channel.finish(ctx)
    assert receipt.remote_id == post.link
    assert receipt.url == f"https://ppid.example.go.id/siaran/{post.link}"
    page = post.extra["html"]
    assert f'rel="canonical" href="https://ppid.example.go.id/siaran/{post.link}"' in page
    assert 'href="../index.html"' in page and 'src="../media/' in page
    feed = ET.parse(tmp_path / "site/feed.xml").getroot()
    link = feed.find(f"{ATOM}entry/{ATOM}link[@rel='alternate']")
    assert link is not None and link.get("href") == receipt.url
    assert feed.findtext(f"{ATOM}id") == "https://ppid.example.go.id/siaran/feed.xml"
    jf = json.loads((tmp_path / "site/feed.json").read_text(encoding="utf-8"))
    assert jf["home_page_url"] == "https://ppid.example.go.id/siaran/index.html"
    assert jf["items"][0]["image"].startswith("https://ppid.example.go.id/siaran/media/")
    assert broken_links(tmp_path / "site") == []


def test_pagination_and_stale_pages(tmp_path: Path, releases: list[Release]) -> None:
    ctx = make_ctx(tmp_path, per_page=2)
    channel = WebsiteChannel()
    publish_all(channel, releases, ctx)
    site = tmp_path / "site"
    assert sorted(p.name for p in (site / "page").iterdir()) == ["2.html", "3.html"]
    two = (site / "page/2.html").read_text(encoding="utf-8")
    assert 'href="../index.html" rel="prev"' in two and 'href="../page/3.html" rel="next"' in two
    assert "Halaman 2 dari 3" in two
    assert broken_links(site) == []

    channel.finish(make_ctx(tmp_path, per_page=3))
    assert sorted(p.name for p in (site / "page").iterdir()) == ["2.html"]
    assert len(list((site / "releases").iterdir())) == 5  # release pages are never removed
    assert broken_links(site) == []


def test_rebuild_is_byte_identical_and_leaves_mtimes(tmp_path: Path, releases: list[Release]) -> None:
    ctx = make_ctx(tmp_path)
    channel = WebsiteChannel()
    publish_all(channel, releases, ctx)
    site = tmp_path / "site"
    before = snapshot(site)
    # a fresh channel and context, as a later cron run would have
    publish_all(WebsiteChannel(), releases, make_ctx(tmp_path))
    assert snapshot(site) == before


def test_republishing_an_edit_updates_the_page(tmp_path: Path, releases: list[Release]) -> None:
    ctx = make_ctx(tmp_path)
    channel = WebsiteChannel()
    posts = publish_all(channel, releases, ctx)
    edited = releases[1].with_changes(
        title="Province Welcomes Investors (corrected)",
        tags=("Investasi",),
        updated=when(19) + timedelta(hours=3),
    )
    post = channel.render(edited, ctx)
    receipt = channel.update(channel.publish(posts[1], ctx), post, ctx)
    channel.finish(ctx)
    site = tmp_path / "site"
    assert receipt.remote_id == posts[1].link == post.link
    page = (site / post.link).read_text(encoding="utf-8")
    assert "(corrected)" in page and "Updated" in page and "19 November 2026, 12:00 WITA" in page
    assert not (site / "tag/ekonomi.html").exists() and (site / "tag/investasi.html").is_file()
    assert "(corrected)" in (site / "index.html").read_text(encoding="utf-8")
    entry = ET.parse(site / "feed.xml").getroot().findall(f"{ATOM}entry")[1]
    assert entry.findtext(f"{ATOM}updated") == "2026-11-19T12:00:00+08:00"


def test_missing_media_is_permanent(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    gone = str(tmp_path / "hilang.png")
    release = Release(source="s", id="x", title="t", images=(Media(gone, alt="a"),))
    with pytest.raises(PermanentError, match=r"hilang\.png"):
        WebsiteChannel().publish(WebsiteChannel().render(release, ctx), ctx)


def test_media_changed_since_approval_is_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    path = tmp_path / "a.pdf"
    path.write_bytes(b"approved bytes")
    release = Release(
        source="s",
        id="x",
        title="t",
        attachments=(Media(str(path), kind="file", digest="sha256:" + "0" * 64),),
    )
    with pytest.raises(PermanentError, match="changed since"):
        WebsiteChannel().publish(WebsiteChannel().render(release, ctx), ctx)


def test_unwritable_output_is_permanent(tmp_path: Path, releases: list[Release]) -> None:
    ctx = make_ctx(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site/releases").write_text("a file where a folder should be")
    post = WebsiteChannel().render(releases[1], ctx)
    with pytest.raises(PermanentError, match="releases"):
        WebsiteChannel().publish(post, ctx)


def test_read_only_output_dir_is_permanent(tmp_path: Path, releases: list[Release]) -> None:
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o500)
    try:
        (probe / "x").touch()
        pytest.skip("this user ignores folder permissions (root with CAP_DAC_OVERRIDE)")
    except PermissionError:
        pass
    ctx = make_ctx(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    site.chmod(0o500)
    try:
        with pytest.raises(PermanentError, match="site"):
            WebsiteChannel().publish(WebsiteChannel().render(releases[1], ctx), ctx)
        with pytest.raises(PermanentError):
            WebsiteChannel().check(ctx)
    finally:
        site.chmod(0o700)


def test_check_creates_output(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, output="deep/site")
    status = WebsiteChannel().check(ctx)
    assert status == f"writes to {tmp_path / 'deep/site'} (0 releases)"
    assert (tmp_path / "deep/site").is_dir() and list((tmp_path / "deep/site").iterdir()) == []


def test_site_options_reach_every_page_on_finish(tmp_path: Path, releases: list[Release]) -> None:
    channel = WebsiteChannel()
    posts = publish_all(channel, releases[:2], make_ctx(tmp_path))
    channel.finish(make_ctx(tmp_path, title="Siaran Pers Provinsi NTT"))
    page = (tmp_path / "site" / posts[0].link).read_text(encoding="utf-8")
    assert "<title>Vaksinasi Massal di Kota Kupang – Siaran Pers Provinsi NTT</title>" in page


def test_remote_media_is_linked_as_is(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    release = Release(
        source="s",
        id="r",
        title="Remote",
        images=(Media("https://cdn.example/a.jpg", alt="A"),),
        attachments=(Media("https://cdn.example/laporan.pdf", kind="file", size=2_500_000),),
    )
    post = WebsiteChannel().render(release, ctx)
    assert 'src="https://cdn.example/a.jpg" alt="A"' in post.extra["html"]
    assert (
        'href="https://cdn.example/laporan.pdf"' in post.extra["html"]
        and "(PDF, 2,4 MB)" in post.extra["html"]
    )
    WebsiteChannel().publish(post, ctx)
    assert not (tmp_path / "site/media").exists()


def test_disk_full_is_transient() -> None:
    assert isinstance(os_error(Path("/x"), OSError(errno.ENOSPC, "No space left on device")), TransientError)
    assert isinstance(os_error(Path("/x"), OSError(errno.EACCES, "Permission denied")), PermanentError)


def test_import_does_not_load_jinja() -> None:
    code = "import sys, syndicator_channels.website; assert 'jinja2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_empty_site(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    WebsiteChannel().finish(ctx)
    site = tmp_path / "site"
    assert "Belum ada siaran pers." in (site / "index.html").read_text(encoding="utf-8")
    assert ET.parse(site / "feed.xml").getroot().findall(f"{ATOM}entry") == []
    assert json.loads((site / "feed.json").read_text(encoding="utf-8"))["items"] == []
    assert broken_links(site) == []


# -- the press room: archive, search, cards, sitemap, accessibility ------------------------------


class _Outline(HTMLParser):
    """Headings, form controls with their labels, and the meta tags of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.meta: dict[str, list[str]] = {}
        self.controls: list[str] = []
        self.labels: set[str] = set()
        self.first_link: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "meta" and (a.get("property") or a.get("name")):
            self.meta.setdefault(str(a.get("property") or a.get("name")), []).append(str(a.get("content")))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(str(a.get("id")))
        elif tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        elif tag == "a" and self.first_link is None:
            self.first_link = a.get("href")


def outline(path: Path) -> _Outline:
    p = _Outline()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def search_docs(site: Path) -> list[dict[str, Any]]:
    text = (site / "search-index.js").read_text(encoding="utf-8")
    prefix = "window.SYNDICATOR_SEARCH = "
    assert text.startswith(prefix) and text.endswith(";\n")
    docs: list[dict[str, Any]] = json.loads(text[len(prefix) : -2])
    return docs


def test_archive_by_month(tmp_path: Path, releases: list[Release]) -> None:
    october = releases[1].with_changes(published=datetime(2026, 10, 31, 23, 30, tzinfo=WITA))
    # 1 November 00:30 WITA is still October in UTC: months follow the site's time zone
    early = releases[2].with_changes(published=datetime(2026, 10, 31, 16, 30, tzinfo=ZoneInfo("UTC")))
    publish_all(WebsiteChannel(), [releases[0], october, early, releases[4]], make_ctx(tmp_path))
    site = tmp_path / "site"
    assert sorted(p.name for p in (site / "archive").iterdir()) == ["2026-10.html", "2026-11.html"]
    archive = (site / "archive.html").read_text(encoding="utf-8")
    assert archive.index("November 2026") < archive.index("Oktober 2026")  # newest first
    assert "(2 siaran pers)" in archive and "1 siaran pers tanpa tanggal" in archive
    november = (site / "archive/2026-11.html").read_text(encoding="utf-8")
    assert "Vaksinasi Massal" in november and "Festival" in november and "Province Welcomes" not in november
    assert '<h1 dir="auto">November 2026</h1>' in november and 'href="../archive.html"' in november
    assert "Province Welcomes" in (site / "archive/2026-10.html").read_text(encoding="utf-8")
    assert broken_links(site) == []
    moved = october.with_changes(published=when(2))  # a corrected date empties October
    publish_all(WebsiteChannel(), [moved], make_ctx(tmp_path))
    assert sorted(p.name for p in (site / "archive").iterdir()) == ["2026-11.html"]
    assert broken_links(site) == []


def test_search_index_and_page(tmp_path: Path, releases: list[Release]) -> None:
    publish_all(WebsiteChannel(), releases, make_ctx(tmp_path))
    site = tmp_path / "site"
    docs = search_docs(site)
    assert [d["t"] for d in docs] == [r.title for r in releases]  # newest first, as the index
    first = docs[0]
    assert first["u"].startswith("releases/") and (site / first["u"]).is_file()
    assert first["x"] == "Isi rilis. Sub" and first["a"] == "Dinas Kesehatan"
    assert first["k"] == ["Kesehatan", "Vaksinasi"] and first["d"] == "20 November 2026, 09.00 WITA"
    assert docs[1]["l"] == "en"
    raw = (site / "search-index.js").read_text(encoding="utf-8")
    assert "</script>" not in raw and "<\\/script>" in raw  # the injected title stays inert
    # written a release at a time, the same bytes as the whole list at once
    whole = json.dumps(docs, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    assert raw == f"window.SYNDICATOR_SEARCH = {whole};\n"
    page = (site / "search.html").read_text(encoding="utf-8")
    assert 'action="search.html"' in page and 'data-count="{n} siaran pers cocok dengan “{q}”."' in page
    assert "<noscript>" in page and 'href="archive.html"' in page
    assert (site / "search.js").read_text(encoding="utf-8").startswith("/* syndicator website channel")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'role="search"' in index and 'action="search.html"' in index and 'name="q"' in index
    nested = (site / releases_path(site, 0)).read_text(encoding="utf-8")
    assert 'action="../search.html"' in nested


def releases_path(site: Path, n: int) -> str:
    return str(search_docs(site)[n]["u"])


def test_open_graph_and_twitter_cards(tmp_path: Path, releases: list[Release]) -> None:
    posts = publish_all(WebsiteChannel(), releases, make_ctx(tmp_path, description="PPID Provinsi"))
    site = tmp_path / "site"
    meta = outline(site / posts[0].link).meta
    assert meta["og:type"] == ["article"] and meta["og:title"] == ["Vaksinasi Massal di Kota Kupang"]
    assert meta["og:site_name"] == ["Siaran Pers"] and meta["og:locale"] == ["id_ID"]
    assert meta["og:description"] == meta["description"] == ["Pemerintah provinsi menggelar vaksinasi."]
    assert meta["article:published_time"] == ["2026-11-20T09:00:00+08:00"]
    assert meta["article:section"] == ["Dinas Kesehatan"] and meta["article:tag"] == [
        "Kesehatan",
        "Vaksinasi",
    ]
    assert "og:url" not in meta and "og:image" not in meta  # cards need absolute URLs: no base_url, none
    assert meta["twitter:card"] == ["summary"] and meta["twitter:title"] == meta["og:title"]
    assert outline(site / posts[1].link).meta["og:locale"] == ["en_US"]
    home = outline(site / "index.html").meta
    assert home["og:type"] == ["website"] and home["og:title"] == ["Siaran Pers"]
    assert home["og:description"] == ["PPID Provinsi"]

    base = "https://ppid.example.go.id/siaran"
    posts = publish_all(WebsiteChannel(), releases, make_ctx(tmp_path, base_url=base))
    meta = outline(site / posts[0].link).meta
    assert meta["og:url"] == [f"{base}/{posts[0].link}"]
    [image] = meta["og:image"]
    assert image.startswith(f"{base}/media/") and image.endswith("-foto-gubernur.jpg")
    assert meta["og:image:alt"] == meta["twitter:image:alt"] == ["Gubernur menyerahkan vaksin kepada petugas"]
    assert meta["twitter:card"] == ["summary_large_image"] and meta["twitter:image"] == [image]


def test_sitemap_only_with_a_base_url(tmp_path: Path, releases: list[Release]) -> None:
    site = tmp_path / "site"
    publish_all(WebsiteChannel(), releases, make_ctx(tmp_path))
    assert not (site / "sitemap.xml").exists()
    base = "https://ppid.example.go.id/siaran"
    posts = publish_all(WebsiteChannel(), releases, make_ctx(tmp_path, base_url=base + "/"))
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    urls = {
        u.findtext(f"{ns}loc"): u.findtext(f"{ns}lastmod")
        for u in ET.parse(site / "sitemap.xml").getroot().findall(f"{ns}url")
    }
    assert next(iter(urls)) == f"{base}/index.html"
    assert urls[f"{base}/{posts[0].link}"] == "2026-11-20" and urls[f"{base}/{posts[4].link}"] is None
    pages = {str(p.relative_to(site)) for p in site.rglob("*.html")} - {"search.html"}
    assert set(urls) == {f"{base}/{p}" for p in pages}
    assert "sitemap.xml" in (site / "index.html").read_text(encoding="utf-8")
    WebsiteChannel().finish(make_ctx(tmp_path))  # base_url gone: a sitemap would point elsewhere
    assert not (site / "sitemap.xml").exists()


def test_accessibility_basics(tmp_path: Path, releases: list[Release]) -> None:
    publish_all(WebsiteChannel(), releases, make_ctx(tmp_path, per_page=2))
    site = tmp_path / "site"
    for page in sorted(site.rglob("*.html")):
        o = outline(page)
        assert o.first_link == "#main", f"{page}: the skip link comes first"
        assert o.headings[0] == 1 and o.headings.count(1) == 1, page
        jumps = [(a, b) for a, b in zip(o.headings, o.headings[1:], strict=False) if b > a + 1]
        assert jumps == [], f"{page}: heading levels skip: {jumps}"
        assert set(o.controls) <= o.labels, f"{page}: a form control has no label"
        assert parse(page).lang in ("id", "en")
    css = (site / "style.css").read_text(encoding="utf-8")
    assert ":focus-visible" in css and "@media print" in css and ".skip-link:focus" in css


def test_urgent_releases_are_marked(tmp_path: Path, releases: list[Release]) -> None:
    urgent = releases[0].with_changes(priority="urgent")
    posts = publish_all(WebsiteChannel(), [urgent, releases[1]], make_ctx(tmp_path))
    site = tmp_path / "site"
    assert '<strong class="badge">Penting</strong>' in (site / posts[0].link).read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count('class="badge"') == 1


def test_home_page_shows_agencies_months_and_feeds(tmp_path: Path, releases: list[Release]) -> None:
    publish_all(WebsiteChannel(), releases, make_ctx(tmp_path))
    home = (tmp_path / "site/index.html").read_text(encoding="utf-8")
    aside = home[home.index('<aside class="aside">') :]
    assert 'href="agency/dinas-kesehatan.html"' in aside and 'href="archive/2026-11.html"' in aside
    assert 'href="feed.xml"' in aside and "<h1" not in aside
    assert "<title>Siaran Pers</title>" in home and '<h1 dir="auto">Siaran Pers Terbaru</h1>' in home
    two = publish_all(WebsiteChannel(), releases, make_ctx(tmp_path, per_page=2))
    assert two and '<aside class="aside">' not in (tmp_path / "site/page/2.html").read_text(encoding="utf-8")


def test_retraction_keeps_the_page_under_a_notice_and_out_of_every_index(
    tmp_path: Path, releases: list[Release]
) -> None:
    ctx = make_ctx(tmp_path, base_url="https://ppid.example.go.id")
    channel = WebsiteChannel()
    posts = [channel.render(r, ctx) for r in releases]
    receipts = [channel.publish(p, ctx) for p in posts]
    channel.finish(ctx)
    site = tmp_path / "site"
    channel.delete(receipts[0], ctx)
    channel.finish(ctx)
    page = (site / posts[0].link).read_text(encoding="utf-8")
    assert '<p class="retracted-notice" role="note"><strong>Dicabut.</strong>' in page
    assert '<meta name="robots" content="noindex">' in page and "<title>[Dicabut] Vaksinasi" in page
    gone = "Vaksinasi Massal"
    for name in ("index.html", "archive/2026-11.html", "agencies.html", "tag/vaksinasi.html"):
        assert not (site / name).exists() or gone not in (site / name).read_text(encoding="utf-8"), name
    assert not (site / "tag/vaksinasi.html").exists()  # its only release is gone
    assert gone not in (site / "feed.xml").read_text(encoding="utf-8")
    assert all(d["t"] != releases[0].title for d in search_docs(site))
    assert posts[0].link not in (site / "sitemap.xml").read_text(encoding="utf-8")
    assert broken_links(site) == []
    before = snapshot(site)
    channel.delete(receipts[0], ctx)  # twice: nothing changes
    channel.finish(ctx)
    assert snapshot(site) == before
    channel.delete(Receipt(remote_id="releases/never-published-abc123.html"), ctx)  # no record: done
    with pytest.raises(PermanentError, match="names no release page"):
        channel.delete(Receipt(remote_id="../../etc/passwd"), ctx)
    channel.publish(posts[0], ctx)  # published again (approved anew): back in the indexes
    channel.finish(ctx)
    assert gone in (site / "index.html").read_text(encoding="utf-8")
    assert "retracted-notice" not in (site / posts[0].link).read_text(encoding="utf-8")


def test_a_website_only_run_loads_no_http_stack(tmp_path: Path) -> None:
    """A folder published to the website alone imports neither requests nor urllib3: a cron
    tick pays only for what it uses (``Channel.imports``)."""
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "a.md").write_text(
        "---\nid: a\ntitle: Jembatan dibuka\ndate: 2026-11-20T09:00:00+08:00\n---\n\nIsi rilis.\n",
        encoding="utf-8",
    )
    config = tmp_path / "syndicator.toml"
    config.write_text(
        '[syndicator]\nstate = "state.db"\n\n'
        '[sources.news]\ntype = "directory"\npath = "releases"\napproval = "trusted"\n\n'
        '[channels.site]\ntype = "website"\noutput = "site"\n',
        encoding="utf-8",
    )
    script = (
        "import sys\nfrom syndicator.console import main\n"
        "try:\n    main(['-q', '--config', sys.argv[1], 'run'])\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))\n"
        "print(sorted(m for m in ('syndicator_channels.webhook', 'syndicator_channels.email',"
        " 'syndicator_channels.telegram') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(config)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]  # nor the modules of channels it does not use
    assert (tmp_path / "site" / "index.html").exists()


def test_finish_leaves_current_release_pages_and_builds_the_same_site_as_a_full_rebuild(
    tmp_path: Path, releases: list[Release]
) -> None:
    """A later finish renders only the listing pages whose releases changed, not every
    release page again (publish and delete wrote theirs): the site is byte for byte the one a
    full rebuild makes, through new releases over several months, pages and agencies, an edit
    that moves a release to another agency, and a retraction; a page lost on disk is made
    again."""
    from dataclasses import replace
    from datetime import timedelta

    from syndicator_channels.website import BUILT_WITH, SHOWN

    # spread over three months, so most month pages stay as they are while others change
    varied = [
        replace(r, published=r.published - timedelta(days=31 * (n % 3))) if r.published else r
        for n, r in enumerate(releases)
    ]
    markers = (BUILT_WITH, SHOWN)

    def operate(root: Path, full: bool) -> dict[str, bytes]:
        ctx = make_ctx(root, base_url="https://ppid.example.go.id", per_page=2)
        channel, site = WebsiteChannel(), root / "site"

        def finish() -> None:
            if full:  # as if every page needed rendering
                for marker in markers:
                    (site / marker).unlink(missing_ok=True)
            channel.finish(ctx)

        receipts = {}
        for batch in (
            varied[:2],
            varied[2:4],
            [replace(varied[1], title="Judul diperbaiki", agency="Dinas Komunikasi")],
            varied[4:],
        ):
            for release in batch:
                receipts[release.key] = channel.publish(channel.render(release, ctx), ctx)
            finish()
        channel.delete(receipts[varied[2].key], ctx)
        finish()
        return {path: data for path, (data, _) in snapshot(site).items() if path not in markers}

    incremental, full = operate(tmp_path / "a", False), operate(tmp_path / "b", True)
    assert incremental == full
    assert "Judul diperbaiki" in incremental[f"releases/{release_slug(releases[1])}.html"].decode()
    assert len([p for p in full if p.startswith("archive/")]) >= 2

    site, ctx = (
        tmp_path / "a" / "site",
        make_ctx(tmp_path / "a", base_url="https://ppid.example.go.id", per_page=2),
    )
    shown = json.loads((site / SHOWN).read_text(encoding="ascii"))["pages"]
    assert {p for p in full if p.startswith(("agency/", "tag/", "archive/", "page/"))} < set(shown)
    lost = [site / f"releases/{release_slug(releases[0])}.html", site / "agency/dinas-komunikasi.html"]
    for page in lost:
        page.unlink()
    WebsiteChannel().finish(ctx)
    for page in lost:
        assert page.read_bytes() == full[str(page.relative_to(site))]


def test_a_finish_that_stops_half_way_leaves_no_marker_to_vouch_for_its_pages(
    tmp_path: Path, releases: list[Release]
) -> None:
    """Pages are written as they are rendered. A finish that fails after some of them (here a
    file where the ``tag`` folder goes) leaves neither marker behind, so when the site's
    options go back to the old ones the next finish renders every page again instead of
    trusting pages written with the options that failed."""
    from syndicator_channels.website import BUILT_WITH, SHOWN

    site = tmp_path / "site"
    publish_all(WebsiteChannel(), releases, make_ctx(tmp_path, title="Siaran Pers Jawa Barat"))
    assert (site / BUILT_WITH).is_file() and (site / SHOWN).is_file()
    first = snapshot(site)

    shutil.rmtree(site / "tag")
    (site / "tag").write_text("in the way", encoding="utf-8")
    with pytest.raises(PermanentError, match="tag"):
        WebsiteChannel().finish(make_ctx(tmp_path, title="Judul yang Salah"))
    assert "Judul yang Salah" in (site / f"releases/{release_slug(releases[0])}.html").read_text(
        encoding="utf-8"
    )
    assert not (site / BUILT_WITH).exists() and not (site / SHOWN).exists()

    (site / "tag").unlink()
    WebsiteChannel().finish(make_ctx(tmp_path, title="Siaran Pers Jawa Barat"))
    assert {path: data for path, (data, _) in snapshot(site).items()} == {
        path: data for path, (data, _) in first.items()
    }


def test_an_edit_of_the_body_alone_reaches_the_search_and_leaves_the_listing_pages(
    tmp_path: Path, releases: list[Release]
) -> None:
    from syndicator_channels.website import BUILT_WITH, SHOWN

    ctx = make_ctx(tmp_path)
    channel = WebsiteChannel()
    receipts = {r.key: channel.publish(channel.render(r, ctx), ctx) for r in releases}
    channel.finish(ctx)
    site = tmp_path / "site"
    before = snapshot(site)
    edited = releases[0].with_changes(body_html="<p>Isi rilis yang diperbaiki: Rhizophora.</p>", body_text="")
    channel.update(receipts[edited.key], channel.render(edited, ctx), ctx)
    channel.finish(ctx)
    after = snapshot(site)
    page = f"releases/{release_slug(edited)}.html"
    record = f".syndicator/releases/{Path(page).stem}.json"
    changed = {path for path in after if after[path][0] != before[path][0]}
    assert changed == {page, record, "search-index.js", "feed.xml", "feed.json"}  # the feeds carry the body
    listings = [p for p in after if p == "index.html" or p.startswith(("agency/", "tag/", "archive/"))]
    assert listings and all(after[p] == before[p] for p in listings)  # not written again: same mtime
    assert "Rhizophora" in search_docs(site)[0]["x"]
    assert (site / BUILT_WITH).is_file() and (site / SHOWN).is_file()
    assert not [p for p in after if p.endswith(".tmp")]

    # the search index written in parts fails to land: the listings marker is gone, no part is left
    (site / "search-index.js").unlink()
    (site / "search-index.js").mkdir()
    again = edited.with_changes(body_html="<p>Isi rilis, sekali lagi.</p>")
    channel.update(receipts[edited.key], channel.render(again, ctx), ctx)
    with pytest.raises(PermanentError, match=r"search-index\.js"):
        channel.finish(ctx)
    assert not (site / SHOWN).exists() and not list(site.glob(".search-index.js.*"))
