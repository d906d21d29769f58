"""The registry's errors: the OCI distribution spec's codes, the Docker Registry V2 codes
clients still know, and cargohold's own codes that any route may answer with."""

from __future__ import annotations

from cargohold.errors.base import RegistryError

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


class Unauthorized(RegistryError):
    """UNAUTHORIZED: no credentials, or credentials that were not accepted; the response's
    `WWW-Authenticate` says how to authenticate."""

    code = "UNAUTHORIZED"
    status = 401
    default_message = "authentication required"


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


class QueryInvalid(RegistryError):
    """QUERY_INVALID: a query parameter that fails validation, on a route without its own code."""

    code = "QUERY_INVALID"
    status = 400
    default_message = "invalid query parameter"


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


# The distribution spec's error catalogue has no code for a server that cannot serve now;
# Docker's errcode package (which clients print) has UNAVAILABLE with 503, and clients retry it.
class StoreUnavailable(RegistryError):
    """UNAVAILABLE: the metadata store cannot be reached now; retry shortly."""

    code = "UNAVAILABLE"
    status = 503
    default_message = (
        "the registry's metadata store cannot be reached right now; retry in a few seconds"
    )
