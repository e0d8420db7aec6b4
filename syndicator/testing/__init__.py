"""Test kit for plugin authors: a scripted HTTP server on 127.0.0.1, pytest fixtures, release
builders (hard ones included) and :class:`ChannelContract`, the tests every channel must pass.

Opt in from a test module or ``conftest.py`` with ``pytest_plugins = ["syndicator.testing"]``.
The fixtures:

``scripted_server``
    a started :class:`ScriptedServer`, closed after the test.
``plugin_manager``
    a fresh plugin manager with the built-in plugins and every installed entry point.
``register_plugin``
    ``register_plugin(module_or_object)`` registers a plugin in ``plugin_manager`` for this
    test only.
``release_factory``
    ``release_factory(title=...)`` builds a complete :class:`~syndicator.models.Release`
    (a new id each call); ``release_factory.hard()`` returns :func:`hard_releases`.
``cli_runner``
    ``cli_runner("run", "--dry-run")`` runs the ``syndicator`` command line in-process on
    ``plugin_manager`` and returns click's result (``exit_code``, ``stdout``, ``stderr``).

:class:`ScriptedServer` can also be used without pytest, as a context manager::

    with ScriptedServer() as server:
        server.script("POST", "/hook", Reply(503, headers={"Retry-After": "5"}), Reply(201, json={"id": 7}))
        ...  # point the channel at server.url + "/hook"
        assert server.requests[0].headers["Idempotency-Key"] == "k-123"

Each route (method and path, query string ignored) answers from its queue of replies in order;
once the queue is drained, the LAST reply repeats for every later call. Unscripted routes get
``server.default`` (404 with a JSON error). A :meth:`ScriptedServer.handler` route computes its
reply from the request instead. Nothing here touches the network beyond the loopback interface.

A channel's tests subclass :class:`ChannelContract` (see its docstring) to inherit the checks
that every channel must pass: render is pure and fits the declared limits for every hard
release, publish maps each failure to the right error class, a dry run never publishes, and
``check`` posts nothing.

PYTEST_DONT_REWRITE: this module has no asserts, and test modules often import it before
pytest loads it as a plugin; the marker keeps pytest from warning about that.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .contract import ChannelContract
from .harness import CliInvoker, PluginRegistrar
from .releases import KIT_SOURCE as KIT_SOURCE
from .releases import ReleaseFactory, hard_releases, make_release
from .server import Handler as Handler
from .server import Recorded, Reply, ScriptedServer

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "ChannelContract",
    "CliInvoker",
    "PluginRegistrar",
    "Recorded",
    "ReleaseFactory",
    "Reply",
    "ScriptedServer",
    "hard_releases",
    "make_release",
]


try:
    import pytest
except ImportError:  # pragma: no cover - the fixtures need pytest, the server does not
    pass
else:

    @pytest.fixture
    def scripted_server() -> Iterator[ScriptedServer]:
        """A started :class:`ScriptedServer`, closed after the test."""
        with ScriptedServer() as server:
            yield server

    @pytest.fixture
    def plugin_manager() -> pluggy.PluginManager:
        """A fresh plugin manager: built-in plugins and every installed entry point
        (``SYNDICATOR_DISABLE_PLUGINS`` is ignored, so tests do not depend on it)."""
        from ..plugins import get_plugin_manager

        return get_plugin_manager(disabled=())

    @pytest.fixture
    def register_plugin(plugin_manager: pluggy.PluginManager) -> Iterator[PluginRegistrar]:
        """``register_plugin(plugin)``: registered in ``plugin_manager`` for this test only."""
        registrar = PluginRegistrar(plugin_manager)
        yield registrar
        registrar.undo()

    @pytest.fixture
    def release_factory() -> ReleaseFactory:
        """``release_factory(**fields)``: a complete release, a new id each call;
        ``release_factory.hard()``: the releases that break channels."""
        return ReleaseFactory()

    @pytest.fixture
    def cli_runner(plugin_manager: pluggy.PluginManager) -> CliInvoker:
        """``cli_runner("--config", path, "run")``: the command line on ``plugin_manager``."""
        return CliInvoker(plugin_manager)
