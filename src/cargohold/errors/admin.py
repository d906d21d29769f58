"""The admin API's (/api/v1/) errors, one pair per resource: its 400 and its 404."""

from __future__ import annotations

from cargohold.errors.base import RegistryError


class TagRuleInvalid(RegistryError):
    """RULE_INVALID: a tag immutability rule that fails validation."""

    code = "RULE_INVALID"
    status = 400
    default_message = "invalid tag rule"


class TagRuleUnknown(RegistryError):
    """RULE_UNKNOWN: no tag immutability rule with this id."""

    code = "RULE_UNKNOWN"
    status = 404
    default_message = "no such tag rule"


class HoldRequestInvalid(RegistryError):
    """HOLD_INVALID: a retention hold that fails validation."""

    code = "HOLD_INVALID"
    status = 400
    default_message = "invalid retention hold"


class HoldUnknown(RegistryError):
    """HOLD_UNKNOWN: no retention hold with this id."""

    code = "HOLD_UNKNOWN"
    status = 404
    default_message = "no such retention hold"


class QuotaInvalid(RegistryError):
    """QUOTA_INVALID: a project quota that fails validation."""

    code = "QUOTA_INVALID"
    status = 400
    default_message = "invalid quota"


class QuotaUnknown(RegistryError):
    """QUOTA_UNKNOWN: the project has no quota."""

    code = "QUOTA_UNKNOWN"
    status = 404
    default_message = "no quota is set for this project"


class PolicyInvalid(RegistryError):
    """POLICY_INVALID: a lifecycle policy that fails validation."""

    code = "POLICY_INVALID"
    status = 400
    default_message = "invalid lifecycle policy"


class PolicyUnknown(RegistryError):
    """POLICY_UNKNOWN: the repository has no lifecycle policy."""

    code = "POLICY_UNKNOWN"
    status = 404
    default_message = "no lifecycle policy is set"


class JobInvalid(RegistryError):
    """JOB_INVALID: a job request with an unknown kind or bad arguments; nothing is queued."""

    code = "JOB_INVALID"
    status = 400
    default_message = "invalid job request"


class JobUnknown(RegistryError):
    """JOB_UNKNOWN: no job run with this id."""

    code = "JOB_UNKNOWN"
    status = 404
    default_message = "no such job"


class JobQueueUnavailable(RegistryError):
    """UNAVAILABLE: the job queue (Redis, or the queue's database) could not take a job."""

    code = "UNAVAILABLE"
    status = 503
    default_message = "the job queue cannot be reached; retry in a few seconds"


class GcBusy(RegistryError):
    """GC_RUNNING: a garbage collection is already running."""

    code = "GC_RUNNING"
    status = 409
    default_message = "garbage collection is already running"


class TrustKeyInvalid(RegistryError):
    """KEY_INVALID: a trusted key or enforcement setting that fails validation."""

    code = "KEY_INVALID"
    status = 400
    default_message = "invalid trusted key"


class TrustKeyUnknown(RegistryError):
    """KEY_UNKNOWN: the project trusts no key with this fingerprint."""

    code = "KEY_UNKNOWN"
    status = 404
    default_message = "no such trusted key"


class TrustKeyExists(RegistryError):
    """KEY_EXISTS: the project trusts this key already."""

    code = "KEY_EXISTS"
    status = 409
    default_message = "the key is trusted already"


class AnalysisFailed(RegistryError):
    """ANALYSIS_FAILED: the image could not be analyzed (not an image, or a layer that cannot
    be read); the detail says why (`reason`). Nothing is stored: asking again tries again."""

    code = "ANALYSIS_FAILED"
    status = 409
    default_message = "the image could not be analyzed"


class AdmissionReviewInvalid(RegistryError):
    """ADMISSION_REVIEW_INVALID: a body that is not an AdmissionReview v1 request, or a cluster
    name that is not one."""

    code = "ADMISSION_REVIEW_INVALID"
    status = 400
    default_message = "not an AdmissionReview (admission.k8s.io/v1) request"
