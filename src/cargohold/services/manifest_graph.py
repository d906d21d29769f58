"""Which manifests of a repository go with which: index children, referrers, and accessories
named by tag (cosign's `sha256-<hex>.sig`/`.att`/`.sbom`, the referrers tag schema's
`sha256-<hex>` index: oci/accessories.py) when their image is in the repository.

This is also the one place an image's size is computed (tags listing, lifecycle preview): the
manifest, everything that goes with it (index children and referrers such as signatures and
SBOMs, transitively) and the distinct blobs all of those reference, each counted once.
"""

from __future__ import annotations

from cargohold.meta.listings import ManifestFacts
from cargohold.oci.accessories import subjects_of


class ManifestGraph:
    """Which manifests go with which: index children, referrers and accessories,
    transitively."""

    def __init__(self, facts: list[ManifestFacts]) -> None:
        self.by_digest = {f.digest: f for f in facts}
        self.dependents: dict[str, set[str]] = {}
        # Accessory manifests (tagged only with accessory tags of images here) -> their images.
        self.accessory_of: dict[str, set[str]] = {}
        for f in facts:
            for kind, digest, _ in f.references:
                if kind == "manifest" and digest in self.by_digest:
                    self.dependents.setdefault(f.digest, set()).add(digest)
            if f.subject_digest in self.by_digest:
                self.dependents.setdefault(f.subject_digest, set()).add(f.digest)
            subjects = subjects_of(f.tags, f.digest, self.by_digest)
            if subjects:
                self.accessory_of[f.digest] = subjects
                for subject in subjects:
                    self.dependents.setdefault(subject, set()).add(f.digest)
        self.has_parent = {d for children in self.dependents.values() for d in children}

    def goes_with_another(self, digest: str) -> bool:
        """Whether this manifest is not an image of its own: an untagged index child or
        referrer, or an accessory. A referrer whose subject is absent counts too (it is kept
        and reported as an orphan, never selected by a lifecycle rule)."""
        f = self.by_digest[digest]
        if digest in self.accessory_of:
            return True
        return not f.tags and (digest in self.has_parent or f.subject_digest is not None)

    def accessories(self, digest: str) -> list[ManifestFacts]:
        """The accessory manifests (by tag) of an image, by digest."""
        return [
            self.by_digest[d]
            for d in sorted(self.dependents.get(digest, ()))
            if digest in self.accessory_of.get(d, ())
        ]

    def closure(self, roots: set[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            digest = stack.pop()
            if digest in seen:
                continue
            seen.add(digest)
            stack.extend(self.dependents.get(digest, ()))
        return seen

    def blobs(self, digests: set[str]) -> dict[str, int]:
        return {
            ref: size
            for digest in digests
            for kind, ref, size in self.by_digest[digest].references
            if kind != "manifest"
        }

    def image_size(self, digest: str) -> int:
        """Bytes of the image `digest` with everything that goes with it (module docstring)."""
        members = self.closure({digest})
        return sum(self.by_digest[d].size for d in members) + sum(self.blobs(members).values())
