"""Small real container images built with umoci, and byte-for-byte OCI layout comparison.

`build_test_images` writes one OCI image layout holding:

- `amd64` and `arm64`: two image manifests (linux/amd64 and linux/arm64/v8), each with three
  gzip layers: /etc (os-release, debian_version), a text file under /usr/share/doc, and a
  /var/lib/dpkg/status with a few package stanzas for that architecture;
- `multi`: an OCI image index listing both, with their platforms.

Everything is a few KB. File times, history and `created` are fixed, so two builds give
the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

UMOCI = shutil.which("umoci") or "/usr/bin/umoci"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEXES = frozenset({OCI_INDEX, DOCKER_LIST})
REF_NAME = "org.opencontainers.image.ref.name"

CREATED = "2024-01-02T03:04:05Z"
MTIME = 1704164645  # CREATED as a Unix time

PLATFORMS: dict[str, dict[str, str]] = {
    "amd64": {"architecture": "amd64", "os": "linux"},
    "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"},
}

OS_RELEASE = """\
PRETTY_NAME="Cargohold Test Linux 1.0 (tiny)"
NAME="Cargohold Test Linux"
VERSION_ID="1.0"
VERSION="1.0 (tiny)"
ID=cargohold-test
ID_LIKE=debian
HOME_URL="http://127.0.0.1/"
"""

README = """\
This file lives in a test image built by cargohold's test suite with umoci.
It exists so that a layer holds ordinary text that must come back byte for byte.
"""

DPKG_STATUS = """\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: {arch}
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Conffiles:
 /etc/debian_version 9c4ef2e9eb4b1a3a3a1b6d1c3e0b7a0b
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files, such as /etc/debian_version,
 /etc/host.conf, /etc/issue, /etc/motd, /etc/profile, and others,
 and the text of several common licenses in use on Debian systems.
Homepage: https://tracker.debian.org/pkg/base-files

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: {arch}
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system. This package includes shared versions of the standard C library
 and the standard math library, as well as many others.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: {arch}
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.  This package includes the shared library.
Homepage: http://zlib.net/
"""


@dataclass(frozen=True)
class BuiltImages:
    """A built layout and the references in it."""

    layout: Path
    single: str = "amd64"
    arm64: str = "arm64"
    multi: str = "multi"

    def ref(self, tag: str) -> str:
        """The skopeo `oci:` reference for one of the layout's tags."""
        return f"oci:{self.layout}:{tag}"

    def manifest(self, tag: str) -> dict[str, Any]:
        return json.loads(blob_bytes(self.layout, resolve(self.layout, tag)["digest"]))

    def digest(self, tag: str) -> str:
        return str(resolve(self.layout, tag)["digest"])

    def layer_digests(self, tag: str) -> list[str]:
        return [layer["digest"] for layer in self.manifest(tag)["layers"]]


def _umoci(*args: str) -> None:
    done = subprocess.run(
        [UMOCI, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"umoci {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")


def _write_tree(rootfs: Path, files: dict[str, str]) -> None:
    """Write `files` into `rootfs` with fixed modes and times (for reproducible layers)."""
    for relative, text in files.items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    for path in sorted(rootfs.rglob("*"), reverse=True):
        if path.is_dir():
            path.chmod(0o755)
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)
    rootfs.chmod(0o755)
    os.utime(rootfs, (MTIME, MTIME))


def _add_layer(layout: Path, tag: str, bundle: Path, files: dict[str, str], what: str) -> None:
    """One new layer on `tag` holding `files` (unpack, write, repack: umoci's own layer diff).

    `umoci insert` is not used: this umoci leaves its tar streams without the end-of-archive
    blocks, which strict readers refuse.
    """
    if bundle.exists():
        shutil.rmtree(bundle)
    _umoci("unpack", "--image", f"{layout}:{tag}", str(bundle))
    _write_tree(bundle / "rootfs", files)
    _umoci(
        "repack",
        "--image",
        f"{layout}:{tag}",
        "--history.created",
        CREATED,
        "--history.created_by",
        f"cargohold tests: add {what}",
        str(bundle),
    )
    shutil.rmtree(bundle)


