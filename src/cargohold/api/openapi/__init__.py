"""The OpenAPI 3.1 description of the admin API, assembled from one module per concern."""

from __future__ import annotations

import re
from typing import Any

from cargohold import __version__
from cargohold.api.openapi import (
    accounts_paths,
    admission_paths,
    analysis_paths,
    jobs_paths,
    policy_paths,
    registry_paths,
    scanning_paths,
    trust_paths,
)
from cargohold.api.openapi.common import error_response
from cargohold.api.openapi.components import COMPONENTS

_PATHS: dict[str, Any] = {
    **registry_paths.PATHS,
    **policy_paths.PATHS,
    **scanning_paths.PATHS,
    **analysis_paths.PATHS,
    **jobs_paths.PATHS,
    **accounts_paths.PATHS,
    **trust_paths.PATHS,
    **admission_paths.PATHS,
}
# The order the paths are listed in the served document.
_ORDER = [
    "/api/v1/system",
    "/api/v1/repositories",
    "/api/v1/repositories/{name}/tags",
    "/api/v1/tag-rules",
    "/api/v1/tag-rules/{id}",
    "/api/v1/holds",
    "/api/v1/holds/{id}",
    "/api/v1/gc",
    "/api/v1/fsck",
    "/api/v1/projects/{project}/quota",
    "/api/v1/storage",
    "/api/v1/repositories/{name}/manifests/{reference}/scan",
    "/api/v1/repositories/{name}/manifests/{reference}/analysis",
    "/api/v1/scan-policies",
    "/api/v1/projects/{project}/scan-policy",
    "/api/v1/cve-allowlist",
    "/api/v1/cve-allowlist/{entry_id}",
    "/api/v1/vulnerabilities/overdue",
    "/api/v1/vulndb",
    "/api/v1/vulndb/import",
    "/api/v1/jobs",
    "/api/v1/jobs/{job_id}",
    "/api/v1/audit",
    "/api/v1/repositories/{name}/lifecycle",
    "/api/v1/repositories/{name}/lifecycle/apply",
    "/api/v1/repositories/{name}/lifecycle/preview",
    "/api/v1/users",
    "/api/v1/users/me",
    "/api/v1/users/{name}",
    "/api/v1/users/{name}/password",
    "/api/v1/users/{name}/tokens",
    "/api/v1/users/{name}/tokens/{token}",
    "/api/v1/projects",
    "/api/v1/projects/{project}",
    "/api/v1/projects/{project}/members",
    "/api/v1/projects/{project}/members/{user}",
    "/api/v1/projects/{project}/trust",
    "/api/v1/projects/{project}/trust/keys",
    "/api/v1/projects/{project}/trust/keys/{fingerprint}",
    "/api/v1/admission",
    "/api/v1/admission/mutate",
    "/api/v1/admission/clusters/{cluster}",
    "/api/v1/admission/clusters/{cluster}/mutate",
    "/api/v1/repositories/{name}/admissions",
    "/api/v1/robots",
    "/api/v1/robots/{name}",
    "/api/v1/robots/{name}/refresh",
    "/api/v1/robots/{name}/revoke",
]
assert sorted(_ORDER) == sorted(_PATHS), "every path module's paths are listed in _ORDER"


def path_shape(path: str) -> str:
    """A route's path with its parameters blanked: `/a/{name:path}/b` and `/a/{name}/b` match."""
    return re.sub(r"\{\w+(:\w+)?\}", "{}", path)


def served_document(served_paths: set[str]) -> dict[str, Any]:
    """The document with only the paths a server serves (an extension that is off, such as
    scanning, has no routes and no paths); `served_paths` are its routes' paths."""
    served = {path_shape(path) for path in served_paths}
    paths = {path: ops for path, ops in OPENAPI["paths"].items() if path_shape(path) in served}
    return {**OPENAPI, "paths": paths}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "cargohold admin API",
        "version": __version__,
        "description": "Administration of a cargohold registry. The OCI distribution API "
        "lives under /v2/ and is described by the OCI distribution specification.",
    },
    "paths": {path: _PATHS[path] for path in _ORDER},
    "components": COMPONENTS,
}

# Every operation that takes a body may refuse it the same ways (api/bodies.py, api/bodyguard.py).
_BODY_ERRORS = {
    "408": error_response("SIZE_INVALID: the body stopped arriving for body_read_timeout_seconds"),
    "413": error_response(
        "SIZE_INVALID: the body is over its limit (max_json_body_bytes for JSON; 64 KiB for a "
        "lifecycle policy; max_vulndb_import_bytes for an import)"
    ),
    "429": error_response(
        "TOOMANYREQUESTS: this client address has max_uploads_per_client requests with a body in "
        "flight; see Retry-After"
    ),
}
for _operations in OPENAPI["paths"].values():
    for _operation in _operations.values():
        if isinstance(_operation, dict) and "requestBody" in _operation:
            for _status, _response in _BODY_ERRORS.items():
                _operation["responses"].setdefault(_status, _response)
