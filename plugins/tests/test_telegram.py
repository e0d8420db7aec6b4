"""The telegram channel, against a scripted Bot API on 127.0.0.1 that checks what Telegram checks."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from syndicator_channels.telegram import (
    CAPTION_LIMIT,
    TELEGRAM_TAGS,
    TEXT_LIMIT,
    TelegramChannel,
    message_link,
    release_runs,
    runs_html,
    split_runs,
    telegram_runs,
)

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext, Limits
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.render import URL_RE, count
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, hard_releases, make_release

pytest_plugins = ["syndicator.testing"]

TOKEN = "123456789:AAE-s3cretT0ken_abcdefghijklmnopqrs"
BOT = f"/bot{TOKEN}"
CHAT = "@pers_jabar"
CHAT_INFO = {"id": -1001234567890, "type": "channel", "title": "Siaran Pers Jabar", "username": "pers_jabar"}
UTF16 = Limits(counting="utf16")
CtxFactory = Callable[..., ChannelContext]


# -- what Telegram accepts ----------------------------------------------------------------------

_BARE_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);)")


class _StrictParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            raise ValueError(f"can't parse entities: unsupported start tag {tag!r}")
        names = {k for k, _ in attrs}
        if names - ({"href"} if tag == "a" else set()):
            raise ValueError(f"unsupported attributes {names} on {tag!r}")
        if tag == "a" and not (dict(attrs).get("href") or "").startswith(("http://", "https://")):
            raise ValueError("a link without an http(s) href")
        if tag in ("pre", "code") and any(t in ("pre", "code") for t in self.stack[:-1]):
            raise ValueError("nothing may be nested in pre or code")
        if self.stack and self.stack[-1] in ("pre", "code") and tag not in ("code",):
            raise ValueError(f"{tag} inside {self.stack[-1]}")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise ValueError(f"self-closing tag {tag!r}")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            raise ValueError(f"can't find end tag corresponding to start tag for {tag!r}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        raise ValueError("a comment")

    def handle_decl(self, decl: str) -> None:
        raise ValueError("a declaration")


def visible(markup: str) -> str:
    """Parse ``markup`` as strictly as Telegram does; return the text the reader sees."""
    if _BARE_AMP.search(markup):
        raise ValueError("can't parse entities: a bare & or an unsupported named entity")
    parser = _StrictParser()
    parser.feed(markup)
    parser.close()
    if parser.stack:
        raise ValueError(f"unclosed tags {parser.stack}")
    return "".join(parser.text)


def tg_ok(result: Any) -> Reply:
    return Reply(200, json={"ok": True, "result": result})


def tg_error(code: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(code, json=body)


def form(req: Recorded) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
    """The request's fields (JSON, or multipart with JSON-encoded values decoded) and files."""
    ctype = req.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        return dict(req.json), {}
    if not ctype.startswith("multipart/form-data"):
        return {}, {}
    msg = email.message_from_bytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body, policy=email.policy.HTTP
    )
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    for part in msg.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename():
            files[name] = (part.get_filename(), data, part.get_content_type())
        else:
            text = data.decode("utf-8")
            try:
                fields[name] = json.loads(text) if text[:1] in "[{" or text in ("true", "false") else text
            except ValueError:
                fields[name] = text
    return fields, files


