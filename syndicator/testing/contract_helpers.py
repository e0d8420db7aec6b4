"""Private helpers of :class:`~syndicator.testing.contract.ChannelContract`: text measuring,
the cut-grapheme check, the fixed source and dry-run spy for engine runs, and the record of
one publish attempt.

PYTEST_DONT_REWRITE: ``pytest_plugins = ["syndicator.testing"]`` marks the whole package for
assertion rewriting; the marker keeps this module as the single-file kit was, unrewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..channel import Channel, ChannelContext, Limits
from ..models import Post, Release
from ..sources.base import Source, SourceContext
from .releases import _ZWJ

# -- the channel contract ----------------------------------------------------------------------

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CHANNEL_IO = ("publish", "find_existing", "update", "delete", "check", "finish")


def _measure() -> tuple[Callable[[str, Limits], int], Callable[[str, Limits], bool], str]:
    """``count`` and ``fits`` from the core's text toolkit; ``len()`` on a core without one."""
    try:
        from ..render import count, fits
    except ImportError:  # pragma: no cover - an older core

        def by_len(text: str, limits: Limits) -> int:
            return len(text)

        def fits_len(text: str, limits: Limits) -> bool:
            return limits.max_length is None or len(text) <= limits.max_length

        return by_len, fits_len, "len()"
    return count, fits, "syndicator.render.count"


def _splits_a_cluster(text: str) -> bool:
    """True when ``text`` starts or ends inside a grapheme cluster (a cut in the wrong place)."""
    import unicodedata

    if not text:
        return False
    first = text[0]
    starts_inside = (
        first == _ZWJ
        or unicodedata.category(first) in ("Mn", "Me", "Mc")
        or 0x1F3FB <= ord(first) <= 0x1F3FF
        or 0xE0020 <= ord(first) <= 0xE007F
    )
    return starts_inside or text[-1] == _ZWJ


class _FixedSource(Source):
    """A source that yields the releases in its options (the contract's engine runs)."""

    type = "kit-fixed"
    description = "releases given by the test kit"

    def collect(self, ctx: SourceContext) -> Iterator[Release]:
        yield from ctx.options["releases"]


def _spy_class(base: type[Channel], calls: list[str]) -> type[Channel]:
    """A subclass of ``base`` whose I/O methods record the call and refuse to do anything."""

    def forbid(name: str) -> Callable[..., Any]:
        def method(self: Channel, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"a dry run called {base.__name__}.{name}")

        return method

    spy: type[Channel] = type(f"DryRun{base.__name__}", (base,), {n: forbid(n) for n in _CHANNEL_IO})
    return spy


@dataclass
class _Attempt:
    """What one render-and-publish against a scripted server did."""

    ctx: ChannelContext
    post: Post
    receipt: Any
    error: Exception | None
    received: list[str]
    wire: str
    logs: list[str]


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
