"""The catalogue of registry errors: every error cargohold answers with, one class each.

Every layer raises these; the HTTP layer renders them as the spec's JSON error
body (on /v2/ and /api/v1/ alike), and the CLI prints their message. Keeping them
at the bottom of the layer stack lets services raise a `ManifestBlobUnknown`
without knowing HTTP. A new error is a class here and a row in docs/api.md.
"""

from __future__ import annotations

import errno
from typing import Any


class RegistryError(Exception):
    """An error with an OCI error code, an HTTP status and a message for humans."""

    code = "UNKNOWN"
    status = 500
    default_message = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}


# The catalogue: every error the registry answers with, one class each. Codes follow the spec's
# grammar (`[A-Z_]+`); docs/api.md's tables list each code with its status, and
# tests/unit/test_error_catalogue.py holds the two in step.

# --- The OCI distribution spec's codes, with the spec's meaning ---------------------------


class BlobUnknown(RegistryError):
    """BLOB_UNKNOWN: the blob is unknown to the registry (in this repository)."""

    code = "BLOB_UNKNOWN"
    status = 404
    default_message = "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    """BLOB_UPLOAD_INVALID: the upload failed; the client may need to restart it."""

    code = "BLOB_UPLOAD_INVALID"
    status = 400
    default_message = "blob upload invalid"


class BlobUploadUnknown(RegistryError):
    """BLOB_UPLOAD_UNKNOWN: the upload session is unknown (cancelled, finished or expired)."""

    code = "BLOB_UPLOAD_UNKNOWN"
    status = 404
    default_message = "blob upload unknown to registry"


class StagedGone(BlobUploadUnknown):
    """BLOB_UPLOAD_UNKNOWN for a discarded session whose staged bytes a crash cut short."""

    default_message = "the upload's staged data is gone; start the upload again"


class DigestInvalid(RegistryError):
    """DIGEST_INVALID: the digest is malformed, unsupported, or does not match the content."""

    code = "DIGEST_INVALID"
    status = 400
    default_message = "provided digest did not match uploaded content"


class ManifestBlobUnknown(RegistryError):
    """MANIFEST_BLOB_UNKNOWN: the manifest references a blob the repository does not hold."""

    code = "MANIFEST_BLOB_UNKNOWN"
    status = 400
    default_message = "manifest references a blob unknown"


class ManifestInvalid(RegistryError):
    """MANIFEST_INVALID: the manifest failed validation."""

    code = "MANIFEST_INVALID"
    status = 400
    default_message = "manifest invalid"


class ManifestUnknown(RegistryError):
    """MANIFEST_UNKNOWN: no manifest under this tag or digest in the repository."""

    code = "MANIFEST_UNKNOWN"
    status = 404
    default_message = "manifest unknown"


class NameInvalid(RegistryError):
    """NAME_INVALID: the repository name fails the spec's grammar."""

    code = "NAME_INVALID"
    status = 400
    default_message = "invalid repository name"


class NameUnknown(RegistryError):
    """NAME_UNKNOWN: the repository is not known to the registry."""

    code = "NAME_UNKNOWN"
    status = 404
    default_message = "repository name not known to registry"


class SizeInvalid(RegistryError):
    """SIZE_INVALID: the content's length does not match the declared length."""

    code = "SIZE_INVALID"
    status = 400
    default_message = "provided length did not match content length"


class ManifestTooLarge(RegistryError):
    """SIZE_INVALID as 413: a manifest over the registry's size limit."""

    code = "SIZE_INVALID"
    status = 413
    default_message = "manifest too large"


class BodyTooLarge(RegistryError):
    """SIZE_INVALID as 413: a request body over its route's limit."""

    code = "SIZE_INVALID"
    status = 413
    default_message = "the request body is too large"


class BodyStalled(RegistryError):
    """SIZE_INVALID as 408: a request body that stopped arriving before its declared end."""

    code = "SIZE_INVALID"
    status = 408
    default_message = "the request body stopped arriving"


class TagInvalid(RegistryError):
    """TAG_INVALID: the tag fails the spec's grammar or does not match the manifest's URI."""

    code = "TAG_INVALID"
    status = 400
    default_message = "manifest tag did not match URI"


class Denied(RegistryError):
    """DENIED: access to the resource is denied (by policy, quota or read-only mode)."""

    code = "DENIED"
    status = 403
    default_message = "requested access to the resource is denied"


class Unsupported(RegistryError):
    """UNSUPPORTED: the operation is unsupported (here: the method, or the resource's state)."""

    code = "UNSUPPORTED"
    status = 405
    default_message = "the operation is unsupported"


class TooManyRequests(RegistryError):
    """TOOMANYREQUESTS: the client sent too many requests; `Retry-After` says when to retry."""

    code = "TOOMANYREQUESTS"
    status = 429
    default_message = "too many requests"


# --- Docker Registry HTTP API V2 codes that the OCI spec dropped but clients still know ----


class Unknown(RegistryError):
    """UNKNOWN: an error the registry did not expect; the server log has the traceback."""

    code = "UNKNOWN"
    status = 500
    default_message = "internal server error; see the server log"


