"""Registry errors carrying the OCI distribution-spec error codes.

Every layer raises these; the HTTP layer renders them as the spec's JSON error
body, and the CLI prints their message. Keeping them at the bottom of the
layer stack lets services raise a `ManifestBlobUnknown` without knowing HTTP.
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


def _error(code: str, status: int, message: str) -> type[RegistryError]:
    return type(
        "".join(part.capitalize() for part in code.split("_")),
        (RegistryError,),
        {"code": code, "status": status, "default_message": message},
    )


BlobUnknown = _error("BLOB_UNKNOWN", 404, "blob unknown to registry")
BlobUploadUnknown = _error("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
BlobUploadInvalid = _error("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
DigestInvalid = _error("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
ManifestBlobUnknown = _error("MANIFEST_BLOB_UNKNOWN", 400, "manifest references a blob unknown")
ManifestInvalid = _error("MANIFEST_INVALID", 400, "manifest invalid")
ManifestUnknown = _error("MANIFEST_UNKNOWN", 404, "manifest unknown")
NameInvalid = _error("NAME_INVALID", 400, "invalid repository name")
NameUnknown = _error("NAME_UNKNOWN", 404, "repository name not known to registry")
SizeInvalid = _error("SIZE_INVALID", 400, "provided length did not match content length")
TagInvalid = _error("TAG_INVALID", 400, "manifest tag did not match URI")
Unsupported = _error("UNSUPPORTED", 405, "the operation is unsupported")
Denied = _error("DENIED", 403, "requested access to the resource is denied")
RangeInvalid = _error("RANGE_INVALID", 416, "invalid content range")


def check_push(denial: str | None, repository: str) -> None:
    """Raise DENIED with the policy's reason when a change to `repository` is refused."""
    if denial is not None:
        raise Denied(f"cannot change {repository}: {denial}", detail={"name": repository})


PaginationNumberInvalid = _error(
    "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"
)
ManifestTooLarge = _error("SIZE_INVALID", 413, "manifest too large")
TooManyRequests = _error("TOOMANYREQUESTS", 429, "too many requests")


def quota_denied(project: str, usage: int, adding: int, limit: int) -> RegistryError:
    """DENIED for a push that would take a project past its storage quota."""
    return Denied(
        f"storage quota of project {project} exceeded: {usage} bytes used + {adding} bytes "
        f"pushed would exceed the limit of {limit} bytes",
        detail={"project": project, "usage": usage, "adding": adding, "limit": limit},
    )


# The distribution spec has no code for a full disk: its list of codes governs 4XX bodies, and
# a full disk is the server's condition, so it is 507 Insufficient Storage (RFC 4918) with a
# code of our own in the spec's grammar (decision 007). Clients treat unknown codes as UNKNOWN.
DiskFull = _error(
    "DISK_FULL",
    507,
    "the registry's disk is full: delete images and run garbage collection to free space",
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
