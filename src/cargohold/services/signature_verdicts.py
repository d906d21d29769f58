"""Computing and storing each image's signature verdict (policy/signature_gate.py), for the
projects that enforce signatures: the gate is the verdicts' one reader, so a project that
does not enforce stores none and its pushes compute nothing (decision 043).

A verdict is computed
- when a signature arrives (a `sha256-<hex>.sig` tag, or a referrer holding a cosign signature
  or a sigstore bundle, whose subject is in the repository): the subject's, and for an index
  its platform manifests';
- when a project's keys change or it starts enforcing: every image of the project (inline up
  to RECOMPUTE_INLINE manifests, else as a `signature-verdicts` job). Changing the keys or the
  switch drops the project's verdicts in the same transaction, so none is ever stale;
- on a pull that finds none stored: that one. Deleting a manifest or a tag drops the verdicts
  it may have decided (its own, its subject's, its children's: meta/deletions.py), so the next
  pull of an image whose signature was deleted computes it again.

The trust engine verifies, reading the registry's own store (services/signature_source.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cargohold.errors import RegistryError
from cargohold.meta.signatures import SignatureRecords, VerdictRow
from cargohold.meta.store import MetadataStore
from cargohold.oci.manifests import Manifest, parse_manifest
from cargohold.oci.names import project_of
from cargohold.policy.signature_gate import Verdict, is_accessory, is_signature, passes
from cargohold.services.signature_source import StoreSignatureSource
from cargohold.storage.base import BlobDriver
from cargohold.trust.discovery import SourceError
from cargohold.trust.keys import KeyFileError, load_public_key
from cargohold.trust.verification import TrustedKey, verify_image

log = logging.getLogger("cargohold.trust")

# A project with more manifests than this is recomputed by a job, not inside the request that
# changed its keys.
RECOMPUTE_INLINE = 500


@dataclass
class _Pass:
    """One computation: the project's keys, read once, and what was decided so far."""

    project: str
    keys: list[TrustedKey]
    done: dict[tuple[str, str], VerdictRow] = field(default_factory=dict)


class SignatureVerdicts:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        records: SignatureRecords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.records = records
        self.clock = clock

    def trusted_keys(self, project: str) -> list[TrustedKey]:
        keys = []
        for row in self.records.keys(project):
            try:
                keys.append(TrustedKey(row.fingerprint, load_public_key(row.pem.encode())))
            except KeyFileError:  # checked when added; a row edited by hand is skipped
                log.warning("trusted key %s of %s cannot be read", row.fingerprint, project)
        return keys

    # -- entry points -------------------------------------------------------------------------

    def compute(self, repository: str, digest: str) -> VerdictRow | None:
        """Compute and store the verdict of one manifest (None: it is not in the repository)."""
        run = _Pass(project_of(repository), self.trusted_keys(project_of(repository)))
        found = self._evaluate(run, repository, digest)
        self.records.put_verdicts(run.project, run.done.values())
        return found

    def pushed(self, repository: str, digest: str, tag: str | None, manifest: Manifest) -> None:
        """The on-push hook: a pushed signature recomputes its subject's verdict, in a project
        that enforces (one query tells; anything else pushed costs nothing). A signature
        pushed before its image computes nothing: the pull computes it."""
        subject = is_signature(manifest, tag)
        if subject is not None and self.enforces(project_of(repository)):
            self.compute(repository, subject)

    def enforces(self, project: str) -> bool:
        return self.records.enforcement(project).enforce

    def recompute_project(self, project: str) -> int:
        """Every manifest of the project's repositories, when it enforces (a job queued before
        enforcement was turned off finds nothing to do); how many verdicts were stored."""
        if not self.enforces(project):
            return 0
        run = _Pass(project, self.trusted_keys(project))
        for repository, digest in self.records.manifests_of_project(project):
            self._evaluate(run, repository, digest)
        self.records.put_verdicts(project, run.done.values())
        return len(run.done)

    def project_size(self, project: str) -> int:
        return self.records.count_manifests_of_project(project)

    # -- deciding ------------------------------------------------------------------------------

    def _row(self, repository: str, digest: str, verdict: Verdict, key: str | None) -> VerdictRow:
        return VerdictRow(repository, digest, verdict.value, key, self.clock())

    def _evaluate(self, run: _Pass, repository: str, digest: str) -> VerdictRow | None:
        if (repository, digest) in run.done:
            return run.done[repository, digest]
        stored = self.meta.manifests.find(repository, digest, True)
        if stored is None:
            return None
        try:
            manifest = parse_manifest(stored.content, stored.media_type)
        except RegistryError:
            manifest = None
        if manifest is not None and is_accessory(manifest):
            row = self._row(repository, digest, Verdict.ACCESSORY, None)
            run.done[repository, digest] = row
            return row
        row = self._verify(run, repository, digest)
        run.done[repository, digest] = row
        if passes(row.verdict) and manifest is not None and manifest.is_index:
            for child in self.records.children(repository, digest):
                known = run.done.get((repository, child))
                if known is None or not passes(known.verdict):
                    run.done[repository, child] = self._row(
                        repository, child, Verdict.INDEX_SIGNED, row.key_fingerprint
                    )
        elif not passes(row.verdict):
            for parent in self.records.parent_indexes(repository, digest):
                signed = self._evaluate(run, repository, parent)
                if signed is not None and signed.verdict == Verdict.SIGNED:
                    row = self._row(
                        repository, digest, Verdict.INDEX_SIGNED, signed.key_fingerprint
                    )
                    run.done[repository, digest] = row
                    break
        return row

    def _verify(self, run: _Pass, repository: str, digest: str) -> VerdictRow:
        source = StoreSignatureSource(self.meta, self.blobs, repository)
        try:
            report = verify_image(source, digest, run.keys)
        except SourceError as exc:
            log.warning("signatures of %s@%s cannot be read: %s", repository, digest, exc)
            return self._row(repository, digest, Verdict.UNTRUSTED, None)
        if report.valid:
            key = report.valid[0].key
            return self._row(repository, digest, Verdict.SIGNED, key.id if key else None)
        verdict = Verdict.UNTRUSTED if report.checks else Verdict.UNSIGNED
        return self._row(repository, digest, verdict, None)
