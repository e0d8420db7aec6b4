"""Release files: YAML (or TOML) front matter plus Markdown, or one JSON object.

Pure functions, no I/O beyond what the caller passes in, so other modules (a preview
command, a linter for release folders) can reuse them:

- :func:`decode_text`, :func:`split_front_matter`, :func:`load_yaml`, :func:`load_toml`,
  :func:`load_json` turn bytes into a mapping of fields and a body;
- :func:`parse_date` reads the date forms static-site tools write;
- :func:`build_release` turns the fields into a :class:`Release`;
- :func:`apply_defaults` and :func:`shorten` are shared with the rss source.

Every problem is a :class:`ReleaseFileError` whose message is meant for the operator.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

from ..content import html_to_text, markdown_to_html, plain, sanitize_html
from ..models import Approval, Media, Release

#: Larger release files are refused rather than read into memory.
MAX_FILE_BYTES = 10 * 1024 * 1024
SUMMARY_LENGTH = 300

#: ``make_media(location, kind, alt, title)``: a Media for a local path or URL, or raise.
MediaFactory = Callable[[str, str, str, str], Media]


class ReleaseFileError(ValueError):
    """One release file cannot be used; the message says why, for the operator."""


def decode_text(data: bytes) -> str:
    """UTF-8 text with the BOM dropped and line ends made ``\\n``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReleaseFileError("the file is UTF-16 (it starts with a byte-order mark); save it as UTF-8")
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + offset
        line = data[:at].count(b"\n") + 1
        message = f"not valid UTF-8 at byte {at} (line {line}); save the file as UTF-8"
        raise ReleaseFileError(message) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


_FENCES = {"---": ("yaml", ("---", "...")), "+++": ("toml", ("+++",))}


def split_front_matter(text: str) -> tuple[str, str, str]:
    """``(kind, front matter, body)``; kind is ``"yaml"`` (``---``) or ``"toml"`` (``+++``).

    The front matter starts on line 2 of the file.
    """
    first, _, rest = text.partition("\n")
    fence = _FENCES.get(first.rstrip())
    if fence is None:
        raise ReleaseFileError("no front matter: the file must start with a '---' line")
    kind, closers = fence
    lines = rest.split("\n")
    for number, line in enumerate(lines):
        if line.rstrip() in closers:
            return kind, "\n".join(lines[:number]), "\n".join(lines[number + 1 :])
    raise ReleaseFileError(f"the front matter is never closed: no '{closers[0]}' line after line 1")


@lru_cache(maxsize=1)
def _yaml_loader() -> Any:
    """A safe loader with YAML 1.2 booleans (``no`` stays a string) and dates left as text.

    Dates are read by :func:`parse_date`, which gives better messages and accepts the
    forms Jekyll and Hugo write (``2015-03-17 10:00:00 -0400``).
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    dropped = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
    loader: Any = type("ReleaseLoader", (base,), {})
    loader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for key, resolvers in base.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return loader


def _as_fields(data: Any, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ReleaseFileError(f"{what} is not a mapping of 'key: value' lines")
    return {str(key): value for key, value in data.items()}


def load_yaml(text: str, first_line: int = 2) -> dict[str, Any]:
    """Front matter as a dict; ``first_line`` is the file line where ``text`` starts."""
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + first_line}" if mark is not None else ""
        problem = exc.problem or exc.context or "cannot be read"
        raise ReleaseFileError(f"bad YAML in the front matter{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ReleaseFileError(f"bad YAML in the front matter: {exc}") from None
    except RecursionError:
        raise ReleaseFileError("the front matter is nested too deeply") from None
    return _as_fields(data, "the front matter")


def load_toml(text: str, first_line: int = 2) -> dict[str, Any]:
    """TOML front matter (``+++`` fences, as Zola and Hugo write it)."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + first_line - 1}", str(exc))
        raise ReleaseFileError(f"bad TOML in the front matter: {message}") from None


