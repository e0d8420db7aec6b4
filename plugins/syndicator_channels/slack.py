"""slack channel: post each release to a Slack channel through an incoming webhook.

Configuration::

    [channels.slack-press]
    type = "slack"
    webhook_url = { env = "SLACK_WEBHOOK_URL" }   # https://hooks.slack.com/services/T…/B…/…
    unfurl_links = false                          # optional: let Slack preview the release link

The message is Block Kit: a header with the title, a section with the summary, a section
with the link ``<url|title>`` and a button, the first remote image, and a context line with
the agency and date. ``text`` (the notification and fallback) is always set. Release text
is escaped for Slack mrkdwn (``&``, ``<``, ``>``), so it can neither form links nor mention
``@channel``. Lengths follow Slack's limits: ``text`` 40,000 characters, section text 3,000,
header 150 (cut at a word boundary with "…").

An incoming webhook answers ``ok`` and no message id, so the receipt has no ``remote_id``;
nothing can be edited, deleted or looked up later, hence ``idempotency = "none"``. A timeout
after the request went out is therefore an :class:`~syndicator.errors.UnknownOutcome`.
The webhook URL is the credential: it is a secret, and messages show only its host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext, Limits
from syndicator.content import plain, plain_body
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator_channels.webhook import describe_url
from syndicator_channels.wire import nothing_sent as _nothing_sent
from syndicator_channels.wire import root_cause as _reason

if TYPE_CHECKING:
    import requests  # imported where it is used: loading the plugin stays cheap

TEXT_LIMIT = 40_000
SECTION_LIMIT = 3_000
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
URL_LIMIT = 3_000
ALT_LIMIT = 2_000
SNIPPET = 200
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: Slack's error strings that mean the webhook itself is dead or not ours: re-configure.
TOKEN_ERRORS = frozenset({"invalid_token", "no_service", "no_team", "team_disabled", "token_revoked"})

_WORDS = {
    "id": {"read": "Baca rilis"},
    "en": {"read": "Read the release"},
}


class SlackChannel(Channel):
    """Posts a Block Kit message per release to a Slack incoming webhook."""

    type = "slack"
    description = "Post each release to Slack through an incoming webhook (Block Kit)"
    idempotency = "none"
    limits = Limits(max_length=TEXT_LIMIT, counting="chars")
    options = (
        Option(
            "webhook_url",
            str,
            required=True,
            secret=True,
            help="the incoming webhook URL (from the environment: it is the credential)",
        ),
        Option("unfurl_links", bool, default=False, help="let Slack add a preview of the release link"),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The URL must be https (http only to 127.0.0.1/localhost). Never echoes it."""
        try:
            _webhook_url(options)
        except PermanentError as exc:
            return [("webhook_url", str(exc).removeprefix("slack: webhook_url "))]
        return []

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Build the Block Kit payload and its fallback ``text``. No I/O."""
        words = _WORDS["id" if release.language.lower().split("-")[0] in ("id", "in") else "en"]
        title = plain(release.title)
        summary = plain(release.summary) or _first_paragraph(release)
        url = release.url if release.url.startswith(("https://", "http://")) else ""
        agency = plain(release.agency)
        dated = _format_date(release.published, ctx.timezone) if release.published else ""

        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(title, HEADER_LIMIT)}}
        ]
        if summary:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": fit(summary, SECTION_LIMIT)}}
            )
        if url:
            section: dict[str, Any] = {
                "type": "section",
                "text": {"type": "mrkdwn", "text": link(url, title)},
            }
            if len(url) <= URL_LIMIT:
                section["accessory"] = {
                    "type": "button",
                    "text": {"type": "plain_text", "text": truncate(words["read"], BUTTON_LIMIT)},
                    "url": url,
                }
            blocks.append(section)
        image = next((m for m in release.images if m.location.startswith("https://")), None)
        if image is not None and len(image.location) <= URL_LIMIT:
            blocks.append(
                {
                    "type": "image",
                    "image_url": image.location,
                    "alt_text": truncate(image.alt or title, ALT_LIMIT),
                }
            )
        context = " · ".join(x for x in (agency, dated) if x)
        if context:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(context, SECTION_LIMIT)}]}
            )

        override = (release.overrides.get(ctx.name) or {}).get("text")
        if isinstance(override, str) and override.strip():
            text = fit(override.strip(), TEXT_LIMIT)
        else:
            head = f"{agency}: {title}" if agency else title
            lines = [fit(head, SECTION_LIMIT)]
            if summary:
                lines.append(fit(summary, SECTION_LIMIT))
            if url:
                lines.append(link(url, title))
            text = fit_lines(lines, TEXT_LIMIT)
        payload: dict[str, Any] = {
            "text": text,
            "blocks": blocks,
            "unfurl_links": bool(ctx.options.get("unfurl_links")),
            "unfurl_media": False,
        }
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=text,
            title=title,
            link=url,
            extra={"payload": payload},
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """POST the payload; Slack answers 200 ``ok`` (no id) or an error string."""
        url = _webhook_url(ctx.options)
        where = describe_url(url)
        body = json.dumps(post.extra["payload"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        import requests

        try:
            resp = ctx.http.post(
                url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=ctx.options.get("timeout"),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _transport_error(where, exc) from None
        ctx.logger.debug("slack %s: POST -> HTTP %s", where, resp.status_code)
        if 200 <= resp.status_code < 300:
            return Receipt(remote_id="", extra={"status": resp.status_code})
        raise _status_error(where, resp, url)

    def check(self, ctx: ChannelContext) -> str:
        """Incoming webhooks cannot be probed without posting, so this sends nothing."""
        where = describe_url(_webhook_url(ctx.options))
        return (
            f"not checked: a Slack incoming webhook cannot be tested without posting a message "
            f"(URL {where} is well formed; nothing was sent)"
        )


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(SlackChannel)


# -- helpers (module level so other plugins and tests can use them) -------------------------


def escape(value: str) -> str:
    """Escape text for Slack mrkdwn: only ``&``, ``<`` and ``>`` are control characters."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``<url|label>``; characters that would end the link are percent-encoded in the URL."""
    safe_url = escape(quote(url, safe="/:?#[]@!$&'()*+,;=%~.-_"))
    safe_label = escape(label).replace("|", "¦") or safe_url
    return f"<{safe_url}|{truncate(safe_label, SECTION_LIMIT - len(safe_url) - 3)}>"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, ending with "…"."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" \t\n,;:&-–—") + "…"


