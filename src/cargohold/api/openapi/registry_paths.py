"""OpenAPI paths for the registry itself: system, repositories, tags, gc, fsck and storage."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import ERROR, REPOSITORY_NAME, model_response, ref

PATHS: dict[str, Any] = {
    "/api/v1/system": {
        "get": {
            "operationId": "getSystemInfo",
            "summary": "Version, storage driver, metadata store and object counts",
            "responses": {"200": model_response("System information", "System")},
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
                "200": model_response(
                    "A page of repositories; a Link header points to the next", "RepositoryList"
                ),
                "400": {
                    "description": "Invalid pagination",
                    "content": {"application/json": {"schema": ERROR}},
                },
            },
        }
    },
    "/api/v1/repositories/{name}/tags": {
        "get": {
            "operationId": "listRepositoryTags",
            "summary": "Tags of a repository with digest, size, push and last pull time",
            "parameters": [REPOSITORY_NAME],
            "responses": {
                "200": model_response("The repository's tags", "TagList"),
                "400": {
                    "description": "Invalid repository name",
                    "content": {"application/json": {"schema": ERROR}},
                },
                "404": {
                    "description": "Unknown repository",
                    "content": {"application/json": {"schema": ERROR}},
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
                    "description": "JSON lines, each a GcEvent: start (candidates), progress "
                    "after each batch, then done (report: a GcReport) or error",
                    "content": {"application/x-ndjson": {"schema": ref("GcEvent")}},
                },
                "409": {
                    "description": "GC_RUNNING: a collection is already running here",
                    "content": {"application/json": {"schema": ERROR}},
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
                    "description": "JSON lines, each an FsckEvent: progress (phase rows|objects, "
                    "checked), then done (report: an FsckReport) or error",
                    "content": {"application/x-ndjson": {"schema": ref("FsckEvent")}},
                },
            },
        }
    },
    "/api/v1/storage": {
        "get": {
            "operationId": "getStorageReport",
            "summary": "Logical, unique and shared bytes per project and repository, stored "
            "bytes, deduplication ratio and bytes reclaimable by garbage collection",
            "responses": {"200": model_response("The storage report", "StorageReport")},
        }
    },
}
