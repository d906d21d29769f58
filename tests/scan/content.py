"""Files of real distributions and language packages, for the test images."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.scan.imagebuild import Entry, File, Symlink

DATA = Path(__file__).parents[1] / "data" / "scan"
UMOCI = shutil.which("umoci")

DEBIAN_12_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

ALPINE_3_19_OS_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""


def debian_base() -> list[Entry]:
    """As in debian:bookworm: /etc/os-release is a relative symlink into /usr/lib."""
    return [
        File("usr/lib/os-release", DEBIAN_12_OS_RELEASE),
        Symlink("etc/os-release", "../usr/lib/os-release"),
        File("etc/debian_version", b"12.5\n"),
        File("var/lib/dpkg/status", (DATA / "dpkg" / "status-base").read_bytes()),
    ]


def alpine_base(installed: str = "installed") -> list[Entry]:
    return [
        File("etc/os-release", ALPINE_3_19_OS_RELEASE),
        File("etc/alpine-release", b"3.19.1\n"),
        File("lib/apk/db/installed", (DATA / "apk" / installed).read_bytes()),
    ]


def dist_info(site: str, name: str, version: str) -> list[Entry]:
    """A wheel install: NAME-VERSION.dist-info with METADATA, as pip writes it."""
    folder = f"{site}/{name.replace('-', '_')}-{version}.dist-info"
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: The {name} package\nRequires-Python: >=3.8\n"
        "Classifier: Programming Language :: Python :: 3\n\nLong description.\n"
    ).encode()
    return [
        File(f"{folder}/METADATA", metadata),
        File(f"{folder}/INSTALLER", b"pip\n"),
        File(f"{folder}/RECORD", b""),
    ]


def npm_package(root: str, name: str, version: str) -> File:
    document = f'{{"name": "{name}", "version": "{version}", "main": "index.js"}}'
    return File(f"{root}/node_modules/{name}/package.json", document.encode())


def java_archive(
    artifacts: list[tuple[str, str, str]],
    nested: dict[str, bytes] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A jar/war as Maven builds it: per artifact, META-INF/maven/G/A/pom.properties (and
    pom.xml), plus class files and the archives `nested` names (e.g. WEB-INF/lib/x.jar)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: Maven\r\n")
        for group, artifact, version in artifacts:
            folder = f"META-INF/maven/{group}/{artifact}"
            archive.writestr(
                f"{folder}/pom.properties",
                f"#Created by Apache Maven 3.6.3\nversion={version}\n"
                f"groupId={group}\nartifactId={artifact}\n",
            )
            archive.writestr(
                f"{folder}/pom.xml", f"<project><version>{version}</version></project>"
            )
            package = group.replace(".", "/")
            archive.writestr(
                f"{package}/{artifact.replace('-', '')}/Main.class", b"\xca\xfe\xba\xbe"
            )
        for name, data in (nested or {}).items():
            # Spring Boot stores nested jars uncompressed; wars usually deflate them.
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def umoci_insert_image(work: Path) -> Path:
    """An OCI layout `image:latest` whose only layer `umoci insert` wrote: os-release and
    a real dpkg status file."""
    assert UMOCI is not None
    rootfs = work / "rootfs"
    (rootfs / "var/lib/dpkg").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    shutil.copy(DATA / "dpkg" / "status-base", rootfs / "var/lib/dpkg/status")
    (rootfs / "etc/os-release").write_bytes(DEBIAN_12_OS_RELEASE)
    layout = work / "image"
    for args in (
        ["init", "--layout", str(layout)],
        ["new", "--image", f"{layout}:latest"],
        ["insert", "--image", f"{layout}:latest", str(rootfs), "/"],
    ):
        done = subprocess.run([UMOCI, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    return layout
