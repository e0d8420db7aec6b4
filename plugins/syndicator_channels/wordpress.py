"""wordpress channel: each release becomes a WordPress post, through the REST API.

Configuration::

    [channels.wp]
    type = "wordpress"
    url = "https://ppid.example.go.id"            # the site; https (see allow_insecure_http)
    username = "syndicator"                        # a user with the Author role or above
    app_password = { env = "WP_APP_PASSWORD" }    # Users > Profile > Application Passwords
    status = "publish"                             # or "draft", "pending", "private"
    categories = ["Siaran Pers"]                   # by name; created when missing
    agency_as = "category"                         # the agency becomes a category too, or "none"
    schedule_on_site = false                       # embargo: status "future" at publish_at
    retraction = "trash"                           # or "mark" (title and notice, post stays)

What a post holds: the title, the sanitised body, the summary as excerpt, the release's tags
(by name, created when missing), the first image uploaded as featured media with its alt
text, the other images and the attachments uploaded and linked at the end of the content,
and a marker comment ``<!-- syndicator:HASH -->`` (a hash of the release key).

Idempotency is by lookup: WordPress has no idempotency key, so ``publish`` first asks for a
post with the release's slug (``GET /wp/v2/posts?slug=...&status=any``) carrying the marker,
and updates it if there is one. A retry after a timeout therefore never makes a duplicate.
Media are named after a hash of their bytes and looked up by that slug before uploading, so
a retry does not fill the media library with copies either.

The agency is not mapped to a post author: WordPress authors are user accounts, and posting
as another user needs ``edit_others_posts`` plus one account per agency. Use a category.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.content import plain, sanitize_html, slugify
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError
from syndicator.http import parse_retry_after
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator_channels.wire import json_body as _json
from syndicator_channels.wire import root_cause as _reason

from .website_common import file_type, human_size

if TYPE_CHECKING:
    import requests  # imported where used: loading the plugin stays cheap for idle cron ticks

MARKER_PREFIX = "syndicator:"
RETRACTED_MARK = "<!-- syndicator:retracted -->"
LABELS = {
    "id": {"attachments": "Lampiran", "retracted": "Dicabut", "notice": "Siaran pers ini telah dicabut."},
    "en": {
        "attachments": "Attachments",
        "retracted": "Retracted",
        "notice": "This press release has been retracted.",
    },
}
SNIPPET = 200


def _lang(value: str) -> str:
    return "id" if value.lower().split("-")[0] in ("id", "in") else "en"


def post_slug(release: Release, channel: str = "") -> str:
    """The post's slug: an override, else the release id slugged (never the title, which
    changes with corrections; the slug is how a retry finds the post)."""
    override = (release.overrides.get(channel) or {}).get("slug") if channel else None
    if isinstance(override, str) and slugify(override, 180) != "release":
        return slugify(override, 180)
    slug = slugify(release.id, 180)
    if slug == "release":  # an id with no ASCII letters: a stable hash instead
        slug = "release-" + hashlib.sha256(release.key.encode("utf-8")).hexdigest()[:12]
    return slug


def marker(release: Release) -> str:
    """The comment that says "syndicator put this release here": a hash of the release key,
    which survives corrections and holds nothing that HTML comments or kses could mangle."""
    return f"<!-- {MARKER_PREFIX}{hashlib.sha256(release.key.encode('utf-8')).hexdigest()[:24]} -->"


def _iso_gmt(value: datetime) -> str:
    # WordPress reads date_gmt without an offset, as UTC; a naive value is taken as UTC too
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _media_doc(m: Media) -> dict[str, Any]:
    return {
        "location": m.location,
        "alt": m.alt,
        "title": m.title,
        "mime_type": m.mime_type,
        "size": m.size,
        "digest": m.digest,
        "remote": m.is_remote,
    }


class WordPressChannel(Channel):
    """Posts to a WordPress site with an Application Password; edits and retracts in place."""

    type = "wordpress"
    description = "WordPress posts over the REST API (Application Password); corrections edit the post"
    options = (
        Option("url", str, required=True, help="the site's address, e.g. https://ppid.example.go.id"),
        Option("username", str, required=True, help="the WordPress user that owns the Application Password"),
        Option(
            "app_password",
            str,
            required=True,
            secret=True,
            help="an Application Password of that user (from the environment)",
        ),
        Option(
            "status",
            str,
            default="publish",
            choices=("publish", "draft", "pending", "private"),
            help="status of new posts",
        ),
        Option(
            "schedule_on_site",
            bool,
            default=False,
            help="a release with an embargo is sent as status 'future' dated publish_at",
        ),
        Option("categories", list, default=[], help="category names for every post (created when missing)"),
        Option(
            "agency_as",
            str,
            default="category",
            choices=("category", "none"),
            help="map the release's agency to a category, or not at all",
        ),
        Option(
            "retraction",
            str,
            default="trash",
            choices=("trash", "mark"),
            help="on retraction: move the post to the trash, or mark it retracted in place",
        ),
        Option(
            "api_root",
            str,
            default="",
            help="REST API root when not URL/wp-json (e.g. 'https://site/?rest_route=')",
        ),
        Option(
            "allow_insecure_http",
            bool,
            default=False,
            help="allow an http:// site (WordPress ignores Application Passwords over http unless local)",
        ),
    )
    limits = Limits(max_media=10_000)  # WordPress caps media per post only by its upload size
    capabilities = Capabilities(media=True, edit=True, delete=True)
    idempotency = "lookup"

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for key in ("url", "api_root"):
            value = options.get(key) or ""
            if key == "api_root" and not value:
                continue
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append((key, f"expected an http(s) URL with a host, got {value!r}"))
            elif parts.scheme == "http" and not options.get("allow_insecure_http"):
                problems.append(
                    (
                        key,
                        "is plain http: WordPress ignores Application Passwords there (posts would be "
                        "refused as anonymous) and the password would cross the network in clear; "
                        "use https, or set allow_insecure_http = true for a local test site",
                    )
                )
        names = options.get("categories") or []
        if not all(isinstance(n, str) and n.strip() for n in names):
            problems.append(("categories", "expected a list of non-empty category names"))
        return problems

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Everything the post will say, before media are uploaded. No I/O."""
        o = ctx.options
        status = str(o.get("status") or "publish")
        when = release.published
        if o.get("schedule_on_site") and release.publish_at is not None:
            # WordPress publishes a 'future' post at date_gmt, or at once if that has passed
            status, when = "future", release.publish_at
        categories = [str(c).strip() for c in o.get("categories") or []]
        if o.get("agency_as", "category") == "category" and release.agency.strip():
            categories.append(release.agency.strip())
        # the page's theme shows the title as the h1, so the body's own h1s step down
        body = re.sub(r"<(/?)h1\b", r"<\1h2", sanitize_html(release.body_html))
        excerpt = plain(release.summary)
        doc = {
            "slug": post_slug(release, ctx.name),
            "marker": marker(release),
            "title": release.title,
            "body": body,
            "excerpt": excerpt,
            "status": status,
            "date_gmt": _iso_gmt(when) if when else "",
            "categories": _unique(categories),
            "tags": _unique([t.strip() for t in release.tags if t.strip()]),
            "images": [_media_doc(m) for m in release.images],
            "attachments": [_media_doc(m) for m in release.attachments],
            "lang": _lang(release.language or "id"),
        }
        for m in release.images:
            if not m.alt:
                ctx.logger.warning("%s: image %s has no alt text", release.key, m.location)
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text="\n\n".join(x for x in (release.title.strip(), excerpt) if x),
            title=release.title,
            link=release.url,
            media=release.images + release.attachments,
            extra={"wordpress": doc},
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Update the release's post if it is there already (lookup first), else create it."""
        api = Api(ctx)
        doc = post.extra["wordpress"]
        found = api.find_post(doc["slug"], doc["marker"])
        return self._write(api, doc, found["id"] if found else None)

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        """A correction: rewrite the post the receipt names, in place."""
        api = Api(ctx)
        return self._write(api, post.extra["wordpress"], _post_id(receipt))

    def find_existing(self, release: Release, ctx: ChannelContext) -> Receipt | None:
        api = Api(ctx)
        found = api.find_post(post_slug(release, ctx.name), marker(release))
        if found is None:
            return None
        return Receipt(
            remote_id=str(found["id"]),
            url=str(found.get("link") or ""),
            extra={
                "slug": found.get("slug", ""),
                "status": found.get("status", ""),
                "lang": _lang(release.language or "id"),
            },
        )

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """A retraction: to the trash (recoverable by an editor), or marked in place."""
        api = Api(ctx)
        post_id = _post_id(receipt)
        if ctx.options.get("retraction", "trash") == "trash":
            # no force=true: the post goes to the trash, never straight to deletion
            api.call("DELETE", f"/wp/v2/posts/{post_id}", what=f"trash post {post_id}", gone_ok=True)
            return
        current = api.call("GET", f"/wp/v2/posts/{post_id}", params={"context": "edit"}, what="read post")
        raw = _raw(current.get("content"))
        if RETRACTED_MARK in raw:
            return
        words = LABELS[_lang(str(receipt.extra.get("lang") or "id"))]
        title = f"[{words['retracted']}] {_raw(current.get('title'))}"
        notice = f'<p class="syndicator-retracted"><strong>{html.escape(words["notice"])}</strong></p>'
        api.call(
            "POST",
            f"/wp/v2/posts/{post_id}",
            json={"title": title, "content": f"{RETRACTED_MARK}\n{notice}\n\n{raw}"},
            what=f"mark post {post_id} retracted",
        )

    def check(self, ctx: ChannelContext) -> str:
        """Credentials and the right to publish, without posting: ``/users/me``."""
        api = Api(ctx)
        me = api.call("GET", "/wp/v2/users/me", params={"context": "edit"}, what="read the current user")
        caps = me.get("capabilities") or {}
        name = str(me.get("username") or me.get("slug") or me.get("name") or "?")
        status = ctx.options.get("status", "publish")
        needs = (
            "publish_posts"
            if status in ("publish", "private") or ctx.options.get("schedule_on_site")
            else "edit_posts"
        )
        if not caps.get(needs):
            raise AuthError(f"wordpress {api.where}: user {name} lacks the {needs} capability")
        roles = ", ".join(str(r) for r in me.get("roles") or []) or "no role"
        notes = [
            why
            for cap, why in (
                ("upload_files", "cannot upload files (releases with images or attachments will fail)"),
                ("manage_categories", "cannot create categories (each one must exist beforehand)"),
            )
            if not caps.get(cap)
        ]
        return "; ".join([f"authenticated as {name} ({roles}); can {needs.replace('_', ' ')}", *notes])

    # -- the write ---------------------------------------------------------------------

    def _write(self, api: Api, doc: Mapping[str, Any], post_id: int | None) -> Receipt:
        featured = 0
        figures: list[Uploaded] = []
        for i, image in enumerate(doc["images"]):
            uploaded = api.media(image, fetch_remote=i == 0, lang=doc["lang"])
            if i == 0:
                featured = uploaded.id
            else:
                figures.append(uploaded)
        files = [api.media(a, fetch_remote=False, lang=doc["lang"]) for a in doc["attachments"]]
        payload: dict[str, Any] = {
            "title": html.escape(doc["title"], quote=False),  # WordPress takes the title as HTML
            "content": assemble_content(doc, figures, files),
            "excerpt": html.escape(doc["excerpt"], quote=False),
            "slug": doc["slug"],
            "status": doc["status"],
            "categories": api.term_ids("categories", doc["categories"]),
            "tags": api.term_ids("tags", doc["tags"]),
            "featured_media": featured,
        }
        if doc["date_gmt"]:
            payload["date_gmt"] = doc["date_gmt"]
        if post_id is None:
            data = api.call("POST", "/wp/v2/posts", json=payload, what="create post")
        else:
            data = api.call("POST", f"/wp/v2/posts/{post_id}", json=payload, what=f"update post {post_id}")
        if not isinstance(data.get("id"), int):
            raise TransientError(f"wordpress {api.where}: the post was saved but no id came back")
        return Receipt(
            remote_id=str(data["id"]),
            url=str(data.get("link") or ""),
            extra={
                "slug": data.get("slug", doc["slug"]),
                "status": data.get("status", ""),
                "featured_media": featured,
                "lang": doc["lang"],
            },
        )


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(WordPressChannel)


