"""The press room's pages, built from release records: what ``WebsiteChannel`` writes.

:class:`Site` renders one release page (for ``publish``) and, from every record, the
indexes ``finish`` rebuilds: home and its pages, agencies, topics, the monthly archive, the
search page and its index, the Atom and JSON feeds and, with a ``base_url``, ``sitemap.xml``.
Everything here is pure: paths and text in, text out (handed to the ``write`` that ``build``
is given), the same bytes for the same records.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Container, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from syndicator.channel import ChannelContext
from syndicator.content import plain, plain_body
from syndicator.models import Release

from .website_common import (
    env,
    file_type,
    format_date,
    human_size,
    iso,
    labels,
    local,
    month_name,
    og_locale,
    term_slug,
    zone,
)

Record = tuple[Release, str, dict[str, str], dict[str, int | None]]  # release, page path, media, sizes
FEED_SIZE = 50
SEARCH_TEXT = 20_000  # characters of body text per release in the search index
ABSOLUTE = ("http://", "https://")
ASIDE_SIZE = 8  # agencies and months beside the latest releases on the home page


class Built(NamedTuple):
    """What :meth:`Site.build` made."""

    written: list[str]  # the paths it handed to ``write``, in order
    current: frozenset[str]  # listing pages not rendered: the page on disk shows the same
    shown: dict[str, str]  # every listing page -> a digest of what it shows, for the next build


class Site:
    """The site's settings for one call, and every page it can render."""

    def __init__(self, ctx: ChannelContext) -> None:
        o = ctx.options
        self.title = str(o.get("title") or "Siaran Pers")
        self.description = str(o.get("description") or "")
        self.base_url = str(o.get("base_url") or "").rstrip("/")
        self.language = str(o.get("language") or "id")
        self.per_page = max(1, int(o.get("per_page") or 20))
        self.timezone = ctx.timezone

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "base_url": self.base_url,
            "language": self.language,
        }

    def absolute(self, target: str) -> str:
        """A URL that works off the site (feeds, cards, sitemap): needs ``base_url``; else ''."""
        if target.startswith(ABSOLUTE):
            return target
        return f"{self.base_url}/{target}" if self.base_url else ""

    def page(self, template: str, *, path: str, lang: str, **values: Any) -> str:
        og = {
            "type": "website",
            "title": values.get("page_title") or self.title,
            "locale": og_locale(lang),
            "image": "",
            "image_alt": "",
            "published": "",
            "modified": "",
            "section": "",
            "tags": [],
            **values.pop("og", {}),
        }
        return (
            env()
            .get_template(template)
            .render(
                site=self.settings,
                lang=lang,
                t=labels(lang),
                root="../" * path.count("/"),
                path=path,
                canonical=self.absolute(path),
                og=og,
                **{"description": self.description, **values},
            )
        )

    # -- one release

    def item(
        self,
        release: Release,
        path: str,
        media: Mapping[str, str],
        sizes: Mapping[str, int | None],
        lang: str,
    ) -> dict[str, Any]:
        """What the templates need to show one release, in ``lang`` for dates and sizes."""
        tz = self.timezone
        item: dict[str, Any] = {
            "key": release.key,
            "title": release.title,
            "path": path,
            "lang": release.language or self.language,
            "summary": plain(release.summary),
            "agency": release.agency,
            "agency_path": f"agency/{term_slug(release.agency)}.html" if release.agency else "",
            "date": format_date(release.published, tz, lang) if release.published else "",
            "date_iso": iso(release.published, tz),
            "month": local(release.published, zone(tz)).strftime("%Y-%m") if release.published else "",
            "updated": format_date(release.updated, tz, lang)
            if release.updated and release.updated != release.published
            else "",
            "updated_iso": iso(release.updated, tz),
            "urgent": release.priority == "urgent",
            "tags": [{"name": t, "path": f"tag/{term_slug(t)}.html"} for t in release.tags],
            "url": release.url if release.url.startswith(ABSOLUTE) else "",
            "images": [],
            "attachments": [],
        }
        for m in release.images:
            item["images"].append(
                {"src": m.location if m.is_remote else media[m.location], "alt": m.alt, "caption": m.title}
            )
        for m in release.attachments:
            size = sizes.get(m.location, m.size)
            kind = file_type(m)
            meta = ", ".join(x for x in (kind, human_size(size, lang) if size is not None else "") if x)
            item["attachments"].append(
                {
                    "href": m.location if m.is_remote else media[m.location],
                    "title": m.title or Path(m.location.split("?")[0]).name,
                    "kind": kind,
                    "meta": meta,
                    "mime_type": m.mime_type,
                    "size": size,
                }
            )
        return item

    def release_page(
        self,
        release: Release,
        path: str,
        media: Mapping[str, str],
        sizes: Mapping[str, int | None],
        *,
        retracted: bool = False,
    ) -> str:
        """One release's page; a retracted one keeps its page, under a notice, out of indexes."""
        lang = release.language or self.language
        item = self.item(release, path, media, sizes, lang)
        item["retracted"] = retracted
        flag = f"[{labels(lang)['retracted']}] " if retracted else ""
        body = re.sub(r"<(/?)h1\b", r"<\1h2", release.body_html)  # the page has one h1: the title
        first = item["images"][0] if item["images"] else None
        og = {
            "type": "article",
            "title": release.title,
            "image": self.absolute(first["src"]) if first else "",
            "image_alt": first["alt"] if first else "",
            "published": item["date_iso"],
            "modified": item["updated_iso"] if item["updated"] else "",
            "section": release.agency,
            "tags": list(release.tags),
        }
        return self.page(
            "release.html",
            path=path,
            lang=lang,
            r=item,
            body_html=body,
            description=item["summary"],
            page_title=f"{flag}{release.title} – {self.title}",
            current="",
            og=og,
        )

    # -- every index

    def build(
        self,
        records: list[Record],
        retracted: frozenset[str] = frozenset(),
        *,
        release_pages: Container[str] | None = None,
        shown: Mapping[str, str] | None = None,
        write: Callable[[str, str | Iterator[str]], None],
    ) -> Built:
        """Render every file of the site and hand each to ``write`` (its path relative to the
        site root, its text) as soon as it is made, so that memory holds one page at a time,
        not the site: 10,000 release pages are some 300 MB of text. The search index, tens of
        megabytes, comes as an iterator of its parts.

        Pages in ``retracted`` are rewritten with their notice but listed nowhere: not in the
        indexes, the archive, the search, the feeds or the sitemap. Every release page is
        rendered too, so a new site title or template reaches it; given ``release_pages``,
        only those (the caller knows the others on disk are current), and the sitemap still
        lists them all. Given ``shown`` (what each listing page on disk shows, from the last
        build with the same templates and options), a listing page that would show the same
        releases with the same headings and links is not rendered again: in an archive of
        thousands, a new release changes its own agency's, topics' and month's pages, and
        the home pages, and leaves the others as they are.
        """
        lang = self.language
        t = labels(lang)
        paths: list[str] = []  # every page of the site, written or current, in order
        written: list[str] = []
        unchanged: set[str] = set()  # listing pages that show what they showed

        def emit(path: str, text: str | Iterator[str]) -> None:
            write(path, text)
            paths.append(path)
            written.append(path)

        for rel, path, media, sizes in records:
            if release_pages is None or path in release_pages:
                emit(path, self.release_page(rel, path, media, sizes, retracted=path in retracted))
            else:
                paths.append(path)
        records = [r for r in records if r[1] not in retracted]
        items = [self.item(rel, path, media, sizes, lang) for rel, path, media, sizes in records]
        digests = {id(item): _digest(item) for item in items}
        now_shown: dict[str, str] = {}

        def listing(path: str, heading: str, chunk: list[dict[str, Any]], current: str, **extra: Any) -> None:
            values: dict[str, Any] = {
                "pager": None,
                "crumbs": [],
                "aside": None,
                "page_title": f"{heading} – {self.title}",
            }
            values.update(extra)
            now_shown[path] = key = _digest([heading, current, values], *(digests[id(i)] for i in chunk))
            if shown is not None and shown.get(path) == key:
                paths.append(path)
                unchanged.add(path)
                return
            emit(
                path,
                self.page(
                    "list.html", path=path, lang=lang, heading=heading, items=chunk, current=current, **values
                ),
            )

        # agencies, topics and months first: the home page shows them beside the latest releases
        terms: dict[str, list[dict[str, Any]]] = {}
        for kind in ("agency", "tag"):
            index = "agencies" if kind == "agency" else "tags"
            groups: dict[str, tuple[str, list[dict[str, Any]]]] = {}
            for item in items:
                names = [x["name"] for x in item["tags"]] if kind == "tag" else [item["agency"]]
                for name in filter(None, names):
                    members = groups.setdefault(term_slug(name), (name, []))[1]
                    if not members or members[-1] is not item:  # a tag given twice
                        members.append(item)
            terms[index] = []
            for slug, (name, members) in sorted(groups.items(), key=lambda g: (g[1][0].casefold(), g[0])):
                crumbs = [{"name": t[index], "path": f"{index}.html"}]
                listing(f"{kind}/{slug}.html", name, members, "", crumbs=crumbs)
                terms[index].append({"name": name, "path": f"{kind}/{slug}.html", "count": len(members)})
            emit(
                f"{index}.html",
                self.page(
                    "terms.html",
                    path=f"{index}.html",
                    lang=lang,
                    heading=t[index],
                    terms=terms[index],
                    page_title=f"{t[index]} – {self.title}",
                    current=index,
                ),
            )

        months: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            if item["month"]:
                months.setdefault(item["month"], []).append(item)
        years: dict[str, list[dict[str, Any]]] = {}
        for key in sorted(months, reverse=True):
            name = month_name(int(key[:4]), int(key[5:]), lang)
            listing(
                f"archive/{key}.html",
                name,
                months[key],
                "",
                crumbs=[{"name": t["archive"], "path": "archive.html"}],
            )
            years.setdefault(key[:4], []).append(
                {"name": name, "path": f"archive/{key}.html", "count": len(months[key])}
            )
        emit(
            "archive.html",
            self.page(
                "archive.html",
                path="archive.html",
                lang=lang,
                heading=t["archive"],
                years=list(years.items()),
                undated=sum(1 for i in items if not i["month"]),
                page_title=f"{t['archive']} – {self.title}",
                current="archive",
            ),
        )

        per = self.per_page
        chunks = [items[i : i + per] for i in range(0, len(items), per)] or [[]]
        aside = {
            "agencies": sorted(terms["agencies"], key=lambda x: -x["count"])[:ASIDE_SIZE],
            "more_agencies": len(terms["agencies"]) > ASIDE_SIZE,
            "months": [m for _, ms in years.items() for m in ms][:ASIDE_SIZE],
            "more_months": sum(len(ms) for ms in years.values()) > ASIDE_SIZE,
        }
        for n, chunk in enumerate(chunks, 1):
            path = "index.html" if n == 1 else f"page/{n}.html"
            pager = {
                "n": n,
                "total": len(chunks),
                "prev": ("index.html" if n == 2 else f"page/{n - 1}.html") if n > 1 else "",
                "next": f"page/{n + 1}.html" if n < len(chunks) else "",
            }
            heading = t["latest"] if n == 1 else f"{t['latest']} – {t['page'].format(n=n, total=len(chunks))}"
            listing(
                path,
                heading,
                chunk,
                "home" if n == 1 else "",
                pager=pager if len(chunks) > 1 else None,
                aside=aside if n == 1 else None,
                page_title=self.title if n == 1 else f"{heading} – {self.title}",
            )

        emit(
            "search.html",
            self.page(
                "search.html",
                path="search.html",
                lang=lang,
                heading=t["search_title"],
                page_title=f"{t['search_title']} – {self.title}",
                current="search",
            ),
        )
        emit("search-index.js", search_index(records, items))
        feed_records = records[:FEED_SIZE]
        emit("feed.xml", self.atom(feed_records))
        emit("feed.json", self.json_feed(feed_records))
        if self.base_url:
            listed = [p for p in dict.fromkeys(paths) if p not in retracted]
            emit("sitemap.xml", self.sitemap(listed, records))
        return Built(written, frozenset(unchanged), now_shown)

    # -- feeds, sitemap

    def entries(self, records: list[Record]) -> list[dict[str, Any]]:
        def link(target: str) -> str:  # absolute when base_url is set (feeds leave the site)
            return self.absolute(target) or target

        tz = self.timezone
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
                    "published": iso(rel.published, tz),
                    "updated": iso(when, tz) if when else "1970-01-01T00:00:00+00:00",
                    "updated_at": local(when, zone(tz)) if when else None,
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

    def atom(self, records: list[Record]) -> str:
        entries = self.entries(records)
        feed_id = (
            f"{self.base_url}/feed.xml"
            if self.base_url
            else f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'syndicator:site:' + self.title)}"
        )
        dated = [e for e in entries if e["updated_at"]]
        updated = (
            max(dated, key=lambda e: e["updated_at"])["updated"] if dated else "1970-01-01T00:00:00+00:00"
        )
        return (
            env()
            .get_template("feed.xml")
            .render(site=self.settings, entries=entries, feed_id=feed_id, updated=updated)
        )

    def json_feed(self, records: list[Record]) -> str:
        base = self.base_url
        feed: dict[str, Any] = {"version": "https://jsonfeed.org/version/1.1", "title": self.title}
        if base:
            feed.update(home_page_url=f"{base}/index.html", feed_url=f"{base}/feed.json")
        if self.description:
            feed["description"] = self.description
        feed["language"] = self.language
        feed["items"] = []
        for e in self.entries(records):
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

    def sitemap(self, files: list[str], records: list[Record]) -> str:
        """Every HTML page but the search page, releases with their last change (a date)."""
        changed = {}
        for rel, path, _, _ in records:
            when = rel.updated or rel.published
            if when:
                changed[path] = local(when, zone(self.timezone)).date().isoformat()
        pages = sorted(p for p in files if p.endswith(".html") and p != "search.html")
        pages.sort(key=lambda p: (p != "index.html", not p.startswith("releases/"), p))
        urls = [{"loc": self.absolute(p), "lastmod": changed.get(p, "")} for p in pages]
        return env().get_template("sitemap.xml").render(urls=urls)


