"""Test helpers for sources: a scripted local feed server and a real SourceContext.

``FeedServer`` is a threaded ``http.server`` on 127.0.0.1 (port 0) that serves scripted
bodies and headers per path, honours ``ETag`` / ``Last-Modified`` with 304, and records
every request. Use it as a context manager or through a fixture::

    @pytest.fixture
    def feed_server():
        with FeedServer() as server:
            yield server

``MemoryState`` is a dict-backed StateStore; ``make_context`` builds a real SourceContext.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from syndicator.options import resolve_options
from syndicator.sources.base import Source, SourceContext


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (for timeouts)
    hold: threading.Event | None = None  # answer once this is set, or after ``delay`` (30 s if 0)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests this server answered at one time
        self.spans: list[tuple[float, float]] = []  # (start, end) of each answer, time.monotonic()
        #: (path, whether its ``hold`` was set) for each held answer, recorded before it is sent
        self.released: list[tuple[str, bool]] = []

    # -- scripting ---------------------------------------------------------------------
    def set(self, path: str, body: bytes | str, **options: Any) -> str:
        """Serve ``body`` at ``path`` (options as in :class:`Route`); returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self.routes[path] = Route(data, **options)
        return self.url(path)

    def url(self, path: str) -> str:
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def last(self, path: str) -> RecordedRequest:
        with self._lock:
            return [r for r in self.requests if r.path == path][-1]

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FeedServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="feed-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------
    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            self._respond(handler)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.spans.append((started, time.monotonic()))

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, path, dict(handler.headers.items())))
            route = self.routes.get(path)
        if route is None:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if route.hold is not None:
            route.hold.wait(route.delay or 30.0)
            with self._lock:
                self.released.append((path, route.hold.is_set()))
        elif route.delay:
            self._stopping.wait(route.delay)
        if self._not_modified(route, handler):
            handler.send_response(304)
            if route.etag:
                handler.send_header("ETag", route.etag)
            handler.end_headers()
            return
        handler.send_response(route.status)
        handler.send_header("Content-Type", route.content_type)
        handler.send_header("Content-Length", str(len(route.body)))
        if route.etag:
            handler.send_header("ETag", route.etag)
        if route.last_modified:
            handler.send_header("Last-Modified", route.last_modified)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            try:
                handler.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    @staticmethod
    def _not_modified(route: Route, handler: BaseHTTPRequestHandler) -> bool:
        if route.status != 200:
            return False
        sent_etag = handler.headers.get("If-None-Match")
        if sent_etag is not None and route.etag:  # RFC 9110: If-None-Match wins
            return route.etag in [t.strip() for t in sent_etag.split(",")] or sent_etag.strip() == "*"
        since = handler.headers.get("If-Modified-Since")
        return bool(since and route.last_modified and since == route.last_modified)


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server._answer(self)

        def do_HEAD(self) -> None:
            server._answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def free_port() -> int:
    """A port nothing listens on (for 'connection refused')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MemoryState:
    """A dict-backed StateStore, storing values through JSON as the ledger would."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    def get_all(self) -> dict[str, Any]:
        import json

        copy: dict[str, Any] = json.loads(json.dumps(self.data))
        return copy

    def put_many(self, items: Mapping[str, Any]) -> None:
        import json

        self.writes += 1
        self.data.update(json.loads(json.dumps(dict(items))))

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.data.pop(key, None)


def make_context(
    source: type[Source],
    options: Mapping[str, Any],
    *,
    name: str = "test",
    base_dir: Path | None = None,
    state: MemoryState | None = None,
    timezone: str = "Asia/Makassar",
    defaults: Mapping[str, Any] | None = None,
) -> SourceContext:
    resolved, problems = resolve_options(options, source.options, environ={})
    assert not problems, problems
    return SourceContext(
        name=name,
        options=resolved,
        base_dir=base_dir or Path.cwd(),
        logger=logging.getLogger(f"test.{name}"),
        state=state if state is not None else MemoryState(),
        timezone=ZoneInfo(timezone),
        defaults=defaults or {},
    )
