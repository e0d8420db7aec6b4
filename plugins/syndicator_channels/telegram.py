"""telegram channel: post each release to a Telegram channel or group through a bot.

Configuration::

    [channels.telegram-press]
    type = "telegram"
    token = { env = "TELEGRAM_BOT_TOKEN" }    # from @BotFather
    chat_id = "@siaranpers_jabar"              # "@channelname" or the numeric id ("-100…")
    full_text = true                           # false: title, summary and link only
    max_images = 10                            # 0: text only; 1: one photo; 2-10: an album

The release becomes Telegram HTML (``parse_mode = "HTML"``): the sanitised body is converted
to the tags Telegram accepts (b, i, u, s, a, code, pre, blockquote; paragraphs become blank
lines, list items "• " lines, headings bold), and every ``&``, ``<`` and ``>`` of the text is
escaped. With images, the first message is a photo (``sendPhoto``) or an album of up to 10
(``sendMediaGroup``) whose caption holds the start of the text (1,024 characters); the rest
follows as text messages of at most 4,096 characters, split at word boundaries, each a reply
to the one before so the chain stays together. Lengths are counted as Telegram counts them:
UTF-16 code units of the visible text, after the tags are parsed. Local images are uploaded
(multipart) in ``publish``; remote ones are fetched by Telegram from their URL.

The Bot API has no idempotency key (``idempotency = "none"``): a timeout after sending is an
:class:`~syndicator.errors.UnknownOutcome`, and so is a chain broken after its first message
(the message says which messages went out). A 429 inside a chain is waited out (up to
30 s) before the next part; on the first message it is a TransientError carrying Telegram's
``retry_after``. A group upgraded to a supergroup (400 with ``migrate_to_chat_id``) is
followed at once; a warning asks the operator to update ``chat_id`` and the receipt records
the new id. 401/403/404 are AuthError: a bad token, or a bot removed, blocked or without
the right to post.

Corrections edit the messages in place (``editMessageText`` / ``editMessageCaption``);
retractions delete every message of the receipt (``deleteMessage``). Telegram lets bots
delete messages only for 48 hours: later, the refusal is a PermanentError saying so.
``check`` calls getMe, getChat and getChatMember and posts nothing.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits, notice_word
from syndicator.content import plain, plain_body, sanitize_html
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator.render import split_thread
from syndicator_channels.webhook import describe_url
from syndicator_channels.wire import json_body as _json
from syndicator_channels.wire import nothing_sent as _nothing_sent
from syndicator_channels.wire import root_cause as _reason

if TYPE_CHECKING:
    import requests  # imported where it is used: loading the plugin stays cheap

API_BASE = "https://api.telegram.org"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_ALBUM = 10
PHOTO_BYTES = 10 * 1024 * 1024  # photo upload limit of the Bot API
CHAIN_WAIT = 30.0  # the longest retry_after waited out between the parts of a chain
CHAIN_TRIES = 3
SNIPPET = 200
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: The tags Telegram's HTML parse mode accepts (anything else is a 400 "can't parse entities").
TELEGRAM_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
    }
)

_CHAT_NAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")
_CHAT_NUMBER = re.compile(r"-?[1-9][0-9]{0,18}")
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
#: What Telegram says when it cannot use a photo it was given (the text can still go out).
_BAD_PHOTO = re.compile(
    r"failed to get HTTP URL content|wrong file identifier|wrong type of the web page content|"
    r"PHOTO_INVALID|IMAGE_PROCESS_FAILED|wrong remote file|file must be non-empty|"
    r"PHOTO_SAVE_FILE_INVALID|WEBPAGE_CURL_FAILED|WEBPAGE_MEDIA_EMPTY",
    re.IGNORECASE,
)


class TelegramChannel(Channel):
    """Posts each release to one Telegram chat: HTML text, photos or an album, reply chains."""

    type = "telegram"
    description = "Post each release to a Telegram channel or group through a bot (HTML, photos, chains)"
    idempotency = "none"
    capabilities = Capabilities(threads=True, media=True, edit=True, delete=True)
    limits = Limits(max_length=TEXT_LIMIT, counting="utf16", max_media=MAX_ALBUM, max_media_bytes=PHOTO_BYTES)
    options = (
        Option("token", str, required=True, secret=True, help="the bot token from @BotFather"),
        Option(
            "chat_id",
            (str, int),
            required=True,
            help='"@channelname" or the numeric chat id (channels and supergroups: -100…)',
        ),
        Option("api_base", str, default=API_BASE, help="Bot API server (a local Bot API server, tests)"),
        Option("full_text", bool, default=True, help="send the whole body (false: title, summary, link)"),
        Option("max_images", int, default=MAX_ALBUM, help="images to send: 0 none, 1 a photo, 2-10 an album"),
        Option("link_preview", bool, default=True, help="show a preview of the release link (text posts)"),
        Option("disable_notification", bool, default=False, help="post silently"),
        Option("message_thread_id", int, help="the topic of a forum supergroup to post in"),
    )

    def __init__(self) -> None:
        #: How a chain waits out a 429 between its parts (tests replace it).
        self.sleep: Callable[[float], None] = time.sleep

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Config-time checks; never echoes the token."""
        problems: list[tuple[str, str]] = []
        try:
            _api_base(options)
        except PermanentError as exc:
            problems.append(("api_base", str(exc).removeprefix("telegram: api_base ")))
        token = options.get("token")
        value = token.reveal() if isinstance(token, Secret) else token
        if isinstance(value, str) and not _TOKEN.fullmatch(value.strip()):
            problems.append(("token", "does not look like a bot token (digits, a colon, then letters)"))
        if _chat(options.get("chat_id")) is None:
            got = options.get("chat_id")
            problems.append(
                ("chat_id", f'expected "@channelname" (5-32 letters, digits, _) or a numeric id, got {got!r}')
            )
        images = options.get("max_images", MAX_ALBUM)
        if isinstance(images, int) and not 0 <= images <= MAX_ALBUM:
            problems.append(("max_images", f"must be between 0 and {MAX_ALBUM}, got {images}"))
        thread = options.get("message_thread_id")
        if isinstance(thread, int) and thread <= 0:
            problems.append(("message_thread_id", f"must be a positive topic id, got {thread}"))
        return problems

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """The chain of messages (HTML and visible text) and the images. No I/O."""
        runs = release_runs(release, full_text=_flag(ctx, "full_text", True), timezone=ctx.timezone)
        return self._post(release, ctx, runs, self._images(release, ctx), {})

    def render_correction(self, release: Release, original: Receipt, ctx: ChannelContext) -> Post:
        """A new post led by "Ralat"/"Correction", linking the original message."""
        lead = notice_word("correction", release.language)
        runs = release_runs(
            release,
            full_text=_flag(ctx, "full_text", True),
            timezone=ctx.timezone,
            lead=f"{lead}:",
            reference=(notice_word("original", release.language), original.url),
        )
        return self._post(release, ctx, runs, self._images(release, ctx), {"correction": True})

    def render_retraction(
        self, release: Release, original: Receipt, reason: str, ctx: ChannelContext
    ) -> Post:
        """A notice (used only where the core posts one instead of deleting)."""
        doc = _Document()
        doc.block(f"{notice_word('retraction', release.language)}: {plain(release.title)}", BOLD)
        doc.block(plain(reason))
        if original.url:
            doc.block(original.url)
        return self._post(release, ctx, doc.finish(), [], {"retraction_of": original.to_dict()})

    def _images(self, release: Release, ctx: ChannelContext) -> list[Media]:
        wanted = ctx.options.get("max_images")
        limit = MAX_ALBUM if not isinstance(wanted, int) else max(0, min(wanted, MAX_ALBUM))
        usable = [m for m in release.images if m.size is None or m.size <= PHOTO_BYTES]
        return usable[:limit]

    def _post(
        self,
        release: Release,
        ctx: ChannelContext,
        runs: list[Run],
        images: list[Media],
        extra: Mapping[str, Any],
    ) -> Post:
        pieces = _pieces(runs, CAPTION_LIMIT if images else TEXT_LIMIT)
        preview = release.url if _flag(ctx, "link_preview", True) and release.url else ""
        messages: list[dict[str, Any]] = []
        for n, (_visible, markup) in enumerate(pieces):
            if n == 0 and images:
                method = "sendPhoto" if len(images) == 1 else "sendMediaGroup"
                messages.append({"method": method, "html": markup, "images": _image_plans(images, ctx)})
            else:
                messages.append(
                    {"method": "sendMessage", "html": markup, "preview": preview if n == 0 else ""}
                )
        if not messages and images:
            method = "sendPhoto" if len(images) == 1 else "sendMediaGroup"
            messages.append({"method": method, "html": "", "images": _image_plans(images, ctx)})
        visible_parts = tuple(v for v, _ in pieces if v)
        skipped = [m.location for m in release.images if m.size is not None and m.size > PHOTO_BYTES]
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text="\n\n".join(visible_parts),
            title=plain(release.title),
            link=release.url,
            parts=visible_parts if len(visible_parts) > 1 else (),
            media=tuple(images),
            extra={
                **extra,
                "parse_mode": "HTML",
                "messages": messages,
                "runs": [[text, [list(tag) for tag in style]] for text, style in runs],
                **({"skipped_media": skipped} if skipped else {}),
            },
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Send the chain; a failure after the first message is an UnknownOutcome naming what went out."""
        api = _Api(ctx)
        messages = list(post.extra.get("messages") or ())
        if not messages:  # a Post built elsewhere (a core default): plain text, escaped
            messages = [
                {"method": "sendMessage", "html": _escape(p), "preview": ""}
                for p in (post.parts or (post.text,))
                if p.strip()
            ]
        sent: list[dict[str, Any]] = []
        chat: Mapping[str, Any] = {}
        skipped: list[str] = list(post.extra.get("skipped_media") or ())
        for message in messages:
            reply_to = _last_head(sent) if sent else None
            try:
                results = self._send_with_waits(api, message, reply_to, first=not sent, skipped=skipped)
            except ChannelError as exc:
                if not sent:
                    raise
                raise _partial(api, chat, sent, len(messages), exc) from None
            if results:
                chat = results[0].get("chat") or chat
            sent.extend(results)
        if not sent:
            raise PermanentError("telegram: nothing to send (the release is empty)")
        ids = tuple(str(m["id"]) for m in sent)
        extra: dict[str, Any] = {
            "chat_id": api.chat,
            "messages": [{"id": m["id"], "kind": m["kind"]} for m in sent],
            "images": [m.location for m in post.media if m.location not in skipped],
        }
        if api.migrated_from is not None:
            extra["migrated_from_chat_id"] = api.migrated_from
            extra["migrated_to_chat_id"] = api.chat
        if skipped:
            extra["skipped_media"] = skipped
        ctx.logger.debug("telegram: sent %d message(s) to %s", len(ids), api.chat)
        return Receipt(remote_id=ids[0], url=message_link(chat, sent[0]["id"]), ids=ids, extra=extra)

    def _send_with_waits(
        self,
        api: _Api,
        message: Mapping[str, Any],
        reply_to: int | None,
        *,
        first: bool,
        skipped: list[str],
    ) -> list[dict[str, Any]]:
        """One message of the chain. Later parts wait out a 429 (nothing was sent) and try again."""
        for attempt in range(1, CHAIN_TRIES + 1):
            try:
                return self._send(api, message, reply_to, skipped)
            except _RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if first or attempt == CHAIN_TRIES or wait > CHAIN_WAIT:
                    raise
                api.ctx.logger.info("telegram: rate limited inside a chain; waiting %.0f s", wait)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, api: _Api, message: Mapping[str, Any], reply_to: int | None, skipped: list[str]
    ) -> list[dict[str, Any]]:
        method = str(message.get("method") or "sendMessage")
        markup = str(message.get("html") or "")
        fields: dict[str, Any] = {}
        if api.ctx.options.get("disable_notification"):
            fields["disable_notification"] = True
        thread = api.ctx.options.get("message_thread_id")
        if isinstance(thread, int):
            fields["message_thread_id"] = thread
        if reply_to is not None:
            fields["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        if method == "sendMessage":
            preview = str(message.get("preview") or "")
            options = {"url": preview} if preview else {"is_disabled": True}
            body = {"text": markup, "parse_mode": "HTML", "link_preview_options": options, **fields}
            result = api.send("sendMessage", body)
            return [{**_message(result, "sendMessage"), "kind": "text"}]
        images = list(message.get("images") or ())
        try:
            return self._send_media(api, method, markup, images, fields)
        except PermanentError as exc:
            if isinstance(exc, AuthError) or not _BAD_PHOTO.search(str(exc)):
                raise
            api.ctx.logger.warning(
                "telegram: the image(s) could not be used (%s); sending the text alone", exc
            )
            skipped.extend(str(i["location"]) for i in images)
            if not markup:
                return []
            body = {
                "text": markup,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True},
                **fields,
            }
            result = api.send("sendMessage", body)
            return [{**_message(result, "sendMessage"), "kind": "text"}]

    def _send_media(
        self, api: _Api, method: str, markup: str, images: list[Mapping[str, Any]], fields: dict[str, Any]
    ) -> list[dict[str, Any]]:
        files: dict[str, tuple[str, bytes, str]] = {}
        items: list[dict[str, Any]] = []
        for n, image in enumerate(images):
            if image.get("path"):
                name = f"photo{n}"
                files[name] = _read_image(image)
                ref = f"attach://{name}"
            else:
                ref = str(image["location"])
            items.append({"type": "photo", "media": ref})
        if markup:
            items[0].update(caption=markup, parse_mode="HTML")
        if method == "sendPhoto" or len(items) == 1:
            body: dict[str, Any] = dict(fields)
            if markup:
                body.update(caption=markup, parse_mode="HTML")
            if files:  # an upload goes in the "photo" field itself
                result = api.send("sendPhoto", body, files={"photo": files["photo0"]})
            else:
                result = api.send("sendPhoto", {**body, "photo": items[0]["media"]})
            return [{**_message(result, "sendPhoto"), "kind": "caption"}]
        result = api.send("sendMediaGroup", {**fields, "media": items}, files=files or None)
        if not isinstance(result, list) or not result:
            raise PermanentError("telegram: sendMediaGroup answered without messages")
        out = []
        for n, item in enumerate(result):
            out.append({**_message(item, "sendMediaGroup"), "kind": "caption" if n == 0 else "media"})
        return out

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        """Edit the chain in place; extra parts are sent as replies, surplus messages deleted."""
        api = _Api(ctx, chat=receipt.extra.get("chat_id"))
        old = _receipt_messages(receipt)
        slots = [m for m in old if m["kind"] in ("text", "caption")]
        if not slots:
            raise PermanentError("telegram: the receipt lists no message to edit")
        pieces = _pieces(_runs_from(post), CAPTION_LIMIT if slots[0]["kind"] == "caption" else TEXT_LIMIT)
        first = (post.extra.get("messages") or [{}])[0]
        preview = str(first.get("preview") or "") if first.get("method") == "sendMessage" else ""
        kept = [m for m in old if m["kind"] == "media"]
        edited: list[dict[str, Any]] = []
        for n, slot in enumerate(slots):
            if n >= len(pieces):
                self._remove_surplus(api, slot)
                continue
            markup = pieces[n][1]
            if slot["kind"] == "caption":
                body: dict[str, Any] = {"message_id": slot["id"], "caption": markup, "parse_mode": "HTML"}
                api.send("editMessageCaption", body, allow=("message is not modified",))
            elif markup:
                body = {
                    "message_id": slot["id"],
                    "text": markup,
                    "parse_mode": "HTML",
                    "link_preview_options": {"url": preview} if n == 0 and preview else {"is_disabled": True},
                }
                api.send("editMessageText", body, allow=("message is not modified",))
            edited.append(slot)
        last = edited[-1]["id"] if edited else slots[0]["id"]
        for visible, markup in pieces[len(slots) :]:
            if not visible:
                continue
            body = {
                "text": markup,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True},
                "reply_parameters": {"message_id": last, "allow_sending_without_reply": True},
            }
            result = _message(api.send("sendMessage", body), "sendMessage")
            edited.append({"id": result["id"], "kind": "text"})
            last = result["id"]
        posted = receipt.extra.get("images")
        if isinstance(posted, list) and posted != [m.location for m in post.media]:
            ctx.logger.warning("telegram: images cannot be changed by an edit; the photos stay as posted")
        order = {m["id"]: i for i, m in enumerate(old)}
        messages = sorted([*edited, *kept], key=lambda m: order.get(m["id"], len(order)))
        extra = {**receipt.extra, "chat_id": api.chat, "messages": messages}
        ids = tuple(str(m["id"]) for m in messages)
        return Receipt(remote_id=ids[0], url=receipt.url, ids=ids, extra=extra)

    def _remove_surplus(self, api: _Api, slot: Mapping[str, Any]) -> None:
        try:
            api.send("deleteMessage", {"message_id": slot["id"]}, allow=("message to delete not found",))
        except PermanentError as exc:
            if isinstance(exc, AuthError):
                raise
            api.ctx.logger.warning("telegram: message %s is no longer needed but stays (%s)", slot["id"], exc)

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """deleteMessage for every message of the receipt; refusals (over 48 h) are PermanentError."""
        api = _Api(ctx, chat=receipt.extra.get("chat_id"))
        ids = [i for i in (receipt.ids or (receipt.remote_id,)) if i]
        refused: list[str] = []
        reasons: set[str] = set()
        for message_id in ids:
            try:
                api.send(
                    "deleteMessage",
                    {"message_id": int(message_id)},
                    allow=("message to delete not found",),
                )
            except PermanentError as exc:
                if isinstance(exc, AuthError):
                    raise
                refused.append(message_id)
                reasons.add(str(exc))
        if refused:
            raise PermanentError(
                f"telegram: Telegram refused to delete message(s) {', '.join(refused)} in {api.chat} "
                f"({'; '.join(sorted(reasons))}). Bots may delete messages only within 48 hours of "
                "posting, and need the right to delete in the chat: delete them by hand, or post a correction"
            )

    def check(self, ctx: ChannelContext) -> str:
        """getMe, getChat and getChatMember (the bot's rights): read-only, posts nothing."""
        api = _Api(ctx)
        me = api.get("getMe")
        bot = f"@{me.get('username')}" if me.get("username") else str(me.get("id", "?"))
        chat = api.get("getChat", chat_id=api.chat)
        if api.migrated_from is not None:
            raise PermanentError(
                f"telegram: chat {api.migrated_from} was upgraded to a supergroup: set chat_id = {api.chat}"
            )
        kind = str(chat.get("type") or "chat")
        label = chat.get("title") or (f"@{chat['username']}" if chat.get("username") else str(api.chat))
        member = api.get("getChatMember", chat_id=api.chat, user_id=me.get("id"))
        status = str(member.get("status") or "")
        if kind == "channel":
            can_post = status == "creator" or (
                status == "administrator" and bool(member.get("can_post_messages"))
            )
            if not can_post:
                raise AuthError(
                    f"telegram: {bot} cannot post in channel {label} (status {status or 'unknown'}): "
                    "make it an administrator with the right to post messages"
                )
        elif status in ("left", "kicked") or (status == "restricted" and not member.get("can_send_messages")):
            raise AuthError(f"telegram: {bot} cannot send messages in {kind} {label} (status {status})")
        return f"bot {bot} can post in {kind} {label} ({api.chat}, {status})"


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(TelegramChannel)


# -- Telegram HTML: runs of styled text ---------------------------------------------------------
#
# A document is a list of runs ``(text, style)``: ``text`` is what the reader sees, ``style`` a
# tuple of tags from the outside in (("b",), ("a", href), ...). Splitting works on the visible
# text, as Telegram counts it; each part is then written out as HTML with its tags reopened.

Tag = tuple[str, ...]
Style = tuple[Tag, ...]
Run = tuple[str, Style]
BOLD: Style = (("b",),)
ITALIC: Style = (("i",),)

_INLINE = {
    "b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u",
    "s": "s", "strike": "s", "del": "s",
}  # fmt: skip
_PARAGRAPH_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "table", "dl", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "caption"}
)
_LINE_TAGS = frozenset({"li", "tr", "dt", "dd", "figcaption", "thead", "tbody", "tfoot"})
_VOID = frozenset({"br", "hr", "img", "wbr"})
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


