"""The email channel, against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from syndicator_channels.email import EmailChannel, build_message, correction, message_id

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
from syndicator.models import Media, Post, Receipt, Release
from syndicator.options import Secret, resolve_options

SENDER = "Humas Diskominfo <humas@diskominfo.example>"
RECIPIENTS = ["desk@koran.example", "Redaksi TV <redaksi@tv.example>", "radio@radio.example"]
ENVELOPE = ["desk@koran.example", "redaksi@tv.example", "radio@radio.example"]
USER, PASSWORD = "humas", "pa55-w0rd"


@dataclass
class Mailbox:
    """An aiosmtpd handler that records commands and messages and can refuse recipients."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    data_delay: float = 0.0

    async def handle_NOOP(self, server: Any, session: Any, envelope: Any, arg: str) -> str:
        self.commands.append("NOOP")
        return "250 OK"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.commands.append("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.commands.append("RCPT")
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.commands.append("DATA")
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK: queued"

    def message(self, index: int = -1) -> EmailMessage:
        parsed = email.message_from_bytes(self.messages[index][2], policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SMTPServer:
    mailbox: Mailbox
    port: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., SMTPServer]]:
    controllers: list[Controller] = []

    def start(*, auth: bool = False) -> SMTPServer:
        mailbox = Mailbox()
        port = _free_port()
        extra: dict[str, Any] = {"authenticator": _authenticator, "auth_require_tls": False} if auth else {}
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **extra)
        controller.start()
        controllers.append(controller)
        return SMTPServer(mailbox, port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(start_smtp: Callable[..., SMTPServer]) -> SMTPServer:
    return start_smtp()


CtxFactory = Callable[..., ChannelContext]


@pytest.fixture
def make_ctx(tmp_path: Path, smtp: SMTPServer) -> CtxFactory:
    def make(
        *, key: str = "k-123", password: str | None = None, timeout: float | None = None, **raw: Any
    ) -> ChannelContext:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "sender": SENDER,
            "recipients": RECIPIENTS,
            "reply_to": "media@diskominfo.example",
            "list_unsubscribe": [
                "https://diskominfo.example/unsub?l=press",
                "mailto:unsub@diskominfo.example",
            ],
            "subject_prefix": "[Siaran Pers]",
            **raw,
        }
        values = {k: v for k, v in values.items() if v is not None}
        options, problems = resolve_options(values, EmailChannel.options)
        assert problems == []
        if password is not None:
            options["password"] = Secret(password, "SMTP_PASSWORD")
        if timeout is not None:
            options["timeout"] = timeout
        assert EmailChannel.validate(options) == []
        return ChannelContext(
            name="press-list",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t"),
            idempotency_key=key,
            timezone="Asia/Makassar",
        )

    return make


@pytest.fixture
def release(tmp_path: Path) -> Release:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "jembatan.jpg").write_bytes(b"\xff\xd8\xff\xe0 jpeg bytes")
    pdf = tmp_path / "data inflasi.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    return Release(
        source="diskominfo",
        id="2024-001",
        title="Jembatan baru dibuka & siap dipakai",
        summary="Gubernur meresmikan jembatan.",
        body_html='<p>Isi <b>lengkap</b>.</p><script>alert(1)</script><p onclick="x()">Paragraf dua.</p>',
        body_text="",
        url="https://example.go.id/rilis/2024-001",
        published=datetime(2024, 5, 1, 1, 30, tzinfo=UTC),
        agency="Diskominfo",
        language="id",
        images=(Media("img/jembatan.jpg", alt="Jembatan", mime_type="image/jpeg"),),
        attachments=(
            Media(str(pdf), kind="file", title="Data inflasi"),
            Media("https://example.go.id/foto-besar.zip", kind="file", title="Foto resolusi tinggi"),
        ),
    )


def _publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = EmailChannel()
    return channel.publish(channel.render(release, ctx), ctx)


# -- render --------------------------------------------------------------------------------


