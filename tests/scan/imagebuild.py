"""Build small real images for the scanner tests: layer tarballs, OCI layouts, archives.

Everything is written with tarfile, json and hashlib, exactly as the OCI image
spec and `docker save` lay it out, with fixed times so digests are stable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from cargohold.scan import Inventory, inventory_image

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
MTIME = 1_700_000_000


@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Dir:
    path: str


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str


@dataclass(frozen=True)
class Hardlink:
    path: str
    target: str


Entry = File | Dir | Symlink | Hardlink


def whiteout(path: str) -> File:
    """The entry that deletes `path` of the layers below."""
    parent, name = posixpath.split(path)
    return File(posixpath.join(parent, ".wh." + name))


def opaque(directory: str) -> File:
    """The entry that hides what the layers below put in `directory`."""
    return File(posixpath.join(directory, ".wh..wh..opq"))


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tarball, with parent directories added as real layers have."""
    buffer = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            parts = entry.path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                parent = "/".join(parts[:i])
                if parent not in seen:
                    seen.add(parent)
                    tar.addfile(_info(parent + "/", tarfile.DIRTYPE, 0o755))
            info = _info(entry.path, tarfile.REGTYPE, 0o644)
            if isinstance(entry, File):
                info.mode = entry.mode
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
                continue
            if isinstance(entry, Dir):
                seen.add(entry.path)
                info = _info(entry.path + "/", tarfile.DIRTYPE, 0o755)
            elif isinstance(entry, Symlink):
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
            else:
                info.type, info.linkname = tarfile.LNKTYPE, entry.target
            tar.addfile(info)
    return buffer.getvalue()


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, MTIME
    return info


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ImageSpec:
    layers: list[list[Entry]]
    compression: list[str] | None = None  # per layer; gzip when not given
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    # The config's history (docker's shape: created_by, empty_layer) and User, when given.
    history: list[dict[str, Any]] | None = None
    user: str | None = None

    def platform(self) -> dict[str, str]:
        platform = {"architecture": self.architecture, "os": self.os}
        return platform | ({"variant": self.variant} if self.variant else {})

    def config(self, diff_ids: list[str]) -> bytes:
        document = self.platform() | {
            "config": {"User": self.user} if self.user is not None else {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if self.history is not None:
            document["history"] = self.history
        return json.dumps(document, sort_keys=True).encode()


@dataclass
class OCILayout:
    """An OCI image layout directory being written."""

    root: Path
    index_entries: list[dict[str, Any]] = field(default_factory=list)

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = digest_of(data)
        path = self.root / "blobs" / "sha256" / digest.split(":")[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, spec: ImageSpec) -> dict[str, Any]:
        """Write an image's blobs and manifest; return the manifest's descriptor."""
        layers, diff_ids = [], []
        for i, entries in enumerate(spec.layers):
            compression = spec.compression[i] if spec.compression else "gzip"
            tar = layer_tar(entries)
            diff_ids.append(digest_of(tar))
            layers.append(self.blob(compress(tar, compression), LAYER_MEDIA_TYPES[compression]))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(spec.config(diff_ids), OCI_CONFIG),
            "layers": layers,
        }
        return self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)

    def index(self, specs: list[ImageSpec]) -> dict[str, Any]:
        """Write a multi-platform image index; return its descriptor."""
        manifests = [self.image(spec) | {"platform": spec.platform()} for spec in specs]
        document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return self.blob(json.dumps(document).encode(), OCI_INDEX)

    def tag(self, descriptor: dict[str, Any], tag: str | None) -> dict[str, Any]:
        annotations = {"org.opencontainers.image.ref.name": tag} if tag else {}
        self.index_entries.append(descriptor | ({"annotations": annotations} if tag else {}))
        self.write()
        return descriptor

    def write(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index_entries}
        (self.root / "index.json").write_text(json.dumps(index))


def oci_layout(root: Path, spec: ImageSpec, tag: str | None = "latest") -> Path:
    layout = OCILayout(root)
    layout.tag(layout.image(spec), tag)
    return root


def image_inventory(tmp_path: Path, spec: ImageSpec, *, trivy: bool = True) -> Inventory:
    """The inventory of the one-platform image `spec`, laid out under `tmp_path`/img.

    Each image is also scanned by Trivy, offline, and the two inventories must agree
    (trivy_compare.py); `trivy=False` only for images Trivy cannot read at all.
    """
    from tests.scan import trivy_compare

    layout = oci_layout(tmp_path / "img", spec)
    (inventory,) = inventory_image(f"oci:{layout}")
    if trivy and trivy_compare.ENABLED:
        trivy_compare.check(layout, inventory)
    return inventory


def tar_directory(directory: Path, archive: Path) -> Path:
    """An oci-archive: the layout directory's contents in a plain tarball."""
    with tarfile.open(archive, "w") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return archive


def docker_archive(archive: Path, images: list[tuple[ImageSpec, list[str]]]) -> Path:
    """A `docker save` tarball (the classic layout: ID.json, LAYERID/layer.tar, manifest.json)."""
    members: dict[str, bytes] = {}
    manifest = []
    for spec, tags in images:
        tars = [layer_tar(entries) for entries in spec.layers]
        diff_ids = [digest_of(tar) for tar in tars]
        layer_names = []
        for tar in tars:
            name = f"{hashlib.sha256(b'layer' + tar).hexdigest()}/layer.tar"
            members[name] = tar
            layer_names.append(name)
        config = spec.config(diff_ids)
        config_name = f"{digest_of(config).split(':')[1]}.json"
        members[config_name] = config
        manifest.append({"Config": config_name, "RepoTags": tags, "Layers": layer_names})
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(archive, "w") as tar:
        for name, data in members.items():
            info = _info(name, tarfile.REGTYPE, 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive
