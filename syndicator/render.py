"""The text toolkit every channel shares: counting, truncating, threading (and, from
:mod:`syndicator.templates`, hashtags and templates, importable from here too).

Every function that fits text to a platform takes the channel's :class:`~syndicator.channel.Limits`
and counts with :func:`count`, so a part that a function returns is one that was measured.

Grapheme clusters are approximated with the standard library (no ``regex`` module). A cluster is
a character plus what extends it: marks of category Mn/Me/Mc (including the variation selectors
FE00-FE0F and the keycap 20E3), emoji modifiers 1F3FB-1F3FF, tag characters E0020-E007F
(subdivision flags), conjoining Hangul vowel/final jamo and ZWJ; a pictograph right after a ZWJ
joins too (emoji ZWJ sequences), regional indicators pair into flags, CR LF is one cluster and
control characters are never extended. Not modelled: prepended concatenation marks, Indic
conjuncts across a virama (UAX #29 GB9c), the Hangul L+L / LV+T rules, and pictographs outside
the ranges in ``_is_pictographic`` (newer than Python's Unicode data).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .errors import PermanentError
from .templates import DEFAULT_TEMPLATES, hashtags, render_template, template_for

if TYPE_CHECKING:
    from .channel import Limits

__all__ = [
    "DEFAULT_TEMPLATES",
    "URL_RE",
    "count",
    "fit_summary",
    "fits",
    "graphemes",
    "hashtags",
    "render_template",
    "split_thread",
    "template_for",
    "truncate",
]

# Characters a URL may contain; parentheses only as balanced pairs, so "(see https://a.b/c)" ends
# before ")" while "https://w.org/Foo_(bar)" keeps its pair. CJK and full-width punctuation
# end a URL because CJK prose puts no space after one; as in twitter-text, a URL may follow a
# non-ASCII letter directly ("詳細はhttps://…") but not an ASCII one.
_URL_CHAR = r"[^\s<>\"()\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]"
_URL_PARENS = r"\([^\s<>\"()]*\)"
# The last character may not be sentence punctuation or a closing quote (nor the ellipsis that
# truncate appends).
_URL_LAST = r"[^\s<>\"()\u3000-\u303f\uff01-\uff0f\uff1a-\uff20.,;:!?'\]}…»”’]"
URL_RE = re.compile(
    rf"(?<![A-Za-z0-9@#$/])https?://(?:{_URL_CHAR}|{_URL_PARENS})*(?:{_URL_LAST}|{_URL_PARENS})",
    re.IGNORECASE,
)

_RULES = ("graphemes", "weighted", "utf16", "chars", "bytes")
_X_URL_LENGTH = 23  # t.co: every URL counts 23 on X, whatever its length
# twitter-text config v3: weight 100 (of scale 100) in these ranges, 200 elsewhere.
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_ZWJ = 0x200D
_MARKS = ("Mn", "Me", "Mc")  # nonspacing (incl. variation selectors), enclosing (keycap), spacing
_PICTO_SINGLES = frozenset({0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299})
_PICTO_RANGES = ((0x1F000, 0x1FAFF), (0x2190, 0x21FF), (0x2300, 0x23FF), (0x25A0, 0x27BF), (0x2B00, 0x2BFF))
# Emoji modifiers, tag characters, conjoining Hangul vowel and final jamo.
_EXTENDERS = ((0x1F3FB, 0x1F3FF), (0xE0020, 0xE007F), (0x1160, 0x11FF), (0xD7B0, 0xD7FF))
_NONSPACE = re.compile(r"\S")
_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?…。！？؟۔]+[\"'”’»)\]]*(?=\s|$)|[。！？]")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


def _is_pictographic(cp: int) -> bool:
    return cp in _PICTO_SINGLES or any(lo <= cp <= hi for lo, hi in _PICTO_RANGES)


def _joins(prev: str, ch: str, after_zwj: bool) -> bool:
    """Whether ``ch`` continues the cluster ``prev``."""
    if prev == "\r":
        return ch == "\n"
    if unicodedata.category(prev[-1]) == "Cc" or unicodedata.category(ch) == "Cc":
        return False
    cp = ord(ch)
    if cp == _ZWJ or unicodedata.category(ch) in _MARKS or any(lo <= cp <= hi for lo, hi in _EXTENDERS):
        return True
    if after_zwj and _is_pictographic(cp):
        return True
    return 0x1F1E6 <= cp <= 0x1F1FF and len(prev) == 1 and 0x1F1E6 <= ord(prev) <= 0x1F1FF  # flag pairs


def graphemes(text: str) -> list[str]:
    """Split ``text`` into user-perceived characters (see the module docstring for the limits)."""
    if text.isascii() and "\r\n" not in text:
        return list(text)  # the common case, and nothing below U+0300 extends a cluster
    clusters: list[str] = []
    after_zwj = False
    for ch in text:
        if clusters and (ch == "\n" or ord(ch) >= 0x300) and _joins(clusters[-1], ch, after_zwj):
            clusters[-1] += ch
        else:
            clusters.append(ch)
        after_zwj = ch == "\u200d" and any(_is_pictographic(ord(c)) for c in clusters[-1])
    return clusters


def _x_weight(cp: int) -> int:
    return 100 if cp <= 4351 or any(lo <= cp <= hi for lo, hi in _X_LIGHT) else 200


def _weighted(text: str) -> int:
    # X counts NFC code points; a whole emoji sequence weighs as one heavy character.
    if text.isascii():
        return len(text)
    total = 0
    for cluster in graphemes(unicodedata.normalize("NFC", text)):
        if len(cluster) == 1:
            total += _x_weight(ord(cluster))
        elif any(_is_pictographic(ord(c)) or c in "\ufe0f\u20e3" for c in cluster):
            total += 200
        else:
            total += sum(_x_weight(ord(c)) for c in cluster)
    return total // 100


def _plain_count(text: str, rule: str) -> int:
    if rule == "graphemes":
        return len(graphemes(text))
    if rule == "chars":
        return len(text)
    if rule == "utf16":
        return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)
    if rule == "bytes":
        return len(text.encode("utf-8", "surrogatepass"))
    return _weighted(text)


def count(text: str, limits: Limits) -> int:
    """The length of ``text`` as the platform counts it (``limits.counting``, ``limits.url_length``)."""
    rule = limits.counting
    if rule not in _RULES:
        raise ValueError(f"unknown counting rule {rule!r}; expected one of {', '.join(_RULES)}")
    url_length = limits.url_length
    if rule == "weighted" and url_length is None:
        url_length = _X_URL_LENGTH
    if url_length is None:
        return _plain_count(text, rule)
    total = last = 0
    for m in URL_RE.finditer(text):
        total += _plain_count(text[last : m.start()], rule) + url_length
        last = m.end()
    return total + _plain_count(text[last:], rule)


def fits(text: str, limits: Limits) -> bool:
    return limits.max_length is None or count(text, limits) <= limits.max_length


class _Index:
    """Where a text may be cut, computed once: ascending offsets at each level of preference.

    Every offset is a grapheme boundary outside any URL, so no cut can break either.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        inside: set[int] = set()
        for m in URL_RE.finditer(text):
            inside.update(range(m.start() + 1, m.end()))
        offsets = [0]
        for cluster in graphemes(text):
            offsets.append(offsets[-1] + len(cluster))
        self.bounds = [p for p in offsets if p not in inside]
        ok = set(self.bounds)
        self.words = [m.end() for m in _WORD.finditer(text) if m.end() in ok]
        sentences = {m.end() for m in _SENTENCE_END.finditer(text)}
        sentences.update(m.start() for m in re.finditer("\n", text))
        self.sentences = sorted(p for p in sentences & ok if p)
        self.paragraphs = sorted(p for p in {m.start() for m in _PARAGRAPH.finditer(text)} & ok if p)

    def over(self, start: int, end: int, limits: Limits) -> bool:
        """A cheap "surely too long" for ``text[start:end]``, so far candidates cost little:
        each word counts at least 1 (unless URLs count 0), and a prefix never counts more."""
        limit = limits.max_length
        if limit is None:
            return False
        if limits.url_length != 0 and bisect_right(self.words, end) - bisect_right(self.words, start) > limit:
            return True
        i = bisect_left(self.bounds, start + limit + 1)
        return (
            i < len(self.bounds)
            and self.bounds[i] < end
            and count(self.text[start : self.bounds[i]].rstrip(), limits) > limit
        )


