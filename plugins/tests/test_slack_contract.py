"""The slack channel against the test kit's ChannelContract (issue 7).

The fake platform is the kit's ScriptedServer playing a Slack incoming webhook: it answers
``200 ok`` or one of Slack's error strings. plugins/tests/test_slack.py covers the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syndicator_channels.slack import HEADER_LIMIT, SECTION_LIMIT, SlackChannel

from syndicator.testing import ChannelContract, Reply, ScriptedServer, hard_releases

pytest_plugins = ["syndicator.testing"]

PATH = "/services/T000/B000/S3CRETT0KEN"


class TestSlackContract(ChannelContract):
    channel_class = SlackChannel
    channel_name = "slack-press"

    def options(self, url: str) -> dict[str, Any]:
        return {"webhook_url": {"env": "SLACK_WEBHOOK_URL"}}

    def environ(self, url: str) -> dict[str, str]:
        return {"SLACK_WEBHOOK_URL": url + PATH}  # the URL is the credential

    def script_success(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(200, body=b"ok", headers={"Content-Type": "text/html"}))

    def script_transient(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(429, body=b"rate_limited", headers={"Retry-After": "30"}))

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(400, body=b"invalid_blocks"))

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(403, body=b"invalid_token"))

    def test_hard_releases_keep_within_block_kit_limits(self, tmp_path: Path) -> None:
        """The contract measures ``text``; Slack also refuses oversized blocks."""
        with ScriptedServer() as server:
            ctx = self.context(server, tmp_path)
            for name, release in hard_releases().items():
                blocks = SlackChannel().render(release, ctx).extra["payload"]["blocks"]
                header = blocks[0]["text"]["text"]
                assert 0 < len(header) <= HEADER_LIMIT, name
                for block in blocks[1:]:
                    texts = [block["text"]["text"]] if "text" in block else []
                    texts += [e["text"] for e in block.get("elements", ())]
                    assert all(len(t) <= SECTION_LIMIT for t in texts), name
            assert server.requests == []
