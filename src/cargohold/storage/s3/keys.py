"""Where things live in the bucket: every key is built here, from validated parts only.

- objects: `<prefix>blobs/<algorithm>/<first two hex>/<hex>` (the filesystem's layout);
- a staged name's objects under `<prefix>uploads/<name>/`: `chunk-<offset>` (whole parts of
  the upload, readable), `tail-<offset>` (pieces of the bytes after the last chunk, writer.py),
  `lease`, and `state` (the parts of a located upload, located.py);
- a located upload's objects: `<prefix>located/<name>/<random>`, its multipart upload while
  parts arrive, then the completed blob that a `blob_locations` row points at (decision 055).

Offsets are zero-padded so that listing a session returns its chunks in order.
"""

from __future__ import annotations

import re

from cargohold.oci.digests import is_valid_digest

# As the filesystem driver: no `/`, no leading dot, so a name is one path segment.
STAGED_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
OFFSET_DIGITS = 16
LEASE = "lease"
STATE = "state"
CHUNK = "chunk-"
TAIL = "tail-"


def _staged_name(name: str) -> str:
    if not STAGED_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid staged name {name!r}")
    return name


def normalize_prefix(prefix: str) -> str:
    """`registry`, `/registry/` -> `registry/`; empty stays empty."""
    cleaned = prefix.strip("/")
    return f"{cleaned}/" if cleaned else ""


class KeyLayout:
    def __init__(self, prefix: str) -> None:
        self.prefix = normalize_prefix(prefix)
        self.blobs = f"{self.prefix}blobs/"
        self.uploads = f"{self.prefix}uploads/"
        self.located = f"{self.prefix}located/"

    def blob(self, digest: str) -> str:
        if not is_valid_digest(digest):
            raise ValueError(f"invalid digest {digest!r}")
        algorithm, hexpart = digest.split(":", 1)
        return f"{self.blobs}{algorithm}/{hexpart[:2]}/{hexpart}"

    def digest_of(self, key: str) -> str | None:
        """The digest an object key stands for; None for anything else in the bucket."""
        parts = key[len(self.blobs) :].split("/") if key.startswith(self.blobs) else []
        if len(parts) != 3:
            return None
        digest = f"{parts[0]}:{parts[2]}"
        return digest if is_valid_digest(digest) and parts[2][:2] == parts[1] else None

    def session(self, name: str) -> str:
        """The prefix of a staged name's objects."""
        return f"{self.uploads}{_staged_name(name)}/"

    def located_under(self, name: str) -> str:
        """The prefix of a staged name's located objects."""
        return f"{self.located}{_staged_name(name)}/"

    @staticmethod
    def at(kind: str, offset: int) -> str:
        return f"{kind}{offset:0{OFFSET_DIGITS}d}"

    @staticmethod
    def offset_of(leaf: str, kind: str) -> int | None:
        digits = leaf[len(kind) :]
        if not leaf.startswith(kind) or len(digits) != OFFSET_DIGITS or not digits.isdigit():
            return None
        return int(digits)
