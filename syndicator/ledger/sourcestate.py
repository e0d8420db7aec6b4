"""A source's own small key/value state (validators, file index), kept in the ledger."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store


class SourceState:
    """A source's key/value store (validators, file index), JSON values in the ledger."""

    def __init__(self, ledger: Store, source: str) -> None:
        self._ledger = ledger
        self._source = source

    def get_all(self) -> dict[str, Any]:
        rows = self._ledger._query("SELECT key, value FROM source_state WHERE source = ?", (self._source,))
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def put_many(self, items: Mapping[str, Any]) -> None:
        with self._ledger.transaction() as conn:
            conn.executemany(
                "INSERT INTO source_state (source, key, value) VALUES (?,?,?)"
                " ON CONFLICT (source, key) DO UPDATE SET value = excluded.value",
                [(self._source, k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()],
            )

    def delete_many(self, keys: list[str]) -> None:
        with self._ledger.transaction() as conn:
            conn.executemany(
                "DELETE FROM source_state WHERE source = ? AND key = ?", [(self._source, k) for k in keys]
            )


class SourceStateBuffer:
    """A source's state as the source sees it during collection; writes wait in memory and
    are committed with the releases they describe (see :meth:`Ledger.store_releases`)."""

    def __init__(self, ledger: Store, source: str) -> None:
        self._source = source
        self._values = SourceState(ledger, source).get_all()
        self._put: dict[str, Any] = {}
        self._deleted: set[str] = set()

    def get_all(self) -> dict[str, Any]:
        return dict(self._values)

    def put_many(self, items: Mapping[str, Any]) -> None:
        self._values.update(items)
        self._put.update(items)
        self._deleted.difference_update(items)

    def delete_many(self, keys: list[str]) -> None:
        for k in keys:
            self._values.pop(k, None)
            self._put.pop(k, None)
        self._deleted.update(keys)

    @property
    def dirty(self) -> bool:
        """Whether there are writes waiting to be applied."""
        return bool(self._put or self._deleted)

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "DELETE FROM source_state WHERE source = ? AND key = ?",
            [(self._source, k) for k in self._deleted],
        )
        conn.executemany(
            "INSERT INTO source_state (source, key, value) VALUES (?,?,?)"
            " ON CONFLICT (source, key) DO UPDATE SET value = excluded.value",
            [(self._source, k, json.dumps(v, ensure_ascii=False)) for k, v in self._put.items()],
        )
        self._put.clear()
        self._deleted.clear()