def build_test_images(workdir: Path) -> BuiltImages:
    """Build the layout described in the module docstring under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "layout"
    bundle = workdir / "bundle"

    _umoci("init", "--layout", str(layout))
    _umoci("new", "--image", f"{layout}:base")
    _umoci(
        "config",
        "--image",
        f"{layout}:base",
        "--created",
        CREATED,
        "--no-history",
        "--config.env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--config.label",
        "org.opencontainers.image.title=cargohold-test",
    )
    _add_layer(
        layout,
        "base",
        bundle,
        {"etc/os-release": OS_RELEASE, "etc/debian_version": "12.4\n"},
        "/etc",
    )
    _add_layer(
        layout,
        "base",
        bundle,
        {"usr/share/doc/cargohold-test/README.txt": README},
        "/usr/share/doc/cargohold-test",
    )
    for arch, platform in PLATFORMS.items():
        args = ["--architecture", platform["architecture"], "--os", platform["os"]]
        _umoci(
            "config",
            "--image",
            f"{layout}:base",
            "--tag",
            arch,
            "--no-history",
            "--created",
            CREATED,
            *args,
        )
        _add_layer(
            layout,
            arch,
            bundle,
            {
                "var/lib/dpkg/status": DPKG_STATUS.format(arch=arch),
                "var/lib/dpkg/available": "",
            },
            "/var/lib/dpkg",
        )
    _umoci("rm", "--image", f"{layout}:base")
    _umoci("gc", "--layout", str(layout))

    # umoci writes image manifests only: assemble the two-platform index ourselves.
    index = read_index(layout)
    children = []
    for arch, platform in PLATFORMS.items():
        descriptor = resolve(layout, arch)
        children.append(
            {
                "mediaType": descriptor["mediaType"],
                "digest": descriptor["digest"],
                "size": descriptor["size"],
                "platform": platform,
            }
        )
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children},
        separators=(",", ":"),
    ).encode()
    digest = write_blob(layout, body)
    index["manifests"].append(
        {
            "mediaType": OCI_INDEX,
            "digest": digest,
            "size": len(body),
            "annotations": {REF_NAME: "multi"},
        }
    )
    (layout / "index.json").write_text(json.dumps(index, separators=(",", ":")))
    images = BuiltImages(layout)
    problems = layout_problems(layout)
    assert not problems, problems
    return images


# -- reading layouts ----------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, hex_ = digest.split(":", 1)
    return layout / "blobs" / algorithm / hex_


def blob_bytes(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def write_blob(layout: Path, data: bytes) -> str:
    digest = sha256(data)
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def read_index(layout: Path) -> dict[str, Any]:
    return json.loads((layout / "index.json").read_text())


def resolve(layout: Path, ref: str) -> dict[str, Any]:
    """The index.json descriptor tagged `ref` (its org.opencontainers.image.ref.name)."""
    matches = [
        d
        for d in read_index(layout)["manifests"]
        if (d.get("annotations") or {}).get(REF_NAME) == ref
    ]
    if len(matches) != 1:
        raise KeyError(f"{layout}: {len(matches)} entries named {ref!r} in index.json")
    return matches[0]


def children(media_type: str, body: bytes) -> list[dict[str, Any]]:
    """The descriptors a manifest or index points at (config, layers, manifests, not subject)."""
    doc = json.loads(body)
    if media_type in INDEXES or "manifests" in doc:
        return list(doc.get("manifests", []))
    found = [doc["config"]] if doc.get("config") else []
    return found + list(doc.get("layers", []))


def reachable(layout: Path, ref: str | None = None) -> dict[str, bytes]:
    """Every blob reachable from `ref` (or from all of index.json), by digest."""
    roots = [resolve(layout, ref)] if ref is not None else read_index(layout)["manifests"]
    found: dict[str, bytes] = {}
    stack = list(roots)
    while stack:
        descriptor = stack.pop()
        digest = descriptor["digest"]
        if digest in found:
            continue
        data = blob_bytes(layout, digest)
        found[digest] = data
        if descriptor["mediaType"] in INDEXES or descriptor["mediaType"] in (
            OCI_MANIFEST,
            DOCKER_MANIFEST,
        ):
            stack.extend(children(descriptor["mediaType"], data))
    return found


def layout_problems(layout: Path) -> list[str]:
    """Blobs whose bytes do not hash to their names or whose sizes disagree with descriptors."""
    problems = []
    for path in sorted((layout / "blobs").rglob("*")):
        if path.is_file():
            digest = f"{path.parent.name}:{path.name}"
            actual = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != digest:
                problems.append(f"{path}: content hashes to {actual}")
    stack = list(read_index(layout)["manifests"])
    while stack:
        descriptor = stack.pop()
        path = blob_path(layout, descriptor["digest"])
        if not path.is_file():
            problems.append(f"missing blob {descriptor['digest']}")
            continue
        if path.stat().st_size != descriptor["size"]:
            problems.append(f"{descriptor['digest']}: size {path.stat().st_size} in the layout")
        if descriptor["mediaType"] in INDEXES or descriptor["mediaType"] in (
            OCI_MANIFEST,
            DOCKER_MANIFEST,
        ):
            stack.extend(children(descriptor["mediaType"], path.read_bytes()))
    return problems


def compare_layouts(
    a: Path, b: Path, ref_a: str | None = None, ref_b: str | None = None
) -> list[str]:
    """Differences between two OCI layouts, empty when they hold the same image(s) byte for byte.

    With refs, the descriptors the refs name (digest, media type, size) and every blob
    reachable from them must be identical; without, the sets of manifest digests in
    index.json and every blob file must be.
    """
    differences = [f"{a}: {p}" for p in layout_problems(a)]
    differences += [f"{b}: {p}" for p in layout_problems(b)]
    if ref_a is not None or ref_b is not None:
        top_a = resolve(a, ref_a if ref_a is not None else str(ref_b))
        top_b = resolve(b, ref_b if ref_b is not None else str(ref_a))
        for key in ("mediaType", "digest", "size"):
            if top_a[key] != top_b[key]:
                differences.append(f"{key}: {top_a[key]} != {top_b[key]}")
        blobs_a = reachable(a, top_a["annotations"][REF_NAME])
        blobs_b = reachable(b, top_b["annotations"][REF_NAME])
    else:
        digests_a = sorted(d["digest"] for d in read_index(a)["manifests"])
        digests_b = sorted(d["digest"] for d in read_index(b)["manifests"])
        if digests_a != digests_b:
            differences.append(f"index.json manifests: {digests_a} != {digests_b}")
        blobs_a = _all_blobs(a)
        blobs_b = _all_blobs(b)
    for digest in sorted(blobs_a.keys() | blobs_b.keys()):
        if digest not in blobs_b:
            differences.append(f"{digest} only in {a}")
        elif digest not in blobs_a:
            differences.append(f"{digest} only in {b}")
        elif blobs_a[digest] != blobs_b[digest]:
            differences.append(f"{digest} differs")
    return differences


def _all_blobs(layout: Path) -> dict[str, bytes]:
    return {
        f"{p.parent.name}:{p.name}": p.read_bytes()
        for p in (layout / "blobs").rglob("*")
        if p.is_file()
    }


def layer_files(data: bytes) -> dict[str, bytes]:
    """The regular files in a (gzip) tar layer, by path; a truncated tar raises."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    files = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name.removeprefix("./")] = extracted.read()
    return files


