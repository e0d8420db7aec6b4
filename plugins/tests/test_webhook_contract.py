"""The webhook channel against the test kit's ChannelContract, and the kit's own checks."""

from __future__ import annotations

import json
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pluggy
import pytest
from syndicator_channels.webhook import WebhookChannel

from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext, Limits
from syndicator.errors import AuthError, ChannelError, PermanentError, TransientError
from syndicator.models import Post, Receipt, Release
from syndicator.plugins import channel_types
from syndicator.testing import (
    ChannelContract,
    CliInvoker,
    PluginRegistrar,
    ReleaseFactory,
    Reply,
    ScriptedServer,
    hard_releases,
    make_release,
)

pytest_plugins = ["syndicator.testing"]

PATH = "/hook"


class TestWebhookContract(ChannelContract):
    channel_class = WebhookChannel
    channel_name = "hook"

    def options(self, url: str) -> dict[str, Any]:
        return {"url": url + PATH, "secret": {"env": "HOOK_SECRET"}}

    def environ(self, url: str) -> dict[str, str]:
        return {"HOOK_SECRET": "s3cret-for-the-contract"}

    def script_success(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(201, json={"id": 7, "url": "https://receiver.example/7"}))

    def script_transient(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(503, headers={"Retry-After": "30"}))

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(422, json={"error": "invalid field: title"}))

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(401, json={"error": "bad signature"}))

    def test_every_hard_release_reaches_the_receiver_whole(self, tmp_path: Path) -> None:
        """The webhook has no length limit: nothing of a hard release may be lost on the way."""
        with ScriptedServer() as server:
            self.script_success(server)
            ctx = self.context(server, tmp_path)
            channel = WebhookChannel()
            for release in hard_releases().values():
                channel.publish(channel.render(release, ctx), ctx)
            received = [r.json for r in server.requests]
        for release, payload in zip(hard_releases().values(), received, strict=True):
            assert payload["id"] == release.key
            assert payload["body_text"] == release.body_text
            assert payload["url"] == release.url
            assert [m["alt"] for m in payload["media"] if m["kind"] == "image"] == [
                i.alt for i in release.images
            ]


# -- the contract catches broken channels --------------------------------------------------------
#
# Each variant below breaks one rule; running the inherited test on it must fail, and say why.
# The classes do not start with "Test", so pytest does not collect them: the tests call them.

_EMOJI_SUMMARY = hard_releases()["emoji-zwj"].summary
_CUT = _EMOJI_SUMMARY.index("\u200d", 100) + 1  # a naive cut that ends on a zero-width joiner


class _ImpureRender(WebhookChannel):
    def render(self, release: Release, ctx: ChannelContext) -> Post:
        ctx.http.head(ctx.options["url"])  # "just checking the receiver is up"
        return super().render(release, ctx)


class _RawSocketRender(WebhookChannel):
    def render(self, release: Release, ctx: ChannelContext) -> Post:
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=0.1).close()
        except OSError:
            pass
        return super().render(release, ctx)


class _WritesFiles(WebhookChannel):
    def render(self, release: Release, ctx: ChannelContext) -> Post:
        (ctx.base_dir / "cache.json").write_text("{}", encoding="utf-8")
        return super().render(release, ctx)


class _TooLong(WebhookChannel):
    limits = Limits(max_length=280, counting="weighted")


class _CutsInsideEmoji(WebhookChannel):
    limits = Limits(max_length=_CUT, counting="chars")

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        post = super().render(release, ctx)
        return replace(post, text=release.summary[:_CUT] if release.summary == _EMOJI_SUMMARY else "ok")


class _EverythingPermanent(WebhookChannel):
    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        try:
            return super().publish(post, ctx)
        except ChannelError as exc:
            raise PermanentError(f"webhook failed: {exc}") from exc


