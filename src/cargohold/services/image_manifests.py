"""The image manifests a stored manifest stands for: itself when it is an image, the image
manifests an index lists (those stored in the repository), or none (an artifact). What the
scanner and the analyzer read layers from."""

from __future__ import annotations

from cargohold.errors import ManifestUnknown
from cargohold.meta.manifests import ManifestRecords
from cargohold.oci import mediatypes as mt
from cargohold.oci.manifests import Manifest, parse_manifest

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


def is_scannable(manifest: Manifest) -> bool:
    """An image manifest whose config is an image config (not a signature, SBOM, chart...)."""
    return (
        not manifest.is_index
        and manifest.media_type in mt.IMAGE_MANIFESTS
        and manifest.config is not None
        and manifest.config.media_type in IMAGE_CONFIGS
    )


def stored_manifest(manifests: ManifestRecords, repository: str, digest: str) -> Manifest:
    stored = manifests.find(repository, digest, True)
    if stored is None:
        raise ManifestUnknown(f"no manifest {digest} in {repository}")
    return parse_manifest(stored.content, stored.media_type)


def image_targets(
    manifests: ManifestRecords, repository: str, digest: str
) -> tuple[Manifest, list[tuple[str, Manifest]]]:
    """The manifest `digest` names, and the (digest, manifest) of each image it stands for."""
    manifest = stored_manifest(manifests, repository, digest)
    if not manifest.is_index:
        return manifest, [(digest, manifest)] if is_scannable(manifest) else []
    targets = []
    for child in manifest.children:
        try:
            child_manifest = stored_manifest(manifests, repository, child.digest)
        except ManifestUnknown:
            continue
        if is_scannable(child_manifest):
            targets.append((child.digest, child_manifest))
    return manifest, targets