def push_layout(client: httpx.Client, layout: Path, ref: str, repository: str, tag: str) -> str:
    """Push the image (or index, with every platform) a layout tags `ref` as
    `repository:tag`, byte for byte, over the registry API; returns its digest. What
    `skopeo copy --all oci:LAYOUT:REF docker://HOST/REPOSITORY:TAG` does, with the client's
    credentials."""
    top = resolve(layout, ref)
    _push_descriptor(client, layout, repository, top, tag)
    return str(top["digest"])


def _push_descriptor(
    client: httpx.Client, layout: Path, repository: str, descriptor: dict[str, Any], tag: str
) -> None:
    body = blob_bytes(layout, descriptor["digest"])
    media_type = descriptor["mediaType"]
    for child in children(media_type, body):
        if child["mediaType"] in INDEXES or child["mediaType"] in (OCI_MANIFEST, DOCKER_MANIFEST):
            _push_descriptor(client, layout, repository, child, child["digest"])
            continue
        pushed = client.post(
            f"/v2/{repository}/blobs/uploads/",
            params={"digest": child["digest"]},
            content=blob_bytes(layout, child["digest"]),
        )
        assert pushed.status_code == 201, pushed.text
    put = client.put(
        f"/v2/{repository}/manifests/{tag}", content=body, headers={"Content-Type": media_type}
    )
    assert put.status_code == 201, put.text
