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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Release

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
    """The reference extractor: :func:`html_to_text` uses it only for unusual markup."""

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


# The fast path (html.parser spends several microseconds per tag): one regex finds each
# markup token, and the text between tokens is kept with its entities decoded. It must
# give exactly what _TextExtractor gives, so it accepts only markup that html.parser
# (Python 3.11's; tests/test_content_text.py checks against it) tokenises the same way:
# complete tags with whitespace-separated attributes, comments, <?...>, <!...> and CDATA
# sections. Any other '<' before a letter, '/', '!' or '?' (an unclosed or malformed tag,
# where html.parser has quirks) is "unusual" and sends the whole value to _TextExtractor;
# a '<' before anything else is text for both. Names and values use html.parser's own
# character classes (so <o:p> stays on the fast path), and start tags are read with
# possessive quantifiers and atomic groups: html.parser reads them greedily, and a regex
# that backtracked could find another reading of a malformed tag, such as
# <p a= "><li b="">, and end it elsewhere.
_SPACE = r"[ \t\n\r\f]"
_TOKEN = re.compile(
    rf"""<(?:
        (?P<start>[a-zA-Z][^\t\n\r\f />\x00]*+)
        (?>{_SPACE}++ [^\s/>"'=][^\s/=>]*+ (?>{_SPACE}*+=++{_SPACE}*+ (?>"[^"]*+"|'[^']*+'|(?!['"])[^>\s]++))?+)*+
        {_SPACE}*+ (?P<selfclose>/?)>
      | /(?P<end>[a-zA-Z][-.a-zA-Z0-9:_]*+){_SPACE}*+>
      | !--.*?--\s*>                                           # comment
      | \?[^>]*>                                               # processing instruction
      | !(?!--|\[)[^>]*>                                       # doctype or bogus comment
      | !\[[cC][dD][aA][tT][aA](?![-_.a-zA-Z0-9]).*?\]\s*\]\s*>  # CDATA section
      | (?=[a-zA-Z/!?])(?P<unusual>)
    )""",
    re.VERBOSE | re.DOTALL,
)
_START_MARK = {tag: "\n\n" for tag in _BLOCK} | {"li": "\n- ", "br": "\n"}
_END_MARK = dict.fromkeys(_BLOCK, "\n\n")
# what ends <script> and <style> content for html.parser (its set_cdata_mode pattern)
_RAW_TEXT_END = {tag: re.compile(rf"</\s*{tag}\s*>", re.IGNORECASE) for tag in ("script", "style")}
_PARAGRAPH_BREAK = re.compile(r"\n(?!- )\n*(?=.)")


def _fast_text(value: str) -> str | None:
    """What _TextExtractor collects from ``value``, or None when the markup is unusual."""
    parts: list[str] = []
    append = parts.append
    position = 0
    while (token := _TOKEN.search(value, position)) is not None:
        begin, end = token.span()
        if begin > position:
            text = value[position:begin]
            append(html.unescape(text) if "&" in text else text)
        position = end
        start, selfclose, end_name, unusual = token.groups()
        if start is not None:
            name = start.lower()
            if selfclose:
                append(_START_MARK.get(name, "") + _END_MARK.get(name, ""))
            elif name in _RAW_TEXT_END:
                # script and style content is dropped up to the end tag, if there is one
                close = _RAW_TEXT_END[name].search(value, position)
                if close is None:
                    return "".join(parts)
                if not close.group().isascii():
                    return None  # e.g. "</ſcript>": IGNORECASE matches it, html.parser does not
                position = close.end()
            elif name in _START_MARK:
                append(_START_MARK[name])
        elif end_name is not None:
            append(_END_MARK.get(end_name.lower(), ""))
        elif unusual is not None:
            return None
    text = value[position:]
    append(html.unescape(text) if "&" in text else text)
    return "".join(parts)


def html_to_text(value: str) -> str:
    """Readable plain text: paragraphs kept, whitespace collapsed, entities decoded."""
    if not value:
        return ""
    text = _fast_text(value)
    if text is None:
        parser = _TextExtractor()
        parser.feed(value)
        parser.close()
        text = "".join(parser.parts)
    # Runs of [ \t\r\f\v\u00a0] become one space, then spaces next to a newline go. str
    # methods do what re.sub did much faster, as those patterns could start anywhere.
    for space in "\t\r\f\v\xa0":
        text = text.replace(space, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    text = text.replace(" \n", "\n").replace("\n ", "\n")
    # Paragraph breaks become one blank line (a lone newline before "- " is a list item).
    # Longer runs of newlines can only remain at the end, where strip() drops them.
    text = _PARAGRAPH_BREAK.sub("\n\n", text)
    return text.strip()


def plain_body(release: Release) -> str:
    """A release's body as plain text: its ``body_text`` (which the engine makes the text of
    the approved HTML), else the text of its HTML."""
    return release.body_text.strip() or html_to_text(release.body_html)


def plain(value: str) -> str:
    """One line of text from a title or summary that may hold markup or entities."""
    text = html_to_text(value) if "<" in value or "&" in value else value
    return " ".join(text.split())  # str.split() and re's \s agree on what whitespace is


def slugify(value: str, max_length: int = 80) -> str:
    """An ASCII slug for URLs and file names; falls back to a hash-free 'release'."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text[:max_length].rstrip("-") or "release"


def escape(value: str) -> str:
    return html.escape(value, quote=True)
