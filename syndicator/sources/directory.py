"""The ``directory`` source: a folder of Markdown release files (and JSON ones).

Each tick walks the folder with ``os.scandir`` and parses only files whose size or
modification time changed since the last tick; the index of what was seen lives in the
source's state as ``file:<relative path>`` -> ``{"size", "mtime_ns", "id"}``.

A file that cannot be used (bad YAML, no title, a missing image...) is reported as a
:class:`SourceError` naming it on every tick until it is fixed, because cron output is how
the operator learns about it: such files are never put in the index.

A changed image or attachment does not change its release file, so it is only noticed when
the release file itself changes (touch it); the digest then changes the content hash.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SourceError
from ..hookspecs import hookimpl
from ..models import Media, Release
from ..options import Option
from .base import Source, SourceContext

if TYPE_CHECKING:
    from .frontmatter import MediaFactory

# The release-file parser (.frontmatter, and the HTML tools it needs) is imported only when a
# file changed: a tick over an unchanged folder, or over feeds alone, never loads it.

SUFFIXES = frozenset({".md", ".markdown", ".json"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_INDEX = "file:"


def walk_release_files(root: Path, source: str) -> Iterator[tuple[str, str, os.stat_result] | SourceError]:
    """``(relative posix path, path, stat)`` for each release file under ``root``, sorted.

    Hidden files and folders (``.git``, ``.DS_Store``) are skipped, and so is any file that
    is not ``*.md``, ``*.markdown`` or ``*.json``. Folder symlinks are not followed (no
    loops); file symlinks are. A folder that cannot be listed is a SourceError.
    """

    # Paths stay strings here: making a Path per file was a third of a 10,000-file tick.
    def visit(folder: str, prefix: str) -> Iterator[tuple[str, str, os.stat_result] | SourceError]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if not prefix:
                raise SourceError(source, f"cannot list folder {folder}: {exc.strerror}") from None
            yield SourceError(source, f"cannot list folder: {exc.strerror}", item=prefix.rstrip("/"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = prefix + entry.name
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                name = os.fsdecode(relative)
                yield SourceError(source, "file name is not valid UTF-8; rename it", item=name)
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    yield from visit(entry.path, relative + "/")
                elif os.path.splitext(entry.name)[1].lower() in SUFFIXES and entry.is_file():
                    yield relative, entry.path, entry.stat()
            except OSError as exc:
                yield SourceError(source, f"cannot read: {exc.strerror}", item=relative)

    yield from visit(str(root), "")


def _file_digest(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


def media_resolver(root: Path, release_file: Path) -> MediaFactory:
    """A ``make_media`` for one release file: local paths are checked and hashed.

    A relative path is taken from the release file's folder; one starting with ``/`` from
    the source folder (the static-site convention). A local file must stay inside the
    source folder, so a release cannot attach ``/etc/passwd`` or ``../../secrets``.
    """
    from .frontmatter import ReleaseFileError

    root_real = os.path.realpath(root)
    folder = release_file.parent

    def make_media(location: str, kind: str, alt: str, title: str) -> Media:
        label = "image" if kind == "image" else "attachment"
        if location.startswith(("http://", "https://")):
            mime = mimetypes.guess_type(location.split("?", 1)[0])[0] or ""
            return Media(location, kind=kind, alt=alt, title=title, mime_type=mime)
        if _SCHEME.match(location):
            raise ReleaseFileError(f"{label} {location}: only local files and http(s) URLs can be used")
        target = root / location.lstrip("/") if location.startswith("/") else folder / location
        real = os.path.realpath(target)
        if os.path.commonpath([real, root_real]) != root_real:
            raise ReleaseFileError(f"{label} {location} is outside the source folder")
        try:
            digest, size = _file_digest(real)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ReleaseFileError(f"{label} {location} not found") from None
        except OSError as exc:
            raise ReleaseFileError(f"{label} {location} cannot be read: {exc.strerror}") from None
        mime = mimetypes.guess_type(real)[0] or ""
        return Media(real, kind=kind, alt=alt, title=title, mime_type=mime, size=size, digest=digest)

    return make_media


def parse_release_file(
    path: Path,
    root: Path,
    *,
    source: str,
    localize: Callable[[datetime], datetime],
    defaults: Mapping[str, Any] | None = None,
    relative_path: str | None = None,
) -> Release:
    """Read one release file under ``root``; raises :class:`ReleaseFileError` with a reason."""
    from .frontmatter import MAX_FILE_BYTES, ReleaseFileError, read_release_bytes

    relative = relative_path or path.relative_to(root).as_posix()
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ReleaseFileError(f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ReleaseFileError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return read_release_bytes(
        data,
        relative,
        source=source,
        localize=localize,
        make_media=media_resolver(root, path),
        defaults=defaults,
    )


class DirectorySource(Source):
    type = "directory"
    description = "Markdown files with YAML front matter, and JSON files, in a folder (nested folders too)"
    text_from_html = True  # frontmatter.build_release makes each release so
    options = (
        Option("path", str, required=True, help="the folder of release files, relative to the config file"),
    )

    def collect(self, ctx: SourceContext) -> Iterator[Release | SourceError]:
        root = ctx.path(str(ctx.options["path"]))
        if not root.exists():
            raise SourceError(ctx.name, f"folder {root} does not exist")
        if not root.is_dir():
            raise SourceError(ctx.name, f"{root} is not a folder")
        index = {
            key[len(_INDEX) :]: value
            for key, value in ctx.state.get_all().items()
            if key.startswith(_INDEX) and isinstance(value, Mapping)
        }
        present: set[str] = set()
        owners: dict[str, str] = {}  # release id -> the file that holds it
        changed: list[tuple[str, str, os.stat_result]] = []
        for item in walk_release_files(root, ctx.name):
            if isinstance(item, SourceError):
                yield item
                continue
            relative, path, stat = item
            present.add(relative)
            known = index.get(relative)
            if (
                known is not None
                and known.get("size") == stat.st_size
                and known.get("mtime_ns") == stat.st_mtime_ns
                and isinstance(known.get("id"), str)
            ):
                owners.setdefault(known["id"], relative)  # unchanged: not parsed again
            else:
                changed.append(item)

        forget = [_INDEX + relative for relative in index if relative not in present]
        remember: dict[str, Any] = {}
        if changed:
            from .frontmatter import ReleaseFileError
        for relative, path, stat in changed:
            try:
                release = parse_release_file(
                    Path(path),
                    root,
                    source=ctx.name,
                    localize=ctx.localize,
                    defaults=ctx.defaults,
                    relative_path=relative,
                )
            except ReleaseFileError as exc:
                error: SourceError | None = SourceError(ctx.name, str(exc), item=relative)
            else:
                other = owners.get(release.id)
                error = None
                if other is not None:
                    error = SourceError(
                        ctx.name, f"release id {release.id!r} is already used by {other}", item=relative
                    )
            if error is not None:
                if relative in index:
                    forget.append(_INDEX + relative)
                yield error
                continue
            owners[release.id] = relative
            remember[_INDEX + relative] = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "id": release.id,
            }
            yield release
        # After the last yield: a run that stopped half-way parses the rest again next tick.
        if forget:
            ctx.state.delete_many(forget)
        if remember:
            ctx.state.put_many(remember)


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    register(DirectorySource)
