"""matrix channel: post each release to a Matrix room through the client-server API.

Configuration::

    [channels.matrix-press]
    type = "matrix"
    homeserver = "https://matrix.example.go.id"   # https (http only for 127.0.0.1/localhost)
    access_token = { env = "MATRIX_TOKEN" }        # a bot user's token (keep its device!)
    room_id = "#siaran-pers:example.go.id"         # "!opaque-id" or "#alias:server"
    msgtype = "m.notice"                           # "m.text" (default) or "m.notice" (bots)

A release becomes one ``m.room.message`` with a plain ``body`` and a sanitised HTML
``formatted_body``, followed by one ``m.image`` per image (uploaded to the media
repository first). Every event is sent with ``PUT .../send/m.room.message/{txnId}``, the
txnId derived from the delivery's idempotency key (``key``, ``key:img:N``): the homeserver
answers a retransmission with the original event id instead of posting again, so a retry
after a timeout is safe, hence ``idempotency = "key"``. Transaction ids are scoped to the
access token's device: a new login (new device) would post again.

``delete`` redacts every event of the receipt. The receipt's ``remote_id`` is the text
event's id, ``ids`` all event ids, ``url`` a matrix.to link, ``extra["room_id"]`` the room.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.content import escape, plain, plain_body, sanitize_html
from syndicator.errors import AuthError, PermanentError, TransientError
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator_channels.webhook import describe_url
from syndicator_channels.wire import json_body as _json
from syndicator_channels.wire import root_cause as _reason

if TYPE_CHECKING:
    import requests  # imported where it is used: loading the plugin stays cheap

API = "/_matrix/client/v3"
MEDIA_API = "/_matrix/media/v3"
MSGTYPES = ("m.text", "m.notice")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: The whole event must stay under 65,536 bytes; leave room for what the server adds.
MAX_CONTENT_BYTES = 60_000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
SNIPPET = 200

#: HTML the Matrix spec recommends clients render (img only with mxc:// URLs: dropped).
MATRIX_TAGS = {
    "font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol",
    "sup", "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div",
    "table", "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "details", "summary",
}  # fmt: skip
MATRIX_ATTRIBUTES = {"a": {"href"}}


class MatrixChannel(Channel):
    """Sends each release (text + HTML, then its images) to one Matrix room."""

    type = "matrix"
    description = "Post each release to a Matrix room (HTML message and images; idempotent txn ids)"
    idempotency = "key"
    capabilities = Capabilities(media=True, delete=True)
    limits = Limits(counting="bytes", max_media=10, max_media_bytes=MAX_IMAGE_BYTES)
    options = (
        Option("homeserver", str, required=True, help="base URL, e.g. https://matrix.example.org"),
        Option("access_token", str, required=True, secret=True, help="the bot's access token"),
        Option("room_id", str, required=True, help='"!room-id" or "#alias:server"'),
        Option("msgtype", str, default="m.text", choices=MSGTYPES, help='"m.text" or "m.notice"'),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Config-time checks of the homeserver URL and the room."""
        problems: list[tuple[str, str]] = []
        try:
            _homeserver(options)
        except PermanentError as exc:
            problems.append(("homeserver", str(exc).removeprefix("matrix: homeserver ")))
        room = options.get("room_id")
        if not isinstance(room, str) or not _room_ok(room):
            problems.append(("room_id", f'expected "!room-id" or "#alias:server", got {room!r}'))
        return problems

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Build the message content and the image list. No I/O (files are read in publish)."""
        content = message_content(release, str(ctx.options.get("msgtype") or "m.text"), ctx.timezone)
        images = []
        shown = release.images[: self.limits.max_media]  # the rest would flood the room
        if len(release.images) > len(shown):
            ctx.logger.warning(
                "matrix: %s has %d images; sending the first %d", release.key, len(release.images), len(shown)
            )
        for n, media in enumerate(shown, 1):
            name = Path(media.location.split("?")[0]).name or f"image-{n}"
            images.append(
                {
                    "n": n,
                    "location": media.location,
                    "path": "" if media.is_remote else str(ctx.path(media.location)),
                    "filename": name,
                    "alt": plain(media.alt) or plain(media.title),
                    "mime_type": media.mime_type,
                }
            )
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=content["body"],
            title=plain(release.title),
            link=release.url,
            media=shown,
            extra={"content": content, "images": images},
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Upload images, send the message, then one m.image per image; all txn-id idempotent."""
        api = _Api(ctx)
        room = api.room()
        key = ctx.idempotency_key or "syn-" + _hash(f"{ctx.name}\n{post.release_key}")
        uploads: list[tuple[Mapping[str, Any], str, dict[str, Any]]] = []
        skipped: list[str] = []
        for image in post.extra.get("images") or ():
            uploaded = api.upload(image)
            if uploaded is None:
                skipped.append(image["location"])
            else:
                uploads.append((image, *uploaded))
        event_id = api.send(room, key, post.extra["content"])
        ids = [event_id]
        for image, mxc, info in uploads:
            content: dict[str, Any] = {
                "msgtype": "m.image",
                "body": image["alt"] or image["filename"],
                "filename": image["filename"],
                "url": mxc,
                "info": info,
                "m.mentions": {},
            }
            ids.append(api.send(room, f"{key}:img:{image['n']}", content))
        extra: dict[str, Any] = {"room_id": room}
        if skipped:
            extra["skipped_media"] = skipped
        ctx.logger.debug("matrix %s: sent %d event(s) to %s", api.where, len(ids), room)
        return Receipt(remote_id=event_id, url=matrix_to(room, event_id), ids=tuple(ids), extra=extra)

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """Redact every event of the receipt (an event already gone counts as done)."""
        api = _Api(ctx)
        room = str(receipt.extra.get("room_id") or "") or api.room()
        base = ctx.idempotency_key or "syn-" + _hash(receipt.remote_id)
        for n, event_id in enumerate(receipt.ids or (receipt.remote_id,), 1):
            if event_id:
                api.redact(room, event_id, f"{base}:redact:{n}")

    def check(self, ctx: ChannelContext) -> str:
        """whoami and joined_rooms (resolving an alias): read-only, posts nothing."""
        api = _Api(ctx)
        me = api.call("GET", f"{API}/account/whoami", what="whoami")
        user = str(me.get("user_id") or "?")
        room = api.room()
        joined = api.call("GET", f"{API}/joined_rooms", what="joined_rooms").get("joined_rooms") or []
        label = api.room_label if api.room_label == room else f"{api.room_label} ({room})"
        if room not in joined:
            raise PermanentError(
                f"matrix {api.where}: {user} is not a member of {label}; invite and join it first"
            )
        device = f" (device {me['device_id']})" if me.get("device_id") else ""
        return f"logged in as {user}{device}; member of {label}"


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(MatrixChannel)