class BotApi:
    """Just enough of the Bot API: numbered messages, Telegram's HTML and length checks, errors."""

    SENDS = (
        "sendMessage",
        "sendPhoto",
        "sendMediaGroup",
        "editMessageText",
        "editMessageCaption",
        "deleteMessage",
    )

    def __init__(self, server: ScriptedServer, chat: dict[str, Any] | None = None) -> None:
        self.server = server
        self.chat = dict(chat or CHAT_INFO)
        self.lock = threading.Lock()
        self.next_id = 100
        self.messages: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any], dict[str, tuple[str, bytes, str]]]] = []
        self.queued: dict[str, list[Reply]] = {}
        for method in self.SENDS:
            server.handler("POST", f"{BOT}/{method}", lambda r, m=method: self._handle(m, r))

    def queue(self, method: str, *replies: Reply) -> None:
        """Answer the next calls of ``method`` with ``replies`` (then behave normally again)."""
        self.queued.setdefault(method, []).extend(replies)

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.calls]

    def _new(self, kind: str, text: str) -> dict[str, Any]:
        self.next_id += 1
        message = {"message_id": self.next_id, "chat": self.chat, "date": 1772400000, kind: text}
        self.messages[self.next_id] = message
        return message

    def _handle(self, method: str, req: Recorded) -> Reply:
        with self.lock:
            fields, files = form(req)
            self.calls.append((method, fields, files))
            if self.queued.get(method):
                return self.queued[method].pop(0)
            try:
                return self._answer(method, fields, files)
            except ValueError as exc:
                return tg_error(400, f"Bad Request: {exc}")

    def _answer(self, method: str, fields: dict[str, Any], files: dict[str, Any]) -> Reply:
        if str(fields.get("chat_id")) not in (CHAT, str(self.chat["id"])):
            return tg_error(400, "Bad Request: chat not found")
        if fields.get("parse_mode", "HTML") != "HTML":
            raise ValueError("parse_mode must be HTML")
        if method in ("sendMessage", "editMessageText"):
            shown = visible(fields["text"])
            if not shown.strip():
                raise ValueError("message text is empty")
            if count(shown, UTF16) > TEXT_LIMIT:
                raise ValueError("message is too long")
            if method == "editMessageText":
                return tg_ok(self.messages[int(fields["message_id"])] | {"text": shown})
            return tg_ok(self._new("text", shown))
        if method in ("sendPhoto", "editMessageCaption"):
            shown = visible(fields.get("caption", ""))
            if count(shown, UTF16) > CAPTION_LIMIT:
                raise ValueError("message caption is too long")
            if method == "editMessageCaption":
                return tg_ok(self.messages[int(fields["message_id"])] | {"caption": shown})
            if not fields.get("photo") and "photo" not in files:
                raise ValueError("there is no photo in the request")
            return tg_ok(self._new("caption", shown))
        if method == "sendMediaGroup":
            media = fields["media"]
            if not 2 <= len(media) <= 10:
                raise ValueError("wrong number of media in the group")
            out = []
            for item in media:
                shown = visible(item.get("caption", ""))
                if count(shown, UTF16) > CAPTION_LIMIT:
                    raise ValueError("message caption is too long")
                ref = item["media"]
                if ref.startswith("attach://") and ref.removeprefix("attach://") not in files:
                    raise ValueError("wrong file identifier/HTTP URL specified")
                out.append(self._new("caption", shown))
            return tg_ok(out)
        if method == "deleteMessage":
            if self.messages.pop(int(fields["message_id"]), None) is None:
                raise ValueError("message to delete not found")
            return tg_ok(True)
        raise ValueError(f"unknown method {method}")  # pragma: no cover


def script_check(server: ScriptedServer, status: str = "administrator", can_post: bool = True) -> None:
    server.script("GET", f"{BOT}/getMe", tg_ok({"id": 42, "is_bot": True, "username": "humas_bot"}))
    server.script("GET", f"{BOT}/getChat", tg_ok(CHAT_INFO))
    server.script(
        "GET",
        f"{BOT}/getChatMember",
        tg_ok({"status": status, "user": {"id": 42}, "can_post_messages": can_post}),
    )


@pytest.fixture
def bot(scripted_server: ScriptedServer) -> BotApi:
    return BotApi(scripted_server)


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    def make(
        *,
        token: str = TOKEN,
        session: Callable[[], requests.Session] | None = None,
        **raw: Any,
    ) -> ChannelContext:
        values: dict[str, Any] = {
            "token": {"env": "TG_TOKEN"},
            "chat_id": CHAT,
            "api_base": scripted_server.url,
            **raw,
        }
        options, problems = resolve_options(values, TelegramChannel.options, environ={"TG_TOKEN": token})
        assert problems == []
        assert TelegramChannel.validate(options) == []
        return ChannelContext(
            name="telegram-press",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t.telegram"),
            idempotency_key="k-123",
            timezone="Asia/Jakarta",
            _session_factory=session,
        )

    return make


@pytest.fixture
def release() -> Release:
    return Release(
        source="diskominfo",
        id="2026-031",
        title="Jalan &lt;Tol&gt; & Jembatan Dibuka",  # titles may hold entities
        summary="Gubernur meresmikan ruas baru.",
        body_html=(
            "<h2>Rincian</h2><p>Ruas <strong>sepanjang 12 km</strong> &amp; "
            '<a href="https://pu.example.go.id/peta?a=1&amp;b=2">peta</a> <em>lengkap</em>.</p>'
            "<ul><li>Tarif: Rp&nbsp;5.000</li><li><p>Buka 24 jam</p></li></ul>"
            "<ol><li>Gerbang A</li><li>Gerbang B</li></ol>"
            "<blockquote>Kutipan <b>tegas</b></blockquote><pre>x &lt; y</pre>"
            '<p>Skrip <script>alert(1)</script>dibuang; <span style="color:red">span</span> tetap.</p>'
        ),
        url="https://pu.example.go.id/rilis/2026-031",
        published=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        agency="Dinas PU",
        language="id",
    )


def _publish(ctx: ChannelContext, release: Release, channel: TelegramChannel | None = None) -> Receipt:
    channel = channel or TelegramChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def _long_release(**changes: Any) -> Release:
    return hard_releases()["long-indonesian"].with_changes(**changes)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the contract -------------------------------------------------------------------------------


def _refuse_sends(server: ScriptedServer, reply: Reply) -> None:
    for method in ("sendMessage", "sendPhoto", "sendMediaGroup"):
        server.script("POST", f"{BOT}/{method}", reply)


