"""A release's text in the ledger (``keep_text``): let go once every channel has the release,
and asked for again when a channel added later wants it."""

from __future__ import annotations

from collections.abc import Iterable

from .store import IN_KEYS, Store, _key_list


class TextRecords(Store):
    def let_go_of_delivered_text(self) -> int:
        """Drop the text of releases planned for every channel they go to (``planned``: not
        only the channels of a ``run --channel``), each of which has them in their version.

        The row, its content hash, the receipts and the audit trail stay. Releases that are
        held, embargoed, still waiting for a channel, or needing an operator keep their text.
        Returns how many let go.
        """
        with self.transaction() as conn:
            # From the texts still kept (few, once an archive is delivered), not from every delivery.
            cur = conn.execute(
                "DELETE FROM release_text WHERE release IN ("
                " SELECT t.release FROM release_text t JOIN releases r ON r.id = t.release"
                " WHERE r.planned = 1 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.release = t.release)"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.release = t.release"
                " AND (d.state NOT IN ('sent', 'retracted', 'abandoned') OR d.content_hash != r.content_hash)))"
            )
            return cur.rowcount

    def want_text(self, keys: Iterable[str]) -> set[str]:
        """Ask for the text of ``keys`` (let go) back: the next time their source yields them
        unchanged it is kept again (:meth:`store_releases`). Returns the keys not asked for
        before."""
        with self.transaction() as conn:
            rows = conn.execute(
                "INSERT INTO text_wanted (release) SELECT id FROM releases WHERE key"
                + IN_KEYS
                + " ON CONFLICT DO NOTHING RETURNING (SELECT key FROM releases WHERE id = release)",
                (_key_list(keys),),
            ).fetchall()
        return {str(r[0]) for r in rows}
