"""The shared social rendering (syndicator_channels.social) and helpers the channel tests use.

The helpers at the top (``make_ctx``, ``parse_multipart``, ``png``) are imported by
test_x.py, test_mastodon.py, test_bluesky.py and test_facebook.py.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import zlib
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from syndicator_channels import social
from syndicator_channels.bluesky import BlueskyChannel
from syndicator_channels.facebook import FacebookChannel
from syndicator_channels.mastodon import MastodonChannel
from syndicator_channels.social import (
    base_url,
    byte_offset,
    clean_hashtags,
    display_link,
    fit_template,
    load_image,
    pick_images,
    shorten_urls,
    tag_spans,
    thread_parts,
    validate_social,
)
from syndicator_channels.x import XChannel

from syndicator.channel import Channel, ChannelContext, Limits
from syndicator.errors import PermanentError, TransientError
from syndicator.http import make_session
from syndicator.models import Media, Release
from syndicator.options import resolve_options
from syndicator.render import URL_RE, count, fits, template_for
from syndicator.testing import Recorded, Reply, ScriptedServer, hard_releases, make_release

pytest_plugins = ["syndicator.testing"]

SECRET_ENV = {
    "X_CK": "ck-consumer",
    "X_CS": "cs-consumer-secret",
    "X_AT": "1234-access-token",
    "X_ATS": "ats-token-secret",
    "MASTODON_TOKEN": "masto-t0ken",
    "BSKY_PASSWORD": "abcd-efgh-ijkl-mnop",
    "FB_TOKEN": "EAAB-page-t0ken",
    "FB_APP_SECRET": "app-s3cret",
}

#: The smallest table each channel accepts (secrets as environment references).
BASE_OPTIONS: dict[str, dict[str, Any]] = {
    "x": {
        "consumer_key": {"env": "X_CK"},
        "consumer_secret": {"env": "X_CS"},
        "access_token": {"env": "X_AT"},
        "access_token_secret": {"env": "X_ATS"},
    },
    "mastodon": {"instance": "https://mastodon.example", "token": {"env": "MASTODON_TOKEN"}},
    "bluesky": {"handle": "humas.example.go.id", "app_password": {"env": "BSKY_PASSWORD"}},
    "facebook": {"page_id": "1234567890", "page_token": {"env": "FB_TOKEN"}},
}
URL_KEY = {"x": "api_base", "mastodon": "instance", "bluesky": "service", "facebook": "api_base"}
CHANNELS: list[type[Channel]] = [XChannel, MastodonChannel, BlueskyChannel, FacebookChannel]


def make_ctx(
    cls: type[Channel],
    tmp_path: Path,
    server: ScriptedServer | None = None,
    *,
    name: str | None = None,
    session: Any = None,
    **options: Any,
) -> ChannelContext:
    """A context as the engine makes it: options resolved against the schema, secrets from
    ``SECRET_ENV``, the URL option pointed at ``server``, a short HTTP timeout."""
    values = dict(BASE_OPTIONS[cls.type])
    if server is not None:
        values[URL_KEY[cls.type]] = server.url
    overrides = {k: options.pop(k) for k in ("attempt", "idempotency_key", "dry_run") if k in options}
    values.update(options)
    resolved, problems = resolve_options(values, cls.options, environ=SECRET_ENV)
    assert problems == [], problems
    assert cls.validate(resolved) == []
    return ChannelContext(
        name=name or cls.type,
        options=resolved,
        base_dir=tmp_path,
        logger=logging.getLogger(f"syndicator.channel.{name or cls.type}"),
        idempotency_key=overrides.pop("idempotency_key", "syn-test-key-0123456789abcdef0123456789abcdef"),
        _session_factory=session or (lambda: make_session(timeout=3.0)),
        **overrides,
    )


def parse_multipart(rec: Recorded) -> dict[str, tuple[str | None, str | None, bytes]]:
    """name -> (filename, content type, bytes) for each field of a multipart/form-data body."""
    head = f"Content-Type: {rec.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + rec.body)
    assert message.is_multipart(), rec.headers.get("Content-Type")
    fields: dict[str, tuple[str | None, str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        ctype = part.get_content_type() if part.get("Content-Type") else None
        fields[str(name)] = (part.get_filename(), ctype, data)
    return fields


def png(extra: int = 0) -> bytes:
    """A valid 1x1 PNG, padded with ``extra`` bytes in a private chunk (to test sizes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    if extra:
        body += chunk(b"prVt", b"\x00" * extra)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def two_image_release(tmp_path: Path, **changes: Any) -> Release:
    """The "done when" release: a long Indonesian body, a link, tags and two local images."""
    (tmp_path / "img").mkdir(exist_ok=True)
    (tmp_path / "img" / "satu.png").write_bytes(png())
    (tmp_path / "img" / "dua.png").write_bytes(png(64))
    long = hard_releases()["long-indonesian"]
    fields: dict[str, Any] = {
        "title": long.title,
        "summary": long.summary,
        "body_text": long.body_text,
        "body_html": long.body_html,
        "tags": long.tags,
        "images": (
            Media(
                "img/satu.png", alt="Relawan memasang rambu evakuasi", mime_type="image/png", size=len(png())
            ),
            Media("img/dua.png", alt="", title="Peta jalur evakuasi desa", mime_type="image/png"),
        ),
    }
    fields.update(changes)
    return make_release(**fields)


def strip_number(part: str) -> str:
    return re.sub(r" \d+/\d+$", "", part)


# -- URLs and options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["https://api.x.com", "https://mastodon.example/", "http://127.0.0.1:8080", "http://localhost:9"],
)
def test_base_url_accepts_https_and_loopback_http(value: str) -> None:
    assert base_url(value, "k") == value.rstrip("/")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://mastodon.example", "https"),
        ("http://10.0.0.1:8080", "https"),
        ("ftp://x.example", "https://"),
        ("https://user:pw@x.example", "credentials"),
        ("https://x.example/?token=1", "query"),
        ("", "https://"),
        (42, "https://"),
    ],
)
def test_base_url_refuses(value: Any, why: str) -> None:
    with pytest.raises(PermanentError, match=why):
        base_url(value, "k")


