"""email channel: send each release to a list of journalists over SMTP.

Configuration::

    [channels.press-list]
    type = "email"
    host = "smtp.example.go.id"
    port = 587                                  # optional: 587 starttls, 465 ssl, 25 none
    security = "starttls"                       # "starttls" | "ssl" | "none" (127.0.0.1/localhost only)
    username = "humas"                          # optional: SMTP AUTH
    password = { env = "SMTP_PASSWORD" }
    sender = "Humas Diskominfo <humas@example.go.id>"
    recipients = ["desk@koran.example", "Redaksi <redaksi@tv.example>"]
    mode = "bcc"                                # "bcc" (default: nobody sees the list) | "to"
    reply_to = "media@example.go.id"            # optional
    list_unsubscribe = ["https://example.go.id/unsub?l=press", "mailto:unsub@example.go.id"]
    subject_prefix = "[Siaran Pers]"            # optional

Each release becomes one message: ``multipart/alternative`` (plain text and sanitised HTML)
with the release's local images and attachments attached; remote ones are linked. The
``Message-ID`` is ``<syn-{idempotency key}@{sender's domain}>``: the same for one release on
one channel across renders, retries and runs, so a receiving system can discard a duplicate.
SMTP itself cannot deduplicate, hence ``idempotency = "none"``.

Outcomes: a recipient refused with 5xx while others were accepted is recorded in the
receipt's ``extra["refused"]`` (4xx in ``extra["deferred"]``) with a warning, and the
delivery succeeds for the rest; when every recipient is refused nothing was sent and the
call raises (4xx transient, 5xx permanent). A connection lost while the server was
accepting the message body is an :class:`~syndicator.errors.UnknownOutcome`: the message
may have been delivered, and sending it again would reach every journalist twice.

Corrections: :func:`correction` turns a rendered post into a follow-up threaded under the
original (``In-Reply-To`` and ``References`` set to its Message-ID, a new Message-ID of its own).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from syndicator import hookimpl
from syndicator.channel import Capabilities, Channel, ChannelContext, Limits
from syndicator.content import escape, plain, plain_body, sanitize_html
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_TIMEOUT = 30.0
ONE_CLICK = "List-Unsubscribe=One-Click"
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")  # in order of preference; TLS protects PLAIN
#: How the message goes on the wire: CRLF; headers stored raw (``set_raw``) are sent as they
#: are, since folding List-Unsubscribe's long URLs would RFC 2047-encode and so break them.
WIRE = SMTP.clone(refold_source="none")
WIRE_UTF8 = SMTPUTF8.clone(refold_source="none")

_ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+")
_KEY_TOKEN = re.compile(r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*")

#: The few words the message itself says, by language ("id" or anything else: English).
_WORDS = {
    "id": {
        "online": "Baca di situs",
        "attachments": "Lampiran",
        "attached": "terlampir",
        "unsubscribe": "Berhenti berlangganan",
        "months": "Januari Februari Maret April Mei Juni Juli Agustus September Oktober November Desember",
    },
    "en": {
        "online": "Read online",
        "attachments": "Attachments",
        "attached": "attached",
        "unsubscribe": "Unsubscribe",
        "months": "January February March April May June July August September October November December",
    },
}


class EmailChannel(Channel):
    """Mails each release (text + HTML, attachments) to a configured list of journalists."""

    type = "email"
    description = "Send each release by SMTP to a list of journalists (text + HTML, attachments)"
    idempotency = "none"
    capabilities = Capabilities(media=True)
    limits = Limits(max_media=10_000)  # every image and file is attached or linked
    options = (
        Option("host", str, required=True, help="SMTP server host name"),
        Option("port", int, help="SMTP port (default: 587 for starttls, 465 for ssl, 25 for none)"),
        Option(
            "security",
            str,
            default="starttls",
            choices=SECURITY,
            help='"starttls", "ssl" (implicit TLS) or "none" (only for 127.0.0.1/localhost)',
        ),
        Option("username", str, help="SMTP AUTH user name (with password)"),
        Option("password", str, secret=True, help="SMTP AUTH password (from the environment)"),
        Option("sender", str, required=True, help='the From address, e.g. "Humas <humas@example.go.id>"'),
        Option("recipients", list, required=True, help="journalists' addresses"),
        Option(
            "mode",
            str,
            default="bcc",
            choices=("bcc", "to"),
            help='"bcc": recipients only in the envelope; "to": listed in the To header',
        ),
        Option("reply_to", str, help="Reply-To address"),
        Option(
            "list_unsubscribe",
            (str, list),
            help="https:// URL and/or mailto: address for the List-Unsubscribe header",
        ),
        Option("subject_prefix", str, default="", help='put before the title, e.g. "[Siaran Pers]"'),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Config-time checks: cleartext only to loopback, addresses well formed."""
        return option_problems(options)

    # -- render (pure) -------------------------------------------------------------------

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Build subject, text, HTML, headers and the attachment list. No I/O.

        Local files are only recorded (absolute paths); ``publish`` reads them.
        """
        settings = _settings(ctx.options)
        lang = _lang(release.language)
        words = _WORDS[lang]
        override = release.overrides.get(ctx.name) or {}
        subject = plain(str(override.get("subject") or "")) or plain(release.title)
        if settings.subject_prefix:
            subject = f"{settings.subject_prefix} {subject}"
        dated = _format_date(release.published, ctx.timezone, lang) if release.published else ""

        attached: list[dict[str, str]] = []
        linked: list[tuple[str, str]] = []
        for media in (*release.images, *release.attachments):
            name = media.title or Path(media.location.split("?")[0]).name or media.location
            if media.is_remote:
                linked.append((name, media.location))
            else:
                path = ctx.path(media.location)
                attached.append({"path": str(path), "filename": path.name, "mime_type": media.mime_type})

        text = _plain_body(release, words, dated, attached, linked, settings.unsubscribe)
        html = _html_body(release, words, dated, attached, linked, settings.unsubscribe, subject)
        to = settings.recipient_headers if settings.mode == "to" else [settings.sender]
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=text,
            title=subject,
            link=release.url,
            media=(*release.images, *release.attachments),
            extra={
                "message_id": message_id(
                    ctx.idempotency_key or f"{ctx.name}\n{release.key}", settings.sender
                ),
                "subject": subject,
                "from": settings.sender,
                "to": to,
                "reply_to": settings.reply_to,
                "language": release.language,
                "list_unsubscribe": settings.unsubscribe,
                "html": html,
                "envelope_from": settings.envelope_from,
                "recipients": settings.envelope_to,
                "attachments": attached,
            },
        )

    # -- I/O -----------------------------------------------------------------------------

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Send the message; see the module docstring for how refusals are reported."""
        settings = _settings(ctx.options, strict=True)
        message = build_message(post, date=datetime.now(UTC))
        recipients = list(post.extra["recipients"])
        international = not all(a.isascii() for a in (post.extra["envelope_from"], *recipients))
        data = message.as_bytes(policy=WIRE_UTF8 if international else WIRE)
        where = settings.where
        with _Session(settings, ctx) as smtp:
            refused = _transfer(smtp, where, post.extra["envelope_from"], recipients, data, international)
        msgid = str(post.extra["message_id"])
        extra: dict[str, Any] = {"accepted": len(recipients) - len(refused)}
        hard = {a: f"{c} {m}" for a, (c, m) in refused.items() if c >= 500}
        soft = {a: f"{c} {m}" for a, (c, m) in refused.items() if c < 500}
        if hard:
            extra["refused"] = hard
            ctx.logger.warning(
                "email %s: %d recipient(s) refused permanently: %s", where, len(hard), ", ".join(sorted(hard))
            )
        if soft:
            extra["deferred"] = soft
            ctx.logger.warning(
                "email %s: %d recipient(s) refused for now and NOT sent (resend by hand): %s",
                where,
                len(soft),
                ", ".join(sorted(soft)),
            )
        ctx.logger.debug("email %s: sent %s to %d recipient(s)", where, msgid, extra["accepted"])
        return Receipt(remote_id=msgid, extra=extra)

    def check(self, ctx: ChannelContext) -> str:
        """Connect, EHLO, STARTTLS and log in as configured, NOOP, QUIT. Sends no mail."""
        settings = _settings(ctx.options, strict=True)
        with _Session(settings, ctx) as smtp:
            try:
                code, reply = smtp.noop()
            except (smtplib.SMTPException, OSError) as exc:
                raise _connection_error(settings.where, exc) from exc
        if code != 250:
            raise _reply_error(settings.where, "NOOP", code, reply)
        how = {"starttls": "STARTTLS", "ssl": "TLS", "none": "no encryption"}[settings.security]
        who = f", logged in as {settings.username}" if settings.username else ""
        return f"SMTP {settings.where} ready ({how}{who}); nothing sent"


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register(EmailChannel)