# -- content ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    """A medium as it ended up: in the media library (id > 0), or linked where it is (id 0)."""

    id: int
    url: str
    alt: str = ""
    title: str = ""
    caption: str = ""
    meta: str = ""  # "CSV, 2,1 KB"


def assemble_content(doc: Mapping[str, Any], figures: Sequence[Uploaded], files: Sequence[Uploaded]) -> str:
    """The post body: the release, its other images, its attachments, and the marker."""
    e = html.escape
    parts = [doc["body"]] if doc["body"] else []
    for f in figures:
        caption = f"<figcaption>{e(f.caption)}</figcaption>" if f.caption else ""
        parts.append(
            f'<figure class="wp-block-image"><img src="{e(f.url)}" alt="{e(f.alt)}"/>{caption}</figure>'
        )
    if files:
        items = "\n".join(
            f'<li><a href="{e(f.url)}">{e(f.title)}</a>{f" ({e(f.meta)})" if f.meta else ""}</li>'
            for f in files
        )
        heading = LABELS[doc["lang"]]["attachments"]
        parts.append(f'<h2>{e(heading)}</h2>\n<ul class="syndicator-attachments">\n{items}\n</ul>')
    parts.append(doc["marker"])
    return "\n\n".join(parts)


# -- the REST client ---------------------------------------------------------------------------


