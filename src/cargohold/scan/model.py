"""The result model of an inventory: plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


@dataclass(frozen=True)
class LayerRef:
    """A layer of an image: its position (0 = base) and its blob digest."""

    index: int
    digest: str


@dataclass(frozen=True)
class OSInfo:
    id: str
    version_id: str | None = None
    name: str | None = None
    pretty_name: str | None = None
    version_codename: str | None = None
    id_like: tuple[str, ...] = ()

    @property
    def distro(self) -> str:
        """The purl `distro` qualifier, e.g. ``debian-12`` or ``alpine-3.19.1``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True)
class Package:
    type: str  # purl type: deb, apk, rpm, pypi, npm
    name: str
    version: str
    purl: str
    layer: LayerRef
    location: str  # the file the package was read from, without a leading slash
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    # The purl of the OS package (deb, rpm, apk) whose file list names `location`: a
    # language package the distribution installed, judged by that OS package's advisories.
    owner: str | None = None


# Package types of OS package managers (their catalogers are named the same, dpkg's aside).
OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})


# Problem codes. A gate must treat BLOCKING ones as a failure, never as a clean image.
OS_PACKAGES_NOT_INVENTORIED = "os-packages-not-inventoried"
UNREADABLE_FILE = "unreadable-file"
# A layer's tar stream ends early but every member's data is there (no end-of-archive
# blocks, no padding after the last member): read whole, with this warning on the layer.
TRUNCATED_LAYER = "truncated-layer"
# OS packages of a distribution no advisory ecosystem covers: listed, but never checked.
NO_ADVISORY_SOURCE = "no-advisory-source"
BLOCKING_PROBLEMS = frozenset({OS_PACKAGES_NOT_INVENTORIED})


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    location: str | None = None
    layer: LayerRef | None = None  # the layer the problem is about, when it is about one

    @property
    def blocking(self) -> bool:
        return self.code in BLOCKING_PROBLEMS


# What the inventory readers know: raised whenever a reader is added or fixed, so that an
# inventory stored by an older version is read from the layers again (services/scanning.py)
# instead of standing without the packages that version could not see.
# 1: before versions were recorded. 2: Rust binaries built with cargo-auditable.
INVENTORY_VERSION = 2
# How inventories are matched (matching.py): raised whenever matching changes what it finds,
# so stored scans are matched again even when the vulnerability database has not changed.
# 1: before versions were recorded. 2: NuGet and Packagist names case-insensitive; SUSE,
# openSUSE and openEuler names and ecosystems.
MATCHING_VERSION = 2


@dataclass
class Inventory:
    """What one platform's image contains."""

    digest: str  # the manifest digest; for a docker-archive image, its ID (config digest)
    platform: Platform | None
    os: OSInfo | None
    layers: list[LayerRef]
    packages: list[Package] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    version: int = INVENTORY_VERSION  # the INVENTORY_VERSION of the readers that made it
