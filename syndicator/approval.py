"""The approval gate: which releases may go out, and why the others are held.

A release is due only when it is approved, the hash its approval pinned equals its current
content hash, its embargo has passed and it is not retracted. The built-in policy below is
a plugin like any other, registered last, so a custom ``approve_release`` can decide first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from .config import SourceConfig
from .hookspecs import hookimpl
from .models import Approval, Release


@dataclass(frozen=True)
class Hold:
    """A decision not to approve, with the reason an operator will read."""

    reason: str


Decision = Approval | Hold


@hookimpl(trylast=True)
def approve_release(release: Release, source: SourceConfig) -> Decision:
    """The built-in policies: front-matter, trusted, category:NAME, manual."""
    policy = source.approval
    if policy == "trusted":
        return Approval(f"trusted source {source.name}", None, release.content_hash, origin="policy")
    if policy.startswith("category:"):
        wanted = policy.split(":", 1)[1].strip()
        if wanted.casefold() in {t.casefold() for t in release.tags}:
            return Approval(
                f"category {wanted} in {source.name}", None, release.content_hash, origin="policy"
            )
        return Hold(f"not approved: not in category {wanted!r}")
    if policy == "manual":
        return Hold("not approved: waiting for `syndicator approve`")
    if release.approval is not None:
        return release.approval
    if release.status == "approved":
        return Hold("not approved: status is approved but approved_by is missing")
    status = f" (status: {release.status})" if release.status else ""
    return Hold(f"not approved{status}")


@dataclass(frozen=True)
class PinnedApproval:
    """The approval the ledger holds for a release, pinned to one content hash."""

    approved_by: str | None
    approved_at: str | None
    approved_hash: str | None
    origin: str | None
    identity: str | None


def pin(decision: Decision, current_hash: str, stored: PinnedApproval | None) -> PinnedApproval | None:
    """The approval to store after a new decision, or None when nothing is approved.

    An approval that names no hash pins the content as first seen with it: if the same
    approval (same approver, same time) is seen again over edited content, the old pin is
    kept and the release is held as changed since approval. An operator's approval from
    the CLI survives a source that says nothing new.
    """
    if isinstance(decision, Hold):
        if stored is not None and stored.origin == "cli":
            return stored
        return None
    at = decision.approved_at.isoformat() if decision.approved_at else None
    identity = approval_identity(decision.origin, decision.approved_by, at, decision.content_hash)
    if decision.content_hash:
        return PinnedApproval(decision.approved_by, at, decision.content_hash, decision.origin, identity)
    if stored is not None and stored.identity == identity:
        return stored  # same approval as before: keep what it pinned
    if stored is not None and stored.origin == "cli" and stored.approved_hash == current_hash:
        return stored
    return PinnedApproval(decision.approved_by, at, current_hash, decision.origin, identity)


def approval_identity(
    origin: str | None, approved_by: str | None, at: str | None, content_hash: str | None
) -> str:
    """What tells one approval from another (origin, approver, time and the hash it named),
    as a short digest: the ledger only ever compares two of them, and keeps one per release."""
    text = f"{origin}|{approved_by}|{at or ''}" + (f"|{content_hash}" if content_hash else "")
    return identity_digest(text)


def identity_digest(text: str) -> str:
    """The digest :func:`approval_identity` keeps of an approval's identity, written out in full
    (as the ledger kept it before schema 4, and as it upgrades it)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class GateResult:
    due: bool
    reason: str  # "" when due; otherwise why it is held


def gate(
    *,
    content_hash: str,
    approved_hash: str | None,
    approved_by: str | None,
    hold_reason: str | None,
    publish_at: datetime | None,
    retracted: bool,
    now: datetime,
    zone_label: str = "",
) -> GateResult:
    """Decide whether one release is due now. Pure, so ``releases list`` shows the same."""
    if retracted:
        return GateResult(False, "retracted")
    if not approved_hash:
        return GateResult(False, hold_reason or "not approved")
    if approved_hash != content_hash:
        by = f" by {approved_by}" if approved_by else ""
        return GateResult(False, f"changed since approval{by}: approve it again")
    if publish_at is not None and publish_at > now:
        return GateResult(False, f"embargoed until {publish_at.isoformat()}{zone_label}")
    return GateResult(True, "")
