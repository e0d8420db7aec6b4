"""whatsapp channel: send an approved template message about each release to a list of numbers.

Configuration::

    [channels.whatsapp-press]
    type = "whatsapp"
    token = { env = "WHATSAPP_TOKEN" }       # a system-user access token
    phone_number_id = "109876543210987"      # the sender's phone number ID (not the number)
    template = "siaran_pers_baru"            # an approved template: "… {{1}} … {{2}}"
    language = "id"                          # the template's language code
    recipients = ["+6281234567890", "+6285712345678"]

What WhatsApp allows, plainly: a business may send free-form messages only within 24 hours
of the recipient's last message to it (the customer-service window). Outside that window,
which is always the case for a press list, only a **pre-approved template** can be sent, so
this channel sends one template message per recipient, with the release's fields (by
default the title and the link) as the body parameters ``{{1}}``, ``{{2}}``… The template
text itself is fixed when Meta approves it. There is **no public API for WhatsApp
Channels**: the Cloud API cannot post to a Channel, and this plugin does not try.

Every recipient is a separate call (``POST /{version}/{phone_number_id}/messages``). The
receipt lists the message id (``wamid``) of each recipient reached and, in
``extra["failed"]``, why each other one was not. Delivery is **at most once**: when at least
one recipient was reached, the delivery counts as sent and the failed recipients are *not*
retried (so nobody gets the message twice); they are logged as warnings. Only when every
recipient failed does publish raise, by the error's class: 131047 (the 24-hour window) and
template problems are PermanentError, with an explanation; 190 or HTTP 401 (a bad or
expired token) is AuthError; 130429 / 131056 (rate limits) and 5xx are TransientError. The
Cloud API has no idempotency key (``idempotency = "none"``). ``check`` reads the phone
number's display number and verified name (and, with ``business_account_id``, whether the
template is approved) and sends nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext, Limits, notice_word
from syndicator.content import plain
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator.render import truncate
from syndicator_channels.webhook import describe_url
from syndicator_channels.wire import json_body as _json

if TYPE_CHECKING:
    import requests  # imported where it is used: loading the plugin stays cheap

API_BASE = "https://graph.facebook.com"
API_VERSION = "v23.0"
BODY_LIMIT = 1024  # a template body, parameters included
PARAM_BUDGET = 900  # what the parameters may take of it, leaving room for the template's text
MIN_PARAM = 20
SNIPPET = 200
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FIELDS = ("title", "url", "summary", "agency", "date", "id")
_KEEP_WHOLE = frozenset({"url", "date", "id"})

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_TEMPLATE = re.compile(r"[a-z0-9_]{1,512}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2})?")
_VERSION = re.compile(r"v[0-9]+\.[0-9]+")
_ID = re.compile(r"[0-9]{5,30}")

#: Graph / WhatsApp error codes by what to do about them.
AUTH_CODES = frozenset({0, 3, 10, 190, 131031})
RATE_CODES = frozenset({4, 80007, 130429, 131048, 131056})
TEMPORARY_CODES = frozenset({1, 2, 131000, 131016, 133004})
EXPLAIN = {
    131047: "more than 24 hours have passed since this recipient last wrote to the business, so "
    "WhatsApp accepts only an approved template here (check that `template` names one)",
    131026: "WhatsApp could not deliver to this number (not on WhatsApp, or an old app version)",
    131030: "this number is not in the allowed list of the test phone number",
    131051: "message type not supported",
    132000: "the number of parameters does not match the template's variables (see `parameters`)",
    132001: "no template of this name in this language (check `template` and `language`)",
    132005: "the template text with its parameters is too long",
    132007: "the template's content breaks a WhatsApp policy",
    132012: "a parameter does not fit the template's variable format",
    132015: "the template is paused for low quality",
    132016: "the template is disabled",
    131031: "the business account is locked",
    190: "the access token expired or was revoked: create a new system-user token",
    130429: "Cloud API throughput limit reached",
    131056: "too many messages to this recipient in a short time",
    131048: "spam rate limit: too many messages were blocked or reported",
}


class WhatsAppChannel(Channel):
    """Sends one approved template message per recipient through the WhatsApp Cloud API."""

    type = "whatsapp"
    description = "Send an approved WhatsApp template (title and link) to a list of numbers (Cloud API)"
    idempotency = "none"
    limits = Limits(max_length=BODY_LIMIT, counting="chars")
    options = (
        Option("token", str, required=True, secret=True, help="a system-user access token (Bearer)"),
        Option("phone_number_id", (str, int), required=True, help="the sender's phone number ID"),
        Option("template", str, required=True, help="the name of an approved message template"),
        Option("language", str, required=True, help='the template\'s language code ("id", "en_US")'),
        Option("recipients", list, required=True, help='E.164 numbers, e.g. ["+6281234567890"]'),
        Option(
            "parameters",
            list,
            default=["title", "url"],
            help="release fields for the body's {{1}}, {{2}}…: " + ", ".join(FIELDS),
        ),
        Option(
            "business_account_id", (str, int), help="WhatsApp Business Account ID: check finds the template"
        ),
        Option("api_base", str, default=API_BASE, help="Graph API server (tests)"),
        Option("api_version", str, default=API_VERSION, help='Graph API version, e.g. "v23.0"'),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Config-time checks of numbers, names and URLs."""
        problems: list[tuple[str, str]] = []
        try:
            _api_base(options)
        except PermanentError as exc:
            problems.append(("api_base", str(exc).removeprefix("whatsapp: api_base ")))
        version = options.get("api_version", API_VERSION)
        if isinstance(version, str) and not _VERSION.fullmatch(version):
            problems.append(
                ("api_version", f'expected a Graph API version like "{API_VERSION}", got {version!r}')
            )
        for key in ("phone_number_id", "business_account_id"):
            value = options.get(key)
            if value is not None and (isinstance(value, bool) or not _ID.fullmatch(str(value))):
                problems.append((key, f"expected the numeric ID from the WhatsApp Manager, got {value!r}"))
        template = options.get("template")
        if isinstance(template, str) and not _TEMPLATE.fullmatch(template):
            problems.append(("template", "template names are lower-case letters, digits and _"))
        language = options.get("language")
        if isinstance(language, str) and not _LANGUAGE.fullmatch(language):
            problems.append(("language", f'expected a language code like "id" or "en_US", got {language!r}'))
        recipients = options.get("recipients")
        if isinstance(recipients, list):
            if not recipients:
                problems.append(("recipients", "give at least one number"))
            bad = [r for r in recipients if not isinstance(r, str) or not _E164.fullmatch(r.strip())]
            if bad:
                problems.append(
                    (
                        "recipients",
                        f"expected E.164 numbers like +6281234567890, got {', '.join(map(repr, bad))}",
                    )
                )
            seen = [r.strip() for r in recipients if isinstance(r, str)]
            doubles = sorted({r for r in seen if seen.count(r) > 1})
            if doubles:
                problems.append(("recipients", f"listed twice: {', '.join(doubles)}"))
        fields = options.get("parameters")
        if isinstance(fields, list):
            unknown = [f for f in fields if f not in FIELDS]
            if unknown:
                problems.append(
                    (
                        "parameters",
                        f"unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(FIELDS)}",
                    )
                )
        return problems

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """The template's parameters and a preview of what goes to whom. No I/O."""
        return self._post(release, ctx, _values(release, ctx.timezone), {})

    def render_correction(self, release: Release, original: Receipt, ctx: ChannelContext) -> Post:
        """The same template, the title led by "Ralat"/"Correction"."""
        values = _values(release, ctx.timezone)
        values["title"] = f"{notice_word('correction', release.language)}: {values['title']}"
        return self._post(release, ctx, values, {"correction": True})

    def render_retraction(
        self, release: Release, original: Receipt, reason: str, ctx: ChannelContext
    ) -> Post:
        """The same template, the title saying the release was withdrawn and why."""
        values = _values(release, ctx.timezone)
        lead = notice_word("retraction", release.language)
        values["title"] = f"{lead}: {values['title']}" + (f" ({plain(reason)})" if reason.strip() else "")
        values["summary"] = plain(reason)
        return self._post(release, ctx, values, {"retraction_of": original.to_dict()})

    def _post(
        self, release: Release, ctx: ChannelContext, values: dict[str, str], extra: Mapping[str, Any]
    ) -> Post:
        fields = [str(f) for f in (ctx.options.get("parameters") or [])]
        if ctx.options.get("parameters") is None:
            fields = ["title", "url"]
        params = fit_parameters([(f, values.get(f, "")) for f in fields])
        template = str(ctx.options.get("template") or "")
        language = str(ctx.options.get("language") or "")
        recipients = [str(r).strip() for r in ctx.options.get("recipients") or []]
        head = f"WhatsApp template {template} ({language}) to {len(recipients)} recipient(s)"
        lines = [head, *(f"{{{{{n}}}}} {value}" for n, value in enumerate(params, 1))]
        text = "\n".join(lines)
        if len(text) > BODY_LIMIT:  # a template name of hundreds of characters: keep the preview in bounds
            text = truncate(text, self.limits)
        components = (
            [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}] if params else []
        )
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=text,
            title=plain(release.title),
            link=release.url,
            extra={
                **extra,
                "template": {"name": template, "language": {"code": language}, "components": components},
                "recipients": recipients,
            },
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """One template message per recipient; raises only when none was reached."""
        api = _Api(ctx)
        template = post.extra.get("template")
        if not isinstance(template, Mapping):
            raise PermanentError("whatsapp: the post has no template (render it with this channel)")
        recipients = list(
            post.extra.get("recipients") or [str(r).strip() for r in ctx.options.get("recipients") or []]
        )
        if not recipients:
            raise PermanentError("whatsapp: no recipients configured")
        sent: dict[str, str] = {}
        failed: dict[str, Failure] = {}
        for n, number in enumerate(recipients):
            body = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": number.removeprefix("+"),
                "type": "template",
                "template": template,
            }
            try:
                answer = api.call("POST", f"{api.number_id}/messages", what="send", payload=body)
            except _Refused as exc:
                failed[number] = exc.failure
                if exc.failure.kind == "auth":  # the same token for everyone: stop here
                    for rest in recipients[n + 1 :]:
                        failed[rest] = Failure("auth", None, "not attempted: the token was refused")
                    break
                continue
            message_id = _message_id(answer)
            if message_id:
                sent[number] = message_id
            else:
                failed[number] = Failure("unknown", None, "accepted without a message id")
        for number, failure in failed.items():
            ctx.logger.warning("whatsapp %s: %s not reached: %s", api.where, number, failure.message)
        if not sent:
            raise _all_failed(api.where, failed)
        ids = tuple(sent.values())
        extra: dict[str, Any] = {
            "template": template.get("name"),
            "sent": sent,
            "failed": {number: f.to_dict() for number, f in failed.items()},
        }
        return Receipt(remote_id=ids[0], ids=ids, extra=extra)

    def check(self, ctx: ChannelContext) -> str:
        """Read the phone number (and the template, with business_account_id); sends nothing."""
        api = _Api(ctx)
        try:
            number = api.call(
                "GET",
                api.number_id,
                what="phone number",
                params={"fields": "display_phone_number,verified_name"},
            )
        except _Refused as exc:
            raise exc.failure.error(f"whatsapp {api.where}: phone number {api.number_id}") from None
        shown = number.get("display_phone_number") or api.number_id
        status = f"sending as {shown}" + (
            f" ({number['verified_name']})" if number.get("verified_name") else ""
        )
        account = ctx.options.get("business_account_id")
        if account is None:
            return status + "; template not checked (set business_account_id to check it)"
        template = str(ctx.options.get("template") or "")
        language = str(ctx.options.get("language") or "")
        try:
            found = api.call(
                "GET",
                f"{quote(str(account), safe='')}/message_templates",
                what="templates",
                params={"name": template, "fields": "name,language,status"},
            )
        except _Refused as exc:
            raise exc.failure.error(f"whatsapp {api.where}: templates of {account}") from None
        rows = [t for t in found.get("data") or [] if isinstance(t, dict) and t.get("name") == template]
        match = next((t for t in rows if t.get("language") == language), None)
        if match is None:
            have = ", ".join(sorted(str(t.get("language")) for t in rows)) or "none"
            raise PermanentError(
                f"whatsapp: no template {template!r} in language {language!r} (languages found: {have})"
            )
        if str(match.get("status") or "").upper() != "APPROVED":
            raise PermanentError(
                f"whatsapp: template {template!r} ({language}) is {match.get('status')}, not APPROVED; "
                "only approved templates can be sent"
            )
        return status + f"; template {template} ({language}) is approved"


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(WhatsAppChannel)


