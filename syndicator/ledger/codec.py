"""How the ledger stores a time, a hash and a release's tags (schema 4), and reads them
back: the only place that knows the encoding (:mod:`.schema`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Bounds for a time column when a query has none of its own.
NO_TIME_BEFORE, NO_TIME_AFTER = -(2**62), 2**62


def _time(value: datetime | None) -> int | None:
    """A time as the ledger stores it: integer microseconds since 1970 UTC (exact, and
    ordered as the times are)."""
    if value is None:
        return None
    if value.tzinfo is None:  # as ``astimezone`` reads a naive time: local
        value = value.astimezone(UTC)
    return (value - _EPOCH) // _MICROSECOND


def _at(value: int) -> datetime:
    """A stored time (see :func:`_time`), read back in UTC."""
    return _EPOCH + timedelta(microseconds=value)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else _at(value)


_SHA256 = "sha256:"


def _hash(value: str | None) -> bytes | str | None:
    """A hash as the ledger stores it: a SHA-256 as its 32 bytes; anything else as it is."""
    if value is None or not value.startswith(_SHA256) or len(value) != 71:
        return value
    try:
        raw = bytes.fromhex(value[7:])
    except ValueError:
        return value
    return raw if raw.hex() == value[7:] else value  # only what reads back the same


def _hex(value: bytes | str | None) -> str | None:
    """A stored hash as the rest of syndicator writes it (``sha256:`` and 64 hex digits)."""
    return _SHA256 + value.hex() if isinstance(value, bytes) else value


def _tags(tags: Iterable[str]) -> str:
    """A release's tags as its row keeps them: compact JSON (the gate reads them back)."""
    return json.dumps(list(tags), ensure_ascii=False, separators=(",", ":"))
