"""facebook channel: post each release on a Facebook Page through the Graph API.

Configuration::

    [channels.facebook]
    type = "facebook"
    page_id = "123456789012345"
    page_token = { env = "FACEBOOK_PAGE_TOKEN" }   # a Page access token (not a user token)
    app_secret = { env = "FACEBOOK_APP_SECRET" }   # optional: adds appsecret_proof to each call
    graph_version = "v23.0"

Without images the post is ``POST /{page-id}/feed`` with ``message`` and ``link`` (Facebook
draws the link card). With one image it is ``POST /{page-id}/photos`` (the image's URL, or
the file's bytes for a local image) with the text as ``caption`` and the alt text as
``alt_text_custom``; with several, each image is uploaded unpublished and the feed post
attaches them (``attached_media``). The text uses the "long" default template.

The token travels in the request body (``access_token``) or, for GET and DELETE, in the
query string, never in a message or log. Graph errors are classified by code: 190 means the
token expired or was revoked (re-authenticate), 4/17/32/613/80001 throttling (retried after
the time the usage headers give), 1/2 and ``is_transient`` temporary, 10 and 200-299 missing
permissions, 368 blocked by policy, and everything else permanent.

Facebook has no idempotency key. A post whose outcome is unknown (a timeout after sending)
is looked up among the Page's recent published posts by its exact message (``find_existing``),
hence ``idempotency = "lookup"``; error 506 (duplicate post) on a retry is treated the same
way. Corrections edit the message (``POST /{post-id}``); retractions delete the post.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import parse_retry_after
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Option
from syndicator_channels.social import (
    base_url,
    json_or_none,
    load_image,
    make_post,
    render_social,
    secret_value,
    snippet,
    social_options,
    tagged,
    validate_social,
)

DEFAULT_API = "https://graph.facebook.com"
DEFAULT_VERSION = "v23.0"
THROTTLED = frozenset({4, 17, 32, 613, 80001})
TEMPORARY = frozenset({1, 2})
AUTH_EXPIRED = frozenset({102, 190})
DUPLICATE = 506
LOOKUP_LIMIT = 50
ALT_LIMIT = 1000


class FacebookChannel(Channel):
    """Page posts through the Graph API: feed with link, or photo(s) with caption and alt text."""

    type = "facebook"
    description = "Post on a Facebook Page: feed post with link, or photos with caption and alt text"
    idempotency = "lookup"
    # The length is widely cited, not verified against Meta's docs; real posts are far shorter.
    limits = Limits(max_length=63206, counting="utf16", max_media=10, max_media_bytes=10_000_000)
    capabilities = Capabilities(threads=False, media=True, edit=True, delete=True)
    options = (
        Option("page_id", str, required=True, help="the Page's numeric id"),
        Option("page_token", str, required=True, secret=True, help="a Page access token"),
        Option("app_secret", str, secret=True, help="the app secret, to sign calls with appsecret_proof"),
        Option("api_base", str, default=DEFAULT_API, help="Graph API base URL (http only for 127.0.0.1)"),
        Option("graph_version", str, default=DEFAULT_VERSION, help='Graph API version, e.g. "v23.0"'),
        Option("link_preview", bool, default=True, help="attach the release link to text posts (link card)"),
        *social_options(threads=False),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = validate_social(options, ("api_base",), cls.limits)
        page = options.get("page_id")
        if isinstance(page, str) and not page.strip().isdigit():
            problems.append(("page_id", f"expected the Page's numeric id, got {page!r}"))
        version = options.get("graph_version")
        if isinstance(version, str) and not _version_ok(version):
            problems.append(("graph_version", f'expected a version like "v23.0", got {version!r}'))
        return problems

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        rendered = render_social(
            release, ctx, self.limits, channel_type=self.type, kind="long", threads=False, alt_limit=ALT_LIMIT
        )
        link = release.url.strip() if ctx.options.get("link_preview", True) else ""
        kind = "feed" if not rendered.media else ("photo" if len(rendered.media) == 1 else "album")
        return make_post(release, ctx, rendered, self.limits, {"kind": kind, "link": link})

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        page = self._page(ctx)
        message = post.text
        photos = [p for p in (self._photo_fields(m, ctx) for m in post.media) if p is not None]
        if len(photos) == 1:
            fields, files = photos[0]
            out = self._call(
                ctx,
                "POST",
                f"{page}/photos",
                "posting the photo",
                data={**fields, "caption": message},
                files=files,
                publishes=True,
            )
            post_id = str(out.get("post_id") or out.get("id") or "")
            photo_ids = [str(out.get("id") or "")]
        else:
            photo_ids = []
            for n, (fields, files) in enumerate(photos, 1):
                out = self._call(
                    ctx,
                    "POST",
                    f"{page}/photos",
                    f"uploading photo {n}",
                    data={**fields, "published": "false"},
                    files=files,
                )
                photo_ids.append(str(out["id"]))
            data: dict[str, str] = {"message": message}
            if photo_ids:
                for i, fbid in enumerate(photo_ids):
                    data[f"attached_media[{i}]"] = json.dumps({"media_fbid": fbid})
            elif post.extra.get("link"):
                data["link"] = str(post.extra["link"])
            out = self._call(ctx, "POST", f"{page}/feed", "posting", data=data, publishes=True)
            post_id = str(out.get("id") or "")
        if not post_id:
            raise UnknownOutcome("facebook: the Graph API answered without a post id")
        return Receipt(
            remote_id=post_id,
            url=f"https://www.facebook.com/{post_id}",
            ids=(post_id,),
            extra={"photo_ids": photo_ids} if photo_ids else {},
        )

    def find_existing(self, release: Release, ctx: ChannelContext) -> Receipt | None:
        """A recent published post of the Page whose message is exactly this release's."""
        message = self.render(release, ctx).text.strip()
        out = self._call(
            ctx,
            "GET",
            f"{self._page(ctx)}/published_posts",
            "looking up recent posts",
            params={"fields": "id,message,permalink_url,created_time", "limit": str(LOOKUP_LIMIT)},
        )
        for item in out.get("data") or ():
            if isinstance(item, dict) and str(item.get("message") or "").strip() == message:
                post_id = str(item["id"])
                url = str(item.get("permalink_url") or f"https://www.facebook.com/{post_id}")
                return Receipt(remote_id=post_id, url=url, ids=(post_id,), extra={"found": True})
        return None

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        """Replace the post's message (its link and photos stay)."""
        self._call(ctx, "POST", receipt.remote_id, "editing the post", data={"message": post.text})
        return receipt

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        try:
            self._call(ctx, "DELETE", receipt.remote_id, "deleting the post")
        except PermanentError as exc:
            if isinstance(exc, AuthError) or getattr(exc, "graph_code", None) != 100:
                raise
            ctx.logger.info("facebook: post %s was already gone", receipt.remote_id)

    def check(self, ctx: ChannelContext) -> str:
        """Ask whose token this is (GET /me); a user token or another Page's is refused."""
        page = self._page(ctx)
        me = self._call(ctx, "GET", "me", "checking the token", params={"fields": "id,name"})
        if str(me.get("id")) != page:
            raise AuthError(
                f"facebook: the token belongs to {me.get('name')!r} ({me.get('id')}), not Page {page}: "
                "use that Page's access token (GET /{user-id}/accounts)"
            )
        return f"Page {me.get('name')!r} ({page}): token accepted"

    # -- helpers -------------------------------------------------------------------------

    def _page(self, ctx: ChannelContext) -> str:
        page = str(ctx.options.get("page_id") or "").strip()
        if not page:
            raise PermanentError("facebook: page_id is not set")
        return page

    def _photo_fields(
        self, media: Media, ctx: ChannelContext
    ) -> tuple[dict[str, str], dict[str, Any] | None] | None:
        """Form fields (and file) for one photo: a public URL is fetched by Facebook itself."""
        fields = {"alt_text_custom": media.alt}
        if media.is_remote:
            return {**fields, "url": media.location}, None
        image = load_image(media, ctx, self.limits.max_media_bytes, "facebook")
        if image is None:
            return None
        return fields, {"source": (image.filename, image.data, image.mime)}

    def _call(
        self,
        ctx: ChannelContext,
        method: str,
        path: str,
        what: str,
        *,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        files: dict[str, Any] | None = None,
        publishes: bool = False,
    ) -> dict[str, Any]:
        """One Graph call; ``publishes`` when it makes a visible post (so a lost answer is unknown)."""
        import requests

        api = base_url(ctx.options.get("api_base") or DEFAULT_API, "facebook: api_base")
        version = str(ctx.options.get("graph_version") or DEFAULT_VERSION)
        if not _version_ok(version):
            raise PermanentError(f"facebook: graph_version {version!r} is not like v23.0")
        token = secret_value(ctx, "page_token", "facebook")
        auth = {"access_token": token}
        app_secret = ctx.options.get("app_secret")
        secrets = [token]
        if app_secret is not None:
            proof_key = secret_value(ctx, "app_secret", "facebook")
            secrets.append(proof_key)
            auth["appsecret_proof"] = hmac.new(proof_key.encode(), token.encode(), hashlib.sha256).hexdigest()
        if method == "POST":
            data = {**(data or {}), **auth}
        else:
            params = {**(params or {}), **auth}
        try:
            resp = ctx.http.request(
                method,
                f"{api}/{version}/{path}",
                data=data,
                params=params,
                files=files,
                allow_redirects=False,
            )
        except requests.ConnectTimeout as exc:
            raise TransientError(f"facebook: {what}: timed out connecting (nothing was sent)") from exc
        except requests.RequestException as exc:
            if publishes:
                raise UnknownOutcome(
                    f"facebook: {what}: {type(exc).__name__} after sending; it will be looked up"
                ) from exc
            raise TransientError(f"facebook: {what}: {type(exc).__name__}") from exc
        body = json_or_none(resp)
        if 200 <= resp.status_code < 300 and isinstance(body, dict) and "error" not in body:
            return body
        raise graph_error(resp.status_code, resp.headers, body, resp.text, what, ctx, secrets)


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(FacebookChannel)


