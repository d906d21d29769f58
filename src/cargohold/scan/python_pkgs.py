"""Python distributions: `*.dist-info/METADATA` and `*.egg-info/PKG-INFO` anywhere.

Old distutils installs write the egg-info as a single file rather than a
directory; that file holds the same PKG-INFO headers.
"""

from __future__ import annotations

import posixpath

from packaging.metadata import parse_email

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import pypi_purl


def wants(path: str) -> bool:
    parent, base = posixpath.split(path)
    if base == "METADATA":
        return parent.endswith(".dist-info")
    if base == "PKG-INFO":
        return parent.endswith(".egg-info")
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


CATALOGER = Cataloger("python", wants, parse)
