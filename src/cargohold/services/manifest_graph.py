"""Which manifests of a repository go with which: index children and referrers.

This is also the one place an image's size is computed (tags listing, lifecycle preview): the
manifest, everything that goes with it (index children and referrers such as signatures and
SBOMs, transitively) and the distinct blobs all of those reference, each counted once.
"""

from __future__ import annotations

from cargohold.meta.listings import ManifestFacts


class ManifestGraph:
    """Which manifests go with which: index children and referrers, transitively."""

    def __init__(self, facts: list[ManifestFacts]) -> None:
        self.by_digest = {f.digest: f for f in facts}
        self.dependents: dict[str, set[str]] = {}
        for f in facts:
            for kind, digest, _ in f.references:
                if kind == "manifest" and digest in self.by_digest:
                    self.dependents.setdefault(f.digest, set()).add(digest)
            if f.subject_digest in self.by_digest:
                self.dependents.setdefault(f.subject_digest, set()).add(f.digest)
        self.has_parent = {d for children in self.dependents.values() for d in children}

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
