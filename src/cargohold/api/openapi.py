"""The OpenAPI 3.1 description of the admin API."""

from __future__ import annotations

from typing import Any

from cargohold import __version__

_ERROR = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "detail": {},
                },
            },
        }
    },
}


def _error_response(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


ERR_SCAN_UNKNOWN = _error_response("SCAN_UNKNOWN (not scanned yet), NAME_UNKNOWN, MANIFEST_UNKNOWN")
ERR_MANIFEST_UNKNOWN = _error_response("NAME_UNKNOWN or MANIFEST_UNKNOWN")
ERR_SCAN_POLICY = _error_response("SCAN_POLICY_INVALID")
ERR_ALLOWLIST = _error_response("ALLOWLIST_INVALID")
ERR_ALLOWLIST_UNKNOWN = _error_response("ALLOWLIST_UNKNOWN")
ERR_VULNDB_IMPORT = _error_response(
    "VULNDB_IMPORT_INVALID: not OSV records, or a zip over the expansion limits (zip bomb)"
)


def _job(kind: str, args: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    arg_schema: dict[str, Any] = {
        "type": "object",
        "properties": args,
        "additionalProperties": False,
    }
    if required:
        arg_schema["required"] = required
    body: dict[str, Any] = {
        "type": "object",
        "properties": {"kind": {"const": kind}, "args": arg_schema},
        "required": ["kind", *(["args"] if required else [])],
        "additionalProperties": False,
    }
    return body


_JOB_REQUEST = {
    "oneOf": [
        _job("gc", {"untagged": {"type": "boolean"}, "dryRun": {"type": "boolean"}}),
        _job("lifecycle", {"repository": {"type": "string"}}),
        _job(
            "scan",
            {
                "repository": {"type": "string"},
                "digest": {"type": "string"},
                "rescan": {"type": "boolean"},
            },
            ["repository", "digest"],
        ),
        _job("vulndb-update", {}),
        _job("reevaluate", {}),
    ]
}

_NULLABLE_TIME = {"type": ["number", "null"], "description": "UNIX seconds"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "cargohold admin API",
        "version": __version__,
        "description": "Administration of a cargohold registry. The OCI distribution API "
        "lives under /v2/ and is described by the OCI distribution specification.",
    },
    "paths": {
        "/api/v1/system": {
            "get": {
                "operationId": "getSystemInfo",
                "summary": "Version, storage driver, metadata store and object counts",
                "responses": {
                    "200": {
                        "description": "System information",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/System"}}
                        },
                    }
                },
            }
        },
        "/api/v1/repositories": {
            "get": {
                "operationId": "listRepositories",
                "summary": "Repositories with manifest and tag counts and sizes, by name",
                "parameters": [
                    {"name": "n", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "last", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "A page of repositories; a Link header points to the next",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "repositories": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Repository"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "400": {
                        "description": "Invalid pagination",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
        "/api/v1/repositories/{name}/tags": {
            "get": {
                "operationId": "listRepositoryTags",
                "summary": "Tags of a repository with digest, size, push and last pull time",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "description": "Repository name; may contain slashes",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The repository's tags",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string"},
                                        "tags": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Tag"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "400": {
                        "description": "Invalid repository name",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                    "404": {
                        "description": "Unknown repository",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
        "/api/v1/tag-rules": {
            "get": {
                "operationId": "listTagRules",
                "summary": "Tag rules: immutable tag patterns and deny-latest",
                "responses": {"200": {"description": "{rules: [TagRule]}"}},
            },
            "post": {
                "operationId": "addTagRule",
                "summary": "Add a tag rule (recorded in the audit trail)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/TagRule"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "The stored rule with its id",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/TagRule"}}
                        },
                    },
                    "400": {
                        "description": "RULE_INVALID",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
        },
        "/api/v1/tag-rules/{id}": {
            "delete": {
                "operationId": "removeTagRule",
                "summary": "Remove a tag rule (recorded in the audit trail)",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "204": {"description": "Removed"},
                    "404": {
                        "description": "RULE_UNKNOWN",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
        "/api/v1/holds": {
            "get": {
                "operationId": "listHolds",
                "summary": "Retention holds",
                "responses": {"200": {"description": "{holds: [Hold]}"}},
            },
            "post": {
                "operationId": "addHold",
                "summary": "Put a retention hold on a project, repository or image",
                "description": "Body: {scope: project|repository|image, target, digest (image "
                "holds only), reason, until (optional ISO 8601 date, exclusive)}. Recorded in "
                "the audit trail.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "201": {"description": "The stored hold with its id"},
                    "400": {
                        "description": "HOLD_INVALID",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
        },
        "/api/v1/holds/{id}": {
            "delete": {
                "operationId": "releaseHold",
                "summary": "Release a retention hold (recorded in the audit trail)",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "204": {"description": "Released"},
                    "404": {
                        "description": "HOLD_UNKNOWN",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
        "/api/v1/gc": {
            "post": {
                "operationId": "garbageCollect",
                "summary": "Run online garbage collection (or a dry run), streaming progress",
                "parameters": [{"name": "dryRun", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {
                    "200": {
                        "description": "JSON lines: start (candidates), progress after each "
                        "batch, then done (report: blobs, bytes, uploads_expired, seconds) or "
                        "error",
                        "content": {"application/x-ndjson": {"schema": {"type": "object"}}},
                    },
                    "409": {
                        "description": "GC_RUNNING: a collection is already running here",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
        "/api/v1/fsck": {
            "post": {
                "operationId": "fsck",
                "summary": "Check blob records against stored bytes; repair on request",
                "parameters": [
                    {"name": "repair", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "verifyContent", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": {
                        "description": "JSON lines: progress (phase rows|objects, checked), "
                        "then done (report: checked_rows, checked_objects, missing, "
                        "missing_bytes, damaged, orphans, orphan_bytes, repaired, examples, "
                        "seconds) or error",
                        "content": {"application/x-ndjson": {"schema": {"type": "object"}}},
                    },
                },
            }
        },
        "/api/v1/projects/{project}/quota": {
            "parameters": [
                {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getProjectQuota",
                "summary": (
                    "A project's quota and usage (distinct blobs its manifests reference, "
                    "plus those of pushes in flight)"
                ),
                "responses": {"200": {"description": "{project, limitBytes, usageBytes}"}},
            },
            "put": {
                "operationId": "setProjectQuota",
                "summary": "Set a project's storage quota (audited)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "limitBytes": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "maximum": 2**63 - 1,
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "{project, limitBytes, usageBytes}"},
                    "400": {
                        "description": "QUOTA_INVALID",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
            "delete": {
                "operationId": "removeProjectQuota",
                "summary": "Remove a project's storage quota (audited)",
                "responses": {
                    "204": {"description": "Removed"},
                    "404": {
                        "description": "QUOTA_UNKNOWN",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
        },
        "/api/v1/storage": {
            "get": {
                "operationId": "getStorageReport",
                "summary": "Logical, unique and shared bytes per project and repository, stored "
                "bytes, deduplication ratio and bytes reclaimable by garbage collection",
                "responses": {"200": {"description": "The storage report"}},
            }
        },
        "/api/v1/repositories/{name}/manifests/{reference}/scan": {
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "reference",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "a tag or a digest",
                },
            ],
            "get": {
                "operationId": "getScanResult",
                "summary": "The stored scan of an image (an index: every platform)",
                "parameters": [
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["stored", "json", "sarif", "cyclonedx", "spdx"],
                        },
                        "description": "stored (default): inventories and findings, as "
                        "`cargohold scan` reads them; the others as `cargohold scan --format`",
                    }
                ],
                "responses": {
                    "200": {
                        "description": "{target, dbVersion, platforms: [{inventory, findings}]}"
                    },
                    "404": ERR_SCAN_UNKNOWN,
                },
            },
            "post": {
                "operationId": "scanImage",
                "summary": "Queue a scan of the image now (?rescan=true reads its layers again)",
                "parameters": [{"name": "rescan", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {
                    "202": {"description": "the queued job: {id, kind: scan, state, ...}"},
                    "404": ERR_MANIFEST_UNKNOWN,
                },
            },
        },
        "/api/v1/scan-policies": {
            "get": {
                "operationId": "listScanPolicies",
                "summary": "Every project's scan policy",
                "responses": {"200": {"description": "{policies: [ScanPolicy]}"}},
            }
        },
        "/api/v1/projects/{project}/scan-policy": {
            "parameters": [
                {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getScanPolicy",
                "summary": "A project's scan policy (the defaults when none is set)",
                "responses": {
                    "200": {
                        "description": "{project, scanOnPush, preventSeverity, "
                        "preventUnscanned, default}"
                    }
                },
            },
            "put": {
                "operationId": "putScanPolicy",
                "summary": "Set scan on push and pull prevention for a project (audited)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "scanOnPush": {"type": ["boolean", "null"]},
                                    "preventSeverity": {
                                        "type": ["string", "null"],
                                        "enum": ["CRITICAL", "HIGH", "MEDIUM", "LOW", None],
                                    },
                                    "preventUnscanned": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "the policy"}, "400": ERR_SCAN_POLICY},
            },
            "delete": {
                "operationId": "removeScanPolicy",
                "summary": "Back to the defaults (audited)",
                "responses": {"204": {"description": "removed"}},
            },
        },
        "/api/v1/cve-allowlist": {
            "get": {
                "operationId": "listAllowlist",
                "summary": "CVE allowlist entries (?project= adds the system-wide ones)",
                "parameters": [{"name": "project", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "{entries: [AllowlistEntry]}"},
                    "400": ERR_ALLOWLIST,
                },
            },
            "post": {
                "operationId": "addAllowlistEntry",
                "summary": "Allow a vulnerability system-wide or in a project, until an optional "
                "expiry (audited)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "project": {"type": "string"},
                                    "reason": {"type": "string"},
                                    "expiresAt": {
                                        "type": ["number", "null"],
                                        "minimum": 0,
                                        "maximum": 2**63 - 1,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "the entry"}, "400": ERR_ALLOWLIST},
            },
        },
        "/api/v1/cve-allowlist/{entry_id}": {
            "parameters": [
                {"name": "entry_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "delete": {
                "operationId": "removeAllowlistEntry",
                "summary": "Remove an allowlist entry (audited)",
                "responses": {"204": {"description": "removed"}, "404": ERR_ALLOWLIST_UNKNOWN},
            },
        },
        "/api/v1/vulnerabilities/overdue": {
            "get": {
                "operationId": "overdueFindings",
                "summary": "Findings past their remediation deadline, by image",
                "parameters": [
                    {"name": "project", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "at",
                        "in": "query",
                        "schema": {"type": "number"},
                        "description": "judge as of this UNIX time (default: now)",
                    },
                ],
                "responses": {
                    "200": {"description": "{sla, findings: [...], images: [...]}"},
                    "400": _error_response("SCAN_INVALID: project or at malformed"),
                },
            }
        },
        "/api/v1/vulndb": {
            "get": {
                "operationId": "vulnDbStatus",
                "summary": "The registry's vulnerability database: version, records, sources",
                "responses": {"200": {"description": "{version, updatedAt, records, sources}"}},
            }
        },
        "/api/v1/vulndb/import": {
            "post": {
                "operationId": "vulnDbImport",
                "summary": "Import OSV records (a zip export or JSON); stored scans are then "
                "re-evaluated by a job",
                "parameters": [
                    {"name": "name", "in": "query", "schema": {"type": "string"}},
                    {"name": "location", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "full",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "description": "a full export prunes this source's records it lacks "
                        "(default: true for a zip)",
                    },
                    {
                        "name": "allowEmpty",
                        "in": "query",
                        "schema": {"type": "boolean", "default": False},
                        "description": "let a full export that holds none of the source's "
                        "records remove them all (refused with 409 otherwise)",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/zip": {"schema": {"type": "string", "format": "binary"}},
                        "application/json": {"schema": {}},
                    },
                },
                "responses": {
                    "200": {"description": "the import's counts, and reevaluationJob"},
                    "400": ERR_VULNDB_IMPORT,
                    "409": _error_response(
                        "VULNDB_IMPORT_REFUSED: the import would remove every record of its "
                        "source; its records are kept"
                    ),
                },
            }
        },
        "/api/v1/jobs": {
            "get": {
                "operationId": "listJobs",
                "summary": "Recent job runs (gc, lifecycle), newest first",
                "parameters": [
                    {"name": "n", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "kind", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["queued", "running", "succeeded", "failed"],
                        },
                    },
                ],
                "responses": {
                    "200": {"description": "{jobs: [JobRun]}"},
                    "400": {
                        "description": "JOB_INVALID: unknown kind or state",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
            "post": {
                "operationId": "submitJob",
                "summary": "Queue a job now: {kind, args: {...}}; arguments are checked here",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _JOB_REQUEST}},
                },
                "responses": {
                    "202": {
                        "description": "Queued: {id, kind, args, state, trigger, createdAt, ...}"
                    },
                    "400": {
                        "description": "JOB_INVALID: unknown kind, unknown or missing argument, "
                        "an argument of the wrong type or an invalid value",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
        },
        "/api/v1/jobs/{job_id}": {
            "parameters": [
                {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getJob",
                "summary": "One job run: state, timings, result or error",
                "responses": {
                    "200": {"description": "{id, kind, args, state, result, error, ...}"},
                    "404": {
                        "description": "JOB_UNKNOWN",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
        },
        "/api/v1/audit": {
            "get": {
                "operationId": "listAuditEvents",
                "summary": "Administrative changes, newest first: who, when, what",
                "parameters": [
                    {"name": "n", "in": "query", "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {
                    "200": {"description": "{events: [{id, at, actor, action, target, detail}]}"}
                },
            }
        },
        "/api/v1/repositories/{name}/lifecycle": {
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getLifecyclePolicy",
                "summary": "The repository's stored lifecycle policy",
                "responses": {
                    "200": {"description": "{repositoryName, lifecyclePolicyText}"},
                    "404": {
                        "description": "POLICY_UNKNOWN or NAME_UNKNOWN",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
            "put": {
                "operationId": "putLifecyclePolicy",
                "summary": "Validate and store a lifecycle policy (audited); answers its preview",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {
                        "description": "Stored; what it would expire now",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LifecyclePreview"}
                            }
                        },
                    },
                    "400": {
                        "description": "POLICY_INVALID",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            },
            "delete": {
                "operationId": "deleteLifecyclePolicy",
                "summary": "Remove the repository's lifecycle policy (audited)",
                "responses": {"204": {"description": "Removed"}},
            },
        },
        "/api/v1/repositories/{name}/lifecycle/apply": {
            "post": {
                "operationId": "applyLifecyclePolicy",
                "summary": "Run the stored policy: delete what it expires, each deletion audited",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "What was deleted (`deleted` counts manifests) and "
                        "which expiring images were kept because they changed since the "
                        "evaluation (`skipped`)",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LifecyclePreview"}
                            }
                        },
                    },
                    "404": {
                        "description": "POLICY_UNKNOWN or NAME_UNKNOWN",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
        "/api/v1/repositories/{name}/lifecycle/preview": {
            "post": {
                "operationId": "previewLifecyclePolicy",
                "summary": "Dry-run an ECR lifecycle policy against a repository",
                "description": "The body is an AWS ECR lifecycle policy document, unchanged. "
                "The answer has the shape of ECR's GetLifecyclePolicyPreview response "
                "(previewResults lists the expiring images) plus every image with its "
                "action, the bytes the policy would free and warnings.",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {
                        "description": "The preview; nothing is deleted",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LifecyclePreview"}
                            }
                        },
                    },
                    "400": {
                        "description": "POLICY_INVALID (detail.problems lists every problem)",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                    "404": {
                        "description": "Unknown repository",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        },
    },
    "components": {
        "schemas": {
            "System": {
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "python": {"type": "string"},
                    "storage": {"type": "object", "properties": {"driver": {"type": "string"}}},
                    "metadata": {"type": "object", "properties": {"dialect": {"type": "string"}}},
                    "counts": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                    "disk": {
                        "type": "object",
                        "description": "Free space of the data directory's filesystem",
                        "properties": {
                            "path": {"type": "string"},
                            "totalBytes": {"type": "integer"},
                            "freeBytes": {"type": "integer"},
                            "reserveBytes": {
                                "type": "integer",
                                "description": "Space kept for deletes on a full disk "
                                "(disk_reserve_bytes)",
                            },
                            "reserveHeld": {"type": "boolean"},
                            "diskFull": {
                                "type": "boolean",
                                "description": "Pushes are refused with 507 DISK_FULL until "
                                "deletes and garbage collection free space",
                            },
                            "lowSpace": {"type": "boolean"},
                        },
                    },
                },
            },
            "Repository": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "manifests": {"type": "integer"},
                    "tags": {"type": "integer"},
                    "size_bytes": {
                        "type": "integer",
                        "description": (
                            "Distinct blobs its manifests reference or a push in flight "
                            "uploaded, plus its manifests"
                        ),
                    },
                    "last_pushed_at": _NULLABLE_TIME,
                },
            },
            "LifecyclePreview": {
                "type": "object",
                "properties": {
                    "repositoryName": {"type": "string"},
                    "lifecyclePolicyText": {"type": "string"},
                    "status": {"type": "string", "enum": ["COMPLETE"]},
                    "previewResults": {"type": "array", "items": {"type": "object"}},
                    "summary": {
                        "type": "object",
                        "properties": {"expiringImageTotalCount": {"type": "integer"}},
                    },
                    "images": {"type": "array", "items": {"type": "object"}},
                    "bytesFreed": {"type": "integer"},
                    "deleted": {
                        "type": "integer",
                        "description": "apply: manifests deleted (0 in a preview)",
                    },
                    "deletedImages": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "apply: digests of the expiring images deleted",
                    },
                    "skipped": {
                        "type": "array",
                        "description": "apply: expiring manifests kept because they changed "
                        "since the evaluation",
                        "items": {
                            "type": "object",
                            "properties": {
                                "imageDigest": {"type": "string"},
                                "reason": {
                                    "type": "string",
                                    "description": "tags changed, pushed again, held by hold "
                                    "ID, already gone, listed by DIGEST or kept with DIGEST",
                                },
                            },
                        },
                    },
                    "dependentManifestsExpiring": {"type": "integer"},
                    "warnings": {"type": "array", "items": {"type": "string"}},
                },
            },
            "TagRule": {
                "type": "object",
                "required": ["scope", "target"],
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "kind": {"type": "string", "enum": ["immutable", "deny-latest"]},
                    "scope": {"type": "string", "enum": ["project", "repository"]},
                    "target": {"type": "string"},
                    "pattern": {"type": "string"},
                    "patternKind": {"type": "string", "enum": ["glob", "regex"]},
                    "excludes": {"type": "array", "items": {"type": "string"}},
                    "description": {"type": "string", "readOnly": True},
                },
            },
            "Tag": {
                "type": "object",
                "properties": {
                    "tag": {"type": "string"},
                    "digest": {"type": "string"},
                    "media_type": {"type": "string"},
                    "size_bytes": {
                        "type": "integer",
                        "description": "The manifest plus the distinct blobs it references, "
                        "index children included",
                    },
                    "pushed_at": {"type": "number", "description": "UNIX seconds"},
                    "tagged_at": {"type": "number", "description": "UNIX seconds"},
                    "last_pulled_at": _NULLABLE_TIME,
                },
            },
        }
    },
}

# Every operation that takes a body may refuse it the same ways (api/bodies.py, api/bodyguard.py).
_BODY_ERRORS = {
    "408": _error_response("SIZE_INVALID: the body stopped arriving for body_read_timeout_seconds"),
    "413": _error_response(
        "SIZE_INVALID: the body is over its limit (max_json_body_bytes for JSON; 64 KiB for a "
        "lifecycle policy; max_vulndb_import_bytes for an import)"
    ),
    "429": _error_response(
        "TOOMANYREQUESTS: this client address has max_uploads_per_client requests with a body in "
        "flight; see Retry-After"
    ),
}
for _operations in OPENAPI["paths"].values():
    for _operation in _operations.values():
        if isinstance(_operation, dict) and "requestBody" in _operation:
            for _status, _response in _BODY_ERRORS.items():
                _operation["responses"].setdefault(_status, _response)
