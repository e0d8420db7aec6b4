"""One release goes out on all six messaging channels in one run, and each received message is
checked: Telegram, WhatsApp, Slack, Discord and Matrix against loopback servers that answer as
the platforms do, e-mail against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from syndicator.cli import build_cli
from syndicator.plugins import get_plugin_manager
from syndicator.testing import Recorded, Reply, ScriptedServer

TOKEN = "123456:TEST-token"
TITLE = "BPBD Tetapkan Status Siaga Banjir di Daerah Aliran Sungai Lawe Harapan"
URL = "https://ppid.example.go.id/siaran-pers/siaga-banjir"
ENV = {"TG_TOKEN": TOKEN, "WA_TOKEN": "wa-token", "SLACK_URL": "", "DISCORD_URL": "", "MX_TOKEN": "mx-token"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a port number up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def answer(body: Any) -> Any:
    return lambda request: Reply(200, json=body)


def setup_servers(server: ScriptedServer) -> None:
    message = {"message_id": 7, "chat": {"id": -1001, "username": "siaranpers", "type": "channel"}, "date": 1}
    for method in ("sendMessage", "sendPhoto"):
        server.handler("POST", f"/bot{TOKEN}/{method}", answer({"ok": True, "result": message}))
    server.handler("POST", "/v23.0/1098765/messages", answer({"messages": [{"id": "wamid.1"}]}))
    server.script("POST", "/slack/hook", Reply(200, body=b"ok"))
    server.handler("POST", "/api/webhooks/111/discordtoken", answer({"id": "555", "channel_id": "222"}))


def test_one_release_goes_out_on_all_six_messaging_channels(
    tmp_path: Path, smtp: tuple[Controller, Inbox]
) -> None:
    controller, inbox = smtp
    with ScriptedServer() as server:
        setup_servers(server)
        matrix_sends: list[Recorded] = []

        def matrix(request: Recorded) -> Reply:
            matrix_sends.append(request)
            return Reply(200, json={"event_id": "$e1"})

        base = server.url
        releases = tmp_path / "releases"
        releases.mkdir()
        (releases / "siaga.md").write_text(
            f"---\nid: siaga\ntitle: {TITLE}\nurl: {URL}\ndate: 2026-11-26T06:30:00+08:00\n"
            "agency: Badan Penanggulangan Bencana Daerah\ntags: [bencana, banjir]\nlang: id\n"
            "status: approved\napproved_by: Kepala Pelaksana BPBD\n---\n\n"
            "Warga di bantaran **Sungai Lawe Harapan** diminta waspada & siap mengungsi.\n",
            encoding="utf-8",
        )
        config = tmp_path / "syndicator.toml"
        config.write_text(
            f"""[syndicator]
state = "state.db"
timezone = "Asia/Makassar"

[sources.bpbd]
type = "directory"
path = "releases"

[channels.telegram]
type = "telegram"
api_base = "{base}"
token = {{ env = "TG_TOKEN" }}
chat_id = "@siaranpers"

[channels.whatsapp]
type = "whatsapp"
api_base = "{base}"
token = {{ env = "WA_TOKEN" }}
phone_number_id = "1098765"
template = "siaran_pers"
language = "id"
recipients = ["+6281234567890"]

[channels.slack]
type = "slack"
webhook_url = {{ env = "SLACK_URL" }}

[channels.discord]
type = "discord"
webhook_url = {{ env = "DISCORD_URL" }}

[channels.matrix]
type = "matrix"
homeserver = "{base}"
access_token = {{ env = "MX_TOKEN" }}
room_id = "!room:example.org"

[channels.email]
type = "email"
host = "127.0.0.1"
port = {controller.port}
security = "none"
sender = "Humas BPBD <humas@example.go.id>"
recipients = ["redaksi@koran.example", "desk@tv.example"]
""",
            encoding="utf-8",
        )
        env = {
            **ENV,
            "SLACK_URL": f"{base}/slack/hook",
            "DISCORD_URL": f"{base}/api/webhooks/111/discordtoken",
        }
        # Matrix's transaction id ends the path: answer whatever it is.
        server.handler("PUT", "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/*", matrix)
        monkeypatch = pytest.MonkeyPatch()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        try:
            result = CliRunner().invoke(build_cli(get_plugin_manager()), ["--config", str(config), "run"])
        finally:
            monkeypatch.undo()

        assert result.exit_code == 0, result.output + result.stderr
        assert "6 published" in result.stdout

        by_path = {r.path: r for r in server.requests}
        telegram = next(r for p, r in by_path.items() if p.startswith(f"/bot{TOKEN}/send"))
        tg = json.loads(telegram.body)
        assert tg["chat_id"] == "@siaranpers" and tg["parse_mode"] == "HTML"
        assert TITLE in tg["text"] and URL in tg["text"] and "&amp;" in tg["text"]

        wa = json.loads(by_path["/v23.0/1098765/messages"].body)
        assert wa["to"].lstrip("+") == "6281234567890" and wa["template"]["name"] == "siaran_pers"
        params = [p["text"] for c in wa["template"]["components"] for p in c["parameters"]]
        assert params == [TITLE, URL]

        slack = json.loads(by_path["/slack/hook"].body)
        assert TITLE in slack["text"] and URL in json.dumps(slack["blocks"])

        discord_req = by_path["/api/webhooks/111/discordtoken"]
        discord = json.loads(discord_req.body)
        assert discord_req.query.get("wait") == "true"
        assert discord["allowed_mentions"] == {"parse": []}
        assert TITLE in discord["content"] and discord["embeds"][0]["url"] == URL

        assert len(matrix_sends) == 1
        mx = json.loads(matrix_sends[0].body)
        assert mx["msgtype"] == "m.text" and TITLE in mx["body"] and URL in mx["formatted_body"]

        assert len(inbox.messages) == 1
        mail = inbox.messages[0]
        assert (
            mail["Subject"].strip() == TITLE and "Bcc" not in mail and mail["Message-ID"].startswith("<syn-")
        )
        plain = mail.get_body(preferencelist=("plain",)).get_content()
        html = mail.get_body(preferencelist=("html",)).get_content()
        assert URL in plain and "Sungai Lawe Harapan" in html