# -- helpers (module level so other plugins and tests can use them) -------------------------


def message_content(release: Release, msgtype: str = "m.text", timezone: str = "UTC") -> dict[str, Any]:
    """The ``m.room.message`` content for a release, kept under the event size limit."""
    content = _content(release, msgtype, timezone, None)
    size = _size(content)
    if size <= MAX_CONTENT_BYTES:
        return content
    body = plain_body(release)
    limit = len(body)
    while size > MAX_CONTENT_BYTES and limit > 0:  # shrink the body until the event fits
        limit = max(0, limit - (size - MAX_CONTENT_BYTES) // 2 - 100)
        content = _content(release, msgtype, timezone, limit)
        size = _size(content)
    return content


def matrix_html(value: str) -> str:
    """Sanitise to the project's safelist, then to the HTML subset Matrix clients render."""
    import nh3

    cleaned = sanitize_html(value)
    if not cleaned:
        return ""
    return str(
        nh3.clean(
            cleaned,
            tags=MATRIX_TAGS,
            attributes=MATRIX_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel=None,
        )
    ).strip()


def matrix_to(room: str, event_id: str) -> str:
    """A matrix.to permalink (identifiers percent-encoded, as the spec asks)."""
    return f"https://matrix.to/#/{quote(room, safe='')}/{quote(event_id, safe='')}"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _size(content: Mapping[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode("utf-8"))


def _format_date(value: datetime, zone_name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone: Any = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def _content(release: Release, msgtype: str, timezone: str, body_limit: int | None) -> dict[str, Any]:
    title = plain(release.title)
    byline = " · ".join(
        x
        for x in (
            plain(release.agency),
            _format_date(release.published, timezone) if release.published else "",
        )
        if x
    )
    summary = plain(release.summary)
    body = plain_body(release)
    if body_limit is not None:
        body = body[:body_limit].rstrip() + "…"
    if summary and body.startswith(summary):
        summary = ""
    links = [(m.title or m.location, m.location) for m in release.attachments if m.is_remote]

    text = [title + (f"\n{byline}" if byline else "")]
    html = [f"<h3>{escape(title)}</h3>"]
    if byline:
        html.append(f"<p><em>{escape(byline)}</em></p>")
    if summary:
        text.append(summary)
        html.append(f"<p><strong>{escape(summary)}</strong></p>")
    if body:
        text.append(body)
        if body_limit is None and release.body_html.strip():
            html.append(matrix_html(release.body_html))
        else:
            html.extend("<p>" + escape(p).replace("\n", "<br>") + "</p>" for p in re.split(r"\n\s*\n", body))
    if release.url:
        text.append(release.url)
        html.append(f'<p><a href="{escape(release.url)}">{escape(release.url)}</a></p>')
    if links:
        text.append("\n".join(f"- {name}: {url}" for name, url in links))
        items = "".join(f'<li><a href="{escape(url)}">{escape(name)}</a></li>' for name, url in links)
        html.append(f"<ul>{items}</ul>")
    return {
        "msgtype": msgtype,
        "body": "\n\n".join(text),
        "format": "org.matrix.custom.html",
        "formatted_body": "\n".join(h for h in html if h),
        "m.mentions": {},  # press-release text must never ping anyone
    }


def _room_ok(room: str) -> bool:
    if room.startswith("!"):
        return len(room) > 1 and not re.search(r"\s", room)
    if room.startswith("#"):
        local, _, server = room[1:].partition(":")
        return bool(local) and bool(server) and not re.search(r"\s", room)
    return False


def _homeserver(options: Mapping[str, Any]) -> str:
    value = options.get("homeserver")
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise PermanentError("matrix: homeserver must be an https:// URL, e.g. https://matrix.example.org")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise PermanentError("matrix: homeserver must use https (http only for 127.0.0.1 or localhost)")
    if parts.query or parts.fragment:
        raise PermanentError("matrix: homeserver must be a base URL without ? or #")
    return str(value).rstrip("/")


class _Api:
    """The calls one operation makes: token added per request (never to other hosts)."""

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.base = _homeserver(ctx.options)
        self.where = describe_url(self.base)
        room = ctx.options.get("room_id")
        if not isinstance(room, str) or not _room_ok(room):
            raise PermanentError(f'matrix: room_id must be "!room-id" or "#alias:server", got {room!r}')
        self.room_label = room
        value = ctx.options.get("access_token")
        self._token = value.reveal() if isinstance(value, Secret) else str(value or "")
        if not self._token:
            raise AuthError("matrix: access_token is empty")

    def room(self) -> str:
        if self.room_label.startswith("!"):
            return self.room_label
        data = self.call(
            "GET",
            f"{API}/directory/room/{quote(self.room_label, safe='')}",
            what=f"resolve {self.room_label}",
        )
        room = data.get("room_id")
        if not isinstance(room, str) or not room:
            raise PermanentError(f"matrix {self.where}: alias {self.room_label} resolved to no room")
        return room

    def send(self, room: str, txn: str, content: Mapping[str, Any]) -> str:
        path = f"{API}/rooms/{quote(room, safe='')}/send/m.room.message/{quote(txn, safe='')}"
        data = self.call("PUT", path, json_body=content, what="send")
        event_id = data.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise TransientError(f"matrix {self.where}: send answered without an event_id")
        return event_id

    def redact(self, room: str, event_id: str, txn: str) -> None:
        path = f"{API}/rooms/{quote(room, safe='')}/redact/{quote(event_id, safe='')}/{quote(txn, safe='')}"
        answer = self.call("PUT", path, json_body={}, what="redact", allow=("M_NOT_FOUND",))
        if answer.get("errcode") == "M_NOT_FOUND":
            self.ctx.logger.info("matrix %s: event %s is already gone", self.where, event_id)

    def upload(self, image: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Upload one image; None (with a warning) when it cannot be had or is too large."""
        if image["path"]:
            try:
                data = Path(image["path"]).read_bytes()
            except OSError as exc:
                raise PermanentError(
                    f"matrix: cannot read image {image['path']}: {exc.strerror or exc}"
                ) from exc
            mime = (
                image["mime_type"] or mimetypes.guess_type(image["filename"])[0] or "application/octet-stream"
            )
        else:
            fetched = self._download(image["location"])
            if fetched is None:
                return None
            data, served = fetched
            mime = image["mime_type"] or served or mimetypes.guess_type(image["filename"])[0] or "image/jpeg"
        answer = self.call(
            "POST",
            f"{MEDIA_API}/upload",
            data=data,
            content_type=mime,
            params={"filename": image["filename"]},
            what="upload",
            allow=("M_TOO_LARGE",),
        )
        if answer.get("errcode") == "M_TOO_LARGE":
            self.ctx.logger.warning(
                "matrix %s: image %s too large for the homeserver; skipped", self.where, image["filename"]
            )
            return None
        uri = answer.get("content_uri")
        if not isinstance(uri, str) or not uri.startswith("mxc://"):
            raise TransientError(f"matrix {self.where}: upload answered without a content_uri")
        return uri, {"mimetype": mime, "size": len(data)}

    def _download(self, url: str) -> tuple[bytes, str] | None:
        where = describe_url(url)
        import requests

        try:
            with self.ctx.http.get(url, stream=True, timeout=self.ctx.options.get("timeout")) as resp:
                if resp.status_code >= 500 or resp.status_code in (408, 429):
                    raise TransientError(f"matrix: image {where}: HTTP {resp.status_code}")
                if resp.status_code >= 400:
                    self.ctx.logger.warning("matrix: image %s: HTTP %s; skipped", url, resp.status_code)
                    return None
                chunks: list[bytes] = []
                total = 0
                for chunk in resp.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > MAX_IMAGE_BYTES:
                        self.ctx.logger.warning(
                            "matrix: image %s is over %d bytes; skipped", url, MAX_IMAGE_BYTES
                        )
                        return None
                    chunks.append(chunk)
                served = resp.headers.get("Content-Type", "").split(";")[0].strip()
                return b"".join(chunks), served if served.startswith("image/") else ""
        except requests.RequestException as exc:
            raise TransientError(f"matrix: image {where}: {_reason(exc)}") from None

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str = "",
        params: Mapping[str, str] | None = None,
        allow: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """One API call: the JSON answer, ``{"errcode": ...}`` for an allowed 4xx, or a typed error."""
        import requests

        headers = {"Authorization": f"Bearer {self._token}"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self.ctx.http.request(
                method,
                self.base + path,
                json=json_body,
                data=data,
                params=params,
                headers=headers,
                timeout=self.ctx.options.get("timeout"),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # safe to retry: sends reuse their txn id, other calls change nothing or only add media
            what_happened = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            raise TransientError(f"matrix {self.where}: {what}: {what_happened} ({_reason(exc)})") from None
        self.ctx.logger.debug("matrix %s: %s %s -> HTTP %s", self.where, method, what, resp.status_code)
        body = _json(resp)
        if 200 <= resp.status_code < 300:
            return body if isinstance(body, dict) else {}
        if 400 <= resp.status_code < 500 and isinstance(body, dict) and body.get("errcode") in allow:
            return {"errcode": body["errcode"]}
        raise self._error(resp, body, what)

    def _error(self, resp: requests.Response, body: Any, what: str) -> Exception:
        code = resp.status_code
        info = body if isinstance(body, dict) else {}
        errcode = str(info.get("errcode") or "")
        message = str(info.get("error") or "") if info else " ".join(resp.text[:SNIPPET].split())
        text = f"{errcode}: {message}" if errcode and message else errcode or message
        text = text.replace(self._token, "<token>")[:SNIPPET] if self._token else text[:SNIPPET]
        detail = f"matrix {self.where}: {what}: HTTP {code}" + (f" {text}" if text else "")
        if code == 429 or errcode == "M_LIMIT_EXCEEDED":
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if retry_after is None and isinstance(info.get("retry_after_ms"), (int, float)):
                retry_after = float(info["retry_after_ms"]) / 1000.0
            return TransientError(detail, retry_after=retry_after)
        if code >= 500 or code == 408:
            return TransientError(detail, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        if code == 401 or errcode in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            hint = " (soft logout: log the bot in again)" if info.get("soft_logout") else ""
            return AuthError(detail + hint)
        if code == 403:
            return AuthError(detail)
        if 300 <= code < 400:
            return PermanentError(
                f"matrix {self.where}: {what}: HTTP {code} redirect; set homeserver to the final URL"
            )
        return PermanentError(detail)
