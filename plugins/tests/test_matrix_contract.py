"""The matrix channel against the test kit's ChannelContract (issue 7).

The fake platform is the kit's ScriptedServer playing a homeserver's client-server API:
``PUT .../send/m.room.message/{txnId}`` for the message (the txnId is the delivery's
idempotency key), ``whoami`` and ``joined_rooms`` for ``check``.
plugins/tests/test_matrix.py covers the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from syndicator_channels.matrix import MatrixChannel

from syndicator.testing import ChannelContract, Reply, ScriptedServer, hard_releases

pytest_plugins = ["syndicator.testing"]

TOKEN = "syt_Y29udHJhY3Q_s3cretT0kenForTheContract"
ROOM = "!press:localhost"
API = "/_matrix/client/v3"
ROOM_PATH = f"{API}/rooms/{quote(ROOM, safe='')}"


class TestMatrixContract(ChannelContract):
    channel_class = MatrixChannel
    channel_name = "matrix-press"

    def options(self, url: str) -> dict[str, Any]:
        return {"homeserver": url, "access_token": {"env": "MATRIX_TOKEN"}, "room_id": ROOM}

    def environ(self, url: str) -> dict[str, str]:
        return {"MATRIX_TOKEN": TOKEN}

    def _send_path(self) -> str:
        key = self.idempotency_key_for(self.sample_release())  # the key the engine gives too
        return f"{ROOM_PATH}/send/m.room.message/{quote(key, safe='')}"

    def script_success(self, server: ScriptedServer) -> None:
        server.script("PUT", self._send_path(), Reply(200, json={"event_id": "$contract-event"}))

    def script_transient(self, server: ScriptedServer) -> None:
        server.script(
            "PUT",
            self._send_path(),
            Reply(
                429,
                json={"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2000},
            ),
        )

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script(
            "PUT", self._send_path(), Reply(400, json={"errcode": "M_BAD_JSON", "error": "Content not JSON."})
        )

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script(
            "PUT",
            self._send_path(),
            Reply(401, json={"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown access token"}),
        )

    def script_check(self, server: ScriptedServer) -> None:
        self.script_success(server)  # a check that sends would succeed, and be caught
        server.script(
            "GET",
            f"{API}/account/whoami",
            Reply(200, json={"user_id": "@humas:localhost", "device_id": "DEV"}),
        )
        server.script("GET", f"{API}/joined_rooms", Reply(200, json={"joined_rooms": [ROOM]}))

    def test_render_keeps_within_limits(self, tmp_path: Path) -> None:
        super().test_render_keeps_within_limits(tmp_path)

    def test_many_images_are_capped_at_max_media(self, tmp_path: Path) -> None:
        """A release with 24 images sends the first max_media of them, not a flood."""
        with ScriptedServer() as server:
            post = MatrixChannel().render(hard_releases()["many-images"], self.context(server, tmp_path))
        assert len(post.media) == len(post.extra["images"]) == MatrixChannel.limits.max_media
