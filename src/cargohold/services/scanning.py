"""Scanning in the registry: scan on push, stored results, re-evaluation, the pull gate.

- A scan reads an image manifest's layers straight from the blob store (no HTTP, so it is
  never counted as a pull), inventories them with scan/, matches the inventory against the
  registry's vulnerability database and stores both, by manifest digest: the same image in
  two repositories is scanned once. An index is scanned through its platform manifests.
- When the database changes, stored inventories are re-evaluated without reading layers
  again; only images with a package the change touched are matched again, the others just
  move to the new database version. Each finding keeps the time it was first seen.
- The pull gate (policy/scan_gate.py) reads only the stored results; it, the scan
  policies, allowlists and the remediation report are ScanPolicyService
  (services/scan_policy.py), a service of its own over the same ScanStore.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cargohold.errors import (
    ManifestUnknown,
    ScanFailed,
    ScanUnknown,
)
from cargohold.meta.scan_rows import ScanReportRow
from cargohold.meta.scans import ScanStore
from cargohold.meta.store import MetadataStore
from cargohold.meta.vulndb import PackageKey, VulnStore
from cargohold.oci.manifests import Manifest
from cargohold.oci.names import check_name
from cargohold.policy.scan_gate import RESCAN_HINT
from cargohold.scan.errors import ScanError
from cargohold.scan.findings import Finding, PlatformResult, ScanResult, severity_rank
from cargohold.scan.model import (
    INVENTORY_VERSION,
    MATCHING_VERSION,
    Inventory,
    LayerRef,
    Platform,
)
from cargohold.scan.storedform import (
    finding_from_json,
    finding_to_json,
    inventory_from_json,
    inventory_to_json,
)
from cargohold.services.blob_streams import open_blob, read_config
from cargohold.services.events import EventSink, ScanFinished, notify
from cargohold.services.image_manifests import image_targets, stored_manifest
from cargohold.storage.base import BlobDriver

if TYPE_CHECKING:
    from cargohold.scan.layout import ImageToScan
    from cargohold.scan.osv import OsvRecord

# The scanning engine (inventory, matching: univers, cvss, python-debian...) is imported where
# a scan runs, not when the registry starts: serving processes that never scan stay small.

log = logging.getLogger("cargohold.scanning")


def package_key(finding: Finding) -> str:
    p = finding.package
    return f"{p.type}:{p.name}@{p.version} {p.location}"


@dataclass
class ScanOutcome:
    digest: str
    platforms: int = 0
    scanned: int = 0  # image manifests inventoried now
    reused: int = 0  # already scanned: only re-evaluated
    skipped: str | None = None  # why nothing was scanned (not an image)
    findings: int = 0
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The result a `scan` job stores: the admin API's ScanJobReport document
        (api/models/scanning.py, kept equal by tests/unit/test_api_models.py)."""
        return {
            "digest": self.digest,
            "platforms": self.platforms,
            "scanned": self.scanned,
            "reused": self.reused,
            "skipped": self.skipped,
            "findings": self.findings,
            "error": self.error,
        }


@dataclass(frozen=True)
class Reevaluation:
    """What bringing every stored report up to the current database did."""

    reports: int  # stored reports looked at
    matched_again: int  # reports whose inventory a change touched: matched again
    seconds: float
    rescanned: int = 0  # reports an older scanner version made: read from the layers again

    def as_record(self) -> dict[str, Any]:
        """The result a `reevaluate` job stores (and a `vulndb-update` job's `reevaluation`):
        the admin API's ReevaluationReport document (api/models/scanning.py, kept equal by
        tests/unit/test_api_models.py)."""
        return {
            "reports": self.reports,
            "matchedAgain": self.matched_again,
            "rescanned": self.rescanned,
            "seconds": self.seconds,
        }


def _current_inventory(report: ScanReportRow) -> bool:
    """Whether the stored inventory was made by the current version of the readers."""
    if not report.inventory:
        return False
    return int(report.inventory[0].get("inventoryVersion", 1)) >= INVENTORY_VERSION


