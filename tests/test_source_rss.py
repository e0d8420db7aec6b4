"""The rss source against a real local HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from feedserver import FeedServer, MemoryState, free_port, make_context

from syndicator.errors import SourceError
from syndicator.models import Release
from syndicator.sources.base import SourceContext
from syndicator.sources.feeditems import strip_entity_doctype
from syndicator.sources.rss import RssSource

MAKASSAR = ZoneInfo("Asia/Makassar")

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>Pemprov</title><link>https://pemprov.example.go.id/</link><language>id</language>
  <item>
    <guid isPermaLink="false">rilis-1</guid>
    <title>Banjir &amp; Longsor di Samarinda</title>
    <link>https://pemprov.example.go.id/rilis/1</link>
    <description><![CDATA[<p>Warga <b>diminta</b> waspada.</p><script>alert(1)</script><p>Kedua.</p>]]></description>
    <pubDate>Fri, 20 Nov 2026 09:00:00 +0800</pubDate>
    <dc:creator>Humas</dc:creator>
    <category>bencana</category><category>banjir</category>
    <enclosure url="https://pemprov.example.go.id/foto.jpg" type="image/jpeg" length="1234"/>
    <enclosure url="https://pemprov.example.go.id/data.pdf" type="application/pdf" length="99"/>
    <enclosure url="file:///etc/passwd" type="image/png" length="1"/>
    <media:content url="https://0.gravatar.com/avatar/abc?s=96" medium="image"/>
  </item>
  <item>
    <title>Tanpa zona waktu</title>
    <link>https://pemprov.example.go.id/rilis/2</link>
    <description>Teks biasa.</description>
    <pubDate>Sat, 21 Nov 2026 10:30:00</pubDate>
    <media:content url="https://pemprov.example.go.id/poster.png" medium="image" type="image/png"/>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Atom</title><id>urn:feed</id><updated>2026-11-20T09:00:00Z</updated>
  <entry>
    <id>urn:entry:1</id><title type="text">History of the &lt;blink&gt; tag</title>
    <updated>2026-11-20T09:00:00</updated>
    <content type="text">Plain &lt;blink&gt; text</content>
  </entry>
  <entry><id>urn:entry:2</id><summary>Only a summary, which becomes the title of this entry when there is none</summary>
    <updated>2026-11-20T09:00:00Z</updated></entry>
  <entry><id>urn:entry:3</id><updated>2026-11-20T09:00:00Z</updated></entry>
  <entry><id>urn:entry:1</id><title>Duplicate</title><updated>2026-11-20T09:00:00Z</updated></entry>
</feed>
"""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


def ctx_for(url: str, state: MemoryState | None = None, **options: Any) -> SourceContext:
    return make_context(
        RssSource, {"url": url, **options}, name="pemprov", state=state, defaults={"tags": ("kaltim",)}
    )


def collect(ctx: SourceContext) -> tuple[list[Release], list[SourceError]]:
    items = list(RssSource().collect(ctx))
    return [i for i in items if isinstance(i, Release)], [i for i in items if isinstance(i, SourceError)]


def test_first_fetch_yields_entries(server: FeedServer) -> None:
    url = server.set("/feed", RSS)
    releases, errors = collect(ctx_for(url))
    assert errors == []
    first, second = releases
    assert first.source == "pemprov" and first.id == "rilis-1" and first.origin == url
    assert first.title == "Banjir & Longsor di Samarinda"
    assert "<b>diminta</b>" in first.body_html and "script" not in first.body_html
    assert first.summary == "Warga diminta waspada. Kedua."
    assert first.url == "https://pemprov.example.go.id/rilis/1"
    assert first.published == datetime(2026, 11, 20, 1, tzinfo=UTC)
    assert first.author == "Humas" and first.language == "id"
    assert first.tags == ("bencana", "banjir", "kaltim")
    (image,) = first.images
    assert (image.location, image.kind, image.mime_type, image.size) == (
        "https://pemprov.example.go.id/foto.jpg",
        "image",
        "image/jpeg",
        1234,
    )
    (pdf,) = first.attachments
    assert pdf.kind == "file" and pdf.size == 99
    assert first.status == "" and first.approval is None
    assert second.id == "https://pemprov.example.go.id/rilis/2"  # no guid: the link
    assert second.images[0].location == "https://pemprov.example.go.id/poster.png"
    request = server.last("/feed")
    assert "syndicator" in request.headers.get("User-Agent", "")