@pytest.mark.parametrize("cls", CHANNELS, ids=lambda c: c.type)
def test_validate_enforces_https_except_loopback(cls: type[Channel]) -> None:
    key = URL_KEY[cls.type]
    options, _ = resolve_options(
        {**BASE_OPTIONS[cls.type], key: "http://example.org"}, cls.options, environ=SECRET_ENV
    )
    assert [k for k, _ in cls.validate(options)] == [key]
    options[key] = "http://127.0.0.1:1234"
    assert cls.validate(options) == []


@pytest.mark.parametrize("cls", CHANNELS, ids=lambda c: c.type)
def test_validate_checks_the_template_at_config_time(cls: type[Channel]) -> None:
    options, _ = resolve_options(
        {**BASE_OPTIONS[cls.type], "template": "{title} {tittle}"}, cls.options, environ=SECRET_ENV
    )
    problems = cls.validate(options)
    assert [k for k, _ in problems] == ["template"]
    assert "tittle" in problems[0][1]


@pytest.mark.parametrize("cls", CHANNELS, ids=lambda c: c.type)
def test_secrets_must_come_from_the_environment(cls: type[Channel]) -> None:
    secret = next(o.name for o in cls.options if o.secret)
    _, problems = resolve_options(
        {**BASE_OPTIONS[cls.type], secret: "in-the-file"}, cls.options, environ=SECRET_ENV
    )
    assert [k for k, _ in problems] == [secret]


def test_validate_social_counts() -> None:
    limits = Limits(max_media=4)
    assert validate_social({"max_images": 5}, (), limits) == [
        ("max_images", "the platform takes at most 4 images")
    ]
    assert [k for k, _ in validate_social({"max_hashtags": -1, "max_parts": 0})] == [
        "max_hashtags",
        "max_parts",
    ]