def _largest(cands: list[int], lo: int, ok: Callable[[int], bool]) -> int | None:
    """The largest ``cands[i]`` (i >= lo) where ``ok``, which holds up to a point, then fails.
    Gallops then bisects, so the cost follows the size of the answer, not of the text."""
    if lo >= len(cands) or not ok(cands[lo]):
        return None
    good, bad, step = lo, len(cands), 1
    while good + step < len(cands):
        if not ok(cands[good + step]):
            bad = good + step
            break
        good += step
        step *= 2
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(cands[mid]):
            good = mid
        else:
            bad = mid
    return cands[good]


def _cut(
    idx: _Index,
    start: int,
    build: Callable[[str], str],
    limits: Limits,
    levels: Sequence[list[int]] = (),
    alone: Callable[[str], str] | None = None,
) -> int | None:
    """The end of the longest ``text[start:end]`` for which ``build(body)`` fits.

    ``levels`` are preferred boundaries (paragraphs, sentences): one is taken when it fills at
    least half the room; otherwise the cut falls at a word boundary, or inside the next word
    when that word could never fit on its own (``alone(word)``, default ``build``). None when
    nothing fits.
    """
    text, limit = idx.text, limits.max_length
    first = _NONSPACE.search(text, start)
    if first is None or limit is None:
        return None
    lo = first.start()

    def ok(end: int) -> bool:
        return not idx.over(start, end, limits) and fits(build(text[start:end].rstrip()), limits)

    def best(cands: list[int]) -> int | None:
        return _largest(cands, bisect_right(cands, lo), ok)

    room = limit - count(build(""), limits)
    for cands in levels:
        end = best(cands)
        if end is not None and 2 * count(text[start:end].rstrip(), limits) >= room:
            return end
    word_end = best(idx.words)
    nxt = _WORD.search(text, start if word_end is None else word_end)
    alone = alone or build
    if nxt and (idx.over(*nxt.span(), limits) or not fits(alone(nxt.group()), limits)):
        return best(idx.bounds)
    return word_end


