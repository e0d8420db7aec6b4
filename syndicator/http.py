"""One place that makes HTTP sessions: timeouts always, a User-Agent, TLS verification on."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    import requests

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"syndicator/{__version__} (+https://github.com/syndicator/syndicator)"


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

    return TimeoutAdapter


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


def _environment_matters() -> bool:
    import os

    names = {k.lower() for k in os.environ}
    return any(n.endswith("_proxy") for n in names) or bool(
        names & {"requests_ca_bundle", "curl_ca_bundle", "netrc"}
    )


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
