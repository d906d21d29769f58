"""Analyze one single-platform image: layers, waste, what the final image carries, its user.

Each layer is read once, front to back, straight from its blob (scan/layers.py: plain, gzip or
zstd, digest checked as it streams); nothing is extracted. The efficiency score is the share
of the file bytes the layers store that the final image shows: final / (final + wasted)
(docs/analyze.md).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Any

from cargohold.analysis.categories import CATEGORIES, category_of
from cargohold.analysis.model import (
    ContentCategory,
    DirectorySize,
    FileSize,
    HistoryStep,
    ImageAnalysis,
    LayerSummary,
    RunAs,
    WastedFile,
)
from cargohold.analysis.tree import DIR, FILE, FileTree, walk
from cargohold.scan.layers import LayerReader
from cargohold.scan.layout import ImageToScan

TOP = 20  # largest files, hidden copies
EXAMPLES = 5  # per category
DIRECTORY_DEPTH = 3


def analyze_image(image: ImageToScan, top: int = TOP) -> ImageAnalysis:
    tree = FileTree()
    for layer in image.layers:
        with LayerReader(layer.open(), layer.ref, layer.verify) as reader:
            tree.apply(reader)
    config = image.config or {}
    history, created_by = _history(config, len(image.layers))
    wasted_per_layer: dict[int, int] = defaultdict(int)
    for hidden in tree.hidden:
        wasted_per_layer[hidden.layer] += hidden.size
    sizes = [layer.size for layer in image.layers]
    layers = [
        LayerSummary(
            index=facts.index,
            digest=layer.ref.digest,
            compressed_bytes=layer.size,
            uncompressed_bytes=facts.uncompressed_bytes,
            content_bytes=facts.content_bytes,
            files=facts.files,
            deletions=facts.deletions,
            wasted_bytes=wasted_per_layer[facts.index],
            created_by=created_by[facts.index],
        )
        for facts, layer in zip(tree.layers, image.layers, strict=True)
    ]
    final = _final(tree, top)
    content = sum(layer.content_bytes for layer in layers)
    wasted = sum(hidden.size for hidden in tree.hidden)
    return ImageAnalysis(
        digest=image.digest,
        platform=str(image.platform) if image.platform else None,
        layers=layers,
        history=history,
        compressed_bytes=None if None in sizes else sum(s or 0 for s in sizes),
        uncompressed_bytes=sum(layer.uncompressed_bytes for layer in layers),
        content_bytes=content,
        final_bytes=final.bytes,
        final_files=final.files,
        wasted_bytes=wasted,
        efficiency=round(final.bytes / content, 4) if content else 1.0,
        wasted=[
            WastedFile(path=h.path, bytes=h.size, layer=h.layer, hidden_by=h.hidden_by, how=h.how)
            for h in heapq.nlargest(top, tree.hidden, key=lambda h: (h.size, h.path))
        ],
        wasted_files=len(tree.hidden),
        largest_files=final.largest,
        categories=final.categories,
        run_as=run_as(config, tree.passwd),
        directories=final.directories,
    )


def _history(config: dict[str, Any], layers: int) -> tuple[list[HistoryStep], list[str | None]]:
    """The config's history, and per layer the instruction that made it. Steps marked
    `empty_layer` (ENV, USER, CMD...) made no layer; the others map to the layers in order,
    when there are as many of them as layers (else no layer is named)."""
    entries = [e for e in config.get("history") or [] if isinstance(e, dict)]
    steps_with_layers = sum(1 for e in entries if not e.get("empty_layer"))
    mapped = steps_with_layers == layers
    steps: list[HistoryStep] = []
    created_by: list[str | None] = [None] * layers
    position = 0
    for entry in entries:
        text = entry.get("created_by")
        text = text.strip() if isinstance(text, str) else None
        comment = entry.get("comment") if isinstance(entry.get("comment"), str) else None
        layer = None
        if not entry.get("empty_layer"):
            if mapped:
                layer = position
                created_by[position] = text
            position += 1
        steps.append(HistoryStep(created_by=text, layer=layer, comment=comment))
    return steps, created_by


def run_as(config: dict[str, Any], passwd: bytes | None) -> RunAs:
    """Who the image's process runs as: the config's User (`name`, `uid`, `name:group`)."""
    inner = config.get("config") or {}
    user = inner.get("User") if isinstance(inner, dict) else None
    user = user if isinstance(user, str) else ""
    name = user.split(":", 1)[0]
    if not name:
        return RunAs(user=user, root=True, reason="no USER is set: runs as root")
    if name.isdigit():
        uid = int(name)
        return RunAs(user=user, root=uid == 0, reason=f"UID {uid}")
    if name == "root":
        return RunAs(user=user, root=True, reason="root")
    for line in (passwd or b"").decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            uid = int(fields[2])
            return RunAs(user=user, root=uid == 0, reason=f"UID {uid} in /etc/passwd")
    return RunAs(
        user=user,
        root=False,
        reason=f"{name} is not in the image's /etc/passwd: a runtime refuses to start it",
    )


class _Final:
    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0
        self.largest: list[FileSize] = []
        self.categories: list[ContentCategory] = []
        self.directories: list[DirectorySize] = []


def _final(tree: FileTree, top: int) -> _Final:
    """One walk of the merged tree: totals, largest files, categories, directory sizes."""
    final = _Final()
    files: list[FileSize] = []
    by_category: dict[str, list[FileSize]] = {name: [] for name in CATEGORIES}
    directories: dict[str, list[int]] = {}
    for path, node in walk(tree.root):
        if node.kind == DIR:
            if path and path.count("/") < DIRECTORY_DEPTH:
                directories.setdefault(path, [0, 0])
            continue
        entry = FileSize(path="/" + path, bytes=node.size, layer=node.layer)
        final.files += 1
        if node.kind == FILE:
            final.bytes += node.size
            files.append(entry)
        category = category_of(path)
        if category is not None:
            by_category[category].append(entry)
        parts = path.split("/")[:-1]
        for depth in range(1, min(len(parts), DIRECTORY_DEPTH) + 1):
            totals = directories.setdefault("/".join(parts[:depth]), [0, 0])
            totals[0] += node.size
            totals[1] += 1
    final.largest = heapq.nlargest(top, files, key=lambda f: (f.bytes, f.path))
    final.categories = [
        ContentCategory(
            name=name,
            files=len(found),
            bytes=sum(f.bytes for f in found),
            examples=heapq.nlargest(EXAMPLES, found, key=lambda f: (f.bytes, f.path)),
        )
        for name, found in by_category.items()
    ]
    final.directories = sorted(
        (DirectorySize(path="/" + p, bytes=b, files=n) for p, (b, n) in directories.items()),
        key=lambda d: (-d.bytes, d.path),
    )
    return final