class _Document:
    """Collects runs; collapses HTML whitespace; turns blocks into blank lines."""

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []
        self.pending = 0  # line breaks owed before the next text
        self.space = False  # a space owed before the next text
        self.after_marker = False  # just wrote a list marker: no break before the item's text

    def newline(self, count: int) -> None:
        if self.after_marker:
            return
        self.pending = max(self.pending, count)
        self.space = False

    def emit(self, text: str, style: Style = ()) -> None:
        """Add visible text (already collapsed) in ``style``."""
        if not text:
            return
        if self.runs and not self.after_marker:
            if self.pending:
                self._append("\n" * self.pending, ())
            elif self.space:
                self._append(" ", _common(self.runs[-1][1], style))
        self.pending, self.space, self.after_marker = 0, False, False
        self._append(text, style)

    def words(self, data: str, style: Style = ()) -> None:
        """Add text as HTML flows it: runs of whitespace become one space."""
        collapsed = _SPACES.sub(" ", data)
        if not collapsed.strip(" "):
            if collapsed and self.runs:
                self.space = not self.pending
            return
        if collapsed.startswith(" ") and not self.pending and self.runs:
            self.space = True
        self.emit(collapsed.strip(" "), style)
        self.space = collapsed.endswith(" ")

    def block(self, text: str, style: Style = (), breaks: int = 2) -> None:
        self.newline(breaks)
        self.words(text, style)
        self.newline(breaks)

    def marker(self, text: str) -> None:
        self.emit(text)
        self.after_marker = True

    def _append(self, text: str, style: Style) -> None:
        if self.runs and self.runs[-1][1] == style:
            self.runs[-1][0] += text
        else:
            self.runs.append([text, style])

    def finish(self) -> list[Run]:
        return [(text, style) for text, style in self.runs if text]