def fit(raw: str, limit: int) -> str:
    """Escape ``raw`` for mrkdwn and fit it in ``limit`` (cut before escaping, never mid-entity)."""
    out = escape(raw)
    if len(out) <= limit:
        return out
    keep = size = 0
    for ch in raw:  # the longest prefix that, escaped, leaves room for "…"
        size += len(escape(ch))
        if size > limit - 1:
            break
        keep += 1
    return escape(truncate(raw, keep + 1))


def fit_lines(lines: list[str], limit: int) -> str:
    """Join already escaped lines; drop whole lines from the end to fit ``limit``."""
    while lines:
        text = "\n".join(lines)
        if len(text) <= limit:
            return text
        lines = lines[:-1]
    return ""


def _first_paragraph(release: Release) -> str:
    body = plain_body(release)
    return plain(re.split(r"\n\s*\n", body, maxsplit=1)[0]) if body else ""


def _format_date(value: datetime, zone_name: str) -> str:
    """``2024-05-01 09:30 WITA``: numeric, so it reads the same in any language."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone: Any = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def _webhook_url(options: Mapping[str, Any]) -> str:
    """The revealed URL, checked; errors never include it."""
    value = options.get("webhook_url")
    url = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(url, str) or not url:
        raise PermanentError("slack: webhook_url is required")
    parts = urlsplit(url)
    if not parts.hostname:
        raise PermanentError("slack: webhook_url must be an https:// URL with a host")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise PermanentError("slack: webhook_url must use https (http only for 127.0.0.1 or localhost)")
    if parts.scheme not in ("https", "http"):
        raise PermanentError("slack: webhook_url must be an https:// URL with a host")
    return url


def _transport_error(where: str, exc: requests.RequestException) -> Exception:
    import requests

    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
        return PermanentError(f"slack {where}: invalid webhook URL ({type(exc).__name__})")
    if _nothing_sent(exc):
        what = "timed out connecting" if isinstance(exc, requests.ConnectTimeout) else "connection failed"
        return TransientError(f"slack {where}: {what} ({_reason(exc)}); nothing was sent")
    if isinstance(exc, requests.ReadTimeout):
        return UnknownOutcome(
            f"slack {where}: timed out waiting for Slack after sending; the message may have been posted"
        )
    return UnknownOutcome(
        f"slack {where}: connection lost after sending ({_reason(exc)}); the message may have been posted"
    )


def _status_error(where: str, resp: requests.Response, url: str) -> Exception:
    code = resp.status_code
    text = resp.text.replace(url, "<webhook>")
    error = " ".join(text[:SNIPPET].split())
    detail = f"slack {where}: HTTP {code}" + (f": {error}" if error else "")
    if code == 429:
        return TransientError(detail, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
    if code >= 500 or code == 408:
        return TransientError(detail, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
    if error in TOKEN_ERRORS or code == 401:
        return AuthError(f"{detail} (the webhook URL is no longer valid: create a new one)")
    if 300 <= code < 400:
        return PermanentError(f"slack {where}: HTTP {code} redirect; check webhook_url")
    return PermanentError(detail)