class _AuthAsPlainPermanent(WebhookChannel):
    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        try:
            return super().publish(post, ctx)
        except AuthError as exc:
            raise PermanentError(str(exc)) from exc


class _LeaksTheSecret(WebhookChannel):
    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        try:
            return super().publish(post, ctx)
        except TransientError as exc:
            raise TransientError(f"{exc} (signed with {ctx.options['secret'].reveal()})") from exc


class _ForgetsTheKey(WebhookChannel):
    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        return super().publish(post, replace(ctx, idempotency_key=""))


class _PostingCheck(WebhookChannel):
    def check(self, ctx: ChannelContext) -> str:
        ctx.http.post(ctx.options["url"], json={"ping": True})
        return "ok"


class _PublishesFromRender(WebhookChannel):
    def render(self, release: Release, ctx: ChannelContext) -> Post:
        post = super().render(release, ctx)
        self.publish(post, ctx)
        return post


class _LookupWithoutLookingUp(WebhookChannel):
    idempotency = "lookup"


def _contract(channel: type[Channel]) -> TestWebhookContract:
    variant = type(f"Contract{channel.__name__}", (TestWebhookContract,), {"channel_class": channel})
    return cast(TestWebhookContract, variant())


@pytest.mark.parametrize(
    ("channel", "test", "message"),
    [
        (_ImpureRender, "test_render_is_pure", "render did I/O"),
        (_RawSocketRender, "test_render_is_pure", "socket connect to \\('127.0.0.1', 9\\)"),
        (_WritesFiles, "test_render_is_pure", "wrote files: \\['cache.json'\\]"),
        (_PublishesFromRender, "test_render_is_pure", "render did I/O"),
        (_TooLong, "test_render_keeps_within_limits", "cjk: text counts .* over max_length 280"),
        (_CutsInsideEmoji, "test_render_keeps_within_limits", "emoji-zwj: text was cut inside a character"),
        (_EverythingPermanent, "test_publish_raises_transient_error", "raised PermanentError"),
        (_AuthAsPlainPermanent, "test_publish_raises_auth_error", "expected AuthError"),
        (_LeaksTheSecret, "test_publish_raises_transient_error", "a secret is in the error's message"),
        (_ForgetsTheKey, "test_idempotency_key_goes_on_the_wire", "was not sent"),
        (_EverythingPermanent, "test_engine_records_each_outcome", "script_transient: the ledger says dead"),
        (
            _PublishesFromRender,
            "test_dry_run_never_publishes",
            "a dry run called _PublishesFromRender.publish",
        ),
        (_PostingCheck, "test_check_writes_nothing", "check wrote \\['POST /hook'\\]"),
        (_LookupWithoutLookingUp, "test_declarations_are_consistent", "find_existing: not implemented"),
    ],
    ids=lambda v: v.__name__.strip("_") if isinstance(v, type) else None,
)
def test_the_contract_catches(channel: type[Channel], test: str, message: str, tmp_path: Path) -> None:
    method = getattr(_contract(channel), test)
    with pytest.raises(AssertionError, match=message):
        method() if test == "test_declarations_are_consistent" else method(tmp_path)


def test_a_contract_without_scripts_says_what_is_missing(tmp_path: Path) -> None:
    class Bare(ChannelContract):
        channel_class = WebhookChannel

        def options(self, url: str) -> dict[str, Any]:
            return {"url": url + PATH}

    with pytest.raises(AssertionError, match=r"define script_success\(self, server\)"):
        Bare().test_publish_returns_a_receipt(tmp_path)
    with pytest.raises(pytest.skip.Exception, match="scripts no auth failure"):
        Bare().test_publish_raises_auth_error(tmp_path)
    with pytest.raises(AssertionError, match="set channel_class"):
        type("NoChannel", (ChannelContract,), {})().test_declarations_are_consistent()


