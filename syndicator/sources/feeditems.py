"""A feed's body -> releases: the parsing half of the ``rss`` source.

:func:`read_feed` is module-level and pure, so the engine can run it in a parser process
(``SourceContext.offload``). It lives apart from :mod:`.rss` so that a tick in which every
feed answers "not modified" never imports it, nor the HTML tools it needs.

Safety: feedparser only ever sees bytes fetched by the source (never a URL or a path), and
any DOCTYPE that declares entities is removed first (:func:`strip_entity_doctype`), so no
entity is expanded (billion laughs) and no external entity is read (XXE).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from ..content import html_to_text, plain, sanitize_html
from ..errors import SourceError
from ..models import Media, Release
from .frontmatter import SUMMARY_LENGTH, apply_defaults, derive_summary, parse_date_text, shorten

log = logging.getLogger(__name__)

TITLE_FROM_TEXT = 80


# -- entity-safe parsing --------------------------------------------------------------

_WIDE = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)


def _wide_codec(data: bytes) -> str | None:
    """The UTF-16/32 codec of a document, by BOM or by the zero bytes of ``<``."""
    for bom, codec in _WIDE:
        if data.startswith(bom):
            return codec
    head = data[:4]
    if len(head) < 4:
        return None
    zero = [b == 0 for b in head]
    if zero == [True, True, True, False]:
        return "utf-32-be"
    if zero == [False, True, True, True]:
        return "utf-32-le"
    if zero[0] and not zero[1]:
        return "utf-16-be"
    if zero[1] and not zero[0]:
        return "utf-16-le"
    return None


def _skip_quoted(text: str, start: int) -> int:
    end = text.find(text[start], start + 1)
    return len(text) if end < 0 else end + 1


def _doctype_end(text: str, start: int) -> tuple[int, bool]:
    """Where the DOCTYPE starting at ``start`` ends, and whether it declares entities.

    Unterminated internal subsets count as declaring entities (fail closed).
    """
    i, n, dangerous = start + len("<!DOCTYPE"), len(text), False
    while i < n:
        char = text[i]
        if char in "\"'":
            i = _skip_quoted(text, i)
        elif char == ">":
            # Belt and braces: whatever the scan above made of it, no <!ENTITY may survive.
            return i + 1, dangerous or "<!ENTITY" in text[start:i].upper()
        elif char == "[":
            i += 1
            while i < n and text[i] != "]":  # the internal subset: skip what may hold a ']'
                if text.startswith(("<!--", "<?"), i):
                    closer = "-->" if text[i + 1] == "!" else "?>"
                    end = text.find(closer, i + 2)
                    i = n if end < 0 else end + len(closer)
                elif text[i] in "\"'":
                    i = _skip_quoted(text, i)
                else:
                    if text[i] == "%" or text[i : i + 8].upper() == "<!ENTITY":
                        dangerous = True  # declarations, or parameter entities that hold them
                    i += 1
            if i >= n:
                return n, True
            i += 1
        else:
            i += 1
    return n, dangerous or "<!ENTITY" in text[start:].upper()


def _strip_in_text(text: str) -> str | None:
    """``text`` without the prolog's entity-declaring DOCTYPEs, or None if it has none."""
    i, n, kept, last = 0, len(text), [], 0
    while i < n:
        if text[i] != "<":
            i += 1
        elif text.startswith("<?", i):
            end = text.find("?>", i + 2)
            i = n if end < 0 else end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            i = n if end < 0 else end + 3
        elif text[i : i + 9].upper() == "<!DOCTYPE":
            end, dangerous = _doctype_end(text, i)
            if dangerous:
                kept.append(text[last:i])
                last = end
            i = end
        elif i + 1 < n and (text[i + 1].isalpha() or text[i + 1] in "_:"):
            break  # the root element: the prolog is over
        else:
            i += 1
    if not kept:
        return None
    kept.append(text[last:])
    return "".join(kept)


def strip_entity_doctype(data: bytes) -> bytes:
    """The document without any DOCTYPE that declares entities; otherwise unchanged.

    Works on the raw bytes of ASCII-compatible encodings (through latin-1, one character
    a byte) and on UTF-16/32 documents by decoding them; the encoding is kept, so
    feedparser's charset detection sees what the publisher sent. Undeclared entity
    references left behind make the document ill-formed (bozo), never expanded.
    """
    codec = _wide_codec(data)
    if codec is None:
        stripped = _strip_in_text(data.decode("latin-1"))
        return data if stripped is None else stripped.encode("latin-1")
    stripped = _strip_in_text(data.decode(codec, errors="replace"))
    return data if stripped is None else stripped.encode(codec)


