"""The slack channel, against a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from syndicator_channels.slack import SlackChannel, escape, fit, link, truncate

from syndicator import hookspecs
from syndicator.channel import Channel, ChannelContext
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError, UnknownOutcome
from syndicator.http import make_session
from syndicator.models import Media, Receipt, Release
from syndicator.options import Secret, resolve_options
from syndicator.testing import Reply, ScriptedServer

pytest_plugins = ["syndicator.testing"]

PATH = "/services/T000/B000/S3CRETT0KEN"
CtxFactory = Callable[..., ChannelContext]


@pytest.fixture
def release() -> Release:
    return Release(
        source="diskominfo",
        id="2024-001",
        title="Jembatan &lt;baru&gt; & siap",
        summary="Gubernur meresmikan jembatan <b>hari ini</b> & warga senang. &lt;!channel&gt; @here",
        body_html="<p>Isi lengkap.</p>",
        url="https://example.go.id/rilis/2024-001?a=1&b=2",
        published=datetime(2024, 5, 1, 1, 30, tzinfo=UTC),
        agency="Diskominfo",
        language="id",
        images=(
            Media("img/lokal.jpg", alt="Lokal"),
            Media("https://example.go.id/foto.jpg", alt="Jembatan dari udara"),
        ),
    )


@pytest.fixture
def make_ctx(tmp_path: Path, scripted_server: ScriptedServer) -> CtxFactory:
    def make(
        *,
        url: str | None = None,
        session: Callable[[], requests.Session] | None = None,
        timeout: float | None = None,
        **raw: Any,
    ) -> ChannelContext:
        options, problems = resolve_options(
            {"webhook_url": {"env": "SLACK_WEBHOOK_URL"}, **raw},
            SlackChannel.options,
            environ={"SLACK_WEBHOOK_URL": url or scripted_server.url + PATH},
        )
        assert problems == [] and isinstance(options["webhook_url"], Secret)
        if timeout is not None:
            options["timeout"] = timeout
        return ChannelContext(
            name="slack-press",
            options=options,
            base_dir=tmp_path,
            logger=logging.getLogger("t"),
            idempotency_key="k-123",
            timezone="Asia/Makassar",
            _session_factory=session,
        )

    return make


def _publish(ctx: ChannelContext, release: Release) -> Receipt:
    channel = SlackChannel()
    return channel.publish(channel.render(release, ctx), ctx)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- render --------------------------------------------------------------------------------


def test_render_blocks(release: Release, make_ctx: CtxFactory) -> None:
    post = SlackChannel().render(release, make_ctx())
    payload = post.extra["payload"]
    header, summary, linked, image, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Jembatan <baru> & siap"}}
    assert summary["text"] == {
        "type": "mrkdwn",
        "text": "Gubernur meresmikan jembatan hari ini &amp; warga senang. &lt;!channel&gt; @here",
    }
    url = "https://example.go.id/rilis/2024-001?a=1&amp;b=2"
    assert linked["text"]["text"] == f"<{url}|Jembatan &lt;baru&gt; &amp; siap>"
    assert linked["accessory"] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Baca rilis"},
        "url": "https://example.go.id/rilis/2024-001?a=1&b=2",
    }
    assert image == {
        "type": "image",
        "image_url": "https://example.go.id/foto.jpg",
        "alt_text": "Jembatan dari udara",
    }
    assert context == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Diskominfo · 2024-05-01 09:30 WITA"}],
    }
    assert payload["text"] == post.text
    assert post.text == (
        "Diskominfo: Jembatan &lt;baru&gt; &amp; siap\n"
        "Gubernur meresmikan jembatan hari ini &amp; warga senang. &lt;!channel&gt; @here\n"
        f"<{url}|Jembatan &lt;baru&gt; &amp; siap>"
    )
    assert payload["unfurl_links"] is False
    assert "<!channel>" not in str(payload)


def test_render_minimal_release_still_has_text(make_ctx: CtxFactory) -> None:
    rel = Release(source="s", id="1", title="Hanya judul", body_text="Paragraf satu.\n\nParagraf dua.")
    post = SlackChannel().render(rel, make_ctx(unfurl_links=True))
    payload = post.extra["payload"]
    assert [b["type"] for b in payload["blocks"]] == ["header", "section"]
    assert payload["blocks"][1]["text"]["text"] == "Paragraf satu."
    assert payload["text"] == "Hanya judul\nParagraf satu."
    assert payload["unfurl_links"] is True


def test_render_limits(make_ctx: CtxFactory) -> None:
    words = "kata & " * 2000  # 14,000 characters, 16,000 once escaped
    rel = Release(source="s", id="1", title="Judul " * 60, summary=words, url="https://x.example/r")
    post = SlackChannel().render(rel, make_ctx())
    header, summary, *_ = post.extra["payload"]["blocks"]
    assert len(header["text"]["text"]) <= 150 and header["text"]["text"].endswith("Judul…")
    assert len(summary["text"]["text"]) <= 3000
    assert summary["text"]["text"].endswith("kata…")
    assert "&amp" in summary["text"]["text"] and not summary["text"]["text"].endswith("&amp;…")
    assert len(post.text) <= 40000


def test_render_override_text_limited(release: Release, make_ctx: CtxFactory) -> None:
    rel = release.with_changes(overrides={"slack-press": {"text": "a <b> " * 10000}})
    post = SlackChannel().render(rel, make_ctx())
    assert len(post.text) <= 40000 and post.text.startswith("a &lt;b&gt; a")


def test_helpers() -> None:
    assert escape("a & <b> > c") == "a &amp; &lt;b&gt; &gt; c"
    assert (
        link("https://x.example/a|b<c>?q=1&r=2", "T|i") == "<https://x.example/a%7Cb%3Cc%3E?q=1&amp;r=2|T¦i>"
    )
    assert truncate("satu dua tiga", 20) == "satu dua tiga"
    assert truncate("satu dua tiga empat", 12) == "satu dua…"
    assert truncate("x" * 30, 10) == "x" * 9 + "…"
    assert fit("a&b&c&d&e&f", 12) == "a&amp;b…"
    assert fit("&&&&&&", 12) == "…"


def test_render_is_pure(release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    def no_session() -> requests.Session:
        raise AssertionError("render must not touch the network")

    ctx = make_ctx(session=no_session)
    assert SlackChannel().render(release, ctx) == SlackChannel().render(release, ctx)
    assert scripted_server.requests == []


# -- publish -------------------------------------------------------------------------------


def test_publish_posts_json(release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", PATH, Reply(200, body=b"ok", headers={"Content-Type": "text/html"}))
    ctx = make_ctx()
    receipt = _publish(ctx, release)
    assert receipt.remote_id == "" and receipt.url == "" and receipt.extra == {"status": 200}
    (req,) = scripted_server.requests
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.json == SlackChannel().render(release, ctx).extra["payload"]


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (Reply(429, body=b"rate_limited", headers={"Retry-After": "30"}), 30.0),
        (Reply(500, body=b"rollup_error"), None),
        (Reply(503, headers={"Retry-After": "5"}), 5.0),
    ],
)
def test_transient_statuses(
    reply: Reply,
    retry_after: float | None,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script("POST", PATH, reply)
    with pytest.raises(TransientError) as info:
        _publish(make_ctx(), release)
    assert info.value.retry_after == retry_after
    assert str(reply.status) in str(info.value)


@pytest.mark.parametrize(
    ("status", "error", "auth"),
    [
        (400, "invalid_payload", False),
        (400, "no_text", False),
        (403, "action_prohibited", False),
        (404, "channel_not_found", False),
        (410, "channel_is_archived", False),
        (403, "invalid_token", True),
        (404, "no_service", True),
        (401, "", True),
    ],
)
def test_permanent_statuses(
    status: int,
    error: str,
    auth: bool,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script("POST", PATH, Reply(status, body=error.encode()))
    with pytest.raises(PermanentError) as info:
        _publish(make_ctx(), release)
    assert isinstance(info.value, AuthError) is auth
    assert error in str(info.value) and str(status) in str(info.value)


def test_redirect_is_permanent(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(301, headers={"Location": "/elsewhere"}))
    with pytest.raises(PermanentError, match="redirect"):
        _publish(make_ctx(), release)
    assert len(scripted_server.requests) == 1


def test_connection_refused_is_transient(release: Release, make_ctx: CtxFactory) -> None:
    port = _closed_port()
    with pytest.raises(TransientError, match="nothing was sent") as info:
        _publish(make_ctx(url=f"http://127.0.0.1:{port}{PATH}"), release)
    assert "refused" in str(info.value).lower()


def test_timeout_after_sending_is_unknown_outcome(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply(200, body=b"ok", delay=3))
    with pytest.raises(UnknownOutcome, match="may have been posted"):
        _publish(make_ctx(timeout=0.2), release)
    assert len(scripted_server.requests) == 1


def test_reset_after_sending_is_unknown_outcome(
    release: Release, make_ctx: CtxFactory, scripted_server: ScriptedServer
) -> None:
    scripted_server.script("POST", PATH, Reply.reset())
    with pytest.raises(UnknownOutcome):
        _publish(make_ctx(), release)


@pytest.mark.parametrize("reply", [Reply(404, body=b"no_service"), Reply(500), Reply(429), Reply.reset()])
def test_webhook_url_never_in_errors_or_logs(
    reply: Reply,
    release: Release,
    make_ctx: CtxFactory,
    scripted_server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted_server.script("POST", PATH, reply)
    caplog.set_level(logging.DEBUG)
    ctx = make_ctx(session=lambda: make_session(timeout=0.5))
    with pytest.raises(ChannelError) as info:
        _publish(ctx, release)
    # urllib3's own DEBUG lines show request paths: the core keeps that logger quiet
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("urllib3"))
    for text in (str(info.value), repr(info.value), repr(ctx), ours):
        assert "S3CRETT0KEN" not in text


# -- check ---------------------------------------------------------------------------------


def test_check_posts_nothing(make_ctx: CtxFactory, scripted_server: ScriptedServer) -> None:
    status = SlackChannel().check(make_ctx())
    assert "nothing was sent" in status and "cannot be tested without posting" in status
    assert "S3CRETT0KEN" not in status
    assert scripted_server.requests == []


# -- options and plugin --------------------------------------------------------------------


def test_options() -> None:
    _, problems = resolve_options({}, SlackChannel.options)
    assert [k for k, _ in problems] == ["webhook_url"]
    _, problems = resolve_options({"webhook_url": "https://hooks.slack.com/x"}, SlackChannel.options)
    assert [k for k, _ in problems] == ["webhook_url"]  # must come from the environment
    options, problems = resolve_options(
        {"webhook_url": {"env": "SLACK_URL"}},
        SlackChannel.options,
        environ={"SLACK_URL": "https://hooks.slack.com/s/T"},
    )
    assert problems == [] and SlackChannel.validate(options) == []
    for bad in ("http://hooks.slack.com/services/T", "ftp://x/y", "not a url"):
        found = SlackChannel.validate({"webhook_url": Secret(bad, "SLACK_URL")})
        assert [k for k, _ in found] == ["webhook_url"]
        assert bad not in found[0][1]
    assert SlackChannel.validate({"webhook_url": Secret("http://127.0.0.1:9/hook", "SLACK_URL")}) == []


def test_registers_through_hook() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from syndicator_channels import slack

    pm.register(slack)
    found: list[type[Channel]] = []
    pm.hook.register_channels(register=found.append)
    assert found == [SlackChannel]
    assert SlackChannel.idempotency == "none"
    assert not SlackChannel.capabilities.edit and not SlackChannel.capabilities.delete