def _common(a: Style, b: Style) -> Style:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


class _Converter(HTMLParser):
    """Sanitised release HTML to runs in Telegram's tag set."""

    def __init__(self, doc: _Document) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = doc
        self.stack: list[tuple[str, Tag | None]] = []
        self.lists: list[list[Any]] = []  # [tag, items so far]
        self.cells = 0
        self.pre_start = False

    @property
    def style(self) -> Style:
        return tuple(tag for _, tag in self.stack if tag is not None)

    def _has(self, name: str) -> bool:
        return any(tag[0] == name for tag in self.style)

    def _verbatim(self) -> bool:
        return self._has("pre") or self._has("code")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        doc = self.doc
        if tag in _VOID:
            if tag == "br":
                if self._has("pre"):
                    doc.emit("\n", self.style)
                else:
                    doc.newline(1)
            elif tag == "hr":
                doc.newline(2)
            return
        entry: Tag | None = None
        if tag in ("ul", "ol"):
            doc.newline(1 if self.lists else 2)
            self.lists.append([tag, 0])
        elif tag == "li":
            doc.newline(1)
            depth = max(len(self.lists), 1)
            if self.lists and self.lists[-1][0] == "ol":
                self.lists[-1][1] += 1
                mark = f"{self.lists[-1][1]}. "
            else:
                mark = "• "
            doc.marker("  " * (depth - 1) + mark)
        elif tag in ("td", "th"):
            if self.cells:
                doc.emit(" · ", ())
            self.cells += 1
            if tag == "th" and not self._verbatim() and not self._has("b"):
                entry = ("b",)
        elif tag == "tr":
            doc.newline(1)
            self.cells = 0
        elif tag in _PARAGRAPH_TAGS:
            doc.newline(2)
            if tag[0] == "h" and tag[1:].isdigit() and not self._verbatim() and not self._has("b"):
                entry = ("b",)
            elif tag == "blockquote" and not self._has("blockquote") and not self._verbatim():
                entry = ("blockquote",)
            elif tag == "pre" and not self._verbatim():
                entry = ("pre",)
                self.pre_start = True
        elif tag in _LINE_TAGS:
            doc.newline(1)
            if tag == "dt" and not self._verbatim() and not self._has("b"):
                entry = ("b",)
        elif tag == "code":
            if not self._verbatim():
                entry = ("code",)
        elif tag in _INLINE:
            name = _INLINE[tag]
            if not self._verbatim() and not self._has(name):
                entry = (name,)
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if (
                href.startswith(("https://", "http://"))
                and not self._has("a")
                and not self._verbatim()
                and not re.search(r"\s", href)
            ):
                entry = ("a", href)
        self.stack.append((tag, entry))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        else:
            return
        doc = self.doc
        if tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            doc.newline(1 if self.lists else 2)
        elif tag in _PARAGRAPH_TAGS:
            doc.newline(2)
        elif tag in _LINE_TAGS:
            doc.newline(1)

    def handle_data(self, data: str) -> None:
        if self._has("pre"):
            if self.pre_start:
                data = data.removeprefix("\n")
            self.pre_start = False
            if data:
                self.doc.emit(data, self.style)
            return
        self.doc.words(data, self.style)


