"""Manifest deletions that re-check what their caller saw: the lifecycle compare-and-delete
(`delete_expiring_images`) and garbage collection's untagged sweep."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cargohold.meta.admissions import AdmissionRecords
from cargohold.meta.audit import REGISTRY_API_DELETE
from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database, in_batches
from cargohold.meta.fastpath import Transaction
from cargohold.meta.holds import HoldMatcher, HoldRecords, HoldRow
from cargohold.meta.repositories import BUMP_TAGS_VERSION, find_repository_id
from cargohold.meta.signatures import drop_verdicts
from cargohold.oci.accessories import accessory_subject, subjects_of
from cargohold.oci.names import project_of


@dataclass(frozen=True)
class ExpiringImage:
    """An image a lifecycle evaluation expired, as the evaluation saw it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    # Untagged manifests that go only because this image goes (index children, referrers).
    dependents: tuple[str, ...]
    # The audit detail of each deletion.
    detail: dict[str, Any]


@dataclass(frozen=True)
class SkippedImage:
    """A manifest lifecycle expired but did not delete, and why."""

    digest: str
    reason: str


@dataclass
class ExpiryOutcome:
    # Every manifest deleted (images and what went with them), and the images among them.
    deleted: list[str] = field(default_factory=list)
    deleted_images: list[str] = field(default_factory=list)
    skipped: list[SkippedImage] = field(default_factory=list)


@dataclass(frozen=True)
class _CurrentManifest:
    id: int
    pushed_at: float
    tags: tuple[str, ...]  # sorted
    subject_digest: str | None


def delete_manifest_rows(tx: Transaction, manifest_id: int) -> int:
    """Delete a manifest with its tags and references; returns how many tags it had.

    The signature verdicts it may have decided go with it (meta/signatures.py drop_verdicts):
    its own, its subject's and those of the images its accessory tags name (it may be their
    signature), and its children's (it may be the signed index that passed them)."""
    tags = tx.column("DELETE FROM tags WHERE manifest_id = ? RETURNING name", (manifest_id,))
    children = tx.column(
        "DELETE FROM manifest_references WHERE manifest_id = ? RETURNING"
        " CASE WHEN kind = 'manifest' THEN digest END",
        (manifest_id,),
    )
    row = tx.one(
        "DELETE FROM manifests WHERE id = ? RETURNING repository_id, digest, subject_digest",
        (manifest_id,),
    )
    if row is not None:
        repository_id, digest, subject = row
        named = [accessory_subject(tag) for tag in tags]
        drop_verdicts(tx, _repository_name(tx, repository_id), [digest, subject, *named, *children])
    return len(tags)


def _repository_name(tx: Transaction, repository_id: int) -> str:
    row = tx.one("SELECT name FROM repositories WHERE id = ?", (repository_id,))
    return str(row[0]) if row is not None else ""


def delete_accessories(
    db: Database,
    tx: Transaction,
    repository: str,
    repository_id: int,
    subject: str,
    accessory_tags: tuple[str, ...],
    actor: Actor,
    now: float,
) -> None:
    """Delete the manifests under an image's accessory tags (ManifestRecords.delete)."""
    marks = ", ".join("?" * len(accessory_tags))
    rows = tx.rows(
        "SELECT DISTINCT m.id, m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id"
        f" WHERE t.repository_id = ? AND t.name IN ({marks}) ORDER BY m.digest",
        (repository_id, *accessory_tags),
    )
    for manifest_id, accessory in rows:
        names = sorted(tx.column("SELECT name FROM tags WHERE manifest_id = ?", (manifest_id,)))
        detail = {**REGISTRY_API_DELETE, "reason": f"accessory of {subject}"}
        if set(names) <= set(accessory_tags):
            delete_manifest_rows(tx, int(manifest_id))
            action, target = "manifest.delete", f"{repository}@{accessory}"
            detail["tags"] = names
        else:
            tx.execute(
                f"DELETE FROM tags WHERE manifest_id = ? AND name IN ({marks})",
                (manifest_id, *accessory_tags),
            )
            action, target = "tag.delete", f"{repository}@{accessory}"
            detail["tags"] = sorted(set(names) & set(accessory_tags))
        tx.execute(BUMP_TAGS_VERSION, (repository_id,))
        db.audit(tx, now, actor, action, target, detail, repository=repository, digest=accessory)