def test_options_that_do_not_fit_the_schema_are_named(tmp_path: Path) -> None:
    class Misconfigured(TestWebhookContract):
        def options(self, url: str) -> dict[str, Any]:
            return {"url": url, "secret": "in-the-file", "colour": "blue"}

    with pytest.raises(AssertionError, match=r"secret: is a secret.*colour: unknown key"):
        Misconfigured().test_options_resolve_and_validate()


# -- the kit's builders and fixtures ---------------------------------------------------------------


def test_hard_releases_are_as_hard_as_promised() -> None:
    hard = hard_releases()
    assert set(hard) == {
        "emoji-zwj",
        "cjk",
        "rtl-arabic",
        "long-url",
        "long-indonesian",
        "many-images",
        "no-summary",
        "bare",
    }
    assert "\u200d" in hard["emoji-zwj"].title and "\U0001f3fd" in hard["emoji-zwj"].summary
    assert hard["cjk"].language == "zh" and " " not in hard["cjk"].title
    assert hard["rtl-arabic"].language == "ar"
    assert all(unicodedata.bidirectional(c) == "AL" for c in hard["rtl-arabic"].title if c.isalpha())
    assert len(hard["long-url"].url) > 700
    assert len(hard["long-indonesian"].body_text.split()) >= 3000
    assert (
        hard["long-indonesian"].body_html.count("<p>") == hard["long-indonesian"].body_text.count("\n\n") + 1
    )
    images = hard["many-images"].images
    assert len(images) >= 20 and all(i.alt for i in images)
    assert hard["no-summary"].summary == "" and hard["no-summary"].body_text
    assert (hard["bare"].summary, hard["bare"].body_text, hard["bare"].url, hard["bare"].images) == (
        "",
        "",
        "",
        (),
    )
    assert len({r.key for r in hard.values()}) == len(hard)
    assert hard_releases() == hard  # the same every call


def test_release_factory_gives_a_new_id_each_call(release_factory: ReleaseFactory) -> None:
    first, second = release_factory(), release_factory(title="Lain", body=["Satu.", "Dua."])
    assert first.key == "kit/kit-0001" and second.key == "kit/kit-0002"
    assert first.url.endswith("/kit-0001")
    assert (second.title, second.body_text, second.body_html) == (
        "Lain",
        "Satu.\n\nDua.",
        "<p>Satu.</p><p>Dua.</p>",
    )
    assert first.published is not None and first.published.utcoffset() is not None
    assert release_factory.hard()["bare"].title == "Pengumuman"
    assert make_release(id="x").key == "kit/x"


def test_plugin_manager_and_register_plugin(
    plugin_manager: pluggy.PluginManager, register_plugin: PluginRegistrar
) -> None:
    assert "webhook" in channel_types(plugin_manager)  # installed entry points are loaded

    class Echo(WebhookChannel):
        type = "echo"

    class EchoPlugin:
        @hookimpl
        def register_channels(self, register: Callable[[type[Channel]], None]) -> None:
            register(Echo)

    plugin = register_plugin(EchoPlugin(), name="echo-plugin")
    assert channel_types(plugin_manager)["echo"].plugin == "echo-plugin"
    webhook = plugin_manager.get_plugin("webhook")
    assert register_plugin(webhook) is webhook  # already loaded: left alone
    register_plugin.undo()
    assert not plugin_manager.is_registered(plugin) and plugin_manager.is_registered(webhook)
    assert "echo" not in channel_types(plugin_manager)


def test_cli_runner_separates_stdout_and_stderr(cli_runner: CliInvoker, tmp_path: Path) -> None:
    listed = cli_runner("plugins", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert "webhook" in {p["name"] for p in json.loads(listed.stdout)}
    missing = tmp_path / "nope.toml"
    for _ in range(2):  # a second call captures its own stderr too
        result = cli_runner("--config", missing, "run")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: {missing}: (top level): file not found")
    assert cli_runner("--config", missing, "run", env={"SYNDICATOR_CONFIG": None}).exit_code == 2