def telegram_runs(value: str) -> list[Run]:
    """Release HTML (sanitised again here) as runs in Telegram's tag set."""
    doc = _Document()
    _feed(doc, value)
    return doc.finish()


def _feed(doc: _Document, value: str) -> None:
    cleaned = sanitize_html(value)
    if not cleaned:
        return
    parser = _Converter(doc)
    parser.feed(cleaned)
    parser.close()


def release_runs(
    release: Release,
    *,
    full_text: bool = True,
    timezone: str = "UTC",
    lead: str = "",
    reference: tuple[str, str] | None = None,
) -> list[Run]:
    """The whole message as runs: title, byline, summary, body (or its lead), files, link."""
    doc = _Document()
    title = plain(release.title)
    if lead:
        doc.emit(lead, BOLD)
        doc.space = True
    doc.words(title, BOLD)
    byline = " · ".join(
        x
        for x in (plain(release.agency), _date(release.published, timezone) if release.published else "")
        if x
    )
    if byline:
        doc.newline(1)
        doc.words(byline, ITALIC)
    summary = plain(release.summary)
    body_text = plain_body(release)
    if summary and plain(body_text).startswith(summary) and full_text:
        summary = ""
    if summary:
        doc.block(summary)
    if full_text:
        doc.newline(2)
        if release.body_html.strip():
            _feed(doc, release.body_html)
        else:
            for paragraph in re.split(r"\n\s*\n", body_text):
                doc.block(paragraph)
    elif not summary and body_text:
        doc.block(plain(re.split(r"\n\s*\n", body_text, maxsplit=1)[0]))
    files = [m for m in release.attachments if m.location.startswith(("https://", "http://"))]
    if files:
        doc.newline(2)
        for n, media in enumerate(files):
            if n:
                doc.newline(1)
            doc.emit("📎 ")
            label = plain(media.title) or Path(urlsplit(media.location).path).name or media.location
            doc.words(label, (("a", media.location),) if not re.search(r"\s", media.location) else ())
    if release.url:
        doc.block(release.url)
    if reference and reference[1]:
        doc.block(f"{reference[0]}: {reference[1]}")
    return doc.finish()


