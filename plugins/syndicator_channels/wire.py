"""Small helpers every HTTP channel needs when reading an answer or explaining a failure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests


def json_body(resp: requests.Response) -> Any:
    """The answer's JSON, or None when it is empty or not JSON (an HTML error page, say)."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def json_text(text: str) -> Any:
    """:func:`json_body` for an answer already read as text (``ctx.pool`` answers)."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything behind it (reason, cause, context, args), breadth first, once each."""
    todo: list[BaseException] = [exc]
    seen: list[BaseException] = []
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        nested = (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return seen


def root_cause(exc: BaseException) -> str:
    """The lowest-level reason for a failed call ("Connection refused"), never a URL: some
    platforms put the token in the URL, and exception texts repeat it."""
    chain = causes(exc)
    for current in chain:
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
    return type(chain[-1]).__name__


def nothing_sent(exc: BaseException) -> bool:
    """True when the request certainly never left: no connection was made (refused, no such
    host, connect timeout, TLS handshake). Anything else may have reached the platform."""
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    return any(isinstance(e, NewConnectionError | NameResolutionError) for e in causes(exc))
