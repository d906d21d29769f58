"""Response models for retention policy: tag rules, holds, lifecycle policies and ECR's
lifecycle preview."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc_or_none
from cargohold.policy.holds import Hold as HoldFacts
from cargohold.policy.immutability import TagRule as TagRuleFacts
from cargohold.services.lifecycle import LifecyclePreview as PreviewFacts
from cargohold.services.lifecycle import PreviewImage


class TagRule(Model):
    id: int
    kind: Literal["immutable", "deny-latest"]
    scope: Literal["project", "repository"]
    target: str
    pattern: str
    pattern_kind: Literal["glob", "regex"]
    excludes: list[str]
    description: Annotated[str, msgspec.Meta(description="The rule in words")]

    @classmethod
    def of(cls, rule: TagRuleFacts) -> TagRule:
        return cls(
            id=rule.id,
            kind=rule.kind,
            scope=rule.scope,
            target=rule.target,
            pattern=rule.pattern,
            pattern_kind=rule.pattern_kind,
            excludes=list(rule.excludes),
            description=rule.describe(),
        )


class TagRuleList(Model):
    rules: list[TagRule]


class Hold(Model):
    id: int
    scope: Literal["project", "repository", "image"]
    target: str
    digest: Annotated[str | None, msgspec.Meta(description="Image holds only")]
    reason: str
    ends_at: Annotated[UtcTime | None, msgspec.Meta(description="null: until released")]
    description: Annotated[str, msgspec.Meta(description="The hold in words")]

    @classmethod
    def of(cls, hold: HoldFacts) -> Hold:
        return cls(
            id=hold.id,
            scope=hold.scope,
            target=hold.target,
            digest=hold.digest,
            reason=hold.reason,
            ends_at=utc_or_none(hold.ends_at),
            description=hold.describe(),
        )


class HoldList(Model):
    holds: list[Hold]


class LifecyclePolicy(Model):
    """ECR's GetLifecyclePolicy response (the keys are ECR's)."""

    repository_name: str
    lifecycle_policy_text: str


# ECR's GetLifecyclePolicyPreview response. Its keys are ECR's, which happen to be camelCase,
# and so are its times: UNIX seconds (`imagePushedAt`, `lastRecordedPullTime`), as the AWS
# SDKs write them. cargohold's additions use ECR's spelling too.


class PreviewAction(Model):
    type: Literal["EXPIRE"]


class PreviewResult(Model):
    image_digest: str
    image_tags: list[str]
    image_pushed_at: Annotated[float, msgspec.Meta(description="UNIX seconds, as ECR")]
    action: PreviewAction
    applied_rule_priority: int | None
    storage_class: Literal["STANDARD"]
    image_size_in_bytes: int
    last_recorded_pull_time: Annotated[
        float | None, msgspec.Meta(description="UNIX seconds, as ECR")
    ]


class PreviewSummary(Model):
    expiring_image_total_count: int


class PreviewImageResult(Model):
    """Every image the policy evaluated, kept or expiring (cargohold's addition)."""

    image_digest: str
    image_tags: list[str]
    image_pushed_at: Annotated[float, msgspec.Meta(description="UNIX seconds, as ECR")]
    last_recorded_pull_time: Annotated[
        float | None, msgspec.Meta(description="UNIX seconds, as ECR")
    ]
    image_size_in_bytes: int
    action: Literal["EXPIRE", "KEEP"]
    applied_rule_priority: int | None
    held_by: Annotated[
        str | None, msgspec.Meta(description="The active hold that keeps an expiring image")
    ]
    kept_reason: Annotated[
        Literal["held", "running"] | None,
        msgspec.Meta(
            description="Why an image the policy would expire is kept: a retention hold, or "
            "the admission webhook admitted it to a cluster within admission_keep_days"
        ),
    ]
    running_in: Annotated[
        str | None,
        msgspec.Meta(description="For a running image: where and when it was last admitted"),
    ]
    accessory_tags: Annotated[
        list[str],
        msgspec.Meta(
            description="The image's accessory tags (sha256-<hex>.sig, .att, .sbom, the "
            "referrers-index tag): kept and expired with the image, never on their own"
        ),
    ]


class SkippedImage(Model):
    image_digest: str
    reason: Annotated[
        str,
        msgspec.Meta(
            description="tags changed, pushed again, held by hold ID, already gone, listed by "
            "DIGEST or kept with DIGEST"
        ),
    ]


class LifecyclePreview(Model):
    """ECR's GetLifecyclePolicyPreview response, plus cargohold's own fields."""

    repository_name: str
    lifecycle_policy_text: str
    status: Literal["COMPLETE"]
    preview_results: list[PreviewResult]
    summary: PreviewSummary
    images: list[PreviewImageResult]
    bytes_freed: int
    deleted: Annotated[int, msgspec.Meta(description="apply: manifests deleted (0 in a preview)")]
    deleted_images: Annotated[
        list[str], msgspec.Meta(description="apply: digests of the expiring images deleted")
    ]
    skipped: Annotated[
        list[SkippedImage],
        msgspec.Meta(
            description="apply: expiring manifests kept because they changed since the evaluation"
        ),
    ]
    dependent_manifests_expiring: int
    orphan_referrers: list[str]
    warnings: list[str]

    @classmethod
    def of(cls, preview: PreviewFacts) -> LifecyclePreview:
        return cls(
            repository_name=preview.repository,
            lifecycle_policy_text=preview.policy_text,
            status="COMPLETE",
            preview_results=[_result(image) for image in preview.expiring],
            summary=PreviewSummary(expiring_image_total_count=len(preview.expiring)),
            images=[_image(image) for image in preview.images],
            bytes_freed=preview.bytes_freed,
            deleted=preview.deleted,
            deleted_images=list(preview.deleted_images),
            skipped=[
                SkippedImage(image_digest=skip.digest, reason=skip.reason)
                for skip in preview.skipped
            ],
            dependent_manifests_expiring=preview.dependents_expiring,
            orphan_referrers=list(preview.orphan_referrers),
            warnings=list(preview.warnings),
        )


def _result(image: PreviewImage) -> PreviewResult:
    return PreviewResult(
        image_digest=image.digest,
        image_tags=list(image.tags),
        image_pushed_at=image.pushed_at,
        action=PreviewAction(type="EXPIRE"),
        applied_rule_priority=image.rule_priority,
        storage_class="STANDARD",
        image_size_in_bytes=image.size_bytes,
        last_recorded_pull_time=image.last_pulled_at,
    )


def _image(image: PreviewImage) -> PreviewImageResult:
    return PreviewImageResult(
        image_digest=image.digest,
        image_tags=list(image.tags),
        image_pushed_at=image.pushed_at,
        last_recorded_pull_time=image.last_pulled_at,
        image_size_in_bytes=image.size_bytes,
        action="EXPIRE" if image.expire else "KEEP",
        applied_rule_priority=image.rule_priority,
        held_by=image.held_by,
        kept_reason=image.kept_reason,  # type: ignore[arg-type]
        running_in=image.running_in,
        accessory_tags=list(image.accessory_tags),
    )