def split_runs(runs: Sequence[Run], first_limit: int, limit: int) -> list[tuple[str, str] | None]:
    """Cut the document into ``(visible text, HTML)`` parts: the first within ``first_limit``
    (a caption), the rest within ``limit``; at word boundaries, counted in UTF-16 units.

    The first element is None when nothing fits ``first_limit`` (its first word, a URL, is
    longer). Raises PermanentError when a part of ``limit`` cannot hold some word.
    """
    text = "".join(t for t, _ in runs)
    if not text.strip():
        return []
    ranges: list[tuple[int, int]] = []
    start = 0
    if first_limit != limit:
        try:  # only the first cut matters: a prefix of 2x the limit (each char >= 1 unit) decides it
            head = _ranges(text[: 2 * first_limit], 0, first_limit)
        except PermanentError:
            head = []
        if not head:
            rest = _ranges(text, 0, limit)
            return [None, *(_part(runs, s, e) for s, e in rest)]
        ranges.append(head[0])
        start = head[0][1]
    ranges.extend(_ranges(text, start, limit))
    return [_part(runs, s, e) for s, e in ranges]


def _pieces(runs: Sequence[Run], first_limit: int) -> list[tuple[str, str]]:
    """The parts to send; an empty first part when nothing fits a caption (a photo without one)."""
    parts = split_runs(runs, first_limit, TEXT_LIMIT)
    return [p if p is not None else ("", "") for p in parts]


