"""Registry use cases: manifests, tags, catalog and referrers (blobs: services/blob_links.py;
deletes: services/manifest_deletes.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from cargohold.errors import (
    Denied,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
    check_push,
    quota_denied,
)
from cargohold.meta.manifests import ReferencesGone, SizesDiffer, StoredManifest
from cargohold.meta.quotas import QuotaExceeded
from cargohold.meta.store import MetadataStore
from cargohold.meta.tags import TagMoved
from cargohold.oci import mediatypes as mt
from cargohold.oci.digests import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    algorithm_of,
    check_digest,
    compute,
)
from cargohold.oci.manifests import MAX_MANIFEST_BYTES, Manifest, parse_manifest
from cargohold.oci.names import check_name, project_of
from cargohold.policy.access import AccessPolicy
from cargohold.policy.immutability import check_tag_push
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller
from cargohold.services.extension_points import OnPush, PullGate
from cargohold.services.holds import HoldService
from cargohold.services.manifest_deletes import ManifestDeletes
from cargohold.services.manifest_references import (
    Reference,
    images_named_by,
    manifest_unknown,
)
from cargohold.services.pulls import PullRecorder
from cargohold.services.tag_rules import TagRuleService
from cargohold.storage.base import BlobDriver

log = logging.getLogger("cargohold.registry")


@dataclass(frozen=True)
class PutManifestResult:
    digest: str
    subject: str | None


@dataclass(frozen=True)
class ManifestPut:
    """A push that passed every check and may be written."""

    repository: str
    digest: str
    body: bytes
    manifest: Manifest
    tag: str | None
    immutable: bool


class GatedPull(Exception):
    """get_manifest's answer to a pull in a repository that a pull gate applies to: the gate's
    check may query, so the caller finishes the pull off the event loop with pass_gates.
    Raised rather than returned so that no caller can serve such a pull unchecked."""

    def __init__(self, stored: StoredManifest) -> None:
        super().__init__(stored.digest)
        self.stored = stored


class RegistryService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        access: AccessPolicy,
        pulls: PullRecorder,
        tag_rules: TagRuleService,
        holds: HoldService,
        trail: AuditTrail,
        on_push: Sequence[OnPush],
        pull_gates: Sequence[PullGate],
    ) -> None:
        self.tag_rules = tag_rules
        # Changes audit themselves in their transactions; refusals are noted here.
        self.trail = trail
        self.holds = holds
        self.meta = meta
        self.blobs = blobs
        self.access = access
        self.pulls = pulls
        # Extension points (services/extension_points.py), given by the composition root and
        # called in order: after a manifest is stored, and before a pull is answered.
        self.on_push = tuple(on_push)
        self.pull_gates = tuple(pull_gates)
        self.deletes = ManifestDeletes(meta, access, tag_rules, holds, trail)

    # -- manifests --------------------------------------------------------------------

    def put_manifest(
        self,
        repository: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        caller: Caller,
    ) -> PutManifestResult:
        """Check, then store: the checks run before, not inside, the write transaction. The
        push is audited in its transaction; a refusal (DENIED) is noted."""
        try:
            return self.store_manifest(
                self.check_manifest_put(repository, reference, body, content_type), caller
            )
        except Denied as denied:
            self.trail.denied(
                caller,
                "manifest.push",
                denied.message,
                repository=repository,
                reference=reference[:255],
            )
            raise

    def check_manifest_put(
        self, repository: str, reference: str, body: bytes, content_type: str | None
    ) -> ManifestPut:
        """Everything a push must pass before it writes: parsing, access, quota, tag rules.

        Reads only. Tag rules are user patterns, so this runs before the write transaction,
        not inside it: matching is linear-time (policy/patterns.py), but no user input should
        ever set how long other writes wait for the writer lock.
        """
        check_name(repository)
        ref = Reference.parse(reference)
        check_push(self.access.push_denied(repository), repository)
        if len(body) > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
        if ref.is_digest:
            digest = compute(body, algorithm_of(ref.value))
            if digest != ref.value:
                raise DigestInvalid(
                    f"manifest has digest {digest}, not {ref.value}",
                    detail={"expected": ref.value, "actual": digest},
                )
        else:
            digest = compute(body)
        manifest = parse_manifest(body, content_type)
        project = project_of(repository)
        limit, usage = self.meta.quotas.get(project)
        if limit is not None:
            # Blobs pushed longer ago than the grace period count again once referenced.
            adding = self.meta.quotas.uncounted_bytes(
                project, (d.digest for kind, d in manifest.references() if kind != "manifest")
            )
            if usage + adding > limit:
                raise quota_denied(project, usage, adding, limit)
        tag = None if ref.is_digest else ref.value
        immutable = False
        if tag is not None:
            rules = self.tag_rules.rules_for(repository)
            if rules:
                # An accessory tag (`sha256-<hex>.sig`) of an image here is re-pushed on every
                # signature: no immutability rule applies to it (policy/immutability.py).
                here = images_named_by(self.meta, repository, [tag])
                denial = check_tag_push(
                    rules, repository, tag, self.meta.tags.digest(repository, tag), digest, here
                )
                if denial:
                    raise Denied(denial, detail={"tag": tag})
                immutable = not here and any(rule.protects(repository, tag) for rule in rules)
        return ManifestPut(repository, digest, body, manifest, tag, immutable)

    def store_manifest(self, put: ManifestPut, caller: Caller) -> PutManifestResult:
        """Write a checked push. An immutable tag that moved meanwhile is caught in the
        write transaction (`immutable`), so checking first leaves no race open."""
        repository, digest, manifest, tag = put.repository, put.digest, put.manifest, put.tag
        if any(d.digest == EMPTY_JSON_DIGEST for _, d in manifest.references()):
            # The OCI empty descriptor is well-known content: hold it even if never pushed.
            if self.meta.blobs.linked_size(repository, EMPTY_JSON_DIGEST) is None:
                try:
                    stored = self.meta.blobs.link(repository, EMPTY_JSON_DIGEST, len(EMPTY_JSON))
                except QuotaExceeded as over:
                    raise quota_denied(over.project, over.usage, over.adding, over.limit) from None
                # Link, write, mark stored: the order every blob is placed in (UploadService).
                if not stored:
                    self.blobs.put(EMPTY_JSON_DIGEST, EMPTY_JSON)
                self.meta.blobs.mark_stored(EMPTY_JSON_DIGEST)
        try:
            self.meta.manifests.put(
                repository, digest, put.body, manifest, tag, put.immutable, caller.as_actor()
            )
        except ReferencesGone as gone:
            # Checked inside the write transaction, so a blob deleted meanwhile (garbage
            # collection, a blob delete, a lifecycle run) is caught here too.
            first = gone.missing[0]
            what = "manifest" if first.kind == "manifest" else f"{first.kind} blob"
            raise ManifestBlobUnknown(
                f"{what} {first.digest} ({first.media_type}) is not in repository {repository}",
                detail=[
                    {"kind": m.kind, "digest": m.digest, "mediaType": m.media_type}
                    for m in gone.missing
                ],
            ) from None
        except SizesDiffer as differ:
            kind, digest, declared, actual = differ.mismatches[0]
            raise ManifestInvalid(
                f"{kind} {digest} is declared as {declared} bytes but is {actual} bytes",
                detail=[
                    {"kind": k, "digest": d, "declaredSize": size, "size": stored}
                    for k, d, size, stored in differ.mismatches
                ],
            ) from None
        except TagMoved as moved:
            raise Denied(
                f"tag {tag!r} is immutable and already points to {moved.current_digest}",
                detail={"tag": tag},
            ) from None
        for hook in self.on_push:
            try:
                hook(repository, digest, manifest, tag)
            except Exception:
                # The manifest is stored; a hook that fails (a queue that cannot take a scan)
                # must not fail the push, nor keep the next hook from running.
                log.exception("on-push hook %r failed for %s@%s", hook, repository, digest)
        return PutManifestResult(digest, manifest.subject.digest if manifest.subject else None)

    def get_manifest(
        self, repository: str, reference: str, puller: Caller | None
    ) -> StoredManifest:
        """One lookup. A pull (a GET: `puller` is its caller; None for a HEAD) is counted and
        noted for the audit trail, unless a pull gate applies to the repository: then
        GatedPull hands the manifest over to pass_gates."""
        check_name(repository)
        ref = Reference.parse_existing(reference)
        if ref is None:
            raise manifest_unknown(self.meta, repository, reference)
        stored = self.meta.manifests.find(repository, ref.value, ref.is_digest)
        if stored is None:
            if not self.meta.repositories.exists(repository):
                raise NameUnknown(detail={"name": repository})
            raise ManifestUnknown(detail={"reference": reference})
        if puller is not None:
            # Gates are only asked, from memory, whether they apply: their checks query, and
            # this is the manifest GET's fast read on the event loop (decision 017).
            for gate in self.pull_gates:
                if gate.needs_check(repository, stored):
                    raise GatedPull(stored)
            self.record_pull(repository, reference, stored, puller)
        return stored

    def pass_gates(
        self, repository: str, reference: str, stored: StoredManifest, puller: Caller
    ) -> StoredManifest:
        """Finish a pull that get_manifest handed over (GatedPull): the checks of the gates
        that apply, then the pull is counted."""
        self.check_gates(repository, reference, stored, puller)
        self.record_pull(repository, reference, stored, puller)
        return stored

    def check_gates(
        self, repository: str, reference: str, stored: StoredManifest, puller: Caller
    ) -> None:
        """The checks of the pull gates that apply, in order (they may query: off the event
        loop); one refuses by raising Denied, and the refused pull is noted as denied."""
        try:
            for gate in self.pull_gates:
                if gate.needs_check(repository, stored):
                    gate.check(repository, stored)
        except Denied as denied:
            self.trail.denied(
                puller,
                "manifest.pull",
                denied.message,
                repository=repository,
                reference=reference,
                digest=stored.digest,
            )
            raise

    def record_pull(
        self, repository: str, reference: str, stored: StoredManifest, puller: Caller
    ) -> None:
        """Count the pull and note it for the audit trail (buffered in memory, written in
        batches)."""
        self.pulls.record(stored.id, puller, repository, reference, stored.digest)

    def refresh_pull_gates(self) -> None:
        """Reload what the pull gates answer `applies` from (queries: off the event loop)."""
        for gate in self.pull_gates:
            gate.refresh()

    def delete_manifest(self, repository: str, reference: str, caller: Caller) -> None:
        """services/manifest_deletes.py."""
        self.deletes.delete_manifest(repository, reference, caller)

    # -- listings ---------------------------------------------------------------------

    def tags(self, repository: str, limit: int | None, last: str | None) -> list[str]:
        check_name(repository)
        names = self.meta.tags.names(repository, limit, last)
        if names is None:
            raise NameUnknown(detail={"name": repository})
        return names

    def catalog(self, limit: int, last: str | None) -> list[str]:
        return self.meta.repositories.catalog(limit, last)

    def referrers(
        self, repository: str, digest: str, artifact_type: str | None
    ) -> dict[str, object]:
        """The referrers of `digest` as an OCI image index (empty when there are none)."""
        check_name(repository)
        check_digest(digest)
        descriptors = []
        for (
            ref_digest,
            media_type,
            size,
            ref_artifact_type,
            annotations_json,
        ) in self.meta.manifests.referrers(repository, digest):
            if artifact_type is not None and ref_artifact_type != artifact_type:
                continue
            descriptor: dict[str, object] = {
                "mediaType": media_type,
                "digest": ref_digest,
                "size": size,
            }
            if ref_artifact_type:
                descriptor["artifactType"] = ref_artifact_type
            if annotations_json:
                descriptor["annotations"] = json.loads(annotations_json)
            descriptors.append(descriptor)
        return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
