"""The wordpress channel against a real WordPress (Debian's package, MariaDB, PHP).

Start one with ``bash .ci/services/wordpress-up.sh`` and export what it writes::

    set -a; . /tmp/syndicator-wp/env; set +a     # SYNDICATOR_WP_URL, _USER, _APP_PASSWORD

Without those variables, or with WordPress unreachable, these tests skip with a message (and
fail under SYNDICATOR_REQUIRE_SERVICES=1, as in CI). Each test uses release ids of its own,
so the tests can run again and again against the same site.
"""

from __future__ import annotations

import html
import logging
import os
import struct
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from syndicator_channels import wordpress
from syndicator_channels.wordpress import WordPressChannel, _upload_name, marker, post_slug

from syndicator.channel import ChannelContext
from syndicator.errors import AuthError, TransientError
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import resolve_options

pytestmark = pytest.mark.service

ENV = ("SYNDICATOR_WP_URL", "SYNDICATOR_WP_USER", "SYNDICATOR_WP_APP_PASSWORD")


@pytest.fixture(scope="module")
def site() -> dict[str, str]:
    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        pytest.skip(
            f"no WordPress to test against: {', '.join(missing)} not set "
            "(run .ci/services/wordpress-up.sh and export its env file)"
        )
    url = os.environ["SYNDICATOR_WP_URL"].rstrip("/")
    try:
        requests.get(f"{url}/wp-json/", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.skip(f"WordPress at {url} is not reachable: {exc}")
    return {
        "url": url,
        "user": os.environ["SYNDICATOR_WP_USER"],
        "password": os.environ["SYNDICATOR_WP_APP_PASSWORD"],
    }


class Rest:
    """Reads the site as an editor would, to check what the channel wrote."""

    def __init__(self, site: dict[str, str]) -> None:
        self.base = f"{site['url']}/wp-json/wp/v2"
        self.auth = (site["user"], site["password"])

    def get(self, path: str, **params: Any) -> Any:
        resp = requests.get(self.base + path, params=params, auth=self.auth, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def posts(self, slug: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/posts", slug=slug, status="any", context="edit")
        return found

    def post(self, post_id: str | int) -> dict[str, Any]:
        data: dict[str, Any] = self.get(f"/posts/{post_id}", context="edit")
        return data

    def term_names(self, kind: str, ids: list[int]) -> set[str]:
        return {t["name"] for t in self.get(f"/{kind}", include=",".join(map(str, ids)), per_page=100)}


@pytest.fixture
def rest(site: dict[str, str]) -> Rest:
    return Rest(site)


CtxFactory = Callable[..., ChannelContext]


@pytest.fixture
def make_ctx(site: dict[str, str], tmp_path: Path) -> CtxFactory:
    def make(
        session: Callable[[], requests.Session] | None = None, password: str = "", **raw: Any
    ) -> ChannelContext:
        values = {
            "url": site["url"],
            "username": site["user"],
            "app_password": {"env": "WP_APP_PASSWORD"},
            "allow_insecure_http": True,  # 127.0.0.1 only; the test site is WP_ENVIRONMENT_TYPE=local
            **raw,
        }
        options, problems = resolve_options(
            values, WordPressChannel.options, environ={"WP_APP_PASSWORD": password or site["password"]}
        )
        assert problems == [] and WordPressChannel.validate(options) == []
        return ChannelContext(
            name="wp",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("test.wordpress.live"),
            _session_factory=session,
        )

    return make


def png(width: int, height: int, shade: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([shade, (y * 7) % 256, 200]) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def release(tmp_path: Path) -> Release:
    run = uuid.uuid4().hex[:8]  # fresh ids (and image bytes) each run, so runs never meet
    shade = int(run[:2], 16)
    first = tmp_path / "foto-penanaman.png"
    first.write_bytes(png(64, 48, shade))
    second = tmp_path / "relawan.png"
    second.write_bytes(png(32, 24, 255 - shade))
    csv = tmp_path / "realisasi.csv"
    csv.write_text("opd,realisasi\nDinas Lingkungan Hidup,75.7\n", encoding="utf-8")
    return Release(
        source="diskominfo",
        id=f"live-{run}",
        title=f"Gerakan Tanam Mangrove & Pesisir <{run}>",
        summary="Dinas Lingkungan Hidup menanam 10.000 bibit mangrove.",
        body_html="<p>Penanaman dilakukan di lahan seluas <strong>4,5 hektare</strong>.</p>",
        published=datetime(2026, 11, 16, 0, 0, tzinfo=UTC),
        agency="Dinas Lingkungan Hidup",
        tags=("lingkungan", f"mangrove-{run}"),
        language="id",
        images=(
            Media(str(first), alt="Bibit mangrove di tepi pantai", title="Penanaman bibit"),
            Media(str(second), alt="Relawan menanam bibit"),
        ),
        attachments=(Media(str(csv), kind="file", title="Data realisasi", mime_type="text/csv"),),
    )


def publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = WordPressChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def test_check_verifies_credentials(make_ctx: CtxFactory, site: dict[str, str]) -> None:
    status = WordPressChannel().check(make_ctx())
    assert status.startswith(f"authenticated as {site['user']} (administrator); can publish posts")
    with pytest.raises(AuthError, match="HTTP 401"):
        WordPressChannel().check(make_ctx(password="abcd efgh ijkl mnop qrst uvwx"))


def test_post_is_created_with_every_field(make_ctx: CtxFactory, rest: Rest, release: Release) -> None:
    receipt = publish(make_ctx(categories=["Siaran Pers"]), release)
    post = rest.post(receipt.remote_id)
    assert post["slug"] == release.id and post["status"] == "publish"
    assert post["title"]["raw"] == html.escape(release.title, quote=False)  # WordPress titles are HTML
    assert post["excerpt"]["raw"] == release.summary and post["date_gmt"] == "2026-11-16T00:00:00"
    content = post["content"]["raw"]
    assert content.startswith(release.body_html) and content.endswith(marker(release))
    assert rest.term_names("categories", post["categories"]) == {"Siaran Pers", "Dinas Lingkungan Hidup"}
    assert rest.term_names("tags", post["tags"]) == set(release.tags)

    featured = rest.get(f"/media/{post['featured_media']}", context="edit")
    assert featured["alt_text"] == "Bibit mangrove di tepi pantai" and featured["media_type"] == "image"
    image = requests.get(featured["source_url"], timeout=30)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content == Path(release.images[0].location).read_bytes()
    assert featured["source_url"] not in content  # the theme shows the featured image
    assert 'alt="Relawan menanam bibit"' in content and "<h2>Lampiran</h2>" in content
    csv_link = content.split('<ul class="syndicator-attachments">', 1)[1].split('"')[1]
    assert csv_link.endswith(".csv") and requests.get(csv_link, timeout=30).text.startswith("opd,realisasi")

    page = requests.get(receipt.url, timeout=30)  # the public page, rendered by the theme
    assert page.status_code == 200 and "4,5 hektare" in page.text and featured["source_url"] in page.text


def test_retry_after_a_lost_answer_creates_no_duplicate(
    make_ctx: CtxFactory, rest: Rest, release: Release
) -> None:
    lost: list[str] = []

    def losing_session() -> requests.Session:
        # WordPress creates the post, then the answer is lost: a read timeout after sending
        session = make_session(timeout=30)
        send = session.send

        def send_then_lose(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = send(request, **kwargs)
            if request.method == "POST" and str(request.url).endswith("/wp/v2/posts") and not lost:
                lost.append(str(response.status_code))
                raise requests.ReadTimeout("simulated: the answer never came back")
            return response

        session.send = send_then_lose  # type: ignore[method-assign]
        return session

    with pytest.raises(TransientError, match="timed out"):
        publish(make_ctx(session=losing_session), release)
    assert lost == ["201"] and len(rest.posts(release.id)) == 1  # it did land

    found = WordPressChannel().find_existing(release, make_ctx())
    receipt = publish(make_ctx(), release)  # the dispatcher's retry
    [only] = rest.posts(release.id)
    assert found is not None and found.remote_id == receipt.remote_id == str(only["id"])
    first = Path(release.images[0].location)
    slug = Path(_upload_name(str(first), first.read_bytes())).stem
    assert len(rest.get("/media", slug=slug)) == 1  # found again by its slug, not uploaded twice


def test_correction_updates_the_post(make_ctx: CtxFactory, rest: Rest, release: Release) -> None:
    ctx = make_ctx()
    channel = WordPressChannel()
    receipt = publish(ctx, release)
    corrected = release.with_changes(
        title=release.title + " (ralat)",
        body_html="<p>Lahan yang ditanami seluas <strong>5 hektare</strong>.</p>",
        images=release.images[:1],
        attachments=(),
    )
    again = channel.update(receipt, channel.render(corrected, ctx), ctx)
    assert again.remote_id == receipt.remote_id
    [post] = rest.posts(release.id)
    assert post["title"]["raw"].endswith("(ralat)") and "5 hektare" in post["content"]["raw"]
    assert "Lampiran" not in post["content"]["raw"] and post["content"]["raw"].endswith(marker(release))


def test_retraction_trashes_the_post(make_ctx: CtxFactory, rest: Rest, release: Release) -> None:
    ctx = make_ctx()
    receipt = publish(ctx, release.with_changes(images=(), attachments=()))
    WordPressChannel().delete(receipt, ctx)
    assert rest.post(receipt.remote_id)["status"] == "trash"
    WordPressChannel().delete(receipt, ctx)  # twice is fine
    assert WordPressChannel().find_existing(release, ctx) is None
    assert rest.posts(release.id) == []


def test_retraction_can_mark_instead(make_ctx: CtxFactory, rest: Rest, release: Release) -> None:
    ctx = make_ctx(retraction="mark")
    receipt = publish(ctx, release.with_changes(images=(), attachments=()))
    WordPressChannel().delete(receipt, ctx)
    post = rest.post(receipt.remote_id)
    assert post["status"] == "publish" and post["title"]["raw"].startswith("[Dicabut] ")
    assert "Siaran pers ini telah dicabut." in post["content"]["raw"]


def test_embargo_is_scheduled_on_the_site(make_ctx: CtxFactory, rest: Rest, release: Release) -> None:
    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    receipt = publish(
        make_ctx(schedule_on_site=True), release.with_changes(publish_at=at, images=(), attachments=())
    )
    post = rest.post(receipt.remote_id)
    assert post["status"] == "future" and post["date_gmt"] == at.strftime("%Y-%m-%dT%H:%M:%S")
    assert (
        requests.get(f"{rest.base}/posts/{receipt.remote_id}", timeout=30).status_code == 401
    )  # not public yet


def test_engine_run_publishes_the_demo_once(site: dict[str, str], rest: Rest, tmp_path: Path) -> None:
    """The whole engine, from the demo's release files to WordPress posts, run twice."""
    import shutil

    from syndicator.config import load_config
    from syndicator.engine import Engine
    from syndicator.ledger import Ledger
    from syndicator.plugins import channel_types, get_plugin_manager

    root = Path(__file__).resolve().parents[2]
    folder = tmp_path / "config"
    shutil.copytree(root / "config" / "releases", folder / "releases")
    (folder / "syndicator.toml").write_text(
        f"""
[syndicator]
timezone = "Asia/Makassar"

[sources.diskominfo]
type = "directory"
path = "releases"
approval = "front-matter"

[channels.wp]
type = "wordpress"
url = "{site["url"]}"
username = "{site["user"]}"
app_password = {{ env = "SYNDICATOR_WP_APP_PASSWORD" }}
allow_insecure_http = true
categories = ["Siaran Pers"]
backfill = true
""",
        encoding="utf-8",
    )
    pm = get_plugin_manager()
    if "wordpress" not in channel_types(pm):  # until the entry point is installed
        pm.register(wordpress, name="wordpress")
    config = load_config(folder / "syndicator.toml", pm)

    def run() -> Any:
        with Ledger.open(config.state_path) as ledger:
            return Engine(config, pm, ledger).run()

    def retract(key: str) -> Any:
        with Ledger.open(config.state_path) as ledger:
            return Engine(config, pm, ledger).retract(key, "Kepala Dinas", "data keliru")

    first = run()
    sent = [o for o in first.outcomes if o.state == "sent"]
    assert len(sent) >= 5 and not first.problems, [(o.state, o.detail) for o in first.outcomes]
    assert [o for o in run().outcomes if o.state == "sent"] == []  # the ledger remembers
    for outcome in sent:
        source, release_id = outcome.release_key.split("/", 1)
        [post] = rest.posts(post_slug(Release(source=source, id=release_id, title="")))
        assert outcome.url == post["link"] and post["status"] == "publish"
    # a new ledger (the state file lost) finds every post by its slug and marker: still one each
    shutil.rmtree(config.state_path.parent)
    again = run()
    assert len([o for o in again.outcomes if o.state == "sent"]) == len(sent)
    for outcome in sent:
        source, release_id = outcome.release_key.split("/", 1)
        assert len(rest.posts(post_slug(Release(source=source, id=release_id, title="")))) == 1

    # a retraction through the engine moves the post to the trash
    key = sent[0].release_key
    [outcome] = retract(key)
    assert outcome.state == "retract", (outcome.state, outcome.detail)
    source, release_id = key.split("/", 1)
    assert rest.posts(post_slug(Release(source=source, id=release_id, title=""))) == []


def test_as_an_author(make_ctx: CtxFactory, rest: Rest, release: Release) -> None:
    """An Author publishes, uploads and makes tags, but not categories; kses filters its HTML."""
    user, password = (
        os.environ.get("SYNDICATOR_WP_AUTHOR_USER"),
        os.environ.get("SYNDICATOR_WP_AUTHOR_APP_PASSWORD"),
    )
    if not user or not password:
        pytest.skip("no author account: SYNDICATOR_WP_AUTHOR_USER / _APP_PASSWORD not set")
    ctx = make_ctx(username=user, password=password, agency_as="none")
    assert WordPressChannel().check(ctx) == (
        f"authenticated as {user} (author); can publish posts; "
        "cannot create categories (each one must exist beforehand)"
    )
    plain = release.with_changes(attachments=())
    receipt = publish(ctx, plain)  # new tags: an author may create those
    [post] = rest.posts(release.id)
    assert post["content"]["raw"].endswith(marker(release))  # the marker survives kses
    assert post["featured_media"] > 0 and rest.term_names("tags", post["tags"]) == set(release.tags)
    assert publish(ctx, plain).remote_id == receipt.remote_id
    with pytest.raises(AuthError, match="rest_cannot_create"):  # a new category: refused, and said so
        publish(make_ctx(username=user, password=password, categories=[f"Baru {release.id}"]), plain)