def test_timezone_less_dates_take_the_configured_zone(server: FeedServer) -> None:
    releases, _ = collect(ctx_for(server.set("/feed", RSS)))
    assert releases[1].published == datetime(2026, 11, 21, 10, 30, tzinfo=MAKASSAR)
    assert releases[1].published.utcoffset() is not None
    atom = collect(ctx_for(server.set("/atom", ATOM, content_type="application/atom+xml")))[0]
    assert atom[0].published == datetime(2026, 11, 20, 9, tzinfo=MAKASSAR)
    assert atom[1].published == datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_etag_gives_304_and_nothing(server: FeedServer) -> None:
    state = MemoryState()
    url = server.set("/feed", RSS, etag='"v1"')
    assert len(collect(ctx_for(url, state))[0]) == 2
    assert state.data["validators"]["etag"] == '"v1"'
    assert collect(ctx_for(url, state)) == ([], [])
    assert server.count("/feed") == 2
    assert server.last("/feed").headers.get("If-None-Match") == '"v1"'


def test_last_modified_only(server: FeedServer) -> None:
    state = MemoryState()
    stamp = "Fri, 20 Nov 2026 01:00:00 GMT"
    url = server.set("/feed", RSS, last_modified=stamp)
    assert len(collect(ctx_for(url, state))[0]) == 2
    assert collect(ctx_for(url, state)) == ([], [])
    request = server.last("/feed")
    assert request.headers.get("If-Modified-Since") == stamp and "If-None-Match" not in request.headers


def test_identical_body_without_validators_yields_nothing(server: FeedServer) -> None:
    state = MemoryState()
    url = server.set("/feed", RSS)
    assert len(collect(ctx_for(url, state))[0]) == 2
    assert collect(ctx_for(url, state)) == ([], [])
    server.set("/feed", RSS.replace("Teks biasa.", "Teks diubah."))
    releases, _ = collect(ctx_for(url, state))
    assert [r.summary for r in releases][1] == "Teks diubah."
    assert server.count("/feed") == 3


def test_validators_stored_only_after_a_good_parse(server: FeedServer) -> None:
    state = MemoryState()
    url = server.set("/feed", "<html><body>Maintenance</body></html>", etag='"x"', content_type="text/html")
    with pytest.raises(SourceError, match="not a feed"):
        collect(ctx_for(url, state))
    assert state.data == {}
    with pytest.raises(SourceError):
        collect(ctx_for(url, state))
    assert "If-None-Match" not in server.last("/feed").headers


