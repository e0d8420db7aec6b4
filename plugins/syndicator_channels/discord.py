"""discord channel: post each release to a Discord channel through a webhook.

Configuration::

    [channels.discord-press]
    type = "discord"
    webhook_url = { env = "DISCORD_WEBHOOK_URL" }   # https://discord.com/api/webhooks/ID/TOKEN
    username = "Humas Provinsi"                     # optional: overrides the webhook's name
    forum = false                                   # true: each release opens a forum post

A release becomes one message: ``content`` (at most 2,000 characters) with the title in
bold, the summary and the link, and one embed (title up to 256 characters linking the
release, an excerpt of the body, the publication time, the agency as footer, and the first
remote https image). Release text is escaped for Discord's Markdown, and every request sets
``allowed_mentions: {"parse": []}``, so no release can ever ping @everyone, a role or a user.

The message is posted with ``?wait=true`` so Discord returns it and its id is kept: a
correction edits it (``PATCH …/messages/{id}``), a retraction deletes it
(``DELETE …/messages/{id}``). Webhooks have no idempotency key (``idempotency = "none"``): a
timeout after sending is an :class:`~syndicator.errors.UnknownOutcome`. 429 is a
TransientError with Discord's ``retry_after``; 401, 403 and 404 (the webhook was deleted)
are AuthError: Discord bans IPs that keep making refused requests, so these are not retried.
The webhook URL is the credential: it is a secret, and messages show only the host.
``check`` reads the webhook (GET on its URL), which posts nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits, notice_word
from syndicator.content import plain, plain_body
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator.render import URL_RE, fit_summary, truncate
from syndicator_channels.webhook import describe_url
from syndicator_channels.wire import json_body as _json
from syndicator_channels.wire import nothing_sent
from syndicator_channels.wire import root_cause as _reason

if TYPE_CHECKING:
    import requests  # imported where it is used: loading the plugin stays cheap

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
EXCERPT_LIMIT = 1500  # the body excerpt in the embed: a card, not the whole release
FOOTER_LIMIT = 256
URL_LIMIT = 2048
THREAD_NAME_LIMIT = 100
USERNAME_LIMIT = 80
SUPPRESS_NOTIFICATIONS = 1 << 12
SNIPPET = 200
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Discord's JSON error codes that matter here.
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015

_WEBHOOK_PATH = re.compile(r"/api(?:/v[0-9]+)?/webhooks/[0-9]+/[A-Za-z0-9_.-]+/?")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_MD_INLINE = re.compile(r"([\\*_~`|\[\]<>])")
_MD_LINE = re.compile(r"^([ \t]*)(#|-|\+|[0-9]+\.)", re.MULTILINE)


class DiscordChannel(Channel):
    """Posts a message with an embed per release through a Discord webhook; edits and deletes it."""

    type = "discord"
    description = "Post each release to Discord through a webhook (embed; no pings; edit and delete)"
    idempotency = "none"
    capabilities = Capabilities(media=True, edit=True, delete=True)
    limits = Limits(max_length=CONTENT_LIMIT, counting="utf16", max_media=1)
    options = (
        Option(
            "webhook_url",
            str,
            required=True,
            secret=True,
            help="the webhook URL (from the environment: it is the credential)",
        ),
        Option("username", str, help="name shown on the messages instead of the webhook's"),
        Option("avatar_url", str, help="https URL of an avatar shown instead of the webhook's"),
        Option("thread_id", (str, int), help="post in this thread (or forum post) of the webhook's channel"),
        Option("forum", bool, default=False, help="the channel is a forum: each release opens a post"),
        Option("color", int, help="the embed's colour as an integer (0x1D4ED8 = 1920728)"),
        Option("silent", bool, default=False, help="post without a push notification"),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Config-time checks; never echoes the webhook URL."""
        problems: list[tuple[str, str]] = []
        try:
            _webhook_url(options)
        except PermanentError as exc:
            problems.append(("webhook_url", str(exc).removeprefix("discord: webhook_url ")))
        name = options.get("username")
        if isinstance(name, str):
            lowered = name.lower()
            if not 1 <= len(name.strip()) <= USERNAME_LIMIT:
                problems.append(("username", f"must be 1 to {USERNAME_LIMIT} characters"))
            elif "discord" in lowered or "clyde" in lowered or any(c in name for c in "@#:") or "```" in name:
                problems.append(("username", 'Discord refuses names with "discord", "clyde", @, # or :'))
        avatar = options.get("avatar_url")
        if isinstance(avatar, str) and not (avatar.startswith("https://") and urlsplit(avatar).hostname):
            problems.append(("avatar_url", "must be an https:// URL"))
        thread = options.get("thread_id")
        if thread is not None and (isinstance(thread, bool) or not _SNOWFLAKE.fullmatch(str(thread))):
            problems.append(("thread_id", f"must be a numeric Discord id, got {thread!r}"))
        if thread is not None and options.get("forum"):
            problems.append(
                ("forum", "set either forum = true (a new post per release) or thread_id, not both")
            )
        color = options.get("color")
        if isinstance(color, int) and not 0 <= color <= 0xFFFFFF:
            problems.append(("color", "must be between 0 and 16777215 (0xFFFFFF)"))
        return problems

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Build ``content`` and the embed. No I/O."""
        return self._post(release, ctx, lead="")

    def render_correction(self, release: Release, original: Receipt, ctx: ChannelContext) -> Post:
        """A new message led by "Ralat"/"Correction" (used when on_change = "correct")."""
        post = self._post(release, ctx, lead=notice_word("correction", release.language))
        return replace(post, extra={**post.extra, "correction": True})

    def render_retraction(
        self, release: Release, original: Receipt, reason: str, ctx: ChannelContext
    ) -> Post:
        """A notice (used only where the core posts one instead of deleting)."""
        lead = notice_word("retraction", release.language)
        head = f"**{escape_markdown(f'{lead}: {plain(release.title)}')}**"
        link = f"<{original.url}>" if original.url else ""
        content = fit_summary(head, escape_markdown(plain(reason)), link, self.limits)
        payload = {"content": content, "allowed_mentions": {"parse": []}, **_identity(ctx)}
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=content,
            title=plain(release.title),
            extra={"payload": payload, "retraction_of": original.to_dict()},
        )

    def _post(self, release: Release, ctx: ChannelContext, lead: str) -> Post:
        title = plain(release.title)
        url = release.url if release.url.startswith(("https://", "http://")) else ""
        summary = plain(release.summary)
        body = plain_body(release)
        if not summary and body:
            summary = plain(re.split(r"\n\s*\n", body, maxsplit=1)[0])
        shown_title = truncate(title, Limits(max_length=TITLE_LIMIT, counting="utf16"))
        head = escape_markdown(f"{lead}: {shown_title}" if lead else shown_title)
        override = (release.overrides.get(ctx.name) or {}).get("text")
        if isinstance(override, str) and override.strip():
            content = truncate(escape_markdown(override.strip()), self.limits)
        else:
            content = fit_summary(
                f"**{head}**", escape_markdown(summary), f"<{url}>" if url else "", self.limits
            )

        embed: dict[str, Any] = {"title": truncate(title, Limits(max_length=TITLE_LIMIT, counting="utf16"))}
        if url and len(url) <= URL_LIMIT:
            embed["url"] = url
        excerpt = body
        if excerpt and summary and plain(excerpt).startswith(summary):
            rest = re.split(r"\n\s*\n", excerpt, maxsplit=1)
            excerpt = rest[1] if len(rest) > 1 else ""
        if excerpt.strip():
            embed["description"] = truncate(
                escape_markdown(excerpt.strip()), Limits(max_length=EXCERPT_LIMIT, counting="utf16")
            )
        if release.published:
            stamp = release.published if release.published.tzinfo else release.published.replace(tzinfo=UTC)
            embed["timestamp"] = stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
        agency = plain(release.agency)
        if agency:
            embed["footer"] = {"text": truncate(agency, Limits(max_length=FOOTER_LIMIT, counting="utf16"))}
        image = next(
            (m for m in release.images if m.location.startswith("https://") and len(m.location) <= URL_LIMIT),
            None,
        )
        if image is not None:
            embed["image"] = {"url": image.location}
        color = ctx.options.get("color")
        if isinstance(color, int) and not isinstance(color, bool):
            embed["color"] = color

        payload: dict[str, Any] = {
            "content": content,
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
            **_identity(ctx),
        }
        if ctx.options.get("forum"):
            payload["thread_name"] = truncate(title, Limits(max_length=THREAD_NAME_LIMIT, counting="utf16"))
        if ctx.options.get("silent"):
            payload["flags"] = SUPPRESS_NOTIFICATIONS
        skipped = [m.location for m in release.images if not m.location.startswith("https://")]
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=content,
            title=title,
            link=url,
            media=(image,) if image is not None else (),
            extra={"payload": payload, **({"skipped_media": skipped} if skipped else {})},
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """POST ?wait=true; the created message (and its id) comes back."""
        hook = _Hook(ctx)
        payload = dict(post.extra.get("payload") or {"content": post.text})
        payload["allowed_mentions"] = {"parse": []}  # whatever built the payload
        params = {"wait": "true", **hook.thread_param()}
        message = hook.call("POST", "", "execute", params=params, payload=payload)
        message_id = str(message.get("id") or "")
        if not message_id:
            raise PermanentError(f"discord {hook.where}: the webhook answered without a message id")
        channel_id = str(message.get("channel_id") or "")
        extra: dict[str, Any] = {"channel_id": channel_id}
        thread = hook.thread_param().get("thread_id") or (channel_id if payload.get("thread_name") else "")
        if thread:
            extra["thread_id"] = thread
        guild = str(message.get("guild_id") or "")
        url = (
            f"https://discord.com/channels/{guild}/{channel_id}/{message_id}" if guild and channel_id else ""
        )
        return Receipt(remote_id=message_id, url=url, ids=(message_id,), extra=extra)

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        """PATCH the message with the new content and embed."""
        hook = _Hook(ctx)
        payload = dict(post.extra.get("payload") or {"content": post.text})
        body = {k: v for k, v in payload.items() if k in ("content", "embeds")}
        body["allowed_mentions"] = {"parse": []}
        message_id = _message_id(receipt)
        hook.call("PATCH", f"/messages/{message_id}", "edit", params=_thread(receipt, hook), payload=body)
        return receipt

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """DELETE the message; one already gone counts as deleted."""
        hook = _Hook(ctx)
        message_id = _message_id(receipt)
        hook.call("DELETE", f"/messages/{message_id}", "delete", params=_thread(receipt, hook), gone_ok=True)

    def check(self, ctx: ChannelContext) -> str:
        """GET the webhook: its name and channel, without posting."""
        hook = _Hook(ctx)
        info = hook.call("GET", "", "read webhook")
        name = info.get("name") or "?"
        where = f"channel {info.get('channel_id') or '?'}"
        if info.get("guild_id"):
            where += f" (server {info['guild_id']})"
        return f"webhook {name!r} posts to {where}"


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(DiscordChannel)


# -- helpers (module level so other plugins and tests can use them) -------------------------


def escape_markdown(text: str) -> str:
    """Text that Discord shows as written: Markdown characters escaped, URLs left whole.

    Discord drops a backslash before any punctuation, so the escapes are invisible.
    """
    out: list[str] = []
    last = 0
    for m in URL_RE.finditer(text):
        out.append(_MD_INLINE.sub(r"\\\1", text[last : m.start()]))
        out.append(m.group())
        last = m.end()
    out.append(_MD_INLINE.sub(r"\\\1", text[last:]))
    return _MD_LINE.sub(_escape_line_start, "".join(out))


def _escape_line_start(m: re.Match[str]) -> str:
    mark = m.group(2)
    return m.group(1) + (mark[:-1] + "\\." if mark.endswith(".") else "\\" + mark)


def _identity(ctx: ChannelContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(ctx.options.get("username"), str):
        out["username"] = ctx.options["username"]
    if isinstance(ctx.options.get("avatar_url"), str):
        out["avatar_url"] = ctx.options["avatar_url"]
    return out


def _message_id(receipt: Receipt) -> str:
    message_id = receipt.remote_id or (receipt.ids[0] if receipt.ids else "")
    if not _SNOWFLAKE.fullmatch(message_id):
        raise PermanentError(f"discord: the receipt has no message id (got {message_id!r})")
    return message_id


def _thread(receipt: Receipt, hook: _Hook) -> dict[str, str]:
    thread = str(receipt.extra.get("thread_id") or "")
    return {"thread_id": thread} if thread else hook.thread_param()


def _webhook_url(options: Mapping[str, Any]) -> str:
    """The revealed URL, checked; errors never include it."""
    value = options.get("webhook_url")
    url = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(url, str) or not url:
        raise PermanentError("discord: webhook_url is required")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise PermanentError("discord: webhook_url must be an https:// URL with a host")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise PermanentError("discord: webhook_url must use https (http only for 127.0.0.1 or localhost)")
    if not _WEBHOOK_PATH.fullmatch(parts.path):
        raise PermanentError("discord: webhook_url must look like https://discord.com/api/webhooks/ID/TOKEN")
    if parts.query or parts.fragment:
        raise PermanentError("discord: webhook_url must have no ?query (use the thread_id option)")
    return url.rstrip("/")


class _Hook:
    """Calls on one webhook: the URL (the credential) is never put in a message."""

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self._url = _webhook_url(ctx.options)
        self.where = describe_url(self._url)

    def thread_param(self) -> dict[str, str]:
        thread = self.ctx.options.get("thread_id")
        return {"thread_id": str(thread)} if thread is not None and not isinstance(thread, bool) else {}

    def call(
        self,
        verb: str,
        suffix: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
        gone_ok: bool = False,
    ) -> dict[str, Any]:
        import requests

        kwargs: dict[str, Any] = {"params": dict(params or {}), "allow_redirects": False}
        if payload is not None:
            kwargs["data"] = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            resp = self.ctx.http.request(verb, self._url + suffix, **kwargs)
        except requests.RequestException as exc:
            raise _transport_error(self.where, what, exc, posts=verb == "POST") from None
        self.ctx.logger.debug("discord %s: %s %s -> HTTP %s", self.where, verb, what, resp.status_code)
        body = _json(resp)
        info = body if isinstance(body, dict) else {}
        if 200 <= resp.status_code < 300:
            return info
        if gone_ok and resp.status_code == 404 and info.get("code") == UNKNOWN_MESSAGE:
            self.ctx.logger.info("discord %s: the message was already deleted", self.where)
            return {}
        raise self._error(resp, info, what)

    def _error(self, resp: requests.Response, info: Mapping[str, Any], what: str) -> Exception:
        code = resp.status_code
        text = str(info.get("message") or "") if info else " ".join(resp.text[:SNIPPET].split())
        token = urlsplit(self._url).path.rstrip("/").rsplit("/", 1)[-1]
        text = text.replace(self._url, "<webhook>").replace(token, "<token>")[:SNIPPET]
        if info.get("code"):
            text += f" (code {info['code']})"
        if isinstance(info.get("errors"), dict):
            text += ": " + json.dumps(info["errors"], ensure_ascii=False, separators=(",", ":"))[:SNIPPET]
        detail = f"discord {self.where}: {what}: HTTP {code}" + (f" {text}" if text else "")
        if code == 429:
            return TransientError(detail, retry_after=_retry_after(resp, info))
        if code >= 500 or code == 408:
            return TransientError(detail, retry_after=_retry_after(resp, info))
        if code == 404 and info.get("code") == UNKNOWN_MESSAGE:
            return PermanentError(f"{detail}: the message no longer exists")
        if code == 404:
            return AuthError(f"{detail}: the webhook was deleted; create a new one and set webhook_url")
        if code in (401, 403):
            return AuthError(f"{detail}: the webhook token was refused")
        if 300 <= code < 400:
            return PermanentError(f"discord {self.where}: {what}: HTTP {code} redirect; check webhook_url")
        return PermanentError(detail)


def _retry_after(resp: requests.Response, info: Mapping[str, Any]) -> float | None:
    """Seconds to wait: the JSON ``retry_after`` (a float), else the Retry-After header."""
    value = info.get("retry_after")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, float(value))
    for header in ("Retry-After", "X-RateLimit-Reset-After"):
        try:
            return max(0.0, float(resp.headers.get(header, "")))
        except ValueError:
            continue
    return None


def _transport_error(where: str, what: str, exc: BaseException, *, posts: bool) -> Exception:
    import requests

    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
        return PermanentError(f"discord {where}: {what}: invalid webhook URL ({type(exc).__name__})")
    reason = _reason(exc)
    if nothing_sent(exc) or not posts:  # nothing went out, or doing it again does no harm
        return TransientError(f"discord {where}: {what}: connection failed ({reason})")
    what_happened = (
        "timed out waiting for Discord"
        if isinstance(exc, requests.ReadTimeout)
        else f"connection lost ({reason})"
    )
    return UnknownOutcome(
        f"discord {where}: {what}: {what_happened} after sending; the message may have been posted"
    )
