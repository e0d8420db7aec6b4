"""One place that makes HTTP sessions: timeouts always, a User-Agent, TLS verification on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__

if TYPE_CHECKING:
    import ssl

    import requests
    import urllib3

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"syndicator/{__version__} (+https://github.com/syndicator/syndicator)"
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_ACCEPT_ENCODING = {"Accept-Encoding": "gzip, deflate"}  # what urllib3 decodes without extras


@lru_cache(maxsize=1)
def _timeout_adapter() -> Any:
    # requests is imported on first use, not when a plugin imports this module: an idle
    # cron tick or `--version` should not pay for it.
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        """Applies a default timeout, since requests has none and a hung call hangs cron."""

        def __init__(self, timeout: float, **kwargs: Any) -> None:
            self._timeout = timeout
            super().__init__(**kwargs)

        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = self._timeout
            return super().send(request, **kwargs)

        def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
            host, given = super().build_connection_pool_key_attributes(request, verify, cert)
            bundle = _verifying_bundle(verify, cert) if host["scheme"] == "https" else None
            if not bundle:
                return host, given
            # The pool's connections take the bundle from a context read once (see
            # tls_context) rather than from its path, read again for each connection.
            pool_kwargs: dict[str, Any] = {
                k: v for k, v in given.items() if k not in ("ca_certs", "ca_cert_dir")
            }
            pool_kwargs["ssl_context"] = tls_context(bundle)
            return host, pool_kwargs

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            if getattr(conn, "conn_kw", {}).get("ssl_context") is None:
                super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
                return
            # Only verifying requests without a client certificate reach a pool with the
            # shared context (it is part of the pool's key), and the context already holds
            # their bundle: naming it again would have urllib3 load it into the context.
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = conn.ca_cert_dir = None

    return TimeoutAdapter


def _verifying_bundle(verify: Any, cert: Any) -> str | None:
    """The CA bundle a requests call verifies against, when its pool may share a context:
    it verifies (``verify`` is True or a bundle's path) and sends no client certificate."""
    import os

    if cert or not verify:
        return None
    if verify is True:
        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        verify = DEFAULT_CA_BUNDLE_PATH
    # A missing bundle is left to requests, which says so in its own words.
    return str(verify) if os.path.exists(verify) else None


_contexts: dict[str, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(bundle: str) -> ssl.SSLContext:
    """The process's TLS context for the CA bundle ``bundle`` (a file, or a directory of
    hashed certificates), made on first use: it verifies the certificate and the host name.

    Given a bundle's path instead of a context, urllib3 reads the whole bundle again for
    every connection it opens, about 30 ms of CPU for certifi's: a tick over thirty feeds on
    thirty hosts paid it thirty times, and a burst paid it for each channel's connections.
    urllib3 sets a context's ``verify_mode`` as it uses it, so only connections that verify
    and send no client certificate share one; then it never changes.
    """
    with _contexts_lock:
        context = _contexts.get(bundle)
        if context is None:
            import os

            from urllib3.util.ssl_ import create_urllib3_context

            context = create_urllib3_context()
            if os.path.isdir(bundle):
                context.load_verify_locations(capath=bundle)
            else:
                context.load_verify_locations(cafile=bundle)
            _contexts[bundle] = context
        return context


def make_session(
    timeout: float = DEFAULT_TIMEOUT, user_agent: str | None = None, pool_size: int = 10
) -> requests.Session:
    """A session with a default timeout and User-Agent. Retries are the dispatcher's job."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = user_agent or USER_AGENT
    adapter = _timeout_adapter()(timeout, pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = True
    if not _environment_matters():
        # requests re-reads proxy settings from the environment on every call (about a
        # millisecond each); with none set there is nothing to read, so skip it. (This also
        # skips ~/.netrc, which no channel relies on: each sends its own credentials.)
        session.trust_env = False
    return session


def made_once(factory: Callable[[], T]) -> Callable[[], T]:
    """A thread-safe getter that calls ``factory`` on first use and then returns its result:
    one pool shared by every call of a channel, or by every source of a run."""
    made: list[T] = []
    lock = threading.Lock()

    def get() -> T:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    return get


class Pool:
    """A thread-safe keep-alive HTTP client on urllib3, for the calls that are many: a
    channel's deliveries (:meth:`request`) and a run's feed fetches (:meth:`open`).

    The same policy as :func:`make_session` (default timeout, User-Agent, TLS verified
    against the same CA bundle, proxies from the environment) in fewer layers: a call
    costs about half the CPU of a ``requests`` call, which bounds how many deliveries per
    second one process can make. No retries; :meth:`request` follows no redirects.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, user_agent: str | None = None, maxsize: int = 10):
        import os

        import urllib3

        self._timeout = timeout
        self._headers = {"User-Agent": user_agent or USER_AGENT}
        self._bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or ""
        self._kw: dict[str, Any] = {"maxsize": maxsize, "retries": False}
        self._direct = urllib3.PoolManager(**self._kw)
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._route: dict[tuple[str, str], str] = {}  # (scheme, host) -> proxy URL ("" when direct)
        self._lock = threading.RLock()
        self._proxy_env = _proxies_in_environment()
        self._tls: ssl.SSLContext | None = None

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request and read the whole answer. Raises urllib3's errors: a
        ``NewConnectionError`` or ``ConnectTimeoutError`` means nothing was sent."""
        return self._manager(url).request(
            method,
            url,
            body=body,
            headers={**self._headers, **(headers or {})},
            timeout=self._wait(timeout),
            redirect=False,
            retries=False,
        )

    def open(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        redirects: int = 10,
    ) -> tuple[str, urllib3.BaseHTTPResponse]:
        """GET ``url``, following up to ``redirects`` redirects, and return the final URL
        with the response unread: stream its body (decompressed), then ``release_conn()``.

        Each hop is routed on its own, so a redirect to another host takes that host's proxy.
        More redirects than allowed raise ``urllib3.exceptions.ResponseError``.
        """
        from urllib.parse import urljoin

        import urllib3

        url, auth = _credentials(url)
        origin = _origin(url)
        sent = {**self._headers, **_ACCEPT_ENCODING, **auth, **(headers or {})}
        # Credentials go to the URL's own origin only, never on to a redirect elsewhere.
        elsewhere = {k: v for k, v in sent.items() if k.lower() != "authorization"}
        wait = self._wait(timeout)
        for _ in range(redirects + 1):
            hop = sent if _origin(url) == origin else elsewhere
            response = self._manager(url).request(
                "GET", url, headers=hop, timeout=wait, redirect=False, retries=False, preload_content=False
            )
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return url, response
            response.drain_conn()
            response.release_conn()
            url = urljoin(url, location)
        raise urllib3.exceptions.ResponseError(f"too many redirects (more than {redirects})")

    def _wait(self, timeout: float | None) -> urllib3.Timeout:
        import urllib3

        return urllib3.Timeout(connect=timeout or self._timeout, read=timeout or self._timeout)

    def _tls_context(self) -> ssl.SSLContext:
        """The TLS context of this pool's connections, taken on the first HTTPS request: the
        process's for the bundle requests trusts (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
        else certifi's), so that it is read once (see :func:`tls_context`)."""
        with self._lock:
            if self._tls is None:
                bundle = self._bundle
                if not bundle:
                    import certifi  # what requests verifies against, so both trust the same hosts

                    bundle = certifi.where()
                context = tls_context(bundle)
                self._kw["ssl_context"] = context
                for manager in (self._direct, *self._proxied.values()):
                    manager.connection_pool_kw["ssl_context"] = context
                self._tls = context
            return self._tls

    def _manager(self, url: str) -> urllib3.PoolManager:
        if self._tls is None and url[:8].lower() == "https://":
            self._tls_context()
        if not self._proxy_env:
            return self._direct
        origin = _origin(url)
        with self._lock:
            if origin not in self._route:
                from requests.utils import get_environ_proxies

                proxies = get_environ_proxies(url)
                self._route[origin] = proxies.get(origin[0]) or proxies.get("all") or ""
            proxy = self._route[origin]
            if not proxy:
                return self._direct
            if proxy not in self._proxied:
                import urllib3

                tls: dict[str, Any] = {}
                if proxy.lower().startswith("https:"):  # the proxy itself is reached over TLS
                    tls["proxy_ssl_context"] = self._tls_context()
                self._proxied[proxy] = urllib3.ProxyManager(proxy, **self._kw, **tls)
            return self._proxied[proxy]


def _credentials(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its ``user:password@``, and the Basic Authorization header for them."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    import base64

    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages and as a base for links."""
    return _credentials(url)[0]


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _proxies_in_environment() -> bool:
    import os

    return any(k.lower().endswith("_proxy") for k in os.environ)


def _environment_matters() -> bool:
    import os

    names = {k.lower() for k in os.environ}
    return _proxies_in_environment() or bool(names & {"requests_ca_bundle", "curl_ca_bundle", "netrc"})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import time
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
