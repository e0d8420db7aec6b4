"""Hashtags and message templates: a release's fields filled into the words a channel posts.

Channels usually import these from :mod:`syndicator.render`, which re-exports them.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .errors import PermanentError

if TYPE_CHECKING:
    from .models import Release

_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def hashtags(tags: Iterable[str]) -> list[str]:
    """Each tag as "#" + CamelCase: letters, marks and digits are kept, the rest splits words.

    "kesehatan ibu" -> "#KesehatanIbu". Duplicates (ignoring case) and tags without a letter
    (which platforms do not link, e.g. "#2024") are dropped.
    """
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        # Keep ZWNJ/ZWJ only inside a word (Persian and Indic spelling need them there); next to
        # a dropped emoji they would be left dangling, a tag cut inside a cluster.
        word = [unicodedata.category(c)[0] in "LMN" for c in tag]
        kept = "".join(
            c
            if word[i] or (c in "\u200c\u200d" and 0 < i < len(tag) - 1 and word[i - 1] and word[i + 1])
            else " "
            for i, c in enumerate(tag)
        )
        body = "".join(w[0].upper() + w[1:] for w in kept.split())
        if not any(unicodedata.category(c)[0] == "L" for c in body) or body.casefold() in seen:
            continue
        seen.add(body.casefold())
        out.append("#" + body)
    return out


_FORMATTER = string.Formatter()


def render_template(template: str, release: Release, *, extra: Mapping[str, str] | None = None) -> str:
    """Fill ``template``'s {fields} from ``release`` (and ``extra``, which may add or override).

    Only plain names are allowed: no attribute or index access, no positional or nested
    fields. Runs of blank lines left by empty fields collapse to one; the ends are stripped.
    """
    values = {
        "title": release.title,
        "summary": release.summary,
        "url": release.url,
        "agency": release.agency,
        "hashtags": " ".join(hashtags(release.tags)),
        "date": release.published.date().isoformat() if release.published else "",
        "id": release.id,
        **(extra or {}),
    }

    def refuse(why: str) -> PermanentError:
        valid = ", ".join("{" + k + "}" for k in sorted(values))
        return PermanentError(f"template: {why}; valid fields: {valid}")

    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise refuse(f"malformed ({exc})") from exc
    out: list[str] = []
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if not name or name.isdigit():
            raise refuse(f"positional field {{{name}}} is not allowed")
        if "." in name or "[" in name:
            raise refuse(f"field {{{name}}} uses attribute or index access, which is not allowed")
        if name not in values:
            raise refuse(f"unknown field {{{name}}}")
        if spec and "{" in spec:
            raise refuse(f"field {{{name}}} has a nested field in its format spec")
        try:
            out.append(format(_FORMATTER.convert_field(values[name], conversion), spec or ""))
        except ValueError as exc:
            raise refuse(f"field {{{name}}}: {exc}") from exc
    return _BLANK_LINES.sub("\n\n", "".join(out)).strip()


_SHORT = "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "id": {"short": _SHORT, "long": "{title}\n\n{summary}\n\nSiaran pers {agency}\n{url}\n\n{hashtags}"},
    "en": {
        "short": _SHORT,
        "long": "{title}\n\n{summary}\n\nPress release from {agency}\n{url}\n\n{hashtags}",
    },
}


def template_for(locale: str, kind: str = "short") -> str:
    """The default template of ``kind`` for ``locale`` ("id", "id-ID", ...); others get "en"."""
    lang = "id" if locale.strip().lower().startswith("id") else "en"
    try:
        return DEFAULT_TEMPLATES[lang][kind]
    except KeyError:
        kinds = ", ".join(sorted(DEFAULT_TEMPLATES[lang]))
        raise ValueError(f"unknown template kind {kind!r}; expected one of {kinds}") from None
