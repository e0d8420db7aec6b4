"""The fast RSS 2.0 reader: the releases feedparser gives, or it declines and feedparser reads.

feedparser is the oracle: every feed here is read both ways and must give equal releases
(and equal per-entry errors) whenever the fast reader accepts it. With SYNDICATOR_CORPUS
set, every feed of the shared corpus is checked the same way, under several headers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicator.errors import SourceError
from syndicator.sources import fastrss
from syndicator.sources.fastrss import parse_rss
from syndicator.sources.feeditems import read_feed

TZ = ZoneInfo("Asia/Jakarta")
RSS = "application/rss+xml; charset=utf-8"
LOCATION = "https://ppid.example.go.id/siaran-pers/feed/"
CORPUS = Path(os.environ["SYNDICATOR_CORPUS"]) if os.environ.get("SYNDICATOR_CORPUS") else None
NOT_FEEDS = re.compile(r"(^|/)(LICENSE[^/]*|NOTICE[^/]*)$|\.(md|tsv|txt|json)$", re.IGNORECASE)

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:wfw="http://wellformedweb.org/CommentAPI/"'
    ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/">\n<channel>\n'
    "<title>Siaran Pers</title><link>https://ppid.example.go.id/</link><language>id</language>\n"
)


def feed(*items: str, head: str = HEAD) -> bytes:
    return (head + "".join(f"<item>{item}</item>\n" for item in items) + "</channel></rss>\n").encode("utf-8")


def both(body: bytes, headers: dict[str, str]) -> tuple[Any, Any]:
    """What read_feed gives through feedparser, and through the fast reader."""

    def read(fast: bool) -> Any:
        try:
            found = read_feed(body, headers, "news", LOCATION, TZ, {}, fast=fast)
        except SourceError as exc:
            return ("not a feed", str(exc))
        return [(str(item), item.item) if isinstance(item, SourceError) else item for item in found]

    return read(False), read(True)


def headers_for(content_type: str = RSS, **more: str) -> dict[str, str]:
    return {"content-type": content_type, "content-location": LOCATION, **more}


WORDPRESS_ITEM = (
    "<title>Gubernur Resmikan Jembatan Kali Progo</title>"
    "<link>https://ppid.example.go.id/2026/11/jembatan/?utm=rss&amp;x=1</link>"
    "<comments>https://ppid.example.go.id/2026/11/jembatan/#respond</comments>"
    "<dc:creator><![CDATA[Humas Diskominfo]]></dc:creator>"
    "<pubDate>Mon, 09 Nov 2026 09:30:00 +0700</pubDate>"
    '<category><![CDATA[Infrastruktur]]></category><category domain="tag">Jembatan</category>'
    "<category>Infrastruktur</category>"
    '<guid isPermaLink="false">https://ppid.example.go.id/?p=101</guid>'
    "<description><![CDATA[Jembatan sepanjang 120 meter &#8230;]]></description>"
    "<content:encoded><![CDATA[<p>Jembatan <b>dibuka</b> untuk umum.</p><script>x()</script>"
    '<p><img src="/wp-content/foto.jpg" alt="Peresmian"></p>]]></content:encoded>'
    "<wfw:commentRss>https://ppid.example.go.id/2026/11/jembatan/feed/</wfw:commentRss>"
    "<slash:comments>0</slash:comments>"
    '<post-id xmlns="com-wordpress:feed-additions:1">101</post-id>'
    '<enclosure url="https://ppid.example.go.id/foto.JPG" length="12345" type="Image/JPEG"/>'
    '<enclosure url="https://ppid.example.go.id/rilis.pdf" length="99" type="application/pdf"/>'
)

ACCEPTED = {
    "wordpress": feed(WORDPRESS_ITEM),
    "relative links and a permalink guid": feed(
        "<title>Satu</title><guid>/2026/11/satu</guid><description>Isi satu.</description>",
        "<title>Dua</title><guid>/2026/11/dua</guid><link>dua.html</link><description>Isi dua.</description>",
    ),
    "titles that look like HTML, or not": feed(
        "<title>Harga &lt;b&gt;turun&lt;/b&gt; &amp;amp; stok aman</title><description>a</description>",
        "<title>A &amp; B &lt; C</title><description>b</description>",
        "<title>Ekspor &lt;naik&gt; 5%</title><description>c</description>",
    ),
    "encoding repairs feedparser makes": feed(
        "<title>CafÃ© rakyat \u0093dibuka\u0094</title><description>Harga \u0080 5</description>",
    ),
    "content before the description, and no description": feed(
        "<content:encoded><![CDATA[<p>Isi lengkap.</p>]]></content:encoded><title>Urutan</title>"
        "<description>Ringkas.</description>",
        "<title>Tanpa ringkasan</title><content:encoded><![CDATA[<p>Hanya isi.</p>]]></content:encoded>",
    ),
    "dates: dc:date, none, a zone-less one, a bad one": feed(
        "<title>A</title><dc:date>2026-11-09T09:30:00+07:00</dc:date><description>a</description>",
        "<title>B</title><description>b</description>",
        "<title>C</title><pubDate>Mon, 09 Nov 2026 09:30:00</pubDate><description>c</description>",
        "<title>D</title><pubDate>kemarin sore</pubDate><description>d</description>",
    ),
    "an empty item, one without title or text, duplicate ids": feed(
        "",
        "<guid>https://ppid.example.go.id/x</guid>",
        "<title>Sama</title><guid>https://ppid.example.go.id/same</guid>",
        "<title>Sama lagi</title><guid>https://ppid.example.go.id/same</guid>",
    ),
    "whitespace and comments around text": feed(
        "<title>\n   Berjarak   <!-- catatan --> lebar \n</title>"
        "<description>  <![CDATA[<p>a</p>]]>  </description>",
    ),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
@pytest.mark.parametrize(
    "headers",
    [
        headers_for(),
        headers_for("application/xml", **{"content-language": "id_ID"}),
        headers_for("text/xml; charset=utf-8"),
        {"content-type": RSS},
    ],
    ids=["rss+xml", "xml with a language", "text/xml utf-8", "no content-location"],
)
def test_the_fast_reader_gives_what_feedparser_gives(name: str, headers: dict[str, str]) -> None:
    body = ACCEPTED[name]
    assert parse_rss(body, headers) is not None, "the fast reader should take this feed"
    slow, fast = both(body, headers)
    assert fast == slow


DECLINED = {
    "atom": b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
    "rss 0.91": feed("<title>a</title>", head=HEAD.replace('version="2.0"', 'version="0.91"')),
    "latin-1": feed("<title>a</title>").replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
    "utf-16": feed("<title>a</title>").decode().replace("UTF-8", "UTF-16").encode("utf-16"),
    "a doctype": feed("<title>a</title>").replace(b"<rss", b'<!DOCTYPE rss SYSTEM "x.dtd">\n<rss', 1),
    "xml:base": feed('<title xml:base="https://elsewhere.example/">a</title>'),
    "xml:lang": feed("<title>a</title>", head=HEAD.replace("<channel>", '<channel xml:lang="en">')),
    "an element it does not know": feed("<title>a</title><author>humas@example.go.id (Humas)</author>"),
    "media rss": feed('<title>a</title><media:content xmlns:media="http://search.yahoo.com/mrss/" url="x"/>'),
    "a repeated title": feed("<title>a</title><title>b</title>"),
    "markup inside a title": feed("<title>a <b>b</b></title>"),
    "an attribute it does not know": feed('<title type="html">a</title>'),
    "not well-formed": feed("<title>a &nbsp; b</title>"),
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_anything_else_is_left_to_feedparser(name: str) -> None:
    assert parse_rss(DECLINED[name], headers_for()) is None
    slow, fast = both(DECLINED[name], headers_for())
    assert fast == slow


@pytest.mark.parametrize(
    "content_type", ["", "text/html", "text/xml", "application/rss+xml; charset=iso-8859-1"]
)
def test_headers_that_change_how_feedparser_decodes_are_left_to_it(content_type: str) -> None:
    assert parse_rss(ACCEPTED["wordpress"], headers_for(content_type)) is None


# -- the corpus -------------------------------------------------------------------------------


def _corpus_feeds() -> list[Any]:
    if CORPUS is None:
        return [pytest.param("", marks=pytest.mark.skip(reason="needs SYNDICATOR_CORPUS"), id="no-corpus")]
    root = CORPUS / "feeds"
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not NOT_FEEDS.search(p.name)
    )


def _upstream_headers(data: bytes) -> dict[str, str]:
    found = re.finditer(rb"^\s*Header:\s*([A-Za-z-]+):[ \t]*(.*?)\s*$", data[:2000], re.MULTILINE)
    return {m.group(1).decode("ascii").lower(): m.group(2).decode("latin-1") for m in found}


@pytest.mark.service
@pytest.mark.parametrize("relative", _corpus_feeds())
def test_every_corpus_feed_reads_the_same_on_either_path(relative: str) -> None:
    assert CORPUS is not None
    body = (CORPUS / "feeds" / relative).read_bytes()
    for headers in (
        {"content-location": LOCATION, **_upstream_headers(body)},
        headers_for(),
        headers_for("application/xml", **{"content-language": "id"}),
        {"content-type": RSS},
    ):
        slow, fast = both(body, headers)
        assert fast == slow, headers


@pytest.mark.service
def test_the_fast_reader_takes_a_good_share_of_the_corpus() -> None:
    if CORPUS is None:
        pytest.skip("needs SYNDICATOR_CORPUS")
    files = [CORPUS / "feeds" / relative for relative in _corpus_feeds()]
    taken = [path for path in files if parse_rss(path.read_bytes(), headers_for()) is not None]
    assert len(taken) >= 50, f"only {len(taken)} of {len(files)} corpus feeds take the fast path"


# -- the steps done here instead of by feedparser's helpers (which would import it) ------------

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo"]
ZONES = st.one_of(
    st.sampled_from(["GMT", "UTC", "UT", "Z", "EST", "WIB", "+07:00", "gmt", ""]),
    st.builds(lambda sign, n: f"{sign}{n:04d}", st.sampled_from("+-"), st.integers(0, 9999)),
)


def two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


RFC822_LIKE = st.builds(
    lambda day_name, day, month, year, h, m, sec, zone: " ".join(
        part
        for part in (f"{day_name}," if day_name else "", day, month, year, f"{h}:{m}:{sec}", zone)
        if part
    ),
    st.sampled_from([*DAYS, None]),
    st.integers(0, 40).map(str),
    st.sampled_from(MONTHS),
    st.one_of(st.integers(0, 9999).map(lambda y: f"{y:04d}"), st.integers(0, 99).map(str)),
    two_digits(0, 30),
    two_digits(0, 70),
    two_digits(0, 70),
    ZONES,
)


@settings(max_examples=600, deadline=None)
@given(st.one_of(RFC822_LIKE, st.text(max_size=40)))
def test_dates_read_here_are_read_as_feedparser_reads_them(text: str) -> None:
    from feedparser.datetimes import _parse_date

    assert fastrss.parse_date(text) == _parse_date(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcxml/+-; =\"'CHARSETutf8", max_size=40))
def test_a_content_type_is_read_as_feedparser_reads_it(header: str) -> None:
    from feedparser.encodings import parse_content_type

    assert fastrss.content_type(header) == parse_content_type(header)


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=60).map(lambda b: b'<?xml version="1.0" ' + b)
    | st.text(alphabet="<?xml encoding=\"'utf-8 >\n\rab", max_size=60).map(str.encode)
)
def test_the_declared_encoding_is_read_as_feedparser_reads_it(data: bytes) -> None:
    from feedparser.encodings import RE_XML_PI_ENCODING

    ours, theirs = fastrss._DECLARED.match(data), RE_XML_PI_ENCODING.match(data)
    assert (ours and ours.group(1)) == (theirs and theirs.group(1))


URI_PIECES = st.text(alphabet="htps:/.exampl,+-?#&x [", max_size=40)
LOCATIONS = st.one_of(
    st.just(""), st.sampled_from([LOCATION, "http://a.example/b/c.xml", "https://x.example"]), URI_PIECES
)


@settings(max_examples=500, deadline=None)
@given(LOCATIONS, URI_PIECES)
def test_links_are_resolved_as_feedparser_resolves_them(location: str, uri: str) -> None:
    from feedparser.urls import _urljoin, make_safe_absolute_uri

    base = make_safe_absolute_uri("", location) or make_safe_absolute_uri(location) or ""
    for _ in range(4):
        base = (make_safe_absolute_uri(base, base) or base) if base else _urljoin(base, base)
    ours = fastrss._Feed({"content-location": location})
    assert ours.base == base
    assert ours._trimmed(uri, resolve=True) == (_urljoin(base, uri.strip()) if uri.strip() else "")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="<>/&#;abpi1 ", max_size=30))
def test_a_title_looks_like_html_exactly_when_feedparser_says_so(title: str) -> None:
    from feedparser.mixin import _FeedParserMixin

    assert fastrss._looks_like_html(title) == bool(_FeedParserMixin.looks_like_html(title))


def test_the_namespaces_answered_here_are_still_unknown_to_feedparser() -> None:
    from feedparser.mixin import _FeedParserMixin

    known = {uri.lower() for uri in _FeedParserMixin.namespaces}
    assert fastrss._UNKNOWN_TO_FEEDPARSER and not fastrss._UNKNOWN_TO_FEEDPARSER & known


READ_ONE_FEED = """
import sys
from zoneinfo import ZoneInfo
from syndicator.sources.feeditems import read_feed
found = read_feed(sys.stdin.buffer.read(), {"content-type": "application/rss+xml; charset=utf-8"},
                  "news", "https://ppid.example.go.id/feed/", ZoneInfo("Asia/Jakarta"), {}, fast=True)
print(len(found), "feedparser" in sys.modules)
"""


def test_a_plain_rss_feed_is_read_without_importing_feedparser() -> None:
    """A tick with one new item parses its feed in the run's own process: importing
    feedparser there would cost about 40 ms of it."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", READ_ONE_FEED], input=ACCEPTED["wordpress"], capture_output=True, check=True
    )
    assert done.stdout.decode().split() == ["1", "False"]
