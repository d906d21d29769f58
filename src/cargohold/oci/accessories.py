"""Tags that name another manifest of the repository: cosign's accessory tags
(`sha256-<hex>.sig` signatures, `.att` attestations, `.sbom` SBOMs) and the OCI referrers tag
schema's index tag (`sha256-<hex>`, for registries without the referrers API).

A manifest whose every tag is such a tag, naming an image that is in the same repository, is
an accessory of that image: listed with it, kept, held and deleted with it, counted in its
size (services/manifest_graph.py, meta/deletions.py, policy/immutability.py). A tag of that
form naming a digest the repository does not hold is an ordinary tag.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

ACCESSORY_TAG_RE = re.compile(r"(sha256)-([a-f0-9]{64})(\.sig|\.att|\.sbom)?")
ACCESSORY_SUFFIXES = ("", ".sig", ".att", ".sbom")


def accessory_subject(tag: str) -> str | None:
    """The digest an accessory tag is about (`sha256-<hex>.sig` -> `sha256:<hex>`), or None
    for any other tag. Only exactly this form counts: no prefix, suffix or other case."""
    match = ACCESSORY_TAG_RE.fullmatch(tag)
    return f"{match.group(1)}:{match.group(2)}" if match else None


def accessory_tag(digest: str, suffix: str = "") -> str:
    """The accessory tag of the image `digest` with this suffix: `sha256:abc` ->
    `sha256-abc.sig` for ".sig", `sha256-abc` (the referrers tag schema's) for none."""
    return digest.replace(":", "-", 1) + suffix


def accessory_tags(digest: str) -> tuple[str, ...]:
    """Every accessory tag an image with this digest can have."""
    return tuple(accessory_tag(digest, suffix) for suffix in ACCESSORY_SUFFIXES)


def subjects_of(tags: Iterable[str], digest: str, present: Collection[str]) -> set[str] | None:
    """The images a manifest tagged `tags` is an accessory of, or None when it is not one.

    It is one when it has tags and every tag is an accessory tag naming another manifest in
    `present` (the repository's digests): a manifest that also carries an ordinary tag is an
    image of its own.
    """
    subjects: set[str] = set()
    for tag in tags:
        subject = accessory_subject(tag)
        if subject is None or subject == digest or subject not in present:
            return None
        subjects.add(subject)
    return subjects or None