def test_render_is_pure_and_stable(release: Release, make_ctx: CtxFactory, smtp: SMTPServer) -> None:
    missing = release.with_changes(images=(), attachments=(Media("/nonexistent/file.pdf", kind="file"),))
    ctx = make_ctx()
    first = EmailChannel().render(missing, ctx)
    assert first == EmailChannel().render(missing, ctx)  # no file read, no clock
    assert first.extra["attachments"] == [
        {"path": "/nonexistent/file.pdf", "filename": "file.pdf", "mime_type": ""}
    ]
    assert smtp.mailbox.commands == []
    assert first.extra["message_id"] == "<syn-k-123@diskominfo.example>"
    assert first.title == "[Siaran Pers] Jembatan baru dibuka & siap dipakai"


def test_render_text_and_html(release: Release, make_ctx: CtxFactory, tmp_path: Path) -> None:
    post = EmailChannel().render(release, make_ctx())
    assert post.text.startswith(
        "Jembatan baru dibuka & siap dipakai\nDiskominfo · 1 Mei 2024, 09.30 WITA\n\n"
    )
    assert "Gubernur meresmikan jembatan." in post.text
    assert "Isi lengkap.\n\nParagraf dua." in post.text
    assert "Baca di situs: https://example.go.id/rilis/2024-001" in post.text
    assert "- jembatan.jpg (terlampir)" in post.text
    assert "- Foto resolusi tinggi: https://example.go.id/foto-besar.zip" in post.text
    assert "Berhenti berlangganan: https://diskominfo.example/unsub?l=press" in post.text
    html = post.extra["html"]
    assert "<script" not in html and "onclick" not in html and "alert(1)" not in html
    assert "<b>lengkap</b>" in html
    assert "Jembatan baru dibuka &amp; siap dipakai" in html
    assert '<a href="https://example.go.id/foto-besar.zip">Foto resolusi tinggi</a>' in html
    assert [a["path"] for a in post.extra["attachments"]] == [
        str(tmp_path / "img" / "jembatan.jpg"),
        str(tmp_path / "data inflasi.pdf"),
    ]


def test_render_english_and_text_body(release: Release, make_ctx: CtxFactory) -> None:
    rel = release.with_changes(
        language="en", body_html="", body_text="First <para>.\n\nSecond.", attachments=()
    )
    post = EmailChannel().render(rel, make_ctx(subject_prefix="", list_unsubscribe=None))
    assert "Diskominfo · 1 May 2024, 09:30 WITA" in post.text
    assert "Read online:" in post.text and "Unsubscribe" not in post.text
    assert "<p>First &lt;para&gt;.</p>\n<p>Second.</p>" in post.extra["html"]
    assert post.title == "Jembatan baru dibuka & siap dipakai"


def test_message_id_rules() -> None:
    assert message_id("k-123", SENDER) == "<syn-k-123@diskominfo.example>"
    odd = message_id("diskominfo/2024-001 @x", "a@Example.ORG")
    assert odd.startswith("<syn-h") and odd.endswith("@example.org>") and " " not in odd
    assert odd == message_id("diskominfo/2024-001 @x", "a@Example.ORG")
    assert message_id("a..b", "a@b.example") != "<syn-a..b@b.example>"


# -- publish -------------------------------------------------------------------------------


