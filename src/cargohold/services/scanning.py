"""Scanning in the registry: scan on push, stored results, re-evaluation, the pull gate.

- A scan reads an image manifest's layers straight from the blob store (no HTTP, so it is
  never counted as a pull), inventories them with scan/, matches the inventory against the
  registry's vulnerability database and stores both, by manifest digest: the same image in
  two repositories is scanned once. An index is scanned through its platform manifests.
- When the database changes, stored inventories are re-evaluated without reading layers
  again; only images with a package the change touched are matched again, the others just
  move to the new database version. Each finding keeps the time it was first seen.
- The pull gate (policy/scan_gate.py) reads only the stored results.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from cargohold.errors import (
    AllowlistInvalid,
    AllowlistUnknown,
    Denied,
    ManifestUnknown,
    ScanPolicyInvalid,
    ScanUnknown,
)
from cargohold.meta.scans import AllowlistRow, ScanPolicyRow, ScanReportRow, ScanStore
from cargohold.meta.store import MetadataStore, StoredManifest
from cargohold.meta.vulndb import PackageKey, VulnStore
from cargohold.oci import mediatypes as mt
from cargohold.oci.manifests import Manifest, parse_manifest
from cargohold.oci.names import check_name, is_valid_name, project_of
from cargohold.parsing.integers import INT64_MAX
from cargohold.policy.scan_gate import BlockingFinding, GatePolicy, ImageScan, decide
from cargohold.scan.errors import ScanError
from cargohold.scan.findings import SEVERITIES, Finding, PlatformResult, ScanResult, severity_rank
from cargohold.scan.model import Inventory, LayerRef, Platform
from cargohold.scan.storedform import (
    finding_from_json,
    finding_to_json,
    inventory_from_json,
    inventory_to_json,
    result_to_json,
)
from cargohold.storage.base import BlobDriver, LocalFiles

if TYPE_CHECKING:
    from cargohold.scan.layout import ImageToScan
    from cargohold.scan.osv import OsvRecord

# The scanning engine (inventory, matching: univers, cvss, python-debian...) is imported where
# a scan runs, not when the registry starts: serving processes that never scan stay small.

log = logging.getLogger("cargohold.scanning")

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
POLICY_CACHE_SECONDS = 2.0
MAX_CONFIG_BYTES = 4 << 20


def package_key(finding: Finding) -> str:
    p = finding.package
    return f"{p.type}:{p.name}@{p.version} {p.location}"


def is_scannable(manifest: Manifest) -> bool:
    """An image manifest whose config is an image config (not a signature, SBOM, chart...)."""
    return (
        not manifest.is_index
        and manifest.media_type in mt.IMAGE_MANIFESTS
        and manifest.config is not None
        and manifest.config.media_type in IMAGE_CONFIGS
    )


class _BlobReader(io.RawIOBase):
    """A blob read through the store's iterator, as a file object for the layer reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


@dataclass
class ScanOutcome:
    digest: str
    platforms: int = 0
    scanned: int = 0  # image manifests inventoried now
    reused: int = 0  # already scanned: only re-evaluated
    skipped: str | None = None  # why nothing was scanned (not an image)
    findings: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "platforms": self.platforms,
            "scanned": self.scanned,
            "reused": self.reused,
            "skipped": self.skipped,
            "findings": self.findings,
            "error": self.error,
        }


