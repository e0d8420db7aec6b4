"""syndicator.http: the pool's proxies from the environment (against a real proxy on 127.0.0.1),
and TLS for the pool and for requests sessions (real HTTPS servers, certificates from trustme)."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from syndicator.http import Pool, make_session, tls_context


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _Answering(BaseHTTPRequestHandler):
    """Answers every GET with ``body``."""

    protocol_version = "HTTP/1.1"
    body = b""

    def do_GET(self) -> None:
        self.saw()
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def saw(self) -> None:
        pass

    def log_message(self, *args: object) -> None:
        pass


class _ProxyHandler(_Answering):
    """Answers every request itself: enough to see which requests were routed to it."""

    body = b"via proxy"
    server: _Proxy

    def saw(self) -> None:
        self.server.seen.append(self.path)  # a proxied request carries the absolute URL


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


# -- TLS ----------------------------------------------------------------------------------------


class _TLSServer(ThreadingHTTPServer):
    """An HTTPS server on 127.0.0.1 with a certificate from ``ca`` for ``names``."""

    daemon_threads = True

    def __init__(self, ca: Any, *names: str) -> None:
        super().__init__(("127.0.0.1", 0), _FeedHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*names).configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}/feed.xml"


class _FeedHandler(_Answering):
    body = b"<rss/>"


@pytest.fixture
def serve() -> Iterator[Callable[..., _TLSServer]]:
    """Start HTTPS servers (``serve(ca, *names)``); each is closed after the test."""
    started: list[_TLSServer] = []

    def start(ca: Any, *names: str) -> _TLSServer:
        started.append(_TLSServer(ca, *names))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A CA that REQUESTS_CA_BUNDLE names, as an office's own CA would be."""
    import trustme  # a test dependency (setup.cfg's "test" extra)

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    return ca


def test_https_hosts_share_one_tls_context_that_verifies_them(
    trusted: Any, serve: Callable[..., _TLSServer]
) -> None:
    """Two hosts over HTTPS: both verified against the bundle, which is read once, into one
    context (urllib3 would read it again for every connection)."""
    first, second = serve(trusted, "127.0.0.1"), serve(trusted, "127.0.0.1")
    pool = Pool(timeout=5)
    for server in (first, second, first):
        url, answer = pool.open(server.url)
        assert (url, answer.read()) == (server.url, b"<rss/>")
        answer.release_conn()
    assert pool.request("GET", second.url).data == b"<rss/>"
    context = pool._tls
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    pools = list(pool._direct.pools._container.values())
    assert len(pools) == 2 and all(p.conn_kw["ssl_context"] is context for p in pools)
    assert all("ca_certs" not in p.conn_kw and p.ca_certs is None for p in pools)
    pool._direct.clear()


@pytest.mark.parametrize("client", ["pool", "session"])
def test_a_certificate_the_bundle_does_not_vouch_for_is_refused(
    trusted: Any, serve: Callable[..., _TLSServer], client: str
) -> None:
    """By the pool and by the channels' sessions alike."""
    import requests
    import trustme
    import urllib3

    stranger = serve(trustme.CA(), "127.0.0.1")  # another CA: not in the bundle
    wrong_name = serve(trusted, "press.example.go.id")  # the bundle's CA, another host's name
    get: Callable[[str], Any] = Pool(timeout=5).open if client == "pool" else make_session(timeout=5).get
    refused = urllib3.exceptions.SSLError if client == "pool" else requests.exceptions.SSLError
    for server in (stranger, wrong_name):
        with pytest.raises(refused):
            get(server.url)


def test_a_pool_that_never_speaks_tls_makes_no_tls_context(proxy: _Proxy) -> None:
    pool = Pool(timeout=5)
    assert pool.request("GET", "http://press.invalid/feed.xml").status == 200
    assert pool._tls is None


def _session_pools(session: Any) -> list[Any]:
    return list(session.get_adapter("https://").poolmanager.pools._container.values())


def test_requests_sessions_share_one_tls_context_for_their_bundle(
    trusted: Any, serve: Callable[..., _TLSServer]
) -> None:
    """The channels' sessions verify against the bundle read once into one context, shared
    by every session of the process and by the pool, instead of once per connection."""
    first, second = serve(trusted, "127.0.0.1"), serve(trusted, "127.0.0.1")
    sessions = [make_session(timeout=5), make_session(timeout=5)]
    for session in sessions:
        for server in (first, second, first):
            assert session.get(server.url).content == b"<rss/>"
    context = tls_context(os.environ["REQUESTS_CA_BUNDLE"])
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    pools = [p for session in sessions for p in _session_pools(session)]
    assert len(pools) == 4 and all(p.conn_kw["ssl_context"] is context for p in pools)
    assert all(p.ca_certs is None and p.ca_cert_dir is None for p in pools)
    pool = Pool(timeout=5)
    pool.open(first.url)[1].release_conn()
    assert pool._tls is context
    for session in sessions:
        session.close()


def test_a_session_verifies_against_requests_default_bundle_through_the_shared_context(
    trusted: Any, serve: Callable[..., _TLSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no bundle in the environment, requests verifies against its default bundle
    (certifi's); here that default names the test CA, and the same shared path is taken."""
    import requests.utils

    bundle = os.environ["REQUESTS_CA_BUNDLE"]
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)  # which requests reads too
    monkeypatch.setattr(requests.utils, "DEFAULT_CA_BUNDLE_PATH", bundle)
    server = serve(trusted, "127.0.0.1")
    session = make_session(timeout=5)
    assert session.get(server.url).content == b"<rss/>"
    (pool,) = _session_pools(session)
    assert pool.conn_kw["ssl_context"] is tls_context(bundle) and pool.ca_certs is None
    session.close()


def test_a_call_that_does_not_verify_leaves_the_shared_context_verifying(
    trusted: Any, serve: Callable[..., _TLSServer], tmp_path: Path
) -> None:
    """``verify=False``, or another bundle, on one call gets a pool of its own: urllib3 sets a
    context's ``verify_mode`` as it uses it, so sharing would switch verification off for
    every other connection of the process."""
    import requests
    import trustme

    other = trustme.CA()
    stranger = serve(other, "127.0.0.1")
    session = make_session(timeout=5)
    from urllib3.exceptions import InsecureRequestWarning

    with pytest.warns(InsecureRequestWarning):
        assert session.get(stranger.url, verify=False).content == b"<rss/>"
    other_bundle = tmp_path / "other.pem"
    other.cert_pem.write_to_path(str(other_bundle))
    assert session.get(stranger.url, verify=str(other_bundle)).content == b"<rss/>"
    with pytest.raises(requests.exceptions.SSLError):
        session.get(stranger.url)  # the shared context still verifies, against its own bundle
    assert tls_context(os.environ["REQUESTS_CA_BUNDLE"]).verify_mode == ssl.CERT_REQUIRED
    unverified = [p for p in _session_pools(session) if p.cert_reqs == "CERT_NONE"]
    assert unverified and all("ssl_context" not in p.conn_kw for p in unverified)
    session.close()


def test_a_missing_bundle_is_reported_by_requests() -> None:
    session = make_session(timeout=5)
    with pytest.raises(OSError, match="CA certificate bundle"):
        session.get("https://127.0.0.1:9/feed.xml", verify="/nonexistent/ca.pem")
    session.close()
