"""Stored signature enforcement: the public keys each project trusts, the per-project switch,
each image's verdict (policy/signature_gate.py says what a verdict means), and the generation
counter every change bumps, so the signature gate reloads its in-memory view only after one."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cargohold.meta.audit_fields import Actor
from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction
from cargohold.meta.repositories import IN_PROJECT, project_params

_KEY_COLUMNS = "project, fingerprint, algorithm, pem, added_at, added_by"
# The one row is written by the first change: a freshly migrated database holds no rows at
# all (what `cargohold migrate-metadata` takes an empty destination to be), and reads see 0.
_BUMP = (
    "INSERT INTO signature_generation (id, generation) VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET generation = signature_generation.generation + 1"
)


def drop_verdicts(tx: Transaction, repository: str, digests: Iterable[str | None]) -> None:
    """Forget the stored verdicts of these manifests of `repository`, in the transaction that
    deleted what decided them (a signature, a signed index, the manifest itself): the next
    pull computes them again. The generation moves only when one was stored, so deletions in
    projects that do not enforce (which store none) reload no signature gate."""
    wanted = sorted({digest for digest in digests if digest})
    if not wanted:
        return
    marks = ", ".join("?" for _ in wanted)
    dropped = tx.execute(
        f"DELETE FROM signature_verdicts WHERE repository = ? AND digest IN ({marks})",
        (repository, *wanted),
    )
    if dropped:
        tx.execute(_BUMP)


@dataclass(frozen=True)
class TrustedKeyRow:
    project: str
    fingerprint: str
    algorithm: str
    pem: str
    added_at: float
    added_by: str

    def as_audit(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "algorithm": self.algorithm}


@dataclass(frozen=True)
class Enforcement:
    project: str
    enforce: bool
    updated_at: float | None
    updated_by: str | None


@dataclass(frozen=True)
class VerdictRow:
    repository: str
    digest: str
    verdict: str
    key_fingerprint: str | None
    computed_at: float


class SignatureRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- trusted keys -------------------------------------------------------------------------

    def keys(self, project: str) -> list[TrustedKeyRow]:
        rows = self.db.rows(
            f"SELECT {_KEY_COLUMNS} FROM trusted_keys WHERE project = ? ORDER BY added_at",
            (project,),
        )
        return [TrustedKeyRow(p, f, a, pem, float(at), by) for p, f, a, pem, at, by in rows]

    def add_key(self, key: TrustedKeyRow, actor: Actor) -> bool:
        """Trust a key in its project (False: it is trusted there already). The project's
        verdicts are dropped in the same transaction: they are recomputed with the new keys."""
        with self.db.transaction() as tx:
            row = tx.one(
                f"INSERT INTO trusted_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (project, fingerprint) DO NOTHING RETURNING fingerprint",
                (key.project, key.fingerprint, key.algorithm, key.pem, key.added_at, key.added_by),
            )
            if row is None:
                return False
            self._keys_changed(tx, key.project)
            self.db.audit(
                tx,
                key.added_at,
                actor,
                "trust.key.add",
                f"{key.project} {key.fingerprint}",
                key.as_audit(),
                project=key.project,
            )
        return True

    def remove_key(self, project: str, fingerprint: str, actor: Actor) -> TrustedKeyRow | None:
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.one(
                f"SELECT {_KEY_COLUMNS} FROM trusted_keys WHERE project = ? AND fingerprint = ?",
                (project, fingerprint),
            )
            if row is None:
                return None
            removed = TrustedKeyRow(row[0], row[1], row[2], row[3], float(row[4]), row[5])
            tx.execute(
                "DELETE FROM trusted_keys WHERE project = ? AND fingerprint = ?",
                (project, fingerprint),
            )
            self._keys_changed(tx, project)
            self.db.audit(
                tx,
                now,
                actor,
                "trust.key.remove",
                f"{project} {fingerprint}",
                removed.as_audit(),
                project=project,
            )
        return removed

    @staticmethod
    def _keys_changed(tx: Transaction, project: str) -> None:
        tx.execute("DELETE FROM signature_verdicts WHERE project = ?", (project,))
        tx.execute(_BUMP)

    # -- the switch ---------------------------------------------------------------------------

    def enforcement(self, project: str) -> Enforcement:
        row = self.db.one(
            "SELECT enforce, updated_at, updated_by FROM signature_enforcement WHERE project = ?",
            (project,),
        )
        if row is None:
            return Enforcement(project, False, None, None)
        return Enforcement(project, bool(row[0]), float(row[1]), row[2])

    def set_enforcement(self, project: str, enforce: bool, actor: Actor) -> Enforcement:
        """Turn enforcement on or off. The project's verdicts are dropped in the same
        transaction either way: a project that does not enforce keeps none (nothing reads
        them), and one that starts enforcing computes them afresh."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM signature_verdicts WHERE project = ?", (project,))
            tx.execute(
                "INSERT INTO signature_enforcement (project, enforce, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (project) DO UPDATE SET"
                " enforce = excluded.enforce, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (project, enforce, now, actor.name),
            )
            tx.execute(_BUMP)
            self.db.audit(
                tx,
                now,
                actor,
                "trust.enforce",
                project,
                {"enforce": enforce},
                project=project,
            )
        return Enforcement(project, enforce, now, actor.name)

    def enforcing_projects(self) -> set[str]:
        return set(self.db.column("SELECT project FROM signature_enforcement WHERE enforce"))

    # -- verdicts -----------------------------------------------------------------------------

    def verdict(self, repository: str, digest: str) -> VerdictRow | None:
        row = self.db.one(
            "SELECT verdict, key_fingerprint, computed_at FROM signature_verdicts"
            " WHERE repository = ? AND digest = ?",
            (repository, digest),
        )
        if row is None:
            return None
        return VerdictRow(repository, digest, row[0], row[1], float(row[2]))

    def put_verdicts(self, project: str, verdicts: Iterable[VerdictRow]) -> None:
        rows = [
            (v.repository, v.digest, project, v.verdict, v.key_fingerprint, v.computed_at)
            for v in verdicts
        ]
        if not rows:
            return
        with self.db.transaction() as tx:
            tx.executemany(
                "INSERT INTO signature_verdicts"
                " (repository, digest, project, verdict, key_fingerprint, computed_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET"
                " verdict = excluded.verdict, key_fingerprint = excluded.key_fingerprint,"
                " computed_at = excluded.computed_at",
                rows,
            )
            tx.execute(_BUMP)

    def passing_in_enforcing_projects(self, verdicts: tuple[str, ...]) -> set[tuple[str, str]]:
        """(repository, digest) of every image whose verdict is one of `verdicts`, in the
        projects that enforce."""
        marks = ", ".join("?" for _ in verdicts)
        rows = self.db.rows(
            "SELECT v.repository, v.digest FROM signature_verdicts v"
            " JOIN signature_enforcement e ON e.project = v.project"
            f" WHERE e.enforce AND v.verdict IN ({marks})",
            verdicts,
        )
        return {(repository, digest) for repository, digest in rows}

    def generation(self) -> int:
        row = self.db.one("SELECT generation FROM signature_generation WHERE id = 1")
        return int(row[0]) if row is not None else 0

    # -- what a recomputation walks -------------------------------------------------------------

    def manifests_of_project(self, project: str) -> list[tuple[str, str]]:
        """(repository, digest) of every manifest in the project's repositories."""
        rows = self.db.rows(
            "SELECT r.name, m.digest FROM manifests m JOIN repositories r"
            f" ON r.id = m.repository_id WHERE {IN_PROJECT} ORDER BY r.name, m.id",
            project_params(project),
        )
        return [(repository, digest) for repository, digest in rows]

    def count_manifests_of_project(self, project: str) -> int:
        """How many manifests the project's repositories hold."""
        row = self.db.one(
            "SELECT COUNT(*) FROM manifests m JOIN repositories r"
            f" ON r.id = m.repository_id WHERE {IN_PROJECT}",
            project_params(project),
        )
        return int(row[0]) if row is not None else 0

    def parent_indexes(self, repository: str, digest: str) -> list[str]:
        """The digests of the indexes of the repository that list the manifest `digest`."""
        return list(
            self.db.column(
                "SELECT m.digest FROM manifest_references mr"
                " JOIN manifests m ON m.id = mr.manifest_id"
                " JOIN repositories r ON r.id = m.repository_id"
                " WHERE mr.digest = ? AND mr.kind = 'manifest' AND r.name = ?",
                (digest, repository),
            )
        )

    def children(self, repository: str, digest: str) -> list[str]:
        """The manifests an index of the repository lists."""
        return list(
            self.db.column(
                "SELECT mr.digest FROM manifest_references mr"
                " JOIN manifests m ON m.id = mr.manifest_id"
                " JOIN repositories r ON r.id = m.repository_id"
                " WHERE m.digest = ? AND r.name = ? AND mr.kind = 'manifest'"
                " ORDER BY mr.position",
                (digest, repository),
            )
        )
