"""The OpenAPI components (schemas) of the admin API."""

from __future__ import annotations

from typing import Any

_NULLABLE_TIME = {"type": ["number", "null"], "description": "UNIX seconds"}
COMPONENTS: dict[str, Any] = {
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
}
