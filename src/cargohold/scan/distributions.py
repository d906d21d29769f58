"""The OSV ecosystems of a distribution release, and the package names its advisories use.

`Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.19`, `AlmaLinux:9`, `Rocky Linux:9`, Red Hat's
product streams...: an advisory for one release never applies to another.
"""

from __future__ import annotations

import re

from cargohold.scan.model import OSInfo
from cargohold.scan.osv import ecosystem_base

# Debian releases without a VERSION_ID in os-release (testing) are named by codename.
_DEBIAN_CODENAMES = {
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
}


# Which rpm names each family's advisories use: Red Hat's name source and binary packages;
# AlmaLinux's, Rocky Linux's, SUSE's and openSUSE's only the binary packages they ship
# (krb5-libs, libopenssl3; never krb5 or openssl-3); the others (Photon OS, Mageia,
# openEuler) name source packages.
_RPM_BINARY_NAMES = frozenset({"AlmaLinux", "Rocky Linux", "SUSE", "openSUSE"})
_RPM_BOTH_NAMES = frozenset({"Red Hat"})

# SUSE files an advisory under each product that ships the package, and on SLE 15 the base
# packages ship in modules: gzip on SLES 15 SP5 is under "SUSE:Linux Enterprise Module for
# Basesystem 15 SP5", never under "SUSE:Linux Enterprise Server 15 SP5". os-release does not
# say which module a package came from, so every product of the image's release is asked.
_SLE_PRODUCTS = (
    "Linux Enterprise Server",
    "Linux Enterprise Server for SAP Applications",
    "Linux Enterprise Desktop",
    "Linux Enterprise High Performance Computing",
    "Linux Enterprise Real Time",
)
_SLE_PRODUCT_STREAMS = ("", "-LTSS", "-ESPOS")
_SLE_MODULES = (
    "Basesystem",
    "Server Applications",
    "Desktop Applications",
    "Development Tools",
    "Web and Scripting",
    "Legacy",
    "Public Cloud",
    "Containers",
    "Python 3",
    "Package Hub",
    "HPC",
    "SAP Applications",
    "Live Patching",
)


def rpm_names(ecosystem: str, binary: str, source: str) -> list[str]:
    base = ecosystem_base(ecosystem)
    if base in _RPM_BINARY_NAMES:
        return [binary]
    if base in _RPM_BOTH_NAMES:
        return [source] if binary == source else [source, binary]
    return [source]


def deb_ecosystems(os: OSInfo) -> list[str]:
    if os.id == "debian":
        release = (os.version_id or "").partition(".")[0] or _DEBIAN_CODENAMES.get(
            os.version_codename or ""
        )
        return [f"Debian:{release}"] if release else []
    if os.id == "ubuntu" and os.version_id:
        year, _, month = os.version_id.partition(".")
        # ASCII digits only: VERSION_ID comes from the image, and int("²") raises.
        lts = re.fullmatch(r"[0-9]+", year) is not None and int(year) % 2 == 0 and month == "04"
        return [f"Ubuntu:{os.version_id}:LTS" if lts else f"Ubuntu:{os.version_id}"]
    return []


def apk_ecosystems(os: OSInfo) -> list[str]:
    if os.id == "alpine" and os.version_id:
        major, minor = [*os.version_id.split("."), ""][:2]
        return [f"Alpine:v{major}.{minor.partition('_')[0]}"] if minor else []
    if os.id == "wolfi":
        return ["Wolfi"]
    if os.id == "chainguard":
        return ["Chainguard"]
    return []


def rpm_ecosystems(os: OSInfo) -> list[str]:
    major = (os.version_id or "").partition(".")[0]
    pretty = os.pretty_name or ""
    if os.id == "almalinux" and major:
        return [f"AlmaLinux:{major}"]
    if os.id == "rocky" and major:
        return [f"Rocky Linux:{major}"]
    if os.id == "rhel" and major:
        # Red Hat scopes records by CPE product stream; these are the RHEL base streams.
        return [f"Red Hat:enterprise_linux:{major}::{s}" for s in ("baseos", "appstream")]
    if os.id.startswith("opensuse") and pretty:
        return [f"openSUSE:{pretty.removeprefix('openSUSE ')}"]
    if os.id in {"sles", "sled", "sles_sap"}:
        return _sle_ecosystems(os)
    if os.id == "sle-micro" and pretty:
        return [f"SUSE:{pretty.removeprefix('SUSE ')}"]
    if os.id == "photon" and os.version_id:
        return [f"Photon OS:{os.version_id}"]
    if os.id == "mageia" and major:
        return [f"Mageia:{major}"]
    if os.id == "openeuler" and os.version_id:
        # "openEuler 22.03 (LTS-SP1)" -> "openEuler:22.03-LTS-SP1"
        stream = re.search(r"\(([A-Za-z0-9-]+)\)", pretty)
        return [f"openEuler:{os.version_id}" + (f"-{stream.group(1)}" if stream else "")]
    return []


def _sle_ecosystems(os: OSInfo) -> list[str]:
    """Every SUSE product and SLE 15 module of the image's release ("15 SP5")."""
    major, _, minor = (os.version_id or "").partition(".")
    if not major.isdigit():
        return []
    release = f"{major} SP{minor}" if minor.isdigit() and int(minor) else major
    products = [f"SUSE:{p} {release}{s}" for p in _SLE_PRODUCTS for s in _SLE_PRODUCT_STREAMS]
    if int(major) >= 15:
        products += [f"SUSE:Linux Enterprise Module for {m} {release}" for m in _SLE_MODULES]
    return products
