"""bluesky channel: post each release to a Bluesky (AT Protocol) account.

Configuration::

    [channels.bluesky]
    type = "bluesky"
    handle = "humas.example.go.id"
    app_password = { env = "BLUESKY_APP_PASSWORD" }   # Settings > Privacy and security > App passwords
    thread = true                                     # optional: long releases as threads

Plain ``requests`` rather than the ``atproto`` SDK: the protocol is a handful of JSON calls,
and owning them lets us choose the record key, persist the session where we want, keep the
import cheap, and test at the wire level. The SDK would add pydantic models for the whole
lexicon and hide the rkey and session handling this channel depends on.

Session: ``com.atproto.server.createSession`` (handle and app password) only when there is
no usable session; the tokens are kept in memory and in ``session_file`` (mode 0600), and
renewed with ``refreshSession`` when the access token is about to expire or the server says
``ExpiredToken``. Logins are rate-limited (30 per 5 minutes, 300 a day), so never one per post.

Text: at most 300 graphemes (and 3,000 UTF-8 bytes). Links are not detected by Bluesky: each
needs a link facet with UTF-8 **byte** offsets, which :func:`facets_for` computes; hashtags
get tag facets. Every link is shown shortened (``example.go.id/rilis/…``, at most 30
graphemes, which is what the text is fitted with) and linked by its facet to the whole URL,
so an 800-character campaign link costs 30 graphemes (``shorten_links = false`` to show them
whole).

Embeds (on the first post): the images with their alt text (``app.bsky.embed.images``, at
most 4, each within ``max_image_bytes``), or, when the release has none, a link card
(``app.bsky.embed.external``: the release's title, summary and URL; ``embed = "card"`` also
uses the first image as its thumbnail).

Idempotency: every post gets a record key (a TID) derived from the delivery's idempotency
key, the part's index and the release's date. ``createRecord`` with that key cannot make a
second post: a retry finds the record (``getRecord``) and reuses it, so ``idempotency =
"key"``. A thread is a chain of replies with root and parent strong refs (uri + cid).
Retractions delete the records (``deleteRecord``); Bluesky has no usable edit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.errors import AuthError, PermanentError, TransientError
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option
from syndicator.render import count, graphemes, truncate
from syndicator_channels.social import (
    DISPLAY_LINK,
    SOCIAL_OPTIONS,
    Rendered,
    base_url,
    byte_offset,
    json_or_none,
    link_spans,
    load_image,
    make_post,
    render_social,
    secret_value,
    shorten_urls,
    snippet,
    summary_of,
    tag_spans,
    tagged,
    validate_social,
)

if TYPE_CHECKING:
    import requests

DEFAULT_SERVICE = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
MAX_BYTES = 3000  # the post lexicon's maxLength for text, in UTF-8 bytes
MAX_IMAGE_BYTES = 1_000_000
THUMB_BYTES = 1_000_000
EMBEDS = ("auto", "images", "card", "none")
REFRESH_MARGIN = 300  # seconds: refresh an access token this close to its expiry
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
MAX_PARTS = 64  # the record key keeps 6 bits for the part index
#: A release without a date still gets a stable record key, in 2024.
UNDATED_US = 1_704_067_200_000_000
TOKEN_ERRORS = ("ExpiredToken", "InvalidToken")

_sessions: dict[tuple[str, str], dict[str, str]] = {}
_session_lock = threading.RLock()


class BlueskyChannel(Channel):
    """Posts through the PDS's XRPC API with facets, embeds and deterministic record keys."""

    type = "bluesky"
    description = "Post to Bluesky: 300 graphemes, link/tag facets, images or link card, threads"
    idempotency = "key"
    limits = Limits(
        max_length=300, counting="graphemes", url_length=None, max_media=4, max_media_bytes=MAX_IMAGE_BYTES
    )
    capabilities = Capabilities(threads=True, media=True, edit=False, delete=True)
    options = (
        Option("service", str, default=DEFAULT_SERVICE, help="the PDS or entryway URL"),
        Option("handle", str, required=True, help="the account's handle (or DID)"),
        Option(
            "app_password", str, required=True, secret=True, help="an app password (not the account password)"
        ),
        Option(
            "session_file",
            str,
            help="where the session tokens are kept (default: state/bluesky-NAME.session.json beside the config)",
        ),
        Option("language", str, help="the posts' language, e.g. id (default: the release language)"),
        Option(
            "embed",
            str,
            default="auto",
            choices=EMBEDS,
            help="images, link card, or none (auto: images if any)",
        ),
        Option(
            "shorten_links",
            bool,
            default=True,
            help="show the release link shortened (the facet keeps it whole)",
        ),
        Option(
            "max_image_bytes",
            int,
            default=MAX_IMAGE_BYTES,
            help="skip images larger than this many bytes (the lexicon allows up to 1,000,000 or more)",
        ),
        *SOCIAL_OPTIONS,
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = validate_social(options, ("service",), cls.limits)
        handle = options.get("handle")
        if isinstance(handle, str) and (not handle.strip() or handle.startswith("@") or " " in handle):
            problems.append(("handle", 'expected a handle like "name.bsky.social" (without "@") or a DID'))
        size = options.get("max_image_bytes")
        if isinstance(size, int) and size < 1:
            problems.append(("max_image_bytes", f"expected a positive integer, got {size}"))
        return problems

    def limits_for(self, options: Mapping[str, Any]) -> Limits:
        return replace(self.limits, max_media_bytes=int(options.get("max_image_bytes") or MAX_IMAGE_BYTES))

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        limits = self.limits_for(ctx.options)
        url = release.url.strip()
        shorten = bool(ctx.options.get("shorten_links", True))
        # Fit with every URL counted as its shortened form; the forms replace the URLs after.
        fit = replace(limits, url_length=DISPLAY_LINK if shorten else None)
        rendered, records = self._fit(release, ctx, fit, limits, shorten)
        # 300 graphemes can exceed the 3,000-byte cap (emoji sequences): fit tighter until it holds.
        while max(len(r["text"].encode("utf-8")) for r in records) > MAX_BYTES:
            worst = max(len(r["text"].encode("utf-8")) / max(1, len(graphemes(r["text"]))) for r in records)
            tighter = min(int(MAX_BYTES / worst) - 1, (fit.max_length or 2) - 1)
            if tighter < 1:
                raise PermanentError("bluesky: the text cannot fit in 3,000 bytes")
            fit = replace(fit, max_length=tighter)
            rendered, records = self._fit(release, ctx, fit, limits, shorten)
        if len(records) > MAX_PARTS:
            raise PermanentError(f"bluesky: a thread of {len(records)} parts is too long (max {MAX_PARTS})")
        mode = str(ctx.options.get("embed") or "auto")
        if mode == "auto":
            mode = "images" if rendered.media else ("card" if url else "none")
        media = rendered.media
        extra: dict[str, Any] = {"records": records, "embed": mode, "tid_base_us": tid_base(release)}
        language = str(ctx.options.get("language") or release.language or "").strip()
        if language:
            extra["langs"] = [language]
        if mode == "card":
            if not url:
                raise PermanentError('bluesky: embed = "card" needs a release with a URL')
            description = truncate(summary_of(release), replace(limits, max_length=1000))
            extra["card"] = {"uri": url, "title": release.title.strip(), "description": description}
            media = tuple(m for m in media[:1] if not m.size or m.size <= THUMB_BYTES)
        elif mode == "none":
            media = ()
        return make_post(release, ctx, replace(rendered, media=media), limits, extra)

    def _fit(
        self, release: Release, ctx: ChannelContext, fit: Limits, limits: Limits, shorten: bool
    ) -> tuple[Rendered, list[dict[str, Any]]]:
        """Render within ``fit``, then shorten the links and compute each part's facets."""
        rendered = render_social(release, ctx, fit, channel_type=self.type)
        records: list[dict[str, Any]] = []
        texts: list[str] = []
        for part in rendered.parts:
            text, links = shorten_urls(part, DISPLAY_LINK) if shorten else (part, link_spans(part))
            records.append({"text": text, "facets": facets_for(text, links)})
            texts.append(text)
        parts = tuple(texts)
        lengths = tuple(count(p, limits) for p in parts)
        return replace(rendered, parts=parts, lengths=lengths), records

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Create each record under its own record key; reuse any a previous attempt made."""
        session = self._session(ctx)
        records = post.extra.get("records") or [
            {"text": p, "facets": []} for p in (post.parts or (post.text,))
        ]
        refs: list[dict[str, str]] = []
        rkeys: list[str] = []
        for n, spec in enumerate(records):
            rkey = record_key(ctx.idempotency_key, int(post.extra.get("tid_base_us") or UNDATED_US), n)
            ref = self._get_record(ctx, session["did"], rkey) if (rkey and ctx.attempt > 1) else None
            if ref is None:
                record: dict[str, Any] = {
                    "$type": POST_COLLECTION,
                    "text": spec["text"],
                    "createdAt": now_iso(),
                }
                if spec.get("facets"):
                    record["facets"] = spec["facets"]
                if post.extra.get("langs"):
                    record["langs"] = list(post.extra["langs"])
                if n == 0:
                    embed = self._embed(post, ctx)
                    if embed:
                        record["embed"] = embed
                if refs:
                    record["reply"] = {"root": refs[0], "parent": refs[-1]}
                ref = self._create(ctx, session["did"], rkey, record, f"posting part {n + 1}")
            refs.append(ref)
            rkeys.append(ref["uri"].rsplit("/", 1)[-1])
        who = session.get("handle") or session["did"]
        return Receipt(
            remote_id=refs[0]["uri"],
            url=f"https://bsky.app/profile/{who}/post/{rkeys[0]}",
            ids=tuple(r["uri"] for r in refs),
            extra={"cids": [r["cid"] for r in refs]},
        )

    def find_existing(self, release: Release, ctx: ChannelContext) -> Receipt | None:
        """The thread this release's record keys point at, if every part exists."""
        post = self.render(release, ctx)
        session = self._session(ctx)
        refs = []
        for n in range(len(post.extra["records"])):
            rkey = record_key(ctx.idempotency_key, int(post.extra["tid_base_us"]), n)
            ref = self._get_record(ctx, session["did"], rkey) if rkey else None
            if ref is None:
                return None
            refs.append(ref)
        who = session.get("handle") or session["did"]
        return Receipt(
            remote_id=refs[0]["uri"],
            url=f"https://bsky.app/profile/{who}/post/{refs[0]['uri'].rsplit('/', 1)[-1]}",
            ids=tuple(r["uri"] for r in refs),
            extra={"cids": [r["cid"] for r in refs]},
        )

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """Delete each record of the thread, last first (deleting a missing record is a no-op)."""
        for uri in reversed(receipt.ids or (receipt.remote_id,)):
            if not uri:
                continue
            repo, collection, rkey = parse_at_uri(uri)
            self._xrpc(
                ctx,
                "POST",
                "com.atproto.repo.deleteRecord",
                f"deleting {uri}",
                json={"repo": repo, "collection": collection, "rkey": rkey},
            )

    def check(self, ctx: ChannelContext) -> str:
        """Get (or reuse) a session and ask the server whose it is; posts nothing."""
        info = self._xrpc(ctx, "GET", "com.atproto.server.getSession", "checking the session")
        return f"authenticated as {info.get('handle')} ({info.get('did')})"

    # -- records ---------------------------------------------------------------------------

    def _embed(self, post: Post, ctx: ChannelContext) -> dict[str, Any] | None:
        mode = post.extra.get("embed")
        if mode == "images":
            images = []
            for media in post.media:
                image = load_image(media, ctx, self.limits_for(ctx.options).max_media_bytes, "bluesky")
                if image is None:
                    continue
                blob = self._upload(ctx, image.data, image.mime)
                images.append({"alt": image.alt, "image": blob})
            return {"$type": "app.bsky.embed.images", "images": images} if images else None
        if mode == "card":
            external = dict(post.extra["card"])
            for media in post.media[:1]:
                image = load_image(media, ctx, THUMB_BYTES, "bluesky")
                if image is not None:
                    external["thumb"] = self._upload(ctx, image.data, image.mime)
            return {"$type": "app.bsky.embed.external", "external": external}
        return None

    def _upload(self, ctx: ChannelContext, data: bytes, mime: str) -> Any:
        out = self._xrpc(
            ctx, "POST", "com.atproto.repo.uploadBlob", "uploading an image", data=data, content_type=mime
        )
        if "blob" not in out:
            raise PermanentError("bluesky: uploadBlob answered without a blob")
        return out["blob"]

    def _create(
        self, ctx: ChannelContext, did: str, rkey: str, record: dict[str, Any], what: str
    ) -> dict[str, str]:
        body: dict[str, Any] = {"repo": did, "collection": POST_COLLECTION, "record": record}
        if rkey:
            body["rkey"] = rkey
        try:
            out = self._xrpc(ctx, "POST", "com.atproto.repo.createRecord", what, json=body)
        except AuthError:
            raise
        except (PermanentError, TransientError) as exc:
            # "There is already a value at key": an earlier attempt made it. Reuse it.
            if not rkey or getattr(exc, "status", None) == 429:
                raise
            existing = self._get_record(ctx, did, rkey)
            if existing is None:
                raise
            ctx.logger.info("bluesky: record %s exists already (an earlier attempt); reusing it", rkey)
            return existing
        return {"uri": str(out["uri"]), "cid": str(out["cid"])}

    def _get_record(self, ctx: ChannelContext, did: str, rkey: str) -> dict[str, str] | None:
        try:
            out = self._xrpc(
                ctx,
                "GET",
                "com.atproto.repo.getRecord",
                f"looking up record {rkey}",
                params={"repo": did, "collection": POST_COLLECTION, "rkey": rkey},
            )
        except PermanentError as exc:
            if isinstance(exc, AuthError) or getattr(exc, "status", None) not in (400, 404):
                raise
            return None
        if not out.get("uri") or not out.get("cid"):
            return None
        return {"uri": str(out["uri"]), "cid": str(out["cid"])}

    # -- session -----------------------------------------------------------------------------

    def _session(self, ctx: ChannelContext, stale: Mapping[str, str] | None = None) -> dict[str, str]:
        """A usable session: from memory, else the session file, else refreshed, else a login."""
        service = base_url(ctx.options.get("service") or DEFAULT_SERVICE, "bluesky: service")
        handle = str(ctx.options.get("handle") or "")
        key = (service, handle)
        with _session_lock:
            session = _sessions.get(key) or self._load(ctx, service, handle)
            renew = bool(session and stale and session.get("accessJwt") == stale.get("accessJwt"))
            if session and (renew or token_expires_within(session.get("accessJwt", ""), REFRESH_MARGIN)):
                session = self._refresh(ctx, service, session)
            if not session:
                session = self._login(ctx, service, handle)
            _sessions[key] = session
            return session

    def _refresh(
        self, ctx: ChannelContext, service: str, session: Mapping[str, str]
    ) -> dict[str, str] | None:
        refresh = session.get("refreshJwt", "")
        if not refresh or token_expires_within(refresh, 0):
            return None
        try:
            out = self._send(
                ctx,
                service,
                "POST",
                "com.atproto.server.refreshSession",
                "refreshing the session",
                token=refresh,
            )
        except AuthError:
            ctx.logger.info("bluesky: the refresh token was refused; logging in again")
            return None
        except PermanentError as exc:
            if getattr(exc, "xrpc_error", "") in (*TOKEN_ERRORS, "AuthenticationRequired"):
                return None
            raise
        fresh = {**session, **_session_fields(out)}
        self._save(ctx, service, fresh)
        ctx.logger.debug("bluesky: session refreshed")
        return fresh

    def _login(self, ctx: ChannelContext, service: str, handle: str) -> dict[str, str]:
        password = secret_value(ctx, "app_password", "bluesky")
        try:
            out = self._send(
                ctx,
                service,
                "POST",
                "com.atproto.server.createSession",
                "logging in",
                json={"identifier": handle, "password": password},
                secrets=(password,),
            )
        except PermanentError as exc:
            if isinstance(exc, AuthError) or getattr(exc, "status", None) == 400:
                raise AuthError(f"bluesky: the handle or app password was refused ({exc})") from exc
            raise
        session = _session_fields(out)
        if not session.get("did") or not session.get("accessJwt"):
            raise PermanentError("bluesky: createSession answered without a DID or token")
        self._save(ctx, service, session)
        ctx.logger.info("bluesky: logged in as %s (new session)", session.get("handle") or handle)
        return session

    def _session_path(self, ctx: ChannelContext) -> Path:
        value = ctx.options.get("session_file") or f"state/bluesky-{ctx.name}.session.json"
        return ctx.path(str(value))

    def _load(self, ctx: ChannelContext, service: str, handle: str) -> dict[str, str] | None:
        path = self._session_path(ctx)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            ctx.logger.warning("bluesky: ignoring unreadable session file %s: %s", path, type(exc).__name__)
            return None
        if not isinstance(data, dict) or data.get("service") != service or data.get("login") != handle:
            return None
        return {k: str(v) for k, v in data.items() if k in ("did", "handle", "accessJwt", "refreshJwt")}

    def _save(self, ctx: ChannelContext, service: str, session: Mapping[str, str]) -> None:
        path = self._session_path(ctx)
        handle = str(ctx.options.get("handle") or "")
        payload = {"service": service, "login": handle, **session}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh)
            os.replace(tmp, path)
        except OSError as exc:
            ctx.logger.warning("bluesky: could not save the session to %s: %s", path, exc.strerror)

    # -- XRPC ------------------------------------------------------------------------------

    def _xrpc(self, ctx: ChannelContext, method: str, nsid: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """An authenticated call; a token the server calls expired is refreshed once."""
        service = base_url(ctx.options.get("service") or DEFAULT_SERVICE, "bluesky: service")
        session = self._session(ctx)
        try:
            return self._send(ctx, service, method, nsid, what, token=session["accessJwt"], **kwargs)
        except PermanentError as exc:
            if getattr(exc, "xrpc_error", "") not in TOKEN_ERRORS:
                raise
        session = self._session(ctx, stale=session)
        return self._send(ctx, service, method, nsid, what, token=session["accessJwt"], **kwargs)

    def _send(
        self,
        ctx: ChannelContext,
        service: str,
        method: str,
        nsid: str,
        what: str,
        *,
        token: str = "",
        json: Any = None,
        data: bytes | None = None,
        content_type: str = "",
        params: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> dict[str, Any]:
        import requests

        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = ctx.http.request(
                method,
                f"{service}/xrpc/{nsid}",
                headers=headers,
                json=json,
                data=data,
                params=params,
                allow_redirects=False,
            )
        except requests.ConnectTimeout as exc:
            raise TransientError(f"bluesky: {what}: timed out connecting (nothing was sent)") from exc
        except requests.RequestException as exc:
            raise TransientError(
                f"bluesky: {what}: {type(exc).__name__}; a retry reuses the same record key"
            ) from exc
        if 200 <= resp.status_code < 300:
            out = json_or_none(resp)
            return out if isinstance(out, dict) else {}
        raise _status_error(resp, what, (token, *secrets))


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(BlueskyChannel)


# -- helpers ---------------------------------------------------------------------------------


def facets_for(text: str, links: Sequence[tuple[int, int, str]] | None = None) -> list[dict[str, Any]]:
    """Link and tag facets for ``text``, with UTF-8 byte offsets (start inclusive, end exclusive).

    ``links`` are (start, end, uri) character spans (from :func:`shorten_urls`); by default
    every URL in ``text`` links to itself.
    """
    spans = link_spans(text) if links is None else list(links)
    facets: list[tuple[int, dict[str, Any]]] = []
    for start, end, uri in spans:
        feature = {"$type": "app.bsky.richtext.facet#link", "uri": uri}
        facets.append((start, _facet(text, start, end, feature)))
    for start, end, tag in tag_spans(text, spans):
        feature = {"$type": "app.bsky.richtext.facet#tag", "tag": tag}
        facets.append((start, _facet(text, start, end, feature)))
    return [f for _, f in sorted(facets, key=lambda item: item[0])]


def _facet(text: str, start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": {"byteStart": byte_offset(text, start), "byteEnd": byte_offset(text, end)},
        "features": [feature],
    }


def tid_base(release: Release) -> int:
    """Microseconds since the epoch of the release's date: the time part of its record keys."""
    when = release.published or release.updated
    if when is None:
        return UNDATED_US
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000


def record_key(idempotency_key: str, base_us: int, index: int) -> str:
    """A TID record key, the same for the same delivery and part on every attempt.

    A TID is 64 bits (top bit 0): 53 bits of microseconds, then a 10-bit clock id, written in
    13 base32-sortable characters. The microseconds are the release's second plus an offset
    from the key's hash (a multiple of 64, plus the part index); the clock id is from the hash.
    """
    if not idempotency_key:
        return ""
    if not 0 <= index < MAX_PARTS:
        raise PermanentError(f"bluesky: part index {index} is out of range")
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:8], "big")
    micros = (base_us // 1_000_000) * 1_000_000 + (digest % 15625) * 64 + index
    value = ((micros & ((1 << 53) - 1)) << 10) | ((digest >> 20) & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def parse_at_uri(uri: str) -> tuple[str, str, str]:
    """``at://did/collection/rkey`` -> (did, collection, rkey)."""
    rest = uri.removeprefix("at://")
    parts = rest.split("/")
    if len(parts) != 3 or not all(parts):
        raise PermanentError(f"bluesky: not a record URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token_expires_within(token: str, seconds: float, now: float | None = None) -> bool:
    """Whether a JWT's ``exp`` is within ``seconds`` (False when it cannot be read).

    The margin is at most a quarter of the token's life (``exp - iat``), so a server that
    issues short-lived tokens does not get a refresh before every call.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
        if "iat" in claims:
            seconds = min(seconds, (exp - float(claims["iat"])) / 4)
    except (IndexError, KeyError, TypeError, ValueError):
        return False
    return exp - (time.time() if now is None else now) <= seconds


def _session_fields(out: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(out[k]) for k in ("did", "handle", "accessJwt", "refreshJwt") if out.get(k)}


def rate_limit_delay(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``RateLimit-Reset`` (epoch seconds) or ``Retry-After``."""
    reset = headers.get("RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - (time.time() if now is None else now))
    return parse_retry_after(headers.get("Retry-After"))


def _status_error(resp: requests.Response, what: str, secrets: Sequence[str]) -> Exception:
    code = resp.status_code
    data = json_or_none(resp)
    kind = str(data.get("error") or "") if isinstance(data, dict) else ""
    detail = str(data.get("message") or "") if isinstance(data, dict) else resp.text
    text = " ".join(x for x in (kind, detail) if x)
    message = f"bluesky: {what}: HTTP {code}" + (f": {snippet(text, secrets)}" if text else "")
    error: Exception
    if code == 429:
        error = TransientError(message, retry_after=rate_limit_delay(resp.headers))
    elif code >= 500:
        error = TransientError(message, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
    elif kind in TOKEN_ERRORS:
        error = PermanentError(message)  # the caller refreshes the session and tries once more
    elif code in (401, 403):
        error = AuthError(message)
    else:
        error = PermanentError(message)
    return tagged(error, status=code, xrpc_error=kind)