# -- text ----------------------------------------------------------------------------------------


def test_display_link() -> None:
    assert display_link("https://www.example.go.id/rilis/1") == "example.go.id/rilis/1"
    assert display_link("https://example.go.id/") == "example.go.id"
    long = display_link("https://ppid.example.go.id/siaran-pers/2026/03/02/program-desa?x=1")
    assert long == "ppid.example.go.id/siaran-per…" and len(long) == 30


def test_shorten_urls_spans_point_at_the_short_forms() -> None:
    a = "https://ppid.example.go.id/siaran-pers/2026/03/02/desa-tangguh?utm=1"
    b = a + "&peta=1"
    text, spans = shorten_urls(f"Rincian: {a}. Peta 🗺️ {b}")
    assert URL_RE.search(text) is None
    assert [uri for _, _, uri in spans] == [a, b]  # same short form, each linked to its own URL
    for start, end, _ in spans:
        assert text[start:end] == display_link(a)


def test_byte_offsets_and_tags() -> None:
    text = "Festival 👨‍👩‍👧‍👦 #Budaya #2024 #Keluarga. https://a.example/#frag"
    spans = tag_spans(text, [(m.start(), m.end(), m.group()) for m in URL_RE.finditer(text)])
    assert [tag for _, _, tag in spans] == ["Budaya", "Keluarga"]
    for start, end, tag in spans:
        raw = text.encode()
        assert raw[byte_offset(text, start) : byte_offset(text, end)].decode() == "#" + tag


def test_fit_template_keeps_the_link_and_drops_hashtags_before_the_summary() -> None:
    limits = Limits(max_length=140, counting="weighted", url_length=23)
    release = make_release(
        summary="Kalimat ringkasan yang cukup panjang. " * 10, tags=("satu", "dua", "tiga")
    )
    text = fit_template(template_for("id"), release, limits, url=release.url, tags=["#Satu", "#Dua", "#Tiga"])
    assert fits(text, limits)
    assert release.url in text and release.title in text
    assert "…" in text


def test_fit_template_refuses_a_link_that_cannot_fit() -> None:
    limits = Limits(max_length=20, counting="graphemes")
    release = make_release(url="https://example.org/" + "a" * 40)
    with pytest.raises(PermanentError, match="link"):
        fit_template(template_for("id"), release, limits, url=release.url, tags=[])


def test_thread_parts_caps_the_thread_and_keeps_the_link() -> None:
    limits = Limits(max_length=280, counting="weighted", url_length=23)
    text = hard_releases()["long-indonesian"].body_text
    parts = thread_parts(text, limits, "https://example.go.id/r", "last", 4)
    assert len(parts) == 4
    assert [p.rsplit(" ", 1)[-1] for p in parts] == ["1/4", "2/4", "3/4", "4/4"]
    assert "https://example.go.id/r" in parts[-1]
    assert all(fits(p, limits) for p in parts)
    assert "…" in parts[-1]


# -- templates and locale ------------------------------------------------------------------------


def test_template_precedence(tmp_path: Path) -> None:
    release = make_release(overrides={"x": {"text": "Khusus X: {title} {url}"}})
    ctx = make_ctx(XChannel, tmp_path, template="Dari config: {title}")
    assert XChannel().render(release, ctx).text == f"Khusus X: {release.title} {release.url}"
    by_name = make_release(overrides={"x-humas": {"text": "Per nama"}, "x": {"text": "per tipe"}})
    assert XChannel().render(by_name, make_ctx(XChannel, tmp_path, name="x-humas")).text == "Per nama"
    assert XChannel().render(make_release(), ctx).text == f"Dari config: {release.title}"


