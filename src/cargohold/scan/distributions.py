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
# AlmaLinux's and Rocky Linux's only the binary packages they ship (krb5-libs, not krb5);
# the others name source packages.
_RPM_BINARY_NAMES = frozenset({"AlmaLinux", "Rocky Linux"})
_RPM_BOTH_NAMES = frozenset({"Red Hat"})


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
    if os.id in {"sles", "sled", "sle-micro"} and pretty:
        return [f"SUSE:{pretty.removeprefix('SUSE ')}"]
    if os.id == "photon" and os.version_id:
        return [f"Photon OS:{os.version_id}"]
    if os.id == "mageia" and major:
        return [f"Mageia:{major}"]
    return []
