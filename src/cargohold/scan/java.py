"""Java archives: `META-INF/maven/**/pom.properties` inside `.jar`, `.war` and `.ear` files.

Which files are read: regular files named `*.jar`, `*.war`, `*.ear` (and
Jenkins' `*.jpi`, `*.hpi`), any case, anywhere in the image, each through a spool
(see zips.py). Inside, every
`META-INF/maven/<groupId>/<artifactId>/pom.properties` is read (Maven writes
one per artifact; a shaded jar carries one for each artifact shaded into it)
and every archive nested in it (`WEB-INF/lib/*.jar` of a war, `BOOT-INF/lib/*.jar`
of a Spring Boot jar, the modules of an ear) is read the same way, down to
MAX_DEPTH levels. An archive without pom.properties (built without Maven)
reports nothing. A damaged archive is an "unreadable-file" problem; a damaged
nested one too, and the rest of its outer archive is still reported.

Packages have purl type `maven` and are named `groupId:artifactId`, as the OSV
Maven ecosystem names them; the location is the outermost archive in the image.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from typing import IO, Any

from cargohold.scan.catalog import Cataloger, PackageRecord, PartlyUnreadable, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import maven_purl
from cargohold.scan.zips import ZIP_ERRORS, spooled, unreadable

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_DEPTH = 3
MAX_PROPERTIES = 64 * 1024
# A nested archive claiming more than this uncompressed is skipped (a zip bomb guard).
MAX_NESTED = 512 * 1024 * 1024


def wants(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` lines of a Java properties file as Maven writes pom.properties."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            continue
        values[line[:cut].strip()] = line[cut + 1 :].strip()
    return values


def _artifact(name: str, data: bytes, inside: str) -> dict[str, str] | None:
    """The coordinates a pom.properties states, falling back on its folder names."""
    parts = name.split("/")
    props = parse_properties(data.decode("utf-8", "replace"))
    group = props.get("groupId") or (parts[-3] if len(parts) >= 5 else "")
    artifact = props.get("artifactId") or (parts[-2] if len(parts) >= 5 else "")
    version = props.get("version", "")
    if not (group and artifact and version) or "${" in version:
        return None  # an unfilled template, not a built artifact
    return {"group": group, "artifact": artifact, "version": version, "in": inside}


def _is_pom_properties(name: str) -> bool:
    return name.startswith("META-INF/maven/") and posixpath.basename(name) == "pom.properties"


class _Found:
    def __init__(self) -> None:
        self.artifacts: list[dict[str, str]] = []
        self.damaged: list[str] = []


def _scan(archive: IO[bytes], inside: str, depth: int, found: _Found) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            if info.is_dir():
                continue
            if _is_pom_properties(info.filename) and info.file_size <= MAX_PROPERTIES:
                with zipped.open(info) as member:
                    artifact = _artifact(info.filename, member.read(MAX_PROPERTIES), inside)
                if artifact is not None:
                    found.artifacts.append(artifact)
            elif wants(info.filename) and depth < MAX_DEPTH and info.file_size <= MAX_NESTED:
                name = f"{inside}!{info.filename}" if inside else info.filename
                try:
                    with zipped.open(info) as member, spooled(member) as spool:
                        _scan(spool, name, depth + 1, found)
                except ZIP_ERRORS as exc:
                    found.damaged.append(f"{name} is {unreadable(exc)}")


def extract(path: str, stream: IO[bytes], size: int) -> bytes | None:
    found = _Found()
    with spooled(stream) as spool:
        try:
            _scan(spool, "", 0, found)
        except ZIP_ERRORS as exc:
            raise UnreadableFile(f"{path} is {unreadable(exc)}") from None
    data = json.dumps(found.artifacts).encode() if found.artifacts else None
    if found.damaged:
        # What the readable part holds is still reported, beside the problem.
        raise PartlyUnreadable(f"in {path}: {'; '.join(found.damaged)}", data)
    return data


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        artifacts: list[dict[str, Any]] = json.loads(data)
        coordinates = [(a["group"], a["artifact"], a["version"]) for a in artifacts]
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableFile(f"{path}: damaged Java archive summary ({exc})") from None
    return [
        PackageRecord(
            type="maven",
            name=f"{group}:{artifact}",
            version=version,
            purl=maven_purl(group, artifact, version),
        )
        for group, artifact, version in dict.fromkeys(coordinates)
    ]


CATALOGER = Cataloger("java", wants, parse, extract=extract)