# -- helpers (module level so other plugins and tests can use them) -------------------------


def message_id(key: str, sender: str) -> str:
    """``<syn-{key}@{domain of sender}>``; a key unfit for a Message-ID is hashed."""
    token = (
        key
        if len(key) <= 100 and _KEY_TOKEN.fullmatch(key)
        else "h" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    )
    return f"<syn-{token}@{_domain(sender)}>"


def correction(post: Post, original_message_id: str, *, subject_prefix: str = "") -> Post:
    """A copy of ``post`` to send as a correction of an earlier message.

    It carries ``In-Reply-To``/``References`` to ``original_message_id`` (so mail clients
    thread it) and a Message-ID of its own, stable for this content, so retrying the same
    correction reuses it.
    """
    original = original_message_id.strip()
    if not (original.startswith("<") and original.endswith(">") and "@" in original):
        raise PermanentError(f"email correction: {original_message_id!r} is not a Message-ID")
    seed = f"{original}\n{post.payload_hash}"
    domain = original[1:-1].rsplit("@", 1)[1]
    token = "c" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
    subject = f"{subject_prefix} {post.extra['subject']}".strip() if subject_prefix else post.extra["subject"]
    extra = {
        **post.extra,
        "in_reply_to": original,
        "message_id": f"<syn-{token}@{domain}>",
        "subject": subject,
    }
    return Post(
        channel=post.channel,
        release_key=post.release_key,
        text=post.text,
        title=subject,
        link=post.link,
        parts=post.parts,
        media=post.media,
        extra=extra,
    )