class ManifestDeletions:
    def __init__(self, db: Database, holds: HoldRecords) -> None:
        self.db = db
        self.holds = holds
        self.dialect = db.dialect

    def delete_expiring_images(
        self,
        repository: str,
        images: list[ExpiringImage],
        actor: Actor,
        covering_hold: HoldMatcher,
        running_since: float | None = None,
    ) -> ExpiryOutcome:
        """Delete the images a lifecycle evaluation expired, if they are still as it saw them.

        Compare-and-delete, in one write transaction: an image whose tags or push time
        changed since the evaluation, that an active hold now covers (`covering_hold`
        applies the hold rules to the hold rows read here), that a manifest outside the
        deletion now lists, or that is gone, is skipped with the reason; so are the
        manifests that would only have gone with it. An image the admission webhook admitted
        at or after `running_since` (None: no such window) is skipped as `running`. On
        PostgreSQL the manifest rows are locked first, so a push that tags one of them waits
        for this transaction (and then finds it gone and pushes it again) or this one waits
        for the push (and then sees the tag); the holds table is share-locked, so adding a
        hold waits the same way. On SQLite writers are serialised anyway. Each deletion is
        audited with its detail.
        """
        outcome = ExpiryOutcome()
        with self.db.transaction() as tx:
            repository_id = find_repository_id(tx, repository)
            if repository_id is None:
                outcome.skipped = [SkippedImage(i.digest, "already gone") for i in images]
                return outcome
            wanted = sorted({d for i in images for d in (i.digest, *i.dependents)})
            current = self._lock_manifests(tx, repository_id, wanted)
            now = time.time()
            hold_rows = self.holds.for_repository_in(tx, repository, project_of(repository))
            running = (
                set()
                if running_since is None
                else AdmissionRecords.digests_since_in(tx, repository, running_since)
            )
            going: dict[str, ExpiringImage] = {}
            for image in images:
                reason = self._changed_since_evaluation(
                    image, current.get(image.digest), hold_rows, repository, now, covering_hold
                )
                if reason is None and image.digest in running:
                    reason = "running"
                if reason is None:
                    going[image.digest] = image
                else:
                    outcome.skipped.append(SkippedImage(image.digest, reason))
            skipped_roots = {s.digest for s in outcome.skipped}
            kept_with_skipped = {
                d for i in images if i.digest in skipped_roots for d in i.dependents
            }
            doomed = {
                d: image
                for image in going.values()
                for d in (image.digest, *image.dependents)
                if d in current and (d == image.digest or d not in kept_with_skipped)
            }
            for image in going.values():
                for dependent in image.dependents:
                    # An accessory (`.sig` tag) goes with its image; any other tag keeps it.
                    if (
                        dependent in doomed
                        and current[dependent].tags
                        and subjects_of(current[dependent].tags, dependent, doomed) is None
                    ):
                        del doomed[dependent]
                        outcome.skipped.append(SkippedImage(dependent, "tags changed"))
            self._keep_what_others_need(tx, repository_id, current, doomed, outcome)
            for digest in sorted(doomed):
                image = doomed[digest]
                delete_manifest_rows(tx, current[digest].id)
                self.db.audit(
                    tx,
                    now,
                    actor,
                    "manifest.delete",
                    f"{repository}@{digest}",
                    image.detail,
                    repository=repository,
                    digest=digest,
                )
                outcome.deleted.append(digest)
            outcome.deleted_images = sorted(d for d in going if d in doomed)
            if doomed:
                tx.execute(BUMP_TAGS_VERSION, (repository_id,))
        return outcome

    def _lock_manifests(
        self, tx: Transaction, repository_id: int, digests: list[str]
    ) -> dict[str, _CurrentManifest]:
        """The current state of those manifests, their rows locked on PostgreSQL."""
        found: dict[str, _CurrentManifest] = {}
        if self.dialect == "postgresql":
            # Holds first, then manifests in digest order: every apply takes them the same way.
            tx.execute("LOCK TABLE holds IN SHARE MODE")
        lock = " ORDER BY digest FOR UPDATE" if self.dialect == "postgresql" else ""
        for chunk, marks in in_batches(digests):
            rows = tx.rows(
                "SELECT id, digest, pushed_at, subject_digest FROM manifests"
                f" WHERE repository_id = ? AND digest IN ({marks}){lock}",
                (repository_id, *chunk),
            )
            ids = [int(r[0]) for r in rows]
            tags_by_id: dict[int, list[str]] = {}
            if ids:
                id_marks = ", ".join("?" * len(ids))
                for manifest_id, name in tx.rows(
                    f"SELECT manifest_id, name FROM tags WHERE manifest_id IN ({id_marks})", ids
                ):
                    tags_by_id.setdefault(int(manifest_id), []).append(name)
            for manifest_id, digest, pushed_at, subject in rows:
                found[digest] = _CurrentManifest(
                    int(manifest_id),
                    float(pushed_at),
                    tuple(sorted(tags_by_id.get(int(manifest_id), ()))),
                    subject,
                )
        return found

    @staticmethod
    def _changed_since_evaluation(
        image: ExpiringImage,
        now_is: _CurrentManifest | None,
        hold_rows: list[HoldRow],
        repository: str,
        now: float,
        covering_hold: HoldMatcher,
    ) -> str | None:
        """Why an expiring image may no longer be deleted, or None if it still may."""
        if now_is is None:
            return "already gone"
        if now_is.pushed_at != image.pushed_at:
            return "pushed again"
        if now_is.tags != tuple(sorted(image.tags)):
            return "tags changed"
        hold = covering_hold(hold_rows, repository, image.digest, now)
        if hold is not None:
            return f"held by hold {hold.id}"
        return None

    @staticmethod
    def _keep_what_others_need(
        tx: Transaction,
        repository_id: int,
        current: dict[str, _CurrentManifest],
        doomed: dict[str, ExpiringImage],
        outcome: ExpiryOutcome,
    ) -> None:
        """Take out of `doomed` what a manifest that stays now needs, transitively.

        An index pushed since the evaluation may list an expiring manifest; a child or a
        referrer kept that way keeps what it lists, and a kept manifest keeps its referrers
        and its accessories (`.sig` tags).
        """
        if not doomed:
            return
        listed_by: dict[str, set[str]] = {}
        wanted = sorted(doomed)
        for chunk, marks in in_batches(wanted):
            for parent, child in tx.rows(
                "SELECT m.digest, r.digest FROM manifest_references r JOIN manifests m"
                " ON m.id = r.manifest_id WHERE m.repository_id = ? AND r.kind = 'manifest'"
                f" AND r.digest IN ({marks})",
                (repository_id, *chunk),
            ):
                listed_by.setdefault(child, set()).add(parent)
        changed = True
        while changed:
            changed = False
            for digest in sorted(doomed):
                outside = sorted(p for p in listed_by.get(digest, ()) if p not in doomed)
                subject = current[digest].subject_digest
                kept_image = next(
                    (
                        named
                        for tag in current[digest].tags
                        if (named := accessory_subject(tag)) in current and named not in doomed
                    ),
                    None,
                )
                if outside:
                    reason = f"listed by {outside[0]}"
                elif kept_image is not None:
                    reason = f"kept with {kept_image}"
                elif (
                    digest != doomed[digest].digest
                    and subject in current
                    and (subject not in doomed)
                ):
                    reason = f"kept with {subject}"
                else:
                    continue
                del doomed[digest]
                outcome.skipped.append(SkippedImage(digest, reason))
                changed = True

    def delete_untagged_manifests(
        self,
        repository: str,
        digests: list[str],
        actor: Actor,
        running_since: float | None = None,
    ) -> int:
        """Delete manifests that are still untagged and that nothing outside the set needs.

        Re-checked inside the transaction: a manifest tagged, listed by a new index, or
        admitted to a cluster at or after `running_since`, since the caller looked is kept.
        An accessory (tagged only with `.sig`-style tags of images in the set) goes after its
        images, and only when they went.
        """
        doomed = set(digests)
        now = time.time()
        deleted = 0
        with self.db.transaction() as tx:
            repository_id = find_repository_id(tx, repository)
            if repository_id is None:
                return 0
            if running_since is not None:
                doomed -= AdmissionRecords.digests_since_in(tx, repository, running_since)
            gone: set[str] = set()
            found_rows: dict[str, tuple[int, list[str]]] = {}
            for digest in sorted(doomed):
                found = tx.one(
                    "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?",
                    (repository_id, digest),
                )
                if found is not None:
                    names = tx.column("SELECT name FROM tags WHERE manifest_id = ?", (found[0],))
                    found_rows[digest] = (int(found[0]), list(names))
            # Untagged manifests first, then the accessories of those that went.
            order = sorted(found_rows, key=lambda d: bool(found_rows[d][1]))
            for digest in order:
                manifest_id, names = found_rows[digest]
                reason = "garbage collection: untagged"
                if names:
                    subjects = subjects_of(names, digest, gone)
                    if subjects is None:
                        continue
                    reason = f"garbage collection: accessory of {min(subjects)}"
                parents = tx.column(
                    "SELECT m.digest FROM manifest_references r JOIN manifests m"
                    " ON m.id = r.manifest_id WHERE m.repository_id = ? AND r.kind = 'manifest'"
                    " AND r.digest = ?",
                    (repository_id, digest),
                )
                if any(parent not in doomed for parent in parents):
                    continue
                if delete_manifest_rows(tx, manifest_id):
                    tx.execute(BUMP_TAGS_VERSION, (repository_id,))
                gone.add(digest)
                self.db.audit(
                    tx,
                    now,
                    actor,
                    "manifest.delete",
                    f"{repository}@{digest}",
                    {"reason": reason, **({"tags": sorted(names)} if names else {})},
                    repository=repository,
                    digest=digest,
                )
                deleted += 1
        return deleted
