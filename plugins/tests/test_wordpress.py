"""The wordpress channel, against a scripted WordPress REST API on 127.0.0.1.

:class:`FakeWordPress` keeps posts, media and terms the way WordPress does (ids, slugs,
``status=any`` lookups, ``term_exists`` errors) and answers over real HTTP, so every request
the channel makes is checked at the wire: method, path, query, headers and JSON body.
tests/integration/test_wordpress_live.py runs the same channel against a real WordPress.
"""

from __future__ import annotations

import base64
import html
import logging
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from syndicator_channels import wordpress
from syndicator_channels.wordpress import WordPressChannel, marker, post_slug

from syndicator.channel import ChannelContext
from syndicator.errors import AuthError, PermanentError, TransientError
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.plugins import BUILTIN_PLUGINS, channel_types, get_plugin_manager
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, make_release

pytest_plugins = ["syndicator.testing"]

USER, PASSWORD = "humas", "abcd EFGH ijkl MNOP qrst UVWX"
API = "/wp-json/wp/v2"


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class FakeWordPress:
    """Just enough of WordPress's REST API, over a ScriptedServer."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.posts: dict[int, dict[str, Any]] = {}
        self.media: dict[int, dict[str, Any]] = {}
        self.terms: dict[str, dict[int, str]] = {"categories": {1: "Uncategorized"}, "tags": {}}
        self.next_id = 10
        self.caps = {
            "publish_posts": True,
            "edit_posts": True,
            "upload_files": True,
            "manage_categories": True,
        }
        self.create_delay = 0.0  # seconds before answering POST /posts (after storing the post)
        s = server
        s.handler("GET", f"{API}/users/me", self.me)
        s.handler("GET", f"{API}/posts", self.list_posts)
        s.handler("POST", f"{API}/posts", self.create_post)
        s.handler("GET", f"{API}/media", self.list_media)
        s.handler("POST", f"{API}/media", self.upload)
        for kind in ("categories", "tags"):
            s.handler("GET", f"{API}/{kind}", lambda r, k=kind: self.list_terms(k, r))
            s.handler("POST", f"{API}/{kind}", lambda r, k=kind: self.create_term(k, r))

    # -- helpers
    def authorised(self, r: Recorded) -> bool:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return r.headers.get("Authorization") == f"Basic {token}"

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @staticmethod
    def error(status: int, code: str, message: str, **data: Any) -> Reply:
        return Reply(status, json={"code": code, "message": message, "data": {"status": status, **data}})

    def post_json(self, post: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": post["id"],
            "slug": post["slug"],
            "status": post["status"],
            "link": f"{self.server.url}/{post['slug']}/",
            "title": {"raw": post["title"], "rendered": post["title"]},
            "content": {"raw": post["content"], "rendered": post["content"]},
            "excerpt": {"raw": post.get("excerpt", "")},
            "featured_media": post.get("featured_media", 0),
            "categories": post.get("categories", []),
            "tags": post.get("tags", []),
            "date_gmt": post.get("date_gmt"),
        }

    # -- routes
    def me(self, r: Recorded) -> Reply:
        if not self.authorised(r):
            return self.error(401, "rest_not_logged_in", "You are not currently logged in.")
        return Reply(
            200,
            json={"id": 1, "username": USER, "name": "Humas", "roles": ["author"], "capabilities": self.caps},
        )

    def list_posts(self, r: Recorded) -> Reply:
        if not self.authorised(r):
            return self.error(400, "rest_invalid_param", "Invalid parameter(s): status")
        found = [
            self.post_json(p)
            for p in self.posts.values()
            if p["slug"] == r.query.get("slug") and p["status"] != "trash"
        ]
        return Reply(200, json=found)

    def write_post(self, post: dict[str, Any], body: dict[str, Any]) -> None:
        for key in (
            "title",
            "content",
            "excerpt",
            "slug",
            "status",
            "categories",
            "tags",
            "featured_media",
            "date_gmt",
        ):
            if key in body:
                post[key] = body[key]

    def create_post(self, r: Recorded) -> Reply:
        if not self.authorised(r):
            return self.error(
                401, "rest_cannot_create", "Sorry, you are not allowed to create posts as this user."
            )
        with self.lock:
            post_id = self.new_id()
            post: dict[str, Any] = {"id": post_id, "status": "draft", "slug": ""}
            self.write_post(post, r.json)
            self.posts[post_id] = post
        self.server.handler("POST", f"{API}/posts/{post_id}", lambda req: self.update_post(post_id, req))
        self.server.handler(
            "GET", f"{API}/posts/{post_id}", lambda req: Reply(200, json=self.post_json(post))
        )
        self.server.handler("DELETE", f"{API}/posts/{post_id}", lambda req: self.trash(post_id, req))
        return Reply(201, json=self.post_json(post), delay=self.create_delay)

    def update_post(self, post_id: int, r: Recorded) -> Reply:
        post = self.posts[post_id]
        self.write_post(post, r.json)
        return Reply(200, json=self.post_json(post))

    def trash(self, post_id: int, r: Recorded) -> Reply:
        post = self.posts[post_id]
        if r.query.get("force") == "true":
            del self.posts[post_id]
            return Reply(200, json={"deleted": True})
        if post["status"] == "trash":
            return self.error(410, "rest_already_trashed", "The post has already been deleted.")
        post["status"] = "trash"
        return Reply(200, json=self.post_json(post))

    def list_media(self, r: Recorded) -> Reply:
        found = [self.media_json(m) for m in self.media.values() if m["slug"] == r.query.get("slug")]
        return Reply(200, json=found)

    @staticmethod
    def media_json(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "bytes"}

    def upload(self, r: Recorded) -> Reply:
        if not self.caps["upload_files"]:
            return self.error(403, "rest_cannot_create", "Sorry, you are not allowed to upload media.")
        disposition = r.headers.get("Content-Disposition", "")
        name = disposition.split('filename="', 1)[1].rstrip('"')
        media_id = self.new_id()
        item = {
            "id": media_id,
            "slug": r.query.get("slug") or name.rsplit(".", 1)[0],
            "alt_text": r.query.get("alt_text", ""),
            "source_url": f"{self.server.url}/wp-content/uploads/{name}",
            "mime_type": r.headers.get("Content-Type"),
            "bytes": r.body,
        }
        self.media[media_id] = item
        self.server.handler("POST", f"{API}/media/{media_id}", lambda req: self.edit_media(media_id, req))
        return Reply(201, json=self.media_json(item))

    def edit_media(self, media_id: int, r: Recorded) -> Reply:
        self.media[media_id].update(r.json)
        return Reply(200, json=self.media_json(self.media[media_id]))

    def list_terms(self, kind: str, r: Recorded) -> Reply:
        needle = r.query.get("search", "").casefold()
        found = [
            {"id": i, "name": html.escape(n, quote=False)}
            for i, n in self.terms[kind].items()
            if needle in n.casefold()
        ]
        return Reply(200, json=found)

    def create_term(self, kind: str, r: Recorded) -> Reply:
        name = r.json["name"]
        for term_id, existing in self.terms[kind].items():
            if existing.casefold() == name.casefold():
                return self.error(
                    400, "term_exists", "A term with the name provided already exists.", term_id=term_id
                )
        term_id = self.new_id()
        self.terms[kind][term_id] = name
        return Reply(201, json={"id": term_id, "name": name})

    # -- for asserts
    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.server.requests if r.method == method and r.path == API + path]


@pytest.fixture
def wp(scripted_server: ScriptedServer) -> FakeWordPress:
    return FakeWordPress(scripted_server)


CtxFactory = Callable[..., ChannelContext]


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    def make(
        session: Callable[[], requests.Session] | None = None, password: str = PASSWORD, **raw: Any
    ) -> ChannelContext:
        values = {
            "url": scripted_server.url,
            "username": USER,
            "app_password": {"env": "WP_APP_PASSWORD"},
            "allow_insecure_http": True,
            **raw,
        }
        options, problems = resolve_options(
            values, WordPressChannel.options, environ={"WP_APP_PASSWORD": password}
        )
        assert problems == [] and WordPressChannel.validate(options) == []
        return ChannelContext(
            name="wp",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("test.wordpress"),
            idempotency_key="syn-key",
            timezone="Asia/Makassar",
            _session_factory=session,
        )

    return make


@pytest.fixture
def release(tmp_path: Path) -> Release:
    first = tmp_path / "Foto Utama.png"
    first.write_bytes(png(4, 3))
    second = tmp_path / "kedua.png"
    second.write_bytes(png(2, 2))
    csv = tmp_path / "data-anggaran.csv"
    csv.write_text("opd,realisasi\n" + "Dinas,75.7\n" * 200, encoding="utf-8")
    return Release(
        source="diskominfo",
        id="2026-11-004",
        title='Gerakan <Tanam> "Mangrove" & Pesisir',
        summary="Ringkasan <b>tebal</b> &amp; jelas.",
        body_html="<h1>Latar</h1><p>Isi <strong>rilis</strong>.</p><script>alert(1)</script>",
        published=datetime(2026, 11, 16, 0, 0, tzinfo=UTC),
        agency="Dinas Lingkungan Hidup",
        tags=("lingkungan", "Mangrove", "lingkungan"),
        language="id",
        images=(
            Media(str(first), alt="Bibit mangrove di tepi pantai", title="Penanaman bibit"),
            Media(str(second), alt="Relawan menanam"),
        ),
        attachments=(Media(str(csv), kind="file", title="Data anggaran", mime_type="text/csv"),),
    )


def publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = WordPressChannel()
    return channel.publish(channel.render(release, ctx), ctx)


# -- registration, options, render ---------------------------------------------------------------


def test_registers_its_channel_type() -> None:
    pm = get_plugin_manager(load_entry_points=False, disabled=BUILTIN_PLUGINS)
    pm.register(wordpress, name="wordpress")
    assert channel_types(pm)["wordpress"].cls is WordPressChannel


def test_registers_through_the_entry_point() -> None:
    table = channel_types(get_plugin_manager(disabled=BUILTIN_PLUGINS))
    if "wordpress" not in table:
        pytest.skip(
            "entry point not installed: add wordpress = syndicator_channels.wordpress to plugins/setup.cfg"
        )
    assert table["wordpress"].cls is WordPressChannel and table["wordpress"].plugin == "wordpress"


def test_contract_declarations() -> None:
    assert WordPressChannel.idempotency == "lookup"
    caps = WordPressChannel.capabilities
    assert caps.edit and caps.delete and caps.media and not caps.threads


def resolved(**raw: Any) -> dict[str, Any]:
    values = {"username": USER, "app_password": {"env": "P"}, **raw}
    options, problems = resolve_options(values, WordPressChannel.options, environ={"P": PASSWORD})
    assert problems == []
    return options


def test_validate_refuses_plain_http_unless_allowed() -> None:
    problems = WordPressChannel.validate(resolved(url="http://ppid.example.go.id"))
    assert [k for k, _ in problems] == ["url"] and "Application Passwords" in problems[0][1]
    assert WordPressChannel.validate(resolved(url="http://127.0.0.1:8081", allow_insecure_http=True)) == []
    assert WordPressChannel.validate(resolved(url="https://ppid.example.go.id")) == []
    bad = WordPressChannel.validate(
        resolved(url="ppid.example.go.id", api_root="http://x/?rest_route=", categories=["ok", ""])
    )
    assert [k for k, _ in bad] == ["url", "api_root", "categories"]


def test_option_defaults_and_choices() -> None:
    options = resolved(url="https://x")
    assert options["status"] == "publish" and options["agency_as"] == "category"
    assert options["retraction"] == "trash" and options["schedule_on_site"] is False
    assert isinstance(options["app_password"], Secret)
    _, problems = resolve_options(
        {"url": "https://x", "username": "u", "app_password": {"env": "P"}, "status": "live"},
        WordPressChannel.options,
        environ={"P": "p"},
    )
    assert [k for k, _ in problems] == ["status"]
    _, problems = resolve_options(
        {"url": "https://x", "username": "u", "app_password": "inline"}, WordPressChannel.options
    )
    assert [k for k, _ in problems] == ["app_password"]  # a secret never lives in the file


def test_plain_http_is_refused_at_run_time_too(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    ctx = make_ctx()
    ctx.options = {**ctx.options, "allow_insecure_http": False}
    with pytest.raises(PermanentError, match="plain http"):
        publish(ctx, release)
    assert wp.server.requests == []


def test_render_is_pure_and_complete(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    ctx = make_ctx(categories=["Siaran Pers"])
    post = WordPressChannel().render(release, ctx)
    assert wp.server.requests == []  # no I/O
    doc = post.extra["wordpress"]
    assert doc["slug"] == "2026-11-004" == post_slug(release)
    assert doc["marker"] == marker(release) and doc["marker"].startswith("<!-- syndicator:")
    assert doc["status"] == "publish" and doc["date_gmt"] == "2026-11-16T00:00:00"
    assert doc["categories"] == ["Siaran Pers", "Dinas Lingkungan Hidup"]
    assert doc["tags"] == ["lingkungan", "Mangrove"]  # a tag given twice is sent once
    assert doc["excerpt"] == "Ringkasan tebal & jelas."
    assert doc["body"] == "<h2>Latar</h2><p>Isi <strong>rilis</strong>.</p>"  # sanitised; h1 stepped down
    assert [i["alt"] for i in doc["images"]] == ["Bibit mangrove di tepi pantai", "Relawan menanam"]
    assert post.media == release.images + release.attachments
    assert WordPressChannel().render(release, ctx) == post  # deterministic


def test_render_embargo_agency_and_slug_choices(make_ctx: CtxFactory, release: Release) -> None:
    embargoed = release.with_changes(publish_at=datetime(2027, 1, 15, 0, 0, tzinfo=UTC))
    doc = WordPressChannel().render(embargoed, make_ctx(schedule_on_site=True)).extra["wordpress"]
    assert doc["status"] == "future" and doc["date_gmt"] == "2027-01-15T00:00:00"
    doc = WordPressChannel().render(embargoed, make_ctx(status="draft")).extra["wordpress"]
    assert doc["status"] == "draft" and doc["date_gmt"] == "2026-11-16T00:00:00"
    doc = WordPressChannel().render(release, make_ctx(agency_as="none")).extra["wordpress"]
    assert doc["categories"] == []
    custom = release.with_changes(overrides={"wp": {"slug": "Tanam Mangrove 2026"}})
    assert WordPressChannel().render(custom, make_ctx()).extra["wordpress"]["slug"] == "tanam-mangrove-2026"
    cjk = Release(source="s", id="文化祭", title="t")
    assert post_slug(cjk).startswith("release-") and post_slug(cjk) != post_slug(cjk.with_changes(source="t"))
    assert marker(release) != marker(release.with_changes(source="other"))
    assert marker(release) == marker(release.with_changes(title="corrected"))  # survives corrections


def test_import_stays_light() -> None:
    code = (
        "import sys, syndicator_channels.wordpress as w; assert not {'jinja2', 'requests'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- publish ---------------------------------------------------------------------------------


def test_publish_creates_the_post_with_every_field(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    wp.terms["categories"][5] = "Siaran Pers"
    wp.terms["tags"][6] = "Mangrove & Pesisir"
    receipt = publish(
        make_ctx(categories=["siaran pers"]), release.with_changes(tags=("mangrove & pesisir", "Baru"))
    )

    [create] = wp.calls("POST", "/posts")
    body = create.json
    assert (
        create.headers["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    )
    assert body["title"] == 'Gerakan &lt;Tanam&gt; "Mangrove" &amp; Pesisir'  # WordPress reads titles as HTML
    assert body["excerpt"] == "Ringkasan tebal &amp; jelas."
    assert body["slug"] == "2026-11-004" and body["status"] == "publish"
    assert body["date_gmt"] == "2026-11-16T00:00:00"
    agency_id = next(i for i, n in wp.terms["categories"].items() if n == "Dinas Lingkungan Hidup")
    assert body["categories"] == [5, agency_id]  # existing by name (any case), missing created
    new_tag = next(i for i, n in wp.terms["tags"].items() if n == "Baru")
    assert body["tags"] == [6, new_tag]

    uploads = wp.calls("POST", "/media")
    assert len(uploads) == 3
    first, second, csv = uploads
    assert first.query["alt_text"] == "Bibit mangrove di tepi pantai"
    assert (
        first.headers["Content-Type"] == "image/png"
        and first.body == Path(release.images[0].location).read_bytes()
    )
    assert first.headers["Content-Disposition"].endswith('-foto-utama.png"')
    assert first.query["slug"] == first.headers["Content-Disposition"].split('"')[1].rsplit(".", 1)[0]
    assert csv.headers["Content-Type"] == "text/csv"
    featured = wp.media[body["featured_media"]]
    assert featured["alt_text"] == "Bibit mangrove di tepi pantai"

    content = body["content"]
    assert content.startswith("<h2>Latar</h2><p>Isi <strong>rilis</strong>.</p>") and "<script" not in content
    second_url = next(m["source_url"] for m in wp.media.values() if m["bytes"] == second.body)
    assert f'<img src="{second_url}" alt="Relawan menanam"/>' in content
    assert featured["source_url"] not in content  # the featured image is shown by the theme
    csv_url = next(m["source_url"] for m in wp.media.values() if m["mime_type"] == "text/csv")
    assert (
        "<h2>Lampiran</h2>" in content and f'<a href="{csv_url}">Data anggaran</a> (CSV, 2,2 KB)' in content
    )
    assert content.endswith(marker(release))

    post = wp.posts[int(receipt.remote_id)]
    assert receipt.url == f"{wp.server.url}/2026-11-004/" and post["status"] == "publish"
    assert receipt.extra["featured_media"] == body["featured_media"] and receipt.extra["lang"] == "id"
    lookup = wp.calls("GET", "/posts")[0]
    assert lookup.query == {"slug": "2026-11-004", "status": "any", "context": "edit", "per_page": "10"}


def test_english_release_words(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    publish(make_ctx(), release.with_changes(language="en"))
    content = wp.calls("POST", "/posts")[0].json["content"]
    assert "<h2>Attachments</h2>" in content and "(CSV, 2.2 KB)" in content


def test_publishing_again_updates_instead_of_duplicating(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    ctx = make_ctx()
    first = publish(ctx, release)
    second = publish(ctx, release.with_changes(title="Judul dikoreksi"))
    assert first.remote_id == second.remote_id and len(wp.posts) == 1
    assert len(wp.calls("POST", "/posts")) == 1
    assert wp.calls("POST", f"/posts/{first.remote_id}")[0].json["title"] == "Judul dikoreksi"
    assert len(wp.calls("POST", "/media")) == 3  # the media were found by slug, not uploaded again


def test_retry_after_a_timeout_never_duplicates(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    wp.create_delay = 3.0  # WordPress saves the post, but the answer comes too late
    ctx = make_ctx(session=lambda: make_session(timeout=0.5))
    with pytest.raises(TransientError, match="timed out"):
        publish(ctx, release)
    assert len(wp.posts) == 1
    wp.create_delay = 0.0
    receipt = publish(make_ctx(), release)  # the dispatcher's retry
    assert len(wp.posts) == 1 and receipt.remote_id == str(next(iter(wp.posts)))
    assert len(wp.calls("POST", "/posts")) == 1


def test_find_existing_needs_the_marker(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    ctx = make_ctx()
    channel = WordPressChannel()
    assert channel.find_existing(release, ctx) is None
    receipt = publish(ctx, release)
    found = channel.find_existing(release, ctx)
    assert found is not None and found.remote_id == receipt.remote_id and found.url == receipt.url
    # another release with the same slug finds a post whose marker is not its own
    with pytest.raises(PermanentError, match="already uses the slug"):
        channel.find_existing(release.with_changes(source="other"), ctx)


def test_a_foreign_post_with_the_slug_stops_the_delivery(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    wp.posts[3] = {
        "id": 3,
        "slug": "2026-11-004",
        "status": "publish",
        "title": "x",
        "content": "<p>hand made</p>",
    }
    with pytest.raises(PermanentError, match="post 3 already uses the slug '2026-11-004'"):
        publish(make_ctx(), release)
    assert wp.calls("POST", "/posts") == []


def test_term_created_meanwhile_is_reused(
    make_ctx: CtxFactory, release: Release, scripted_server: ScriptedServer, wp: FakeWordPress
) -> None:
    scripted_server.script("GET", f"{API}/tags", Reply(200, json=[]))  # the search misses it...
    wp.terms["tags"][77] = "lingkungan"  # ...but it exists by the time we create it
    publish(make_ctx(), release.with_changes(tags=("lingkungan",)))
    assert wp.calls("POST", "/posts")[0].json["tags"] == [77]


def test_same_image_twice_is_uploaded_once(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    image = release.images[0]
    publish(
        make_ctx(), release.with_changes(images=(image, Media(image.location, alt="Lagi")), attachments=())
    )
    assert len(wp.calls("POST", "/media")) == 1
    assert wp.media[wp.calls("POST", "/posts")[0].json["featured_media"]]["alt_text"] == image.alt


def test_alt_text_is_corrected_on_reuse(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    ctx = make_ctx()
    publish(ctx, release)
    fixed = release.images[0].__class__(release.images[0].location, alt="Alt baru")
    publish(ctx, release.with_changes(images=(fixed,)))
    [edit] = [r for r in wp.server.requests if r.method == "POST" and r.path.startswith(f"{API}/media/")]
    assert edit.json == {"alt_text": "Alt baru"}


def test_remote_featured_image_is_fetched_other_remote_media_linked(
    make_ctx: CtxFactory, scripted_server: ScriptedServer, wp: FakeWordPress
) -> None:
    scripted_server.script(
        "GET", "/cdn/foto.png", Reply(200, body=png(), headers={"Content-Type": "image/png"})
    )
    release = Release(
        source="rss",
        id="remote",
        title="Remote",
        images=(
            Media(f"{scripted_server.url}/cdn/foto.png", alt="Foto"),
            Media("https://cdn.example/b.jpg", alt="B"),
        ),
        attachments=(Media("https://cdn.example/laporan.pdf", kind="file", size=2_500_000),),
    )
    publish(make_ctx(), release)
    [upload] = wp.calls("POST", "/media")
    assert upload.body == png() and upload.query["alt_text"] == "Foto"
    content = wp.calls("POST", "/posts")[0].json["content"]
    assert '<img src="https://cdn.example/b.jpg" alt="B"/>' in content
    assert '<a href="https://cdn.example/laporan.pdf">laporan.pdf</a> (PDF, 2,4 MB)' in content


def test_media_problems_are_permanent(
    make_ctx: CtxFactory, release: Release, tmp_path: Path, wp: FakeWordPress
) -> None:
    gone = release.with_changes(images=(Media(str(tmp_path / "hilang.png"), alt="x"),))
    with pytest.raises(PermanentError, match=r"hilang\.png cannot be read"):
        publish(make_ctx(), gone)
    changed = release.with_changes(
        images=(Media(release.images[0].location, alt="x", digest="sha256:" + "0" * 64),)
    )
    with pytest.raises(PermanentError, match="changed since the release was approved"):
        publish(make_ctx(), changed)
    assert wp.calls("POST", "/posts") == []


def test_upload_refused_is_an_auth_error(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    wp.caps["upload_files"] = False
    with pytest.raises(AuthError, match="upload"):
        publish(make_ctx(), release)


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        (
            Reply(401, json={"code": "rest_cannot_create", "message": "Sorry, you are not allowed"}),
            AuthError,
            "HTTP 401 rest_cannot_create",
        ),
        (Reply(403, json={"code": "rest_cannot_create", "message": "no"}), AuthError, "HTTP 403"),
        (
            Reply(400, json={"code": "rest_invalid_param", "message": "Invalid parameter(s): status"}),
            PermanentError,
            "rest_invalid_param",
        ),
        (Reply(429, headers={"Retry-After": "7"}, body=b"slow down"), TransientError, "HTTP 429"),
        (
            Reply(503, json={"code": "maintenance", "message": "<p>Briefly unavailable</p>"}),
            TransientError,
            "Briefly unavailable",
        ),
        (Reply(200, body=b"<br />Deprecated: notice {"), TransientError, "no JSON"),
        (
            Reply(301, headers={"Location": "https://ppid.example.go.id/wp-json/wp/v2/posts"}),
            PermanentError,
            "set url",
        ),
    ],
)
def test_errors_are_typed(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress, reply: Reply, error: type[Exception], text: str
) -> None:
    wp.server.script("POST", f"{API}/posts", reply)
    with pytest.raises(error, match=text) as caught:
        publish(make_ctx(), release.with_changes(images=(), attachments=()))
    assert not isinstance(caught.value, AuthError) or error is AuthError
    if reply.status == 429:
        assert isinstance(caught.value, TransientError) and caught.value.retry_after == 7.0


def test_connection_refused_is_transient(make_ctx: CtxFactory, release: Release) -> None:
    with ScriptedServer() as gone:
        url = gone.url
    with pytest.raises(TransientError, match="connection failed"):
        publish(make_ctx(url=url), release)


def test_the_password_never_appears_in_errors(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    wp.server.script(
        "GET", f"{API}/posts", Reply(401, json={"code": "invalid", "message": f"bad {PASSWORD}"})
    )
    with pytest.raises(AuthError) as caught:
        publish(make_ctx(), release)
    assert PASSWORD not in str(caught.value) and "<secret>" in str(caught.value)


# -- corrections, retractions, check ------------------------------------------------------------


def test_update_rewrites_the_post_in_place(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    ctx = make_ctx()
    channel = WordPressChannel()
    receipt = publish(ctx, release)
    corrected = release.with_changes(title="Judul baru", body_html="<p>Isi dikoreksi.</p>", tags=("koreksi",))
    again = channel.update(receipt, channel.render(corrected, ctx), ctx)
    assert again.remote_id == receipt.remote_id and len(wp.posts) == 1
    post = wp.posts[int(receipt.remote_id)]
    assert post["title"] == "Judul baru" and post["content"].startswith("<p>Isi dikoreksi.</p>")
    assert [wp.terms["tags"][t] for t in post["tags"]] == ["koreksi"]
    assert wp.calls("GET", "/posts") == [wp.server.requests[0]]  # update needs no lookup


def test_update_of_a_deleted_post_is_permanent(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    ctx = make_ctx()
    wp.server.script(
        "POST",
        f"{API}/posts/999",
        Reply(404, json={"code": "rest_post_invalid_id", "message": "Invalid post ID."}),
    )
    channel = WordPressChannel()
    with pytest.raises(PermanentError, match="rest_post_invalid_id"):
        channel.update(Receipt(remote_id="999"), channel.render(release, ctx), ctx)


def test_retraction_trashes_without_force(make_ctx: CtxFactory, release: Release, wp: FakeWordPress) -> None:
    ctx = make_ctx()
    receipt = publish(ctx, release)
    WordPressChannel().delete(receipt, ctx)
    [call] = wp.calls("DELETE", f"/posts/{receipt.remote_id}")
    assert "force" not in call.query
    assert wp.posts[int(receipt.remote_id)]["status"] == "trash"
    WordPressChannel().delete(receipt, ctx)  # already in the trash (410): done, not an error
    assert WordPressChannel().find_existing(release, ctx) is None
    wp.server.script("DELETE", f"{API}/posts/404", Reply(404, json={"code": "rest_post_invalid_id"}))
    WordPressChannel().delete(Receipt(remote_id="404"), ctx)  # gone already: done


def test_retraction_can_mark_the_post_instead(
    make_ctx: CtxFactory, release: Release, wp: FakeWordPress
) -> None:
    ctx = make_ctx(retraction="mark")
    receipt = publish(ctx, release)
    WordPressChannel().delete(receipt, ctx)
    post = wp.posts[int(receipt.remote_id)]
    assert post["status"] == "publish" and post["title"].startswith("[Dicabut] Gerakan")
    assert "Siaran pers ini telah dicabut." in post["content"] and marker(release) in post["content"]
    WordPressChannel().delete(receipt, ctx)  # twice: marked once
    assert post["title"].count("[Dicabut]") == 1
    assert wp.calls("DELETE", f"/posts/{receipt.remote_id}") == []


def test_check_verifies_credentials_and_the_right_to_publish(make_ctx: CtxFactory, wp: FakeWordPress) -> None:
    channel = WordPressChannel()
    assert channel.check(make_ctx()) == f"authenticated as {USER} (author); can publish posts"
    call = wp.calls("GET", "/users/me")[0]
    assert call.query == {"context": "edit"}
    wp.caps["manage_categories"] = False
    assert channel.check(make_ctx()).endswith("; cannot create categories (each one must exist beforehand)")
    wp.caps["upload_files"] = False
    assert "; cannot upload files (releases with images or attachments will fail);" in channel.check(
        make_ctx()
    )
    wp.caps["publish_posts"] = False
    with pytest.raises(AuthError, match="lacks the publish_posts capability"):
        channel.check(make_ctx())
    assert channel.check(make_ctx(status="draft")).startswith(
        f"authenticated as {USER} (author); can edit posts;"
    )
    with pytest.raises(AuthError, match=r"rest_not_logged_in.*plain http"):
        channel.check(make_ctx(password="wrong"))


def test_api_root_for_sites_without_pretty_permalinks(
    make_ctx: CtxFactory, scripted_server: ScriptedServer, release: Release
) -> None:
    routes: list[str] = []

    def answer(r: Recorded) -> Reply:
        routes.append(r.query["rest_route"])
        if r.method == "GET":
            return Reply(200, json=[])
        return Reply(201, json={"id": 5, "link": "http://x/?p=5", "slug": "2026-11-004"})

    scripted_server.handler("GET", "/", answer)
    scripted_server.handler("POST", "/", answer)
    receipt = publish(
        make_ctx(api_root=f"{scripted_server.url}/?rest_route=", agency_as="none"),
        release.with_changes(images=(), attachments=(), tags=()),
    )
    assert receipt.remote_id == "5" and routes == ["/wp/v2/posts", "/wp/v2/posts"]


# -- the kit's contract ------------------------------------------------------------------------


class TestWordPressContract(ChannelContract):
    channel_class = WordPressChannel
    channel_name = "wp"

    def options(self, url: str) -> dict[str, Any]:
        return {
            "url": url,
            "username": USER,
            "app_password": {"env": "WP_APP_PASSWORD"},
            "allow_insecure_http": True,
            "categories": ["Siaran Pers"],
        }

    def environ(self, url: str) -> dict[str, str]:
        return {"WP_APP_PASSWORD": PASSWORD}

    def sample_release(self) -> Release:
        # the kit's image lives on a host this test must not reach; remote media are tested above
        return make_release(images=())

    def script_success(self, server: ScriptedServer) -> None:
        FakeWordPress(server)

    def script_transient(self, server: ScriptedServer) -> None:
        FakeWordPress(server)
        server.script("POST", f"{API}/posts", Reply(503, headers={"Retry-After": "30"}))

    def script_permanent(self, server: ScriptedServer) -> None:
        FakeWordPress(server)
        server.script(
            "POST", f"{API}/posts", Reply(400, json={"code": "rest_invalid_param", "message": "bad"})
        )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script("GET", f"{API}/posts", Reply(401, json={"code": "rest_not_logged_in", "message": "no"}))
