"""HTML and text helpers shared by sources and channels: Markdown, sanitising, plain text.

Release bodies come from untrusted places (feeds, files written by many hands), so every
body is sanitised to a safelist before it is stored, rendered or hashed.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "abbr": {"title"},
    "*": {"lang", "dir"},
}


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # "commonmark" with html on; tables and strikethrough, as press releases use them
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])


def markdown_to_html(text: str) -> str:
    return sanitize_html(_markdown().render(text))


def sanitize_html(value: str, base_url: str = "") -> str:
    """Keep a safelist of tags and attributes; drop scripts, styles, handlers, bad URLs.

    With ``base_url``, relative ``href`` and ``src`` values are made absolute against it
    (a feed's links must work wherever the release is republished).
    """
    if not value:
        return ""
    import nh3

    resolve = None
    if base_url:
        from urllib.parse import urljoin

        def resolve(tag: str, attribute: str, url: str) -> str:
            return urljoin(base_url, url) if attribute in ("href", "src") else url

    return nh3.clean(
        value,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
        attribute_filter=resolve,
    ).strip()


_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "hr",
}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Readable plain text: paragraphs kept, whitespace collapsed, entities decoded."""
    if not value:
        return ""
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n(?!- )\n*(?=.)", "\n\n", text)  # paragraph breaks become one blank line
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def plain(value: str) -> str:
    """One line of text from a title or summary that may hold markup or entities."""
    return re.sub(r"\s+", " ", html_to_text(value) if "<" in value or "&" in value else value).strip()


def slugify(value: str, max_length: int = 80) -> str:
    """An ASCII slug for URLs and file names; falls back to a hash-free 'release'."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text[:max_length].rstrip("-") or "release"


def escape(value: str) -> str:
    return html.escape(value, quote=True)
