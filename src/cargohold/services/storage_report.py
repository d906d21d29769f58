"""Storage accounting: logical, unique and shared bytes per project and repository.

- logical: what the images add up to, each image counted whole (manifest plus every blob
  it references), as if nothing were shared;
- unique: the distinct blobs a repository's or project's manifests reference, plus those of
  pushes in flight (the quota's measure);
- shared with other projects: the part of a project's unique bytes other projects count too;
- stored: the distinct blobs the registry holds, each once; deduplication ratio is
  logical / stored;
- reclaimable: what garbage collection would free now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from cargohold.meta.accounting import StorageAccounting
from cargohold.oci.names import project_of
from cargohold.services.gc import GarbageCollector


@dataclass(frozen=True)
class RepositoryStorage:
    repository: str
    manifests: int
    logical_bytes: int
    unique_bytes: int


@dataclass(frozen=True)
class ProjectStorage:
    project: str
    repositories: int
    logical_bytes: int
    unique_bytes: int
    shared_with_other_projects_bytes: int


@dataclass(frozen=True)
class StorageReport:
    stored_blobs: int
    stored_bytes: int
    logical_bytes: int
    # logical / stored, to three places; None when nothing is stored.
    deduplication_ratio: float | None
    reclaimable_blobs: int
    reclaimable_bytes: int
    projects: list[ProjectStorage]
    repositories: list[RepositoryStorage]


class StorageReportService:
    def __init__(self, accounting: StorageAccounting, gc: GarbageCollector) -> None:
        self.accounting = accounting
        self.gc = gc

    def report(self) -> StorageReport:
        links = self.accounting.blob_links()
        logical = self.accounting.logical_sizes()
        sizes: dict[str, int] = {}
        repo_blobs: dict[str, set[str]] = defaultdict(set)
        project_blobs: dict[str, set[str]] = defaultdict(set)
        projects_of_blob: dict[str, set[str]] = defaultdict(set)
        for repository, digest, size in links:
            sizes[digest] = size
            repo_blobs[repository].add(digest)
            project_blobs[project_of(repository)].add(digest)
            projects_of_blob[digest].add(project_of(repository))
        repositories = sorted(set(repo_blobs) | set(logical))

        def total(digests: set[str]) -> int:
            return sum(sizes[d] for d in digests)

        repository_rows = [
            RepositoryStorage(
                repository=name,
                manifests=logical.get(name, (0, 0))[0],
                logical_bytes=logical.get(name, (0, 0))[1],
                unique_bytes=total(repo_blobs.get(name, set())),
            )
            for name in repositories
        ]
        project_rows = []
        for project in sorted({project_of(name) for name in repositories}):
            digests = project_blobs.get(project, set())
            project_rows.append(
                ProjectStorage(
                    project=project,
                    repositories=sum(1 for n in repositories if project_of(n) == project),
                    logical_bytes=sum(
                        row.logical_bytes
                        for row in repository_rows
                        if project_of(row.repository) == project
                    ),
                    unique_bytes=total(digests),
                    shared_with_other_projects_bytes=total(
                        {d for d in digests if len(projects_of_blob[d]) > 1}
                    ),
                )
            )
        stored_blobs, stored_bytes = self.accounting.stored_blob_bytes()
        logical_total = sum(row.logical_bytes for row in repository_rows)
        reclaimable_blobs, reclaimable_bytes = self.gc.count()
        return StorageReport(
            stored_blobs=stored_blobs,
            stored_bytes=stored_bytes,
            logical_bytes=logical_total,
            deduplication_ratio=round(logical_total / stored_bytes, 3) if stored_bytes else None,
            reclaimable_blobs=reclaimable_blobs,
            reclaimable_bytes=reclaimable_bytes,
            projects=project_rows,
            repositories=repository_rows,
        )
