"""The catalogue of registry errors: every error cargohold answers with, one class each.

Every layer raises these; the HTTP layer renders them as the spec's JSON error
body (on /v2/ and /api/v1/ alike), and the CLI prints their message. Keeping them
at the bottom of the layer stack lets services raise a `ManifestBlobUnknown`
without knowing HTTP.

The classes live in one module per family (registry.py: the OCI and Docker codes and
cargohold's own general ones; admin.py: the admin API's resources; access.py: signing in, the
token endpoint, users and robots; scanning.py: the scanning extension's) and are all imported
from here: `from cargohold.errors import X`. A new error is a class in its family's module, a
name in this module's imports and `__all__`, and a row in docs/api.md;
tests/unit/test_error_catalogue.py checks all three. Codes follow the spec's grammar
(`[A-Z_]+`); docs/api.md's tables list each code with its status.
"""

from __future__ import annotations

from cargohold.errors.access import (
    AccessExists,
    AccessRequestInvalid,
    AccessUnknown,
    ProjectNotEmpty,
    ScopeInvalid,
    TokenRequestInvalid,
)
from cargohold.errors.admin import (
    AdmissionReviewInvalid,
    AnalysisFailed,
    GcBusy,
    HoldRequestInvalid,
    HoldUnknown,
    JobInvalid,
    JobQueueUnavailable,
    JobUnknown,
    PolicyInvalid,
    PolicyUnknown,
    QuotaInvalid,
    QuotaUnknown,
    TagRuleInvalid,
    TagRuleUnknown,
    TrustKeyExists,
    TrustKeyInvalid,
    TrustKeyUnknown,
)
from cargohold.errors.base import (
    RegistryError,
)
from cargohold.errors.helpers import (
    check_push,
    is_disk_full,
    is_store_unavailable,
    pull_limit_reached,
    quota_denied,
    rate_limit_headers,
)
from cargohold.errors.registry import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    BodyInvalid,
    BodyStalled,
    BodyTooLarge,
    Denied,
    DigestInvalid,
    DiskFull,
    HttpStatusError,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    NotFound,
    PaginationNumberInvalid,
    QueryInvalid,
    RangeInvalid,
    RangeNotSatisfiable,
    SizeInvalid,
    StagedGone,
    StoreUnavailable,
    TagInvalid,
    TooManyRequests,
    Unauthorized,
    Unknown,
    Unsupported,
)
from cargohold.errors.scanning import (
    AllowlistInvalid,
    AllowlistUnknown,
    ScanFailed,
    ScanPolicyInvalid,
    ScanRequestInvalid,
    ScanUnknown,
    VulnDbImportInvalid,
    VulnDbImportRefused,
)

__all__ = [
    "AccessExists",
    "AccessRequestInvalid",
    "AccessUnknown",
    "AdmissionReviewInvalid",
    "AllowlistInvalid",
    "AllowlistUnknown",
    "AnalysisFailed",
    "BlobUnknown",
    "BlobUploadInvalid",
    "BlobUploadUnknown",
    "BodyInvalid",
    "BodyStalled",
    "BodyTooLarge",
    "Denied",
    "DigestInvalid",
    "DiskFull",
    "GcBusy",
    "HoldRequestInvalid",
    "HoldUnknown",
    "HttpStatusError",
    "JobInvalid",
    "JobQueueUnavailable",
    "JobUnknown",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestTooLarge",
    "ManifestUnknown",
    "NameInvalid",
    "NameUnknown",
    "NotFound",
    "PaginationNumberInvalid",
    "PolicyInvalid",
    "PolicyUnknown",
    "ProjectNotEmpty",
    "QueryInvalid",
    "QuotaInvalid",
    "QuotaUnknown",
    "RangeInvalid",
    "RangeNotSatisfiable",
    "RegistryError",
    "ScanFailed",
    "ScanPolicyInvalid",
    "ScanRequestInvalid",
    "ScanUnknown",
    "ScopeInvalid",
    "SizeInvalid",
    "StagedGone",
    "StoreUnavailable",
    "TagInvalid",
    "TagRuleInvalid",
    "TagRuleUnknown",
    "TokenRequestInvalid",
    "TooManyRequests",
    "TrustKeyExists",
    "TrustKeyInvalid",
    "TrustKeyUnknown",
    "Unauthorized",
    "Unknown",
    "Unsupported",
    "VulnDbImportInvalid",
    "VulnDbImportRefused",
    "check_push",
    "is_disk_full",
    "is_store_unavailable",
    "pull_limit_reached",
    "quota_denied",
    "rate_limit_headers",
]