class TestTelegramContract(ChannelContract):
    channel_class = TelegramChannel
    channel_name = "telegram-press"

    def options(self, url: str) -> dict[str, Any]:
        return {"token": {"env": "TG_TOKEN"}, "chat_id": CHAT, "api_base": url}

    def environ(self, url: str) -> dict[str, str]:
        return {"TG_TOKEN": TOKEN}

    def script_success(self, server: ScriptedServer) -> None:
        BotApi(server)

    def script_transient(self, server: ScriptedServer) -> None:
        _refuse_sends(server, tg_error(429, "Too Many Requests: retry after 35", retry_after=35))

    def script_permanent(self, server: ScriptedServer) -> None:
        _refuse_sends(server, tg_error(400, "Bad Request: can't parse entities"))

    def script_auth_failure(self, server: ScriptedServer) -> None:
        _refuse_sends(server, tg_error(403, "Forbidden: bot was kicked from the channel chat"))

    def script_check(self, server: ScriptedServer) -> None:
        BotApi(server)
        script_check(server)


# -- render: Telegram's HTML --------------------------------------------------------------------


def test_render_converts_to_telegrams_tags_and_escapes(release: Release, make_ctx: CtxFactory) -> None:
    post = TelegramChannel().render(release, make_ctx())
    (message,) = post.extra["messages"]
    assert message["method"] == "sendMessage" and message["preview"] == release.url
    assert message["html"] == (
        "<b>Jalan &lt;Tol&gt; &amp; Jembatan Dibuka</b>\n"
        "<i>Dinas PU · 2026-03-02 09:00 WIB</i>\n\n"
        "Gubernur meresmikan ruas baru.\n\n"
        "<b>Rincian</b>\n\n"
        'Ruas <b>sepanjang 12 km</b> &amp; <a href="https://pu.example.go.id/peta?a=1&amp;b=2">peta</a> '
        "<i>lengkap</i>.\n\n"
        "• Tarif: Rp\u00a05.000\n"
        "• Buka 24 jam\n\n"
        "1. Gerbang A\n"
        "2. Gerbang B\n\n"
        "<blockquote>Kutipan <b>tegas</b></blockquote>\n\n"
        "<pre>x &lt; y</pre>\n\n"
        "Skrip dibuang; span tetap.\n\n"
        "https://pu.example.go.id/rilis/2026-031"
    )
    assert post.text == visible(message["html"])
    assert post.parts == ()  # one message
    assert post.extra["parse_mode"] == "HTML"


def test_every_hard_release_renders_html_telegram_accepts(make_ctx: CtxFactory) -> None:
    ctx = make_ctx()
    for name, release in hard_releases().items():
        post = TelegramChannel().render(release, ctx)
        shown = [visible(m["html"]) for m in post.extra["messages"]]
        assert [s for s in shown if s] == list(post.parts or (post.text,)), name
        for n, (message, text) in enumerate(zip(post.extra["messages"], shown, strict=True)):
            limit = CAPTION_LIMIT if n == 0 and message["method"] != "sendMessage" else TEXT_LIMIT
            assert count(text, UTF16) <= limit, (name, n)


def test_unsupported_markup_never_reaches_telegram() -> None:
    runs = telegram_runs(
        "<table><tr><th>Kota</th><td>Bandung</td></tr></table><p>a<br>b<sub>2</sub></p><hr>"
        '<p><a href="mailto:humas@example.go.id">surel</a> <code>k<b>o</b>de</code></p>'
        '<pre><code>baris 1\nbaris 2</code></pre><img src="https://x.example/p.png" alt="p">'
    )
    markup = runs_html(runs)
    assert markup == (
        "<b>Kota</b> · Bandung\n\na\nb2\n\nsurel <code>kode</code>\n\n<pre>baris 1\nbaris 2</pre>"
    )
    visible(markup)


def test_counts_visible_utf16_units_not_tags() -> None:
    # 1,000 bold emoji: 2,000 UTF-16 units visible, 2,007 with the tags; a caption takes 1,024
    runs = [("😀" * 1000, (("b",),))]
    first, *rest = split_runs(runs, CAPTION_LIMIT, TEXT_LIMIT)
    assert first is not None and count(first[0], UTF16) <= CAPTION_LIMIT
    assert first[1].startswith("<b>") and first[1].endswith("</b>")
    assert "".join(p[0] for p in [first, *rest] if p) == "😀" * 1000
    # a text message of exactly 4,096 visible units fits although its HTML is longer
    (only,) = split_runs([("x" * 4096, (("a", "https://e.example/?q=1&r=2"),))], TEXT_LIMIT, TEXT_LIMIT)
    assert only is not None and len(only[1]) > TEXT_LIMIT and count(visible(only[1]), UTF16) == TEXT_LIMIT


def test_split_keeps_formatting_across_parts() -> None:
    word = "kata "
    runs = [("Awal ", ()), ((word * 300).strip(), (("i",), ("a", "https://e.example/x"))), (" akhir", ())]
    parts = [p for p in split_runs(runs, 1024, 1024) if p]
    assert len(parts) == 2
    for shown, markup in parts:
        assert visible(markup) == shown
    assert parts[1][1].startswith('<i><a href="https://e.example/x">')


