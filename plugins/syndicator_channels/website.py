"""website channel: a static press room (release pages, indexes, Atom and JSON feeds).

Layout under ``output``::

    releases/<slug>.html        one page per release (written by publish/update)
    media/<sha256-12>-<name>    local images and attachments, content-addressed
    index.html, page/N.html     every release, newest first (rebuilt by finish)
    agency/<slug>.html, tag/<slug>.html, agencies.html, tags.html
    feed.xml (Atom 1.0), feed.json (JSON Feed 1.1), style.css
    .syndicator/releases/<slug>.json   the data records finish() rebuilds indexes from

Every link in a page is relative (``../`` per folder level, ``index.html`` spelled out), so the
site works from ``file://`` and under any sub-path. Files are only rewritten when their bytes
change, and nothing holds a build time, so an unchanged rebuild touches nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.content import plain, slugify
from syndicator.errors import ChannelError, PermanentError, TransientError
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Option

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"
RECORDS = ".syndicator/releases"
FEED_SIZE = 50
INDEX_DIRS = ("page", "agency", "tag")  # finish() owns these; stale pages in them are removed
ZONE_ABBR = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
Record = tuple[Release, str, dict[str, str], dict[str, int | None]]  # release, page path, media, sizes
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# ---------------------------------------------------------------- small pure helpers


@lru_cache(maxsize=1)
def _words() -> dict[str, Any]:
    """Month names and the site's own words, per language: ``templates/labels.json``."""
    return dict(json.loads((TEMPLATES / "labels.json").read_text(encoding="utf-8")))


def _labels(lang: str) -> dict[str, str]:
    return dict(_words()["labels"][_lang_key(lang)])


def _lang_key(lang: str) -> str:
    return "id" if lang.lower().split("-")[0] in ("id", "in") else "en"


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _local(value: datetime, zone: tzinfo) -> datetime:
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)


def format_date(value: datetime, zone_name: str, lang: str) -> str:
    """``20 November 2026, 09.00 WITA`` (Indonesian) or ``20 November 2026, 09:00 WITA``."""
    d = _local(value, _zone(zone_name))
    key = _lang_key(lang)
    clock = f"{d:%H.%M}" if key == "id" else f"{d:%H:%M}"
    abbr = ZONE_ABBR.get(zone_name) or d.tzname() or ""
    return f"{d.day} {_words()['months'][key][d.month - 1]} {d.year}, {clock} {abbr}".rstrip()


def _iso(value: datetime | None, zone_name: str) -> str:
    return _local(value, _zone(zone_name)).isoformat(timespec="seconds") if value else ""


def _short_hash(value: str, n: int = 6) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:n]


def release_slug(release: Release) -> str:
    """Stable file name: the slugged id plus a hash of the key (ids repeat across sources)."""
    return f"{slugify(release.id, 60)}-{_short_hash(release.key)}"


def term_slug(name: str) -> str:
    """Slug for an agency or tag; names whose letters ASCII cannot hold get a hash suffix."""
    lossy = any(
        ch.isalnum() and not ch.isascii()
        for ch in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(ch)
    )
    base = slugify(name, 60)
    if base == "release":  # nothing ASCII survived (CJK, Arabic...): the hash alone
        return _short_hash(name.casefold(), 10)
    return f"{base}-{_short_hash(name.casefold())}" if lossy else base


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
    return f"{text.replace('.', ',') if _lang_key(lang) == 'id' else text} {unit}"


def _file_type(media: Media) -> str:
    suffix = Path(media.location.split("?")[0]).suffix.lstrip(".")
    if suffix and len(suffix) <= 5:
        return suffix.upper()
    return media.mime_type.split("/")[-1].upper() if media.mime_type else ""


def _size(media: Media) -> int | None:
    if media.size is not None or media.is_remote:
        return media.size
    try:
        return Path(media.location).stat().st_size
    except OSError:
        return None


def _sort_key(release: Release, zone: str) -> tuple[int, float, str]:
    """Newest first by published time, then key; undated releases last."""
    if release.published is None:
        return (1, 0.0, release.key)
    return (0, -_local(release.published, _zone(zone)).timestamp(), release.key)


def _xml(value: Any) -> str:
    return _XML_BAD.sub("", str(value))


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["xml"] = _xml
    return env


# ---------------------------------------------------------------- files


