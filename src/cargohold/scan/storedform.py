"""Inventories and findings as plain JSON values, and back.

The registry stores each scanned manifest's inventory in this form (re-evaluated against a
new database without unpacking layers again) and sends scan results to `cargohold scan`
in it, which renders them with the same report writers as a local scan.
"""

from __future__ import annotations

from typing import Any

from cargohold.scan.findings import Finding, PlatformResult, ScanResult, Severity
from cargohold.scan.model import Inventory, LayerRef, OSInfo, Package, Platform, Problem

FORMAT_VERSION = 1


def _layer(data: dict[str, Any]) -> LayerRef:
    return LayerRef(int(data["index"]), str(data["digest"]))


def layer_to_json(layer: LayerRef) -> dict[str, Any]:
    return {"index": layer.index, "digest": layer.digest}


def package_to_json(package: Package) -> dict[str, Any]:
    return {
        "type": package.type,
        "name": package.name,
        "version": package.version,
        "purl": package.purl,
        "layer": layer_to_json(package.layer),
        "location": package.location,
        "sourceName": package.source_name,
        "sourceVersion": package.source_version,
        "arch": package.arch,
        "owner": package.owner,
    }


def package_from_json(data: dict[str, Any]) -> Package:
    return Package(
        type=data["type"],
        name=data["name"],
        version=data["version"],
        purl=data["purl"],
        layer=_layer(data["layer"]),
        location=data["location"],
        source_name=data.get("sourceName"),
        source_version=data.get("sourceVersion"),
        arch=data.get("arch"),
        owner=data.get("owner"),
    )


def inventory_to_json(inventory: Inventory) -> dict[str, Any]:
    platform = inventory.platform
    os = inventory.os
    return {
        "v": FORMAT_VERSION,
        "inventoryVersion": inventory.version,
        "digest": inventory.digest,
        "platform": None
        if platform is None
        else {
            "os": platform.os,
            "architecture": platform.architecture,
            "variant": platform.variant,
        },
        "os": None
        if os is None
        else {
            "id": os.id,
            "versionId": os.version_id,
            "name": os.name,
            "prettyName": os.pretty_name,
            "versionCodename": os.version_codename,
            "idLike": list(os.id_like),
        },
        "layers": [layer_to_json(layer) for layer in inventory.layers],
        "packages": [package_to_json(p) for p in inventory.packages],
        "problems": [
            {
                "code": p.code,
                "message": p.message,
                "location": p.location,
                "layer": None if p.layer is None else layer_to_json(p.layer),
            }
            for p in inventory.problems
        ],
    }


def inventory_from_json(data: dict[str, Any]) -> Inventory:
    platform = data.get("platform")
    os = data.get("os")
    return Inventory(
        digest=data["digest"],
        platform=None
        if platform is None
        else Platform(platform["os"], platform["architecture"], platform.get("variant")),
        os=None
        if os is None
        else OSInfo(
            id=os["id"],
            version_id=os.get("versionId"),
            name=os.get("name"),
            pretty_name=os.get("prettyName"),
            version_codename=os.get("versionCodename"),
            id_like=tuple(os.get("idLike") or ()),
        ),
        layers=[_layer(layer) for layer in data.get("layers", [])],
        packages=[package_from_json(p) for p in data.get("packages", [])],
        problems=[
            Problem(
                p["code"],
                p["message"],
                p.get("location"),
                _layer(p["layer"]) if p.get("layer") else None,
            )
            for p in data.get("problems", [])
        ],
        # Stored before versions were recorded: the first version.
        version=int(data.get("inventoryVersion", 1)),
    )


def finding_to_json(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "recordId": finding.record_id,
        "aliases": list(finding.aliases),
        "package": package_to_json(finding.package),
        "installedVersion": finding.installed_version,
        "fixedVersion": finding.fixed_version,
        "severity": {
            "level": finding.severity.level,
            "score": finding.severity.score,
            "source": finding.severity.source,
        },
        "summary": finding.summary,
        "references": list(finding.references),
        "ecosystem": finding.ecosystem,
    }


def finding_from_json(data: dict[str, Any]) -> Finding:
    severity = data["severity"]
    return Finding(
        id=data["id"],
        record_id=data["recordId"],
        aliases=tuple(data.get("aliases", ())),
        package=package_from_json(data["package"]),
        installed_version=data["installedVersion"],
        fixed_version=data.get("fixedVersion"),
        severity=Severity(severity["level"], severity.get("score"), severity.get("source", "")),
        summary=data.get("summary"),
        references=tuple(data.get("references", ())),
        ecosystem=data.get("ecosystem", ""),
    )


def result_to_json(result: ScanResult) -> dict[str, Any]:
    return {
        "target": result.target,
        "dbVersion": result.db_version,
        "platforms": [
            {
                "inventory": inventory_to_json(p.inventory),
                "findings": [finding_to_json(f) for f in p.findings],
            }
            for p in result.platforms
        ],
    }


def result_from_json(data: dict[str, Any]) -> ScanResult:
    return ScanResult(
        target=data["target"],
        platforms=[
            PlatformResult(
                inventory_from_json(p["inventory"]),
                [finding_from_json(f) for f in p.get("findings", [])],
            )
            for p in data["platforms"]
        ],
        db_version=data.get("dbVersion"),
    )