def test_long_release_becomes_a_chain_within_limits(make_ctx: CtxFactory) -> None:
    post = TelegramChannel().render(_long_release(), make_ctx())
    methods = [m["method"] for m in post.extra["messages"]]
    assert methods[0] == "sendPhoto" and set(methods[1:]) == {"sendMessage"} and len(methods) > 3
    assert count(post.parts[0], UTF16) <= CAPTION_LIMIT
    assert all(count(p, UTF16) <= TEXT_LIMIT for p in post.parts)
    words = " ".join(post.parts).split()
    assert words == post.text.split()
    assert words[-1] == _long_release().url  # nothing lost at the end


def test_full_text_false_and_no_images(make_ctx: CtxFactory, release: Release) -> None:
    post = TelegramChannel().render(release, make_ctx(full_text=False, max_images=0, link_preview=False))
    (message,) = post.extra["messages"]
    assert post.text == (
        "Jalan <Tol> & Jembatan Dibuka\nDinas PU · 2026-03-02 09:00 WIB\n\n"
        "Gubernur meresmikan ruas baru.\n\nhttps://pu.example.go.id/rilis/2026-031"
    )
    assert message["preview"] == ""


def test_images_choose_photo_or_album(make_ctx: CtxFactory) -> None:
    ctx = make_ctx()
    many = hard_releases()["many-images"]
    post = TelegramChannel().render(many, ctx)
    (album,) = post.extra["messages"]
    assert album["method"] == "sendMediaGroup" and len(album["images"]) == 10
    assert post.media == many.images[:10]
    one = TelegramChannel().render(many, make_ctx(max_images=1))
    assert one.extra["messages"][0]["method"] == "sendPhoto" and len(one.media) == 1
    big = Media("https://e.example/huge.jpg", size=30 * 1024 * 1024)
    skipped = TelegramChannel().render(make_release(images=(big,)), ctx)
    assert skipped.media == () and skipped.extra["skipped_media"] == [big.location]
    assert skipped.extra["messages"][0]["method"] == "sendMessage"


def test_correction_is_led_and_links_the_original(make_ctx: CtxFactory, release: Release) -> None:
    original = Receipt(remote_id="7", url="https://t.me/pers_jabar/7")
    post = TelegramChannel().render_correction(release, original, make_ctx())
    html = post.extra["messages"][0]["html"]
    assert html.startswith("<b>Ralat: Jalan &lt;Tol&gt;")
    assert post.text.endswith("Tautan asli: https://t.me/pers_jabar/7")
    assert post.extra["correction"] is True


# -- property tests (hypothesis) ------------------------------------------------------------------


PIECES = [
    "kata", "<b>", "&", "<", ">", "\"'", "&amp;", "😀", "👨\u200d👩\u200d👧", "🇮🇩", "文化节", "مهرجان",
    "https://ppid.example.go.id/a?b=1&c=2", "\n", "\n\n", " ", "é", "x" * 40,
]  # fmt: skip
TAGS = ["b", "strong", "i", "em", "u", "s", "del", "code", "p", "li", "ul", "h2", "blockquote", "pre", "span"]


def _property_settings() -> Any:
    hypothesis = pytest.importorskip("hypothesis")
    return hypothesis.settings(max_examples=80, deadline=None, derandomize=True)


def _words(text: str) -> list[str]:
    return text.split()


def test_property_escaping_round_trips() -> None:
    settings = _property_settings()
    from hypothesis import given
    from hypothesis import strategies as st

    @settings
    @given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join), st.sampled_from(["b", "i", "code"]))
    def check(text: str, tag: str) -> None:
        runs = [(text, ((tag,),)), (text, (("a", 'https://e.example/?x=1&y="2"'),))]
        assert visible(runs_html(runs)) == text + text

    check()


