"""Lifecycle policy previews: which images a policy would expire and what that frees."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cargohold.errors import NameUnknown, PolicyInvalid, PolicyUnknown
from cargohold.meta.deletions import ExpiringImage, ManifestDeletions, SkippedImage
from cargohold.meta.lifecycle_policies import LifecyclePolicyRecords
from cargohold.meta.listings import Listings
from cargohold.meta.repositories import RepositoryRecords
from cargohold.oci.names import check_name
from cargohold.policy.holds import holding
from cargohold.policy.lifecycle import (
    ImageFacts,
    LifecyclePolicyError,
    evaluate_lifecycle,
    parse_lifecycle_policy,
)
from cargohold.services.caller import Caller
from cargohold.services.events import EventSink, LifecycleApplied, notify
from cargohold.services.holds import HoldService, covering_hold
from cargohold.services.manifest_graph import ManifestGraph
from cargohold.services.running_images import RUNNING, RunningImages, describe


@dataclass(frozen=True)
class PreviewImage:
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    last_pulled_at: float | None
    # The manifest plus the distinct blobs of everything that goes with it (index
    # children, referrers such as signatures and SBOMs).
    size_bytes: int
    expire: bool
    rule_priority: int | None
    # The active retention hold that keeps an image the policy would expire.
    held_by: str | None = None
    # For an expiring image: the manifests that go with it (index children, referrers).
    dependents: tuple[str, ...] = ()
    # Its accessory tags (`.sig` and the like): kept or expired with it.
    accessory_tags: tuple[str, ...] = ()
    # Why an image the policy would expire is kept: "held" (a retention hold) or "running"
    # (the admission webhook admitted it within admission_keep_days); None otherwise.
    kept_reason: str | None = None
    # For a running image: where and when it was last admitted.
    running_in: str | None = None


@dataclass
class LifecyclePreview:
    repository: str
    policy_text: str
    images: list[PreviewImage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Manifests that go along with expiring images (children, referrers), not counted as images.
    dependents_expiring: int = 0
    bytes_freed: int = 0
    # Every manifest the policy removes, with the rule that removes it (dependents carry
    # their parent's rule).
    deletions: dict[str, int | None] = field(default_factory=dict)
    # Referrers whose subject is not in the repository, past the grace period: reported,
    # never expired by a policy.
    orphan_referrers: list[str] = field(default_factory=list)
    # Filled in by apply(): manifests deleted (images and what went with them), the images
    # deleted, and the manifests kept because they changed since the evaluation, with why.
    deleted: int = 0
    deleted_images: list[str] = field(default_factory=list)
    skipped: list[SkippedImage] = field(default_factory=list)

    @property
    def expiring(self) -> list[PreviewImage]:
        return [image for image in self.images if image.expire]


# A signature or SBOM may be pushed before its subject: only a referrer whose subject is
# still missing after this long is reported as an orphan.
ORPHAN_GRACE_SECONDS = 24 * 3600.0


class LifecycleService:
    def __init__(
        self,
        policies: LifecyclePolicyRecords,
        repositories: RepositoryRecords,
        listings: Listings,
        deletions: ManifestDeletions,
        holds: HoldService,
        orphan_grace_seconds: float = ORPHAN_GRACE_SECONDS,
        *,
        running: RunningImages,
        events: Sequence[EventSink] = (),
    ) -> None:
        self.policies = policies
        self.repositories = repositories
        # The manifests an evaluation sees, and the compare-and-delete that applies it.
        self.listings = listings
        self.deletions = deletions
        self.holds = holds
        self.orphan_grace_seconds = orphan_grace_seconds
        # What clusters run (the admission webhook's records): never expired.
        self.running = running
        # Told of every application (services/events.py); none by default.
        self.events = tuple(events)

    def policy(self, repository: str) -> str:
        check_name(repository)
        text = self.policies.get(repository)
        if text is None:
            if not self.repositories.exists(repository):
                raise NameUnknown(detail={"name": repository})
            raise PolicyUnknown(f"no lifecycle policy is set for {repository}")
        return text

    def set_policy(self, repository: str, policy_text: str, caller: Caller) -> LifecyclePreview:
        """Validate and store a repository's policy; returns what it would do now."""
        preview = self.preview(repository, policy_text)
        self.policies.set(repository, policy_text, caller.as_actor())
        return preview

    def remove_policy(self, repository: str, caller: Caller) -> None:
        self.policy(repository)
        self.policies.set(repository, None, caller.as_actor())

    def apply(self, repository: str, caller: Caller, now: float | None = None) -> LifecyclePreview:
        """Run the stored policy for real: evaluate it, then delete what it expires."""
        preview = self.preview(repository, self.policy(repository), now)
        return self.delete_expiring(preview, caller)

    def delete_expiring(self, preview: LifecyclePreview, caller: Caller) -> LifecyclePreview:
        """Delete the images `preview` expires that are still as it saw them, auditing each.

        The store re-checks inside its delete transaction (compare-and-delete): an image
        tagged, untagged, pushed again or held since the evaluation is kept and reported in
        `preview.skipped`, never overridden.
        """
        outcome = self.deletions.delete_expiring_images(
            preview.repository,
            [
                ExpiringImage(
                    image.digest,
                    image.tags,
                    image.pushed_at,
                    image.dependents,
                    {"reason": "lifecycle policy", "rulePriority": image.rule_priority},
                )
                for image in preview.expiring
            ],
            caller.as_actor(),
            covering_hold,
            running_since=self.running.since(time.time()),
        )
        preview.deleted = len(outcome.deleted)
        preview.deleted_images = outcome.deleted_images
        preview.skipped = outcome.skipped
        notify(self.events, LifecycleApplied(preview.deleted, preview.bytes_freed))
        return preview

    def preview(
        self, repository: str, policy_text: str, now: float | None = None
    ) -> LifecyclePreview:
        check_name(repository)
        try:
            policy = parse_lifecycle_policy(policy_text)
        except LifecyclePolicyError as exc:
            raise PolicyInvalid(
                f"invalid lifecycle policy: {exc.problems[0]}"
                + (f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""),
                detail={"problems": exc.problems},
            ) from None
        facts = self.listings.repository_manifests(repository)
        if facts is None:
            raise NameUnknown(detail={"name": repository})
        now = time.time() if now is None else now
        graph = ManifestGraph(facts)
        # A tagged manifest is an image of its own even when an index also lists it (unless
        # its tags are accessory tags of an image in the repository).
        candidates = [
            ImageFacts(
                f.digest,
                f.tags,
                f.pushed_at,
                f.last_pulled_at,
                # Referrers whose subject is absent are never selected either: they are kept
                # and reported (orphan_referrers), not silently deleted. Accessories (a `.sig`
                # tag of an image here) go with their image, never on their own.
                has_parent=graph.goes_with_another(f.digest),
            )
            for f in facts
        ]
        result = evaluate_lifecycle(policy, candidates, now)
        # A retention hold wins over every policy: the image stays, and says why.
        active_holds = self.holds.active_for(repository)
        held_by = {
            d.image.digest: found.describe()
            for d in result.expired
            if (found := holding(active_holds, repository, d.image.digest, now)) is not None
        }
        # So does an image a cluster runs (admitted within the window).
        admitted = self.running.in_repository(repository, now)
        running_in = {
            d.image.digest: describe(admitted[d.image.digest])
            for d in result.expired
            if d.image.digest in admitted and d.image.digest not in held_by
        }
        expiring_roots = {d.image.digest for d in result.expired} - set(held_by) - set(running_in)
        kept_roots = {d.image.digest for d in result.decisions} - expiring_roots
        kept = graph.closure(kept_roots)
        going = graph.closure(expiring_roots) - kept
        going_blobs = graph.blobs(going)
        kept_blobs = graph.blobs(kept)
        freed_blobs = {d: s for d, s in going_blobs.items() if d not in kept_blobs}
        shared = self.listings.blobs_referenced_outside(repository, freed_blobs)
        preview = LifecyclePreview(
            repository,
            policy.text,
            warnings=list(policy.warnings),
            dependents_expiring=len(going - expiring_roots),
            orphan_referrers=sorted(
                f.digest
                for f in facts
                if f.subject_digest is not None
                and f.subject_digest not in graph.by_digest
                and f.pushed_at < now - self.orphan_grace_seconds
            ),
            bytes_freed=sum(graph.by_digest[d].size for d in going)
            + sum(s for d, s in freed_blobs.items() if d not in shared),
        )
        for decision in result.decisions:
            members = graph.closure({decision.image.digest})
            if decision.image.digest in expiring_roots:
                for digest in sorted(members & going):
                    preview.deletions.setdefault(digest, decision.rule_priority)
            preview.images.append(
                PreviewImage(
                    digest=decision.image.digest,
                    tags=decision.image.tags,
                    pushed_at=decision.image.pushed_at,
                    last_pulled_at=decision.image.last_pulled_at,
                    size_bytes=graph.image_size(decision.image.digest),
                    expire=decision.image.digest in expiring_roots,
                    rule_priority=decision.rule_priority,
                    held_by=held_by.get(decision.image.digest),
                    kept_reason=_kept_reason(decision.image.digest, held_by, running_in),
                    running_in=running_in.get(decision.image.digest),
                    dependents=tuple(sorted(members & going - {decision.image.digest}))
                    if decision.image.digest in expiring_roots
                    else (),
                    accessory_tags=tuple(
                        sorted(t for a in graph.accessories(decision.image.digest) for t in a.tags)
                    ),
                )
            )
        return preview


def _kept_reason(digest: str, held_by: dict[str, str], running_in: dict[str, str]) -> str | None:
    if digest in held_by:
        return "held"
    if digest in running_in:
        return RUNNING
    return None
