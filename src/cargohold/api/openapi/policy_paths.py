"""OpenAPI paths for retention policy: tag rules, holds, quotas and lifecycle."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import ERROR, model_response

PATHS: dict[str, Any] = {
    "/api/v1/tag-rules": {
        "get": {
            "operationId": "listTagRules",
            "summary": "Tag rules: immutable tag patterns and deny-latest",
            "responses": {"200": model_response("Every tag rule", "TagRuleList")},
        },
        "post": {
            "operationId": "addTagRule",
            "summary": "Add a tag rule (recorded in the audit trail)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TagRuleRequest"}}
                },
            },
            "responses": {
                "201": model_response("The stored rule with its id", "TagRule"),
                "400": {
                    "description": "RULE_INVALID",
                    "content": {"application/json": {"schema": ERROR}},
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
                    "content": {"application/json": {"schema": ERROR}},
                },
            },
        }
    },
    "/api/v1/holds": {
        "get": {
            "operationId": "listHolds",
            "summary": "Retention holds",
            "responses": {"200": model_response("Every retention hold", "HoldList")},
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
                "201": model_response("The stored hold with its id", "Hold"),
                "400": {
                    "description": "HOLD_INVALID",
                    "content": {"application/json": {"schema": ERROR}},
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
                    "content": {"application/json": {"schema": ERROR}},
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
            "responses": {"200": model_response("The quota and usage", "Quota")},
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
                "200": model_response("The quota and usage", "Quota"),
                "400": {
                    "description": "QUOTA_INVALID",
                    "content": {"application/json": {"schema": ERROR}},
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
                    "content": {"application/json": {"schema": ERROR}},
                },
            },
        },
    },
    "/api/v1/repositories/{name}/lifecycle": {
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": {
            "operationId": "getLifecyclePolicy",
            "summary": "The repository's stored lifecycle policy",
            "responses": {
                "200": model_response("The stored policy, as ECR answers", "LifecyclePolicy"),
                "404": {
                    "description": "POLICY_UNKNOWN or NAME_UNKNOWN",
                    "content": {"application/json": {"schema": ERROR}},
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
                    "content": {"application/json": {"schema": ERROR}},
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
                    "content": {"application/json": {"schema": ERROR}},
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
                    "content": {"application/json": {"schema": ERROR}},
                },
                "404": {
                    "description": "Unknown repository",
                    "content": {"application/json": {"schema": ERROR}},
                },
            },
        }
    },
}