def parse_feed_bytes(data: bytes, headers: Mapping[str, str] | None = None, *, fast: bool = False) -> Any:
    """feedparser's result for ``data``, with entity DOCTYPEs stripped first.

    ``headers`` are the response headers that matter to parsing (``content-type`` for the
    charset, ``content-location`` and ``content-language``), with lower-case names. With
    ``fast``, plain RSS 2.0 in UTF-8 is read by :mod:`.fastrss` instead: the same entries
    for a small part of the CPU.
    """
    response_headers = {k.lower(): v for k, v in (headers or {}).items() if v}
    data = strip_entity_doctype(data)
    if data[:1].isspace() and data.lstrip().startswith(b"<?xml"):
        data = data.lstrip()  # blank lines before <?xml (a WordPress classic) defeat the strict parser
    if fast:
        from .fastrss import parse_rss

        parsed = parse_rss(data, response_headers)
        if parsed is not None:
            return parsed
    import feedparser

    # feedparser's own sanitiser and URI resolver are pure Python and cost most of its time;
    # nh3 does both (sanitize_html with a base URL), an order of magnitude faster.
    return feedparser.parse(
        io.BytesIO(data), response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False
    )


def bozo_reason(exc: Any) -> str:
    if exc is None:
        return "no RSS, RDF or Atom elements found"
    get_line = getattr(exc, "getLineNumber", None)
    if callable(get_line):
        return f"line {get_line()}, column {exc.getColumnNumber()}: {exc.getMessage()}"
    return str(exc) or type(exc).__name__


def _harmless(exc: Any) -> bool:
    """Bozo exceptions that do not mean the document is broken (a charset mismatch)."""
    return type(exc).__name__ in ("CharacterEncodingOverride", "NonXMLContentType")


# -- entries -> releases ---------------------------------------------------------------

_ISO_NO_ZONE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*$")
_RFC822_NO_ZONE = re.compile(
    r"^\s*(?:[A-Za-z]{2,9}\.?,?\s+)?\d{1,2}\s+[A-Za-z]{3,9}\.?\s+\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*$"
)


