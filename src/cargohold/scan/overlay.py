"""Apply layers in order, as an overlay filesystem would, keeping only wanted files.

Whiteouts (`.wh.NAME`) delete NAME from the layers below; an opaque marker
(`.wh..wh..opq`) hides everything the layers below put in its directory. Only
the content of files the catalogers want is kept in memory, with every version
of each so the introducing layer of a package can be found later.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from cargohold.scan.layers import LayerReader
from cargohold.scan.model import UNREADABLE_FILE, LayerRef, Problem

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_FILE_SIZE = 64 * 1024 * 1024
_MAX_SYMLINK_HOPS = 8


@dataclass(frozen=True)
class FileVersion:
    """One layer's version of a path: content, a symlink, or a deletion."""

    layer: LayerRef
    data: bytes | None = None
    linkname: str | None = None
    deleted: bool = False


def normalise(name: str) -> str | None:
    """A tar member name as a relative path without `.` parts, or None for the root."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return path or None


def _ancestors(path: str) -> list[str]:
    """ "" (the root) and every parent directory of `path`."""
    parts = path.split("/")
    return ["", *("/".join(parts[:i]) for i in range(1, len(parts)))]


@dataclass
class Overlay:
    wanted: Callable[[str], bool]
    files: dict[str, FileVersion] = field(default_factory=dict)
    history: dict[str, list[FileVersion]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def apply(self, reader: LayerReader) -> None:
        layer = reader.ref
        added: dict[str, FileVersion] = {}
        hidden_trees: set[str] = set()  # whiteouts and non-directories: path and below
        hidden_files: set[str] = set()  # directories replace a lower non-directory only
        opaque_dirs: set[str] = set()  # below the directory, not the directory itself
        for member in reader.members():
            path = normalise(member.name)
            if path is None:
                continue
            parent, base = posixpath.split(path)
            if base == OPAQUE_MARKER:
                opaque_dirs.add(parent)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                hidden_trees.add(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
                continue
            if member.isdir():
                hidden_files.add(path)
                continue
            hidden_trees.add(path)
            if not self.wanted(path):
                continue
            if member.issym():
                added[path] = FileVersion(layer, linkname=member.linkname)
            elif member.islnk():
                self._hardlink(path, member.linkname, added, layer)
            elif member.isfile():
                if member.size > MAX_FILE_SIZE:
                    self._problem(path, f"{path} is larger than {MAX_FILE_SIZE} bytes; skipped")
                    continue
                added[path] = FileVersion(layer, data=reader.read(member))
        # A path the layer writes anew is replaced, not deleted: its history runs on.
        self._hide(layer, hidden_trees, hidden_files, opaque_dirs, added.keys())
        for path, version in added.items():
            self.files[path] = version
            self.history.setdefault(path, []).append(version)

    def _hardlink(
        self, path: str, target: str, added: dict[str, FileVersion], layer: LayerRef
    ) -> None:
        name = normalise(target) or ""
        source = added.get(name) or self.files.get(name)
        if source is None or source.data is None:
            self._problem(path, f"{path} is a hard link to {target}, which was not read")
            return
        added[path] = FileVersion(layer, data=source.data)

    def _hide(
        self,
        layer: LayerRef,
        trees: set[str],
        files: set[str],
        opaque_dirs: set[str],
        replaced: Collection[str],
    ) -> None:
        if not (trees or files or opaque_dirs):
            return
        for path in list(self.files):
            ancestors = _ancestors(path)
            if (
                path in trees
                or path in files
                or any(a in trees or a in opaque_dirs for a in ancestors)
            ):
                del self.files[path]
                if path not in replaced:
                    self.history[path].append(FileVersion(layer, deleted=True))

    def _problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(UNREADABLE_FILE, message, path))

    def resolve(self, path: str) -> FileVersion | None:
        """The file at `path` in the final view, following symlinks among kept files."""
        for _ in range(_MAX_SYMLINK_HOPS):
            version = self.files.get(path)
            if version is None or version.linkname is None:
                return version
            base = "" if version.linkname.startswith("/") else posixpath.dirname(path)
            path = normalise(posixpath.join("/", base, version.linkname)) or ""
        return None

    def current_run(self, path: str) -> list[FileVersion]:
        """The versions of `path` since it last appeared, oldest first."""
        versions = self.history.get(path, [])
        for i in range(len(versions) - 1, -1, -1):
            if versions[i].deleted:
                return versions[i + 1 :]
        return versions
