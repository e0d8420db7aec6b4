"""syndicator.http.Pool: proxies from the environment, against a real proxy on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from syndicator.http import Pool


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    """Answers every request itself: enough to see which requests were routed to it."""

    protocol_version = "HTTP/1.1"
    server: _Proxy

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # a proxied request carries the absolute URL
        body = b"via proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Proxy]:
    server = _Proxy()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("no_proxy", "localhost")
    yield server
    server.shutdown()
    server.server_close()


def test_requests_go_through_the_proxy_the_environment_names(proxy: _Proxy) -> None:
    pool = Pool(timeout=5)
    answer = pool.request("GET", "http://press.invalid/feed.xml")
    assert (answer.status, answer.data) == (200, b"via proxy")
    url, streamed = pool.open("http://press.invalid/other.xml")
    assert (url, streamed.read()) == ("http://press.invalid/other.xml", b"via proxy")
    assert proxy.seen == ["http://press.invalid/feed.xml", "http://press.invalid/other.xml"]


def test_a_host_in_no_proxy_is_not_sent_to_the_proxy(proxy: _Proxy) -> None:
    port = proxy.server_address[1]
    answer = Pool(timeout=5).request("GET", f"http://localhost:{port}/feed.xml")  # straight to it
    assert answer.status == 200
    assert proxy.seen == ["/feed.xml"]  # asked directly: the path alone, not a proxied absolute URL
