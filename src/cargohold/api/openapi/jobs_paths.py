"""OpenAPI paths for background jobs and the audit log."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import ERROR, model_response


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


PATHS: dict[str, Any] = {
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
                "200": model_response("Job runs, newest first", "JobList"),
                "400": {
                    "description": "JOB_INVALID: unknown kind or state",
                    "content": {"application/json": {"schema": ERROR}},
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
                "202": model_response("Queued", "JobRun"),
                "400": {
                    "description": "JOB_INVALID: unknown kind, unknown or missing argument, "
                    "an argument of the wrong type or an invalid value",
                    "content": {"application/json": {"schema": ERROR}},
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
                "200": model_response("The run, with its result or error once finished", "JobRun"),
                "404": {
                    "description": "JOB_UNKNOWN",
                    "content": {"application/json": {"schema": ERROR}},
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
            "responses": {"200": model_response("The newest events first", "AuditList")},
        }
    },
}
