"""The discord channel, against a scripted webhook on 127.0.0.1 speaking Discord's wire format."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from syndicator_channels.discord import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    DiscordChannel,
    escape_markdown,
)

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext, Limits
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.render import count
from syndicator.testing import ChannelContract, Recorded, Reply, ScriptedServer, hard_releases, make_release

pytest_plugins = ["syndicator.testing"]

HOOK_TOKEN = "Zx9-s3cret_W3bh00k.T0ken"
HOOK = f"/api/webhooks/112233445566778899/{HOOK_TOKEN}"
UTF16 = Limits(counting="utf16")
CtxFactory = Callable[..., ChannelContext]


def error(status: int, message: str, code: int = 0, **more: Any) -> Reply:
    return Reply(status, json={"message": message, "code": code, **more})


class Webhook:
    """Just enough of a Discord webhook: messages by id, Discord's limits, edits and deletes."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.next_id = 1_300_000_000_000_000_000
        self.messages: dict[str, dict[str, Any]] = {}
        server.handler("POST", HOOK, self._execute)
        server.handler(
            "GET",
            HOOK,
            lambda r: Reply(
                200,
                json={
                    "id": "112233445566778899",
                    "type": 1,
                    "name": "Humas",
                    "channel_id": "555",
                    "guild_id": "777",
                },
            ),
        )

    def route(self, message_id: str) -> None:
        self.server.handler("PATCH", f"{HOOK}/messages/{message_id}", self._edit)
        self.server.handler("DELETE", f"{HOOK}/messages/{message_id}", self._delete)

    def _check(self, body: dict[str, Any]) -> Reply | None:
        errors: dict[str, Any] = {}
        if count(body.get("content", ""), UTF16) > CONTENT_LIMIT:
            errors["content"] = {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer"}]
            }
        for n, embed in enumerate(body.get("embeds") or []):
            if (
                len(embed.get("title", "")) > TITLE_LIMIT
                or len(embed.get("description", "")) > DESCRIPTION_LIMIT
            ):
                errors[f"embeds.{n}"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}
            total = sum(len(embed.get(k, "")) for k in ("title", "description")) + len(
                (embed.get("footer") or {}).get("text", "")
            )
            if total > 6000:
                errors[f"embeds.{n}"] = {"_errors": [{"code": "MAX_EMBED_SIZE_EXCEEDED"}]}
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        return None

    def _execute(self, req: Recorded) -> Reply:
        problem = self._check(req.json)
        if problem:
            return problem
        with self.lock:
            self.next_id += 1
            message_id = str(self.next_id)
            channel = "999" if req.json.get("thread_name") else req.query.get("thread_id", "555")
            message = {"id": message_id, "channel_id": channel, "guild_id": "777", **req.json}
            self.messages[message_id] = message
            self.route(message_id)
        if req.query.get("wait") != "true":
            return Reply(204)
        return Reply(200, json=message)

    def _edit(self, req: Recorded) -> Reply:
        message_id = req.path.rsplit("/", 1)[1]
        if message_id not in self.messages:
            return error(404, "Unknown Message", 10008)
        problem = self._check(req.json)
        if problem:
            return problem
        self.messages[message_id].update(req.json)
        return Reply(200, json=self.messages[message_id])

    def _delete(self, req: Recorded) -> Reply:
        if self.messages.pop(req.path.rsplit("/", 1)[1], None) is None:
            return error(404, "Unknown Message", 10008)
        return Reply(204)


@pytest.fixture
def hook(scripted_server: ScriptedServer) -> Webhook:
    return Webhook(scripted_server)


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    def make(
        *,
        url: str | None = None,
        session: Callable[[], requests.Session] | None = None,
        **raw: Any,
    ) -> ChannelContext:
        options, problems = resolve_options(
            {"webhook_url": {"env": "DISCORD_WEBHOOK_URL"}, **raw},
            DiscordChannel.options,
            environ={"DISCORD_WEBHOOK_URL": url or scripted_server.url + HOOK},
        )
        assert problems == []
        assert DiscordChannel.validate(options) == []
        return ChannelContext(
            name="discord-press",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t.discord"),
            idempotency_key="k-123",
            timezone="Asia/Jakarta",
            _session_factory=session,
        )

    return make


