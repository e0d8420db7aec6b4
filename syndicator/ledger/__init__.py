"""The ledger: everything the engine knows, in one SQLite file.

Releases (with the approval pinned to a content hash), deliveries (one row per release and
channel, the state machine of DESIGN.md) and an append-only event log that triggers keep
from ever being edited: the audit trail. WAL with ``synchronous=FULL``: a committed
``in_flight`` survives a power cut, which is what makes a crash mid-call detectable.

One connection, shared by the dispatcher's threads behind a lock; every write is its own
short transaction, so a crash loses at most the call in flight, never a recorded outcome.
"""

from __future__ import annotations

from collections.abc import Iterable

from .deliveries import DeliveryRecords
from .events import Event, EventRecords
from .releases import ReleaseRecords
from .rows import DeliveryFacts, GateRow, ReleaseFacts, StoredRelease, Summary
from .schema import SCHEMA_VERSION
from .sourcestate import SourceState, SourceStateBuffer
from .store import IN_KEYS, LedgerError, Pending, _key_list, utcnow
from .texts import TextRecords

__all__ = [
    "SCHEMA_VERSION",
    "DeliveryFacts",
    "Event",
    "GateRow",
    "Ledger",
    "LedgerError",
    "Pending",
    "ReleaseFacts",
    "SourceState",
    "SourceStateBuffer",
    "StoredRelease",
    "Summary",
    "utcnow",
]


class Ledger(ReleaseRecords, DeliveryRecords, EventRecords, TextRecords):
    """The SQLite ledger. Open with :meth:`open`; use as a context manager to close it."""

    def source_state(self, source: str) -> SourceState:
        return SourceState(self, source)

    def forget_source_state(self, sources: Iterable[str]) -> None:
        """Forget what ``sources`` kept (validators, a folder's index): the next collection
        reads each of them again in full."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM source_state WHERE source" + IN_KEYS, (_key_list(sources),))

    def sources_with_state(self, sources: Iterable[str]) -> set[str]:
        """Which of ``sources`` have kept any state: a feed read before, a folder indexed."""
        rows = self._query(
            "SELECT DISTINCT source FROM source_state WHERE source" + IN_KEYS, (_key_list(sources),)
        )
        return {str(row[0]) for row in rows}