def _ranges(text: str, start: int, limit: int) -> list[tuple[int, int]]:
    rest = text[start:]
    if not rest.strip():
        return []
    parts = split_thread(rest, Limits(max_length=limit, counting="utf16"), numbering=False)
    out: list[tuple[int, int]] = []
    cursor = 0
    for part in parts:
        at = rest.find(part, cursor)
        if at < 0:  # pragma: no cover - split_thread returns slices of its text
            raise PermanentError("telegram: could not place a part of the split text")
        out.append((start + at, start + at + len(part)))
        cursor = at + len(part)
    return out


def _part(runs: Sequence[Run], start: int, end: int) -> tuple[str, str]:
    """The visible text and the HTML of ``[start, end)`` of the document."""
    pieces: list[Run] = []
    pos = 0
    for text, style in runs:
        lo, hi = max(start, pos), min(end, pos + len(text))
        if lo < hi:
            pieces.append((text[lo - pos : hi - pos], style))
        pos += len(text)
        if pos >= end:
            break
    return "".join(t for t, _ in pieces), runs_html(pieces)


def runs_html(runs: Iterable[Run]) -> str:
    """Runs written as Telegram HTML: text escaped, tags closed and reopened as styles change."""
    out: list[str] = []
    open_tags: list[Tag] = []
    for text, style in runs:
        common = len(_common(tuple(open_tags), style))
        while len(open_tags) > common:
            out.append(f"</{open_tags.pop()[0]}>")
        for tag in style[common:]:
            out.append(_open(tag))
            open_tags.append(tag)
        out.append(_escape(text))
    while open_tags:
        out.append(f"</{open_tags.pop()[0]}>")
    return "".join(out)


