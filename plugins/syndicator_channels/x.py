"""x channel: post each release to X (Twitter) with tweepy's v2 ``Client.create_tweet``.

Configuration::

    [channels.x]
    type = "x"
    consumer_key = { env = "X_CONSUMER_KEY" }            # the app's API key
    consumer_secret = { env = "X_CONSUMER_SECRET" }      # the app's API key secret
    access_token = { env = "X_ACCESS_TOKEN" }            # the posting account's token
    access_token_secret = { env = "X_ACCESS_TOKEN_SECRET" }
    thread = true                                        # optional: long releases as threads

Authentication is OAuth 1.0a user context (the four secrets; X's access tokens do not
expire). Text is counted X's way: weighted (CJK and emoji 2, most Latin 1), every URL 23
(t.co), at most 280. A thread is a chain of replies (``in_reply_to_tweet_id``), numbered.

Images go up through X's v2 media endpoints (``POST /2/media/upload``, then ``POST
/2/media/metadata`` for the alt text), signed with requests-oauthlib, because tweepy's own
upload still calls the retired v1.1 endpoint. At most four images of up to 5 MB each; a
larger one is skipped with a warning.

X has no idempotency key, so ``idempotency = "none"``: an outcome we cannot know (a read
timeout, a reset after sending) is an :class:`~syndicator.errors.UnknownOutcome`, left to
the operator, never retried blindly. X refuses a text identical to a recent post with 403
"duplicate content". On the first attempt that is a permanent refusal (an identical post
exists already). On a later attempt it almost always means an earlier attempt did post
(X sometimes answers 5xx and posts anyway): we raise UnknownOutcome rather than return a
receipt, because a receipt would claim a post whose id we do not know (so a retraction
could not delete it, and a thread could not continue from it) and the duplicate might be
another, older post; the operator confirms it on the account and runs ``syndicator
resolve``. A thread that fails after its first part is likewise an UnknownOutcome that
lists the ids already posted.

The free tier allows very few posts a day (17 when this was written; see
:attr:`XChannel.default_daily_quota`); a thread spends one per part.

``api_base`` replaces ``https://api.x.com`` (and tweepy's ``https://api.twitter.com``), so
tests can point the real tweepy code at a local server; http is allowed only for 127.0.0.1
and localhost. tweepy is imported only when a method needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret
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

DEFAULT_API = "https://api.x.com"
#: The hosts tweepy calls; requests to them are sent to ``api_base`` instead.
TWEEPY_HOSTS = ("https://api.twitter.com", "https://api.x.com")
SECRETS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
#: Problem types and reasons X gives when the app or its keys may not do this: re-configure.
AUTH_PROBLEMS = (
    "client-forbidden",
    "client-not-enrolled",
    "oauth1-permissions",
    "unsupported-authentication",
)
ALT_LIMIT = 1000
MEDIA_POLL_LIMIT = 60.0


class XChannel(Channel):
    """Posts to X through tweepy (OAuth 1.0a user context), threads as replies."""

    type = "x"
    description = "Post to X (Twitter): weighted 280, threads as replies, v2 media upload with alt text"
    idempotency = "none"
    #: What a free-tier account may post in 24 hours. The core has no ``daily_quota``
    #: option yet; when it does, this is the value to default to for this channel.
    default_daily_quota = 17
    limits = Limits(
        max_length=280, counting="weighted", url_length=23, max_media=4, max_media_bytes=5 * 1024 * 1024
    )
    capabilities = Capabilities(threads=True, media=True, edit=False, delete=True)
    options = (
        Option(
            "api_base", str, default=DEFAULT_API, help="X API base URL (http only for 127.0.0.1/localhost)"
        ),
        Option("consumer_key", str, required=True, secret=True, help="the app's API key"),
        Option("consumer_secret", str, required=True, secret=True, help="the app's API key secret"),
        Option("access_token", str, required=True, secret=True, help="the posting account's access token"),
        Option(
            "access_token_secret", str, required=True, secret=True, help="the posting account's token secret"
        ),
        *SOCIAL_OPTIONS,
    )
    #: Seconds between media STATUS polls (tests lower it).
    poll_interval = 1.0

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        return validate_social(options, ("api_base",), cls.limits)

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        rendered = render_social(release, ctx, self.limits, channel_type=self.type, alt_limit=ALT_LIMIT)
        return make_post(release, ctx, rendered, self.limits)

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Upload the images, then post each part as a reply to the one before."""
        client = self._client(ctx)
        parts = post.parts or (post.text,)
        images = load_images(post, ctx, self.limits.max_media_bytes, "x")
        media_ids = [self._upload(ctx, image) for image in images]
        ids: list[str] = []
        for n, part in enumerate(parts, 1):
            try:
                resp = client.create_tweet(
                    text=part,
                    media_ids=media_ids if n == 1 and media_ids else None,
                    in_reply_to_tweet_id=ids[-1] if ids else None,
                )
            except Exception as exc:
                error = self._error(exc, ctx, "posting")
                if ids:
                    raise UnknownOutcome(
                        f"x: thread partly posted (parts 1-{len(ids)} of {len(parts)}, ids {', '.join(ids)}); "
                        f"part {n} failed: {error}. Delete those or finish the thread by hand, then "
                        "`syndicator resolve`"
                    ) from exc
                raise error from exc
            ids.append(str(resp.data["id"]))
            ctx.logger.debug("x: posted part %d/%d as %s", n, len(parts), ids[-1])
        return Receipt(
            remote_id=ids[0],
            url=status_url(ids[0]),
            ids=tuple(ids),
            extra={"media_ids": media_ids} if media_ids else {},
        )

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """Delete every post of the thread, last first; one already gone is fine."""
        import tweepy

        client = self._client(ctx)
        for tweet_id in reversed(receipt.ids or (receipt.remote_id,)):
            if not tweet_id:
                continue
            try:
                client.delete_tweet(tweet_id)
            except tweepy.NotFound:
                ctx.logger.info("x: post %s was already deleted", tweet_id)
            except Exception as exc:
                raise self._error(exc, ctx, f"deleting {tweet_id}") from exc

    def check(self, ctx: ChannelContext) -> str:
        """Ask who the credentials belong to (GET /2/users/me); posts nothing."""
        client = self._client(ctx)
        try:
            resp = client.get_me(user_auth=True)
        except Exception as exc:
            raise self._error(exc, ctx, "checking credentials") from exc
        user = resp.data
        return (
            f"authenticated as @{user.username} (id {user.id}); "
            f"free tier allows about {self.default_daily_quota} posts a day"
        )

    # -- helpers -------------------------------------------------------------------------

    def _client(self, ctx: ChannelContext) -> Any:
        """A tweepy Client whose requests go through ``ctx.http`` to ``api_base``."""
        api = base_url(ctx.options.get("api_base") or DEFAULT_API, "x: api_base")
        keys = {key: secret_value(ctx, key, "x") for key in SECRETS}
        return _client_class()(api_base=api, session=ctx.http, **keys)

    def _oauth(self, ctx: ChannelContext) -> Any:
        from requests_oauthlib import OAuth1

        return OAuth1(
            secret_value(ctx, "consumer_key", "x"),
            client_secret=secret_value(ctx, "consumer_secret", "x"),
            resource_owner_key=secret_value(ctx, "access_token", "x"),
            resource_owner_secret=secret_value(ctx, "access_token_secret", "x"),
        )

    def _upload(self, ctx: ChannelContext, image: ImageData) -> str:
        """One image through POST /2/media/upload, its alt text through /2/media/metadata."""
        api = base_url(ctx.options.get("api_base") or DEFAULT_API, "x: api_base")
        auth = self._oauth(ctx)
        category = "tweet_gif" if image.mime == "image/gif" else "tweet_image"
        resp = self._call(
            ctx,
            "uploading an image",
            "POST",
            f"{api}/2/media/upload",
            auth=auth,
            files={"media": (image.filename, image.data, image.mime)},
            data={"media_category": category, "media_type": image.mime},
        )
        data = (json_or_none(resp) or {}).get("data") or {}
        media_id = str(data.get("id") or data.get("media_id_string") or "")
        if not media_id:
            raise PermanentError(f"x: media upload answered without an id: {snippet(resp.text)}")
        self._wait_processed(ctx, api, auth, media_id, data.get("processing_info"))
        self._call(
            ctx,
            "setting alt text",
            "POST",
            f"{api}/2/media/metadata",
            auth=auth,
            json={"id": media_id, "metadata": {"alt_text": {"text": image.alt[:ALT_LIMIT]}}},
        )
        return media_id

    def _wait_processed(
        self, ctx: ChannelContext, api: str, auth: Any, media_id: str, info: Mapping[str, Any] | None
    ) -> None:
        deadline = time.monotonic() + MEDIA_POLL_LIMIT
        while info and info.get("state") not in (None, "succeeded"):
            if info.get("state") == "failed":
                raise PermanentError(f"x: media {media_id} failed processing: {info.get('error') or info}")
            if time.monotonic() > deadline:
                raise TransientError(f"x: media {media_id} still processing after {MEDIA_POLL_LIMIT:.0f}s")
            time.sleep(min(float(info.get("check_after_secs") or self.poll_interval), self.poll_interval * 5))
            resp = self._call(
                ctx,
                "polling media status",
                "GET",
                f"{api}/2/media/upload",
                auth=auth,
                params={"command": "STATUS", "media_id": media_id},
            )
            info = ((json_or_none(resp) or {}).get("data") or {}).get("processing_info")

    def _call(
        self, ctx: ChannelContext, what: str, method: str, url: str, **kwargs: Any
    ) -> requests.Response:
        """One signed request made with requests (the media endpoints tweepy lacks)."""
        import requests

        try:
            resp = ctx.http.request(method, url, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            # Media calls publish nothing: whatever happened, trying again is safe.
            raise TransientError(f"x: {what}: {type(exc).__name__}") from exc
        if 200 <= resp.status_code < 300:
            return resp
        raise _status_error(resp.status_code, resp.headers, json_or_none(resp), resp.text, what, ctx)

    def _error(self, exc: BaseException, ctx: ChannelContext, what: str) -> Exception:
        """Map a tweepy or requests exception to the channel errors."""
        import requests
        import tweepy
        from urllib3.exceptions import NewConnectionError

        if isinstance(exc, tweepy.HTTPException):
            resp = exc.response
            return _status_error(resp.status_code, resp.headers, json_or_none(resp), resp.text, what, ctx)
        if isinstance(exc, requests.ConnectTimeout) or (
            isinstance(exc, requests.ConnectionError)
            and exc.args
            and isinstance(getattr(exc.args[0], "reason", None), NewConnectionError)
        ):
            return TransientError(f"x: {what}: could not connect (nothing was sent)")
        if isinstance(exc, requests.RequestException):
            return UnknownOutcome(
                f"x: {what}: {type(exc).__name__} after sending; X may have posted it "
                "(X has no idempotency key, so it is not retried blindly)"
            )
        if isinstance(exc, (PermanentError, TransientError, UnknownOutcome)):
            return exc
        return UnknownOutcome(f"x: {what}: {type(exc).__name__}: {exc}")


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(XChannel)


# -- helpers ---------------------------------------------------------------------------------


def status_url(tweet_id: str) -> str:
    return f"https://x.com/i/status/{tweet_id}"


class RebasedSession:
    """What tweepy sees as its ``session``: our session, with X's host replaced by ``api_base``.

    tweepy builds every URL as ``"https://api.twitter.com" + route`` inside
    ``BaseClient.request`` and sends it with ``self.session.request``, so replacing the
    session is the one seam that redirects it without copying its request logic.
    """

    def __init__(self, session: requests.Session, api_base: str) -> None:
        self.session = session
        self.api_base = api_base

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        for host in TWEEPY_HOSTS:
            if url == host or url.startswith(host + "/"):
                url = self.api_base + url[len(host) :]
                break
        else:
            raise PermanentError(f"x: tweepy called an unexpected host ({url.split('/')[2]})")
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, url, **kwargs)

    def close(self) -> None:
        """The session belongs to the context, not to tweepy."""


