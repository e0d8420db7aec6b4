"""The email channel against the test kit's ChannelContract (issue 7).

SMTP is not HTTP, so this contract plugs in its own fake platform, as the kit's docstring
describes (``start_server``, ``requests_received``, ``writes_received``, ``wire_text``):
:class:`FakeSmtp`, a real aiosmtpd ``Controller`` on 127.0.0.1 (like plugins/tests/test_email.py)
that offers SMTP AUTH (the channel is configured to log in) and records every command. Its ``url`` is ``smtp://127.0.0.1:PORT``,
which :meth:`TestEmailContract.options` turns into ``host`` and ``port``.

What counts as a write: ``MAIL``, ``RCPT`` and ``DATA`` (handing a message over). ``check``
may connect, ``EHLO``, log in and ``NOOP``: those change nothing.

The channel declares ``idempotency = "none"`` (SMTP cannot deduplicate), so the kit skips its
key-on-the-wire test; the Message-ID derived from the key is checked here instead.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from syndicator_channels.email import EmailChannel

from syndicator.testing import ChannelContract

pytest_plugins = ["syndicator.testing"]

SENDER = "Humas Diskominfo <humas@diskominfo.example>"
RECIPIENTS = ["desk@koran.example", "Redaksi TV <redaksi@tv.example>"]
USER, PASSWORD = "humas", "s3cret-smtp-pa55word"


class FakeSmtp:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: AUTH offered, every command recorded.

    Script it through ``rcpt_reply`` (the answer to every RCPT; None accepts) and
    ``refuse_login`` (answer AUTH with 535).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.commands: list[str] = []
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_reply: str | None = None
        self.refuse_login = False
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeSmtp:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.controller.stop()

    def _record(self, command: str) -> None:
        with self.lock:
            self.commands.append(command)

    # -- aiosmtpd hooks

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        self._record(f"AUTH {mechanism}")
        ok = (
            not self.refuse_login
            and isinstance(data, LoginPassword)
            and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        )
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self._record("EHLO")
        session.host_name = hostname
        return responses

    async def handle_NOOP(self, server: Any, session: Any, envelope: Any, arg: str) -> str:
        self._record("NOOP")
        return "250 OK"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self._record("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self._record("RCPT")
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._record("DATA")
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK: queued"


class TestEmailContract(ChannelContract):
    channel_class = EmailChannel
    channel_name = "press-list"
    timeout = 5.0

    def options(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        return {
            "host": parts.hostname,
            "port": parts.port,
            "security": "none",  # allowed to 127.0.0.1 only
            "username": USER,
            "password": {"env": "SMTP_PASSWORD"},
            "sender": SENDER,
            "recipients": RECIPIENTS,
            "subject_prefix": "[Siaran Pers]",
        }

    def environ(self, url: str) -> dict[str, str]:
        return {"SMTP_PASSWORD": PASSWORD}

    # -- the fake platform: SMTP, not HTTP

    def start_server(self) -> FakeSmtp:
        return FakeSmtp()

    def requests_received(self, server: FakeSmtp) -> list[str]:
        with server.lock:
            return list(server.commands)

    def writes_received(self, server: FakeSmtp) -> list[str]:
        return [c for c in self.requests_received(server) if c in ("MAIL", "RCPT", "DATA")]

    def wire_text(self, server: FakeSmtp) -> str:
        with server.lock:
            return "\n".join(m[2].decode("utf-8", "replace") for m in server.messages)

    # -- scripts

    def script_success(self, server: FakeSmtp) -> None:
        server.rcpt_reply = None

    def script_transient(self, server: FakeSmtp) -> None:
        server.rcpt_reply = "451 4.3.0 Mailbox temporarily unavailable"

    def script_permanent(self, server: FakeSmtp) -> None:
        server.rcpt_reply = "550 5.1.1 No such user"

    def script_auth_failure(self, server: FakeSmtp) -> None:
        server.refuse_login = True

    def test_render_keeps_within_limits(self, tmp_path: Path) -> None:
        super().test_render_keeps_within_limits(tmp_path)

    # -- what the inherited tests cannot see

    def test_message_is_delivered_whole_with_a_key_derived_message_id(self, tmp_path: Path) -> None:
        release = self.sample_release()
        with self.start_server() as server:
            ctx = self.context(server, tmp_path, idempotency_key=self.idempotency_key_for(release))
            channel = EmailChannel()
            receipt = channel.publish(channel.render(release, ctx), ctx)
            commands = self.requests_received(server)
            (mail_from, rcpt_tos, raw) = server.messages[0]
        assert commands[:2] == ["EHLO", "AUTH PLAIN"] and commands.count("DATA") == 1
        assert mail_from == "humas@diskominfo.example"
        assert rcpt_tos == ["desk@koran.example", "redaksi@tv.example"]
        message = email.message_from_bytes(raw, policy=email.policy.default)
        msgid = str(message["Message-ID"]).strip()  # folded onto its own line: the parser keeps the space
        assert msgid == f"<syn-{ctx.idempotency_key}@diskominfo.example>"
        assert receipt.remote_id == msgid and receipt.extra["accepted"] == 2
        assert message["Subject"] == f"[Siaran Pers] {release.title}"
        assert "To" in message and "desk@koran.example" not in message["To"]  # bcc by default

    def test_partly_refused_recipients_still_succeed(self, tmp_path: Path) -> None:
        """Only when every recipient is refused does publish raise (the inherited scripts)."""
        with self.start_server() as server:
            ctx = self.context(server, tmp_path)
            ctx = replace(ctx, options={**ctx.options, "recipients": [*RECIPIENTS, "gone@nowhere.example"]})
            original = server.handle_RCPT

            async def refuse_one(srv: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
                if address == "gone@nowhere.example":
                    server._record("RCPT")
                    return "550 5.1.1 No such user"
                return await original(srv, session, envelope, address, options)

            server.handle_RCPT = refuse_one  # type: ignore[method-assign]
            channel = EmailChannel()
            receipt = channel.publish(channel.render(self.sample_release(), ctx), ctx)
        assert receipt.extra["accepted"] == 2
        assert list(receipt.extra["refused"]) == ["gone@nowhere.example"]

    @pytest.mark.parametrize("script", ["script_transient", "script_permanent", "script_auth_failure"])
    def test_failures_send_no_message(self, script: str, tmp_path: Path) -> None:
        with self.start_server() as server:
            getattr(self, script)(server)
            ctx = self.context(server, tmp_path)
            channel = EmailChannel()
            with pytest.raises(Exception):  # noqa: B017 - the class is checked by the contract
                channel.publish(channel.render(self.sample_release(), ctx), ctx)
            assert server.messages == [] and "DATA" not in self.requests_received(server)
