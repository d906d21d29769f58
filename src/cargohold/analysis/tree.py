"""The image's file tree, built from tar headers in one streaming pass per layer.

Layers apply as an overlay filesystem applies them (scan/overlay.py keeps the same rules for
the scanner, which also keeps file contents): a whiteout `.wh.NAME` deletes NAME from the
layers below, an opaque marker `.wh..wh..opq` hides what the layers below put in its
directory, and a path written again replaces the lower one (a directory over a directory
merges). Whiteouts and opaque markers apply to the lower layers only, wherever they stand in
the layer's tar stream, so a layer's entries are gathered first and applied after its deletions.

Every copy of a regular file's content that a later layer hides this way is waste: the image
stores and ships it, and no container sees it. No content is read, except a small
/etc/passwd (to tell which UID the configured user is).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

from cargohold.scan.layers import LayerReader
from cargohold.scan.overlay import DIRECTORY, OPAQUE_DIR, WHITEOUT, layer_entries

DIR, FILE, LINK = "d", "f", "l"
PASSWD = "etc/passwd"
MAX_PASSWD_BYTES = 1 << 20

# How a lower copy was hidden.
OVERWRITTEN, DELETED, OPAQUE = "overwritten", "deleted", "opaque"


class Node:
    """A path of the merged tree: a directory (with children), a file or a link."""

    __slots__ = ("children", "kind", "layer", "size")

    def __init__(self, kind: str, size: int, layer: int) -> None:
        self.kind = kind
        self.size = size
        self.layer = layer
        self.children: dict[str, Node] | None = {} if kind == DIR else None


@dataclass(frozen=True)
class Hidden:
    """A regular file's copy in `layer` that layer `hidden_by` hides."""

    path: str
    size: int
    layer: int
    hidden_by: int
    how: str


@dataclass
class LayerFacts:
    index: int
    uncompressed_bytes: int = 0
    content_bytes: int = 0
    files: int = 0
    deletions: int = 0


@dataclass
class FileTree:
    root: Node = field(default_factory=lambda: Node(DIR, 0, 0))
    hidden: list[Hidden] = field(default_factory=list)
    layers: list[LayerFacts] = field(default_factory=list)
    passwd: bytes | None = None

    def apply(self, reader: LayerReader) -> LayerFacts:
        """Read one layer's tar headers (its stream, once) and apply them to the tree."""
        facts = LayerFacts(reader.ref.index)
        entries: list[tuple[str, str, int]] = []
        opaque: list[str] = []
        whiteouts: list[str] = []
        for kind, path, member in layer_entries(reader):
            if kind == OPAQUE_DIR:
                opaque.append(path)
                continue
            if kind == WHITEOUT:
                whiteouts.append(path)
                continue
            if kind == DIRECTORY:
                entries.append((path, DIR, 0))
                continue
            size = member.size if member.isreg() else 0
            entries.append((path, FILE if member.isreg() or member.islnk() else LINK, size))
            facts.files += 1
            facts.content_bytes += size
            if path == PASSWD and member.isreg() and size <= MAX_PASSWD_BYTES:
                self.passwd = reader.read(member)
        facts.uncompressed_bytes = reader.uncompressed_bytes
        facts.deletions = len(opaque) + len(whiteouts)
        layer = facts.index
        for directory in opaque:
            node = self._find(directory)
            if node is not None and node.children is not None:
                for name, child in node.children.items():
                    self._hide(posixpath.join(directory, name), child, layer, OPAQUE)
                node.children = {}
        for path in whiteouts:
            self._remove(path, layer)
        for path, kind, size in entries:
            self._insert(path, kind, size, layer)
        self.layers.append(facts)
        return facts

    def _find(self, path: str) -> Node | None:
        node: Node | None = self.root
        for part in path.split("/") if path else []:
            if node is None or node.children is None:
                return None
            node = node.children.get(part)
        return node

    def _remove(self, path: str, layer: int) -> None:
        parent_path, name = posixpath.split(path)
        parent = self._find(parent_path)
        if parent is None or parent.children is None:
            return
        node = parent.children.pop(name, None)
        if node is not None:
            self._hide(path, node, layer, DELETED)

    def _insert(self, path: str, kind: str, size: int, layer: int) -> None:
        parts = path.split("/")
        node = self.root
        for depth, part in enumerate(parts[:-1]):
            assert node.children is not None
            child = node.children.get(part)
            if child is None or child.children is None:
                if child is not None:  # a lower file where this layer has a directory
                    self._hide("/".join(parts[: depth + 1]), child, layer, OVERWRITTEN)
                child = node.children[part] = Node(DIR, 0, layer)
            node = child
        assert node.children is not None
        name = parts[-1]
        existing = node.children.get(name)
        if existing is not None:
            if kind == DIR and existing.kind == DIR:
                return  # directories merge
            self._hide(path, existing, layer, OVERWRITTEN)
        node.children[name] = Node(kind, size, layer)

    def _hide(self, path: str, node: Node, layer: int, how: str) -> None:
        for child_path, child in walk(node, path):
            if child.kind == FILE and child.size > 0:
                self.hidden.append(Hidden("/" + child_path, child.size, child.layer, layer, how))


def walk(node: Node, path: str = "") -> Iterator[tuple[str, Node]]:
    """`node` and every node below it, with their paths (relative, no leading `/`)."""
    stack = [(path, node)]
    while stack:
        current_path, current = stack.pop()
        yield current_path, current
        if current.children:
            prefix = current_path + "/" if current_path else ""
            stack.extend((prefix + name, child) for name, child in current.children.items())
