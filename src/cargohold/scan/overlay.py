"""Apply layers in order, as an overlay filesystem would, keeping only wanted files.

Whiteouts (`.wh.NAME`) delete NAME from the layers below; an opaque marker
(`.wh..wh..opq`) hides everything the layers below put in its directory. Only
the content of files the catalogers want is kept in memory, with every version
of each so the introducing layer of a package can be found later.

Files are chosen from the tar header alone, before any content is read:
- by name (`wanted`): small database files, kept whole (up to MAX_FILE_SIZE);
- by an extracting cataloger (see catalog.py): by name (`wants`, e.g. `*.jar`)
  or, for files whose name says nothing, by path and mode (`wants_file`, e.g.
  any regular file with an executable bit, as Go binaries have). Such a file is
  streamed through the cataloger's `extract` hook, whatever its size, and only
  what the hook returns is kept. Every other file is skipped unread.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace

from cargohold.scan.catalog import Cataloger, PartlyUnreadable, UnreadableFile
from cargohold.scan.layers import LayerReader
from cargohold.scan.model import TRUNCATED_LAYER, UNREADABLE_FILE, LayerRef, Problem

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
    # The cataloger whose extract hook read the file: data is what that hook kept.
    extracted_by: str | None = None


def normalise(name: str) -> str | None:
    """A tar member name as a relative path without `.` parts, or None for the root."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return path or None


# What a layer's tar member does to the layers below it (layer_entries).
OPAQUE_DIR, WHITEOUT, DIRECTORY, ENTRY = "opaque", "whiteout", "directory", "entry"


def layer_entries(reader: LayerReader) -> Iterator[tuple[str, str, tarfile.TarInfo]]:
    """Each member of one layer (its stream, once) as an overlay applies it: (OPAQUE_DIR, the
    directory whose lower contents it hides, marker), (WHITEOUT, the path it deletes below,
    marker), (DIRECTORY, path, member), or (ENTRY, path, member) for a file, link or device.
    The root and names that normalise to nothing are skipped."""
    for member in reader.members():
        path = normalise(member.name)
        if path is None:
            continue
        parent, base = posixpath.split(path)
        if base == OPAQUE_MARKER:
            yield OPAQUE_DIR, parent, member
        elif base.startswith(WHITEOUT_PREFIX):
            yield WHITEOUT, posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]), member
        elif member.isdir():
            yield DIRECTORY, path, member
        else:
            yield ENTRY, path, member


def _ancestors(path: str) -> list[str]:
    """ "" (the root) and every parent directory of `path`."""
    parts = path.split("/")
    return ["", *("/".join(parts[:i]) for i in range(1, len(parts)))]


@dataclass
class Overlay:
    wanted: Callable[[str], bool]
    extractors: Sequence[Cataloger] = ()
    files: dict[str, FileVersion] = field(default_factory=dict)
    history: dict[str, list[FileVersion]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def apply(self, reader: LayerReader) -> None:
        layer = reader.ref
        added: dict[str, FileVersion] = {}
        hidden_trees: set[str] = set()  # whiteouts and non-directories: path and below
        hidden_files: set[str] = set()  # directories replace a lower non-directory only
        opaque_dirs: set[str] = set()  # below the directory, not the directory itself
        for kind, path, member in layer_entries(reader):
            if kind == OPAQUE_DIR:
                opaque_dirs.add(path)
                continue
            if kind == WHITEOUT:
                hidden_trees.add(path)
                continue
            if kind == DIRECTORY:
                hidden_files.add(path)
                continue
            hidden_trees.add(path)
            raw = self.wanted(path)
            extractor = None if raw else self._extractor(path, member)
            if not raw and extractor is None:
                continue
            if member.issym():
                if raw or (extractor is not None and extractor.wants(path)):
                    added[path] = FileVersion(layer, linkname=member.linkname)
            elif member.islnk():
                self._hardlink(path, member.linkname, added, layer, extractor)
            elif member.isfile() and extractor is not None:
                self._extract(extractor, path, member, reader, added)
            elif member.isfile():
                if member.size > MAX_FILE_SIZE:
                    self._problem(path, f"{path} is larger than {MAX_FILE_SIZE} bytes; skipped")
                    continue
                added[path] = FileVersion(layer, data=reader.read(member))
        self.problems.extend(Problem(TRUNCATED_LAYER, w, layer=layer) for w in reader.warnings)
        # A path the layer writes anew is replaced, not deleted: its history runs on.
        self._hide(layer, hidden_trees, hidden_files, opaque_dirs, added.keys())
        for path, version in added.items():
            self.files[path] = version
            self.history.setdefault(path, []).append(version)

    def _extractor(self, path: str, member: tarfile.TarInfo) -> Cataloger | None:
        """The extracting cataloger that reads `path`: by name first, then by mode."""
        for cataloger in self.extractors:
            if cataloger.wants(path):
                return cataloger
        if member.isfile() or member.islnk():
            for cataloger in self.extractors:
                if cataloger.wants_file is not None and cataloger.wants_file(path, member.mode):
                    return cataloger
        return None

    def _extract(
        self,
        cataloger: Cataloger,
        path: str,
        member: tarfile.TarInfo,
        reader: LayerReader,
        added: dict[str, FileVersion],
    ) -> None:
        assert cataloger.extract is not None
        with reader.open(member) as stream:
            try:
                data = cataloger.extract(path, stream, member.size)
            except UnreadableFile as exc:
                self._problem(path, f"{cataloger.name}: {exc}")
                data = exc.data if isinstance(exc, PartlyUnreadable) else None
        if data is not None:
            added[path] = FileVersion(reader.ref, data=data, extracted_by=cataloger.name)

    def _hardlink(
        self,
        path: str,
        target: str,
        added: dict[str, FileVersion],
        layer: LayerRef,
        extractor: Cataloger | None,
    ) -> None:
        name = normalise(target) or ""
        source = added.get(name) or self.files.get(name)
        route = extractor.name if extractor is not None else None
        if source is None or source.data is None or source.extracted_by != route:
            # A file chosen by mode alone (any executable) is often a hard link to
            # one that held nothing for its cataloger: only named files are missed.
            if extractor is None or extractor.wants(path):
                self._problem(path, f"{path} is a hard link to {target}, which was not read")
            return
        added[path] = replace(source, layer=layer)

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
