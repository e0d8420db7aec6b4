"""The channel contract of the test kit: :class:`ChannelContract`, the tests every channel
must pass, run against the channel's own scripted server.

PYTEST_DONT_REWRITE: ``pytest_plugins = ["syndicator.testing"]`` marks the whole package for
assertion rewriting; the marker keeps the contract's asserts (and so its failure messages)
as they were in the single-file kit.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..channel import Channel, ChannelContext, Limits
from ..errors import AuthError, ChannelError, PermanentError, TransientError
from ..models import DeliveryState, Post, Receipt, Release
from ..options import Option, Secret, resolve_options
from .contract_helpers import (
    _WRITES,
    _Attempt,
    _FixedSource,
    _ListHandler,
    _measure,
    _splits_a_cluster,
    _spy_class,
)
from .releases import KIT_SOURCE, hard_releases, make_release
from .server import ScriptedServer


class ChannelContract:
    """The tests every channel must pass, run against the channel's own scripted server.

    Subclass it in your plugin's tests (the class name must start with ``Test``), say which
    channel, how to configure it and how your platform answers::

        class TestNoticeboard(ChannelContract):
            channel_class = NoticeboardChannel

            def options(self, url):  # the [channels.NAME] table, pointed at the scripted server
                return {"url": url + "/posts", "token": {"env": "BOARD_TOKEN"}}

            def environ(self, url):  # the environment that secrets are read from
                return {"BOARD_TOKEN": "t0ken"}

            def script_success(self, server):
                server.script("POST", "/posts", Reply(201, json={"id": "42"}))

            def script_transient(self, server):
                server.script("POST", "/posts", Reply(503, headers={"Retry-After": "30"}))

            def script_permanent(self, server):
                server.script("POST", "/posts", Reply(422, json={"error": "too long"}))

            def script_auth_failure(self, server):  # optional: skipped if not given
                server.script("POST", "/posts", Reply(401))

    Inherited tests: the declarations are consistent; the options resolve and validate;
    ``render`` is pure (no socket is even opened, no file written, the same post twice) and
    keeps within ``limits`` for every one of :func:`hard_releases`; ``publish`` returns a
    receipt, raises ``TransientError``, ``PermanentError`` and ``AuthError`` for the matching
    scripts, keeps secrets out of its messages, and sends ``ctx.idempotency_key`` when it
    declares ``idempotency = "key"``; a real engine run records each outcome as the core
    should; a dry run through the real engine calls no I/O method and sends nothing; and
    ``check`` writes nothing (no POST, PUT, PATCH or DELETE).

    Add your own tests to the subclass; :meth:`context` gives them a ready ChannelContext.
    A channel that does not speak HTTP overrides :meth:`start_server`,
    :meth:`requests_received`, :meth:`writes_received` and :meth:`wire_text`.
    """

    #: The channel under test.
    channel_class: ClassVar[type[Channel]]
    #: The ``[channels.NAME]`` name the channel is configured under (``ctx.name``).
    channel_name: ClassVar[str] = "contract"
    #: Seconds for each HTTP call made through ``ctx.http``.
    timeout: ClassVar[float] = 5.0
    #: ``(method, path)`` pairs that ``check`` may call although they write, for APIs whose
    #: read-only calls are POSTs (for example ``("POST", "/api/auth.test")``).
    check_may_call: ClassVar[frozenset[tuple[str, str]]] = frozenset()

    # -- what a subclass gives ------------------------------------------------------------

    def options(self, url: str) -> Mapping[str, Any]:
        """The channel's config table as written in TOML, pointed at ``url`` (the server's).

        Secrets are given as ``{"env": "NAME"}`` with the value in :meth:`environ`.
        """
        raise NotImplementedError(f"{type(self).__name__}: define options(self, url)")

    def environ(self, url: str) -> Mapping[str, str]:
        """The environment variables that ``{"env": ...}`` options read."""
        return {}

    def script_success(self, server: Any) -> None:
        """Script the server to accept a post."""
        raise NotImplementedError

    def script_transient(self, server: Any) -> None:
        """Script a failure worth retrying (503, 429 with Retry-After...)."""
        raise NotImplementedError

    def script_permanent(self, server: Any) -> None:
        """Script a refusal that no retry can fix (400, 422...)."""
        raise NotImplementedError

    def script_auth_failure(self, server: Any) -> None:
        """Script refused credentials (401, 403...). Optional: the tests skip without it."""
        raise NotImplementedError

    def script_check(self, server: Any) -> None:
        """Script a healthy platform for ``check`` (by default, the success script: so a
        check that posts would succeed, and be caught)."""
        self.script_success(server)

    def sample_release(self) -> Release:
        """The ordinary release that publish tests send: no media, so that publishing needs
        nothing but the scripted API. Override it to test uploads (with local files)."""
        return make_release(images=(), attachments=())

    def limits_for(self, ctx: ChannelContext) -> Limits:
        """The limits render must keep to; override it when they depend on the options."""
        return self._cls().limits

    def start_server(self) -> Any:
        """The fake platform: a context manager with a ``url``. Default: a ScriptedServer."""
        return ScriptedServer()

    def requests_received(self, server: Any) -> list[str]:
        """Every request the server received, one line each."""
        return [f"{r.method} {r.path}" for r in server.requests]

    def writes_received(self, server: Any) -> list[str]:
        """The requests that would change something on the platform."""
        return [
            f"{r.method} {r.path}"
            for r in server.requests
            if r.method in _WRITES and (r.method, r.path) not in self.check_may_call
        ]

    def wire_text(self, server: Any) -> str:
        """Everything that went over the wire (headers and bodies), to search for the key."""
        lines: list[str] = []
        for r in server.requests:
            lines.extend(f"{k}: {v}" for k, v in r.headers.items())
            lines.append(f"{r.method} {r.path}?" + "&".join(f"{k}={v}" for k, v in r.query.items()))
            lines.append(r.text)
        return "\n".join(lines)

    # -- helpers for subclasses -----------------------------------------------------------

    def resolved_options(self, url: str) -> dict[str, Any]:
        """:meth:`options` checked against the channel's schema, as the config loader does."""
        cls = self._cls()
        resolved, problems = resolve_options(self.options(url), cls.options, environ=self.environ(url))
        if problems:
            listed = "; ".join(f"{key}: {why}" for key, why in problems)
            raise AssertionError(f"{type(self).__name__}.options() does not fit {cls.__name__}: {listed}")
        return resolved

    def context(self, server: Any, base_dir: Path, **overrides: Any) -> ChannelContext:
        """A ChannelContext as the engine makes it, with the options pointed at ``server``."""
        from ..http import make_session

        timeout = self.timeout
        fields: dict[str, Any] = {
            "name": self.channel_name,
            "options": self.resolved_options(server.url),
            "base_dir": base_dir,
            "logger": logging.getLogger(f"syndicator.channel.{self.channel_name}"),
            "idempotency_key": "syn-contract-0000000000000000000000000000000000000",
            "_session_factory": lambda: make_session(timeout=timeout),
        }
        fields.update(overrides)
        return ChannelContext(**fields)

    def idempotency_key_for(self, release: Release) -> str:
        """The key the core would give ``release`` on this channel."""
        from ..retry import idempotency_key

        return idempotency_key(release.key, self.channel_name, release.content_hash)

    def run_engine(
        self,
        server: Any,
        folder: Path,
        releases: Sequence[Release],
        *,
        dry_run: bool = False,
        channel_class: type[Channel] | None = None,
    ) -> tuple[Any, dict[str, DeliveryState]]:
        """One real engine run (real ledger in ``folder``, built-in approval) delivering
        ``releases`` from a trusted source to this channel; returns the run report and each
        release's delivery state in the ledger afterwards (by release key)."""
        from zoneinfo import ZoneInfo

        from ..config import ChannelConfig, Config, SourceConfig
        from ..engine import Engine
        from ..ledger import Ledger
        from ..plugins import get_plugin_manager

        cls = channel_class or self._cls()
        source = SourceConfig(
            name=KIT_SOURCE,
            type=_FixedSource.type,
            approval="trusted",
            options={"releases": tuple(r.with_changes(source=KIT_SOURCE) for r in releases)},
            cls=_FixedSource,
        )
        channel = ChannelConfig(
            name=self.channel_name,
            type=cls.type,
            options=self.resolved_options(server.url),
            backfill=True,
            timeout=self.timeout,
            concurrency=2,
            cls=cls,
        )
        config = Config(
            path=folder / "syndicator.toml",
            state_path=folder / "state" / "syndicator.db",
            timezone=ZoneInfo("UTC"),
            sources={KIT_SOURCE: source},
            channels={self.channel_name: channel},
        )
        pm = get_plugin_manager(load_entry_points=False, disabled=())
        with Ledger.open(config.state_path) as ledger:
            report = Engine(config, pm, ledger).run(dry_run=dry_run)
            states = {d.release_key: d.state for d in ledger.deliveries(channel=self.channel_name)}
        return report, states

    # -- the tests ------------------------------------------------------------------------

    def test_declarations_are_consistent(self) -> None:
        cls = self._cls()
        count, _, _ = _measure()
        problems: list[str] = []
        if not isinstance(cls.type, str) or not cls.type:
            problems.append("type: set the name used in [channels.NAME] type = ...")
        if not cls.description:
            problems.append("description: one line for `syndicator channels list`")
        if cls.idempotency not in ("key", "lookup", "none"):
            problems.append(f'idempotency: "key", "lookup" or "none", not {cls.idempotency!r}')
        try:
            count("", cls.limits)
        except ValueError as exc:
            problems.append(f"limits: {exc}")
        names = [o.name for o in cls.options if isinstance(o, Option)]
        if len(names) != len(cls.options):
            problems.append("options: every entry must be a syndicator.options.Option")
        if len(set(names)) != len(names):
            problems.append(f"options: a name is declared twice ({', '.join(names)})")
        needs = [
            ("render", True, "every channel renders"),
            ("publish", True, "every channel publishes"),
            ("find_existing", cls.idempotency == "lookup", 'idempotency = "lookup" needs it'),
            ("update", cls.capabilities.edit, "capabilities.edit needs it"),
            ("delete", cls.capabilities.delete, "capabilities.delete needs it"),
        ]
        for method, needed, why in needs:
            if needed and getattr(cls, method) is getattr(Channel, method):
                problems.append(f"{method}: not implemented; {why}")
        assert not problems, f"{cls.__name__}:\n  " + "\n  ".join(problems)

    def test_options_resolve_and_validate(self) -> None:
        cls = self._cls()
        with self.start_server() as server:
            resolved = self.resolved_options(server.url)
        problems = cls.validate(resolved)
        assert problems == [], f"{cls.__name__}.validate() refused options({server.url!r}): {problems}"

    def test_render_is_pure(self, tmp_path: Path) -> None:
        import pytest

        cls = self._cls()
        base = tmp_path / "base"
        base.mkdir()
        touched: list[str] = []

        def refuse_connect(sock: socket.socket, address: Any, *args: Any) -> Any:
            touched.append(f"socket connect to {address!r}")
            raise AssertionError(f"render opened a connection to {address!r}")

        def refuse_session() -> Any:
            touched.append("ctx.http")
            raise AssertionError("render used ctx.http")

        releases = {"sample": self.sample_release(), **hard_releases()}
        first: dict[str, Post] = {}
        second: dict[str, Post] = {}
        failed: list[str] = []
        with self.start_server() as server:
            ctx = self.context(server, base, _session_factory=refuse_session)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(socket.socket, "connect", refuse_connect)
                patch.setattr(socket.socket, "connect_ex", refuse_connect)
                for name, release in releases.items():
                    try:
                        first[name] = cls().render(release, ctx)
                        second[name] = cls().render(release, ctx)
                    except Exception as exc:
                        failed.append(f"{name}: {type(exc).__name__}: {exc}")
            received = self.requests_received(server)
        assert touched == [], f"{cls.__name__}.render did I/O: {touched}"
        assert received == [], f"{cls.__name__}.render reached the server: {received}"
        written = sorted(str(p.relative_to(base)) for p in base.rglob("*"))
        assert written == [], f"{cls.__name__}.render wrote files: {written}"
        assert failed == [], f"{cls.__name__}.render failed: {failed}"
        unstable = [name for name in first if first[name] != second[name]]
        assert unstable == [], f"{cls.__name__}.render gave two different posts for: {unstable}"

    def test_render_keeps_within_limits(self, tmp_path: Path) -> None:
        cls = self._cls()
        count, fits, rule = _measure()
        problems: list[str] = []
        with self.start_server() as server:
            ctx = self.context(server, tmp_path)
            limits = self.limits_for(ctx)
            for name, release in {"sample": self.sample_release(), **hard_releases()}.items():
                try:
                    post = cls().render(release, ctx)
                except Exception as exc:
                    problems.append(f"{name}: render raised {type(exc).__name__}: {exc}")
                    continue
                problems.extend(
                    f"{name}: {p}" for p in self._limit_problems(post, release, ctx, limits, count, fits)
                )
        assert not problems, f"{cls.__name__} ({limits}, counted with {rule}):\n  " + "\n  ".join(problems)

    def test_publish_returns_a_receipt(self, tmp_path: Path) -> None:
        attempt = self._publish_once("script_success", tmp_path)
        name = self._cls().__name__
        assert attempt.error is None, f"{name}.publish raised {attempt.error!r} against script_success"
        assert isinstance(attempt.receipt, Receipt), f"{name}.publish returned {attempt.receipt!r}"
        assert attempt.received, f"{name}.publish returned a receipt but sent nothing to the server"

    def test_idempotency_key_goes_on_the_wire(self, tmp_path: Path) -> None:
        import pytest

        cls = self._cls()
        if cls.idempotency != "key":
            pytest.skip(f'{cls.__name__} declares idempotency = "{cls.idempotency}"')
        attempt = self._publish_once("script_success", tmp_path)
        assert attempt.ctx.idempotency_key in attempt.wire, (
            f'{cls.__name__} declares idempotency = "key" but ctx.idempotency_key was not sent: '
            "a retry after a timeout could post twice"
        )

    def test_publish_raises_transient_error(self, tmp_path: Path) -> None:
        self._expect_error(self._publish_once("script_transient", tmp_path), TransientError)

    def test_publish_raises_permanent_error(self, tmp_path: Path) -> None:
        self._expect_error(self._publish_once("script_permanent", tmp_path), PermanentError)

    def test_publish_raises_auth_error(self, tmp_path: Path) -> None:
        self._expect_error(self._publish_once("script_auth_failure", tmp_path), AuthError)

    def test_engine_records_each_outcome(self, tmp_path: Path) -> None:
        expected = [
            ("script_success", DeliveryState.SENT),
            ("script_transient", DeliveryState.FAILED),
            ("script_permanent", DeliveryState.DEAD),
        ]
        if self._overridden("script_auth_failure"):
            expected.append(("script_auth_failure", DeliveryState.DEAD))
        release = self.sample_release()
        key = f"{KIT_SOURCE}/{release.id}"
        problems: list[str] = []
        for script, state in expected:
            with self.start_server() as server:
                self._script(script)(server)
                report, states = self.run_engine(server, tmp_path / script, [release])
            if states.get(key) != state:
                details = "; ".join(f"{o.state}: {o.detail}" for o in report.outcomes)
                problems.append(f"{script}: the ledger says {states.get(key)}, expected {state} ({details})")
        assert not problems, f"{self._cls().__name__} through the engine:\n  " + "\n  ".join(problems)

    def test_dry_run_never_publishes(self, tmp_path: Path) -> None:
        cls = self._cls()
        calls: list[str] = []
        releases = [self.sample_release(), *hard_releases().values()]
        with self.start_server() as server:
            self._script("script_success")(server)  # a publish that slipped through would succeed
            report, states = self.run_engine(
                server, tmp_path, releases, dry_run=True, channel_class=_spy_class(cls, calls)
            )
            received = self.requests_received(server)
        assert calls == [], f"a dry run called {cls.__name__}.{', '.join(calls)}"
        assert received == [], f"a dry run reached the server: {received}"
        assert states == {}, f"a dry run kept deliveries in the ledger: {states}"
        not_rendered = [
            f"{o.release_key}: {o.state} {o.detail}" for o in report.outcomes if o.state != "would-publish"
        ]
        assert not not_rendered and len(report.outcomes) == len(releases), (
            f"a dry run should render every release: {not_rendered or report.outcomes}"
        )

    def test_check_writes_nothing(self, tmp_path: Path) -> None:
        cls = self._cls()
        with self.start_server() as server:
            self.script_check(server)
            result = cls().check(self.context(server, tmp_path, dry_run=True))
            writes = self.writes_received(server)
        assert writes == [], (
            f"{cls.__name__}.check wrote {writes}: it must only read (GET, HEAD, OPTIONS); "
            "list read-only POST endpoints in check_may_call"
        )
        assert isinstance(result, str) and result.strip(), (
            f"check should return a status line, not {result!r}"
        )

    # -- internals ------------------------------------------------------------------------

    def _cls(self) -> type[Channel]:
        cls = getattr(self, "channel_class", None)
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            raise AssertionError(f"{type(self).__name__}: set channel_class to your Channel subclass")
        return cls

    def _overridden(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(ChannelContract, name)

    def _script(self, name: str) -> Callable[[Any], None]:
        if not self._overridden(name):
            if name == "script_auth_failure":
                import pytest

                pytest.skip(f"{type(self).__name__} scripts no auth failure (define script_auth_failure)")
            raise AssertionError(f"{type(self).__name__}: define {name}(self, server)")
        method: Callable[[Any], None] = getattr(self, name)
        return method

    def _publish_once(self, script: str, tmp_path: Path) -> _Attempt:
        cls = self._cls()
        release = self.sample_release()
        logs = _ListHandler()
        with self.start_server() as server:
            self._script(script)(server)
            ctx = self.context(server, tmp_path, idempotency_key=self.idempotency_key_for(release))
            channel = cls()
            post = channel.render(release, ctx)
            level = ctx.logger.level
            ctx.logger.addHandler(logs)
            ctx.logger.setLevel(logging.DEBUG)
            receipt: Any = None
            error: Exception | None = None
            try:
                receipt = channel.publish(post, ctx)
            except Exception as exc:
                error = exc
            finally:
                ctx.logger.removeHandler(logs)
                ctx.logger.setLevel(level)
            return _Attempt(
                ctx, post, receipt, error, self.requests_received(server), self.wire_text(server), logs.lines
            )

    def _expect_error(self, attempt: _Attempt, expected: type[ChannelError]) -> None:
        from ..retry import classify

        cls = self._cls()
        error = attempt.error
        assert error is not None, (
            f"{cls.__name__}.publish returned {attempt.receipt!r}; expected {expected.__name__}"
        )
        wrong = not isinstance(error, expected) or (
            expected is PermanentError and isinstance(error, AuthError)
        )
        assert not wrong, (
            f"{cls.__name__}.publish raised {type(error).__name__}({error}); expected {expected.__name__}"
        )
        assert str(error).strip(), f"{cls.__name__}: give {expected.__name__} a message for the operator"
        state, _, message = classify(error, cls.idempotency)
        wanted = DeliveryState.FAILED if expected is TransientError else DeliveryState.DEAD
        assert state is wanted, f"the core records {type(error).__name__} as {state}, expected {wanted}"
        secrets = [v.reveal() for v in attempt.ctx.options.values() if isinstance(v, Secret) and v.reveal()]
        for secret in secrets:
            for where, text in (
                ("message", f"{error} {error!r} {message}"),
                ("log", "\n".join(attempt.logs)),
            ):
                assert secret not in text, f"{cls.__name__}: a secret is in the error's {where}"

    def _limit_problems(
        self,
        post: Any,
        release: Release,
        ctx: ChannelContext,
        limits: Limits,
        count: Callable[[str, Limits], int],
        fits: Callable[[str, Limits], bool],
    ) -> list[str]:
        cls = self._cls()
        if not isinstance(post, Post):
            return [f"render returned {type(post).__name__}, not a Post"]
        problems: list[str] = []
        if post.channel != ctx.name or post.release_key != release.key:
            problems.append(
                f"Post(channel={post.channel!r}, release_key={post.release_key!r}); "
                f"expected {ctx.name!r} and {release.key!r}"
            )
        if len(post.parts) > 1 and not cls.capabilities.threads:
            problems.append(f"a thread of {len(post.parts)} parts, but capabilities.threads is False")
        pieces = post.parts or (post.text,)
        for i, piece in enumerate(pieces, 1):
            label = f"part {i}" if post.parts else "text"
            if not fits(piece, limits):
                problems.append(f"{label} counts {count(piece, limits)}, over max_length {limits.max_length}")
            if _splits_a_cluster(piece):
                problems.append(f"{label} was cut inside a character (emoji sequence or combining mark)")
        if len(post.media) > limits.max_media:
            problems.append(f"{len(post.media)} media, over max_media {limits.max_media}")
        alts = {m.location: m.alt for m in (*release.images, *release.attachments)}
        for m in post.media:
            if limits.max_media_bytes is not None and m.size is not None and m.size > limits.max_media_bytes:
                problems.append(
                    f"{m.location}: {m.size} bytes, over max_media_bytes {limits.max_media_bytes}"
                )
            if alts.get(m.location) and not m.alt:
                problems.append(f"{m.location}: the alt text was dropped")
        return problems
