"""Projects' scan policies and the CVE allowlist, each change audited in its transaction
(raw statements on the Database's fast path, decision 019)."""

from __future__ import annotations

import time

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.scan_rows import AllowlistRow, ScanPolicyRow

_ALLOW_COLUMNS = "id, project, vuln_id, reason, expires_at, created_at, created_by"


class ScanPolicyRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- policies -------------------------------------------------------------------------

    def policies(self) -> list[ScanPolicyRow]:
        return [
            ScanPolicyRow(r[0], None if r[1] is None else bool(r[1]), r[2], bool(r[3]), r[4], r[5])
            for r in self.db.rows(
                "SELECT project, scan_on_push, prevent_severity, prevent_unscanned, updated_at,"
                " updated_by FROM scan_policies ORDER BY project"
            )
        ]

    def set_policy(self, policy: ScanPolicyRow | None, project: str, actor: Actor) -> None:
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM scan_policies WHERE project = ?", (project,))
            if policy is not None:
                tx.execute(
                    "INSERT INTO scan_policies (project, scan_on_push, prevent_severity,"
                    " prevent_unscanned, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        project,
                        policy.scan_on_push,
                        policy.prevent_severity,
                        policy.prevent_unscanned,
                        now,
                        actor.name,
                    ),
                )
            detail = (
                {}
                if policy is None
                else {
                    "scanOnPush": policy.scan_on_push,
                    "preventSeverity": policy.prevent_severity,
                    "preventUnscanned": policy.prevent_unscanned,
                }
            )
            self.db.audit(
                tx,
                now,
                actor,
                "scan-policy.set" if policy else "scan-policy.remove",
                project,
                detail,
                project=project,
            )

    # -- the allowlist ------------------------------------------------------------------

    def allowlist(self, project: str | None = None) -> list[AllowlistRow]:
        if project is None:
            rows = self.db.rows(f"SELECT {_ALLOW_COLUMNS} FROM cve_allowlist ORDER BY id")
        else:
            rows = self.db.rows(
                f"SELECT {_ALLOW_COLUMNS} FROM cve_allowlist WHERE project = ? OR project = ''"
                " ORDER BY id",
                (project,),
            )
        return [AllowlistRow(*row) for row in rows]

    def add_allowed(
        self, project: str, vuln_id: str, reason: str, expires_at: float | None, actor: Actor
    ) -> AllowlistRow:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(
                "INSERT INTO cve_allowlist (project, vuln_id, reason, expires_at, created_at,"
                " created_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (project, vuln_id, reason, expires_at, now, actor.name),
            )
            assert row is not None
            entry_id = int(row[0])
            self.db.audit(
                tx,
                now,
                actor,
                "cve-allowlist.add",
                project or "(system)",
                {
                    "id": entry_id,
                    "vulnerability": vuln_id,
                    "reason": reason,
                    "expiresAt": expires_at,
                },
                project=project,
            )
        return AllowlistRow(entry_id, project, vuln_id, reason, expires_at, now, actor.name)

    def remove_allowed(self, entry_id: int, actor: Actor) -> AllowlistRow | None:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(f"SELECT {_ALLOW_COLUMNS} FROM cve_allowlist WHERE id = ?", (entry_id,))
            if row is None:
                return None
            entry = AllowlistRow(*row)
            tx.execute("DELETE FROM cve_allowlist WHERE id = ?", (entry_id,))
            self.db.audit(
                tx,
                now,
                actor,
                "cve-allowlist.remove",
                entry.project or "(system)",
                {"id": entry_id, "vulnerability": entry.vuln_id},
                project=entry.project,
            )
        return entry