@pytest.mark.parametrize(
    ("status", "reason"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"), (403, "HTTP 403 Forbidden")],
)
def test_http_errors(server: FeedServer, status: int, reason: str) -> None:
    url = server.set("/feed", "nope", status=status)
    with pytest.raises(SourceError) as caught:
        collect(ctx_for(url))
    assert caught.value.source == "pemprov" and caught.value.reason == reason
    assert str(caught.value) == f"pemprov: {reason}"


def test_unknown_path_is_404(server: FeedServer) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        collect(ctx_for(server.url("/missing")))


def test_timeout(server: FeedServer) -> None:
    url = server.set("/slow", RSS, delay=5.0)
    with pytest.raises(SourceError, match=r"^pemprov: timed out after 0.3 s$"):
        collect(ctx_for(url, timeout=0.3))


def test_connection_refused() -> None:
    with pytest.raises(SourceError, match=r"^pemprov: connection refused$"):
        collect(ctx_for(f"http://127.0.0.1:{free_port()}/feed"))


@pytest.mark.parametrize(
    "body",
    [
        "",
        "just text",
        '{"version": "https://jsonfeed.org/version/1"}',
        "<?xml version='1.0'?><rss version='2.0'><channel><item>",
    ],
)
def test_not_a_feed(server: FeedServer, body: str) -> None:
    url = server.set("/feed", body)
    with pytest.raises(SourceError, match=r"^pemprov: not a feed: "):
        collect(ctx_for(url))


def test_empty_but_valid_feed_is_fine(server: FeedServer) -> None:
    url = server.set(
        "/feed", "<?xml version='1.0'?><rss version='2.0'><channel><title>x</title></channel></rss>"
    )
    assert collect(ctx_for(url)) == ([], [])


def test_max_bytes(server: FeedServer) -> None:
    url = server.set("/feed", RSS)
    with pytest.raises(SourceError, match="max_bytes"):
        collect(ctx_for(url, max_bytes=100))


def test_max_bytes_counts_the_inflated_body(server: FeedServer) -> None:
    """A compressed feed under the limit on the wire is still cut off once it inflates past it."""
    import gzip

    body = gzip.compress(RSS.encode())
    assert len(body) < 700 < len(RSS.encode())
    url = server.set("/feed", body, headers={"Content-Encoding": "gzip"})
    with pytest.raises(SourceError, match=r"^pemprov: the feed is over max_bytes \(700 bytes\)$"):
        collect(ctx_for(url, max_bytes=700))


def test_gzip_is_asked_for_and_decoded(server: FeedServer) -> None:
    import gzip

    url = server.set("/feed", gzip.compress(RSS.encode()), headers={"Content-Encoding": "gzip"})
    releases, errors = collect(ctx_for(url))
    assert errors == [] and releases[0].title == "Banjir & Longsor di Samarinda"
    sent = server.last("/feed").headers
    assert "gzip" in sent["Accept-Encoding"] and "application/rss+xml" in sent["Accept"]
    assert sent["User-Agent"].startswith("syndicator/")


def test_redirects_are_followed_and_the_final_url_is_the_base(server: FeedServer) -> None:
    relative = RSS.replace("https://pemprov.example.go.id/rilis/1", "rilis/1")
    server.set("/new/feed.xml", relative)
    old = server.set("/feed", "", status=301, headers={"Location": "/moved"})
    server.set("/moved", "", status=307, headers={"Location": "/new/feed.xml"})
    releases, _ = collect(ctx_for(old))
    assert releases[0].url == server.url("/new/rilis/1")


def test_credentials_in_the_url_go_to_its_host_only(server: FeedServer) -> None:
    """``https://user:pass@host/feed`` is sent as Basic auth, as before with requests, and
    never on to a redirect that leaves the host."""
    import base64

    server.set("/private", RSS)
    url = server.url("/private").replace("http://", "http://humas:rahasia%40kantor@")
    collect(ctx_for(url))
    expected = "Basic " + base64.b64encode(b"humas:rahasia@kantor").decode()
    assert server.last("/private").headers["Authorization"] == expected
    relative = RSS.replace("https://pemprov.example.go.id/rilis/1", "rilis/1")
    server.set("/private", relative)
    releases, _ = collect(ctx_for(url))
    # Neither a relative link resolved against the feed's URL nor the release's origin carries them.
    assert releases[0].url == server.url("/rilis/1") and "rahasia" not in releases[0].origin

    port = server.url("/").rsplit(":", 1)[1].split("/")[0]
    server.set("/away", "", status=302, headers={"Location": f"http://localhost:{port}/private"})
    away = server.url("/away").replace("http://", "http://humas:rahasia@")
    releases, _ = collect(ctx_for(away))
    assert releases and "Authorization" in server.last("/away").headers
    assert "Authorization" not in server.last("/private").headers  # localhost is another host


def test_a_redirect_loop_is_a_clear_error(server: FeedServer) -> None:
    url = server.set("/feed", "", status=302, headers={"Location": "/feed"})
    with pytest.raises(SourceError, match=r"^pemprov: network error: .*too many redirects"):
        collect(ctx_for(url))
    assert server.count("/feed") == 11  # the first request and ten redirects


def test_atom_text_content_untitled_and_duplicates(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.set("/atom", ATOM, content_type="application/atom+xml")
    releases, errors = collect(ctx_for(url))
    assert [r.id for r in releases] == ["urn:entry:1", "urn:entry:2"]
    blink, untitled = releases
    assert blink.title == "History of the <blink> tag" and blink.body_text == "Plain <blink> text"
    assert blink.language == "en"
    assert untitled.title.startswith("Only a summary") and len(untitled.title) <= 80
    (error,) = errors
    assert error.item == "urn:entry:3" and error.reason == "entry has no title or text"
    assert "two entries with id 'urn:entry:1'" in caplog.text


# Run in a process of its own: an audit hook cannot be removed, and one left in the test
# process makes CPython 3.11 fail to start threads under coverage ("Cannot install a trace
# function while another trace function is being installed", python/cpython#98257).
_PARSE_AUDITED = """
import json, sys
seen = []
sys.addaudithook(lambda event, args: seen.append(f"{event} {args[0]!r}")
                 if event in ("open", "urllib.Request", "socket.connect") else None)
from syndicator.sources.feeditems import parse_feed_bytes
data = sys.stdin.buffer.read()
seen.clear()  # what importing opened is not the parser's doing
parsed = parse_feed_bytes(data)
print(json.dumps({"seen": list(seen), "parsed": repr(parsed)}))
"""


def _parse_audited(doc: bytes) -> tuple[list[str], str]:
    """Parse ``doc`` in a fresh interpreter; what it opened or requested (sys.audit) meanwhile,
    and the parse's repr."""
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _PARSE_AUDITED], input=doc, capture_output=True, timeout=60, check=True
    )
    out = json.loads(done.stdout)
    return out["seen"], out["parsed"]


