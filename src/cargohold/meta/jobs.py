"""Job runs in the metadata store: the history `cargohold jobs` shows."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cargohold.meta.database import Database

STATES = ("queued", "running", "succeeded", "failed")


@dataclass(frozen=True)
class JobRun:
    id: str
    kind: str
    args: dict[str, Any]
    state: str
    trigger: str
    created_at: float
    created_by: str
    started_at: float | None
    finished_at: float | None
    result: dict[str, Any] | None
    error: str | None


_COLUMNS = (
    "id, kind, args, state, trigger, created_at, created_by, started_at, finished_at, result, error"
)


def _current(kind: str, result: Any) -> Any:
    """A result as this version writes it, whichever version stored it.

    Before the admin API's scanning documents were typed (decision 018), a re-evaluation
    report said `matched_again`, and a `vulndb-update` job listed the sources it could not
    read among its imports (`{"location", "error"}`) instead of under `failures`. Rows that
    older versions wrote, before or during an upgrade, are read in today's shape.
    """
    if not isinstance(result, dict):
        return result  # not one of ours: served as stored
    if kind == "reevaluate":
        return _reevaluation(result)
    if kind == "vulndb-update":
        imports = result.get("imports")
        reevaluation = result.get("reevaluation")
        if isinstance(imports, list) and "failures" not in result:
            failed = [i for i in imports if isinstance(i, dict) and "error" in i]
            result = {
                **result,
                "imports": [i for i in imports if not (isinstance(i, dict) and "error" in i)],
                "failures": failed,
            }
        if isinstance(reevaluation, dict):
            result = {**result, "reevaluation": _reevaluation(reevaluation)}
    return result


def _reevaluation(report: dict[str, Any]) -> dict[str, Any]:
    if "matched_again" not in report or "matchedAgain" in report:
        return report
    return {("matchedAgain" if k == "matched_again" else k): v for k, v in report.items()}


def _run(row: tuple[Any, ...]) -> JobRun:
    return JobRun(
        id=row[0],
        kind=row[1],
        args=json.loads(row[2]),
        state=row[3],
        trigger=row[4],
        created_at=row[5],
        created_by=row[6],
        started_at=row[7],
        finished_at=row[8],
        result=_current(row[1], json.loads(row[9])) if row[9] is not None else None,
        error=row[10],
    )


class JobRunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, job_id: str, kind: str, args: dict[str, Any], trigger: str, actor: str
    ) -> JobRun:
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO job_runs (id, kind, args, state, trigger, created_at, created_by)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, kind, json.dumps(args), trigger, now, actor),
            )
        return JobRun(job_id, kind, args, "queued", trigger, now, actor, None, None, None, None)

    def started(self, job_id: str) -> str | None:
        """Mark the run `running`; returns who asked for it (None if it has no row)."""
        with self.db.transaction() as tx:
            row = tx.one(
                "UPDATE job_runs SET state = 'running', started_at = ? WHERE id = ?"
                " RETURNING created_by",
                (time.time(), job_id),
            )
        return row[0] if row else None

    def finished(
        self, job_id: str, result: dict[str, Any] | None, error: str | None = None
    ) -> None:
        state = "failed" if error is not None else "succeeded"
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE job_runs SET state = ?, finished_at = ?, result = ?, error = ?"
                " WHERE id = ?",
                (
                    state,
                    time.time(),
                    json.dumps(result) if result is not None else None,
                    error,
                    job_id,
                ),
            )

    def count_end(self, kind: str, succeeded: bool) -> None:
        """Add one to the runs of `kind` that ended so (job_run_counts)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO job_run_counts (kind, result, runs) VALUES (?, ?, 1)"
                " ON CONFLICT (kind, result) DO UPDATE SET runs = job_run_counts.runs + 1",
                (kind, "succeeded" if succeeded else "failed"),
            )

    def end_counts(self) -> dict[tuple[str, str], int]:
        """(kind, result) -> jobs that ended so, over every process that ran any (bounded:
        one row per kind and result)."""
        rows = self.db.rows("SELECT kind, result, runs FROM job_run_counts", ())
        return {(kind, result): int(runs) for kind, result, runs in rows}

    def get(self, job_id: str) -> JobRun | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM job_runs WHERE id = ?", (job_id,))
        return _run(row) if row else None

    def recent(self, limit: int, kind: str | None = None, state: str | None = None) -> list[JobRun]:
        where, params = [], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if state:
            where.append("state = ?")
            params.append(state)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.rows(
            f"SELECT {_COLUMNS} FROM job_runs{clause} ORDER BY created_at DESC, id LIMIT ?",
            (*params, limit),
        )
        return [_run(row) for row in rows]