def test_property_html_bodies_split_parse_fit_and_lose_nothing() -> None:
    settings = _property_settings()
    from hypothesis import given
    from hypothesis import strategies as st

    leaf = (
        st.lists(st.sampled_from(PIECES), min_size=1, max_size=30)
        .map("".join)
        .map(lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    )
    node = st.recursive(
        leaf,
        lambda inner: st.tuples(st.sampled_from(TAGS), st.lists(inner, min_size=1, max_size=4)).map(
            lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"
        ),
        max_leaves=30,
    )

    @settings
    @given(st.lists(node, min_size=1, max_size=8).map("".join), st.integers(1, 3))
    def check(body: str, repeat: int) -> None:
        runs = telegram_runs(body * repeat * 4)
        whole = "".join(t for t, _ in runs)
        try:
            parts = split_runs(runs, 120, 300)
        except PermanentError:  # only when a URL (never cut) is longer than a part
            assert any(count(m.group(), UTF16) > 300 for m in URL_RE.finditer(whole))
            return
        limits = [120, *[300] * len(parts)]
        if parts and parts[0] is None:  # no caption possible: every part is a text message
            parts, limits = parts[1:], [300] * len(parts)
        shown = []
        for part, limit in zip(parts, limits, strict=False):
            assert part is not None
            text, markup = part
            assert visible(markup) == text  # the HTML always parses, and says what we counted
            assert count(text, UTF16) <= limit
            shown.append(text)
        # no text lost, order kept (a word longer than a part is cut inside, so compare letters)
        assert "".join("".join(shown).split()) == "".join(whole.split())

    check()


def test_property_releases_render_into_valid_chains(make_ctx: CtxFactory) -> None:
    settings = _property_settings()
    from hypothesis import given
    from hypothesis import strategies as st

    ctx = make_ctx()
    paragraph = st.lists(st.sampled_from(PIECES), min_size=1, max_size=200).map(" ".join)

    @settings
    @given(st.lists(paragraph, min_size=1, max_size=12), st.booleans())
    def check(paragraphs: list[str], image: bool) -> None:
        release = make_release(body=paragraphs * 3, images=make_release().images if image else ())
        post = TelegramChannel().render(release, ctx)
        texts = [visible(m["html"]) for m in post.extra["messages"]]
        for n, (message, text) in enumerate(zip(post.extra["messages"], texts, strict=True)):
            limit = CAPTION_LIMIT if n == 0 and message["method"] != "sendMessage" else TEXT_LIMIT
            assert count(text, UTF16) <= limit
        assert _words(" ".join(texts)) == _words(post.text)
        assert _words(post.text)[-1] == release.url

    check()


# -- publish ----------------------------------------------------------------------------------


def test_publish_text_chain_replies_to_each_previous_message(
    make_ctx: CtxFactory, bot: BotApi, scripted_server: ScriptedServer
) -> None:
    ctx = make_ctx(max_images=0, disable_notification=True)
    channel = TelegramChannel()
    post = channel.render(_long_release(), ctx)
    receipt = channel.publish(post, ctx)
    assert bot.methods() == ["sendMessage"] * len(post.parts)
    first = bot.calls[0][1]
    assert first == {
        "chat_id": CHAT,
        "text": post.extra["messages"][0]["html"],
        "parse_mode": "HTML",
        "link_preview_options": {"url": _long_release().url},
        "disable_notification": True,
    }
    ids = [int(i) for i in receipt.ids]
    for n, (_, fields, _) in enumerate(bot.calls[1:], 1):
        assert fields["reply_parameters"] == {"message_id": ids[n - 1], "allow_sending_without_reply": True}
        assert fields["link_preview_options"] == {"is_disabled": True}
    assert [visible(f["text"]) for _, f, _ in bot.calls] == list(post.parts)
    assert receipt.remote_id == "101" and receipt.url == "https://t.me/pers_jabar/101"
    assert receipt.extra["chat_id"] == CHAT
    assert receipt.extra["messages"] == [{"id": i, "kind": "text"} for i in ids]
    for req in scripted_server.requests:
        assert req.path.startswith(BOT + "/") and req.headers["Content-Type"] == "application/json"


def test_publish_photo_with_caption_then_the_rest(make_ctx: CtxFactory, bot: BotApi) -> None:
    ctx = make_ctx(message_thread_id=7)
    post = TelegramChannel().render(_long_release(), ctx)
    receipt = TelegramChannel().publish(post, ctx)
    method, fields, files = bot.calls[0]
    assert method == "sendPhoto" and files == {}
    assert fields == {
        "chat_id": CHAT,
        "photo": _long_release().images[0].location,
        "caption": post.extra["messages"][0]["html"],
        "parse_mode": "HTML",
        "message_thread_id": 7,
    }
    assert visible(fields["caption"]) == post.parts[0]
    assert bot.calls[1][1]["reply_parameters"]["message_id"] == 101
    assert receipt.extra["messages"][0] == {"id": 101, "kind": "caption"}
    assert receipt.extra["images"] == [_long_release().images[0].location]


def test_publish_album_caption_on_the_first_photo(make_ctx: CtxFactory, bot: BotApi) -> None:
    images = tuple(Media(f"https://e.example/foto-{n}.jpg", alt=f"Foto {n}") for n in range(3))
    release = _long_release(images=images)
    receipt = _publish(make_ctx(), release)
    method, fields, _ = bot.calls[0]
    assert method == "sendMediaGroup"
    media = fields["media"]
    assert [m["media"] for m in media] == [m.location for m in images]
    assert media[0]["parse_mode"] == "HTML" and visible(media[0]["caption"])
    assert all("caption" not in m for m in media[1:])
    assert receipt.extra["messages"][:3] == [
        {"id": 101, "kind": "caption"},
        {"id": 102, "kind": "media"},
        {"id": 103, "kind": "media"},
    ]
    assert bot.calls[1][1]["reply_parameters"]["message_id"] == 101  # the chain hangs off the album
    assert receipt.ids[:3] == ("101", "102", "103")


def test_publish_uploads_local_images_as_multipart(make_ctx: CtxFactory, bot: BotApi, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG-a")
    (tmp_path / "img" / "b.jpg").write_bytes(b"\xff\xd8-b")
    single = make_release(images=(Media("img/a.png", alt="A"),))
    _publish(make_ctx(), single)
    method, fields, files = bot.calls[0]
    assert method == "sendPhoto" and "photo" not in fields
    assert files == {"photo": ("a.png", b"\x89PNG-a", "image/png")}
    assert fields["chat_id"] == CHAT and fields["parse_mode"] == "HTML" and visible(fields["caption"])
    album = make_release(images=(Media("img/b.jpg", alt="B"), Media("https://e.example/c.jpg", alt="C")))
    _publish(make_ctx(), album)
    method, fields, files = bot.calls[1]
    assert method == "sendMediaGroup"
    assert [m["media"] for m in fields["media"]] == ["attach://photo0", "https://e.example/c.jpg"]
    assert files == {"photo0": ("b.jpg", b"\xff\xd8-b", "image/jpeg")}


def test_missing_local_image_is_permanent_and_sends_nothing(make_ctx: CtxFactory, bot: BotApi) -> None:
    with pytest.raises(PermanentError, match="cannot read image"):
        _publish(make_ctx(), make_release(images=(Media("img/missing.png"),)))
    assert bot.calls == []


def test_a_photo_telegram_cannot_fetch_falls_back_to_text(make_ctx: CtxFactory, bot: BotApi) -> None:
    bot.queue("sendPhoto", tg_error(400, "Bad Request: failed to get HTTP URL content"))
    receipt = _publish(make_ctx(), make_release())
    assert bot.methods() == ["sendPhoto", "sendMessage"]
    assert bot.calls[1][1]["text"] == bot.calls[0][1]["caption"]
    assert receipt.extra["skipped_media"] == [make_release().images[0].location]
    assert receipt.extra["messages"] == [{"id": 101, "kind": "text"}]


def test_rate_limit_on_the_first_message_carries_retry_after(make_ctx: CtxFactory, bot: BotApi) -> None:
    bot.queue("sendPhoto", tg_error(429, "Too Many Requests: retry after 35", retry_after=35))
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), make_release())
    assert info.value.retry_after == 35.0
    assert bot.methods() == ["sendPhoto"]


