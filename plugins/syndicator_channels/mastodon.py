"""mastodon channel: post each release as a status (or a thread) on a Mastodon account.

Configuration::

    [channels.mastodon]
    type = "mastodon"
    instance = "https://mastodon.example"
    token = { env = "MASTODON_TOKEN" }      # scopes write:statuses write:media (+ read:accounts for check)
    visibility = "public"                   # public | unlisted | private | direct
    thread = true                           # optional: long releases as threads

Text is counted Mastodon's way: graphemes, every URL ``characters_reserved_per_url`` (23),
the content warning (``spoiler_text``) included, within ``max_characters`` (500 by default).

An instance may allow more (or fewer) characters; it says so in ``GET /api/v2/instance``
(``configuration.statuses``). ``render`` must stay pure (``preview`` shows exactly what
``run`` sends), so it fits to the configured ``max_characters`` and
``characters_reserved_per_url``; ``publish`` and ``check`` read the instance's values (once
per process, cached) and refuse, with the value to configure, a post the instance would
reject. ``check`` also says when the instance allows more than is configured.

Every create carries an ``Idempotency-Key`` (the release's key; part *n* > 1 of a thread
gets ``KEY-n``), which Mastodon honours for an hour: a retry after a timeout returns the
status already made instead of posting twice, hence ``idempotency = "key"``. A retry more
than an hour later could post again; the dispatcher's backoff stays well inside that for
the first attempts.

Images go through ``POST /api/v2/media`` with their ``description`` (alt text); a 202 is
polled at ``GET /api/v1/media/:id`` until processed. A thread is a chain of replies
(``in_reply_to_id``) with the images on the first part. Corrections edit in place
(``PUT /api/v1/statuses/:id``); retractions delete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option
from syndicator.render import count
from syndicator_channels.social import (
    SOCIAL_OPTIONS,
    ImageData,
    base_url,
    json_or_none,
    load_images,
    make_post,
    render_social,
    secret_value,
    snippet,
    validate_social,
)

if TYPE_CHECKING:
    import requests

VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_MAX = 500
DEFAULT_URL = 23
ALT_LIMIT = 1500
MEDIA_TIMEOUT = 60.0

_instance_cache: dict[str, dict[str, Any]] = {}
_instance_lock = threading.Lock()


class MastodonChannel(Channel):
    """Statuses through the Mastodon REST API, with an Idempotency-Key on every create."""

    type = "mastodon"
    description = "Post to a Mastodon account: instance limits, threads, media with descriptions, edit"
    idempotency = "key"
    limits = Limits(
        max_length=DEFAULT_MAX,
        counting="graphemes",
        url_length=DEFAULT_URL,
        max_media=4,
        max_media_bytes=16 * 1024 * 1024,
    )
    capabilities = Capabilities(threads=True, media=True, edit=True, delete=True)
    options = (
        Option("instance", str, required=True, help="the instance's base URL, e.g. https://mastodon.social"),
        Option(
            "token", str, required=True, secret=True, help="an access token with write:statuses, write:media"
        ),
        Option("visibility", str, default="public", choices=VISIBILITIES, help="who sees the posts"),
        Option("language", str, help="ISO 639 code of the posts (default: the release language)"),
        Option("spoiler_text", str, default="", help="a content warning shown before the text (counts too)"),
        Option("max_characters", int, default=DEFAULT_MAX, help="the instance's status length limit"),
        Option(
            "characters_reserved_per_url",
            int,
            default=DEFAULT_URL,
            help="what each URL counts on the instance",
        ),
        *SOCIAL_OPTIONS,
    )
    #: Seconds between media processing polls (tests lower it).
    poll_interval = 1.0

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = validate_social(options, ("instance",), cls.limits)
        for key in ("max_characters", "characters_reserved_per_url"):
            value = options.get(key)
            if isinstance(value, int) and value < 1:
                problems.append((key, f"expected a positive integer, got {value}"))
        if (
            isinstance(options.get("max_characters"), int)
            and count(options.get("spoiler_text") or "", cls.limits) >= options["max_characters"]
        ):
            problems.append(("spoiler_text", "leaves no room for the text within max_characters"))
        return problems

    def limits_for(self, options: Mapping[str, Any]) -> Limits:
        """The limits render fits to: the configured ones, less the content warning."""
        base = replace(
            self.limits,
            max_length=int(options.get("max_characters") or DEFAULT_MAX),
            url_length=int(options.get("characters_reserved_per_url") or DEFAULT_URL),
        )
        spoiler = count(str(options.get("spoiler_text") or ""), base)
        return replace(base, max_length=max(1, (base.max_length or DEFAULT_MAX) - spoiler))

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        limits = self.limits_for(ctx.options)
        rendered = render_social(release, ctx, limits, channel_type=self.type, alt_limit=ALT_LIMIT)
        language = str(ctx.options.get("language") or release.language or "").split("-")[0].lower()
        status: dict[str, Any] = {"visibility": ctx.options.get("visibility") or "public"}
        if language:
            status["language"] = language
        if ctx.options.get("spoiler_text"):
            status["spoiler_text"] = ctx.options["spoiler_text"]
        return make_post(release, ctx, rendered, limits, {"status": status})

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Upload the images, then create each part, replying to the one before."""
        parts = post.parts or (post.text,)
        self._verify_length(ctx, parts)
        images = load_images(post, ctx, self._image_limit(ctx), "mastodon")
        media_ids = [self._upload(ctx, image) for image in images]
        statuses: list[Mapping[str, Any]] = []
        for n, part in enumerate(parts, 1):
            body: dict[str, Any] = {"status": part, **post.extra.get("status", {})}
            if n == 1 and media_ids:
                body["media_ids"] = media_ids
            if statuses:
                body["in_reply_to_id"] = str(statuses[-1]["id"])
            statuses.append(
                self._json(
                    ctx, "POST", "/api/v1/statuses", f"posting part {n}", json=body, key=part_key(ctx, n)
                )
            )
        return _receipt(statuses, media_ids)

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        """Edit each status in place; extra parts are added as replies, surplus ones deleted."""
        parts = post.parts or (post.text,)
        self._verify_length(ctx, parts)
        old = list(receipt.ids or (receipt.remote_id,))
        status = dict(post.extra.get("status", {}))
        edit_fields = {k: status[k] for k in ("language", "spoiler_text") if k in status}
        statuses: list[Mapping[str, Any]] = []
        media_ids = list(receipt.extra.get("media_ids") or ())
        for n, part in enumerate(parts, 1):
            if n <= len(old):
                body: dict[str, Any] = {"status": part, **edit_fields}
                if n == 1 and media_ids:
                    # Mastodon reads a missing media_ids on edit as "no media": resend them.
                    body["media_ids"] = media_ids
                statuses.append(
                    self._json(ctx, "PUT", f"/api/v1/statuses/{old[n - 1]}", f"editing part {n}", json=body)
                )
            else:
                body = {"status": part, **status, "in_reply_to_id": str(statuses[-1]["id"])}
                key = f"{ctx.idempotency_key}-edit-{n}" if ctx.idempotency_key else ""
                statuses.append(
                    self._json(ctx, "POST", "/api/v1/statuses", f"adding part {n}", json=body, key=key)
                )
        for surplus in reversed(old[len(parts) :]):
            self._delete_one(ctx, surplus)
        return _receipt(statuses, media_ids)

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """Delete every status of the thread, last first; one already gone is fine."""
        for status_id in reversed(receipt.ids or (receipt.remote_id,)):
            if status_id:
                self._delete_one(ctx, status_id)

    def check(self, ctx: ChannelContext) -> str:
        """Verify the token (GET /api/v1/accounts/verify_credentials) and read the instance's limits."""
        account = self._json(ctx, "GET", "/api/v1/accounts/verify_credentials", "checking the token")
        config = instance_config(ctx, self._fetch_instance)
        configured = self.limits_for(ctx.options)
        line = f"authenticated as @{account.get('acct') or account.get('username')}"
        if config:
            line += (
                f"; instance allows {config['max_characters']} characters, "
                f"{config['characters_reserved_per_url']} per URL"
            )
            if config["max_characters"] != ctx.options.get("max_characters", DEFAULT_MAX):
                line += f" (configured max_characters is {ctx.options.get('max_characters', DEFAULT_MAX)})"
            if config["characters_reserved_per_url"] != configured.url_length:
                line += f" (configured characters_reserved_per_url is {configured.url_length})"
        return line

    # -- helpers -------------------------------------------------------------------------

    def _verify_length(self, ctx: ChannelContext, parts: tuple[str, ...] | list[str]) -> None:
        """Refuse parts the instance would reject (422), naming the option to change."""
        config = instance_config(ctx, self._fetch_instance)
        if not config:
            return
        limits = replace(
            self.limits, max_length=config["max_characters"], url_length=config["characters_reserved_per_url"]
        )
        spoiler = count(str(ctx.options.get("spoiler_text") or ""), limits)
        for n, part in enumerate(parts, 1):
            length = count(part, limits) + spoiler
            if length > config["max_characters"]:
                raise PermanentError(
                    f"mastodon: part {n} counts {length} characters on this instance, which allows "
                    f"{config['max_characters']} ({config['characters_reserved_per_url']} per URL); set "
                    f"max_characters = {config['max_characters']} and characters_reserved_per_url = "
                    f"{config['characters_reserved_per_url']} in the channel's config"
                )

    def _image_limit(self, ctx: ChannelContext) -> int | None:
        config = instance_config(ctx, self._fetch_instance)
        return int(config.get("image_size_limit") or 0) or self.limits.max_media_bytes

    def _fetch_instance(self, ctx: ChannelContext) -> dict[str, Any]:
        """The instance's status limits, from /api/v2/instance (or v1 on older servers)."""
        for path in ("/api/v2/instance", "/api/v1/instance"):
            try:
                data = self._json(ctx, "GET", path, "reading the instance's limits", auth=False)
            except PermanentError:
                continue
            conf = data.get("configuration") or {}
            statuses = conf.get("statuses") or {}
            media = conf.get("media_attachments") or {}
            if "max_characters" in statuses:
                return {
                    "max_characters": int(statuses["max_characters"]),
                    "characters_reserved_per_url": int(
                        statuses.get("characters_reserved_per_url", DEFAULT_URL)
                    ),
                    "image_size_limit": int(media.get("image_size_limit") or 0),
                }
        return {}

    def _upload(self, ctx: ChannelContext, image: ImageData) -> str:
        """POST /api/v2/media with the description; poll a 202 until the file is processed."""
        resp = self._request(
            ctx,
            "POST",
            "/api/v2/media",
            "uploading an image",
            files={"file": (image.filename, image.data, image.mime)},
            data={"description": image.alt},
        )
        media = json_or_none(resp) or {}
        media_id = str(media.get("id") or "")
        if not media_id:
            raise PermanentError(f"mastodon: media upload answered without an id: {snippet(resp.text)}")
        deadline = time.monotonic() + MEDIA_TIMEOUT
        while resp.status_code == 202 or (resp.status_code == 206) or not media.get("url"):
            if time.monotonic() > deadline:
                raise TransientError(
                    f"mastodon: media {media_id} still processing after {MEDIA_TIMEOUT:.0f}s"
                )
            time.sleep(self.poll_interval)
            resp = self._request(ctx, "GET", f"/api/v1/media/{media_id}", "waiting for media processing")
            media = json_or_none(resp) or {}
            if resp.status_code == 200 and media.get("url"):
                break
        return media_id

    def _delete_one(self, ctx: ChannelContext, status_id: str) -> None:
        try:
            self._request(ctx, "DELETE", f"/api/v1/statuses/{status_id}", f"deleting {status_id}")
        except PermanentError as exc:
            if "HTTP 404" not in str(exc):
                raise
            ctx.logger.info("mastodon: status %s was already deleted", status_id)

    def _json(self, ctx: ChannelContext, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        resp = self._request(ctx, method, path, what, **kwargs)
        data = json_or_none(resp)
        if not isinstance(data, dict):
            raise PermanentError(f"mastodon: {what}: expected a JSON object, got {snippet(resp.text)}")
        return data

    def _request(
        self,
        ctx: ChannelContext,
        method: str,
        path: str,
        what: str,
        *,
        key: str = "",
        auth: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        import requests

        instance = base_url(ctx.options.get("instance"), "mastodon: instance")
        token = secret_value(ctx, "token", "mastodon") if auth else ""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        try:
            resp = ctx.http.request(method, instance + path, headers=headers, allow_redirects=False, **kwargs)
        except requests.ConnectTimeout as exc:
            raise TransientError(f"mastodon: {what}: timed out connecting (nothing was sent)") from exc
        except requests.ReadTimeout as exc:
            if method == "POST" and not key and path == "/api/v1/statuses":
                raise UnknownOutcome(f"mastodon: {what}: timed out after sending") from exc
            raise TransientError(
                f"mastodon: {what}: timed out waiting for an answer"
                + ("; will retry with the same Idempotency-Key" if key else "")
            ) from exc
        except requests.RequestException as exc:
            raise TransientError(f"mastodon: {what}: connection failed ({type(exc).__name__})") from exc
        if 200 <= resp.status_code < 300:
            return resp
        raise _status_error(resp, what, token)


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(MastodonChannel)


# -- helpers ---------------------------------------------------------------------------------


def part_key(ctx: ChannelContext, n: int) -> str:
    """The Idempotency-Key of part ``n``: the release's key, then ``KEY-n`` for the replies."""
    if not ctx.idempotency_key:
        return ""
    return ctx.idempotency_key if n == 1 else f"{ctx.idempotency_key}-{n}"


def instance_config(ctx: ChannelContext, fetch: Callable[[ChannelContext], dict[str, Any]]) -> dict[str, Any]:
    """The instance's limits, fetched once per process and instance (an empty dict if unknown).

    A failure is not cached, and never fails the caller: the configured limits then apply.
    """
    instance = base_url(ctx.options.get("instance"), "mastodon: instance")
    with _instance_lock:
        if instance in _instance_cache:
            return _instance_cache[instance]
    try:
        config = fetch(ctx)
    except (TransientError, UnknownOutcome) as exc:
        ctx.logger.warning("mastodon: could not read the instance's limits: %s", exc)
        return {}
    if config:
        with _instance_lock:
            _instance_cache[instance] = config
    return config


def clear_instance_cache() -> None:
    with _instance_lock:
        _instance_cache.clear()


def _receipt(statuses: list[Mapping[str, Any]], media_ids: list[str]) -> Receipt:
    ids = tuple(str(s["id"]) for s in statuses)
    return Receipt(
        remote_id=ids[0],
        url=str(statuses[0].get("url") or statuses[0].get("uri") or ""),
        ids=ids,
        extra={"media_ids": media_ids} if media_ids else {},
    )


def reset_delay(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from Retry-After or Mastodon's ISO 8601 ``X-RateLimit-Reset``."""
    retry = parse_retry_after(headers.get("Retry-After"))
    if retry is not None:
        return retry
    reset = headers.get("X-RateLimit-Reset")
    if not reset:
        return None
    try:
        when = datetime.fromisoformat(reset.strip())
    except ValueError:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _status_error(resp: requests.Response, what: str, token: str) -> Exception:
    code = resp.status_code
    data = json_or_none(resp)
    detail = str(data.get("error") or "") if isinstance(data, dict) else resp.text
    message = f"mastodon: {what}: HTTP {code}" + (f": {snippet(detail, [token])}" if detail else "")
    if code == 429:
        return TransientError(message, retry_after=reset_delay(resp.headers))
    if code >= 500 or code == 408:
        return TransientError(message, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
    if code in (401, 403):
        return AuthError(message)
    if 300 <= code < 400:
        return PermanentError(f"mastodon: {what}: HTTP {code} redirect; set instance to the final address")
    return PermanentError(message)
