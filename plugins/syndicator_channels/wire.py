"""Small helpers every HTTP channel needs when reading an answer or explaining a failure."""

from __future__ import annotations

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


def root_cause(exc: BaseException) -> str:
    """The lowest-level reason for a failed call ("Connection refused"), never a URL: some
    platforms put the token in the URL, and exception texts repeat it."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    last = exc
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        last = current
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        nested = (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return type(last).__name__