@dataclass(frozen=True)
class PlatformRecord:
    """What only the registry knows about one platform's stored scan."""

    scanned_at: float  # layers read
    evaluated_at: float  # matched against the database
    db_version: str | None
    first_seen: dict[tuple[str, str], float]  # (vulnerability id, package key) -> first seen


@dataclass(frozen=True)
class StoredScan:
    """A stored scan: the result (one entry per platform) and each platform's record."""

    result: ScanResult
    records: list[PlatformRecord]

    def first_seen(self, platform: int, finding: Finding) -> float | None:
        return self.records[platform].first_seen.get((finding.id, package_key(finding)))


class ScanService:
    """Scans images, stores their results and re-evaluates them against the database."""

    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobDriver,
        store: ScanStore,
        vulndb: VulnStore[OsvRecord],
        *,
        events: Sequence[EventSink] = (),
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.store = store
        self.vulndb = vulndb
        # Told of every image scanned (services/events.py); none by default.
        self.events = tuple(events)

    # -- reading images from the store --------------------------------------------------

    def _platform(self, manifest: Manifest) -> Platform | None:
        config = read_config(self.blobs, manifest)
        if config is None or not config.get("os"):
            return None
        return Platform(
            str(config["os"]), str(config.get("architecture", "")), config.get("variant") or None
        )

    def _image(self, digest: str, manifest: Manifest) -> ImageToScan:
        from cargohold.scan.layout import ImageToScan, Layer

        layers = [
            Layer(LayerRef(position, d.digest), lambda d=d.digest: open_blob(self.blobs, d))
            for position, d in enumerate(manifest.layers)
        ]
        return ImageToScan(digest, self._platform(manifest), layers)

    def _manifest(self, repository: str, digest: str) -> Manifest:
        return stored_manifest(self.meta.manifests, repository, digest)

    # -- scanning -------------------------------------------------------------------------

    def scan(self, repository: str, digest: str, rescan: bool = False) -> ScanOutcome:
        """Scan a manifest (an index through its platform manifests) and store the results."""
        check_name(repository)
        outcome = ScanOutcome(digest)
        manifest, targets = image_targets(self.meta.manifests, repository, digest)
        if not manifest.is_index and not targets:
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
            if report is not None and report.status == "ok" and _current_inventory(report):
                assert report.inventory is not None
                found, _ = self._evaluate(
                    target_digest, report.inventory, report.db_version, current, {}
                )
                # Garbage collection deletes the report of an image no repository stores
                # (meta/unstored_images.py): one pushed again at that moment is scanned anew.
                if self.store.report(target_digest) is not None:
                    outcome.reused += 1
                    outcome.findings += found
                    notify(self.events, ScanFinished("reused", {}))
                    continue
            self._scan_platform(target_digest, target, current, outcome)
        return outcome

    def _scan_platform(
        self, digest: str, manifest: Manifest, current: str, outcome: ScanOutcome
    ) -> None:
        """Read one image manifest's layers, match and store the result (or the failure)."""
        self.store.mark_running(digest)
        try:
            from cargohold.scan.inventory import inventory_source

            inventory = inventory_source(self._image(digest, manifest))
        except (ScanError, OSError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.store.save_report(
                digest,
                inventory=None,
                db_version=None,
                findings=[],
                blocking_problem=None,
                error=message,
            )
            outcome.error = message
            notify(self.events, ScanFinished("failed", {}))
            return
        outcome.scanned += 1
        levels = self._store_matches(digest, inventory, current, rescanned=True)
        outcome.findings += sum(levels.values())
        notify(self.events, ScanFinished("scanned", levels))

    def _store_matches(
        self, digest: str, inventory: Inventory, version: str, rescanned: bool
    ) -> Counter[str]:
        """Match and store; `version` is the database version read before matching. The
        findings stored, by severity level."""
        from cargohold.scan.matching import coverage_problems, match_inventory

        findings = match_inventory(inventory, self.vulndb)
        inventory.problems.extend(coverage_problems(inventory))
        blocking = next((p.message for p in inventory.problems if p.blocking), None)
        self.store.save_report(
            digest,
            # The matching version beside the inventory: a newer matcher matches it again.
            inventory=[{**inventory_to_json(inventory), "matchingVersion": MATCHING_VERSION}],
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
        return Counter(f.severity.level for f in findings)

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
        matched_alike = stored[0].get("matchingVersion", 1) == MATCHING_VERSION
        if db_version == current and matched_alike:
            return self.store.finding_count(digest), False
        inventory = inventory_from_json(stored[0])
        if db_version not in changes:
            changes[db_version] = self.vulndb.affected_keys_changed_since(db_version)
        keys = changes[db_version]
        if keys is not None and matched_alike:
            from cargohold.scan.matching import targets_for

            mine = {
                (t.ecosystem, t.name)
                for package in inventory.packages
                for t in targets_for(package, inventory.os)
            }
            if not mine & keys:
                self.store.mark_evaluated(digest, current)
                return self.store.finding_count(digest), False
        levels = self._store_matches(digest, inventory, current, rescanned=False)
        return sum(levels.values()), True

    def reevaluate_all(self) -> Reevaluation:
        """After a database change: every stored report brought to the current version.

        A report whose inventory an older version of the readers made (see
        INVENTORY_VERSION) is scanned again from its layers, so that packages a reader added
        or fixed since are not missing from it; one whose image is no longer stored in any
        repository is only matched again.
        """
        started = time.perf_counter()
        checked = rematched = rescanned = 0
        after = ""
        current = self.vulndb.version()
        changes: dict[str | None, frozenset[PackageKey] | None] = {}
        while batch := self.store.reports_for_reevaluation(after, 200):
            after = batch[-1].digest
            for report in batch:
                checked += 1
                if report.inventory is None:
                    continue
                if not _current_inventory(report) and self._rescan_stale(report.digest, current):
                    rescanned += 1
                    continue
                _, matched = self._evaluate(
                    report.digest, report.inventory, report.db_version, current, changes
                )
                rematched += matched
        seconds = round(time.perf_counter() - started, 3)
        return Reevaluation(checked, rematched, seconds, rescanned)

    def _rescan_stale(self, digest: str, current: str) -> bool:
        """Scan a platform again from its layers; False when no repository holds it now."""
        repository = self.store.repository_of(digest)
        if repository is None:
            return False
        try:
            manifest = self._manifest(repository, digest)
        except ManifestUnknown:
            return False
        self._scan_platform(digest, manifest, current, ScanOutcome(digest))
        return True

    # -- results --------------------------------------------------------------------------

    def result(self, repository: str, digest: str) -> ScanResult:
        """The stored scan of an image or index, as a ScanResult (one entry per platform)."""
        return self.stored_result(repository, digest).result

    def stored_result(self, repository: str, digest: str) -> StoredScan:
        """The result with what only the registry knows: per platform when it was scanned
        (layers read) and evaluated (matched), and when each finding was first seen."""
        manifest = self._manifest(repository, digest)
        digests = [child.digest for child in manifest.children] if manifest.is_index else [digest]
        platforms: list[PlatformResult] = []
        records: list[PlatformRecord] = []
        version: str | None = None
        running = False
        for target in digests:
            report = self.store.report(target)
            if report is not None and report.status == "error":
                raise ScanFailed(
                    f"the scan of {repository}@{target} failed: {report.error}; {RESCAN_HINT}",
                    detail={"status": "failed", "digest": target, "reason": report.error},
                )
            if report is None or report.status != "ok" or report.inventory is None:
                running = running or (report is not None and report.status == "running")
                continue
            version = report.db_version
            inventory = inventory_from_json(report.inventory[0])
            stored = self.store.findings(target)
            platforms.append(PlatformResult(inventory, [finding_from_json(f.data) for f in stored]))
            records.append(
                PlatformRecord(
                    report.scanned_at,
                    report.evaluated_at,
                    report.db_version,
                    {(f.vuln_id, f.package_key): f.first_seen for f in stored},
                )
            )
        if not platforms:
            state = "running" if running else "pending"
            raise ScanUnknown(
                f"{repository}@{digest} has not been scanned yet"
                + (" (its scan is running)" if running else ""),
                detail={"status": state, "digest": digest},
            )
        return StoredScan(ScanResult(f"{repository}@{digest}", platforms, version), records)
