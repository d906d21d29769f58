"""Stored scan reports and findings (projects' scan policies and the CVE allowlist:
scan_policies.py).

The row types these methods return live in scan_rows.py. Every statement is raw on the
Database's fast path (docs/decisions/019-one-sql-style.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cargohold.meta.database import Database, in_batches
from cargohold.meta.fastpath import Transaction
from cargohold.meta.repositories import IN_PROJECT, project_params
from cargohold.meta.scan_rows import (
    NO_FINDINGS_RANK,
    FailedScan,
    GateFinding,
    OpenFinding,
    ScanReportRow,
    StoredFinding,
    package_label,
)

_REPORT_COLUMNS = (
    "digest, status, error, scanned_at, evaluated_at, db_version, inventory, worst_rank,"
    " blocking_problem"
)


def _report(row: tuple[Any, ...]) -> ScanReportRow:
    return ScanReportRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        json.loads(row[6]) if row[6] else None,
        int(row[7]),
        row[8],
    )


class ScanStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reports --------------------------------------------------------------------------

    def report(self, digest: str) -> ScanReportRow | None:
        row = self.db.one(f"SELECT {_REPORT_COLUMNS} FROM scan_reports WHERE digest = ?", (digest,))
        return _report(row) if row else None

    def reports_for_reevaluation(self, after: str, limit: int) -> list[ScanReportRow]:
        rows = self.db.rows(
            f"SELECT {_REPORT_COLUMNS} FROM scan_reports WHERE status = 'ok' AND digest > ?"
            " ORDER BY digest LIMIT ?",
            (after, limit),
        )
        return [_report(row) for row in rows]

    def repository_of(self, digest: str) -> str | None:
        """A repository that stores the manifest `digest`, or None."""
        row = self.db.one(
            "SELECT r.name FROM manifests m JOIN repositories r ON r.id = m.repository_id"
            " WHERE m.digest = ? ORDER BY r.name LIMIT 1",
            (digest,),
        )
        return str(row[0]) if row else None

    def findings(self, digest: str) -> list[StoredFinding]:
        rows = self.db.rows(
            "SELECT vuln_id, package_key, severity_rank, ids, fixed, first_seen, data"
            " FROM scan_findings WHERE digest = ? ORDER BY severity_rank, vuln_id, package_key",
            (digest,),
        )
        return [
            StoredFinding(
                r[0], r[1], int(r[2]), tuple(r[3].split()), bool(r[4]), r[5], json.loads(r[6])
            )
            for r in rows
        ]

    def finding_count(self, digest: str) -> int:
        row = self.db.one("SELECT count(*) FROM scan_findings WHERE digest = ?", (digest,))
        return int(row[0]) if row else 0

    def save_report(
        self,
        digest: str,
        *,
        inventory: list[dict[str, Any]] | None,
        db_version: str | None,
        findings: list[tuple[str, str, int, tuple[str, ...], bool, dict[str, Any]]],
        blocking_problem: str | None,
        error: str | None = None,
        rescanned: bool = True,
    ) -> None:
        """Store a scan (or re-evaluation) of `digest`, replacing its findings.

        `findings` are (vuln_id, package_key, severity_rank, ids, fixed, data). A finding
        already stored for the same vulnerability and package keeps its first-seen time.
        """
        now = time.time()
        worst = min((f[2] for f in findings), default=NO_FINDINGS_RANK)
        with self.db.transaction() as tx:
            self._lock(tx, digest)
            first_seen = {
                (row[0], row[1]): row[2]
                for row in tx.rows(
                    "SELECT vuln_id, package_key, first_seen FROM scan_findings WHERE digest = ?",
                    (digest,),
                )
            }
            existing = tx.one(
                "SELECT scanned_at, inventory FROM scan_reports WHERE digest = ?", (digest,)
            )
            scanned_at = now if rescanned or existing is None else existing[0]
            stored_inventory = (
                json.dumps(inventory)
                if inventory is not None
                else (existing[1] if existing else None)
            )
            self._replace_report(
                tx,
                (
                    digest,
                    "error" if error else "ok",
                    error,
                    scanned_at,
                    now,
                    db_version,
                    stored_inventory,
                    worst,
                    blocking_problem,
                ),
            )
            tx.execute("DELETE FROM scan_findings WHERE digest = ?", (digest,))
            if findings:
                tx.executemany(
                    "INSERT INTO scan_findings (digest, vuln_id, package_key, severity_rank, ids,"
                    " fixed, first_seen, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            digest,
                            vuln_id,
                            key,
                            rank,
                            " ".join(sorted(ids)),
                            fixed,
                            first_seen.get((vuln_id, key), now),
                            json.dumps(data),
                        )
                        for vuln_id, key, rank, ids, fixed, data in findings
                    ],
                )

    def mark_running(self, digest: str) -> None:
        """A scan of `digest` started: shown as `running` until its report is saved. A stored
        result (status `ok`) stays as it is while the image is scanned again."""
        now = time.time()
        with self.db.transaction() as tx:
            self._lock(tx, digest)
            existing = tx.one("SELECT status FROM scan_reports WHERE digest = ?", (digest,))
            if existing is not None and existing[0] == "ok":
                return
            self._replace_report(
                tx, (digest, "running", None, now, now, None, None, NO_FINDINGS_RANK, None)
            )

    def _lock(self, tx: Transaction, digest: str) -> None:
        """Two writers of one image's report (scan on push and one asked for) may meet: the
        second waits for the first instead of colliding on the new report row. (SQLite
        serialises writers anyway.)"""
        if self.db.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (digest,))

    @staticmethod
    def _replace_report(tx: Transaction, row: tuple[Any, ...]) -> None:
        tx.execute("DELETE FROM scan_reports WHERE digest = ?", (row[0],))
        tx.execute(
            f"INSERT INTO scan_reports ({_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
        )

    def mark_evaluated(self, digest: str, db_version: str) -> None:
        """Nothing in the database change concerns this image: only its version moves."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE scan_reports SET db_version = ?, evaluated_at = ? WHERE digest = ?",
                (db_version, time.time(), digest),
            )

    # -- the pull gate's questions ------------------------------------------------------

    def gate_facts(
        self, digests: list[str], threshold_rank: int
    ) -> tuple[dict[str, ScanReportRow], list[GateFinding]]:
        """Reports of `digests` (without inventories), and their findings at or above the rank."""
        marks = ", ".join("?" * len(digests))
        reports = {
            row[0]: ScanReportRow(
                row[0], row[1], row[2], row[3], row[4], row[5], None, int(row[6]), row[7]
            )
            for row in self.db.rows(
                "SELECT digest, status, error, scanned_at, evaluated_at, db_version, worst_rank,"
                f" blocking_problem FROM scan_reports WHERE digest IN ({marks})",
                tuple(digests),
            )
        }
        findings: list[GateFinding] = []
        worse = [d for d, r in reports.items() if r.worst_rank <= threshold_rank]
        if worse:
            marks = ", ".join("?" * len(worse))
            findings = [
                GateFinding(r[0], r[1], tuple(r[2].split()), int(r[3]), package_label(r[4]))
                for r in self.db.rows(
                    "SELECT digest, vuln_id, ids, severity_rank, package_key FROM scan_findings"
                    f" WHERE digest IN ({marks}) AND severity_rank <= ?"
                    " ORDER BY severity_rank, vuln_id",
                    (*worse, threshold_rank),
                )
            ]
        return reports, findings

    def children(self, digest: str) -> list[str]:
        """The platform manifests an index lists (any repository: content is global)."""
        return self.db.column(
            "SELECT DISTINCT r.digest FROM manifest_references r JOIN manifests m"
            " ON m.id = r.manifest_id WHERE m.digest = ? AND r.kind = 'manifest'",
            (digest,),
        )

    # -- remediation ----------------------------------------------------------------------

    def open_findings(self, project: str | None, max_rank: int) -> list[OpenFinding]:
        """Findings of every stored manifest (by repository), at or above the rank."""
        where = "f.severity_rank <= ?"
        params: list[Any] = [max_rank]
        if project:
            where += f" AND {IN_PROJECT}"
            params += project_params(project)
        rows = self.db.rows(
            "SELECT r.name, m.digest, f.vuln_id, f.ids, f.severity_rank, f.package_key, f.fixed,"
            " f.first_seen, m.id FROM scan_findings f JOIN manifests m ON m.digest = f.digest"
            f" JOIN repositories r ON r.id = m.repository_id WHERE {where}"
            " ORDER BY r.name, m.digest, f.severity_rank, f.vuln_id",
            tuple(params),
        )
        tags = self._tags({row[8] for row in rows})
        return [
            OpenFinding(
                repository=row[0],
                digest=row[1],
                tags=tuple(tags.get(row[8], ())),
                vuln_id=row[2],
                ids=tuple(row[3].split()),
                severity_rank=int(row[4]),
                package=package_label(row[5]),
                fixed=bool(row[6]),
                first_seen=row[7],
            )
            for row in rows
        ]

    def failed_scans(self, project: str | None) -> list[FailedScan]:
        """Stored manifests (by repository) whose scan, or a platform's, failed."""
        where, params = "s.status = 'error'", list[str]()
        if project:
            where += f" AND {IN_PROJECT}"
            params = list(project_params(project))
        select = (
            "SELECT r.name, m.digest, s.digest, s.error, s.scanned_at, m.id FROM scan_reports s"
        )
        joins = (
            " JOIN manifests m ON m.digest = s.digest",
            " JOIN manifest_references mr ON mr.digest = s.digest AND mr.kind = 'manifest'"
            " JOIN manifests m ON m.id = mr.manifest_id",
        )
        rows = [
            row
            for join in joins
            for row in self.db.rows(
                f"{select}{join} JOIN repositories r ON r.id = m.repository_id WHERE {where}",
                tuple(params),
            )
        ]
        tags = self._tags({row[5] for row in rows})
        return sorted(
            (
                FailedScan(r[0], r[1], r[2], tuple(tags.get(r[5], ())), r[3] or "", r[4])
                for r in rows
            ),
            key=lambda failed: (failed.repository, failed.digest, failed.scanned_digest),
        )

    def _tags(self, manifest_ids: set[int]) -> dict[int, list[str]]:
        ids = sorted(manifest_ids)
        tags: dict[int, list[str]] = {}
        for chunk, marks in in_batches(ids):
            for manifest_id, tag in self.db.rows(
                f"SELECT manifest_id, name FROM tags WHERE manifest_id IN ({marks}) ORDER BY name",
                tuple(chunk),
            ):
                tags.setdefault(manifest_id, []).append(tag)
        return tags