def build_message(
    post: Post, *, date: datetime | None = None, read: Callable[[Path], bytes] | None = None
) -> EmailMessage:
    """The MIME message for a rendered post. Reads the local attachments (``read``)."""
    extra = post.extra
    msg = EmailMessage()
    msg["From"] = extra["from"]
    msg["To"] = ", ".join(extra["to"])
    if extra.get("reply_to"):
        msg["Reply-To"] = extra["reply_to"]
    msg["Subject"] = extra["subject"]
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = extra["message_id"]
    if extra.get("in_reply_to"):
        msg["In-Reply-To"] = extra["in_reply_to"]
        msg["References"] = extra["in_reply_to"]
    unsubscribe = list(extra.get("list_unsubscribe") or ())
    if unsubscribe:
        msg.set_raw("List-Unsubscribe", ",\n ".join(f"<{u}>" for u in unsubscribe))  # one entry a line
        if any(u.startswith("https://") for u in unsubscribe):
            msg["List-Unsubscribe-Post"] = ONE_CLICK
    msg.set_content(post.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(extra["html"], subtype="html", charset="utf-8", cte="quoted-printable")
    reader = read or _read_file
    for item in extra.get("attachments") or ():
        path = Path(item["path"])
        mime = item.get("mime_type") or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(
            reader(path), maintype=maintype, subtype=subtype or "octet-stream", filename=item["filename"]
        )
    if extra.get("language"):  # after the parts: making a multipart moves Content-* headers down
        msg["Content-Language"] = extra["language"]
    return msg


def option_problems(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with resolved options, as ``(key, reason)`` pairs."""
    problems: list[tuple[str, str]] = []
    host = options.get("host")
    if not isinstance(host, str) or not host.strip() or re.search(r"[\s/]", host):
        problems.append(("host", "expected a host name such as smtp.example.org (no scheme, no path)"))
    port = options.get("port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        problems.append(("port", f"expected a port number between 1 and 65535, got {port!r}"))
    if (
        options.get("security") == "none"
        and isinstance(host, str)
        and host.strip().lower() not in LOCAL_HOSTS
    ):
        problems.append(
            (
                "security",
                '"none" sends mail and password unencrypted; it is only allowed for 127.0.0.1 or '
                'localhost (use "starttls" or "ssl")',
            )
        )
    if bool(options.get("username")) != bool(options.get("password")):
        problems.append(("username", "username and password go together: set both or neither"))
    sender = options.get("sender")
    if not isinstance(sender, str) or not _address_of(sender):
        problems.append(("sender", f"expected an email address, got {sender!r}"))
    recipients = options.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        problems.append(("recipients", "expected a non-empty list of email addresses"))
    else:
        bad = [repr(r) for r in recipients if not isinstance(r, str) or not _address_of(r)]
        if bad:
            problems.append(("recipients", f"not email addresses: {', '.join(bad)}"))
    reply_to = options.get("reply_to")
    if reply_to is not None and (not isinstance(reply_to, str) or not _address_of(reply_to)):
        problems.append(("reply_to", f"expected an email address, got {reply_to!r}"))
    unsubscribe = options.get("list_unsubscribe")
    values = [unsubscribe] if isinstance(unsubscribe, str) else unsubscribe or []
    for value in values:
        if not isinstance(value, str) or not re.fullmatch(
            r"(https://[^\s<>]+|mailto:[^\s<>]+@[^\s<>]+)", value
        ):
            problems.append(
                ("list_unsubscribe", f"expected an https:// URL or a mailto: address, got {value!r}")
            )
    prefix = options.get("subject_prefix")
    if isinstance(prefix, str) and ("\n" in prefix or "\r" in prefix):
        problems.append(("subject_prefix", "must be one line"))
    return problems


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    host: str
    port: int
    security: str
    username: str
    password: Secret | str | None
    sender: str
    envelope_from: str
    recipient_headers: list[str]
    envelope_to: list[str]
    mode: str
    reply_to: str
    unsubscribe: list[str]
    subject_prefix: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _settings(options: Mapping[str, Any], *, strict: bool = False) -> _Settings:
    """Resolved options as one value. ``strict`` raises PermanentError on any problem."""
    problems = option_problems(options)
    if problems and strict:
        raise PermanentError("email: " + "; ".join(f"{k}: {m}" for k, m in problems))
    security = str(options.get("security") or "starttls")
    port = options.get("port")
    sender = str(options.get("sender") or "")
    headers: list[str] = []
    envelope: list[str] = []
    for value in options.get("recipients") or ():
        address = _address_of(str(value))
        if address and address.lower() not in {a.lower() for a in envelope}:
            envelope.append(address)
            headers.append(str(value).strip())
    unsubscribe = options.get("list_unsubscribe")
    return _Settings(
        host=str(options.get("host") or "").strip(),
        port=port if isinstance(port, int) else DEFAULT_PORTS.get(security, 587),
        security=security,
        username=str(options.get("username") or ""),
        password=options.get("password"),
        sender=sender.strip(),
        envelope_from=_address_of(sender),
        recipient_headers=headers,
        envelope_to=envelope,
        mode=str(options.get("mode") or "bcc"),
        reply_to=str(options.get("reply_to") or "").strip(),
        unsubscribe=[unsubscribe] if isinstance(unsubscribe, str) else list(unsubscribe or ()),
        subject_prefix=str(options.get("subject_prefix") or "").strip(),
    )


def _address_of(value: str) -> str:
    """The bare address in ``"Name <a@b>"`` or ``"a@b"``, or "" if there is none."""
    if "\n" in value or "\r" in value:
        return ""
    _, address = parseaddr(value)
    return address if _ADDRESS.fullmatch(address) else ""


def _domain(sender: str) -> str:
    address = _address_of(sender) or "syndicator@syndicator.invalid"
    domain = address.rsplit("@", 1)[1].lower()
    try:
        return domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "syndicator.invalid"


# -- rendering helpers --------------------------------------------------------------------


def _lang(language: str) -> str:
    return "id" if language.lower().split("-")[0] in ("id", "in") else "en"


def _format_date(value: datetime, zone_name: str, lang: str) -> str:
    """``1 Mei 2024, 16.30 WITA`` / ``1 May 2024, 16:30 WITA`` in the configured time zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone: Any = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    month = _WORDS[lang]["months"].split()[local.month - 1]
    clock = f"{local:%H.%M}" if lang == "id" else f"{local:%H:%M}"
    return f"{local.day} {month} {local.year}, {clock} {local.tzname() or ''}".rstrip()


def _plain_body(
    release: Release,
    words: Mapping[str, str],
    dated: str,
    attached: Sequence[Mapping[str, str]],
    linked: Sequence[tuple[str, str]],
    unsubscribe: Sequence[str],
) -> str:
    blocks = [plain(release.title)]
    byline = " · ".join(x for x in (plain(release.agency), dated) if x)
    if byline:
        blocks[0] += "\n" + byline
    summary = plain(release.summary)
    body = plain_body(release)
    if summary and not body.startswith(summary):
        blocks.append(summary)
    if body:
        blocks.append(body)
    if release.url:
        blocks.append(f"{words['online']}: {release.url}")
    if attached or linked:
        lines = [f"{words['attachments']}:"]
        lines += [f"- {a['filename']} ({words['attached']})" for a in attached]
        lines += [f"- {name}: {url}" for name, url in linked]
        blocks.append("\n".join(lines))
    if unsubscribe:
        blocks.append(f"-- \n{words['unsubscribe']}: {unsubscribe[0]}")
    return "\n\n".join(blocks) + "\n"


def _html_body(
    release: Release,
    words: Mapping[str, str],
    dated: str,
    attached: Sequence[Mapping[str, str]],
    linked: Sequence[tuple[str, str]],
    unsubscribe: Sequence[str],
    subject: str,
) -> str:
    parts: list[str] = []
    byline = " · ".join(escape(x) for x in (plain(release.agency), dated) if x)
    if byline:
        parts.append(f'<p style="color:#555;font-size:90%">{byline}</p>')
    parts.append(f'<h1 style="font-size:140%">{escape(plain(release.title))}</h1>')
    summary = plain(release.summary)
    if summary and not plain_body(release).startswith(summary):
        parts.append(f"<p><strong>{escape(summary)}</strong></p>")
    if release.body_html.strip():
        parts.append(sanitize_html(release.body_html))
    elif release.body_text.strip():
        parts.extend(
            "<p>" + escape(p).replace("\n", "<br>") + "</p>"
            for p in re.split(r"\n\s*\n", release.body_text.strip())
        )
    if release.url:
        url = escape(release.url)
        parts.append(f'<p>{escape(words["online"])}: <a href="{url}">{url}</a></p>')
    if attached or linked:
        items = [f"<li>{escape(a['filename'])} ({escape(words['attached'])})</li>" for a in attached]
        items += [f'<li><a href="{escape(url)}">{escape(name)}</a></li>' for name, url in linked]
        parts.append(
            f'<h2 style="font-size:110%">{escape(words["attachments"])}</h2><ul>{"".join(items)}</ul>'
        )
    if unsubscribe:
        target = escape(unsubscribe[0])
        parts.append(
            f'<hr><p style="color:#777;font-size:80%"><a href="{target}">{escape(words["unsubscribe"])}</a></p>'
        )
    lang = f' lang="{escape(release.language)}"' if release.language else ""
    return (
        f'<!DOCTYPE html>\n<html{lang}><head><meta charset="utf-8"><title>{escape(subject)}</title></head>\n'
        f'<body style="font-family:sans-serif;line-height:1.5;max-width:42em">\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PermanentError(f"email: cannot read attachment {path}: {exc.strerror or exc}") from exc


# -- SMTP ------------------------------------------------------------------------------------


class _Session:
    """Connect, EHLO, STARTTLS and AUTH as configured; QUIT on exit. Errors are mapped."""

    def __init__(self, settings: _Settings, ctx: ChannelContext) -> None:
        self.settings = settings
        self.timeout = float(ctx.options.get("timeout") or DEFAULT_TIMEOUT)
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise _connection_error(s.where, exc) from exc
        self.smtp = smtp
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise PermanentError(
                        f"email {s.where}: the server does not offer STARTTLS; refusing to send in the clear"
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                _login(smtp, s)
        except BaseException as exc:
            _close(smtp)
            if isinstance(exc, (smtplib.SMTPException, OSError)):
                raise _connection_error(s.where, exc) from exc
            raise
        return smtp

    def __exit__(self, *exc_info: object) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            _close(self.smtp)


def _login(smtp: smtplib.SMTP, s: _Settings) -> None:
    if not smtp.has_extn("auth"):
        raise PermanentError(f"email {s.where}: the server does not offer AUTH; check security and port")
    offered = (smtp.esmtp_features.get("auth") or "").upper().split()
    mechanism = next((m for m in AUTH_MECHANISMS if m in offered), None)
    if mechanism is None:
        raise PermanentError(f"email {s.where}: no supported AUTH mechanism offered ({' '.join(offered)})")
    # One mechanism only: smtplib's login() tries the next one after a 535, which counts
    # twice against lockout limits and hangs on servers that do AUTH LOGIN differently.
    smtp.user = s.username
    smtp.password = s.password.reveal() if isinstance(s.password, Secret) else str(s.password or "")
    try:
        smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower().replace("-", "_")))
    except smtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.smtp_code < 500:
            raise TransientError(
                f"email {s.where}: login deferred ({_reply(exc.smtp_code, exc.smtp_error)})"
            ) from None
        raise AuthError(
            f"email {s.where}: login as {s.username} refused ({_reply(exc.smtp_code, exc.smtp_error)})"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise PermanentError(f"email {s.where}: AUTH is not supported here") from None
    except smtplib.SMTPException as exc:
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            raise
        raise AuthError(f"email {s.where}: cannot log in ({exc})") from None
    finally:
        smtp.password = ""


def _transfer(
    smtp: smtplib.SMTP, where: str, sender: str, recipients: list[str], data: bytes, international: bool
) -> dict[str, tuple[int, str]]:
    """MAIL, RCPT per recipient, DATA. Returns the refused recipients (code, text)."""
    try:
        options: list[str] = []
        if international:
            if not smtp.has_extn("smtputf8"):
                raise PermanentError(
                    f"email {where}: non-ASCII addresses need SMTPUTF8, which the server lacks"
                )
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(data)}")
        code, reply = smtp.mail(sender, options)
        if code != 250:
            _rset(smtp)
            raise _reply_error(where, "MAIL FROM", code, reply)
        refused: dict[str, tuple[int, str]] = {}
        for rcpt in recipients:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, _text(reply))
        if len(refused) == len(recipients):
            _rset(smtp)
            codes = sorted({c for c, _ in refused.values()})
            detail = "; ".join(f"{a}: {c} {m}" for a, (c, m) in list(refused.items())[:5])
            message = f"email {where}: every recipient was refused, nothing sent ({detail})"
            if any(400 <= c < 500 for c in codes):
                raise TransientError(message)
            raise PermanentError(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise _connection_error(where, exc) from exc
    try:
        code, reply = smtp.data(data)
    except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was sent
        raise _reply_error(where, "DATA", exc.smtp_code, exc.smtp_error) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise UnknownOutcome(
            f"email {where}: connection lost while sending the message ({_why(exc)}); "
            "it may have been delivered"
        ) from exc
    if code != 250:
        raise _reply_error(where, "end of DATA", code, reply)
    return refused


def _rset(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def _text(reply: bytes | str) -> str:
    value = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(value.split())[:200]


def _reply(code: int, reply: bytes | str) -> str:
    return f"{code} {_text(reply)}".strip()


def _reply_error(where: str, step: str, code: int, reply: bytes | str) -> Exception:
    detail = f"email {where}: {step} refused: {_reply(code, reply)}"
    if 400 <= code < 500:
        return TransientError(detail)
    if code in (530, 534, 535):
        return AuthError(detail)
    return PermanentError(detail)


def _why(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _connection_error(where: str, exc: BaseException) -> Exception:
    """Map what smtplib and the socket raise before the message body went out."""
    if isinstance(exc, (TransientError, PermanentError)):
        return exc
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        if isinstance(exc, smtplib.SMTPConnectError) or code < 0:
            return TransientError(
                f"email {where}: connection refused by the server ({_reply(code, exc.smtp_error)})"
            )
        return _reply_error(where, "command", code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"email {where}: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransientError(f"email {where}: TLS certificate not trusted ({exc.verify_message})")
    if isinstance(exc, ssl.SSLError):
        return TransientError(f"email {where}: TLS error ({exc.reason or type(exc).__name__})")
    return TransientError(f"email {where}: connection failed ({_why(exc)})")
