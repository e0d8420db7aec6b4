"""The scripted HTTP server of the test kit: :class:`Reply`, :class:`Recorded` and
:class:`ScriptedServer`, a threaded server on 127.0.0.1 that answers from a script.

PYTEST_DONT_REWRITE: ``pytest_plugins = ["syndicator.testing"]`` marks the whole package for
assertion rewriting; the marker keeps this module as the single-file kit was, unrewritten.
"""

from __future__ import annotations

import json as _json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``json`` (when not None) is serialised as the body with ``Content-Type: application/json``;
    otherwise ``body`` is sent as is. ``delay`` seconds pass before answering (to provoke a
    client timeout). ``abort`` closes the connection with a TCP reset instead of answering;
    build it with :meth:`Reply.reset`.
    """

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    abort: bool = False

    @classmethod
    def reset(cls, delay: float = 0.0) -> Reply:
        """A reply that drops the connection (RST) after reading the request, sending nothing."""
        return cls(abort=True, delay=delay)

    def payload(self) -> tuple[bytes, dict[str, str]]:
        """The body bytes and headers to send (Content-Type filled in for ``json``)."""
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json")
            return _json.dumps(self.json).encode("utf-8"), headers
        return self.body, headers


@dataclass(frozen=True)
class Recorded:
    """One request the server received, recorded before it was answered.

    ``path`` has no query string; ``query`` maps each query key to its last value;
    ``headers`` is case-insensitive.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CaseInsensitiveDict[str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body; ValueError if not JSON)."""
        return _json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Handler = Callable[[Recorded], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are expected here: stay quiet."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=CaseInsensitiveDict(dict(self.headers.items())),
            body=self._read_body(),
        )
        reply = owner._record_and_pick(recorded)
        if reply.delay and owner._closing.wait(reply.delay):
            reply = Reply.reset()  # shutting down: do not keep the close() waiting
        if reply.abort:
            self._abort()
            return
        body, headers = reply.payload()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _abort(self) -> None:
        """Close with RST (SO_LINGER 0) so the client sees a reset, not a clean EOF."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port) that answers from a script.

    Thread-safe: scripts may be added and ``requests`` read while clients are calling.
    ``close()`` returns promptly even while delayed replies are pending (they become resets).
    """

    def __init__(self, default: Reply | None = None) -> None:
        #: What unscripted routes answer.
        self.default = default or Reply(404, json={"error": "no scripted reply for this route"})
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], deque[Reply]] = {}
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._requests: list[Recorded] = []
        #: Exceptions raised by :meth:`handler` functions (each answered with a 500).
        self.errors: list[Exception] = []
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, method: str, path: str, *responses: Reply) -> None:
        """Queue ``responses`` for ``method path`` (appended to any already queued).

        The last reply of a route repeats once its queue is drained. Replaces a handler.
        """
        if not responses:
            raise ValueError("script() needs at least one Reply")
        key = (method.upper(), path)
        with self._lock:
            self._handlers.pop(key, None)
            self._queues.setdefault(key, deque()).extend(responses)

    def handler(self, method: str, path: str, fn: Handler) -> None:
        """Answer ``method path`` with ``fn(recorded_request)``; replaces any scripted queue.

        A ``path`` ending in ``*`` matches every path that starts with the rest (for paths that
        end in an id the test cannot know, such as a Matrix transaction id).
        """
        key = (method.upper(), path)
        with self._lock:
            self._queues.pop(key, None)
            self._handlers[key] = fn

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot (copy) of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget scripts, handlers and recorded requests."""
        with self._lock:
            self._queues.clear()
            self._handlers.clear()
            self._requests.clear()

    def _record_and_pick(self, recorded: Recorded) -> Reply:
        key = (recorded.method, recorded.path)
        with self._lock:
            self._requests.append(recorded)
            fn = self._handlers.get(key)
            queue = self._queues.get(key)
            if fn is None and queue is None:
                fn = next(
                    (
                        f
                        for (m, p), f in self._handlers.items()
                        if p.endswith("*") and m == recorded.method and recorded.path.startswith(p[:-1])
                    ),
                    None,
                )
            if fn is None:
                if not queue:
                    return self.default
                return queue.popleft() if len(queue) > 1 else queue[0]
        try:
            return fn(recorded)  # outside the lock: handlers may read server.requests
        except Exception as exc:  # a broken test handler: answer 500, keep it for the test
            with self._lock:
                self.errors.append(exc)
            return Reply(500, json={"error": f"handler raised {exc!r}"})

    def close(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ScriptedServer {self.url}>"
