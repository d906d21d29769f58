"""What is stored: system counts, repositories with sizes, tags with push and pull times."""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass

from cargohold import __version__
from cargohold.errors import NameUnknown
from cargohold.meta.listings import RepositorySummary, StoreTotals, SystemCounts, TagDetail
from cargohold.meta.store import MetadataStore
from cargohold.oci.names import check_name
from cargohold.services.accessories import ImageTrust, image_trust
from cargohold.services.manifest_graph import ManifestGraph
from cargohold.storage.base import BlobDriver
from cargohold.storage.space import DiskUsage, SpaceReserve


@dataclass(frozen=True)
class SystemFacts:
    """The server's version, its stores, what it holds and its data directory's disk."""

    version: str
    python: str
    storage_driver: str
    metadata_dialect: str
    counts: SystemCounts
    disk: DiskUsage


class RegistryListings:
    """The admin API's listings of what the registry holds (not a package inventory: that is
    scan/inventory.py)."""

    def __init__(self, meta: MetadataStore, blobs: BlobDriver, space: SpaceReserve) -> None:
        self.meta = meta
        self.blobs = blobs
        self.space = space

    def system(self) -> SystemFacts:
        return SystemFacts(
            version=__version__,
            python=platform.python_version(),
            storage_driver=self.blobs.name,
            metadata_dialect=self.meta.dialect,
            counts=self.meta.listings.system_counts(),
            disk=self.space.usage(),
        )

    def store_totals(self) -> StoreTotals:
        """Counts and bytes of what is stored, and the open upload sessions (for /metrics)."""
        return self.meta.listings.store_totals()

    def repositories(self, limit: int, last: str | None) -> list[RepositorySummary]:
        return self.meta.listings.repository_summaries(limit, last)

    def tags(self, repository: str) -> list[tuple[TagDetail, ImageTrust]]:
        """Each tag with its image's size (the manifest, what goes with it and the distinct
        blobs all of them reference: ManifestGraph.image_size) and the signatures and other
        accessories stored with it. Accessory tags (`sha256-<hex>.sig` and the like) of an
        image in the repository are not listed as tags of their own."""
        check_name(repository)
        details = self.meta.listings.tag_details(repository)
        facts = self.meta.listings.repository_manifests(repository)
        if details is None or facts is None:
            raise NameUnknown(detail={"name": repository})
        graph = ManifestGraph(facts)
        rows = []
        for row in details:
            if row.digest not in graph.by_digest:
                # A manifest deleted between the two reads keeps its own size.
                rows.append((row, ImageTrust(0, ())))
            elif row.digest not in graph.accessory_of:
                size = graph.image_size(row.digest)
                rows.append((dataclasses.replace(row, size=size), image_trust(graph, row.digest)))
        return rows