def _digest(value: Any, *parts: str) -> str:
    """A short digest of JSON-able ``value`` followed by ``parts`` (earlier digests)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256("\n".join((text, *parts)).encode("utf-8")).hexdigest()[:32]


def search_index(records: list[Record], items: list[dict[str, Any]]) -> Iterator[str]:
    """The search index as a script that sets ``window.SYNDICATOR_SEARCH``, in parts: one
    release at a time, so that its tens of megabytes are never held whole (twice, with the
    file on disk it is compared with).

    A script, not a JSON file fetched at run time: browsers refuse ``fetch`` on ``file://``,
    but load a ``<script src>`` there, so search works from a copied folder too.
    """
    yield "window.SYNDICATOR_SEARCH = ["
    for n, ((rel, _, _, _), item) in enumerate(zip(records, items, strict=True)):
        text = " ".join(plain_body(rel).split())
        doc = {
            "t": rel.title,
            "u": item["path"],
            "d": item["date"],
            "a": rel.agency,
            "s": item["summary"],
            "k": list(rel.tags),
            "l": item["lang"],
            "x": text[:SEARCH_TEXT],
        }
        blob = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        # "</" cannot end a script element that does not exist, but keep the file inert anywhere
        yield ("," if n else "") + blob.replace("</", "<\\/")
    yield "];\n"