def _ellipsize(body: str, ellipsis: str) -> str:
    if not body or not ellipsis:
        return body + ellipsis
    last = body.split()[-1]
    m = URL_RE.search(last)
    # A space keeps the ellipsis out of a platform's linkifier, which may be greedier than ours.
    return f"{body} {ellipsis}" if m and m.end() == len(last) else body + ellipsis


def _truncate(text: str, limits: Limits, ellipsis: str, wrap: Callable[[str], str]) -> str:
    """``text`` shortened so that ``wrap(result)`` fits (see :func:`truncate`)."""
    if fits(wrap(text), limits):
        return text
    if not fits(wrap(ellipsis), limits):
        ellipsis = ""

    def build(body: str) -> str:
        return wrap(_ellipsize(body, ellipsis))

    # "Giant" is judged against the whole limit: a word merely too long for the room left
    # (after a title, say) is dropped whole, not cut.
    end = _cut(_Index(text), 0, build, limits, alone=lambda word: _ellipsize(word, ellipsis))
    if end is None:  # the first word is an uncuttable URL (dropped whole) or one huge grapheme
        return ellipsis
    return _ellipsize(text[:end].rstrip(), ellipsis)


def truncate(text: str, limits: Limits, ellipsis: str = "…") -> str:
    """The longest prefix of ``text`` that fits with ``ellipsis``, cut at a word boundary.

    A word that alone exceeds the limit is cut at a grapheme boundary; a URL is never cut but
    dropped whole. If even the ellipsis does not fit, the prefix comes without it.
    """
    return _truncate(text, limits, ellipsis, lambda s: s)


def _with_link(body: str, link: str) -> str:
    return f"{body}\n\n{link}" if body and link else body or link


