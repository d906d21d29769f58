"""The OpenAPI components (schemas) of the admin API."""

from __future__ import annotations

from typing import Any

import msgspec

from cargohold.api.models import NAMED_UNIONS, REQUEST_MODELS, RESPONSE_MODELS

# Component schemas generated from the response models the server encodes with.
_UNION_SCHEMAS, GENERATED = msgspec.json.schema_components(
    list(NAMED_UNIONS.values()), ref_template="#/components/schemas/{name}"
)
_, _MODEL_SCHEMAS = msgspec.json.schema_components(
    [*RESPONSE_MODELS, *REQUEST_MODELS], ref_template="#/components/schemas/{name}"
)
GENERATED.update(_MODEL_SCHEMAS)
GENERATED.update(zip(NAMED_UNIONS, _UNION_SCHEMAS, strict=True))
# Request bodies and the documents not yet generated from a model.
HAND_WRITTEN: dict[str, Any] = {
    # The body of POST /api/v1/tag-rules (the response is the generated TagRule).
    "TagRuleRequest": {
        "type": "object",
        "required": ["scope", "target"],
        "properties": {
            "kind": {"type": "string", "enum": ["immutable", "deny-latest"]},
            "scope": {"type": "string", "enum": ["project", "repository"]},
            "target": {"type": "string"},
            "pattern": {"type": "string"},
            "patternKind": {"type": "string", "enum": ["glob", "regex"]},
            "excludes": {"type": "array", "items": {"type": "string"}},
        },
    },
}
# The renderings of a scan result that keep another format's shape (?format= of GET .../scan):
# described, not modelled; each names the keys that tell it apart from the stored ScanResult.
FOREIGN: dict[str, Any] = {
    "ScanReportJson": {
        "type": "object",
        "description": "format=json: the report `cargohold scan --format json` writes, a shape "
        "of its own versioned by schemaVersion (docs/scanning.md, Output formats); its keys "
        "are not renamed with the admin API's",
        "required": ["schemaVersion", "target", "dbVersion", "results"],
    },
    "SarifLog": {
        "type": "object",
        "description": "format=sarif: a SARIF 2.1.0 log, as GitHub code scanning accepts it",
        "required": ["version", "$schema", "runs"],
    },
    "CycloneDxBom": {
        "type": "object",
        "description": "format=cyclonedx: a CycloneDX 1.5 JSON SBOM with its vulnerabilities",
        "required": ["bomFormat", "specVersion"],
    },
    "SpdxDocument": {
        "type": "object",
        "description": "format=spdx: an SPDX 2.3 JSON document",
        "required": ["spdxVersion", "SPDXID"],
    },
}
assert not set(GENERATED) & set(HAND_WRITTEN), "a schema is generated or hand-written, not both"
assert not (set(GENERATED) | set(HAND_WRITTEN)) & set(FOREIGN)
COMPONENTS: dict[str, Any] = {"schemas": {**GENERATED, **HAND_WRITTEN, **FOREIGN}}
