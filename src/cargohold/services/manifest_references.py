"""What a manifest reference is (a tag or a digest), how an unknown one is answered, and
which images a tag names as their accessory."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.errors import DigestInvalid, ManifestUnknown, NameUnknown, RegistryError, TagInvalid
from cargohold.meta.store import MetadataStore
from cargohold.oci.accessories import accessory_subject
from cargohold.oci.digests import check_digest, looks_like_digest
from cargohold.oci.names import check_tag


@dataclass(frozen=True)
class Reference:
    """A manifest reference: a tag or a digest."""

    value: str
    is_digest: bool

    @classmethod
    def parse(cls, reference: str) -> Reference:
        if looks_like_digest(reference):
            return cls(check_digest(reference), True)
        return cls(check_tag(reference), False)

    @classmethod
    def parse_existing(cls, reference: str) -> Reference | None:
        """A reference to look up (GET, HEAD, DELETE): None when it is neither a valid tag nor
        a supported digest, so nothing can be stored under it. Such a manifest is unknown (404),
        as distribution's router and the OCI conformance suite have it; only a PUT, which
        would create it, is told the reference is invalid."""
        try:
            return cls.parse(reference)
        except (TagInvalid, DigestInvalid):
            return None


def manifest_unknown(meta: MetadataStore, repository: str, reference: str) -> RegistryError:
    """NAME_UNKNOWN for a repository that does not exist, else MANIFEST_UNKNOWN."""
    if not meta.repositories.exists(repository):
        return NameUnknown(detail={"name": repository})
    return ManifestUnknown(detail={"reference": reference[:200]})


def images_named_by(meta: MetadataStore, repository: str, tags: list[str]) -> set[str]:
    """The images in the repository these tags name as accessory tags (`.sig` etc.)."""
    subjects = {s for tag in tags if (s := accessory_subject(tag)) is not None}
    return {s for s in subjects if meta.manifests.find(repository, s, True) is not None}