def _os_error(path: Path, exc: OSError) -> ChannelError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransientError(f"cannot write {path}: {reason}")
    return PermanentError(f"cannot write {path}: {reason}")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` unless the file already holds exactly it. True if written."""
    try:
        if path.is_file() and path.read_bytes() == data:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _os_error(path, exc) from exc
    return True


# ---------------------------------------------------------------- the channel


class WebsiteChannel(Channel):
    """A static, accessible press room: one page per release, indexes and feeds."""

    type = "website"
    description = "Static press-room website: release pages, agency/tag indexes, Atom and JSON feeds"
    options = (
        Option("output", str, required=True, help="folder to write the site to (relative to the config)"),
        Option("title", str, default="Siaran Pers", help="site title"),
        Option("description", str, default="", help="one line shown in the footer and feeds"),
        Option("base_url", str, default="", help="absolute site URL, used only in feeds and canonical links"),
        Option("per_page", int, default=20, help="releases per index page"),
        Option("language", str, default="id", help="language of the site's own words (id or en)"),
    )
    limits = Limits()
    capabilities = Capabilities(media=True, edit=True, delete=False)
    idempotency = "key"

    # -- context helpers
    @staticmethod
    def _site(ctx: ChannelContext) -> dict[str, Any]:
        o = ctx.options
        return {
            "title": o.get("title") or "Siaran Pers",
            "description": o.get("description") or "",
            "base_url": (o.get("base_url") or "").rstrip("/"),
            "language": o.get("language") or "id",
            "per_page": max(1, int(o.get("per_page") or 20)),
        }

    @staticmethod
    def _output(ctx: ChannelContext) -> Path:
        return ctx.path(str(ctx.options["output"]))

    def _page(self, template: str, ctx: ChannelContext, *, path: str, lang: str, **values: Any) -> str:
        site = self._site(ctx)
        depth = path.count("/")
        return (
            _env()
            .get_template(template)
            .render(
                site=site,
                lang=lang,
                t=_labels(lang),
                root="../" * depth,
                path=path,
                canonical=f"{site['base_url']}/{path}" if site["base_url"] else "",
                **{"description": site["description"], **values},
            )
        )

    def _item(
        self,
        release: Release,
        ctx: ChannelContext,
        page_path: str,
        media: Mapping[str, str],
        sizes: Mapping[str, int | None],
        lang: str,
    ) -> dict[str, Any]:
        """What the templates need to show one release, in ``lang`` for dates and sizes."""
        zone = ctx.timezone
        item: dict[str, Any] = {
            "title": release.title,
            "path": page_path,
            "lang": release.language or self._site(ctx)["language"],
            "summary": plain(release.summary),
            "agency": release.agency,
            "agency_path": f"agency/{term_slug(release.agency)}.html" if release.agency else "",
            "date": format_date(release.published, zone, lang) if release.published else "",
            "date_iso": _iso(release.published, zone),
            "updated": format_date(release.updated, zone, lang)
            if release.updated and release.updated != release.published
            else "",
            "updated_iso": _iso(release.updated, zone),
            "tags": [{"name": t, "path": f"tag/{term_slug(t)}.html"} for t in release.tags],
            "url": release.url if release.url.startswith(("http://", "https://")) else "",
            "images": [],
            "attachments": [],
        }
        for m in release.images:
            item["images"].append(
                {"src": m.location if m.is_remote else media[m.location], "alt": m.alt, "caption": m.title}
            )
        for m in release.attachments:
            size = sizes.get(m.location, m.size)
            meta = ", ".join(
                x for x in (_file_type(m), human_size(size, lang) if size is not None else "") if x
            )
            item["attachments"].append(
                {
                    "href": m.location if m.is_remote else media[m.location],
                    "title": m.title or Path(m.location.split("?")[0]).name,
                    "meta": meta,
                    "mime_type": m.mime_type,
                    "size": size,
                }
            )
        return item

    # -- the contract
    def _release_page(
        self,
        release: Release,
        ctx: ChannelContext,
        path: str,
        media: Mapping[str, str],
        sizes: Mapping[str, int | None],
    ) -> str:
        site = self._site(ctx)
        lang = release.language or site["language"]
        item = self._item(release, ctx, path, media, sizes, lang)
        body = re.sub(r"<(/?)h1\b", r"<\1h2", release.body_html)  # the page has one h1: the title
        return self._page(
            "release.html",
            ctx,
            path=path,
            lang=lang,
            r=item,
            body_html=body,
            description=item["summary"],
            page_title=f"{release.title} – {site['title']}",
            current="",
        )

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        path = f"releases/{release_slug(release)}.html"
        all_media = release.images + release.attachments
        media = {m.location: media_path(m) for m in all_media if not m.is_remote}
        sizes = {m.location: _size(m) for m in release.attachments}
        for m in release.images:
            if not m.alt:
                ctx.logger.warning("%s: image %s has no alt text", release.key, m.location)
        html = self._release_page(release, ctx, path, media, sizes)
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
        base = self._site(ctx)["base_url"]
        return Receipt(remote_id=path, url=f"{base}/{path}" if base else path)

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        return self.publish(post, ctx)

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
            raise _os_error(out, exc) from exc
        count = len(list((out / RECORDS).glob("*.json")))
        return f"writes to {out} ({count} release{'' if count == 1 else 's'})"

    def finish(self, ctx: ChannelContext) -> None:
        if ctx.dry_run:  # the core never publishes in a dry run; the indexes stay as they are too
            return
        out = self._output(ctx)
        site = self._site(ctx)
        lang = site["language"]
        records = sorted(self._records(out, ctx), key=lambda r: _sort_key(r[0], ctx.timezone))
        files: dict[str, str] = {}
        items = []
        for rel, path, media, sizes in records:
            # release pages too, so a new site title or template reaches every page; only changed
            # bytes are written, and a page whose record is gone is left alone
            files[path] = self._release_page(rel, ctx, path, media, sizes)
            items.append(self._item(rel, ctx, path, media, sizes, lang))

        def listing(path: str, heading: str, chunk: list[dict[str, Any]], current: str, **extra: Any) -> None:
            title = heading if heading == site["title"] else f"{heading} – {site['title']}"
            files[path] = self._page(
                "list.html",
                ctx,
                path=path,
                lang=lang,
                heading=heading,
                items=chunk,
                page_title=title,
                current=current,
                **extra,
            )

        per = site["per_page"]
        chunks = [items[i : i + per] for i in range(0, len(items), per)] or [[]]
        for n, chunk in enumerate(chunks, 1):
            path = "index.html" if n == 1 else f"page/{n}.html"
            pager = {
                "n": n,
                "total": len(chunks),
                "prev": ("index.html" if n == 2 else f"page/{n - 1}.html") if n > 1 else "",
                "next": f"page/{n + 1}.html" if n < len(chunks) else "",
            }
            heading = (
                site["title"]
                if n == 1
                else f"{site['title']} – {_labels(lang)['page'].format(n=n, total=len(chunks))}"
            )
            listing(path, heading, chunk, "home" if n == 1 else "", pager=pager if len(chunks) > 1 else None)

        for kind in ("agency", "tag"):
            groups: dict[str, tuple[str, list[dict[str, Any]]]] = {}
            for item in items:
                names = [t["name"] for t in item["tags"]] if kind == "tag" else [item["agency"]]
                for name in filter(None, names):
                    slug = term_slug(name)
                    members = groups.setdefault(slug, (name, []))[1]
                    if not members or members[-1] is not item:  # a tag given twice
                        members.append(item)
            terms = []
            for slug, (name, members) in sorted(groups.items(), key=lambda g: (g[1][0].casefold(), g[0])):
                listing(f"{kind}/{slug}.html", name, members, "", pager=None)
                terms.append({"name": name, "path": f"{kind}/{slug}.html", "count": len(members)})
            index = "agencies" if kind == "agency" else "tags"
            label = _labels(lang)[index]
            files[f"{index}.html"] = self._page(
                "terms.html",
                ctx,
                path=f"{index}.html",
                lang=lang,
                heading=label,
                terms=terms,
                page_title=f"{label} – {site['title']}",
                current=index,
            )

        feed_records = records[:FEED_SIZE]
        files["feed.xml"] = self._atom(feed_records, ctx)
        files["feed.json"] = self._json_feed(feed_records, ctx)
        files["style.css"] = (TEMPLATES / "style.css").read_text(encoding="utf-8")
        for path, text in files.items():
            write_if_changed(out / path, text.encode("utf-8"))
        self._remove_stale(out, files, ctx)

    # -- finish helpers
    @staticmethod
    def _records(out: Path, ctx: ChannelContext) -> Iterable[Record]:
        for file in sorted((out / RECORDS).glob("*.json")):
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                path = str(data["path"])
                if not re.fullmatch(r"releases/[a-z0-9-]+\.html", path):
                    raise ValueError(f"unexpected page path {path!r}")
                yield (
                    Release.from_dict(data["release"]),
                    path,
                    dict(data.get("media") or {}),
                    dict(data.get("sizes") or {}),
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                ctx.logger.warning("website: skipping unreadable record %s: %s", file, exc)

    @staticmethod
    def _remove_stale(out: Path, files: Mapping[str, str], ctx: ChannelContext) -> None:
        for folder in INDEX_DIRS:
            for file in sorted((out / folder).glob("*.html")):
                if f"{folder}/{file.name}" not in files:
                    try:
                        file.unlink()
                    except OSError as exc:
                        raise _os_error(file, exc) from exc
                    ctx.logger.info("website: removed stale %s", file)

    def _entries(self, records: list[Record], ctx: ChannelContext) -> list[dict[str, Any]]:
        base = self._site(ctx)["base_url"]

        def link(target: str) -> str:  # absolute when base_url is set (feeds leave the site)
            return target if target.startswith(("http://", "https://")) or not base else f"{base}/{target}"

        entries = []
        for rel, path, media, sizes in records:
            when = rel.updated or rel.published
            entries.append(
                {
                    "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'syndicator:release:' + rel.key)}",
                    "title": rel.title,
                    "link": link(path),
                    "summary": plain(rel.summary),
                    "content": rel.body_html,
                    "agency": rel.agency,
                    "tags": list(rel.tags),
                    "language": rel.language,
                    "published": _iso(rel.published, ctx.timezone),
                    "updated": _iso(when, ctx.timezone) if when else "1970-01-01T00:00:00+00:00",
                    "updated_at": _local(when, _zone(ctx.timezone)) if when else None,
                    "image": link(media.get(rel.images[0].location, rel.images[0].location))
                    if rel.images
                    else "",
                    "attachments": [
                        {
                            "url": link(media.get(m.location, m.location)),
                            "mime_type": m.mime_type or "application/octet-stream",
                            "title": m.title,
                            "size": sizes.get(m.location, m.size),
                        }
                        for m in rel.attachments
                    ],
                }
            )
        return entries

    def _atom(self, records: list[Record], ctx: ChannelContext) -> str:
        site = self._site(ctx)
        entries = self._entries(records, ctx)
        feed_id = (
            f"{site['base_url']}/feed.xml"
            if site["base_url"]
            else f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'syndicator:site:' + site['title'])}"
        )
        dated = [e for e in entries if e["updated_at"]]
        updated = (
            max(dated, key=lambda e: e["updated_at"])["updated"] if dated else "1970-01-01T00:00:00+00:00"
        )
        return (
            _env()
            .get_template("feed.xml")
            .render(site=site, entries=entries, feed_id=feed_id, updated=updated)
        )

    def _json_feed(self, records: list[Record], ctx: ChannelContext) -> str:
        site = self._site(ctx)
        base = site["base_url"]
        feed: dict[str, Any] = {"version": "https://jsonfeed.org/version/1.1", "title": site["title"]}
        if base:
            feed.update(home_page_url=f"{base}/index.html", feed_url=f"{base}/feed.json")
        if site["description"]:
            feed["description"] = site["description"]
        feed["language"] = site["language"]
        feed["items"] = []
        for e in self._entries(records, ctx):
            item: dict[str, Any] = {"id": e["id"], "url": e["link"], "title": e["title"]}
            if e["content"]:
                item["content_html"] = e["content"]
            else:  # JSON Feed needs one of the two
                item["content_text"] = e["summary"] or e["title"]
            for key, value in (
                ("summary", e["summary"]),
                ("image", e["image"]),
                ("date_published", e["published"]),
                ("date_modified", e["updated"] if e["updated_at"] else ""),
                ("tags", e["tags"]),
                ("language", e["language"]),
            ):
                if value:
                    item[key] = value
            if e["agency"]:
                item["authors"] = [{"name": e["agency"]}]
            if e["attachments"]:
                item["attachments"] = [
                    {
                        k: v
                        for k, v in (
                            ("url", a["url"]),
                            ("mime_type", a["mime_type"]),
                            ("title", a["title"]),
                            ("size_in_bytes", a["size"]),
                        )
                        if v
                    }
                    for a in e["attachments"]
                ]
            feed["items"].append(item)
        return json.dumps(feed, ensure_ascii=False, indent=2) + "\n"


@hookimpl
def register_channels(register: Any) -> None:
    register(WebsiteChannel)
