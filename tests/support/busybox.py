"""Tiny real images built from Debian's static busybox (package busybox-static).

Two things live here:

* `write_rootfs_context`: a build context holding `bin/busybox` and applet symlinks,
  for `docker build` / `buildah bud` with `FROM scratch` + `COPY bin/ /bin/`.
* `push_seed_index`: a two-platform image index pushed straight through the registry
  API, for tests whose client only pulls and pushes what it pulled (ctr).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "cat", "cp", "mkdir", "ls", "uname", "true")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

_PT_INTERP = 3


def static_busybox() -> Path:
    """The static busybox binary; a clear error when it is missing or dynamic."""
    if not BUSYBOX.is_file():
        raise RuntimeError(f"{BUSYBOX} is missing: install the Debian package busybox-static")
    if _has_interpreter(BUSYBOX):
        raise RuntimeError(
            f"{BUSYBOX} is dynamically linked (package busybox?): install busybox-static, "
            "whose binary runs in an image with no libc"
        )
    return BUSYBOX


def _has_interpreter(path: Path) -> bool:
    """Whether an ELF file asks for a dynamic loader (a PT_INTERP program header)."""
    with path.open("rb") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF":
            raise RuntimeError(f"{path} is not an ELF binary")
        is64 = ident[4] == 2
        endian = "<" if ident[5] == 1 else ">"
        if is64:
            f.seek(0x20)
            (phoff,) = struct.unpack(endian + "Q", f.read(8))
            f.seek(0x36)
        else:
            f.seek(0x1C)
            (phoff,) = struct.unpack(endian + "I", f.read(4))
            f.seek(0x2A)
        phentsize, phnum = struct.unpack(endian + "HH", f.read(4))
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + "I", f.read(4))
            if p_type == _PT_INTERP:
                return True
    return False


def write_rootfs_context(directory: Path) -> Path:
    """`directory/bin/` with busybox and its applet symlinks; returns `directory`."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "busybox").write_bytes(static_busybox().read_bytes())
    (bin_dir / "busybox").chmod(0o755)
    for applet in APPLETS:
        link = bin_dir / applet
        if not link.is_symlink():
            link.symlink_to("busybox")
    return directory


# -- a seed image pushed through the API -------------------------------------------------


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


@dataclass(frozen=True)
class SeedImage:
    """One platform's image: its manifest, config and single layer."""

    platform: dict[str, str]
    config: Blob
    layer: Blob
    manifest: Blob


@dataclass(frozen=True)
class SeedIndex:
    index: Blob
    images: tuple[SeedImage, ...]

    @property
    def blobs(self) -> list[Blob]:
        return [b for image in self.images for b in (image.config, image.layer)]


def _tar_gz(files: dict[str, bytes], symlinks: dict[str, str]) -> tuple[bytes, str]:
    """A reproducible gzipped tar and the digest of its uncompressed bytes (the diff id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in [*files, *symlinks]} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        for path, target in sorted(symlinks.items()):
            info = tarfile.TarInfo(path)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    uncompressed = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(uncompressed).hexdigest()
    return gzip.compress(uncompressed, mtime=0), diff_id


def _image(platform: dict[str, str], layer_bytes: bytes, diff_id: str, cmd: list[str]) -> SeedImage:
    layer = Blob(OCI_LAYER_GZIP, layer_bytes)
    config = Blob(
        OCI_CONFIG,
        json.dumps(
            {
                **platform,
                "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created_by": "cargohold tests/support/busybox.py"}],
            },
            sort_keys=True,
        ).encode(),
    )
    manifest = Blob(
        OCI_MANIFEST,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ).encode(),
    )
    return SeedImage(platform, config, layer, manifest)


def seed_index(marker: str) -> SeedIndex:
    """linux/amd64: busybox whose default command prints `marker`; linux/arm64: one file."""
    busybox = static_busybox().read_bytes()
    amd64_layer, amd64_diff = _tar_gz(
        {"bin/busybox": busybox, "etc/marker": marker.encode() + b"\n"},
        {f"bin/{applet}": "busybox" for applet in APPLETS},
    )
    arm64_layer, arm64_diff = _tar_gz({"etc/marker": b"arm64 " + marker.encode() + b"\n"}, {})
    amd64 = _image(
        {"architecture": "amd64", "os": "linux"},
        amd64_layer,
        amd64_diff,
        ["/bin/cat", "/etc/marker"],
    )
    arm64 = _image(
        {"architecture": "arm64", "os": "linux"}, arm64_layer, arm64_diff, ["/etc/marker"]
    )
    index = Blob(
        OCI_INDEX,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    image.manifest.descriptor(platform=image.platform) for image in (amd64, arm64)
                ],
            }
        ).encode(),
    )
    return SeedIndex(index, (amd64, arm64))


def push_seed_index(
    base_url: str, repository: str, tag: str, seed: SeedIndex, auth: httpx.Auth | None = None
) -> None:
    """Push blobs (monolithic POST), child manifests by digest, then the index by tag."""
    with httpx.Client(base_url=base_url, auth=auth, timeout=60) as http:
        for blob in seed.blobs:
            response = http.post(
                f"/v2/{repository}/blobs/uploads/",
                params={"digest": blob.digest},
                content=blob.data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 201, response.text
        for image in seed.images:
            response = http.put(
                f"/v2/{repository}/manifests/{image.manifest.digest}",
                content=image.manifest.data,
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert response.status_code == 201, response.text
        response = http.put(
            f"/v2/{repository}/manifests/{tag}",
            content=seed.index.data,
            headers={"Content-Type": OCI_INDEX},
        )
        assert response.status_code == 201, response.text