def test_locale_default_templates(tmp_path: Path) -> None:
    release = make_release(language="en")
    post = FacebookChannel().render(release, make_ctx(FacebookChannel, tmp_path))
    assert "Press release from Dinas Pekerjaan Umum" in post.text
    post = FacebookChannel().render(release, make_ctx(FacebookChannel, tmp_path, locale="id"))
    assert "Siaran pers Dinas Pekerjaan Umum" in post.text
    post = FacebookChannel().render(make_release(language="id"), make_ctx(FacebookChannel, tmp_path))
    assert "Siaran pers" in post.text


def test_hashtags_from_tags_limited(tmp_path: Path) -> None:
    release = make_release(tags=("kesehatan ibu", "posyandu", "gizi", "anak"))
    text = XChannel().render(release, make_ctx(XChannel, tmp_path)).text
    assert "#KesehatanIbu #Posyandu #Gizi" in text and "#Anak" not in text
    text = XChannel().render(release, make_ctx(XChannel, tmp_path, max_hashtags=0)).text
    assert "#" not in text


def test_hashtags_lose_joiners_left_by_dropped_emoji() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_hashtags([f"keluarga{family}", "mehr\u200cdad", "Keluarga"]) == [
        "#Keluarga",
        "#Mehr\u200cdad",
    ]


def test_summary_falls_back_to_the_first_paragraph(tmp_path: Path) -> None:
    release = hard_releases()["no-summary"]
    text = MastodonChannel().render(release, make_ctx(MastodonChannel, tmp_path)).text
    assert "Gubernur meresmikan" in text


# -- images --------------------------------------------------------------------------------------


def test_pick_images_alt_always_limits_and_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    images = (
        Media("a.jpg", alt="Foto A"),
        Media("b.png", title="Judul B"),
        Media("c.pdf"),
        Media("big.jpg", size=6_000_000),
        Media("d.webp"),
        Media("e.gif"),
        Media("f.jpg"),
    )
    release = make_release(title="Judul rilis", images=images)
    ctx = make_ctx(XChannel, tmp_path)
    caplog.set_level(logging.WARNING)
    picked, notes = pick_images(release, XChannel.limits, None, 1000, ctx)
    assert [m.location for m in picked] == ["a.jpg", "b.png", "d.webp", "e.gif"]
    assert [m.alt for m in picked] == ["Foto A", "Judul B", "Judul rilis", "Judul rilis"]
    assert all(m.mime_type.startswith("image/") for m in picked)
    assert any("c.pdf" in n for n in notes) and any("big.jpg" in n for n in notes)
    assert any("1 more" in n for n in notes)
    assert "big.jpg" in caplog.text
    picked, _ = pick_images(release, XChannel.limits, 1, 1000, ctx)
    assert len(picked) == 1


def test_alt_text_is_cut_to_the_platform_limit(tmp_path: Path) -> None:
    release = make_release(images=(Media("a.jpg", alt="kata " * 400),))
    picked, _ = pick_images(release, XChannel.limits, None, 1000, make_ctx(XChannel, tmp_path))
    assert len(picked[0].alt) == 1000 and picked[0].alt.endswith("…")


def test_render_does_not_read_image_files(tmp_path: Path) -> None:
    release = make_release(images=(Media("img/missing.png", alt="x"),))  # no such file: fine in render
    for cls in CHANNELS:
        post = cls().render(release, make_ctx(cls, tmp_path))
        assert [m.location for m in post.media] == ["img/missing.png"]


