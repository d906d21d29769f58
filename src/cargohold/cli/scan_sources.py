"""What `cargohold scan IMAGE` names, and how the image is reached.

- local images: `oci:`, `oci-archive:`, `docker-archive:` and bare paths, read here;
- an image on a cargohold server (`--registry URL` with `REPO:TAG`, or `HOST/REPO:TAG` when
  HOST answers as a cargohold server): scanned by that server (RegistryImage);
- an image in any other registry (`docker://NAME`, or `HOST/REPO:TAG` on a registry that is
  not cargohold): copied into a temporary OCI layout and scanned here (image_pull.py);
- `docker-daemon:NAME`: saved out of the Docker daemon through its socket and scanned here
  (docker_daemon.py).

Every failure is one line (`fail`).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cargohold.cli.common import fail

if TYPE_CHECKING:
    from cargohold.cli.image_pull import RemoteImage
    from cargohold.scan.reference import ImageReference

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst")
DOCKER_TRANSPORT = "docker://"
DAEMON_TRANSPORT = "docker-daemon:"
PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class RegistryImage:
    """An image on a cargohold server, which scans it."""

    base: str  # the server's URL
    repository: str
    reference: str  # a tag or a digest


@dataclass(frozen=True)
class DaemonImage:
    """An image in a Docker daemon (`docker-daemon:NAME[:TAG]`)."""

    name: str


def one_line(message: str) -> str:
    """Some library messages (tarfile's) span lines; an error here is one line."""
    return "; ".join(line.strip(" -") for line in message.splitlines() if line.strip())


def resolve_image(
    text: str, registry: str | None = None
) -> ImageReference | RegistryImage | RemoteImage | DaemonImage:
    """The image IMAGE names, and where it is; one-line errors."""
    from cargohold.cli.image_pull import parse_remote
    from cargohold.cli.registry_auth import RegistryError
    from cargohold.scan.errors import ScanError
    from cargohold.scan.reference import TRANSPORTS, ImageReference, parse_reference

    if text.startswith(DOCKER_TRANSPORT):
        try:
            return parse_remote(text)
        except RegistryError as exc:
            raise fail(str(exc)) from None
    if text.startswith(DAEMON_TRANSPORT):
        name = text.removeprefix(DAEMON_TRANSPORT)
        if not name:
            raise fail(f"{text}: names no image (docker-daemon:NAME[:TAG])")
        return DaemonImage(name)
    transport, sep, _ = text.partition(":")
    if sep and transport in TRANSPORTS:
        try:
            return parse_reference(text)
        except ScanError as exc:
            raise fail(one_line(str(exc))) from None
    path = Path(text)
    if path.is_dir():
        return ImageReference("oci", path)
    if path.is_file():
        return ImageReference(archive_transport(path), path)
    if text.startswith(("/", "./", "../", "~")) or text.endswith(ARCHIVE_SUFFIXES):
        raise fail(f"{text}: no such file or directory")
    image = registry_image(text, registry)
    if registry or scans_images(image.base):
        return image
    try:
        return parse_remote(text)
    except RegistryError as exc:
        raise fail(str(exc)) from None


# The route of a cargohold server that scans (absent from its OpenAPI document with scanning off).
SCAN_PATH = "/api/v1/repositories/{name}/manifests/{reference}/scan"


def scans_images(base: str) -> bool:
    """Whether the server at `base` is a cargohold server that scans (its open OpenAPI document
    says so, and lists the scan route); anything else, or nothing answering, is a registry to
    read the image from and scan here."""
    import httpx

    try:
        response = httpx.get(
            f"{base}/api/v1/openapi.json",
            timeout=PROBE_TIMEOUT,
            verify=not base.startswith("http://"),
        )
        if response.status_code != 200:
            return False
        document = response.json()
        title = document.get("info", {}).get("title", "")
        paths = document.get("paths", {})
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return isinstance(title, str) and title.startswith("cargohold") and SCAN_PATH in paths


def registry_image(text: str, registry: str | None) -> RegistryImage:
    """HOST[:PORT]/REPO[:TAG|@DIGEST], or REPO[:TAG|@DIGEST] on the `--registry` server (which
    wins over a HOST in the name); parsed by cli/references.py."""
    from cargohold.cli.client import base_url
    from cargohold.cli.references import (
        ReferenceError,
        parse_registry_reference,
        registry_base,
    )

    try:
        parsed = parse_registry_reference(text)
    except ReferenceError as exc:
        raise fail(str(exc)) from None
    if registry:
        base = base_url(registry)
    elif parsed.host:
        base = registry_base(parsed.host)
    else:
        raise fail(
            f"{text}: not a local image and no registry named: give HOST/REPO:TAG "
            "(docker.io/REPO:TAG for Docker Hub), docker://NAME, --registry URL (or "
            "CARGOHOLD_REGISTRY) for a cargohold server, docker-daemon:NAME, or a local "
            "oci:PATH, oci-archive:PATH or docker-archive:PATH"
        )
    return RegistryImage(base.rstrip("/"), parsed.repository, parsed.reference)


@contextlib.contextmanager
def fetched(source: RemoteImage | DaemonImage) -> Iterator[ImageReference]:
    """The image copied to a temporary place the local reader reads; removed afterwards."""
    from cargohold.cli.docker_daemon import DaemonError, save_image
    from cargohold.cli.image_pull import RemoteImage, pull_into
    from cargohold.cli.registry_auth import RegistryError
    from cargohold.scan.reference import ImageReference

    with tempfile.TemporaryDirectory(prefix="cargohold-scan-") as tmp:
        if isinstance(source, RemoteImage):
            layout = Path(tmp) / "layout"
            try:
                pull_into(source, layout)
            except RegistryError as exc:
                raise fail(one_line(str(exc))) from None
            yield ImageReference("oci", layout, "scan")
            return
        archive = Path(tmp) / "image.tar"
        try:
            save_image(source.name, archive)
        except DaemonError as exc:
            raise fail(one_line(str(exc))) from None
        yield ImageReference(archive_transport(archive), archive)


def archive_transport(path: Path) -> str:
    """`oci-archive` for a tarball holding an OCI layout, `docker-archive` for `docker save`."""
    import tarfile

    try:
        with tarfile.open(path, "r:*") as archive:
            names = {name.removeprefix("./").lstrip("/") for name in archive.getnames()}
    except (tarfile.TarError, OSError, EOFError):
        raise fail(f"{path}: not a readable tar archive") from None
    # Docker 25+ writes both: an OCI layout and a manifest.json; the OCI side is complete.
    if "index.json" in names or "oci-layout" in names:
        return "oci-archive"
    if "manifest.json" in names:
        return "docker-archive"
    raise fail(f"{path}: not an image archive (neither index.json nor manifest.json inside)")
