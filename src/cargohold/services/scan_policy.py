"""Scan policies and their enforcement: scan on push, the pull gate, the allowlist, SLA.

- A project's policy says whether its pushes are scanned and which findings refuse a pull.
  Policies and the allowlist are cached per process, reloaded off the event loop (the server's
  housekeeping, every PULL_GATE_REFRESH_SECONDS) and at once after a change made here.
- The pull gate answers from that cache whether a pull needs its queries (`pull_gated`, on the
  event loop); only then does it judge (policy/scan_gate.py) the stored results, on the pool.
- Overdue findings are those past their remediation deadline (first seen + SLA days).

ScanPolicyService is a service of its own, separate from the scanner (services/scanning.py):
the scanning extension (extensions/scanning.py) builds it and hands its `wants_scan_on_push`
to the on-push hook and its `pull_gate()` to the registry.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cargohold.errors import (
    AllowlistInvalid,
    AllowlistUnknown,
    Denied,
    ScanPolicyInvalid,
)
from cargohold.meta.manifests import StoredManifest
from cargohold.meta.scan_policies import ScanPolicyRecords
from cargohold.meta.scan_rows import AllowlistRow, FailedScan, OpenFinding, ScanPolicyRow
from cargohold.meta.scans import ScanStore
from cargohold.oci.manifests import Manifest, parse_manifest
from cargohold.oci.names import is_valid_name, project_of
from cargohold.parsing.times import time_from_json
from cargohold.policy.scan_gate import BlockingFinding, GatePolicy, ImageScan, decide
from cargohold.scan.findings import SEVERITIES, severity_rank
from cargohold.services.caller import Caller
from cargohold.services.extension_points import PULL_GATE_REFRESH_SECONDS, PullGate
from cargohold.services.image_manifests import is_scannable


@dataclass(frozen=True)
class _PolicyCache:
    """What the pull gate and scan on push read, as of one reload."""

    policies: dict[str, ScanPolicyRow]
    allowlist: tuple[AllowlistRow, ...]
    gated: frozenset[str]  # projects whose policy refuses some pulls
    loaded_at: float  # time.monotonic()


@dataclass(frozen=True)
class ProjectScanPolicy:
    """A project's scan policy, or the defaults when it has none (`default`)."""

    project: str
    scan_on_push: bool | None  # None: the server's scan_on_push setting
    prevent_severity: str | None
    prevent_unscanned: bool
    updated_at: float | None  # None for the defaults
    updated_by: str | None
    default: bool


@dataclass(frozen=True)
class AllowlistEntry:
    """An allowlist entry, and whether it counts at the time it was read."""

    entry: AllowlistRow
    active: bool


@dataclass(frozen=True)
class OverdueFinding:
    """A finding past its remediation deadline."""

    finding: OpenFinding
    project: str
    severity: str
    due_at: float
    overdue_days: float  # rounded to a tenth


@dataclass(frozen=True)
class OverdueImage:
    """An image with overdue findings: how many at each severity."""

    project: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    overdue: dict[str, int]


@dataclass(frozen=True)
class OverdueReport:
    """The remediation report as of `at`: deadlines in days per severity, and what is past."""

    at: float
    sla_days: dict[str, int]
    findings: list[OverdueFinding]
    images: list[OverdueImage]
    # Images whose scan failed: nothing about them is known, so nothing is counted overdue.
    failed_scans: list[FailedScan] = field(default_factory=list)


