"""What is stored: system counts, repositories with sizes, tags with push and pull times."""

from __future__ import annotations

import platform
from typing import Any

from cargohold import __version__
from cargohold.errors import NameUnknown
from cargohold.meta.store import MetadataStore
from cargohold.oci.names import check_name
from cargohold.services.manifest_graph import ManifestGraph
from cargohold.storage.base import BlobDriver
from cargohold.storage.space import SpaceReserve


class RegistryListings:
    """The admin API's listings of what the registry holds (not a package inventory: that is
    scan/inventory.py)."""

    def __init__(self, meta: MetadataStore, blobs: BlobDriver, space: SpaceReserve) -> None:
        self.meta = meta
        self.blobs = blobs
        self.space = space

    def system(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "version": __version__,
            "python": platform.python_version(),
            "storage": {"driver": self.blobs.name},
            "metadata": {"dialect": self.meta.dialect},
            "counts": self.meta.listings.system_counts(),
        }
        info["disk"] = self.space.usage().as_dict()
        return info

    def repositories(self, limit: int, last: str | None) -> list[dict[str, object]]:
        return self.meta.listings.repository_summaries(limit, last)

    def tags(self, repository: str) -> list[dict[str, object]]:
        check_name(repository)
        details = self.meta.listings.tag_details(repository)
        facts = self.meta.listings.repository_manifests(repository)
        if details is None or facts is None:
            raise NameUnknown(detail={"name": repository})
        graph = ManifestGraph(facts)
        for row in details:
            digest = str(row["digest"])
            if digest in graph.by_digest:  # else deleted between the two reads: its own size
                row["size_bytes"] = graph.image_size(digest)
        return details

    def audit(self, limit: int) -> list[dict[str, Any]]:
        """The newest administrative changes first: who, when, what."""
        return self.meta.audit_log.recent(limit)
