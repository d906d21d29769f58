"""The referrers that go with a manifest deleted by digest.

A manifest whose `subject` is the deleted one (a cosign v3 or notation signature, an SBOM or
attestation attached with oras), and the referrers of those in turn, are deleted with it in
the same transaction, each audited, as AWS ECR, zot (`deleteReferrers`) and Harbor (its
accessories) do: they describe an image that is gone. A referrer stays when it is tagged (a
tag makes it an image of its own) or when a manifest that stays lists it (an index naming it
as a child). Raw statements on the Database's fast path (decision 019).
"""

from __future__ import annotations

from cargohold.meta.audit import REGISTRY_API_DELETE, audit_manifest_delete
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.deletions import delete_manifest_rows
from cargohold.meta.fastpath import Transaction

# Untagged manifests whose subject is the given digest and that no other manifest of the
# repository lists, but the subject itself (whose references go first in a delete).
_GOING = (
    "SELECT m.id, m.digest FROM manifests m WHERE m.repository_id = ? AND m.subject_digest = ?"
    " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)"
    " AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests o"
    " ON o.id = r.manifest_id WHERE r.kind = 'manifest' AND r.digest = m.digest"
    " AND o.repository_id = m.repository_id AND o.digest <> ?)"
    " ORDER BY m.digest"
)


def going_referrers(
    reader: Database | Transaction, repository_id: int, subject: str
) -> dict[str, int]:
    """Digest -> manifest id of every referrer that goes with `subject`, transitively, in
    the order they were found (the subject's own referrers first)."""
    going: dict[str, int] = {}
    pending = [subject]
    while pending:
        current = pending.pop(0)
        for manifest_id, digest in reader.rows(_GOING, (repository_id, current, subject)):
            if digest != subject and digest not in going:
                going[str(digest)] = int(manifest_id)
                pending.append(str(digest))
    return going


def delete_referrers(
    tx: Transaction,
    repository: str,
    repository_id: int,
    subject: str,
    actor: Actor,
    now: float,
) -> list[str]:
    """Delete the referrers that go with `subject` (deleted in this transaction already),
    each audited as `manifest.delete` with the reason; returns their digests."""
    going = going_referrers(tx, repository_id, subject)
    for digest, manifest_id in going.items():
        delete_manifest_rows(tx, manifest_id)  # untagged: no tag listing changes
        detail = {**REGISTRY_API_DELETE, "tags": [], "reason": f"referrer of {subject}"}
        audit_manifest_delete(tx, now, actor, repository, digest, detail)
    return list(going)


class ReferrerCascade:
    """What a delete by digest would take along, read before its transaction (for holds)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def going_with(self, repository: str, digest: str) -> list[str]:
        row = self.db.one("SELECT id FROM repositories WHERE name = ?", (repository,))
        return [] if row is None else list(going_referrers(self.db, int(row[0]), digest))
