"""website channel: a static press room (release pages, indexes, search, feeds, sitemap).

Layout under ``output``::

    releases/<slug>.html        one page per release (written by publish/update)
    media/<sha256-12>-<name>    local images and attachments, content-addressed
    index.html, page/N.html     every release, newest first (rebuilt by finish)
    agency/<slug>.html, tag/<slug>.html, agencies.html, tags.html
    archive.html, archive/YYYY-MM.html       releases by month (in the configured time zone)
    search.html, search.js, search-index.js  client-side search: no server, works from file://
    style.css (screen and print), favicon.svg
    feed.xml (Atom 1.0), feed.json (JSON Feed 1.1)
    sitemap.xml                 only with base_url (a sitemap needs absolute URLs)
    .syndicator/releases/<slug>.json   the data records finish() rebuilds indexes from
    .syndicator/pages.sha256    what the release pages were rendered with (options, templates,
                                code): finish() renders them all again only when it changes
    .syndicator/listings.json   what each listing page shows: finish() renders a listing page
                                again only when the releases, headings or links on it change

A retraction (``delete``) keeps the release's page, under a notice and ``noindex``, so links to
it still explain what happened; the release leaves every index, feed, search and sitemap.

Every link in a page is relative (``../`` per folder level, ``index.html`` spelled out), so the
site works from ``file://`` and under any sub-path. Files are only rewritten when their bytes
change, and nothing holds a build time, so an unchanged rebuild touches nothing. Absolute
URLs appear only where they must (feeds, canonical links, Open Graph cards, the sitemap), and
only when ``base_url`` is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Container, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.content import plain
from syndicator.errors import PermanentError
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Option

from .website_build import Record, Site
from .website_common import (
    TEMPLATES,
    file_size,
    file_type,
    format_date,
    holds,
    human_size,
    media_path,
    move_into_place,
    os_error,
    release_slug,
    remove_file,
    sort_key,
    stage_if_changed,
    term_slug,
    write_atomically,
    write_if_changed,
)

__all__ = [
    "WebsiteChannel",
    "file_type",
    "format_date",
    "human_size",
    "media_path",
    "os_error",
    "release_slug",
    "term_slug",
    "write_if_changed",
]

RECORDS = ".syndicator/releases"
BUILT_WITH = ".syndicator/pages.sha256"  # what every release page on disk was rendered with
SHOWN = ".syndicator/listings.json"  # what each listing page on disk shows (Site.build's ``shown``)
PAGE = re.compile(r"releases/[a-z0-9-]+\.html")
INDEX_DIRS = ("page", "agency", "tag", "archive")  # finish() owns these; stale pages in them are removed
STATIC = ("style.css", "search.js", "favicon.svg")  # copied from templates/ as they are
_os_error = os_error  # the name older tests and plugins import


class WebsiteChannel(Channel):
    """A static, accessible press room: one page per release, indexes, search and feeds."""

    type = "website"
    description = "Static press-room website: release pages, indexes, archive, search, feeds, sitemap"
    imports = ()  # it writes files: no HTTP stack to load before delivering
    options = (
        Option("output", str, required=True, help="folder to write the site to (relative to the config)"),
        Option("title", str, default="Siaran Pers", help="site title"),
        Option("description", str, default="", help="one line shown in the footer, feeds and link cards"),
        Option(
            "base_url",
            str,
            default="",
            help="absolute site URL: feeds, canonical links, Open Graph images and sitemap.xml need it",
        ),
        Option("per_page", int, default=20, help="releases per index page"),
        Option("language", str, default="id", help="language of the site's own words (id or en)"),
    )
    limits = Limits(max_media=10_000)  # a page shows every image; files are linked
    capabilities = Capabilities(media=True, edit=True, delete=True)
    idempotency = "key"

    @staticmethod
    def _output(ctx: ChannelContext) -> Path:
        return ctx.path(str(ctx.options["output"]))

    # -- the contract

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        path = f"releases/{release_slug(release)}.html"
        all_media = release.images + release.attachments
        media = {m.location: media_path(m) for m in all_media if not m.is_remote}
        sizes = {m.location: file_size(m) for m in release.attachments}
        for m in release.images:
            if not m.alt:
                ctx.logger.warning("%s: image %s has no alt text", release.key, m.location)
        html = Site(ctx).release_page(release, path, media, sizes)
        text = "\n\n".join(x for x in (release.title.strip(), plain(release.summary)) if x)
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=text,
            title=release.title,
            link=path,
            media=all_media,
            extra={"path": path, "html": html, "media": media, "sizes": sizes, "release": release.to_dict()},
        )

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        out = self._output(ctx)
        path = str(post.extra["path"])
        media: Mapping[str, str] = post.extra.get("media") or {}
        by_location = {m.location: m for m in post.media}
        for location, target in sorted(media.items()):
            self._copy_media(by_location.get(location) or Media(location), out / target)
        write_if_changed(out / path, str(post.extra["html"]).encode("utf-8"))
        record = {
            "path": path,
            "media": dict(media),
            "sizes": dict(post.extra.get("sizes") or {}),
            "release": post.extra["release"],
        }
        data = json.dumps(record, sort_keys=True, ensure_ascii=False, indent=1, default=str) + "\n"
        write_if_changed(out / RECORDS / (Path(path).stem + ".json"), data.encode("utf-8"))
        url = Site(ctx).absolute(path)
        return Receipt(remote_id=path, url=url or path)

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        return self.publish(post, ctx)

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """A retraction: the page stays (links to it keep working) under a notice, and
        ``finish`` leaves it out of every index, feed, search and sitemap."""
        out = self._output(ctx)
        path = receipt.remote_id
        if not PAGE.fullmatch(path):
            raise PermanentError(f"website: the receipt names no release page ({path!r})")
        file = out / RECORDS / (Path(path).stem + ".json")
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            ctx.logger.info("website: %s has no record; nothing to retract", path)
            return
        except (OSError, ValueError) as exc:
            raise PermanentError(f"website: cannot read {file}: {exc}") from exc
        record["retracted"] = True
        release = Release.from_dict(record["release"])
        html = Site(ctx).release_page(
            release, path, record.get("media") or {}, record.get("sizes") or {}, retracted=True
        )
        write_if_changed(out / path, html.encode("utf-8"))
        data = json.dumps(record, sort_keys=True, ensure_ascii=False, indent=1, default=str) + "\n"
        write_if_changed(file, data.encode("utf-8"))

    @staticmethod
    def _copy_media(media: Media, target: Path) -> None:
        source = Path(media.location)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise PermanentError(f"media file {source} cannot be read: {exc.strerror or exc}") from exc
        if media.digest and hashlib.sha256(data).hexdigest() != media.digest.split(":", 1)[-1].lower():
            raise PermanentError(
                f"media file {source} changed since the release was approved (digest differs)"
            )
        write_if_changed(target, data)

    def check(self, ctx: ChannelContext) -> str:
        out = self._output(ctx)
        try:
            out.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=out, prefix=".check-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise os_error(out, exc) from exc
        count = len(list((out / RECORDS).glob("*.json")))
        return f"writes to {out} ({count} release{'' if count == 1 else 's'})"

    def finish(self, ctx: ChannelContext) -> None:
        if ctx.dry_run:  # the core never publishes in a dry run; the indexes stay as they are too
            return
        out = self._output(ctx)
        site = Site(ctx)
        found = list(self._records(out, ctx))
        records = sorted((r for r, _ in found), key=lambda r: sort_key(r[0], ctx.timezone))
        retracted = frozenset(r[1] for r, gone in found if gone)
        # publish and delete write their own release page; finish renders them all again only
        # when what every page is made from changed (a title, a template, this code), which
        # in an archive of thousands is most of a tick's work. The listing pages likewise:
        # those that show what they showed last time stay as they are.
        inputs = _page_inputs(ctx)
        on_disk = {marker: _read(out / marker) for marker in (BUILT_WITH, SHOWN)}
        pages = None  # all of them
        shown = None
        if on_disk[BUILT_WITH] == inputs:  # only those lost since (deleted by hand)
            pages = {path for _, path, _, _ in records if not (out / path).is_file()}
            shown = self._shown(out, inputs, on_disk[SHOWN])
        changing = False

        def unvouch() -> None:
            # A marker vouches for nothing while files change: a run that stops half-way
            # leaves the next one to render what the marker would have spared.
            nonlocal changing
            if not changing:
                changing = True
                if on_disk[BUILT_WITH] != inputs:
                    remove_file(out / BUILT_WITH)
                remove_file(out / SHOWN)

        def write(path: str, content: str | Iterator[str]) -> None:
            if isinstance(content, str):
                data = content.encode("utf-8")
                if not holds(out / path, data):  # read once: unchanged files are not written
                    unvouch()
                    write_atomically(out / path, data)
            else:  # the search index: written in parts, compared on disk
                staged = stage_if_changed(out / path, (part.encode("utf-8") for part in content))
                if staged is not None:
                    try:
                        unvouch()
                    except BaseException:
                        staged.unlink(missing_ok=True)  # no stray part left in the site
                        raise
                    move_into_place(staged, out / path)

        built = site.build(records, retracted, release_pages=pages, shown=shown, write=write)
        for name in STATIC:
            write(name, (TEMPLATES / name).read_text(encoding="utf-8"))
        if "sitemap.xml" not in built.written and remove_file(out / "sitemap.xml"):
            ctx.logger.info("website: removed sitemap.xml (no base_url to make absolute URLs)")
        self._remove_stale(out, {*built.written, *built.current}, ctx)
        write(BUILT_WITH, inputs)
        write(SHOWN, json.dumps({"inputs": inputs, "pages": built.shown}, sort_keys=True, indent=0))

    # -- finish helpers

    @staticmethod
    def _records(out: Path, ctx: ChannelContext) -> Iterable[tuple[Record, bool]]:
        """Each stored release record, and whether it was retracted."""
        for file in sorted((out / RECORDS).glob("*.json")):
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                path = str(data["path"])
                if not PAGE.fullmatch(path):
                    raise ValueError(f"unexpected page path {path!r}")
                record = (
                    Release.from_dict(data["release"]),
                    path,
                    dict(data.get("media") or {}),
                    dict(data.get("sizes") or {}),
                )
                yield record, bool(data.get("retracted"))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                ctx.logger.warning("website: skipping unreadable record %s: %s", file, exc)

    @staticmethod
    def _shown(out: Path, inputs: str, recorded: str | None) -> dict[str, str] | None:
        """What each listing page on disk shows, as the last finish recorded it (``recorded``,
        the text of its marker), if it rendered them with ``inputs``; pages lost since are
        left out, so they are made again."""
        try:
            data = json.loads(recorded or "null")
            if not isinstance(data, dict) or data.get("inputs") != inputs:
                return None
            return {str(p): str(k) for p, k in dict(data["pages"]).items() if (out / str(p)).is_file()}
        except (ValueError, KeyError, TypeError):  # damaged by hand: render every listing page
            return None

    @staticmethod
    def _remove_stale(out: Path, files: Container[str], ctx: ChannelContext) -> None:
        for folder in INDEX_DIRS:
            for file in sorted((out / folder).glob("*.html")):
                if f"{folder}/{file.name}" not in files and remove_file(file):
                    ctx.logger.info("website: removed stale %s", file)


def _page_inputs(ctx: ChannelContext) -> str:
    """A digest of all a release page is made from besides its own record: the channel's
    options, the time zone, the templates and the code that renders them."""
    from importlib.metadata import PackageNotFoundError, version

    import syndicator

    try:
        channels_version = version("syndicator-channels")
    except PackageNotFoundError:  # run from a checkout without installing
        channels_version = ""
    settings = {
        "options": dict(ctx.options),
        "zone": str(ctx.timezone),
        "versions": [syndicator.__version__, channels_version],
    }
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
    here = Path(__file__).parent
    templates = sorted(f for f in TEMPLATES.iterdir() if f.is_file())
    for file in (*templates, here / "website_build.py", here / "website_common.py"):
        try:
            data = file.read_bytes()
        except OSError:  # an install without the sources: the version above still counts
            data = b""
        digest.update(file.name.encode("utf-8") + b"\0" + data)
    return digest.hexdigest()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, ValueError):
        return None


@hookimpl
def register_channels(register: Any) -> None:
    register(WebsiteChannel)