class ScanPolicyService:
    """Projects' scan policies, the CVE allowlist and the remediation SLA, over the stored
    scan results."""

    def __init__(
        self,
        store: ScanStore,
        records: ScanPolicyRecords,
        scan_on_push_default: bool,
        sla_days: dict[str, int],
    ) -> None:
        # The stored scan results (the gate's and the report's questions); the policies and
        # the allowlist themselves.
        self.store = store
        self.records = records
        # Whether a project without a policy of its own has its pushes scanned.
        self.scan_on_push_default = scan_on_push_default
        self.sla_days = dict(sla_days)
        # Serialises reloads, so one that read before a change cannot replace one that read
        # after it. Never taken on the event loop: pull_gated reads the snapshot without it.
        self._reload_lock = threading.Lock()
        # None until first loaded: the gate then applies everywhere (fail closed).
        self._cache: _PolicyCache | None = None

    # -- the cache: policies and allowlist, reloaded off the event loop ------------------

    def reload(self) -> None:
        """Read the policies and the allowlist again (two queries: never on the event loop).
        The server calls it on its pool every PULL_GATE_REFRESH_SECONDS (the pull gate's
        `refresh`); a change made through this service calls it at once."""
        with self._reload_lock:
            self._reload_locked()

    def _reload_locked(self) -> None:
        policies = {p.project: p for p in self.records.policies()}
        allowlist = tuple(self.records.allowlist())
        gated = frozenset(
            project
            for project, row in policies.items()
            if GatePolicy(row.prevent_severity, row.prevent_unscanned).active
        )
        # One reference swapped: a reader sees the old cache or the new one, never a mix.
        self._cache = _PolicyCache(policies, allowlist, gated, time.monotonic())

    def _fresh(self) -> _PolicyCache:
        """The cache, reloaded first if it is older than the refresh interval. Only for callers
        off the event loop (the pull gate's check, scan on push): it may query."""
        cache = self._cache
        if cache is None or time.monotonic() - cache.loaded_at >= PULL_GATE_REFRESH_SECONDS:
            with self._reload_lock:
                cache = self._cache
                if cache is None or time.monotonic() - cache.loaded_at >= PULL_GATE_REFRESH_SECONDS:
                    self._reload_locked()
                    cache = self._cache
        assert cache is not None
        return cache

    def invalidate(self) -> None:
        """A policy or allowlist entry changed through this process: reload now, so that this
        process's next pull sees it (other processes see it at their next refresh)."""
        # Dropped first: if the reload fails, the gate applies everywhere until one succeeds.
        self._cache = None
        self.reload()

    # -- scan on push and the pull gate -------------------------------------------------

    def pull_gate(self) -> PullGate:
        """The pull gate the scanning extension hands the registry."""
        return PullGate(applies=self.pull_gated, check=self.check_pull, refresh=self.reload)

    def pull_gated(self, repository: str) -> bool:
        """Whether a pull in `repository` needs check_pull's queries: its project has an active
        policy (or nothing is loaded yet). From memory only: it runs on the event loop, in
        every manifest GET, and never refreshes the cache."""
        cache = self._cache
        return cache is None or project_of(repository) in cache.gated

    def wants_scan_on_push(self, repository: str, manifest: Manifest) -> bool:
        if not is_scannable(manifest):
            return False
        policy = self._fresh().policies.get(project_of(repository))
        if policy is not None and policy.scan_on_push is not None:
            return policy.scan_on_push
        return self.scan_on_push_default

    def check_pull(self, repository: str, stored: StoredManifest) -> None:
        """Raise DENIED when the project's policy refuses this image. May query (the cache,
        if stale, and the image's scan facts): off the event loop, when pull_gated says so."""
        cache = self._fresh()
        project = project_of(repository)
        row = cache.policies.get(project)
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
                scanned=d in reports and reports[d].status != "running",
                failed=d in reports and reports[d].status == "error",
                blocking_problem=reports[d].blocking_problem if d in reports else None,
                error=reports[d].error if d in reports else None,
            )
            for d in digests
        ]
        now = time.time()
        allowed = {
            entry.vuln_id
            for entry in cache.allowlist
            if entry.project in ("", project) and entry.active(now)
        }
        refusal = decide(
            policy,
            images,
            [
                BlockingFinding(f.vuln_id, f.ids, SEVERITIES[f.severity_rank], f.package)
                for f in findings
            ],
            allowed,
        )
        if refusal:
            raise Denied(
                refusal.message,
                detail={"digest": stored.digest, "project": project, **refusal.detail()},
            )

    # -- policies and the allowlist -----------------------------------------------------

    def policies(self) -> list[ProjectScanPolicy]:
        return [_policy(row) for row in self.records.policies()]

    def policy(self, project: str) -> ProjectScanPolicy:
        for row in self.records.policies():
            if row.project == project:
                return _policy(row)
        return ProjectScanPolicy(project, self.scan_on_push_default, None, False, None, None, True)

    def set_policy(self, project: str, document: Any, caller: Caller) -> ProjectScanPolicy:
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
        row = ScanPolicyRow(project, on_push, severity, unscanned, time.time(), caller.actor)
        self.records.set_policy(row, project, caller.as_actor())
        self.invalidate()
        return self.policy(project)

    def remove_policy(self, project: str, caller: Caller) -> None:
        _check_project(project)
        self.records.set_policy(None, project, caller.as_actor())
        self.invalidate()

    def allowlist(self, project: str | None) -> list[AllowlistEntry]:
        now = time.time()
        return [AllowlistEntry(e, e.active(now)) for e in self.records.allowlist(project)]

    def allow(self, document: Any, caller: Caller) -> AllowlistEntry:
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
        expires = _expiry(document.get("expiresAt"))
        entry = self.records.add_allowed(
            project, vuln_id.strip(), reason, expires, caller.as_actor()
        )
        self.invalidate()
        return AllowlistEntry(entry, entry.active(time.time()))

    def disallow(self, entry_id: int, caller: Caller) -> None:
        if self.records.remove_allowed(entry_id, caller.as_actor()) is None:
            raise AllowlistUnknown(detail={"id": entry_id})
        self.invalidate()

    # -- remediation SLA ------------------------------------------------------------------

    def overdue(self, project: str | None, now: float | None = None) -> OverdueReport:
        """Findings past their remediation deadline (first seen + SLA days), allowlist aside."""
        now = time.time() if now is None else now
        report = OverdueReport(now, dict(self.sla_days), [], [], self.store.failed_scans(project))
        deadlines = {severity_rank(level): days * 86400.0 for level, days in self.sla_days.items()}
        if not deadlines:
            return report
        allowed = self.records.allowlist(project)
        images: dict[tuple[str, str], OverdueImage] = {}
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
            severity = SEVERITIES[f.severity_rank]
            report.findings.append(
                OverdueFinding(
                    finding=f,
                    project=project_of(f.repository),
                    severity=severity,
                    due_at=f.first_seen + limit,
                    overdue_days=round((now - f.first_seen - limit) / 86400, 1),
                )
            )
            image = images.setdefault(
                (f.repository, f.digest),
                OverdueImage(project_of(f.repository), f.repository, f.digest, f.tags, {}),
            )
            image.overdue[severity] = image.overdue.get(severity, 0) + 1
        report.images.extend(images.values())
        return report


def _check_project(project: str) -> None:
    if "/" in project or not is_valid_name(project):
        raise ScanPolicyInvalid(f"{project!r} is not a project name (the first path component)")


def _policy(row: ScanPolicyRow) -> ProjectScanPolicy:
    return ProjectScanPolicy(
        row.project,
        row.scan_on_push,
        row.prevent_severity,
        row.prevent_unscanned,
        row.updated_at,
        row.updated_by,
        False,
    )


def _expiry(value: Any) -> float | None:
    """An allowlist entry's `expiresAt`: RFC 3339, UNIX seconds or null; in the future."""
    if value is None:
        return None
    try:
        expires = time_from_json(value)
    except ValueError as exc:
        raise AllowlistInvalid(f"expiresAt: {exc}") from None
    if expires <= time.time():
        # An entry that never counts is a mistake (a typo in the year, a stale script).
        try:
            when = f"{dt.datetime.fromtimestamp(expires, dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
        except (OverflowError, OSError, ValueError):
            when = f"{expires:g}"
        raise AllowlistInvalid(
            f"expiresAt {when} is in the past: the entry would never count; give a "
            "future time, or none",
            detail={"expiresAt": value},
        )
    return expires