def _raw(entry: Mapping[str, Any], key: str) -> Any:
    """A key without feedparser's fallbacks (``updated`` would quietly give ``published``)."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def entry_date(entry: Mapping[str, Any], key: str, tz: tzinfo) -> datetime | None:
    """``published``/``updated`` as an aware datetime.

    feedparser gives UTC and takes a zone-less date to be UTC; when the raw string clearly
    has no zone, its wall time is taken in the configured timezone instead.
    """
    raw = str(_raw(entry, key) or "")
    parsed = _raw(entry, f"{key}_parsed")
    if not parsed:  # feedparser refuses some zone-less forms ("Sat, 21 Nov 2026 10:30:00")
        value = parse_date_text(raw.strip()) if raw.strip() else None
        return value if value is None or value.tzinfo else value.replace(tzinfo=tz)
    try:
        year, month, day, hour, minute, second = tuple(parsed)[:6]
        value = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    if _ISO_NO_ZONE.match(raw) or _RFC822_NO_ZONE.match(raw):
        return value.replace(tzinfo=tz)
    return value


def _html(detail: Mapping[str, Any] | None, value: str) -> str:
    """Sanitised HTML for a text construct; ``text/plain`` is escaped, not parsed."""
    kind = str((detail or {}).get("type") or "text/html")
    if kind == "text/plain":
        from ..content import escape

        return "".join(f"<p>{escape(p.strip())}</p>" for p in value.split("\n\n") if p.strip())
    return sanitize_html(value, str((detail or {}).get("base") or ""))


def _text(detail: Mapping[str, Any] | None, value: str) -> str:
    """One line of plain text from a title; ``text/plain`` is not parsed as HTML."""
    if str((detail or {}).get("type") or "") == "text/plain":
        return " ".join(value.split())
    return plain(value)


def _web(url: Any) -> str:
    text = str(url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else ""


#: WordPress feeds list each author's avatar as media:content; it is not the release's image.
_AVATAR = re.compile(r"^https?://([a-z0-9-]+\.)*gravatar\.com/avatar/", re.IGNORECASE)


def _media(entry: Mapping[str, Any]) -> tuple[tuple[Media, ...], tuple[Media, ...]]:
    images: dict[str, Media] = {}
    files: dict[str, Media] = {}
    found = [dict(link) for link in entry.get("links") or () if link.get("rel") == "enclosure"]
    found += [{**item, "href": item.get("url")} for item in entry.get("media_content") or ()]
    for item in found:
        location = _web(item.get("href"))
        if not location or _AVATAR.match(location):
            continue
        mime = str(item.get("type") or "")
        length = str(item.get("length") or item.get("filesize") or "")
        size = int(length) if length.isdigit() and int(length) > 0 else None
        is_image = mime.startswith("image/") or (not mime and item.get("medium") == "image")
        target = images if is_image else files
        kind = "image" if is_image else "file"
        title = plain(str(item.get("title") or ""))
        target.setdefault(location, Media(location, kind=kind, title=title, mime_type=mime, size=size))
    if not images:
        for thumb in entry.get("media_thumbnail") or ():
            location = _web(thumb.get("url"))
            if location:
                images.setdefault(location, Media(location, kind="image"))
    return tuple(images.values()), tuple(files.values())


class EntryError(ValueError):
    def __init__(self, item: str, reason: str) -> None:
        self.item = item
        super().__init__(reason)


def entry_to_release(
    entry: Mapping[str, Any],
    feed: Mapping[str, Any],
    *,
    source: str,
    origin: str,
    tz: tzinfo,
    defaults: Mapping[str, Any] | None = None,
) -> Release:
    """One feedparser entry as a Release; raises EntryError when it has no text at all."""
    raw_title = str(entry.get("title") or "")
    title = _text(entry.get("title_detail"), raw_title)
    contents = [c for c in entry.get("content") or () if c.get("value")]
    summary_html = _html(entry.get("summary_detail"), str(entry.get("summary") or ""))
    body_html = _html(contents[0], str(contents[0]["value"])) if contents else summary_html
    body_text = html_to_text(body_html)
    summary_text = html_to_text(summary_html)
    summary = shorten(summary_text, SUMMARY_LENGTH) if summary_text else derive_summary(body_html, body_text)
    published = entry_date(entry, "published", tz) or entry_date(entry, "created", tz)
    updated = entry_date(entry, "updated", tz)

    release_id = str(entry.get("id") or "").strip() or str(entry.get("link") or "").strip()
    if not release_id:
        seed = f"{raw_title}\n{entry.get('summary') or ''}\n{entry.get('published') or ''}"
        release_id = "sha256:" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()
    if not title:
        text = summary or body_text
        if not text:
            raise EntryError(release_id, "entry has no title or text")
        title = shorten(text, TITLE_FROM_TEXT)

    tags = [plain(str(t.get("term") or t.get("label") or "")) for t in entry.get("tags") or ()]
    detail = entry.get("title_detail") or entry.get("summary_detail") or {}
    language = str(detail.get("language") or feed.get("language") or "").strip()
    agency, language, merged_tags = apply_defaults("", language, tags, defaults or {})
    images, attachments = _media(entry)
    return Release(
        source=source,
        id=release_id,
        title=title,
        summary=summary,
        body_html=body_html,
        body_text=body_text,
        url=_web(entry.get("link")),
        published=published or updated,
        updated=updated,
        agency=agency,
        author=plain(str(entry.get("author") or "")),
        tags=merged_tags,
        language=language,
        images=images,
        attachments=attachments,
        origin=origin,
    )


def releases_from_parsed(
    parsed: Any,
    *,
    source: str,
    origin: str,
    tz: tzinfo,
    defaults: Mapping[str, Any] | None = None,
) -> Iterator[Release | SourceError]:
    """Each entry's Release, or a SourceError for an entry that cannot be one."""
    seen: set[str] = set()
    feed = parsed.get("feed") or {}
    for number, entry in enumerate(parsed.get("entries") or (), start=1):
        if not entry:
            continue  # what a truncated <item> leaves
        try:
            release = entry_to_release(entry, feed, source=source, origin=origin, tz=tz, defaults=defaults)
        except EntryError as exc:
            yield SourceError(source, str(exc), item=exc.item)
            continue
        except Exception as exc:  # a feed is untrusted input: one odd entry must not stop the rest
            log.warning("%s: entry %d of %s: %r", source, number, origin, exc, exc_info=True)
            item = str(entry.get("id") or number)
            yield SourceError(source, f"entry {number} cannot be read: {exc!r}", item=item)
            continue
        if release.id in seen:
            log.warning("%s: %s has two entries with id %r; keeping the first", source, origin, release.id)
            continue
        seen.add(release.id)
        yield release


def read_feed(
    body: bytes,
    headers: Mapping[str, str],
    source: str,
    url: str,
    tz: tzinfo,
    defaults: Mapping[str, Any],
    fast: bool = True,
) -> list[Release | SourceError]:
    """A fetched feed's releases, or a SourceError for each entry that cannot be one.

    Raises SourceError when the body is not a feed at all. Module-level and pure, so it can
    run in a parser process (see ``SourceContext.offload``). ``fast=False`` reads every feed
    with feedparser (the fast path's test oracle).
    """
    try:
        parsed = parse_feed_bytes(body, headers, fast=fast)
    except Exception as exc:  # feedparser should not raise; if it does, it is this feed's fault
        raise SourceError(source, f"cannot parse the feed: {exc!r}") from None
    entries = [e for e in parsed.get("entries") or () if e]  # a truncated <item> gives {}
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries and (not parsed.get("version") or (bozo is not None and not _harmless(bozo))):
        raise SourceError(source, f"not a feed: {bozo_reason(bozo)}")
    if bozo is not None:
        log.warning(
            "%s: %s is not well-formed (%s); using what could be read", source, url, bozo_reason(bozo)
        )
    found = list(releases_from_parsed(parsed, source=source, origin=url, tz=tz, defaults=defaults))
    for item in found:
        if isinstance(item, Release):
            item.content_hash  # noqa: B018 -- hashed here, in the parser process; the value travels with it
    return found
