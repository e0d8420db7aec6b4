"""webhook channel: POST each release as JSON to a URL, signed and idempotent.

Configuration::

    [channels.hook]
    type = "webhook"
    url = "https://receiver.example/syndicator"
    secret = { env = "HOOK_SECRET" }          # optional: HMAC-SHA256 signature key
    headers = { "X-Team" = "press" }          # optional static headers (not for secrets)
    template = "{agency}: {title}\\n{url}"    # optional: the payload's "text" field

The body is canonical JSON (sorted keys, no spaces, UTF-8), so a receiver can verify
``X-Syndicator-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` and deduplicate on
``Idempotency-Key``, which is stable for one release on one channel across retries and runs.
That is what makes retrying after a timeout safe, hence ``idempotency = "key"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import string
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext
from syndicator.errors import AuthError, PermanentError, TransientError
from syndicator.http import parse_retry_after
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator_channels.wire import json_text
from syndicator_channels.wire import root_cause as _reason

DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{url}"
TEMPLATE_FIELDS = ("title", "summary", "url", "agency")
SIGNATURE_HEADER = "X-Syndicator-Signature"
SNIPPET = 200


class WebhookChannel(Channel):
    """POSTs a JSON document per release; the receiver decides what to do with it."""

    type = "webhook"
    description = "POST each release as signed JSON to a URL (with an Idempotency-Key)"
    idempotency = "key"
    imports = ("urllib3",)  # every call goes through ctx.pool
    options = (
        Option("url", str, required=True, help="http(s) URL that receives the POST"),
        Option(
            "secret",
            str,
            secret=True,
            help="HMAC-SHA256 key for the X-Syndicator-Signature header (from the environment)",
        ),
        Option("headers", dict, default={}, help="extra static headers (string values; no secrets)"),
        Option(
            "template",
            str,
            help="str.format template for the payload's text: {title} {summary} {url} {agency}",
        ),
    )

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Build the JSON payload and its ``text``. No I/O."""
        override = (release.overrides.get(ctx.name) or {}).get("text")
        if isinstance(override, str) and override.strip():
            text = override
        else:
            text = render_text(ctx.options.get("template") or DEFAULT_TEMPLATE, release)
        payload: dict[str, Any] = {
            "id": release.key,
            "source": release.source,
            "release_id": release.id,
            "title": release.title,
            "summary": release.summary,
            "body_text": release.body_text,
            "body_html": release.body_html,
            "url": release.url,
            "published": release.published.isoformat() if release.published else None,
            "updated": release.updated.isoformat() if release.updated else None,
            "agency": release.agency,
            "author": release.author,
            "tags": list(release.tags),
            "language": release.language,
            "priority": release.priority,
            "media": [_media(m) for m in (*release.images, *release.attachments)],
            "text": text,
            "channel": ctx.name,
        }
        post = Post(
            channel=ctx.name, release_key=release.key, text=text, title=release.title, link=release.url
        )
        return with_payload(post, payload)

    # -- I/O -----------------------------------------------------------------------------

    def render_correction(self, release: Release, original: Receipt, ctx: ChannelContext) -> Post:
        """The release's payload, marked as a correction of the original post."""
        post = super().render_correction(release, original, ctx)
        payload = {
            **post.extra["payload"],
            "text": post.text,
            "kind": "correction",
            "correction_of": original.to_dict(),
        }
        return with_payload(post, payload)

    def render_retraction(
        self, release: Release, original: Receipt, reason: str, ctx: ChannelContext
    ) -> Post:
        """A small payload that tells the receiver the release was withdrawn, and why."""
        post = super().render_retraction(release, original, reason, ctx)
        payload = {
            "id": release.key,
            "kind": "retraction",
            "title": release.title,
            "reason": reason,
            "text": post.text,
            "retraction_of": original.to_dict(),
        }
        return with_payload(post, payload)

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """POST the payload; a 2xx is a receipt, anything else raises a typed error.

        Goes through ``ctx.pool`` (urllib3), not ``ctx.http``: the webhook is the channel
        that fans out in bulk, and this halves the CPU each call costs.
        """
        url = _url(ctx)
        body = _body(post)
        headers = _static_headers(ctx)
        headers["Content-Type"] = "application/json"
        if ctx.idempotency_key:
            headers["Idempotency-Key"] = ctx.idempotency_key
        secret = _secret(ctx)
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        where = describe_url(url)
        import urllib3

        try:
            resp = ctx.pool.request(
                "POST", url, body=body, headers=headers, timeout=ctx.options.get("timeout")
            )
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise TransientError(
                f"webhook {where}: timed out waiting for an answer after sending; "
                "will retry with the same Idempotency-Key"
            ) from exc
        except (urllib3.exceptions.HTTPError, ValueError) as exc:  # ValueError: a malformed URL
            raise _pool_error(where, exc) from exc
        ctx.logger.debug("webhook %s: POST -> HTTP %s", where, resp.status)
        text = resp.data.decode("utf-8", "replace")
        if 200 <= resp.status < 300:
            remote_id = url_out = ""
            data = json_text(text)
            if isinstance(data, dict):
                if data.get("id") is not None:
                    remote_id = str(data["id"])
                url_out = str(data.get("url") or "")
            return Receipt(remote_id=remote_id, url=url_out, extra={"status": resp.status})
        raise _status_error(where, resp.status, text, resp.headers.get("Retry-After"), secret)

    def check(self, ctx: ChannelContext) -> str:
        """Probe the URL with HEAD (then OPTIONS if HEAD is refused); never posts."""
        url = _url(ctx)
        where = describe_url(url)
        headers = _static_headers(ctx)
        secret = _secret(ctx)
        if secret:  # receivers that verify every request accept the signature of the empty body
            headers[SIGNATURE_HEADER] = sign(secret, b"")
        timeout = ctx.options.get("timeout")
        import urllib3

        try:
            resp = ctx.pool.request("HEAD", url, headers=headers, timeout=timeout)
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise _pool_error(where, exc) from exc
        if resp.status in (405, 501):  # HEAD refused: OPTIONS may tell more (auth, 2xx)
            try:
                other = ctx.pool.request("OPTIONS", url, headers=headers, timeout=timeout)
            except (urllib3.exceptions.HTTPError, ValueError):
                other = None  # HEAD already answered: the host is reachable
            if other is not None and (200 <= other.status < 400 or other.status in (401, 403)):
                resp = other
        if resp.status in (401, 403):
            raise AuthError(f"webhook {where}: HTTP {resp.status} (credentials refused)")
        return f"reachable (HTTP {resp.status})"


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(WebhookChannel)