def load_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReleaseFileError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ReleaseFileError("the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ReleaseFileError("a JSON release file must hold one object")
    return _as_fields(data, "the JSON")


_DATE = re.compile(
    r"""^(\d{4})-(\d{1,2})-(\d{1,2})
    (?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?
       \s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?)?$""",
    re.VERBOSE | re.IGNORECASE,
)


def _offset(text: str) -> timezone:
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def parse_date_text(text: str) -> datetime | None:
    """ISO 8601 (also Jekyll's ``2015-03-17 10:00:00 -0400``) or RFC 822; naive if zone-less."""
    match = _DATE.match(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=_offset(zone) if zone else None,
            )
        except ValueError:
            return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(text)  # RFC 822, as feeds and mail write dates
    except (TypeError, ValueError, IndexError):
        return None


def parse_date(value: Any, key: str, localize: Callable[[datetime], datetime]) -> datetime | None:
    """An aware datetime from a field; zone-less values go through ``localize``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        result: datetime | None = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str):
        result = parse_date_text(value.strip())
    else:
        result = None
    if result is None:
        raise ReleaseFileError(f"{key}: cannot read {str(value)!r} as a date")
    return localize(result)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters (ellipsis included)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and text[limit - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + "…"


def derive_summary(body_html: str, body_text: str, limit: int = SUMMARY_LENGTH) -> str:
    """The first paragraph of the body as plain text, shortened."""
    for match in re.finditer(r"<p\b[^>]*>(.*?)</p>", body_html, re.DOTALL | re.IGNORECASE):
        text = plain(match.group(1))
        if text:
            return shorten(text, limit)
    for paragraph in body_text.split("\n\n"):
        if paragraph.strip():
            return shorten(paragraph, limit)
    return ""


def apply_defaults(
    agency: str, language: str, tags: Iterable[str], defaults: Mapping[str, Any]
) -> tuple[str, str, tuple[str, ...]]:
    """The source's default agency and language where the release has none; tags united."""
    merged = list(dict.fromkeys(t for t in tags if t))
    for tag in defaults.get("tags") or ():
        if tag and tag not in merged:
            merged.append(str(tag))
    agency = agency or str(defaults.get("agency") or "")
    return agency, language or str(defaults.get("language") or ""), tuple(merged)


def _first(fields: Mapping[str, Any], *keys: str) -> tuple[str, Any]:
    for key in keys:
        value = fields.get(key)
        if value is not None and value != "":
            return key, value
    return keys[0], None


def _text(fields: Mapping[str, Any], *keys: str) -> str:
    key, value = _first(fields, *keys)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v).strip() for v in value if str(v).strip())  # authors: [a, b]
    if isinstance(value, (dict, list, tuple)):
        raise ReleaseFileError(f"{key}: expected text, got {type(value).__name__} {value!r:.60}")
    return str(value).strip()


def _date(fields: Mapping[str, Any], localize: Callable[[datetime], datetime], *keys: str) -> datetime | None:
    key, value = _first(fields, *keys)
    return parse_date(value, key, localize)