def _open(tag: Tag) -> str:
    if tag[0] == "a":
        return f'<a href="{html.escape(tag[1], quote=True)}">'
    return f"<{tag[0]}>"


def _escape(text: str) -> str:
    """Text for Telegram HTML: ``&``, ``<`` and ``>`` as entities (quotes may stay)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _runs_from(post: Post) -> list[Run]:
    stored = post.extra.get("runs")
    if isinstance(stored, list):
        return [(str(text), tuple(tuple(tag) for tag in style)) for text, style in stored]
    return [(p, ()) for p in [post.text] if p]


# -- helpers ----------------------------------------------------------------------------------


def message_link(chat: Mapping[str, Any], message_id: Any) -> str:
    """t.me link to a message: public by username, or the members-only /c/ form for -100 ids."""
    username = chat.get("username")
    if isinstance(username, str) and username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = str(chat.get("id") or "")
    if chat_id.startswith("-100") and chat_id[4:].isdigit():
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return ""


def _chat(value: object) -> str | int | None:
    """The chat id as sent: "@name" stays a string, numbers become ints; None if malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value != 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _CHAT_NAME.fullmatch(text):
        return text
    if _CHAT_NUMBER.fullmatch(text):
        return int(text)
    return None


def _api_base(options: Mapping[str, Any]) -> str:
    value = options.get("api_base") or API_BASE
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise PermanentError("telegram: api_base must be an https:// URL, e.g. https://api.telegram.org")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise PermanentError("telegram: api_base must use https (http only for 127.0.0.1 or localhost)")
    if parts.query or parts.fragment:
        raise PermanentError("telegram: api_base must be a base URL without ? or #")
    return str(value).rstrip("/")


def _flag(ctx: ChannelContext, name: str, default: bool) -> bool:
    value = ctx.options.get(name)
    return default if value is None else bool(value)