# -- helpers (module level so other plugins and tests can use them) -------------------------


def render_text(template: str, release: Release) -> str:
    """Format ``template`` with the release's fields; collapse empty parts and blank runs."""
    values = {
        "title": release.title,
        "summary": release.summary,
        "url": release.url,
        "agency": release.agency,
    }
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name not in values:
            raise PermanentError(
                f"webhook template: unknown field {{{name}}} (known: {', '.join(TEMPLATE_FIELDS)})"
            )
    try:
        text = template.format_map(values)
    except (ValueError, IndexError) as exc:
        raise PermanentError(f"webhook template: {exc}") from exc
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def with_payload(post: Post, payload: dict[str, Any]) -> Post:
    """``post`` carrying ``payload``, the exact body that will be sent, and its SHA-256 (the
    audit trail records that hash, so a receiver's copy can be checked against it). The body
    is serialised here once, not again when it is sent."""
    body = canonical_body(payload)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    extra = {**post.extra, "payload": payload, "payload_json": body.decode("utf-8"), "payload_sha256": digest}
    return replace(post, extra=extra)


def _body(post: Post) -> bytes:
    """The bytes to POST: what :func:`with_payload` serialised, else the payload as it is."""
    text = post.extra.get("payload_json")
    return text.encode("utf-8") if isinstance(text, str) else canonical_body(post.extra["payload"])


def canonical_body(payload: Any) -> bytes:
    """The exact bytes sent and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Syndicator-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def describe_url(url: str) -> str:
    """The URL for messages: scheme, host and port only.

    Webhook URLs often carry a token in the path or query (Slack, Discord), and the url
    option is not a Secret, so messages and logs never show more than the host.
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _media(m: Media) -> dict[str, Any]:
    return {
        "kind": m.kind,
        "url_or_path": m.location,
        "alt": m.alt,
        "title": m.title,
        "mime_type": m.mime_type,
        "size": m.size,
    }


def _url(ctx: ChannelContext) -> str:
    url = ctx.options.get("url")
    if (
        not isinstance(url, str)
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).hostname
    ):
        raise PermanentError("webhook: url must be an http:// or https:// URL with a host")
    return url


def _secret(ctx: ChannelContext) -> str:
    value = ctx.options.get("secret")
    if isinstance(value, Secret):
        return value.reveal()
    return value if isinstance(value, str) else ""


def _static_headers(ctx: ChannelContext) -> dict[str, str]:
    headers = ctx.options.get("headers") or {}
    bad = [str(k) for k, v in headers.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise PermanentError(f"webhook headers: values must be strings ({', '.join(bad)})")
    return dict(headers)


def _pool_error(where: str, exc: Exception) -> Exception:
    import urllib3

    if isinstance(exc, ValueError | urllib3.exceptions.LocationValueError):
        return PermanentError(f"webhook {where}: invalid request ({type(exc).__name__})")
    # NewConnectionError subclasses ConnectTimeoutError: a refused connection is not a timeout
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
        exc, urllib3.exceptions.NewConnectionError
    ):
        return TransientError(f"webhook {where}: timed out connecting (nothing was sent)")
    if isinstance(exc, urllib3.exceptions.SSLError):
        return TransientError(f"webhook {where}: TLS error ({_reason(exc)})")
    return TransientError(f"webhook {where}: connection failed ({_reason(exc)})")


def _status_error(where: str, code: int, text: str, retry_after: str | None, secret: str) -> Exception:
    text = text.replace(secret, "<secret>") if secret else text
    snippet = " ".join(text[:SNIPPET].split())
    detail = f"webhook {where}: HTTP {code}" + (f": {snippet}" if snippet else "")
    if code in (429, 503) or code >= 500 or code in (408, 425):
        return TransientError(detail, retry_after=parse_retry_after(retry_after))
    if code in (401, 403):
        return AuthError(detail)
    if 300 <= code < 400:
        return PermanentError(f"webhook {where}: HTTP {code} redirect; set url to the final address")
    return PermanentError(detail)
