"""The Kubernetes admission webhook's use case: judge each image a workload would run, record
what was admitted, and pin tags to the digests verified (docs/trust.md).

For each container's image (policy/admission.py finds them):
- another registry's (its host is not one of admission_registry_hosts): allowed, warned
  about or refused, as admission_foreign_images says;
- this registry's: the reference must resolve to a manifest here (a tag now, or the digest
  it names; admission_require_digest refuses a tag), that manifest must have a valid
  signature by a trusted key of its project (the signature gate's stored verdict:
  admission_require_signature), and pass every other admission check of the enabled
  extensions (the scan policy's pull gate: not vulnerable above the project's threshold).
The verdicts are those a pull gets; nothing about them is decided twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cargohold.config import Settings
from cargohold.errors import ManifestUnknown, RegistryError
from cargohold.meta.admissions import AdmissionRecords, AdmissionRow
from cargohold.meta.manifests import ManifestRecords, StoredManifest
from cargohold.oci.digests import is_valid_digest
from cargohold.oci.references import ReferenceError, parse_registry_reference
from cargohold.policy.admission import (
    ContainerImage,
    ImageOutcome,
    ReviewRequest,
    ReviewVerdict,
    containers_of,
    foreign_outcome,
    judge,
    pin,
)
from cargohold.services.extension_points import ImageCheck

log = logging.getLogger("cargohold.admission")

# The cluster of the webhook URL without one (/api/v1/admission).
DEFAULT_CLUSTER = "default"
# What docker and Kubernetes take a reference without a host to name.
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class AdmissionRules:
    """The settings the webhook decides by (config.py's admission_*)."""

    hosts: frozenset[str]
    foreign: str
    require_digest: bool
    require_signature: bool

    @classmethod
    def of(cls, settings: Settings) -> AdmissionRules:
        return cls(
            settings.admission_hosts,
            settings.admission_foreign_images,
            settings.admission_require_digest,
            settings.admission_require_signature,
        )


class AdmissionService:
    def __init__(
        self,
        rules: AdmissionRules,
        manifests: ManifestRecords,
        records: AdmissionRecords,
        signature_check: ImageCheck | None,
        other_checks: Sequence[ImageCheck],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.manifests = manifests
        self.records = records
        # None: the signatures extension is off, and no image can be shown to be signed.
        self.signature_check = signature_check
        self.other_checks = tuple(other_checks)
        self.clock = clock

    def validate(self, cluster: str, request: ReviewRequest) -> ReviewVerdict:
        """The validating webhook: allowed or refused with every reason; what was admitted is
        recorded unless the request is a dry run."""
        outcomes = [self._outcome(c) for c in containers_of(request)]
        verdict = judge(outcomes)
        if verdict.allowed and not request.dry_run:
            self._record(cluster, request, outcomes)
        return verdict

    def mutate(self, request: ReviewRequest) -> ReviewVerdict:
        """The mutating webhook: never refuses (the validating one does), and rewrites each
        tag whose image passes every check to the digest it was checked at."""
        outcomes = [self._outcome(c) for c in containers_of(request)]
        return ReviewVerdict(allowed=True, patch=pin(outcomes))

    # -- one image ------------------------------------------------------------------------

    def _outcome(self, container: ContainerImage) -> ImageOutcome:
        try:
            parsed = parse_registry_reference(container.image)
        except ReferenceError as exc:
            return ImageOutcome(container, refusal=f"{container.where}: {exc}")
        host = (parsed.host or DOCKER_HUB).lower()
        if host not in self.rules.hosts:
            return foreign_outcome(container, host, self.rules.foreign)
        repository = parsed.repository
        named = f"{container.where}: image {container.image}"
        if self.rules.require_digest and not parsed.is_digest:
            return ImageOutcome(
                container,
                refusal=f"{named} names a tag, and this registry requires digest references "
                "(IMAGE@sha256:...)",
            )
        stored = self.manifests.find(repository, parsed.reference, parsed.is_digest)
        if stored is None:
            return ImageOutcome(container, refusal=f"{named} is not in this registry")
        refusal = self._refusal(repository, stored)
        if refusal is not None:
            return ImageOutcome(container, repository, stored.digest, refusal=f"{named}: {refusal}")
        host_part = parsed.host or ""
        pinned = f"{host_part}/{repository}@{stored.digest}" if host_part else None
        return ImageOutcome(container, repository, stored.digest, pinned=pinned)

    def _refusal(self, repository: str, stored: StoredManifest) -> str | None:
        """Why the image may not run (None: it may): the signature first, then the rest."""
        if self.rules.require_signature:
            if self.signature_check is None:
                return (
                    "this registry checks no signatures (signatures = false), and "
                    "admission_require_signature asks for one"
                )
            problem = _refused_by(self.signature_check, repository, stored)
            if problem is not None:
                return problem
        for check in self.other_checks:
            problem = _refused_by(check, repository, stored)
            if problem is not None:
                return problem
        return None

    # -- records ----------------------------------------------------------------------------

    def _record(self, cluster: str, request: ReviewRequest, outcomes: list[ImageOutcome]) -> None:
        now = self.clock()
        rows = {
            (o.repository, o.digest): AdmissionRow(
                cluster,
                request.namespace,
                request.kind,
                request.name,
                o.repository,
                o.digest,
                o.container.image,
                now,
                now,
            )
            for o in outcomes
            if o.repository is not None and o.digest is not None
        }
        self.records.record(rows.values())

    def where(
        self, repository: str, reference: str | None
    ) -> tuple[str | None, list[AdmissionRow]]:
        """Where an image was admitted: by digest, by a tag (the digest it names now), or
        every digest of the repository (None). The digest looked for, and the rows."""
        if reference is None:
            return None, self.records.of_image(repository)
        digest = reference
        if not is_valid_digest(reference):
            stored = self.manifests.find(repository, reference, False)
            if stored is None:
                raise ManifestUnknown(detail={"name": repository, "reference": reference})
            digest = stored.digest
        return digest, self.records.of_image(repository, digest)


def _refused_by(check: ImageCheck, repository: str, stored: StoredManifest) -> str | None:
    try:
        check(repository, stored)
    except RegistryError as exc:
        return exc.message
    return None