def test_rate_limit_inside_a_chain_is_waited_out(make_ctx: CtxFactory, bot: BotApi) -> None:
    bot.queue("sendMessage", tg_ok({"message_id": 500, "chat": CHAT_INFO}))  # part 1
    bot.queue("sendMessage", tg_error(429, "Too Many Requests: retry after 3", retry_after=3))
    channel = TelegramChannel()
    waits: list[float] = []
    channel.sleep = waits.append
    ctx = make_ctx(max_images=0)
    post = channel.render(_long_release(), ctx)
    receipt = channel.publish(post, ctx)
    assert waits == [3.0]
    assert len(receipt.ids) == len(post.parts) == len(bot.calls) - 1
    assert bot.calls[1][1]["text"] == bot.calls[2][1]["text"]  # the same part again
    assert bot.calls[2][1]["reply_parameters"]["message_id"] == 500


def test_a_chain_broken_after_the_first_message_is_an_unknown_outcome(
    make_ctx: CtxFactory, bot: BotApi
) -> None:
    bot.queue("sendMessage", tg_error(502, "Bad Gateway"))
    with pytest.raises(UnknownOutcome) as info:
        _publish(make_ctx(), _long_release())
    message = str(info.value)
    assert "after 1 message(s) of" in message and "ids 101" in message
    assert "https://t.me/pers_jabar/101" in message and "syndicator resolve" in message
    assert bot.methods() == ["sendPhoto", "sendMessage"]


def test_a_migrated_chat_is_followed_and_reported(
    make_ctx: CtxFactory, scripted_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    new_chat = {**CHAT_INFO, "id": -1009876543210, "username": None}
    bot = BotApi(scripted_server, chat=new_chat)
    bot.queue(
        "sendMessage",
        tg_error(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            migrate_to_chat_id=-1009876543210,
        ),
    )
    caplog.set_level(logging.WARNING, logger="t.telegram")
    ctx = make_ctx(chat_id=-4001234)
    receipt = _publish(ctx, make_release(images=()))
    assert [f["chat_id"] for _, f, _ in bot.calls] == [-4001234, -1009876543210]
    assert receipt.extra["migrated_from_chat_id"] == -4001234
    assert receipt.extra["migrated_to_chat_id"] == -1009876543210 == receipt.extra["chat_id"]
    assert receipt.url == "https://t.me/c/9876543210/101"
    assert "chat_id = -1009876543210" in caplog.text and "[channels.telegram-press]" in caplog.text


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (tg_error(401, "Unauthorized"), AuthError, "token was refused"),
        (tg_error(404, "Not Found"), AuthError, "token was refused"),
        (
            tg_error(403, "Forbidden: bot is not a member of the channel chat"),
            AuthError,
            "removed or blocked",
        ),
        (tg_error(400, "Bad Request: chat not found"), PermanentError, "check chat_id"),
        (tg_error(400, "Bad Request: can't parse entities: unsupported start tag"), PermanentError, "parse"),
        (tg_error(500, "Internal Server Error"), TransientError, "HTTP 500"),
        (Reply(502, body=b"<html>bad gateway</html>"), TransientError, "HTTP 502"),
    ],
)
def test_errors_by_class(
    reply: Reply, error: type[ChannelError], words: str, make_ctx: CtxFactory, bot: BotApi
) -> None:
    bot.queue("sendPhoto", reply)
    with pytest.raises(error, match=words) as info:
        _publish(make_ctx(), make_release())
    if error is PermanentError:
        assert not isinstance(info.value, AuthError)