# -- helpers ---------------------------------------------------------------------------------


def _version_ok(version: str) -> bool:
    head, _, minor = version.removeprefix("v").partition(".")
    return version.startswith("v") and head.isdigit() and minor.isdigit()


def usage_delay(headers: Mapping[str, str]) -> float | None:
    """Seconds until access is regained, from ``X-Business-Use-Case-Usage`` (given in minutes)."""
    minutes = 0.0
    for name in ("X-Business-Use-Case-Usage", "X-Ad-Account-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        entries = (
            [e for v in data.values() for e in (v if isinstance(v, list) else [v])]
            if isinstance(data, dict)
            else []
        )
        for entry in entries:
            if isinstance(entry, dict):
                try:
                    minutes = max(minutes, float(entry.get("estimated_time_to_regain_access") or 0))
                except (TypeError, ValueError):
                    continue
    if minutes > 0:
        return minutes * 60.0
    return parse_retry_after(headers.get("Retry-After"))


def graph_error(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    text: str,
    what: str,
    ctx: ChannelContext,
    secrets: list[str],
) -> Exception:
    """Classify a Graph API error by its code (see the module docstring)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        message = f"facebook: {what}: HTTP {status}" + (f": {snippet(text, secrets)}" if text else "")
        if status >= 500 or status == 429:
            return TransientError(message, retry_after=parse_retry_after(headers.get("Retry-After")))
        if status in (401, 403):
            return AuthError(message)
        return PermanentError(message)
    code = _int(err.get("code"))
    sub = _int(err.get("error_subcode"))
    detail = str(err.get("error_user_msg") or err.get("message") or "")
    message = (
        f"facebook: {what}: Graph error {code}" + (f"/{sub}" if sub else "") + f": {snippet(detail, secrets)}"
    )
    error: Exception
    if code in AUTH_EXPIRED:
        error = AuthError(f"{message} (the token expired or was revoked: get a new Page token)")
    elif code in THROTTLED:
        error = TransientError(message, retry_after=usage_delay(headers))
    elif code in TEMPORARY or err.get("is_transient") is True:
        error = TransientError(message, retry_after=parse_retry_after(headers.get("Retry-After")))
    elif code == 10 or 200 <= code <= 299:
        error = AuthError(f"{message} (missing permission: pages_manage_posts, pages_read_engagement)")
    elif code == DUPLICATE and ctx.attempt > 1:
        error = UnknownOutcome(f"{message}: an earlier attempt probably posted it; it will be looked up")
    elif status >= 500:
        error = TransientError(message)
    else:
        error = PermanentError(message)
    return tagged(error, graph_code=code)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
