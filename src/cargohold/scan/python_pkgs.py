"""Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, eggs, anywhere.

Old distutils installs write the egg-info as a single file rather than a
directory; that file holds the same PKG-INFO headers. An egg installed as a
directory keeps them in `NAME.egg/EGG-INFO/PKG-INFO`; a zipped egg (a `.egg`
file, as easy_install and `setup.py bdist_egg` leave them) in the
`EGG-INFO/PKG-INFO` member of the zip, which is read from the stream through a
spool (see zips.py), as jars are.
"""

from __future__ import annotations

import posixpath
import zipfile
from typing import IO

from packaging.metadata import parse_email

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import pypi_purl
from cargohold.scan.zips import ZIP_ERRORS, spooled, unreadable

EGG_METADATA = "EGG-INFO/PKG-INFO"
MAX_METADATA = 1024 * 1024


def wants(path: str) -> bool:
    parent, base = posixpath.split(path)
    if base == "METADATA":
        return parent.endswith(".dist-info")
    if base == "PKG-INFO":
        return parent.endswith((".egg-info", ".egg/EGG-INFO"))
    return base.endswith(".egg-info")


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    try:
        raw, _ = parse_email(data)
    except ValueError as exc:
        raise UnreadableFile(f"{path} is not Python package metadata: {exc}") from None
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise UnreadableFile(f"{path} names no package and version")
    return [PackageRecord(type="pypi", name=name, version=version, purl=pypi_purl(name, version))]


def wants_egg(path: str) -> bool:
    return path.endswith(".egg")


def extract_egg(path: str, stream: IO[bytes], size: int) -> bytes | None:
    """The PKG-INFO of a zipped egg; None for a zip without one."""
    with spooled(stream) as spool:
        try:
            with zipfile.ZipFile(spool) as egg:
                try:
                    info = egg.getinfo(EGG_METADATA)
                except KeyError:
                    return None
                if info.file_size > MAX_METADATA:
                    raise UnreadableFile(f"{path}: {EGG_METADATA} is larger than {MAX_METADATA}")
                with egg.open(info) as member:
                    return member.read(MAX_METADATA)
        except ZIP_ERRORS as exc:
            raise UnreadableFile(f"{path} is {unreadable(exc)}") from None


CATALOGER = Cataloger("python", wants, parse)
EGG_CATALOGER = Cataloger("python-egg", wants_egg, parse, extract=extract_egg)
