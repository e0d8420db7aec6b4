"""Pure helpers of the website channel: words, dates, slugs, sizes, templates, atomic writes.

Shared by ``website`` (release pages) and ``website_build`` (indexes, feeds, search, sitemap);
the wordpress channel borrows the size and file-type wording.
"""

from __future__ import annotations

import errno
import filecmp
import hashlib
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicator.content import slugify
from syndicator.errors import ChannelError, PermanentError, TransientError
from syndicator.models import Media, Release

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"
ZONE_ABBR = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
OG_LOCALES = {"id": "id_ID", "en": "en_US"}
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@lru_cache(maxsize=1)
def words() -> dict[str, Any]:
    """Month names and the site's own words, per language: ``templates/labels.json``."""
    return dict(json.loads((TEMPLATES / "labels.json").read_text(encoding="utf-8")))


def labels(lang: str) -> dict[str, str]:
    return dict(words()["labels"][lang_key(lang)])


def lang_key(lang: str) -> str:
    return "id" if lang.lower().split("-")[0] in ("id", "in") else "en"


def og_locale(lang: str) -> str:
    """``id`` -> ``id_ID``; Open Graph wants language_TERRITORY."""
    base = lang.lower().split("-")[0]
    if "-" in lang:
        return f"{base}_{lang.split('-', 1)[1].upper()}"
    return OG_LOCALES.get(base, base)


def zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local(value: datetime, tz: tzinfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def format_date(value: datetime, zone_name: str, lang: str) -> str:
    """``20 November 2026, 09.00 WITA`` (Indonesian) or ``20 November 2026, 09:00 WITA``."""
    d = local(value, zone(zone_name))
    key = lang_key(lang)
    clock = f"{d:%H.%M}" if key == "id" else f"{d:%H:%M}"
    abbr = ZONE_ABBR.get(zone_name) or d.tzname() or ""
    return f"{d.day} {words()['months'][key][d.month - 1]} {d.year}, {clock} {abbr}".rstrip()


def month_name(year: int, month: int, lang: str) -> str:
    return f"{words()['months'][lang_key(lang)][month - 1]} {year}"


def iso(value: datetime | None, zone_name: str) -> str:
    return local(value, zone(zone_name)).isoformat(timespec="seconds") if value else ""


def short_hash(value: str, n: int = 6) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:n]


def release_slug(release: Release) -> str:
    """Stable file name: the slugged id plus a hash of the key (ids repeat across sources)."""
    return f"{slugify(release.id, 60)}-{short_hash(release.key)}"


@lru_cache(maxsize=4096)  # an index names each agency and topic once per release
def term_slug(name: str) -> str:
    """Slug for an agency or tag; names whose letters ASCII cannot hold get a hash suffix."""
    lossy = any(
        ch.isalnum() and not ch.isascii()
        for ch in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(ch)
    )
    base = slugify(name, 60)
    if base == "release":  # nothing ASCII survived (CJK, Arabic...): the hash alone
        return short_hash(name.casefold(), 10)
    return f"{base}-{short_hash(name.casefold())}" if lossy else base


def _digest(media: Media) -> str:
    """Hex sha256 of a local file: the release's pinned digest, else the file, else its path."""
    if media.digest:
        return media.digest.split(":", 1)[-1].lower()
    try:
        return hashlib.sha256(Path(media.location).read_bytes()).hexdigest()
    except OSError:
        return hashlib.sha256(media.location.encode("utf-8")).hexdigest()


def media_path(media: Media) -> str:
    """Where a local file is copied, relative to the site root: ``media/<hash>-<name>``."""
    p = Path(media.location)
    return f"media/{_digest(media)[:12]}-{slugify(p.stem, 60)}{p.suffix.lower()[:10]}"


def human_size(size: int, lang: str) -> str:
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    text = f"{int(value)}" if unit == "B" else f"{value:.1f}"
    return f"{text.replace('.', ',') if lang_key(lang) == 'id' else text} {unit}"


def file_type(media: Media) -> str:
    """``PDF``, ``CSV``...: the file's extension, else the subtype of its MIME type."""
    suffix = Path(media.location.split("?")[0]).suffix.lstrip(".")
    if suffix and len(suffix) <= 5:
        return suffix.upper()
    return media.mime_type.split("/")[-1].upper() if media.mime_type else ""


def file_size(media: Media) -> int | None:
    if media.size is not None or media.is_remote:
        return media.size
    try:
        return Path(media.location).stat().st_size
    except OSError:
        return None


def sort_key(release: Release, zone_name: str) -> tuple[int, float, str]:
    """Newest first by published time, then key; undated releases last."""
    if release.published is None:
        return (1, 0.0, release.key)
    return (0, -local(release.published, zone(zone_name)).timestamp(), release.key)


def xml_text(value: Any) -> str:
    return _XML_BAD.sub("", str(value))


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    import jinja2  # lazily: a cron tick with nothing to publish never needs it

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["xml"] = xml_text
    return environment


def os_error(path: Path, exc: OSError) -> ChannelError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransientError(f"cannot write {path}: {reason}")
    return PermanentError(f"cannot write {path}: {reason}")


def holds(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data``."""
    try:
        return path.is_file() and path.read_bytes() == data
    except OSError as exc:
        raise os_error(path, exc) from exc


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` unless the file already holds exactly it. True if written."""
    if holds(path, data):
        return False
    write_atomically(path, data)
    return True


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file beside ``path`` and move it into place: a reader sees
    the old file or the new one, never half of one."""
    move_into_place(_staged(path, (data,)), path)


def stage_if_changed(path: Path, parts: Iterable[bytes]) -> Path | None:
    """Write ``parts`` to a new file beside ``path``, and return it if its bytes differ from
    ``path``'s (move it into place with :func:`move_into_place`); if they do not, remove it
    and return None. For a file too large to hold in memory twice (the search index)."""
    staged = _staged(path, parts)
    try:
        if path.is_file() and filecmp.cmp(staged, path, shallow=False):
            staged.unlink()
            return None
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise os_error(path, exc) from exc
    return staged


def _staged(path: Path, parts: Iterable[bytes]) -> Path:
    """``parts`` written to a new file beside ``path`` (readable by all, as a web server must)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                for part in parts:
                    fh.write(part)
            os.chmod(tmp, 0o644)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise os_error(path, exc) from exc
    return Path(tmp)


def move_into_place(staged: Path, path: Path) -> None:
    try:
        os.replace(staged, path)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise os_error(path, exc) from exc


def remove_file(path: Path) -> bool:
    """Delete ``path`` if it exists. True if it did."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(path, exc) from exc
    return True
