"""Response models for what the registry holds: system, repositories, tags, storage accounting
and project quotas."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc, utc_or_none
from cargohold.meta.listings import RepositorySummary, TagDetail
from cargohold.services.accessories import Accessory, ImageTrust
from cargohold.services.listings import SystemFacts
from cargohold.services.quotas import ProjectQuota
from cargohold.services.storage_report import ProjectStorage, RepositoryStorage
from cargohold.services.storage_report import StorageReport as StorageReportFacts
from cargohold.storage.space import DiskUsage


class StorageDriver(Model):
    driver: str


class MetadataStore(Model):
    dialect: Annotated[str, msgspec.Meta(description="sqlite or postgresql")]


class Counts(Model):
    repositories: int
    manifests: int
    tags: int
    blobs: int
    blob_bytes: Annotated[int, msgspec.Meta(description="The stored blobs' bytes, each once")]


class Disk(Model):
    """Free space of the data directory's filesystem."""

    path: str
    total_bytes: int
    free_bytes: int
    reserve_bytes: Annotated[
        int, msgspec.Meta(description="Space kept for deletes on a full disk (disk_reserve_bytes)")
    ]
    reserve_held: bool
    disk_full: Annotated[
        bool,
        msgspec.Meta(
            description="Pushes are refused with 507 DISK_FULL until deletes and garbage "
            "collection free space"
        ),
    ]
    low_space: bool

    @classmethod
    def of(cls, usage: DiskUsage) -> Disk:
        return cls(
            path=usage.path,
            total_bytes=usage.total_bytes,
            free_bytes=usage.free_bytes,
            reserve_bytes=usage.reserve_bytes,
            reserve_held=usage.reserve_held,
            disk_full=usage.full,
            low_space=usage.low,
        )


class JobQueue(Model):
    pending: Annotated[int, msgspec.Meta(description="Background jobs queued, not yet running")]


class System(Model):
    """Version, storage driver, metadata store, object counts, disk and job queue."""

    version: str
    python: str
    storage: StorageDriver
    metadata: MetadataStore
    counts: Counts
    disk: Disk
    jobs: JobQueue

    @classmethod
    def of(cls, facts: SystemFacts, pending_jobs: int) -> System:
        counts = facts.counts
        return cls(
            version=facts.version,
            python=facts.python,
            storage=StorageDriver(driver=facts.storage_driver),
            metadata=MetadataStore(dialect=facts.metadata_dialect),
            counts=Counts(
                repositories=counts.repositories,
                manifests=counts.manifests,
                tags=counts.tags,
                blobs=counts.blobs,
                blob_bytes=counts.blob_bytes,
            ),
            disk=Disk.of(facts.disk),
            jobs=JobQueue(pending=pending_jobs),
        )


class Repository(Model):
    name: str
    manifests: int
    tags: int
    size_bytes: Annotated[
        int,
        msgspec.Meta(
            description="Distinct blobs its manifests reference or a push in flight uploaded, "
            "plus its manifests"
        ),
    ]
    last_pushed_at: UtcTime | None

    @classmethod
    def of(cls, row: RepositorySummary) -> Repository:
        return cls(
            name=row.name,
            manifests=row.manifests,
            tags=row.tags,
            size_bytes=row.size,
            last_pushed_at=utc_or_none(row.last_pushed_at),
        )


class RepositoryList(Model):
    repositories: list[Repository]