def test_connection_refused_is_transient(make_ctx: CtxFactory) -> None:
    ctx = make_ctx(api_base=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(TransientError, match="nothing was sent"):
        _publish(ctx, make_release())


def test_timeout_after_sending_is_unknown(make_ctx: CtxFactory, bot: BotApi) -> None:
    bot.queue("sendPhoto", Reply(200, delay=2))
    ctx = make_ctx(session=lambda: make_session(timeout=0.3))
    with pytest.raises(UnknownOutcome, match="may have been posted"):
        _publish(ctx, make_release())


@pytest.mark.parametrize(
    "reply",
    [
        tg_error(401, f"Unauthorized: {TOKEN}"),
        Reply(500, body=f"upstream /bot{TOKEN}/sendPhoto failed".encode()),
        Reply.reset(),
        Reply(200, delay=2),
    ],
)
def test_token_never_in_errors_or_logs(
    reply: Reply, make_ctx: CtxFactory, bot: BotApi, caplog: pytest.LogCaptureFixture
) -> None:
    bot.queue("sendPhoto", reply)
    caplog.set_level(logging.DEBUG, logger="t.telegram")
    ctx = make_ctx(session=lambda: make_session(timeout=0.3))
    with pytest.raises(ChannelError) as info:
        _publish(ctx, make_release())
    for text in (str(info.value), repr(info.value), repr(ctx), caplog.text):
        assert TOKEN not in text and TOKEN.split(":")[1] not in text


# -- update and delete --------------------------------------------------------------------------


def test_update_edits_caption_and_texts_in_place(make_ctx: CtxFactory, bot: BotApi) -> None:
    ctx = make_ctx()
    channel = TelegramChannel()
    receipt = _publish(ctx, _long_release(), channel)
    sent = len(bot.calls)
    bot.queue(
        "editMessageText",
        tg_error(400, "Bad Request: message is not modified: specified new message content"),
    )
    changed = _long_release(title="Judul Baru Setelah Koreksi")
    post = channel.render(changed, ctx)
    updated = channel.update(receipt, post, ctx)
    edits = bot.calls[sent:]
    assert [m for m, _, _ in edits] == ["editMessageCaption"] + ["editMessageText"] * (len(receipt.ids) - 1)
    assert edits[0][1]["message_id"] == 101 and visible(edits[0][1]["caption"]).startswith("Judul Baru")
    assert [f["message_id"] for _, f, _ in edits[1:]] == [int(i) for i in receipt.ids[1:]]
    assert updated.ids == receipt.ids and updated.url == receipt.url


def test_update_sends_extra_parts_and_removes_surplus(make_ctx: CtxFactory, bot: BotApi) -> None:
    ctx = make_ctx(max_images=0)
    channel = TelegramChannel()
    short = make_release(images=())
    receipt = _publish(ctx, short, channel)
    grown = channel.update(receipt, channel.render(_long_release(images=()), ctx), ctx)
    calls = bot.methods()
    assert calls[1] == "editMessageText" and calls[2:] == ["sendMessage"] * (len(grown.ids) - 1)
    assert bot.calls[2][1]["reply_parameters"]["message_id"] == 101
    shrunk = channel.update(grown, channel.render(short, ctx), ctx)
    assert bot.methods()[len(calls) :] == ["editMessageText"] + ["deleteMessage"] * (len(grown.ids) - 1)
    assert shrunk.ids == ("101",)


def test_delete_removes_every_message(make_ctx: CtxFactory, bot: BotApi) -> None:
    ctx = make_ctx()
    receipt = _publish(
        ctx, _long_release(images=tuple(Media(f"https://e.example/{n}.jpg") for n in range(2)))
    )
    bot.queue("deleteMessage", tg_error(400, "Bad Request: message to delete not found"))  # already gone
    TelegramChannel().delete(receipt, ctx)
    deletes = [f["message_id"] for m, f, _ in bot.calls if m == "deleteMessage"]
    assert deletes == [int(i) for i in receipt.ids]
    assert all(f["chat_id"] == CHAT for m, f, _ in bot.calls if m == "deleteMessage")


def test_delete_refused_after_48_hours_is_permanent(make_ctx: CtxFactory, bot: BotApi) -> None:
    receipt = Receipt(remote_id="7", ids=("7", "8"), extra={"chat_id": CHAT})
    bot.queue("deleteMessage", tg_error(400, "Bad Request: message can't be deleted"))
    bot.messages[8] = {"message_id": 8}
    with pytest.raises(PermanentError) as info:
        TelegramChannel().delete(receipt, make_ctx())
    assert not isinstance(info.value, AuthError)
    assert "message(s) 7" in str(info.value) and "48 hours" in str(info.value)
    assert [f["message_id"] for _, f, _ in bot.calls] == [7, 8]  # the others are still deleted
    assert 8 not in bot.messages


def test_delete_without_rights_is_an_auth_error(make_ctx: CtxFactory, bot: BotApi) -> None:
    bot.queue("deleteMessage", tg_error(403, "Forbidden: bot is not a member of the channel chat"))
    with pytest.raises(AuthError):
        TelegramChannel().delete(Receipt(remote_id="7", ids=("7",)), make_ctx())


# -- check --------------------------------------------------------------------------------------


def test_check_reads_bot_chat_and_rights(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    script_check(scripted_server)
    status = TelegramChannel().check(make_ctx())
    assert status == "bot @humas_bot can post in channel Siaran Pers Jabar (@pers_jabar, administrator)"
    assert [(r.method, r.path, r.query) for r in scripted_server.requests] == [
        ("GET", f"{BOT}/getMe", {}),
        ("GET", f"{BOT}/getChat", {"chat_id": CHAT}),
        ("GET", f"{BOT}/getChatMember", {"chat_id": CHAT, "user_id": "42"}),
    ]


@pytest.mark.parametrize(
    ("status", "can_post"), [("member", False), ("administrator", False), ("left", False)]
)
def test_check_refuses_a_bot_that_cannot_post(
    status: str, can_post: bool, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    script_check(scripted_server, status=status, can_post=can_post)
    with pytest.raises(AuthError, match="administrator with the right to post"):
        TelegramChannel().check(make_ctx())


def test_check_with_a_bad_token(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", f"{BOT}/getMe", tg_error(401, "Unauthorized"))
    with pytest.raises(AuthError):
        TelegramChannel().check(make_ctx())


# -- options, links and the plugin ------------------------------------------------------------


def test_validate() -> None:
    good = {
        "token": Secret(TOKEN, "T"),
        "chat_id": CHAT,
        "api_base": "https://api.telegram.org",
        "max_images": 10,
    }
    assert TelegramChannel.validate(good) == []
    for chat in ("@pers_jabar", -1001234567890, "-1001234567890", "12345"):
        assert TelegramChannel.validate({**good, "chat_id": chat}) == []
    for chat in ("pers_jabar", "@ab", "@1abc", "t.me/pers", 0, "-", "@has space"):
        assert [k for k, _ in TelegramChannel.validate({**good, "chat_id": chat})] == ["chat_id"], chat
    assert TelegramChannel.validate({**good, "api_base": "http://127.0.0.1:8081"}) == []
    for bad in ("http://api.telegram.org", "ftp://x", "https://x/?a=1"):
        assert [k for k, _ in TelegramChannel.validate({**good, "api_base": bad})] == ["api_base"]
    problems = TelegramChannel.validate({**good, "token": Secret("not a token", "T")})
    assert [k for k, _ in problems] == ["token"] and "not a token" not in problems[0][1]
    assert [k for k, _ in TelegramChannel.validate({**good, "max_images": 11})] == ["max_images"]
    assert [k for k, _ in TelegramChannel.validate({**good, "message_thread_id": 0})] == ["message_thread_id"]
    _, problems = resolve_options({"token": TOKEN, "chat_id": CHAT}, TelegramChannel.options)
    assert [k for k, _ in problems] == ["token"]  # a secret never comes from the file


def test_message_link() -> None:
    assert message_link({"id": -1001, "username": "pers"}, 5) == "https://t.me/pers/5"
    assert message_link({"id": -1001234}, 5) == "https://t.me/c/1234/5"
    assert message_link({"id": -4001}, 5) == ""


def test_release_runs_skip_a_summary_the_body_repeats() -> None:
    release = make_release(summary="Paragraf pertama.", body=["Paragraf pertama.", "Kedua."])
    text = "".join(t for t, _ in release_runs(release))
    assert text.count("Paragraf pertama.") == 1


def test_loading_the_plugin_does_not_import_requests() -> None:
    code = "import sys, syndicator_channels.telegram; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_registers_through_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import telegram

    pm.register(telegram)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [TelegramChannel]
    assert TelegramChannel.idempotency == "none"
    assert TelegramChannel.capabilities.edit and TelegramChannel.capabilities.delete
