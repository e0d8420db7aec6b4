"""The ``rss`` source: one RSS, RDF or Atom feed, fetched with a conditional GET.

The state holds the feed's validators (``ETag``, ``Last-Modified``) and the sha256 of the
last body: a 304, or a 200 whose body is byte-for-byte the last one, costs no parsing.
Both are stored only after a body was parsed and every entry yielded, so per-entry
problems in a feed are reported once per change of the feed (the publisher fixes them,
not the operator). Parsing is :mod:`.feeditems`, imported only when a body needs it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ..errors import SourceError
from ..hookspecs import hookimpl
from ..options import Option
from .base import Source, SourceContext

if TYPE_CHECKING:
    from ..models import Release

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, */*;q=0.8"
_IMPORTING = threading.Lock()


def _read_feed() -> Callable[..., list[Release | SourceError]]:
    # One thread imports the parsing module while the other sources' threads wait for it,
    # so that none can see it half-made.
    with _IMPORTING:
        from .feeditems import read_feed

    return read_feed


# -- fetching ---------------------------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo and len(seen) < 30:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])


def network_reason(exc: BaseException, timeout: float) -> str:
    """A short reason for a failed request: timed out, refused, name, TLS."""
    import socket
    import ssl

    causes = list(_causes(exc))
    if any(isinstance(c, TimeoutError) or "Timeout" in type(c).__name__ for c in causes):
        return f"timed out after {timeout:g} s"
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "Connection refused" in str(exc):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) or "NameResolution" in type(c).__name__ for c in causes):
        return "cannot resolve the host name"
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if tls is not None:
        return f"TLS error: {tls.reason or tls}"
    return f"network error: {exc}"


def fetch(
    ctx: SourceContext, url: str, timeout: float, max_bytes: int, validators: Mapping[str, Any]
) -> tuple[bytes, Fetched] | None:
    """The body and what the server said about it, or None for 304 Not Modified.
    Raises SourceError."""
    import urllib3

    headers = {"Accept": ACCEPT}
    if validators.get("etag"):
        headers["If-None-Match"] = str(validators["etag"])
    if validators.get("last_modified"):
        headers["If-Modified-Since"] = str(validators["last_modified"])
    try:
        final_url, response = ctx.pool.open(url, headers=headers, timeout=timeout)
        read = False
        try:
            if response.status == 304:
                read = True  # no body
                return None
            if response.status >= 400:
                reason = response.reason or _phrase(response.status)
                raise SourceError(ctx.name, f"HTTP {response.status} {reason}".rstrip())
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise SourceError(ctx.name, f"the feed is {int(length)} bytes, over max_bytes ({max_bytes})")
            chunks, total = [], 0
            for chunk in response.stream(64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise SourceError(ctx.name, f"the feed is over max_bytes ({max_bytes} bytes)")
                chunks.append(chunk)
            read = True
            return b"".join(chunks), Fetched(
                final_url, {k.lower(): response.headers[k] for k in response.headers}
            )
        finally:
            if not read:  # an unread body would be the next request's answer: drop the connection
                response.close()
            response.release_conn()
    except (urllib3.exceptions.HTTPError, ValueError) as exc:  # ValueError: a malformed URL
        raise SourceError(ctx.name, network_reason(exc, timeout)) from None


class Fetched:
    """Where a feed was finally fetched from, and the response headers (any case)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers  # lower-case names; repeated headers joined with ", "

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class RssSource(Source):
    type = "rss"
    description = "An RSS, RDF or Atom feed, fetched with a conditional GET"
    offloads = True  # parsing, in read_feed
    imports = ("urllib3",)  # fetching, through ctx.pool
    text_from_html = True  # feeditems.entry_to_release makes each release so
    options = (
        Option("url", str, required=True, help="the feed's URL"),
        Option("timeout", float, default=30.0, help="seconds to wait for the server"),
        Option("max_bytes", int, default=DEFAULT_MAX_BYTES, help="a larger feed is an error"),
    )

    @classmethod
    def fetches_from(cls, options: Mapping[str, Any]) -> str | None:
        from urllib.parse import urlsplit

        try:
            return urlsplit(str(options.get("url") or "")).hostname
        except ValueError:
            return None

    def collect(self, ctx: SourceContext) -> Iterator[Release | SourceError]:
        from ..http import without_credentials

        url = str(ctx.options["url"])
        shown = without_credentials(url)  # what logs, messages and relative links see
        timeout = float(ctx.options.get("timeout") or 30.0)
        max_bytes = int(ctx.options.get("max_bytes") or DEFAULT_MAX_BYTES)
        state = ctx.state.get_all()
        validators = state.get("validators")
        validators = validators if isinstance(validators, Mapping) else {}
        started = time.monotonic()
        fetched = fetch(ctx, url, timeout, max_bytes, validators)
        if fetched is None:
            ctx.logger.debug("%s: not modified", shown)
            return
        body, response = fetched
        new_validators = {"etag": response.header("ETag"), "last_modified": response.header("Last-Modified")}
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if digest == state.get("body_sha256"):
            ctx.logger.debug("%s: same body as last time", shown)
            if new_validators != dict(validators):
                ctx.state.put_many({"validators": new_validators})
            return
        location = urljoin(response.url or shown, response.header("Content-Location"))
        headers = {
            "content-type": response.header("Content-Type"),
            "content-location": location,
            "content-language": response.header("Content-Language"),
        }
        # Parsing is most of a feed's cost: it runs in a parser process when the engine has them.
        items = ctx.offload(_read_feed(), body, headers, ctx.name, shown, ctx.timezone, dict(ctx.defaults))
        ctx.logger.debug("%s: %d items in %.2f s", shown, len(items), time.monotonic() - started)
        yield from items
        ctx.state.put_many({"validators": new_validators, "body_sha256": digest})


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    register(RssSource)