def _string_list(fields: Mapping[str, Any], key: str) -> list[str]:
    value = fields.get(key)
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, (str, int, float)) else value
    if not isinstance(items, list) or not all(isinstance(v, (str, int, float)) for v in items):
        raise ReleaseFileError(f"{key}: expected a word or a list of words")
    return [str(v).strip() for v in items if str(v).strip()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value


def _media_items(
    fields: Mapping[str, Any], key: str, location_keys: tuple[str, ...]
) -> list[tuple[str, str, str]]:
    """``(location, alt, title)`` for each item of a media list."""
    value = fields.get(key)
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        if isinstance(item, str):
            result.append((item.strip(), "", ""))
            continue
        if not isinstance(item, Mapping):
            raise ReleaseFileError(f"{key}: each item must be a path or a mapping with {location_keys[0]}")
        where = next((str(item[k]).strip() for k in location_keys if item.get(k)), "")
        if not where:
            raise ReleaseFileError(f"{key}: an item has no {location_keys[0]}")
        result.append((where, str(item.get("alt") or "").strip(), str(item.get("title") or "").strip()))
    return result


_HASH = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def _approval(
    fields: Mapping[str, Any], status: str, localize: Callable[[datetime], datetime]
) -> Approval | None:
    by = _text(fields, "approved_by")
    at = _date(fields, localize, "approved_at")
    pinned = _text(fields, "approved_hash")
    digest = None
    if pinned:
        match = _HASH.match(pinned)
        if match is None:
            raise ReleaseFileError(f"approved_hash: expected 'sha256:' and 64 hex digits, got {pinned!r}")
        digest = f"sha256:{match.group(1).lower()}"
    if status != "approved" or not by:
        return None
    return Approval(approved_by=by, approved_at=at, content_hash=digest, origin="source")


def derived_id(relative_path: str) -> str:
    """The id of a file without an ``id`` key: its path stem, posix separators, NFC."""
    stem = relative_path.rsplit(".", 1)[0] if "." in relative_path.rsplit("/", 1)[-1] else relative_path
    return unicodedata.normalize("NFC", stem)


def build_release(
    fields: Mapping[str, Any],
    *,
    source: str,
    relative_path: str,
    body_html: str,
    localize: Callable[[datetime], datetime],
    make_media: MediaFactory,
    defaults: Mapping[str, Any] | None = None,
) -> Release:
    """A Release from front-matter fields and an already sanitised HTML body."""
    title = plain(_text(fields, "title"))
    if not title:
        raise ReleaseFileError("no title")
    release_id = _text(fields, "id") or derived_id(relative_path)
    if any(unicodedata.category(c) == "Cc" for c in release_id):
        raise ReleaseFileError(f"id: {release_id!r} contains control characters")
    body_text = html_to_text(body_html)
    summary = plain(_text(fields, "summary", "description", "excerpt"))
    summary = shorten(summary, SUMMARY_LENGTH * 3) if summary else derive_summary(body_html, body_text)
    status = _text(fields, "status").lower() or ("draft" if fields.get("draft") is True else "")
    priority = _text(fields, "priority").lower() or "normal"
    if priority not in ("normal", "urgent"):
        raise ReleaseFileError(f"priority: expected 'normal' or 'urgent', got {priority!r}")
    overrides = fields.get("channels") or {}
    if not isinstance(overrides, Mapping) or not all(isinstance(v, Mapping) for v in overrides.values()):
        raise ReleaseFileError("channels: expected a mapping of channel name to its settings")

    images = [
        make_media(where, "image", alt, t)
        for where, alt, t in _media_items(fields, "images", ("src", "path", "url"))
    ]
    if fields.get("image"):  # the single `image:` (+ `image-alt:`) static-site themes use
        alt = _text(fields, "image_alt", "image-alt")
        for where, item_alt, t in _media_items(fields, "image", ("src", "path", "url")):
            images.append(make_media(where, "image", item_alt or alt, t))
    attachments = [
        make_media(where, "file", alt, t)
        for where, alt, t in _media_items(fields, "attachments", ("path", "src", "href", "url"))
    ]
    agency, language, tags = apply_defaults(
        _text(fields, "agency"),
        _text(fields, "lang", "language"),
        [plain(t) for t in _string_list(fields, "tags") + _string_list(fields, "categories")],
        defaults or {},
    )
    return Release(
        source=source,
        id=release_id,
        title=title,
        summary=summary,
        body_html=body_html,
        body_text=body_text,
        url=_text(fields, "url", "canonical", "canonical_url"),
        published=_date(fields, localize, "date", "published"),
        updated=_date(fields, localize, "updated", "lastmod"),
        agency=agency,
        author=plain(_text(fields, "author", "authors")),
        tags=tags,
        language=language,
        images=tuple(images),
        attachments=tuple(attachments),
        priority=priority,
        publish_at=_date(fields, localize, "publish_at"),
        overrides=_jsonable({str(k): dict(v) for k, v in overrides.items()}),
        status=status,
        approval=_approval(fields, status, localize),
        origin=relative_path,
    )


def read_release_bytes(
    data: bytes,
    relative_path: str,
    *,
    source: str,
    localize: Callable[[datetime], datetime],
    make_media: MediaFactory,
    defaults: Mapping[str, Any] | None = None,
) -> Release:
    """Parse one release file's bytes (Markdown with front matter, or JSON by suffix)."""
    text = decode_text(data)
    if relative_path.lower().endswith(".json"):
        fields = load_json(text)
        if isinstance(fields.get("body_html"), str) and fields["body_html"].strip():
            body_html = sanitize_html(fields["body_html"])
        else:
            body = fields.get("body")
            if body is not None and not isinstance(body, str):
                raise ReleaseFileError("body: expected Markdown text")
            body_html = markdown_to_html(body) if body else ""
    else:
        kind, meta, body = split_front_matter(text)
        fields = load_yaml(meta) if kind == "yaml" else load_toml(meta)
        body_html = markdown_to_html(body) if body.strip() else ""
    return build_release(
        fields,
        source=source,
        relative_path=relative_path,
        body_html=body_html,
        localize=localize,
        make_media=make_media,
        defaults=defaults,
    )
