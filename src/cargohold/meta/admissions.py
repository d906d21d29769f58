"""What the Kubernetes admission webhook admitted: per cluster, namespace, workload,
repository and digest, when first and last (services/admission.py writes them; lifecycle and
garbage collection keep what was admitted recently; `cargohold where` reads them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction

_COLUMNS = (
    "cluster, namespace, kind, name, repository, digest, image, first_admitted_at, last_admitted_at"
)


@dataclass(frozen=True)
class AdmissionRow:
    cluster: str
    namespace: str
    kind: str  # the workload's kind: Pod, Deployment, CronJob...
    name: str
    repository: str
    digest: str
    image: str  # the reference as the workload wrote it
    first_admitted_at: float
    last_admitted_at: float


def _row(values: tuple[object, ...]) -> AdmissionRow:
    c, ns, kind, name, repository, digest, image, first, last = values
    return AdmissionRow(
        str(c),
        str(ns),
        str(kind),
        str(name),
        str(repository),
        str(digest),
        str(image),
        float(first),  # type: ignore[arg-type]
        float(last),  # type: ignore[arg-type]
    )


class AdmissionRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, rows: Iterable[AdmissionRow]) -> int:
        """Store admissions: a new workload and image is a row, one seen before moves its
        last time (and the reference it was written with). How many rows were given."""
        values = [
            (
                r.cluster,
                r.namespace,
                r.kind,
                r.name,
                r.repository,
                r.digest,
                r.image,
                r.first_admitted_at,
                r.last_admitted_at,
            )
            for r in rows
        ]
        if not values:
            return 0
        with self.db.transaction() as tx:
            tx.executemany(
                f"INSERT INTO admissions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (cluster, namespace, kind, name, repository, digest) DO UPDATE SET"
                " image = excluded.image, last_admitted_at = excluded.last_admitted_at",
                values,
            )
        return len(values)

    def of_image(self, repository: str, digest: str | None = None) -> list[AdmissionRow]:
        """Where an image (every digest of the repository, without one) was admitted, the
        latest first."""
        where, params = "repository = ?", [repository]
        if digest is not None:
            where += " AND digest = ?"
            params.append(digest)
        rows = self.db.rows(
            f"SELECT {_COLUMNS} FROM admissions WHERE {where}"
            " ORDER BY last_admitted_at DESC, cluster, namespace, kind, name",
            params,
        )
        return [_row(r) for r in rows]

    def latest_since(self, repository: str, since: float) -> dict[str, AdmissionRow]:
        """Each digest of the repository admitted at or after `since`, with its latest
        admission (what lifecycle and garbage collection keep)."""
        found: dict[str, AdmissionRow] = {}
        for values in self.db.rows(
            f"SELECT {_COLUMNS} FROM admissions WHERE repository = ? AND last_admitted_at >= ?"
            " ORDER BY last_admitted_at DESC",
            (repository, since),
        ):
            row = _row(values)
            found.setdefault(row.digest, row)
        return found

    def purge_before(self, before: float) -> int:
        """Delete the records last admitted before `before`; how many went."""
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM admissions WHERE last_admitted_at < ?", (before,))

    @staticmethod
    def digests_since_in(tx: Transaction, repository: str, since: float) -> set[str]:
        """The same digests, read inside a delete's transaction (the compare-and-delete)."""
        return set(
            tx.column(
                "SELECT DISTINCT digest FROM admissions"
                " WHERE repository = ? AND last_admitted_at >= ?",
                (repository, since),
            )
        )