def _date(value: datetime, zone_name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone: Any = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def _image_plans(images: Sequence[Media], ctx: ChannelContext) -> list[dict[str, Any]]:
    plans = []
    for n, media in enumerate(images, 1):
        name = Path(urlsplit(media.location).path if media.is_remote else media.location).name
        plans.append(
            {
                "location": media.location,
                "path": "" if media.is_remote else str(ctx.path(media.location)),
                "filename": name or f"image-{n}.jpg",
                "mime_type": media.mime_type,
            }
        )
    return plans


def _read_image(image: Mapping[str, Any]) -> tuple[str, bytes, str]:
    path = Path(str(image["path"]))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PermanentError(f"telegram: cannot read image {path}: {exc.strerror or exc}") from None
    if len(data) > PHOTO_BYTES:
        raise PermanentError(f"telegram: image {path} is {len(data)} bytes, over the 10 MB photo limit")
    name = str(image.get("filename") or path.name)
    mime = str(image.get("mime_type") or "") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return name, data, mime


def _message(result: Any, method: str) -> dict[str, Any]:
    if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
        raise PermanentError(f"telegram: {method} answered without a message_id")
    return {"id": result["message_id"], "chat": result.get("chat") or {}}


def _last_head(sent: Sequence[Mapping[str, Any]]) -> int:
    """The message the next part replies to: the last one that is not an album's extra photo."""
    heads = [m for m in sent if m["kind"] != "media"]
    return int((heads or sent)[-1]["id"])


def _receipt_messages(receipt: Receipt) -> list[dict[str, Any]]:
    stored = receipt.extra.get("messages")
    if isinstance(stored, list) and stored:
        return [{"id": int(m["id"]), "kind": str(m.get("kind") or "text")} for m in stored]
    return [{"id": int(i), "kind": "text"} for i in (receipt.ids or (receipt.remote_id,)) if i]


def _partial(
    api: _Api, chat: Mapping[str, Any], sent: Sequence[Mapping[str, Any]], total: int, exc: Exception
) -> UnknownOutcome:
    first = message_link(chat, sent[0]["id"]) or f"message {sent[0]['id']}"
    ids = ", ".join(str(m["id"]) for m in sent)
    return UnknownOutcome(
        f"telegram: the chain broke after {len(sent)} message(s) of {total} went out to {api.chat} "
        f"(ids {ids}; first: {first}): {exc}. Not retried, to avoid posting them twice: check the "
        "chat, then `syndicator resolve --sent URL` (post the rest by hand) or delete them and "
        "`syndicator resolve --retry`"
    )


class _RateLimited(TransientError):
    """A 429: nothing was posted; ``retry_after`` is Telegram's."""


class _Api:
    """Bot API calls for one operation: the token goes only into the request path."""

    def __init__(self, ctx: ChannelContext, chat: Any = None) -> None:
        self.ctx = ctx
        self.base = _api_base(ctx.options)
        self.where = describe_url(self.base)
        value = ctx.options.get("token")
        self._token = (value.reveal() if isinstance(value, Secret) else str(value or "")).strip()
        if not self._token:
            raise AuthError("telegram: token is empty")
        configured = _chat(chat if chat is not None else ctx.options.get("chat_id"))
        if configured is None:
            raise PermanentError('telegram: chat_id must be "@channelname" or a numeric chat id')
        self.chat: str | int = configured
        self.migrated_from: str | int | None = None

    def get(self, method: str, **params: Any) -> dict[str, Any]:
        result = self._call("GET", method, params={k: v for k, v in params.items() if v is not None})
        return result if isinstance(result, dict) else {}

    def send(
        self,
        method: str,
        fields: Mapping[str, Any],
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        allow: tuple[str, ...] = (),
    ) -> Any:
        """POST ``method`` to the chat (JSON, or multipart with ``files``)."""
        return self._call("POST", method, fields=fields, files=files, allow=allow)

    def _call(
        self,
        verb: str,
        method: str,
        *,
        params: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        allow: tuple[str, ...] = (),
    ) -> Any:
        for _ in range(2):  # a second time only after following a migrated chat
            resp = self._request(verb, method, params, fields, files)
            body = _json(resp)
            info = body if isinstance(body, dict) else {}
            if 200 <= resp.status_code < 300 and info.get("ok") is True:
                return info.get("result")
            description = str(info.get("description") or "")
            if any(a in description for a in allow):
                return None
            parameters = info.get("parameters") if isinstance(info.get("parameters"), dict) else {}
            new_chat = parameters.get("migrate_to_chat_id") if parameters else None
            if isinstance(new_chat, int) and self.migrated_from is None:
                self._follow(new_chat)
                if params is not None and "chat_id" in params:
                    params = {**params, "chat_id": self.chat}
                continue
            raise self._error(method, resp, info)
        raise PermanentError(f"telegram {self.where}: {method}: the chat migrated twice")  # pragma: no cover

    def _follow(self, new_chat: int) -> None:
        self.migrated_from, self.chat = self.chat, new_chat
        self.ctx.logger.warning(
            "telegram: chat %s was upgraded to a supergroup with id %s; posting there now. "
            "Update the configuration: [channels.%s] chat_id = %s",
            self.migrated_from,
            new_chat,
            self.ctx.name,
            new_chat,
        )

    def _request(
        self,
        verb: str,
        method: str,
        params: Mapping[str, Any] | None,
        fields: Mapping[str, Any] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> requests.Response:
        import requests

        url = f"{self.base}/bot{self._token}/{method}"
        kwargs: dict[str, Any] = {"allow_redirects": False}
        if verb == "GET":
            kwargs["params"] = dict(params or {})
        elif files:
            form = {"chat_id": self.chat, **(fields or {})}
            kwargs["data"] = {
                k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in form.items()
            }
            kwargs["files"] = dict(files)
        else:
            kwargs["json"] = {"chat_id": self.chat, **(fields or {})}
        try:
            resp = self.ctx.http.request(verb, url, **kwargs)
        except requests.RequestException as exc:
            raise _transport_error(self.where, method, exc, writes=verb != "GET") from None
        self.ctx.logger.debug("telegram %s: %s -> HTTP %s", self.where, method, resp.status_code)
        return resp

    def _error(self, method: str, resp: requests.Response, info: Mapping[str, Any]) -> Exception:
        code = resp.status_code
        description = str(info.get("description") or "") if info else " ".join(resp.text[:SNIPPET].split())
        description = description.replace(self._token, "<token>")[:SNIPPET]
        detail = f"telegram {self.where}: {method}: HTTP {code}" + (f" {description}" if description else "")
        parameters = info.get("parameters") if isinstance(info.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after") if parameters else None
        if code == 429 or isinstance(retry_after, (int, float)):
            wait = float(retry_after) if isinstance(retry_after, (int, float)) else None
            return _RateLimited(detail, retry_after=wait)
        if code >= 500 or code == 408:
            return TransientError(detail)
        if code in (401, 404):
            return AuthError(f"{detail} (the bot token was refused: check token)")
        if code == 403:
            return AuthError(f"{detail} (the bot was removed or blocked, or may not post in {self.chat})")
        if "chat not found" in description:
            return PermanentError(f"{detail} (check chat_id; the bot must be a member or administrator)")
        if 300 <= code < 400:
            return PermanentError(f"telegram {self.where}: {method}: HTTP {code} redirect; check api_base")
        return PermanentError(detail)


def _transport_error(where: str, method: str, exc: BaseException, *, writes: bool) -> Exception:
    import requests

    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
        return PermanentError(f"telegram {where}: {method}: invalid URL ({type(exc).__name__})")
    reason = _reason(exc)
    if _nothing_sent(exc) or not writes:
        return TransientError(f"telegram {where}: {method}: connection failed ({reason}); nothing was sent")
    if method.startswith(("edit", "delete")):  # doing it again does no harm
        return TransientError(f"telegram {where}: {method}: no answer ({reason})")
    what = (
        "timed out waiting for Telegram"
        if isinstance(exc, requests.ReadTimeout)
        else f"connection lost ({reason})"
    )
    return UnknownOutcome(
        f"telegram {where}: {method}: {what} after sending; the message may have been posted"
    )
