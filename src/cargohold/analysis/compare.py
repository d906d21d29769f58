"""Compare two analyses: "measure image size before and after".

Layers are paired by position; a pair with one digest is the same blob (shared, pulled once).
Directories are compared down to the depth the analyses keep (three levels): added, removed,
grown or shrunk. Files only as far as the analyses list them: the largest files of one image
that are not among the largest of the other (added, removed, or changed in size).
"""

from __future__ import annotations

from cargohold.analysis.model import (
    Comparison,
    DirectoryChange,
    FileSize,
    ImageAnalysis,
    LayerChange,
    LayerSummary,
)


def compare(old: ImageAnalysis, new: ImageAnalysis, old_name: str, new_name: str) -> Comparison:
    return Comparison(
        old=old_name,
        new=new_name,
        old_bytes=old.final_bytes,
        new_bytes=new.final_bytes,
        delta=new.final_bytes - old.final_bytes,
        old_compressed=old.compressed_bytes,
        new_compressed=new.compressed_bytes,
        old_efficiency=old.efficiency,
        new_efficiency=new.efficiency,
        layers=_layers(old.layers, new.layers),
        directories=_directories(old, new),
        largest_added=_missing(new.largest_files, old),
        largest_removed=_missing(old.largest_files, new),
    )


def _layers(old: list[LayerSummary], new: list[LayerSummary]) -> list[LayerChange]:
    changes = []
    for index in range(max(len(old), len(new))):
        before = old[index] if index < len(old) else None
        after = new[index] if index < len(new) else None
        if before is None:
            change = "added"
        elif after is None:
            change = "removed"
        else:
            change = "same" if before.digest == after.digest else "changed"
        shown = after or before
        assert shown is not None
        changes.append(
            LayerChange(
                index=index,
                old_digest=before.digest if before else None,
                new_digest=after.digest if after else None,
                old_bytes=before.uncompressed_bytes if before else 0,
                new_bytes=after.uncompressed_bytes if after else 0,
                change=change,
                created_by=shown.created_by,
            )
        )
    return changes


def _directories(old: ImageAnalysis, new: ImageAnalysis) -> list[DirectoryChange]:
    before = {d.path: d.bytes for d in old.directories}
    after = {d.path: d.bytes for d in new.directories}
    changes = []
    for path in before.keys() | after.keys():
        old_bytes, new_bytes = before.get(path), after.get(path)
        if old_bytes == new_bytes:
            continue
        if old_bytes is None:
            change = "added"
        elif new_bytes is None:
            change = "removed"
        else:
            change = "grown" if new_bytes > old_bytes else "shrunk"
        delta = (new_bytes or 0) - (old_bytes or 0)
        changes.append(
            DirectoryChange(
                path=path,
                old_bytes=old_bytes or 0,
                new_bytes=new_bytes or 0,
                delta=delta,
                change=change,
            )
        )
    return sorted(changes, key=lambda c: (-abs(c.delta), c.path))


def _missing(files: list[FileSize], other: ImageAnalysis) -> list[FileSize]:
    """Of `files` (one image's largest), those not among the other image's largest."""
    present = {f.path for f in other.largest_files}
    return [f for f in files if f.path not in present]