class ScanService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        vulndb: VulnStore[OsvRecord],
        scan_on_push: bool,
        sla_days: dict[str, int],
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.store = ScanStore(meta.db)
        self.vulndb = vulndb
        self.scan_on_push_default = scan_on_push
        self.sla_days = dict(sla_days)
        self._cache_lock = threading.Lock()
        self._cached_at = -1e9
        self._policies: dict[str, ScanPolicyRow] = {}
        self._allowlist: list[AllowlistRow] = []

    # -- reading images from the store --------------------------------------------------

    def _open_blob(self, digest: str) -> IO[bytes]:
        if isinstance(self.blobs, LocalFiles):
            return open(self.blobs.path_of(digest), "rb")
        return io.BufferedReader(_BlobReader(self.blobs.get(digest)), 1 << 20)

    def _platform(self, manifest: Manifest) -> Platform | None:
        assert manifest.config is not None
        if manifest.config.size > MAX_CONFIG_BYTES:
            return None
        try:
            config = json.loads(b"".join(self.blobs.get(manifest.config.digest)))
        except (OSError, ValueError):
            return None
        if not isinstance(config, dict) or not config.get("os"):
            return None
        return Platform(
            str(config["os"]), str(config.get("architecture", "")), config.get("variant") or None
        )

    def _image(self, digest: str, manifest: Manifest) -> ImageToScan:
        from cargohold.scan.layout import ImageToScan, Layer

        layers = [
            Layer(LayerRef(position, d.digest), lambda d=d.digest: self._open_blob(d))
            for position, d in enumerate(manifest.layers)
        ]
        return ImageToScan(digest, self._platform(manifest), layers)

    def _manifest(self, repository: str, digest: str) -> Manifest:
        stored = self.meta.find_manifest(repository, digest, True)
        if stored is None:
            raise ManifestUnknown(f"no manifest {digest} in {repository}")
        return parse_manifest(stored.content, stored.media_type)

    # -- scanning -------------------------------------------------------------------------

    def scan(self, repository: str, digest: str, rescan: bool = False) -> ScanOutcome:
        """Scan a manifest (an index through its platform manifests) and store the results."""
        check_name(repository)
        outcome = ScanOutcome(digest)
        manifest = self._manifest(repository, digest)
        if manifest.is_index:
            targets = []
            for child in manifest.children:
                try:
                    child_manifest = self._manifest(repository, child.digest)
                except ManifestUnknown:
                    continue
                if is_scannable(child_manifest):
                    targets.append((child.digest, child_manifest))
        elif is_scannable(manifest):
            targets = [(digest, manifest)]
        else:
            outcome.skipped = (
                "not an image: an artifact, or an image config this scanner does not read"
            )
            return outcome
        if not targets:
            outcome.skipped = "the index lists no image manifest stored in this repository"
            return outcome
        # Read before matching: a change imported meanwhile is caught by the next evaluation.
        current = self.vulndb.version()
        for target_digest, target in targets:
            outcome.platforms += 1
            report = None if rescan else self.store.report(target_digest)
            if report is not None and report.status == "ok" and report.inventory is not None:
                outcome.reused += 1
                found, _ = self._evaluate(
                    target_digest, report.inventory, report.db_version, current, {}
                )
                outcome.findings += found
                continue
            try:
                from cargohold.scan.inventory import inventory_source

                inventory = inventory_source(self._image(target_digest, target))
            except (ScanError, OSError) as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.store.save_report(
                    target_digest,
                    inventory=None,
                    db_version=None,
                    findings=[],
                    blocking_problem=None,
                    error=message,
                )
                outcome.error = message
                continue
            outcome.scanned += 1
            outcome.findings += self._store_matches(
                target_digest, inventory, current, rescanned=True
            )
        return outcome

    def _store_matches(
        self, digest: str, inventory: Inventory, version: str, rescanned: bool
    ) -> int:
        """Match and store; `version` is the database version read before matching."""
        from cargohold.scan.matching import coverage_problems, match_inventory

        findings = match_inventory(inventory, self.vulndb)
        inventory.problems.extend(coverage_problems(inventory))
        blocking = next((p.message for p in inventory.problems if p.blocking), None)
        self.store.save_report(
            digest,
            inventory=[inventory_to_json(inventory)],
            db_version=version,
            findings=[
                (
                    f.id,
                    package_key(f),
                    severity_rank(f.severity.level),
                    tuple(sorted(f.ids)),
                    f.fixed,
                    finding_to_json(f),
                )
                for f in findings
            ],
            blocking_problem=blocking,
            rescanned=rescanned,
        )
        return len(findings)

    def _evaluate(
        self,
        digest: str,
        stored: list[dict[str, Any]],
        db_version: str | None,
        current: str,
        changes: dict[str | None, frozenset[PackageKey] | None],
    ) -> tuple[int, bool]:
        """Bring a stored report up to `current`: (findings, matched again).

        `changes` memoises the changed keys per stored version over many reports; they are
        read after `current`, so they cover every change up to it.
        """
        if db_version == current:
            return self.store.finding_count(digest), False
        inventory = inventory_from_json(stored[0])
        if db_version not in changes:
            changes[db_version] = self.vulndb.affected_keys_changed_since(db_version)
        keys = changes[db_version]
        if keys is not None:
            from cargohold.scan.matching import targets_for

            mine = {
                (t.ecosystem, t.name)
                for package in inventory.packages
                for t in targets_for(package, inventory.os)
            }
            if not mine & keys:
                self.store.mark_evaluated(digest, current)
                return self.store.finding_count(digest), False
        return self._store_matches(digest, inventory, current, rescanned=False), True

    def reevaluate_all(self) -> dict[str, int]:
        """After a database change: every stored report brought to the current version."""
        started = time.perf_counter()
        checked = rematched = 0
        after = ""
        current = self.vulndb.version()
        changes: dict[str | None, frozenset[PackageKey] | None] = {}
        while batch := self.store.reports_for_reevaluation(after, 200):
            after = batch[-1].digest
            for report in batch:
                checked += 1
                if report.db_version == current or report.inventory is None:
                    continue
                _, matched = self._evaluate(
                    report.digest, report.inventory, report.db_version, current, changes
                )
                rematched += matched
        return {
            "reports": checked,
            "matched_again": rematched,
            "seconds": round(time.perf_counter() - started, 3),
        }

    # -- results --------------------------------------------------------------------------

    def result(self, repository: str, digest: str) -> ScanResult:
        """The stored scan of an image or index, as a ScanResult (one entry per platform)."""
        return self._stored(repository, digest)[0]

    def stored_result(self, repository: str, digest: str) -> dict[str, Any]:
        """The result as JSON, with what only the registry knows: per platform when it was
        scanned (layers read) and evaluated (matched), and when each finding was first seen."""
        result, reports = self._stored(repository, digest)
        document = result_to_json(result)
        for platform, (report, first_seen) in zip(document["platforms"], reports, strict=True):
            platform["scannedAt"] = report.scanned_at
            platform["evaluatedAt"] = report.evaluated_at
            platform["dbVersion"] = report.db_version
            for finding in platform["findings"]:
                key = (finding["id"], package_key(finding_from_json(finding)))
                finding["firstSeen"] = first_seen.get(key)
        return document

    def _stored(
        self, repository: str, digest: str
    ) -> tuple[ScanResult, list[tuple[ScanReportRow, dict[tuple[str, str], float]]]]:
        manifest = self._manifest(repository, digest)
        digests = [child.digest for child in manifest.children] if manifest.is_index else [digest]
        platforms: list[PlatformResult] = []
        reports: list[tuple[ScanReportRow, dict[tuple[str, str], float]]] = []
        version: str | None = None
        for target in digests:
            report = self.store.report(target)
            if report is None or report.inventory is None:
                if report is not None and report.error:
                    raise ScanUnknown(f"the scan of {target} failed: {report.error}")
                continue
            version = report.db_version
            inventory = inventory_from_json(report.inventory[0])
            stored = self.store.findings(target)
            platforms.append(PlatformResult(inventory, [finding_from_json(f.data) for f in stored]))
            reports.append((report, {(f.vuln_id, f.package_key): f.first_seen for f in stored}))
        if not platforms:
            raise ScanUnknown(f"{repository}@{digest} has not been scanned yet")
        return ScanResult(f"{repository}@{digest}", platforms, version), reports

    # -- scan on push and the pull gate -------------------------------------------------

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._cached_at < POLICY_CACHE_SECONDS:
            return
        with self._cache_lock:
            if now - self._cached_at < POLICY_CACHE_SECONDS:
                return
            self._policies = {p.project: p for p in self.store.policies()}
            self._allowlist = self.store.allowlist()
            self._cached_at = now

    def invalidate(self) -> None:
        self._cached_at = -1e9

    def wants_scan_on_push(self, repository: str, manifest: Manifest) -> bool:
        if not is_scannable(manifest):
            return False
        self._refresh()
        policy = self._policies.get(project_of(repository))
        if policy is not None and policy.scan_on_push is not None:
            return policy.scan_on_push
        return self.scan_on_push_default

    def check_pull(self, repository: str, stored: StoredManifest) -> None:
        """Raise DENIED when the project's policy refuses this image; cheap when it has none."""
        self._refresh()
        project = project_of(repository)
        row = self._policies.get(project)
        if row is None:
            return
        policy = GatePolicy(row.prevent_severity, row.prevent_unscanned)
        if not policy.active:
            return
        manifest = parse_manifest(stored.content, stored.media_type)
        if manifest.is_index:
            digests = [child.digest for child in manifest.children]
        elif is_scannable(manifest):
            digests = [stored.digest]
        else:
            return  # signatures, SBOMs and other artifacts are not images to judge
        if not digests:
            return
        reports, findings = self.store.gate_facts(digests, policy.threshold_rank)
        images = [
            ImageScan(
                d,
                scanned=d in reports,
                failed=d in reports and reports[d].status != "ok",
                blocking_problem=reports[d].blocking_problem if d in reports else None,
            )
            for d in digests
        ]
        now = time.time()
        allowed = {
            entry.vuln_id
            for entry in self._allowlist
            if entry.project in ("", project) and entry.active(now)
        }
        message = decide(
            policy,
            images,
            [
                BlockingFinding(f.vuln_id, f.ids, SEVERITIES[f.severity_rank], f.package)
                for f in findings
            ],
            allowed,
        )
        if message:
            raise Denied(message, detail={"digest": stored.digest, "project": project})

    # -- policies and the allowlist -----------------------------------------------------

    def policies(self) -> list[dict[str, Any]]:
        return [_policy_document(row) for row in self.store.policies()]

    def policy(self, project: str) -> dict[str, Any]:
        for row in self.store.policies():
            if row.project == project:
                return _policy_document(row)
        return {
            "project": project,
            "scanOnPush": self.scan_on_push_default,
            "preventSeverity": None,
            "preventUnscanned": False,
            "default": True,
        }

    def set_policy(self, project: str, document: Any, actor: str) -> dict[str, Any]:
        _check_project(project)
        if not isinstance(document, dict):
            raise ScanPolicyInvalid("the body must be a JSON object")
        unknown = set(document) - {"scanOnPush", "preventSeverity", "preventUnscanned"}
        if unknown:
            raise ScanPolicyInvalid(
                f"unknown field {sorted(unknown)[0]!r}; fields: scanOnPush, preventSeverity,"
                " preventUnscanned"
            )
        on_push = document.get("scanOnPush")
        if on_push is not None and not isinstance(on_push, bool):
            raise ScanPolicyInvalid("scanOnPush must be true, false or null")
        severity = document.get("preventSeverity")
        if severity is not None:
            if not isinstance(severity, str) or severity.upper() not in SEVERITIES[:4]:
                raise ScanPolicyInvalid(
                    "preventSeverity must be CRITICAL, HIGH, MEDIUM, LOW or null"
                )
            severity = severity.upper()
        unscanned = document.get("preventUnscanned", False)
        if not isinstance(unscanned, bool):
            raise ScanPolicyInvalid("preventUnscanned must be true or false")
        row = ScanPolicyRow(project, on_push, severity, unscanned, time.time(), actor)
        self.store.set_policy(row, project, actor)
        self.invalidate()
        return self.policy(project)

    def remove_policy(self, project: str, actor: str) -> None:
        _check_project(project)
        self.store.set_policy(None, project, actor)
        self.invalidate()

    def allowlist(self, project: str | None) -> list[dict[str, Any]]:
        now = time.time()
        return [_allow_document(e, now) for e in self.store.allowlist(project)]

    def allow(self, document: Any, actor: str) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise AllowlistInvalid("the body must be a JSON object")
        vuln_id = document.get("id")
        if not isinstance(vuln_id, str) or not vuln_id.strip() or len(vuln_id) > 255:
            raise AllowlistInvalid("id must name a vulnerability, e.g. CVE-2023-4911")
        project = document.get("project") or ""
        if not isinstance(project, str):
            raise AllowlistInvalid("project must be a project name, or absent for system-wide")
        if project:
            _check_project(project)
        reason = document.get("reason", "")
        if not isinstance(reason, str):
            raise AllowlistInvalid("reason must be a string")
        expires = document.get("expiresAt")
        if expires is not None and (
            isinstance(expires, bool)
            or not isinstance(expires, int | float)
            or not 0 <= expires <= INT64_MAX
        ):
            raise AllowlistInvalid("expiresAt must be a UNIX time in seconds, or null")
        if expires is not None and expires <= time.time():
            # An entry that never counts is a mistake (a typo in the year, a stale script).
            try:
                when = f"{dt.datetime.fromtimestamp(expires, dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
            except (OverflowError, OSError, ValueError):
                when = f"{expires:g}"
            raise AllowlistInvalid(
                f"expiresAt {when} is in the past: the entry would never count; give a "
                "future time, or none",
                detail={"expiresAt": expires},
            )
        entry = self.store.add_allowed(project, vuln_id.strip(), reason, expires, actor)
        self.invalidate()
        return _allow_document(entry, time.time())

    def disallow(self, entry_id: int, actor: str) -> None:
        if self.store.remove_allowed(entry_id, actor) is None:
            raise AllowlistUnknown(detail={"id": entry_id})
        self.invalidate()

    # -- remediation SLA ------------------------------------------------------------------

    def overdue(self, project: str | None, now: float | None = None) -> dict[str, Any]:
        """Findings past their remediation deadline (first seen + SLA days), allowlist aside."""
        now = time.time() if now is None else now
        deadlines = {severity_rank(level): days * 86400.0 for level, days in self.sla_days.items()}
        if not deadlines:
            return {"sla": {}, "findings": [], "images": []}
        allowed = self.store.allowlist(project)
        findings = []
        images: dict[tuple[str, str], dict[str, Any]] = {}
        for f in self.store.open_findings(project, max(deadlines)):
            limit = deadlines.get(f.severity_rank)
            if limit is None or f.first_seen + limit > now:
                continue
            ids = {f.vuln_id, *f.ids}
            if any(
                e.vuln_id in ids and e.project in ("", project_of(f.repository)) and e.active(now)
                for e in allowed
            ):
                continue
            item = {
                "project": project_of(f.repository),
                "repository": f.repository,
                "digest": f.digest,
                "tags": list(f.tags),
                "id": f.vuln_id,
                "severity": SEVERITIES[f.severity_rank],
                "package": f.package,
                "fixAvailable": f.fixed,
                "firstSeen": f.first_seen,
                "dueAt": f.first_seen + limit,
                "overdueDays": round((now - f.first_seen - limit) / 86400, 1),
            }
            findings.append(item)
            image = images.setdefault(
                (f.repository, f.digest),
                {
                    "project": item["project"],
                    "repository": f.repository,
                    "digest": f.digest,
                    "tags": list(f.tags),
                    "overdue": {},
                },
            )
            image["overdue"][item["severity"]] = image["overdue"].get(item["severity"], 0) + 1
        return {"sla": dict(self.sla_days), "findings": findings, "images": list(images.values())}


def _check_project(project: str) -> None:
    if "/" in project or not is_valid_name(project):
        raise ScanPolicyInvalid(f"{project!r} is not a project name (the first path component)")


def _policy_document(row: ScanPolicyRow) -> dict[str, Any]:
    return {
        "project": row.project,
        "scanOnPush": row.scan_on_push,
        "preventSeverity": row.prevent_severity,
        "preventUnscanned": row.prevent_unscanned,
        "updatedAt": row.updated_at,
        "updatedBy": row.updated_by,
        "default": False,
    }


def _allow_document(entry: AllowlistRow, now: float) -> dict[str, Any]:
    return {
        "id": entry.id,
        "project": entry.project or None,
        "vulnerability": entry.vuln_id,
        "reason": entry.reason,
        "expiresAt": entry.expires_at,
        "active": entry.active(now),
        "createdAt": entry.created_at,
        "createdBy": entry.created_by,
    }