@pytest.fixture
def release() -> Release:
    return Release(
        source="diskominfo",
        id="2026-044",
        title="Vaksinasi *Gratis* @everyone di 30 Puskesmas",
        summary="Warga **lansia** didahulukan. <@&123456> [klik](https://evil.example) @here",
        body_text="# Jadwal\n- Senin: Puskesmas A_B\n> kutipan\n\nDaftar di https://dinkes.example.go.id/daftar_ulang?a=1",
        url="https://dinkes.example.go.id/rilis/2026-044",
        published=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        agency="Dinas Kesehatan",
        language="id",
        images=(
            Media("img/lokal.jpg", alt="Lokal"),
            Media("https://dinkes.example.go.id/foto.jpg", alt="Antrean vaksinasi"),
        ),
    )


def _publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = DiscordChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def discord_unescape(text: str) -> str:
    """What Discord shows for an escape: a backslash before punctuation disappears."""
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text)


# -- the contract -------------------------------------------------------------------------------


class TestDiscordContract(ChannelContract):
    channel_class = DiscordChannel
    channel_name = "discord-press"

    def options(self, url: str) -> dict[str, Any]:
        return {"webhook_url": {"env": "DISCORD_WEBHOOK_URL"}, "username": "Humas Provinsi"}

    def environ(self, url: str) -> dict[str, str]:
        return {"DISCORD_WEBHOOK_URL": url + HOOK}

    def script_success(self, server: ScriptedServer) -> None:
        Webhook(server)

    def script_transient(self, server: ScriptedServer) -> None:
        server.script(
            "POST",
            HOOK,
            Reply(
                429,
                json={"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
                headers={"Retry-After": "2"},
            ),
        )

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script("POST", HOOK, error(400, "Invalid Form Body", 50035, errors={"embeds": {}}))

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script("POST", HOOK, error(404, "Unknown Webhook", 10015))


# -- render ---------------------------------------------------------------------------------------


def test_render_payload(release: Release, make_ctx: CtxFactory) -> None:
    post = DiscordChannel().render(release, make_ctx(color=0x1D4ED8))
    payload = post.extra["payload"]
    assert payload["allowed_mentions"] == {"parse": []}
    assert (
        payload["content"]
        == post.text
        == (
            "**Vaksinasi \\*Gratis\\* @everyone di 30 Puskesmas**\n\n"
            "Warga \\*\\*lansia\\*\\* didahulukan. \\<@&123456\\> \\[klik\\](https://evil.example) @here\n\n"
            "<https://dinkes.example.go.id/rilis/2026-044>"
        )
    )
    assert payload["embeds"] == [
        {
            "title": "Vaksinasi *Gratis* @everyone di 30 Puskesmas",
            "url": "https://dinkes.example.go.id/rilis/2026-044",
            "description": "\\# Jadwal\n\\- Senin: Puskesmas A\\_B\n\\> kutipan\n\n"
            "Daftar di https://dinkes.example.go.id/daftar_ulang?a=1",
            "timestamp": "2026-03-02T02:00:00Z",
            "footer": {"text": "Dinas Kesehatan"},
            "image": {"url": "https://dinkes.example.go.id/foto.jpg"},
            "color": 0x1D4ED8,
        }
    ]
    assert set(payload) == {"content", "embeds", "allowed_mentions"}
    assert post.media == (release.images[1],)
    assert post.extra["skipped_media"] == ["img/lokal.jpg"]
    # what a reader sees is the text as written
    assert discord_unescape(payload["content"]).startswith("**Vaksinasi *Gratis* @everyone")


def test_render_options_identity_forum_and_silent(release: Release, make_ctx: CtxFactory) -> None:
    payload = (
        DiscordChannel()
        .render(
            release,
            make_ctx(
                username="Humas Provinsi", avatar_url="https://e.example/logo.png", forum=True, silent=True
            ),
        )
        .extra["payload"]
    )
    assert payload["username"] == "Humas Provinsi"
    assert payload["avatar_url"] == "https://e.example/logo.png"
    assert payload["thread_name"] == "Vaksinasi *Gratis* @everyone di 30 Puskesmas"
    assert payload["flags"] == 4096


def test_every_hard_release_fits_discords_limits(make_ctx: CtxFactory) -> None:
    ctx = make_ctx()
    for name, release in hard_releases().items():
        payload = DiscordChannel().render(release, ctx).extra["payload"]
        assert count(payload["content"], UTF16) <= CONTENT_LIMIT, name
        (embed,) = payload["embeds"]
        assert count(embed["title"], UTF16) <= TITLE_LIMIT
        assert count(embed.get("description", ""), UTF16) <= DESCRIPTION_LIMIT
        assert payload["allowed_mentions"] == {"parse": []}


def test_huge_summary_is_cut_and_the_link_kept(make_ctx: CtxFactory) -> None:
    release = make_release(summary="kata_kata " * 600)
    content = DiscordChannel().render(release, make_ctx()).text
    assert count(content, UTF16) <= CONTENT_LIMIT
    assert content.endswith(f"<{release.url}>") and "…" in content


def test_override_text_is_escaped_and_limited(make_ctx: CtxFactory) -> None:
    release = make_release(overrides={"discord-press": {"text": "@everyone *lihat* " * 200}})
    content = DiscordChannel().render(release, make_ctx()).text
    assert count(content, UTF16) <= CONTENT_LIMIT and content.startswith("@everyone \\*lihat\\*")


def test_correction_is_led(release: Release, make_ctx: CtxFactory) -> None:
    post = DiscordChannel().render_correction(release, Receipt(remote_id="1"), make_ctx())
    assert post.text.startswith("**Ralat: Vaksinasi") and post.extra["correction"] is True


def test_escape_markdown() -> None:
    assert escape_markdown("a*b_c~d`e|f [g](h) <@1> \\") == "a\\*b\\_c\\~d\\`e\\|f \\[g\\](h) \\<@1\\> \\\\"
    assert escape_markdown("# h\n  - li\n1. one\n-# small") == "\\# h\n  \\- li\n1\\. one\n\\-# small"
    url = "https://e.example/a_b*c?x=1|2"
    assert escape_markdown(f"lihat {url} _ok_") == f"lihat {url} \\_ok\\_"


def test_property_escaped_text_reads_as_written() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given
    from hypothesis import strategies as st

    alphabet = st.sampled_from([*"ab #->*_~`|[]()<>@:!.1\\\n ", "😀", "文", "é"])

    @hypothesis.settings(max_examples=200, deadline=None, derandomize=True)
    @given(st.lists(alphabet, max_size=60).map("".join))
    def check(text: str) -> None:
        escaped = escape_markdown(text)
        assert discord_unescape(escaped) == text
        # no Markdown character is left unescaped
        assert not re.search(r"(?<!\\)(?:\\\\)*[*_~`|\[\]<>]", escaped.replace("\\\\", ""))

    check()


# -- publish --------------------------------------------------------------------------------------


def test_publish_waits_for_the_message(
    release: Release, make_ctx: CtxFactory, hook: Webhook, scripted_server: ScriptedServer
) -> None:
    ctx = make_ctx()
    post = DiscordChannel().render(release, ctx)
    receipt = DiscordChannel().publish(post, ctx)
    (req,) = scripted_server.requests
    assert (req.method, req.path, req.query) == ("POST", HOOK, {"wait": "true"})
    assert req.headers["Content-Type"] == "application/json"
    assert req.json == post.extra["payload"]
    message_id = str(hook.next_id)
    assert receipt == Receipt(
        remote_id=message_id,
        url=f"https://discord.com/channels/777/555/{message_id}",
        ids=(message_id,),
        extra={"channel_id": "555"},
    )


def test_publish_in_a_thread_and_a_forum(
    release: Release, make_ctx: CtxFactory, hook: Webhook, scripted_server: ScriptedServer
) -> None:
    receipt = _publish(make_ctx(thread_id="4242"), release)
    assert scripted_server.requests[0].query == {"wait": "true", "thread_id": "4242"}
    assert receipt.extra == {"channel_id": "4242", "thread_id": "4242"}
    forum = _publish(make_ctx(forum=True), release)
    assert scripted_server.requests[1].json["thread_name"] == release.title
    assert forum.extra == {"channel_id": "999", "thread_id": "999"}  # the new post is a thread


def test_rate_limit_uses_discords_float_retry_after(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script(
        "POST",
        HOOK,
        Reply(429, json={"message": "You are being rate limited.", "retry_after": 0.75, "global": False}),
        Reply(429, body=b"", headers={"Retry-After": "3", "X-RateLimit-Reset-After": "2.5"}),
    )
    with pytest.raises(TransientError) as first:
        _publish(make_ctx(), release)
    assert first.value.retry_after == 0.75
    with pytest.raises(TransientError) as second:
        _publish(make_ctx(), release)
    assert second.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (error(401, "401: Unauthorized", 0), AuthError, "token was refused"),
        (error(403, "Missing Permissions", 50013), AuthError, "token was refused"),
        (error(404, "Unknown Webhook", 10015), AuthError, "webhook was deleted"),
        (
            error(
                400,
                "Invalid Form Body",
                50035,
                errors={"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}},
            ),
            PermanentError,
            "BASE_TYPE_MAX_LENGTH",
        ),
        (Reply(500, body=b"oops"), TransientError, "HTTP 500"),
        (Reply(502, body=b"<html>bad gateway</html>"), TransientError, "HTTP 502"),
    ],
)
def test_errors_by_class(
    reply: Reply,
    kind: type[ChannelError],
    words: str,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script("POST", HOOK, reply)
    with pytest.raises(kind, match=words) as info:
        _publish(make_ctx(), release)
    if kind is PermanentError:
        assert not isinstance(info.value, AuthError)


def test_connection_refused_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    with pytest.raises(TransientError, match="connection failed"):
        _publish(make_ctx(url=f"http://127.0.0.1:{_closed_port()}{HOOK}"), release)


@pytest.mark.parametrize("reply", [Reply(200, delay=2), Reply.reset()])
def test_no_answer_after_sending_is_unknown(
    reply: Reply, release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", HOOK, reply)
    with pytest.raises(UnknownOutcome, match="may have been posted"):
        _publish(make_ctx(session=lambda: make_session(timeout=0.3)), release)


@pytest.mark.parametrize(
    "reply",
    [
        error(401, f"bad token {HOOK_TOKEN}"),
        Reply(500, body=f"upstream {HOOK} failed".encode()),
        Reply.reset(),
        Reply(200, delay=2),
    ],
)
def test_webhook_url_never_in_errors_or_logs(
    reply: Reply,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted_server.script("POST", HOOK, reply)
    caplog.set_level(logging.DEBUG, logger="t.discord")
    ctx = make_ctx(session=lambda: make_session(timeout=0.3))
    with pytest.raises(ChannelError) as info:
        _publish(ctx, release)
    for text in (str(info.value), repr(info.value), repr(ctx), caplog.text):
        assert HOOK_TOKEN not in text


# -- update, delete, check ----------------------------------------------------------------------


def test_update_patches_the_message(
    release: Release, make_ctx: CtxFactory, hook: Webhook, scripted_server: ScriptedServer
) -> None:
    ctx = make_ctx(username="Humas Provinsi")
    receipt = _publish(ctx, release)
    changed = release.with_changes(title="Vaksinasi Gratis di 31 Puskesmas")
    post = DiscordChannel().render(changed, ctx)
    assert DiscordChannel().update(receipt, post, ctx) == receipt
    req = scripted_server.requests[-1]
    assert (req.method, req.path, req.query) == ("PATCH", f"{HOOK}/messages/{receipt.remote_id}", {})
    assert req.json == {
        "content": post.extra["payload"]["content"],
        "embeds": post.extra["payload"]["embeds"],
        "allowed_mentions": {"parse": []},
    }
    assert hook.messages[receipt.remote_id]["embeds"][0]["title"] == "Vaksinasi Gratis di 31 Puskesmas"


def test_update_of_a_deleted_message_is_permanent(
    release: Release, make_ctx: CtxFactory, hook: Webhook
) -> None:
    hook.route("4444")
    post = DiscordChannel().render(release, make_ctx())
    with pytest.raises(PermanentError, match="no longer exists") as info:
        DiscordChannel().update(Receipt(remote_id="4444"), post, make_ctx())
    assert not isinstance(info.value, AuthError)


def test_delete_in_the_thread_it_was_posted_to(
    release: Release, make_ctx: CtxFactory, hook: Webhook, scripted_server: ScriptedServer
) -> None:
    ctx = make_ctx(forum=True)
    receipt = _publish(ctx, release)
    DiscordChannel().delete(receipt, ctx)
    req = scripted_server.requests[-1]
    assert (req.method, req.path, req.query) == (
        "DELETE",
        f"{HOOK}/messages/{receipt.remote_id}",
        {"thread_id": "999"},
    )
    assert hook.messages == {}
    DiscordChannel().delete(receipt, ctx)  # already gone: done


def test_delete_with_a_dead_webhook_is_auth(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("DELETE", f"{HOOK}/messages/4444", error(404, "Unknown Webhook", 10015))
    with pytest.raises(AuthError):
        DiscordChannel().delete(Receipt(remote_id="4444"), make_ctx())


def test_check_reads_the_webhook(
    make_ctx: CtxFactory, hook: Webhook, scripted_server: ScriptedServer
) -> None:
    assert DiscordChannel().check(make_ctx()) == "webhook 'Humas' posts to channel 555 (server 777)"
    assert [(r.method, r.path, r.query) for r in scripted_server.requests] == [("GET", HOOK, {})]


def test_check_with_a_deleted_webhook(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", HOOK, error(404, "Unknown Webhook", 10015))
    with pytest.raises(AuthError, match="webhook was deleted"):
        DiscordChannel().check(make_ctx())


# -- options and the plugin ---------------------------------------------------------------------


def test_validate() -> None:
    good = {"webhook_url": Secret(f"https://discord.com{HOOK}", "D")}
    assert DiscordChannel.validate(good) == []
    assert (
        DiscordChannel.validate({"webhook_url": Secret(f"https://discord.com/api/v10{HOOK[4:]}", "D")}) == []
    )
    assert DiscordChannel.validate({"webhook_url": Secret(f"http://127.0.0.1:8080{HOOK}", "D")}) == []
    for bad in (
        f"http://discord.com{HOOK}",
        "https://discord.com/api/webhooks/abc/def",
        f"https://discord.com{HOOK}?thread_id=1",
        "not a url",
    ):
        problems = DiscordChannel.validate({"webhook_url": Secret(bad, "D")})
        assert [k for k, _ in problems] == ["webhook_url"], bad
        assert HOOK_TOKEN not in problems[0][1]
    for key, value in (
        ("username", "Discord Bot"),
        ("username", "x" * 81),
        ("avatar_url", "http://e.example/a.png"),
        ("thread_id", "abc"),
        ("color", 0x1000000),
    ):
        assert [k for k, _ in DiscordChannel.validate({**good, key: value})] == [key], (key, value)
    assert [k for k, _ in DiscordChannel.validate({**good, "thread_id": "1", "forum": True})] == ["forum"]


def test_loading_the_plugin_does_not_import_requests() -> None:
    code = "import sys, syndicator_channels.discord; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_registers_through_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import discord

    pm.register(discord)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [DiscordChannel]
    assert DiscordChannel.idempotency == "none"
    assert DiscordChannel.capabilities.edit and DiscordChannel.capabilities.delete