class HttpStatusError(RegistryError):
    """UNKNOWN with the status of an HTTP error the web framework raised itself."""

    code = "UNKNOWN"
    status = 400
    default_message = "the request could not be handled"

    def __init__(self, message: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.status = status  # the framework's own status, passed through


class RangeInvalid(RegistryError):
    """RANGE_INVALID: an upload chunk that does not start at the session's current offset."""

    code = "RANGE_INVALID"
    status = 416
    default_message = "invalid content range"


class RangeNotSatisfiable(RegistryError):
    """RANGE_INVALID on a blob GET: a `Range` header that is malformed or beyond the blob."""

    code = "RANGE_INVALID"
    status = 416
    default_message = "requested range not satisfiable"


class PaginationNumberInvalid(RegistryError):
    """PAGINATION_NUMBER_INVALID: `n` is not a non-negative integer."""

    code = "PAGINATION_NUMBER_INVALID"
    status = 400
    default_message = "invalid number of results requested"


# --- cargohold's own codes ------------------------------------------------------------------


class NotFound(RegistryError):
    """NOT_FOUND: no endpoint at this path."""

    code = "NOT_FOUND"
    status = 404
    default_message = "no such endpoint"


class BodyInvalid(RegistryError):
    """BODY_INVALID: a request body that could not be read, on a route without its own code."""

    code = "BODY_INVALID"
    status = 400
    default_message = "the request body could not be read"


# The distribution spec has no code for a full disk: its list of codes governs 4XX bodies, and
# a full disk is the server's condition, so it is 507 Insufficient Storage (RFC 4918) with a
# code of our own in the spec's grammar (decision 007). Clients treat unknown codes as UNKNOWN.
class DiskFull(RegistryError):
    """DISK_FULL: the registry's disk (or its database's) is full; pushes are refused."""

    code = "DISK_FULL"
    status = 507
    default_message = (
        "the registry's disk is full: delete images and run garbage collection to free space"
    )


# The admin API's (/api/v1/) codes, one pair per resource: its 400 and its 404.


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


class GcBusy(RegistryError):
    """GC_RUNNING: a garbage collection is already running."""

    code = "GC_RUNNING"
    status = 409
    default_message = "garbage collection is already running"


class ScanRequestInvalid(RegistryError):
    """SCAN_INVALID: a scan request with bad parameters."""

    code = "SCAN_INVALID"
    status = 400
    default_message = "invalid scan request"


class ScanUnknown(RegistryError):
    """SCAN_UNKNOWN: the image has not been scanned yet."""

    code = "SCAN_UNKNOWN"
    status = 404
    default_message = "this image has not been scanned yet"


class ScanPolicyInvalid(RegistryError):
    """SCAN_POLICY_INVALID: a scan gate policy that fails validation."""

    code = "SCAN_POLICY_INVALID"
    status = 400
    default_message = "invalid scan policy"


class AllowlistInvalid(RegistryError):
    """ALLOWLIST_INVALID: a vulnerability allowlist entry that fails validation."""

    code = "ALLOWLIST_INVALID"
    status = 400
    default_message = "invalid allowlist entry"


class AllowlistUnknown(RegistryError):
    """ALLOWLIST_UNKNOWN: no allowlist entry with this id."""

    code = "ALLOWLIST_UNKNOWN"
    status = 404
    default_message = "no such allowlist entry"


class VulnDbImportInvalid(RegistryError):
    """VULNDB_IMPORT_INVALID: vulnerability records that could not be imported."""

    code = "VULNDB_IMPORT_INVALID"
    status = 400
    default_message = "the vulnerability records could not be imported"


class VulnDbImportRefused(RegistryError):
    """VULNDB_IMPORT_REFUSED: an import that would remove every record of its source."""

    code = "VULNDB_IMPORT_REFUSED"
    status = 409
    default_message = "the import would remove every record of its source"


# --- Builders of common errors ----------------------------------------------------------------


def check_push(denial: str | None, repository: str) -> None:
    """Raise DENIED with the policy's reason when a change to `repository` is refused."""
    if denial is not None:
        raise Denied(f"cannot change {repository}: {denial}", detail={"name": repository})


def quota_denied(project: str, usage: int, adding: int, limit: int) -> RegistryError:
    """DENIED for a push that would take a project past its storage quota."""
    return Denied(
        f"storage quota of project {project} exceeded: {usage} bytes used + {adding} bytes "
        f"pushed would exceed the limit of {limit} bytes",
        detail={"project": project, "usage": usage, "adding": adding, "limit": limit},
    )


_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, says a disk or quota is full.

    Recognises ENOSPC and EDQUOT, SQLite's SQLITE_FULL and PostgreSQL's disk_full, raw or
    wrapped by SQLAlchemy (`.orig`) or chained (`__cause__`, `__context__`).
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        if "database or disk is full" in str(current):
            return True
        if getattr(current, "sqlstate", None) == _PG_DISK_FULL:
            return True
        orig = getattr(current, "orig", None)
        pending.extend(
            [
                orig if isinstance(orig, BaseException) else None,
                current.__cause__,
                current.__context__,
            ]
        )
    return False
