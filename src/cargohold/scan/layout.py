"""Find the images in an OCI layout, an OCI archive or a `docker save` archive.

The result is, per platform, the ordered list of layers and a way to open each
layer blob as a binary stream; nothing is extracted to disk. Each layer says
what its digest covers, so the LayerReader can check it while streaming.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cargohold.oci import mediatypes
from cargohold.scan.errors import BadReferenceError, ImageSourceError
from cargohold.scan.layers import Verify
from cargohold.scan.model import LayerRef, Platform
from cargohold.scan.reference import ImageReference

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
_DOCKER_REFERENCE_TYPE = "vnd.docker.reference.type"
_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$")
_MAX_JSON = 16 * 1024 * 1024

Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Layer:
    ref: LayerRef
    open: Opener
    # What ref.digest is the digest of, for the check while streaming: the blob as
    # stored (OCI descriptors), the uncompressed tar (docker save diff IDs), or "none".
    verify: Verify = "blob"
    # The blob's size as stored (compressed), when known: the descriptor's, or the archive's.
    size: int | None = None


@dataclass(frozen=True)
class ImageToScan:
    digest: str
    platform: Platform | None
    layers: list[Layer]
    # The image configuration (history, user...), when it could be read; the scanner needs
    # only the platform, the analyzer (analysis/) the rest.
    config: dict[str, Any] | None = None


@contextlib.contextmanager
def open_images(reference: ImageReference) -> Iterator[list[ImageToScan]]:
    """Yield the images (one per platform) that `reference` names."""
    path = reference.path
    if not path.exists():
        raise ImageSourceError(f"{reference}: {path} does not exist")
    if reference.transport == "oci":
        if not path.is_dir():
            raise ImageSourceError(f"{reference}: {path} is not an OCI layout directory")
        yield _oci_images(reference, _DirectoryFiles(path))
        return
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageSourceError(f"{reference}: not a readable tar archive ({exc})") from None
    with archive:
        files = _ArchiveFiles(archive, reference)
        if reference.transport == "oci-archive":
            yield _oci_images(reference, files)
        else:
            yield _docker_archive_images(reference, files)


class _DirectoryFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def open(self, name: str) -> IO[bytes]:
        return (self.root / name).open("rb")

    def size(self, name: str) -> int:
        return (self.root / name).stat().st_size


class _ArchiveFiles:
    def __init__(self, archive: tarfile.TarFile, reference: ImageReference) -> None:
        self.archive = archive
        self.reference = reference
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ImageSourceError(f"{reference}: corrupt tar archive ({exc})") from None
        self.members = {_clean(m.name): m for m in members if m.isfile()}

    def exists(self, name: str) -> bool:
        return _clean(name) in self.members

    def open(self, name: str) -> IO[bytes]:
        stream = self.archive.extractfile(self.members[_clean(name)])
        assert stream is not None  # regular files always have a stream
        return stream

    def size(self, name: str) -> int:
        return self.members[_clean(name)].size


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


Files = _DirectoryFiles | _ArchiveFiles


def _read_json(files: Files, name: str, reference: ImageReference) -> Any:
    if not files.exists(name):
        raise ImageSourceError(f"{reference}: {name} is missing")
    try:
        with files.open(name) as stream:
            data = stream.read(_MAX_JSON + 1)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ImageSourceError(f"{reference}: cannot read {name} ({exc})") from None
    if len(data) > _MAX_JSON:
        raise ImageSourceError(f"{reference}: {name} is larger than {_MAX_JSON} bytes")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ImageSourceError(f"{reference}: {name} is not valid JSON ({exc})") from None


def _blob_name(digest: Any, reference: ImageReference) -> str:
    match = _DIGEST.match(digest) if isinstance(digest, str) else None
    if not match:
        raise ImageSourceError(f"{reference}: invalid digest {digest!r}")
    return f"blobs/{match[1]}/{match[2]}"


def _oci_images(reference: ImageReference, files: Files) -> list[ImageToScan]:
    index = _read_json(files, "index.json", reference)
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ImageSourceError(f"{reference}: index.json has no manifests list")
    descriptors = [d for d in index["manifests"] if isinstance(d, dict)]
    if reference.tag:
        chosen = [
            d
            for d in descriptors
            if d.get("annotations", {}).get(REF_NAME_ANNOTATION) == reference.tag
        ]
        if not chosen:
            raise BadReferenceError(f"{reference}: no image tagged {reference.tag!r} in the layout")
    elif len({d.get("digest") for d in descriptors}) > 1:
        tags = sorted(
            str(d["annotations"][REF_NAME_ANNOTATION])
            for d in descriptors
            if REF_NAME_ANNOTATION in d.get("annotations", {})
        )
        raise BadReferenceError(
            f"{reference}: the layout holds {len(descriptors)} images; "
            f"name one as {reference.transport}:{reference.path}:TAG (tags: {', '.join(tags)})"
        )
    else:
        chosen = descriptors[:1]
    if not chosen:
        raise ImageSourceError(f"{reference}: index.json lists no manifests")
    images: list[ImageToScan] = []
    for descriptor in chosen:
        images.extend(_walk(descriptor, None, files, reference, depth=0))
    return images


def platform_of(value: Any) -> Platform | None:
    """The platform an index entry or an image config names (os and architecture at least)."""
    if not isinstance(value, dict) or not value.get("os") or not value.get("architecture"):
        return None
    return Platform(str(value["os"]), str(value["architecture"]), value.get("variant") or None)


def _walk(
    descriptor: dict[str, Any],
    platform: Platform | None,
    files: Files,
    reference: ImageReference,
    depth: int,
) -> list[ImageToScan]:
    if depth > 4:
        raise ImageSourceError(f"{reference}: indexes nested too deeply")
    digest = descriptor.get("digest")
    document = _read_json(files, _blob_name(digest, reference), reference)
    if not isinstance(document, dict):
        raise ImageSourceError(f"{reference}: manifest {digest} is not a JSON object")
    media_type = document.get("mediaType") or descriptor.get("mediaType")
    if media_type in mediatypes.INDEXES or "manifests" in document:
        images: list[ImageToScan] = []
        for child in document.get("manifests") or []:
            if not isinstance(child, dict) or _is_attestation(child):
                continue
            images.extend(
                _walk(child, platform_of(child.get("platform")), files, reference, depth + 1)
            )
        return images
    if not isinstance(document.get("layers"), list):
        raise ImageSourceError(f"{reference}: manifest {digest} has no layers list")
    descriptor_of_config = document.get("config") or {}
    config = None
    if isinstance(descriptor_of_config, dict) and descriptor_of_config.get("digest"):
        name = _blob_name(descriptor_of_config["digest"], reference)
        config = _read_json(files, name, reference)
        if platform is None:
            platform = platform_of(config)
    layers = []
    for position, layer in enumerate(document["layers"]):
        name = _blob_name(layer.get("digest") if isinstance(layer, dict) else None, reference)
        if not files.exists(name):
            raise ImageSourceError(f"{reference}: layer blob {layer['digest']} is missing")
        size = layer.get("size")
        layers.append(
            Layer(
                LayerRef(position, layer["digest"]),
                _opener(files, name),
                size=size if isinstance(size, int) and size >= 0 else files.size(name),
            )
        )
    document = config if isinstance(config, dict) else None
    return [ImageToScan(str(digest), platform, layers, document)]


def _is_attestation(descriptor: dict[str, Any]) -> bool:
    """Buildx attaches provenance/SBOM manifests as platform unknown/unknown: not images."""
    annotations = descriptor.get("annotations") or {}
    platform = descriptor.get("platform") or {}
    return (
        annotations.get(_DOCKER_REFERENCE_TYPE) == "attestation-manifest"
        or platform.get("os") == "unknown"
    )


def _opener(files: Files, name: str) -> Opener:
    return lambda: files.open(name)


def _docker_archive_images(reference: ImageReference, files: Files) -> list[ImageToScan]:
    manifest = _read_json(files, "manifest.json", reference)
    if not isinstance(manifest, list) or not all(isinstance(e, dict) for e in manifest):
        raise ImageSourceError(f"{reference}: manifest.json is not a list of images")
    entries = manifest
    if reference.tag:
        wanted = _normal_tag(reference.tag)
        entries = [
            e for e in manifest if wanted in {_normal_tag(t) for t in e.get("RepoTags") or []}
        ]
        if not entries:
            raise BadReferenceError(
                f"{reference}: no image tagged {reference.tag!r} in the archive"
            )
    elif len(manifest) > 1:
        raise BadReferenceError(
            f"{reference}: the archive holds {len(manifest)} images; "
            f"name one as docker-archive:{reference.path}:NAME:TAG"
        )
    images = []
    for entry in entries:
        config_name = entry.get("Config")
        layer_names = entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise ImageSourceError(f"{reference}: manifest.json entry lacks Config or Layers")
        config = _read_json(files, config_name, reference)
        with files.open(config_name) as stream:
            image_id = "sha256:" + hashlib.sha256(stream.read()).hexdigest()
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = []
        for position, name in enumerate(layer_names):
            if not isinstance(name, str) or not files.exists(name):
                raise ImageSourceError(f"{reference}: layer {name!r} is missing from the archive")
            # Without a diff ID per layer, the layer is named by its path and not checked.
            verify: Verify = "diff_id" if len(diff_ids) == len(layer_names) else "none"
            digest = diff_ids[position] if verify == "diff_id" else name
            layers.append(
                Layer(
                    LayerRef(position, str(digest)),
                    _opener(files, name),
                    verify,
                    files.size(name),
                )
            )
        document = config if isinstance(config, dict) else None
        images.append(ImageToScan(image_id, platform_of(config), layers, document))
    return images


def _normal_tag(tag: str) -> str:
    """`busybox:1` and `docker.io/library/busybox:1` name the same image."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if tag.startswith(prefix):
            tag = tag[len(prefix) :]
            break
    return tag if ":" in tag.rsplit("/", 1)[-1] else tag + ":latest"
