"""The referrers that go with a manifest deleted by digest.

A manifest whose `subject` is the deleted one (a cosign v3 or notation signature, an SBOM or
attestation attached with oras), and the referrers of those in turn, are deleted with it in
the same transaction, each audited, as AWS ECR, zot (`deleteReferrers`) and Harbor (its
accessories) do: they describe an image that is gone. So are the accessories of each
(`sha256-<referrer>.sig` when someone signed the SBOM with cosign's tag scheme). A referrer
stays when it is tagged (a tag makes it an image of its own), when a manifest that stays
lists it (an index naming it as a child), or when its own subject stays. Raw statements on
the Database's fast path (decision 019); docs/decisions/053.
"""

from __future__ import annotations

from collections.abc import Iterable

from cargohold.meta.audit import REGISTRY_API_DELETE, audit_manifest_delete
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.deletions import delete_accessories, delete_manifest_rows
from cargohold.meta.fastpath import Transaction
from cargohold.meta.repositories import BUMP_TAGS_VERSION, find_repository_id
from cargohold.oci.accessories import accessory_tags

_UNTAGGED_REFERRERS = (
    "SELECT m.id, m.digest FROM manifests m WHERE m.repository_id = ? AND m.subject_digest = ?"
    " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id) ORDER BY m.digest"
)
_LISTED_BY = (
    "SELECT o.digest FROM manifest_references r JOIN manifests o ON o.id = r.manifest_id"
    " WHERE r.kind = 'manifest' AND r.digest = ? AND o.repository_id = ?"
)
# Subject chains are as deep as people sign signatures of SBOMs; this bounds a walk up one.
MAX_DEPTH = 64


def going_referrers(
    reader: Database | Transaction,
    repository_id: int,
    subject: str,
    leaving: Iterable[str] = (),
) -> dict[str, int]:
    """Digest -> manifest id of every referrer that goes with `subject`, transitively, in the
    order they were found. `leaving` are other manifests the delete takes (its accessories):
    their listing a referrer keeps nothing."""
    found: dict[str, tuple[int, str]] = {}  # digest -> (id, its subject)
    pending = [subject]
    while pending:
        current = pending.pop(0)
        for manifest_id, digest in reader.rows(_UNTAGGED_REFERRERS, (repository_id, current)):
            if digest != subject and digest not in found:
                found[str(digest)] = (int(manifest_id), current)
                pending.append(str(digest))
    gone = {subject, *leaving}
    listers = {d: set(reader.column(_LISTED_BY, (d, repository_id))) for d in found}
    going = dict(found)
    changed = True
    while changed:  # one that stays keeps its own referrers, and what it lists
        changed = False
        for digest, (_, parent) in list(going.items()):
            subject_stays = parent not in going and parent not in gone
            if subject_stays or listers[digest] - going.keys() - gone:
                del going[digest]
                changed = True
    return {digest: manifest_id for digest, (manifest_id, _) in going.items()}


def delete_referrers(
    db: Database,
    tx: Transaction,
    repository: str,
    repository_id: int,
    subject: str,
    actor: Actor,
    now: float,
) -> list[str]:
    """Delete the referrers that go with `subject` (deleted in this transaction already) and
    their accessories, each audited as `manifest.delete` with the reason; returns the
    referrers' digests. On PostgreSQL their rows are locked first and what goes is worked out
    again: a tag pushed onto one meanwhile keeps it."""
    going = going_referrers(tx, repository_id, subject)
    if going and db.dialect == "postgresql":
        marks = ", ".join("?" * len(going))
        tx.rows(
            f"SELECT id FROM manifests WHERE id IN ({marks}) ORDER BY digest FOR UPDATE",
            list(going.values()),
        )
        going = going_referrers(tx, repository_id, subject)
    for digest, manifest_id in going.items():
        if delete_manifest_rows(tx, manifest_id):
            tx.execute(BUMP_TAGS_VERSION, (repository_id,))
        detail = {**REGISTRY_API_DELETE, "tags": [], "reason": f"referrer of {subject}"}
        audit_manifest_delete(tx, now, actor, repository, digest, detail)
        delete_accessories(
            db, tx, repository, repository_id, digest, accessory_tags(digest), actor, now
        )
    return list(going)


class ReferrerCascade:
    """What a delete by digest would take along and what covers a referrer, read before the
    delete's transaction (for holds)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def going_with(self, repository: str, digest: str, leaving: Iterable[str] = ()) -> list[str]:
        repository_id = find_repository_id(self.db, repository)
        if repository_id is None:
            return []
        return list(going_referrers(self.db, repository_id, digest, leaving))

    def subjects_above(self, repository: str, digest: str) -> list[str]:
        """The manifest's subject, that one's subject, and so on, while they are stored here."""
        repository_id = find_repository_id(self.db, repository)
        chain: list[str] = []
        current = digest
        while repository_id is not None and len(chain) < MAX_DEPTH:
            row = self.db.one(
                "SELECT m.subject_digest FROM manifests m WHERE m.repository_id = ?"
                " AND m.digest = ? AND EXISTS (SELECT 1 FROM manifests s"
                " WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest)",
                (repository_id, current),
            )
            if row is None or row[0] is None or row[0] in chain:
                break
            chain.append(str(row[0]))
            current = str(row[0])
        return chain