@cache
def _client_class() -> type:
    """tweepy.Client with the session seam; built on first use so tweepy loads lazily."""
    import tweepy

    class Client(tweepy.Client):  # type: ignore[misc]
        def __init__(self, *, api_base: str, session: requests.Session, **keys: str) -> None:
            super().__init__(**keys, wait_on_rate_limit=False)
            self.session = RebasedSession(session, api_base)

    return Client


def _problem(body: Any) -> tuple[str, str]:
    """(problem type or reason, detail text) from an X error body."""
    if not isinstance(body, dict):
        return "", ""
    kinds = " ".join(str(body.get(k) or "") for k in ("type", "reason", "title"))
    details = [str(body.get("detail") or "")]
    for err in body.get("errors") or ():
        if isinstance(err, dict):
            details.append(str(err.get("message") or err.get("detail") or ""))
            kinds += " " + str(err.get("type") or "")
    return kinds.lower(), " ".join(d for d in details if d)


def rate_limit_delay(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until X lets us post again, from the 15-minute and 24-hour reset headers."""
    current = time.time() if now is None else now
    resets: list[float] = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = headers.get(f"{prefix}-reset")
        remaining = headers.get(f"{prefix}-remaining")
        if reset and reset.strip().isdigit() and (prefix == "x-rate-limit" or remaining == "0"):
            resets.append(float(reset) - current)
    if resets:
        return max(0.0, max(resets))
    return parse_retry_after(headers.get("Retry-After"))


def _status_error(
    status: int, headers: Mapping[str, str], body: Any, text: str, what: str, ctx: ChannelContext
) -> Exception:
    kinds, detail = _problem(body)
    secrets = [v.reveal() for k in SECRETS if isinstance(v := ctx.options.get(k), Secret)]
    message = f"x: {what}: HTTP {status}" + (
        f": {snippet(detail or text, secrets)}" if (detail or text) else ""
    )
    if status == 429:
        return TransientError(message, retry_after=rate_limit_delay(headers))
    if status >= 500:
        return TransientError(message, retry_after=parse_retry_after(headers.get("Retry-After")))
    if status == 401:
        return AuthError(message)
    if status == 403:
        if "duplicate" in detail.lower():
            if ctx.attempt > 1:
                return UnknownOutcome(
                    f"x: X refused the post as duplicate content on attempt {ctx.attempt}: an earlier "
                    "attempt probably posted it. Not posted again; confirm on the account, then "
                    "`syndicator resolve`"
                )
            return PermanentError(f"{message} (an identical post exists already; change the text)")
        if any(kind in kinds for kind in AUTH_PROBLEMS):
            return AuthError(message)
        return PermanentError(message)
    return PermanentError(message)
