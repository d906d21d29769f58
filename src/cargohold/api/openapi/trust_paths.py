"""OpenAPI paths for signature enforcement: a project's trusted keys and its switch (served
when the signatures extension is on)."""

from __future__ import annotations

from typing import Any

from cargohold.api.openapi.common import error_response, model_response, ref

_INVALID = error_response("KEY_INVALID: the body, the key or the project name fails validation")
_DENIED = error_response("DENIED: only the project's admins (and system admins) change it")


def _project(*more: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}},
        *more,
    ]


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


PATHS: dict[str, Any] = {
    "/api/v1/projects/{project}/trust": {
        "parameters": _project(),
        "get": {
            "operationId": "getTrustPolicy",
            "summary": "Whether the project enforces signatures on pull, and the keys it trusts"
            " (whoever may pull from it)",
            "responses": {
                "200": model_response("The switch and the keys", "TrustPolicy"),
                "400": _INVALID,
            },
        },
        "put": {
            "operationId": "setTrustEnforcement",
            "summary": "Turn signature enforcement on or off (project admins; audited as"
            " trust.enforce). Turning it on judges every image of the project again",
            "requestBody": _body("SetEnforcement"),
            "responses": {
                "200": model_response("The switch and the keys, as changed", "TrustPolicy"),
                "400": _INVALID,
                "403": _DENIED,
            },
        },
    },
    "/api/v1/projects/{project}/trust/keys": {
        "parameters": _project(),
        "get": {
            "operationId": "listTrustedKeys",
            "summary": "The public keys the project trusts (whoever may pull from it)",
            "responses": {
                "200": model_response("The keys, oldest first", "TrustedKeyList"),
                "400": _INVALID,
            },
        },
        "post": {
            "operationId": "addTrustedKey",
            "summary": "Trust a public key (cosign.pub) in the project (project admins; audited"
            " as trust.key.add)",
            "requestBody": _body("AddTrustedKey"),
            "responses": {
                "201": model_response("The key as trusted", "TrustedKey"),
                "400": _INVALID,
                "403": _DENIED,
                "409": error_response("KEY_EXISTS: the project trusts this key already"),
            },
        },
    },
    "/api/v1/projects/{project}/trust/keys/{fingerprint}": {
        "parameters": _project(
            {
                "name": "fingerprint",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "sha256: and 16 hex digits, as `cargohold verify` prints it",
            }
        ),
        "delete": {
            "operationId": "removeTrustedKey",
            "summary": "Stop trusting a key (project admins; audited as trust.key.remove)",
            "responses": {
                "204": {"description": "Removed"},
                "400": _INVALID,
                "403": _DENIED,
                "404": error_response("KEY_UNKNOWN: the project trusts no key with it"),
            },
        },
    },
}