class Tag(Model):
    tag: str
    digest: str
    media_type: str
    size_bytes: Annotated[
        int,
        msgspec.Meta(
            description="The image: the manifest, what goes with it (index children, "
            "referrers) and the distinct blobs all of them reference"
        ),
    ]
    pushed_at: UtcTime
    tagged_at: UtcTime
    last_pulled_at: UtcTime | None
    signed: Annotated[
        bool,
        msgspec.Meta(
            description="At least one signature is stored with the image (a sha256-<hex>.sig "
            "tag, a cosign signature referrer or a sigstore bundle); not a verification"
        ),
    ]
    signatures: Annotated[int, msgspec.Meta(description="How many signatures are stored")]
    accessories: Annotated[
        list[TagAccessory],
        msgspec.Meta(
            description="Manifests stored with the image: signatures, attestations, SBOMs "
            "and referrers-index tags, and referrers; listed here, not as tags"
        ),
    ]
    verified_keys: Annotated[
        list[str] | None,
        msgspec.Meta(
            description="Fingerprints of the project's trusted keys with a valid signature; "
            "null while the registry has no trusted keys to check with"
        ),
    ] = None

    @classmethod
    def of(cls, row: TagDetail, trust: ImageTrust) -> Tag:
        return cls(
            tag=row.tag,
            digest=row.digest,
            media_type=row.media_type,
            size_bytes=row.size,
            pushed_at=utc(row.pushed_at),
            tagged_at=utc(row.tagged_at),
            last_pulled_at=utc_or_none(row.last_pulled_at),
            signed=trust.signed,
            signatures=trust.signatures,
            accessories=[TagAccessory.of(a) for a in trust.accessories],
        )


class TagAccessory(Model):
    kind: Annotated[
        str,
        msgspec.Meta(
            description="signature, attestation, sbom, referrers-index (by tag) or referrer"
        ),
    ]
    digest: str
    tag: str | None
    artifact_type: str | None

    @classmethod
    def of(cls, accessory: Accessory) -> TagAccessory:
        return cls(
            kind=accessory.kind,
            digest=accessory.digest,
            tag=accessory.tag,
            artifact_type=accessory.artifact_type,
        )


class TagList(Model):
    name: str
    tags: list[Tag]


class RepositoryUsage(Model):
    repository: str
    manifests: int
    logical_bytes: int
    unique_bytes: int

    @classmethod
    def of(cls, row: RepositoryStorage) -> RepositoryUsage:
        return cls(
            repository=row.repository,
            manifests=row.manifests,
            logical_bytes=row.logical_bytes,
            unique_bytes=row.unique_bytes,
        )


class ProjectUsage(Model):
    project: str
    repositories: int
    logical_bytes: int
    unique_bytes: int
    shared_with_other_projects_bytes: int

    @classmethod
    def of(cls, row: ProjectStorage) -> ProjectUsage:
        return cls(
            project=row.project,
            repositories=row.repositories,
            logical_bytes=row.logical_bytes,
            unique_bytes=row.unique_bytes,
            shared_with_other_projects_bytes=row.shared_with_other_projects_bytes,
        )


class StorageReport(Model):
    """Logical, unique and shared bytes per project and repository (docs/operations.md)."""

    stored_blobs: int
    stored_bytes: int
    logical_bytes: int
    deduplication_ratio: Annotated[
        float | None, msgspec.Meta(description="logicalBytes / storedBytes; null when empty")
    ]
    reclaimable_blobs: int
    reclaimable_bytes: int
    projects: list[ProjectUsage]
    repositories: list[RepositoryUsage]

    @classmethod
    def of(cls, report: StorageReportFacts) -> StorageReport:
        return cls(
            stored_blobs=report.stored_blobs,
            stored_bytes=report.stored_bytes,
            logical_bytes=report.logical_bytes,
            deduplication_ratio=report.deduplication_ratio,
            reclaimable_blobs=report.reclaimable_blobs,
            reclaimable_bytes=report.reclaimable_bytes,
            projects=[ProjectUsage.of(row) for row in report.projects],
            repositories=[RepositoryUsage.of(row) for row in report.repositories],
        )


class Quota(Model):
    project: str
    limit_bytes: Annotated[int | None, msgspec.Meta(description="null: no quota")]
    usage_bytes: int

    @classmethod
    def of(cls, quota: ProjectQuota) -> Quota:
        return cls(project=quota.project, limit_bytes=quota.limit, usage_bytes=quota.usage)
