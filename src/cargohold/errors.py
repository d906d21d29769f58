"""Registry errors carrying the OCI distribution-spec error codes.

Every layer raises these; the HTTP layer renders them as the spec's JSON error
body, and the CLI prints their message. Keeping them at the bottom of the
layer stack lets services raise a `ManifestBlobUnknown` without knowing HTTP.
"""

from __future__ import annotations

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