class Api:
    """The few REST calls the channel makes, each mapped to a typed error."""

    def __init__(self, ctx: ChannelContext) -> None:
        o = ctx.options
        url = str(o.get("url") or "").rstrip("/")
        root = str(o.get("api_root") or "").rstrip("/") or f"{url}/wp-json"
        for value in (url, root):
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise PermanentError(f"wordpress: {value!r} is not an http(s) URL with a host")
            if parts.scheme == "http" and not o.get("allow_insecure_http"):
                raise PermanentError(
                    "wordpress: plain http refused (WordPress ignores Application Passwords there); "
                    "set allow_insecure_http = true for a local test site"
                )
        self.ctx = ctx
        self.root = root
        parts = urlsplit(url)
        self.where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        secret = o.get("app_password")
        self._password = secret.reveal() if isinstance(secret, Secret) else str(secret or "")
        self._auth = (str(o.get("username") or ""), self._password)
        self._terms: dict[tuple[str, str], int] = {}
        self._media: dict[str, tuple[int, str]] = {}  # slug -> (id, source_url), within one write

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        gone_ok: bool = False,
        expect_error: Sequence[str] = (),
    ) -> dict[str, Any]:
        """One request; the JSON object answered. ``gone_ok``: 404/410 count as done.
        ``expect_error``: these WordPress error codes come back as ``{"code": ..}`` instead."""
        import requests

        try:
            resp = self.ctx.http.request(
                method,
                self.root + path,
                params=params,
                json=json,
                data=data,
                headers=dict(headers or {}),
                auth=self._auth,
                allow_redirects=False,
            )
        except requests.ReadTimeout as exc:
            # the request may have landed; the next attempt looks the post up before writing
            raise TransientError(f"wordpress {self.where}: {what}: timed out waiting for an answer") from exc
        except requests.RequestException as exc:
            raise TransientError(
                f"wordpress {self.where}: {what}: connection failed ({_reason(exc)})"
            ) from exc
        body = _json(resp)
        self.ctx.logger.debug("wordpress %s: %s %s -> HTTP %s", self.where, method, path, resp.status_code)
        if 200 <= resp.status_code < 300:
            if isinstance(body, list):
                return {"items": body}
            if isinstance(body, dict):
                return body
            raise TransientError(
                f"wordpress {self.where}: {what}: HTTP {resp.status_code} but no JSON came back"
            )
        if isinstance(body, dict) and body.get("code") in expect_error:
            return {"error": body}
        if gone_ok and resp.status_code in (404, 410):
            return {}
        raise self._error(resp, body, what)

    def _error(self, resp: requests.Response, body: Any, what: str) -> ChannelError:
        status = resp.status_code
        code = str(body.get("code") or "") if isinstance(body, dict) else ""
        message = str(body.get("message") or "") if isinstance(body, dict) else resp.text
        message = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", message)).split())[:SNIPPET]
        if self._password:
            message = message.replace(self._password, "<secret>")
        detail = f"wordpress {self.where}: {what}: HTTP {status}" + (f" {code}" if code else "")
        detail += f": {message}" if message else ""
        if status in (401, 403):
            if code == "rest_not_logged_in" and self.where.startswith("http:"):
                detail += (
                    " (over plain http WordPress ignores Application Passwords unless the site is local)"
                )
            return AuthError(detail)
        if status in (408, 425, 429) or status >= 500:
            return TransientError(detail, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        if 300 <= status < 400:
            return PermanentError(
                f"{detail} redirect to {resp.headers.get('Location', '?')}; set url to the final address"
            )
        return PermanentError(detail)

    # -- posts

    def find_post(self, slug: str, mark: str) -> dict[str, Any] | None:
        """The post with ``slug`` that carries ``mark``; None if there is none.

        A post with the slug but without the marker is someone else's: writing over it, or
        next to it (WordPress would make "slug-2", which no later lookup could find), would
        both be wrong, so that stops the delivery for an operator.
        """
        found = self.call(
            "GET",
            "/wp/v2/posts",
            params={"slug": slug, "status": "any", "context": "edit", "per_page": 10},
            what=f"look up post {slug!r}",
        ).get("items", [])
        posts = [p for p in found if isinstance(p, dict)]
        for p in posts:
            if mark in _raw(p.get("content")):
                return p
        if posts:
            raise PermanentError(
                f"wordpress {self.where}: post {posts[0].get('id')} already uses the slug {slug!r} and was "
                "not made by syndicator; rename one of them (or set overrides.<channel>.slug)"
            )
        return None

    # -- terms

    def term_ids(self, kind: str, names: Sequence[str]) -> list[int]:
        """Category or tag ids for ``names``, creating the missing ones."""
        ids = []
        for name in names:
            key = (kind, name.casefold())
            if key not in self._terms:
                self._terms[key] = self._term_id(kind, name)
            ids.append(self._terms[key])
        return _unique(ids)

    def _term_id(self, kind: str, name: str) -> int:
        found = self.call(
            "GET", f"/wp/v2/{kind}", params={"search": name, "per_page": 100}, what=f"look up {kind} {name!r}"
        ).get("items", [])
        for term in found:
            if (
                isinstance(term, dict)
                and html.unescape(str(term.get("name", ""))).casefold() == name.casefold()
            ):
                return int(term["id"])
        made = self.call(
            "POST",
            f"/wp/v2/{kind}",
            json={"name": name},
            what=f"create {kind} {name!r}",
            expect_error=("term_exists",),
        )
        if "error" in made:  # made meanwhile by someone else, or a name that differs only in case
            term_id = (made["error"].get("data") or {}).get("term_id")
            if isinstance(term_id, int):
                return term_id
            raise PermanentError(f"wordpress {self.where}: {kind} {name!r} exists but its id was not given")
        return int(made["id"])

    # -- media

    def media(self, item: Mapping[str, Any], *, fetch_remote: bool, lang: str) -> Uploaded:
        """Upload one image or attachment (or reuse the copy uploaded before).

        Local files are always uploaded; a remote one only when it must live in the media
        library (the featured image), else it is linked where it is.
        """
        title = str(item.get("title") or "")
        alt = str(item.get("alt") or "")
        location = str(item["location"])
        if item.get("remote") and not fetch_remote:
            size = item.get("size")
            return Uploaded(0, location, alt, _file_title(title, location), title, _meta(item, size, lang))
        data = self._read(item)
        name = _upload_name(location, data)
        slug = Path(name).stem
        if slug in self._media:  # the same bytes twice in one release: one library item
            media_id, url = self._media[slug]
            return Uploaded(
                media_id, url, alt, _file_title(title, location), title, _meta(item, len(data), lang)
            )
        found = self.call(
            "GET", "/wp/v2/media", params={"slug": slug, "context": "edit"}, what=f"look up media {slug}"
        ).get("items", [])
        existing = next((m for m in found if isinstance(m, dict) and m.get("slug") == slug), None)
        if existing is not None:
            media_id = int(existing["id"])
            if alt and existing.get("alt_text") != alt:
                existing = self.call(
                    "POST",
                    f"/wp/v2/media/{media_id}",
                    json={"alt_text": alt},
                    what=f"set alt text of media {media_id}",
                )
        else:
            mime = (
                str(item.get("mime_type") or "")
                or mimetypes.guess_type(name)[0]
                or "application/octet-stream"
            )
            params = {"slug": slug, "title": title or Path(location.split("?")[0]).stem}
            if alt:
                params["alt_text"] = alt
            if title:
                params["caption"] = title
            existing = self.call(
                "POST",
                "/wp/v2/media",
                params=params,
                data=data,
                headers={"Content-Type": mime, "Content-Disposition": f'attachment; filename="{name}"'},
                what=f"upload {Path(location).name}",
            )
        self._media[slug] = (int(existing["id"]), str(existing.get("source_url") or ""))
        return Uploaded(
            int(existing["id"]),
            str(existing.get("source_url") or ""),
            alt,
            _file_title(title, location),
            title,
            _meta(item, len(data), lang),
        )

    def _read(self, item: Mapping[str, Any]) -> bytes:
        location = str(item["location"])
        if item.get("remote"):
            import requests

            try:
                resp = self.ctx.http.get(location)
            except requests.RequestException as exc:
                raise TransientError(f"wordpress: cannot fetch {location}: {_reason(exc)}") from exc
            if resp.status_code >= 500 or resp.status_code == 429:
                raise TransientError(f"wordpress: cannot fetch {location}: HTTP {resp.status_code}")
            if not resp.ok:
                raise PermanentError(f"wordpress: cannot fetch {location}: HTTP {resp.status_code}")
            return resp.content
        try:
            data = Path(location).read_bytes()
        except OSError as exc:
            raise PermanentError(f"media file {location} cannot be read: {exc.strerror or exc}") from exc
        digest = str(item.get("digest") or "")
        if digest and hashlib.sha256(data).hexdigest() != digest.split(":", 1)[-1].lower():
            raise PermanentError(
                f"media file {location} changed since the release was approved (digest differs)"
            )
        return data


# -- helpers -----------------------------------------------------------------------------------


def _upload_name(location: str, data: bytes) -> str:
    """``<sha256-12>-<name>.<ext>``: the same bytes get the same name, hence the same slug."""
    p = Path(urlsplit(location).path if "://" in location else location)
    suffix = p.suffix.lower()[:10] if re.fullmatch(r"\.[A-Za-z0-9]{1,9}", p.suffix) else ""
    return f"{hashlib.sha256(data).hexdigest()[:12]}-{slugify(p.stem, 60)}{suffix}"


def _file_title(title: str, location: str) -> str:
    return title or Path(location.split("?")[0]).name


def _meta(item: Mapping[str, Any], size: int | None, lang: str) -> str:
    kind = file_type(Media(str(item["location"]), mime_type=str(item.get("mime_type") or "")))
    return ", ".join(x for x in (kind, human_size(size, lang) if size is not None else "") if x)


def _raw(field: Any) -> str:
    if isinstance(field, dict):
        return str(field.get("raw") if field.get("raw") is not None else field.get("rendered") or "")
    return str(field or "")


def _post_id(receipt: Receipt) -> int:
    try:
        return int(receipt.remote_id)
    except ValueError:
        raise PermanentError(f"wordpress: the receipt holds no post id ({receipt.remote_id!r})") from None


def _unique(values: Sequence[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        key = v.casefold() if isinstance(v, str) else v
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
