"""OpenAPI paths for background jobs and the audit log."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import ERROR, model_response, ref


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
        _job("audit-purge", {}),
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
            "summary": "The audit log, newest first: who did what, when, from where, to what, "
            "and how it went; filtered, a page at a time or exported as JSON lines",
            "parameters": [
                *(
                    {
                        "name": name,
                        "in": "query",
                        "description": f"Only entries whose {name} is exactly this",
                        "schema": {"type": "string", "maxLength": 255},
                    }
                    for name in ("actor", "action", "project", "repository")
                ),
                {
                    "name": "result",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["ok", "denied", "failed"]},
                },
                *(
                    {
                        "name": name,
                        "in": "query",
                        "description": description
                        + ": RFC 3339 (2026-03-01T12:00:00Z), a date (midnight UTC) or UNIX "
                        "seconds",
                        "schema": {"type": "string"},
                    }
                    for name, description in (
                        ("since", "Entries at or after this time"),
                        ("until", "Entries before this time"),
                    )
                ),
                {
                    "name": "limit",
                    "in": "query",
                    "description": "Entries per page (default 100, at most 1000; `n` is the "
                    "same); with format=jsonl, the most lines to send (default: all)",
                    "schema": {"type": "integer", "minimum": 1},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "description": "The `next` of the previous page, unchanged",
                    "schema": {"type": "string"},
                },
                {
                    "name": "format",
                    "in": "query",
                    "description": "json (a page) or jsonl (every matching entry, one "
                    "AuditEvent per line, streamed)",
                    "schema": {"type": "string", "enum": ["json", "jsonl"]},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of entries newest first, with the next page's "
                    "cursor (a Link header too); or, with format=jsonl, one entry per line",
                    "content": {
                        "application/json": {"schema": ref("AuditList")},
                        "application/x-ndjson": {"schema": ref("AuditEvent")},
                    },
                },
                "400": {
                    "description": "QUERY_INVALID: a filter, time, cursor or format that "
                    "cannot be used (detail.parameter names it); PAGINATION_NUMBER_INVALID: a "
                    "limit that is not a whole number of 1 or more",
                    "content": {"application/json": {"schema": ERROR}},
                },
            },
        }
    },
}