def test_load_image_local_remote_and_oversize(
    tmp_path: Path, scripted_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.png").write_bytes(png())
    ctx = make_ctx(XChannel, tmp_path)
    image = load_image(Media("a.png", alt="A", mime_type="image/png"), ctx, 10_000, "x")
    assert image is not None and image.data == png() and image.mime == "image/png" and image.alt == "A"
    caplog.set_level(logging.WARNING)
    assert load_image(Media("a.png"), ctx, 10, "x") is None
    assert "skipped image a.png" in caplog.text
    with pytest.raises(PermanentError, match="cannot read image"):
        load_image(Media("nope.png"), ctx, None, "x")

    scripted_server.script(
        "GET", "/foto.jpg", Reply(200, body=b"\xff\xd8" + b"j" * 500, headers={"Content-Type": "image/jpeg"})
    )
    remote = Media(scripted_server.url + "/foto.jpg", alt="R")
    image = load_image(remote, ctx, 10_000, "x")
    assert image is not None and image.mime == "image/jpeg" and len(image.data) == 502
    assert load_image(remote, ctx, 100, "x") is None  # read no further than the limit
    scripted_server.script("GET", "/gone.jpg", Reply(404))
    with pytest.raises(PermanentError, match="404"):
        load_image(Media(scripted_server.url + "/gone.jpg"), ctx, None, "x")
    scripted_server.script("GET", "/busy.jpg", Reply(503))
    with pytest.raises(TransientError, match="503"):
        load_image(Media(scripted_server.url + "/busy.jpg"), ctx, None, "x")


# -- every channel, every hard release -------------------------------------------------------------


def _ctx_variants(cls: type[Channel], tmp_path: Path) -> list[ChannelContext]:
    variants = [make_ctx(cls, tmp_path)]
    if cls.capabilities.threads:
        variants.append(make_ctx(cls, tmp_path, thread=True, link_in="last"))
    return variants


@pytest.mark.parametrize("cls", CHANNELS, ids=lambda c: c.type)
def test_hard_releases_render_within_limits_without_io(
    cls: type[Channel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("render touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for ctx in _ctx_variants(cls, tmp_path):
        object.__setattr__(ctx, "_session_factory", refuse)
        for name, release in {"sample": make_release(), **hard_releases()}.items():
            post = cls().render(release, ctx)
            parts = post.parts or (post.text,)
            assert parts and all(p.strip() for p in parts), name
            assert all(fits(p, cls.limits) for p in parts), (name, [count(p, cls.limits) for p in parts])
            assert list(post.extra["lengths"]) == [count(p, cls.limits) for p in parts], name
            assert len(post.media) <= cls.limits.max_media
            assert all(m.alt for m in post.media), name
            if len(parts) > 1:
                assert [p.rsplit(" ", 1)[-1] for p in parts] == [
                    f"{i}/{len(parts)}" for i in range(1, len(parts) + 1)
                ]
                assert len(parts) <= 5
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", [XChannel, MastodonChannel, BlueskyChannel], ids=lambda c: c.type)
def test_thread_link_first_or_last(cls: type[Channel], tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    short = display_link(release.url) if cls is BlueskyChannel else release.url
    first = cls().render(release, make_ctx(cls, tmp_path, thread=True, link_in="first"))
    last = cls().render(release, make_ctx(cls, tmp_path, thread=True, link_in="last"))
    assert len(first.parts) == len(last.parts) == 5
    assert short in first.parts[0] and not any(short in p for p in first.parts[1:])
    assert short in last.parts[-1] and not any(short in p for p in last.parts[:-1])


def test_done_when_release_renders_on_all_four(tmp_path: Path) -> None:
    release = two_image_release(tmp_path)
    for cls in CHANNELS:
        post = cls().render(release, make_ctx(cls, tmp_path))
        assert len(post.parts) == 1 and fits(post.text, cls.limits)
        assert [m.alt for m in post.media] == ["Relawan memasang rambu evakuasi", "Peta jalur evakuasi desa"]
        # 280 (X) and 300 (Bluesky) cannot hold the long title, a third of summary and the
        # hashtags: the hashtags go first, as fit_summary does.
        assert ("#Bencana" in post.text) is (cls in (MastodonChannel, FacebookChannel))


# -- property tests (hypothesis) -----------------------------------------------------------------

WORDS = [
    "desa",
    "tangguh",
    "bencana,",
    "warga.",
    "Kabupaten",
    "文化节",
    "祭り",
    "مهرجان",
    "👨‍👩‍👧‍👦",
    "🇮🇩",
    "1️⃣",
    "é",
    "https://ppid.example.go.id/a/b?c=1",
    "supercalifragilisticexpialidocious" * 3,
]


def _property_settings() -> Any:
    hypothesis = pytest.importorskip("hypothesis")
    return hypothesis.settings(max_examples=60, deadline=None, derandomize=True)


@pytest.mark.parametrize("cls", [XChannel, MastodonChannel], ids=lambda c: c.type)
def test_property_thread_parts_fit_lose_nothing_keep_order(cls: type[Channel], tmp_path: Path) -> None:
    settings = _property_settings()
    from hypothesis import given
    from hypothesis import strategies as st

    ctx = make_ctx(cls, tmp_path, thread=True, max_parts=1000, max_hashtags=0, template="{body}")
    paragraph = st.lists(st.sampled_from(WORDS), min_size=1, max_size=60).map(" ".join)

    @settings
    @given(st.lists(paragraph, min_size=1, max_size=6))
    def check(paragraphs: list[str]) -> None:
        body = "\n\n".join(paragraphs)
        release = Release(source="s", id="p", title="t", body_text=body)
        post = cls().render(release, ctx)
        assert all(fits(p, cls.limits) for p in post.parts)
        words = [w for p in post.parts for w in strip_number(p).split()]
        assert words == body.split()

    check()


def test_property_bluesky_facets_match_the_utf8_text(tmp_path: Path) -> None:
    settings = _property_settings()
    from hypothesis import given
    from hypothesis import strategies as st

    ctx = make_ctx(BlueskyChannel, tmp_path, thread=True, max_parts=1000, max_hashtags=0, template="{body}")

    @settings
    @given(st.lists(st.sampled_from([*WORDS, "#Banjir", "#文化"]), min_size=1, max_size=120).map(" ".join))
    def check(body: str) -> None:
        post = BlueskyChannel().render(Release(source="s", id="p", title="t", body_text=body), ctx)
        for record in post.extra["records"]:
            raw = record["text"].encode("utf-8")
            assert len(raw) <= 3000 and fits(record["text"], BlueskyChannel.limits)
            for facet in record["facets"]:
                piece = raw[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode("utf-8")
                feature = facet["features"][0]
                if feature["$type"].endswith("#tag"):
                    assert piece == "#" + feature["tag"]
                else:
                    assert feature["uri"].startswith("https://") and piece.startswith("ppid.example.go.id")

    check()


def test_social_module_has_no_sdk_imports() -> None:
    source = Path(social.__file__).read_text(encoding="utf-8")
    assert "import tweepy" not in source and "import atproto" not in source


# -- done when: preview shows what the four servers receive ------------------------------------------


def test_done_when_preview_matches_what_the_four_servers_receive(
    tmp_path: Path, cli_runner: Any, register_plugin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release with a long Indonesian body, a link, tags and two images, through the real
    config loader, ``syndicator preview`` and ``syndicator run``, against four fake platforms."""
    from syndicator_channels import bluesky, facebook, mastodon, x
    from test_bluesky import FakePDS
    from test_facebook import FakeGraph
    from test_mastodon import FakeMastodon
    from test_x import FakeX

    for module in (x, mastodon, bluesky, facebook):
        register_plugin(module)
    bluesky._sessions.clear()
    mastodon.clear_instance_cache()
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)

    folder = tmp_path / "releases"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "satu.png").write_bytes(png())
    (folder / "img" / "dua.png").write_bytes(png(64))
    long = hard_releases()["long-indonesian"]
    body = "\n\n".join(long.body_text.split("\n\n")[:12])
    (folder / "desa-tangguh.md").write_text(
        "---\n"
        "id: 2026-03-010\n"
        f"title: {long.title!r}\n"
        f"summary: {long.summary!r}\n"
        "url: https://ppid.example.go.id/siaran-pers/2026-03-010-desa-tangguh-bencana\n"
        "date: 2026-03-02T09:00:00+07:00\n"
        "agency: Badan Penanggulangan Bencana Daerah\n"
        "tags: [bencana, desa tangguh, banjir]\n"
        "lang: id\n"
        "status: approved\n"
        "approved_by: Kepala Diskominfo\n"
        "images:\n"
        "  - src: img/satu.png\n"
        "    alt: Relawan memasang rambu jalur evakuasi di tepi sungai\n"
        "  - src: img/dua.png\n"
        "    alt: Peta jalur evakuasi desa\n"
        "---\n\n" + body + "\n",
        encoding="utf-8",
    )
    with ScriptedServer() as sx, ScriptedServer() as sm, ScriptedServer() as sb, ScriptedServer() as sf:
        fx, fm, fb, ff = FakeX(sx), FakeMastodon(sm), FakePDS(sb), FakeGraph(sf)
        config = tmp_path / "syndicator.toml"
        config.write_text(
            f"""
[syndicator]
state = "state/syndicator.db"
timezone = "Asia/Jakarta"

[sources.press]
type = "directory"
path = "releases"
approval = "front-matter"

[channels.x]
type = "x"
api_base = "{sx.url}"
consumer_key = {{ env = "X_CK" }}
consumer_secret = {{ env = "X_CS" }}
access_token = {{ env = "X_AT" }}
access_token_secret = {{ env = "X_ATS" }}
thread = true

[channels.mastodon]
type = "mastodon"
instance = "{sm.url}"
token = {{ env = "MASTODON_TOKEN" }}
thread = true
link_in = "last"

[channels.bluesky]
type = "bluesky"
service = "{sb.url}"
handle = "humas.example.go.id"
app_password = {{ env = "BSKY_PASSWORD" }}

[channels.facebook]
type = "facebook"
api_base = "{sf.url}"
page_id = "1234567890"
page_token = {{ env = "FB_TOKEN" }}
""",
            encoding="utf-8",
        )
        shown = cli_runner("--config", config, "preview", "2026-03-010")
        assert shown.exit_code == 0, shown.stderr
        assert [sx.requests, sm.requests, sb.requests, sf.requests] == [[], [], [], []]
        done = cli_runner("--config", config, "run")
        assert done.exit_code == 0, done.stdout + done.stderr

        sections = dict(re.findall(r"── (\w+) \(\w+\) ──\n(.*?)(?=\n── |\Z)", shown.stdout, re.DOTALL))
        received = {
            "x": [t["text"] for t in fx.tweets.values()],
            "mastodon": [s["content"] for s in fm.statuses.values()],
            "bluesky": [r["value"]["text"] for r in fb.records.values()],
            "facebook": [p["message"] for p in ff.posts.values()],
        }
        for name, texts in received.items():
            assert texts, f"{name} received nothing"
            for text in texts:
                assert text in sections[name], f"{name}: {text[:60]!r} was sent but not previewed"
        assert len(received["x"]) == len(received["mastodon"]) == 5  # numbered threads
        assert len(received["bluesky"]) == len(received["facebook"]) == 1
        assert [m["alt"] for m in fx.media.values()] == [
            "Relawan memasang rambu jalur evakuasi di tepi sungai",
            "Peta jalur evakuasi desa",
        ]
        assert [m["description"] for m in fm.media.values()] == [m["alt"] for m in fx.media.values()]
        (record,) = fb.records.values()
        assert [i["alt"] for i in record["value"]["embed"]["images"]] == [m["alt"] for m in fx.media.values()]
        assert fb.facet_errors == [] and fx.bad_signatures == 0
        assert len(ff.photos) == 2 and all(p["published"] == "false" for p in ff.photos.values())
        for shown_alt in ("alt: Relawan memasang rambu", "alt: Peta jalur evakuasi desa"):
            assert shown.stdout.count(shown_alt) == 4