def test_external_entities_are_never_read(server: FeedServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4242", encoding="utf-8")
    server.set("/ping", "PINGED-SECRET")
    doc = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY file SYSTEM "file://{secret}">
  <!ENTITY ping SYSTEM "{server.url("/ping")}">
]>
<rss version="2.0"><channel><title>x</title>
<item><guid isPermaLink="false">1</guid><title>Judul &file;</title><description>a &ping; b</description></item>
</channel></rss>"""
    seen, parsed = _parse_audited(doc.encode())
    assert not any(str(secret) in s or "/ping" in s for s in seen), seen
    url = server.set("/feed", doc)
    releases, errors = collect(ctx_for(url))
    text = repr([r.to_dict() for r in releases]) + repr(errors) + repr(parsed)
    assert "TOPSECRET" not in text and "PINGED" not in text
    assert server.count("/ping") == 0
    assert releases and releases[0].id == "1"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss version="2.0"><channel><item><guid>b</guid><title>t &lol9;</title><description>d &lol3;</description></item></channel></rss>
"""


def test_entity_expansion_never_happens(server: FeedServer) -> None:
    url = server.set("/feed", BILLION_LAUGHS)
    releases, _ = collect(ctx_for(url))
    text = repr([r.to_dict() for r in releases])
    assert "lollol" not in text and len(text) < 5000


def test_strip_entity_doctype() -> None:
    assert strip_entity_doctype(b"<rss/>") == b"<rss/>"
    netscape = (
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://x/rss.dtd">\n<rss/>'
    )
    assert strip_entity_doctype(netscape) == netscape  # no entities: kept (it tells the RSS version)
    evil = b'<?xml version="1.0"?>\n<!-- <a> --><!DOCTYPE x [<!ENTITY a "]>&b;"> <!-- ] --> ]>\n<x>&a;</x>'
    assert strip_entity_doctype(evil) == b'<?xml version="1.0"?>\n<!-- <a> -->\n<x>&a;</x>'
    pi = b"<!DOCTYPE x [<?pi ]?><!ENTITY a 'A'>]><x>&a;</x>"
    assert strip_entity_doctype(pi) == b"<x>&a;</x>"
    lower = b"<!doctype x [<!entity a 'A'>]><x/>"
    assert strip_entity_doctype(lower) == b"<x/>"
    unterminated = b"<!DOCTYPE x [<!ENTITY a 'A'><x>&a;</x>"
    assert b"ENTITY" not in strip_entity_doctype(unterminated)
    wide = '\ufeff<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY a "A">]><x>&a;</x>'
    for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        out = strip_entity_doctype(wide.encode(codec)).decode(codec)
        assert out == '\ufeff<?xml version="1.0" encoding="utf-16"?><x>&a;</x>', codec
    assert strip_entity_doctype(wide[1:].encode("utf-16-le")).decode("utf-16-le").endswith("?><x>&a;</x>")


def test_charset_from_the_content_type_header(server: FeedServer) -> None:
    body = (
        RSS.replace('encoding="utf-8"', "").replace("Longsor", "Longsor café").encode("iso-8859-1", "replace")
    )
    url = server.set("/feed", body, content_type="application/rss+xml; charset=iso-8859-1")
    releases, _ = collect(ctx_for(url))
    assert releases[0].title == "Banjir & Longsor café di Samarinda"
