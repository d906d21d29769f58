"""OpenAPI paths for vulnerability scanning: scans, scan policies, the CVE allowlist, the vulndb."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import error_response, model_response, ref

ERR_SCAN_UNKNOWN = error_response(
    "SCAN_UNKNOWN (not scanned yet: detail.status pending or running), NAME_UNKNOWN,"
    " MANIFEST_UNKNOWN"
)
ERR_SCAN_FAILED = error_response("SCAN_FAILED: the scan failed; detail.reason says why")
ERR_MANIFEST_UNKNOWN = error_response("NAME_UNKNOWN or MANIFEST_UNKNOWN")
ERR_SCAN_POLICY = error_response("SCAN_POLICY_INVALID")
ERR_ALLOWLIST = error_response("ALLOWLIST_INVALID")
ERR_ALLOWLIST_UNKNOWN = error_response("ALLOWLIST_UNKNOWN")
ERR_VULNDB_IMPORT = error_response(
    "VULNDB_IMPORT_INVALID: not OSV records, or a zip over the expansion limits (zip bomb)"
)


PATHS: dict[str, Any] = {
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
                    "description": "stored: a ScanResult, cargohold's own document; json, "
                    "sarif, cyclonedx, spdx: those formats, in their own shapes",
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [
                                    ref("ScanResult"),
                                    ref("ScanReportJson"),
                                    ref("SarifLog"),
                                    ref("CycloneDxBom"),
                                    ref("SpdxDocument"),
                                ]
                            }
                        }
                    },
                },
                "400": error_response("SCAN_INVALID: an unknown format"),
                "404": ERR_SCAN_UNKNOWN,
                "409": ERR_SCAN_FAILED,
            },
        },
        "post": {
            "operationId": "scanImage",
            "summary": "Queue a scan of the image now (?rescan=true reads its layers again)",
            "parameters": [{"name": "rescan", "in": "query", "schema": {"type": "boolean"}}],
            "responses": {
                "202": model_response("The queued scan job", "JobRun"),
                "404": ERR_MANIFEST_UNKNOWN,
            },
        },
    },
    "/api/v1/scan-policies": {
        "get": {
            "operationId": "listScanPolicies",
            "summary": "Every project's scan policy",
            "responses": {"200": model_response("The policies set", "ScanPolicyList")},
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
                "200": model_response("The policy", "ScanPolicy"),
                "400": ERR_SCAN_POLICY,
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
            "responses": {
                "200": model_response("The policy stored", "ScanPolicy"),
                "400": ERR_SCAN_POLICY,
            },
        },
        "delete": {
            "operationId": "removeScanPolicy",
            "summary": "Back to the defaults (audited)",
            "responses": {"204": {"description": "removed"}, "400": ERR_SCAN_POLICY},
        },
    },
    "/api/v1/cve-allowlist": {
        "get": {
            "operationId": "listAllowlist",
            "summary": "CVE allowlist entries (?project= adds the system-wide ones)",
            "parameters": [{"name": "project", "in": "query", "schema": {"type": "string"}}],
            "responses": {
                "200": model_response("The entries", "Allowlist"),
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
                                    "description": "When it stops counting: RFC 3339 with a "
                                    "zone (as responses show it) or UNIX seconds; in the "
                                    "future; null or absent: never",
                                    "anyOf": [
                                        {"type": "string", "format": "date-time"},
                                        {"type": "number", "minimum": 0, "maximum": 2**63 - 1},
                                        {"type": "null"},
                                    ],
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": model_response("The entry", "AllowlistEntry"),
                "400": ERR_ALLOWLIST,
            },
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
                    "schema": {
                        "anyOf": [
                            {"type": "string", "format": "date-time"},
                            {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
                        ]
                    },
                    "description": "judge as of this time, RFC 3339 with a zone or UNIX "
                    "seconds (default: now)",
                },
            ],
            "responses": {
                "200": model_response("The overdue findings, and by image", "OverdueReport"),
                "400": error_response("SCAN_INVALID: project or at malformed"),
            },
        }
    },
    "/api/v1/vulndb": {
        "get": {
            "operationId": "vulnDbStatus",
            "summary": "The registry's vulnerability database: version, records, sources",
            "responses": {"200": model_response("The database's status", "VulnDbStatus")},
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
                "200": model_response(
                    "The import's counts, and the reevaluate job it queued", "VulnDbImport"
                ),
                "400": ERR_VULNDB_IMPORT,
                "409": error_response(
                    "VULNDB_IMPORT_REFUSED: the import would remove every record of its "
                    "source; its records are kept"
                ),
            },
        }
    },
}