def _thread_pass(idx: _Index, limits: Limits, total: int, link: str, link_in: str) -> list[str]:
    """One greedy split, numbering parts "i/total" (no numbers when ``total`` is 0)."""
    text = idx.text
    parts: list[str] = []

    def decorate(body: str, i: int, last: bool) -> str:
        carries = (link_in == "first" and i == 1) or (link_in == "last" and last)
        out = _with_link(body, link if carries else "")
        return f"{out} {i}/{total}" if total else out

    pos = _NONSPACE.search(text)
    while pos is not None:
        i, start = len(parts) + 1, pos.start()
        if not idx.over(start, len(text), limits):
            final = decorate(text[start:].rstrip(), i, True)
            if fits(final, limits):
                return [*parts, final]

        def build(body: str, i: int = i) -> str:
            return decorate(body, i, False)

        end = _cut(idx, start, build, limits, (idx.paragraphs, idx.sentences))
        if end is None and i == 1 and link and link_in == "first" and fits(build(""), limits):
            parts.append(build(""))  # the opening text cannot share a part with the link
            continue
        if end is None:
            raise PermanentError(
                f"cannot fit {text[start : start + 40]!r}… into a part of {limits.max_length} "
                f"({limits.counting}); a URL or a grapheme is never cut"
            )
        parts.append(build(text[start:end].rstrip()))
        pos = _NONSPACE.search(text, end)
    if link and link_in == "last":  # the text ran out before a part had room for the link
        final = decorate("", len(parts) + 1, True)
        if not fits(final, limits):
            raise PermanentError(f"the link {link!r} does not fit in a part of {limits.max_length}")
        parts.append(final)
    return parts


def split_thread(
    text: str, limits: Limits, *, numbering: bool = True, link: str = "", link_in: str = "first"
) -> list[str]:
    """Split ``text`` into parts that each fit, preferring paragraph, then sentence, then word ends.

    With ``numbering`` every part of a multi-part thread ends with " i/n". ``link`` goes on the
    first or the last part (``link_in``). Raises PermanentError when some URL or grapheme cannot
    fit in a part at all.
    """
    if link_in not in ("first", "last"):
        raise ValueError(f"link_in must be 'first' or 'last', not {link_in!r}")
    body = text.strip()
    if not body:
        return [link] if link else []
    whole = _with_link(body, link)
    if fits(whole, limits):
        return [whole]
    idx = _Index(text)
    if not numbering:
        return _thread_pass(idx, limits, 0, link, link_in)
    # The marker's width depends on the total, which depends on the split: iterate until they
    # agree. A wider total only shrinks parts, so the count never decreases and this settles.
    total = 2
    for _ in range(16):
        parts = _thread_pass(idx, limits, total, link, link_in)
        if len(parts) == total:
            return parts
        total = len(parts)
    raise PermanentError("could not settle the number of parts in the thread")


def fit_summary(title: str, summary: str, link: str, limits: Limits, *, hashtags: Sequence[str] = ()) -> str:
    """Title, summary, hashtags and link, one paragraph each, shortened to fit.

    The summary is truncated first, but hashtags are dropped (last first) rather than leave it
    less than a third of the limit; then the summary goes, then the title is truncated. The
    link is always kept whole: PermanentError if it cannot fit even alone.
    """
    tags = [t for t in hashtags if t]
    title, summary = title.strip(), summary.strip()

    def compose(head: str, middle: str, ntags: int) -> str:
        return "\n\n".join(p for p in (head, middle, " ".join(tags[:ntags]), link) if p)

    full = compose(title, summary, len(tags))
    if fits(full, limits):
        return full
    if link and not fits(link, limits):
        raise PermanentError(f"the link {link!r} alone is longer than the limit of {limits.max_length}")
    floor = min(count(summary, limits), (limits.max_length or 0) // 3)
    for ntags in range(len(tags), -1, -1):

        def with_summary(s: str, ntags: int = ntags) -> str:
            return compose(title, s, ntags)

        short = _truncate(summary, limits, "…", with_summary)
        if _has_words(short) and (ntags == 0 or count(short, limits) >= floor):
            return with_summary(short)
    short_title = _truncate(title, limits, "…", lambda t: compose(t, "", 0))
    return compose(short_title if _has_words(short_title) else "", "", 0)


def _has_words(text: str) -> bool:
    return bool(text.strip().rstrip("…").strip())