# -- helpers (module level so other plugins and tests can use them) -------------------------


def fit_parameters(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Parameter texts as WhatsApp accepts them: one line (no tab, newline or run of spaces),
    never empty, and together within PARAM_BUDGET characters. URLs, dates and ids stay whole;
    the title, summary and agency are shortened at a word boundary."""
    cleaned = [(name, re.sub(r"\s+", " ", value).strip() or "-") for name, value in pairs]
    fixed = sum(len(v) for name, v in cleaned if name in _KEEP_WHOLE)
    room = PARAM_BUDGET - fixed
    flexible = [i for i, (name, _) in enumerate(cleaned) if name not in _KEEP_WHOLE]
    out = [v for _, v in cleaned]
    for left, i in enumerate(flexible):
        share = max(MIN_PARAM, room // (len(flexible) - left))
        out[i] = truncate(out[i], Limits(max_length=share, counting="chars")) or out[i][:share]
        room -= len(out[i])
    return out


def _values(release: Release, timezone: str) -> dict[str, str]:
    date = ""
    if release.published:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone: Any = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        published = release.published if release.published.tzinfo else release.published.replace(tzinfo=UTC)
        date = published.astimezone(zone).date().isoformat()
    return {
        "title": plain(release.title),
        "url": release.url,
        "summary": plain(release.summary),
        "agency": plain(release.agency),
        "date": date,
        "id": release.id,
    }


def _message_id(answer: Mapping[str, Any]) -> str:
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return str(messages[0].get("id") or "")
    return ""


@dataclass(frozen=True)
class Failure:
    """Why one recipient was not reached. ``kind``: auth, transient, permanent or unknown."""

    kind: str
    code: int | None
    message: str
    retry_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.kind, "code": self.code, "error": self.message}

    def error(self, prefix: str) -> Exception:
        text = f"{prefix}: {self.message}"
        if self.kind == "auth":
            return AuthError(text)
        if self.kind == "transient":
            return TransientError(text, retry_after=self.retry_after)
        if self.kind == "unknown":
            return UnknownOutcome(text)
        return PermanentError(text)


class _Refused(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(failure.message)


def _all_failed(where: str, failed: Mapping[str, Failure]) -> Exception:
    """One error for a publish that reached nobody, of the class that decides what happens next."""
    listed = "; ".join(f"{number}: {f.message}" for number, f in failed.items())
    kinds = {f.kind for f in failed.values()}
    prefix = f"whatsapp {where}: no recipient reached ({listed})"
    if "unknown" in kinds:  # someone may have it: never send again blindly
        return UnknownOutcome(prefix[:1000])
    if "auth" in kinds:
        return AuthError(prefix[:1000])
    if "transient" in kinds:
        waits = [f.retry_after for f in failed.values() if f.retry_after is not None]
        return TransientError(prefix[:1000], retry_after=max(waits) if waits else None)
    return PermanentError(prefix[:1000])


def _api_base(options: Mapping[str, Any]) -> str:
    value = options.get("api_base") or API_BASE
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise PermanentError("whatsapp: api_base must be an https:// URL, e.g. https://graph.facebook.com")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise PermanentError("whatsapp: api_base must use https (http only for 127.0.0.1 or localhost)")
    if parts.query or parts.fragment:
        raise PermanentError("whatsapp: api_base must be a base URL without ? or #")
    return str(value).rstrip("/")


class _Api:
    """Graph API calls: the token goes only into the Authorization header."""

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        version = str(ctx.options.get("api_version") or API_VERSION)
        self.base = f"{_api_base(ctx.options)}/{version}"
        self.where = describe_url(self.base)
        number_id = ctx.options.get("phone_number_id")
        if number_id is None or not _ID.fullmatch(str(number_id)):
            raise PermanentError("whatsapp: phone_number_id must be the numeric ID from the WhatsApp Manager")
        self.number_id = str(number_id)
        value = ctx.options.get("token")
        self._token = (value.reveal() if isinstance(value, Secret) else str(value or "")).strip()
        if not self._token:
            raise AuthError("whatsapp: token is empty")

    def call(
        self,
        verb: str,
        path: str,
        *,
        what: str,
        payload: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The JSON answer of a 2xx; otherwise raises _Refused with the classified failure."""
        import requests

        headers = {"Authorization": f"Bearer {self._token}"}
        kwargs: dict[str, Any] = {"headers": headers, "params": dict(params or {}), "allow_redirects": False}
        if payload is not None:
            kwargs["data"] = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            resp = self.ctx.http.request(verb, f"{self.base}/{path}", **kwargs)
        except requests.RequestException as exc:
            raise _Refused(_transport_failure(exc, posts=verb == "POST")) from None
        self.ctx.logger.debug("whatsapp %s: %s %s -> HTTP %s", self.where, verb, what, resp.status_code)
        body = _json(resp)
        info = body if isinstance(body, dict) else {}
        if 200 <= resp.status_code < 300:
            return info
        raise _Refused(self._failure(resp, info))

    def _failure(self, resp: requests.Response, info: Mapping[str, Any]) -> Failure:
        status = resp.status_code
        found = info.get("error")
        error: Mapping[str, Any] = found if isinstance(found, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        message = str(error.get("message") or "") if error else " ".join(resp.text[:SNIPPET].split())
        extra = error.get("error_data")
        details = str(extra.get("details") or "") if isinstance(extra, dict) else ""
        text = (
            f"HTTP {status}"
            + (f" code {code}" if code is not None else "")
            + (f": {message}" if message else "")
        )
        if details and details not in message:
            text += f" ({details})"
        if code in EXPLAIN:
            text += f" — {EXPLAIN[code]}"
        text = text.replace(self._token, "<token>")[: 2 * SNIPPET]
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if code in AUTH_CODES or status == 401 or (isinstance(code, int) and 200 <= code <= 299):
            return Failure("auth", code, text)
        if status == 429 or code in RATE_CODES or code in TEMPORARY_CODES or status >= 500 or status == 408:
            return Failure("transient", code, text, retry_after)
        if status == 403:
            return Failure("auth", code, text)
        return Failure("permanent", code, text)


def _causes(exc: BaseException) -> list[BaseException]:
    todo: list[BaseException] = [exc]
    seen: list[BaseException] = []
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        nested = (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return seen


def _transport_failure(exc: BaseException, *, posts: bool) -> Failure:
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    causes = _causes(exc)
    reason = next(
        (e.strerror for e in causes if isinstance(e, OSError) and e.strerror), type(causes[-1]).__name__
    )
    unsent = isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)) or any(
        isinstance(e, (NewConnectionError, NameResolutionError)) for e in causes
    )
    if unsent or not posts:
        return Failure("transient", None, f"connection failed ({reason}); nothing was sent")
    what = (
        "timed out waiting for an answer"
        if isinstance(exc, requests.ReadTimeout)
        else f"connection lost ({reason})"
    )
    return Failure("unknown", None, f"{what} after sending; the message may have been delivered")