def test_publish_delivers_multipart_with_attachments(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer
) -> None:
    receipt = _publish(make_ctx(), release)
    assert receipt.remote_id == "<syn-k-123@diskominfo.example>"
    assert receipt.extra == {"accepted": 3}
    ((mail_from, rcpt_tos, raw),) = smtp.mailbox.messages
    assert mail_from == "humas@diskominfo.example"
    assert rcpt_tos == ENVELOPE
    msg = smtp.mailbox.message()
    assert msg["Message-ID"] == receipt.remote_id
    assert msg["From"] == SENDER
    assert msg["To"] == SENDER  # bcc mode: the list is only in the envelope
    assert msg["Bcc"] is None and msg["Cc"] is None
    for address in ENVELOPE:
        assert address.encode() not in raw
    assert msg["Subject"] == "[Siaran Pers] Jembatan baru dibuka & siap dipakai"
    assert msg["Reply-To"] == "media@diskominfo.example"
    assert msg["Content-Language"] == "id"
    assert (
        msg["List-Unsubscribe"]
        == "<https://diskominfo.example/unsub?l=press>, <mailto:unsub@diskominfo.example>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sent = parsedate_to_datetime(msg["Date"])
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 60
    assert msg.get_content_type() == "multipart/mixed"
    alternative, *files = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.iter_parts()
    assert text.get_content_type() == "text/plain" and "Isi lengkap." in text.get_content()
    assert html.get_content_type() == "text/html" and "<b>lengkap</b>" in html.get_content()
    assert [(f.get_filename(), f.get_content_type(), f.get_content()) for f in files] == [
        ("jembatan.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 jpeg bytes"),
        ("data inflasi.pdf", "application/pdf", b"%PDF-1.4 fake"),
    ]


def test_no_attachments_is_plain_alternative(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer
) -> None:
    _publish(
        make_ctx(list_unsubscribe="mailto:unsub@diskominfo.example"),
        release.with_changes(images=(), attachments=()),
    )
    msg = smtp.mailbox.message()
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Unsubscribe"] == "<mailto:unsub@diskominfo.example>"
    assert msg["List-Unsubscribe-Post"] is None  # one-click needs an https URL (RFC 8058)


def test_mode_to_lists_recipients(release: Release, make_ctx: CtxFactory, smtp: SMTPServer) -> None:
    _publish(make_ctx(mode="to", recipients=[*RECIPIENTS, "DESK@koran.example"]), release)
    msg = smtp.mailbox.message()
    assert msg["To"] == ", ".join(RECIPIENTS)
    assert smtp.mailbox.messages[0][1] == ENVELOPE  # duplicates dropped


def test_message_id_stable_across_renders_and_retries(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer
) -> None:
    ctx = make_ctx()
    assert (
        EmailChannel().render(release, ctx).extra["message_id"]
        == EmailChannel().render(release, ctx).extra["message_id"]
    )
    _publish(make_ctx(), release)
    _publish(make_ctx(), release)  # a retry
    _publish(make_ctx(key="other-release"), release)
    ids = [smtp.mailbox.message(i)["Message-ID"] for i in range(3)]
    assert ids[0] == ids[1] == "<syn-k-123@diskominfo.example>"
    assert ids[2] == "<syn-other-release@diskominfo.example>"


def test_one_recipient_550_others_delivered(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp.mailbox.refuse["redaksi@tv.example"] = "550 5.1.1 No such user"
    receipt = _publish(make_ctx(), release)
    assert smtp.mailbox.messages[0][1] == ["desk@koran.example", "radio@radio.example"]
    assert receipt.extra["accepted"] == 2
    assert receipt.extra["refused"] == {"redaksi@tv.example": "550 5.1.1 No such user"}
    assert "redaksi@tv.example" in caplog.text and "refused" in caplog.text


def test_one_recipient_451_is_recorded_as_deferred(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer
) -> None:
    smtp.mailbox.refuse["radio@radio.example"] = "451 4.7.1 Greylisted, try later"
    receipt = _publish(make_ctx(), release)
    assert receipt.extra["deferred"] == {"radio@radio.example": "451 4.7.1 Greylisted, try later"}
    assert "refused" not in receipt.extra
    assert len(smtp.mailbox.messages) == 1  # the others got it: no retry that would duplicate


def test_all_recipients_451_is_transient(release: Release, make_ctx: CtxFactory, smtp: SMTPServer) -> None:
    for address in ENVELOPE:
        smtp.mailbox.refuse[address] = "451 4.3.0 Try again later"
    with pytest.raises(TransientError, match="451"):
        _publish(make_ctx(), release)
    assert smtp.mailbox.messages == [] and "DATA" not in smtp.mailbox.commands


def test_all_recipients_550_is_permanent(release: Release, make_ctx: CtxFactory, smtp: SMTPServer) -> None:
    for address in ENVELOPE:
        smtp.mailbox.refuse[address] = "550 5.1.1 No such user"
    with pytest.raises(PermanentError, match="every recipient") as info:
        _publish(make_ctx(), release)
    assert not isinstance(info.value, AuthError)
    assert smtp.mailbox.messages == []


def test_auth_login(release: Release, make_ctx: CtxFactory, start_smtp: Callable[..., SMTPServer]) -> None:
    server = start_smtp(auth=True)
    receipt = _publish(make_ctx(port=server.port, username=USER, password=PASSWORD), release)
    assert receipt.extra["accepted"] == 3
    assert len(server.mailbox.messages) == 1


def test_auth_failure_is_auth_error(
    release: Release,
    make_ctx: CtxFactory,
    start_smtp: Callable[..., SMTPServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_smtp(auth=True)
    caplog.set_level(logging.DEBUG)
    ctx = make_ctx(port=server.port, username=USER, password="wrong-secret")
    with pytest.raises(AuthError, match="535") as info:
        _publish(ctx, release)
    assert server.mailbox.messages == []
    for text in (str(info.value), repr(ctx), caplog.text):
        assert "wrong-secret" not in text


def test_starttls_not_offered_refuses_cleartext(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer
) -> None:
    with pytest.raises(PermanentError, match="STARTTLS"):
        _publish(make_ctx(security="starttls"), release)
    assert "MAIL" not in smtp.mailbox.commands


def test_tls_against_plain_server_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    with pytest.raises(TransientError, match=r"TLS|connection"):
        _publish(make_ctx(security="ssl", timeout=3), release)


def test_connection_refused_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    port = _free_port()
    with pytest.raises(TransientError, match=f"127.0.0.1:{port}.*refused"):
        _publish(make_ctx(port=port), release)


def test_timeout_during_data_is_unknown_outcome(
    release: Release, make_ctx: CtxFactory, smtp: SMTPServer
) -> None:
    smtp.mailbox.data_delay = 2
    with pytest.raises(UnknownOutcome, match="may have been delivered"):
        _publish(make_ctx(timeout=0.5), release)


def test_missing_attachment_is_permanent(release: Release, make_ctx: CtxFactory, smtp: SMTPServer) -> None:
    rel = release.with_changes(attachments=(Media("gone.pdf", kind="file"),))
    with pytest.raises(PermanentError, match=r"gone\.pdf"):
        _publish(make_ctx(), rel)
    assert smtp.mailbox.commands == []


def test_correction_threads_under_original(release: Release, make_ctx: CtxFactory, smtp: SMTPServer) -> None:
    ctx = make_ctx()
    channel = EmailChannel()
    original = channel.publish(channel.render(release, ctx), ctx)
    fixed = channel.render(release.with_changes(summary="Gubernur meresmikan jembatan (ralat)."), ctx)
    follow_up = correction(fixed, original.remote_id, subject_prefix="Ralat:")
    assert follow_up == correction(fixed, original.remote_id, subject_prefix="Ralat:")
    receipt = channel.publish(follow_up, ctx)
    msg = smtp.mailbox.message()
    assert msg["In-Reply-To"] == msg["References"] == "<syn-k-123@diskominfo.example>"
    assert msg["Message-ID"] == receipt.remote_id != original.remote_id
    assert receipt.remote_id.endswith("@diskominfo.example>")
    assert msg["Subject"] == "Ralat: [Siaran Pers] Jembatan baru dibuka & siap dipakai"
    assert smtp.mailbox.message(0)["In-Reply-To"] is None
    with pytest.raises(PermanentError):
        correction(fixed, "not-a-message-id")


def test_build_message_in_reply_to_from_post_extra(release: Release, make_ctx: CtxFactory) -> None:
    post = EmailChannel().render(release.with_changes(images=(), attachments=()), make_ctx())
    threaded = Post(**{**post.__dict__, "extra": {**post.extra, "in_reply_to": "<orig@x.example>"}})
    msg = build_message(threaded, date=datetime(2024, 5, 2, tzinfo=UTC))
    assert msg["In-Reply-To"] == "<orig@x.example>" and msg["References"] == "<orig@x.example>"
    assert msg["Date"] == "Thu, 02 May 2024 00:00:00 +0000"


# -- check ---------------------------------------------------------------------------------


def test_check_sends_nothing(make_ctx: CtxFactory, start_smtp: Callable[..., SMTPServer]) -> None:
    server = start_smtp(auth=True)
    status = EmailChannel().check(make_ctx(port=server.port, username=USER, password=PASSWORD))
    assert status == f"SMTP 127.0.0.1:{server.port} ready (no encryption, logged in as humas); nothing sent"
    assert server.mailbox.commands == ["NOOP"]
    assert server.mailbox.messages == []
    with pytest.raises(AuthError):
        EmailChannel().check(make_ctx(port=server.port, username=USER, password="nope"))


def test_check_unreachable(make_ctx: CtxFactory) -> None:
    with pytest.raises(TransientError, match="connection failed"):
        EmailChannel().check(make_ctx(port=_free_port()))


# -- options and plugin --------------------------------------------------------------------


def _problems(**values: Any) -> list[tuple[str, str]]:
    base: dict[str, Any] = {
        "host": "smtp.example.org",
        "sender": "a@example.org",
        "recipients": ["b@example.org"],
    }
    options, problems = resolve_options({**base, **values}, EmailChannel.options)
    assert problems == []
    return EmailChannel.validate(options)


def test_options_validation() -> None:
    assert _problems() == []
    assert [k for k, _ in _problems(security="none")] == ["security"]
    assert _problems(security="none", host="localhost") == []
    assert _problems(security="none", host="127.0.0.1") == []
    assert [k for k, _ in _problems(username="u")] == ["username"]
    assert [k for k, _ in _problems(recipients=[])] == ["recipients"]
    assert [k for k, _ in _problems(recipients=["ok@example.org", "not an address", 3])] == ["recipients"]
    assert [k for k, _ in _problems(sender="nobody")] == ["sender"]
    assert [k for k, _ in _problems(reply_to="x")] == ["reply_to"]
    assert [k for k, _ in _problems(list_unsubscribe="http://example.org/u")] == ["list_unsubscribe"]
    assert _problems(list_unsubscribe=["https://example.org/u", "mailto:u@example.org"]) == []
    assert [k for k, _ in _problems(port=70000)] == ["port"]
    assert [k for k, _ in _problems(host="smtp://x")] == ["host"]
    _, problems = resolve_options(
        {"host": "h", "sender": "a@b.c", "recipients": ["d@e.f"], "security": "tls", "mode": "cc"},
        EmailChannel.options,
    )
    assert sorted(k for k, _ in problems) == ["mode", "security"]
    _, problems = resolve_options(
        {"host": "h", "sender": "a@b.c", "recipients": ["d@e.f"], "password": "plain"}, EmailChannel.options
    )
    assert [k for k, _ in problems] == ["password"]


def test_invalid_options_refused_at_publish(release: Release, make_ctx: CtxFactory) -> None:
    ctx = make_ctx()
    bad = ChannelContext(
        name=ctx.name,
        options={**ctx.options, "host": "smtp.example.org"},
        base_dir=ctx.base_dir,
        logger=ctx.logger,
    )
    with pytest.raises(PermanentError, match="security"):
        _publish(bad, release)


def test_registers_through_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import email as module

    pm.register(module)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [EmailChannel]
    assert EmailChannel.idempotency == "none" and EmailChannel.type == "email"
