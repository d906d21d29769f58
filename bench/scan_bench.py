"""Scanning benchmark: inventory and match of a ~500-package image; re-evaluation of stored
inventories after a vulnerability database update.

Runs in-process (no HTTP) on scratch directories that are deleted at the end.

1. One image, written as an OCI layout: a Debian 12 rootfs whose dpkg status file lists DEB
   packages (with the files of each package: dpkg info lists, copyright, a library or
   program), PYTHON `*.dist-info` packages and NPM packages in `node_modules`, over 3 gzip
   layers (base; apt-get and pip install; the app). A local vulnerability database
   (`open_local`) holds RECORDS synthetic OSV records (Debian:12 with a few Debian:11,
   PyPI, npm), of which AFFECTING affect a package of the image and about 5% more name an
   image package at a version range it is already fixed in, plus the real records of
   tests/data/osv. Timed separately, median of RUNS: `inventory_image("oci:...")`, and
   `match_inventory` with a fresh store each run (a CLI scan: empty record cache) and with
   the same store again (the registry: records cached).
2. A scratch registry (SQLite metadata, filesystem blobs, the registry's VulnStore on the
   metadata engine) with IMAGES distinct small images pushed directly (blobs linked,
   manifests put): each a config and one gzip layer with os-release and a dpkg status of
   about 50 packages (a Debian base at one of 5 snapshots plus extras from a larger pool, at
   one of 4 versions) and a few dist-info packages. The database gets RECORDS synthetic
   records over the same pools. Timed: `ScanService.scan` of every image (scans/s); then an
   import of UPDATE_RECORDS new records of which a few touch packages of some images, and
   `reevaluate_all()` (images matched again vs only moved to the new version); then an
   import touching no stored package and `reevaluate_all()` again; then `reevaluate_all()`
   with nothing changed.

Usage: .venv/bin/python bench/scan_bench.py [--quick] [--deb 350] [--python 100] [--npm 50]
       [--records 20000] [--affecting 40] [--runs 5] [--images 1000]
       [--update-records 500] [--update-touching 10] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cargohold.meta.db import make_engine, migrate
from cargohold.meta.scans import ScanStore
from cargohold.meta.store import MetadataStore
from cargohold.meta.vulndb import VulnStore, local_engine
from cargohold.oci.manifests import parse_manifest
from cargohold.scan import inventory_image
from cargohold.scan.matching import match_inventory
from cargohold.scan.osv import parse_record
from cargohold.services.caller import system_caller
from cargohold.services.scanning import ScanService
from cargohold.services.vulndb import import_source, open_local
from cargohold.storage.filesystem import FilesystemBlobStore

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_OSV = REPO_ROOT / "tests" / "data" / "osv"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MTIME = 1_700_000_000
SITE = "usr/local/lib/python3.11/site-packages"
OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""
SYLLABLES = [c + v for c in "bcdfgklmnprstvz" for v in "aeiou"] + ["al", "en", "or", "is"]
CVSS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # 9.8
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",  # 7.5
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:L",  # 5.0
    "CVSS:3.1/AV:L/AC:H/PR:L/UI:R/S:U/C:L/I:N/A:N",  # 2.5
)
DETAILS = (
    "A flaw was found in the way the component parses untrusted input. A remote attacker "
    "could use a crafted request to cause a denial of service or possibly execute code. "
)


# -- names and versions ------------------------------------------------------------------


def unique_names(count: int, rng: random.Random, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


@dataclass(frozen=True)
class Upstream:
    """An upstream version; Debian versions add an epoch, a revision and a +deb12uN."""

    major: int
    minor: int
    patch: int

    def plain(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def lower(self) -> Upstream:
        if self.minor:
            return Upstream(self.major, self.minor - 1, 0)
        return Upstream(self.major - 1, 9, 0)

    def higher(self) -> Upstream:
        return Upstream(self.major, self.minor, self.patch + 1)

    @staticmethod
    def random(rng: random.Random) -> Upstream:
        return Upstream(rng.randint(1, 9), rng.randint(0, 30), rng.randint(0, 12))


@dataclass(frozen=True)
class DebVersion:
    epoch: int
    upstream: Upstream
    revision: int
    stable_update: int  # N of +deb12uN, 0 for none

    def text(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        update = f"+deb12u{self.stable_update}" if self.stable_update else ""
        return f"{epoch}{self.upstream.plain()}-{self.revision}{update}"

    def already_fixed_in(self) -> str:
        """A fix older than this version (the advisory does not affect it)."""
        return DebVersion(self.epoch, self.upstream.lower(), 1, 0).text()

    def fixed_later_in(self) -> str:
        """The next stable security update (the advisory affects this version)."""
        return DebVersion(self.epoch, self.upstream, self.revision, self.stable_update + 1).text()

    @staticmethod
    def random(rng: random.Random) -> DebVersion:
        return DebVersion(
            1 if rng.random() < 0.08 else 0,
            Upstream.random(rng),
            rng.randint(1, 6),
            rng.choice((0, 0, 0, 1, 2)),
        )


# -- image content -----------------------------------------------------------------------


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    source: str
    source_version: str  # differs from version for binNMUs (+b1)
    arch: str
    section: str
    size_kib: int

    def stanza(self) -> str:
        lines = [
            f"Package: {self.name}",
            "Status: install ok installed",
            "Priority: optional",
            f"Section: {self.section}",
            f"Installed-Size: {self.size_kib}",
            "Maintainer: Debian Maintainers <maintainers@lists.debian.org>",
            f"Architecture: {self.arch}",
        ]
        if self.arch != "all" and self.name.startswith("lib"):
            lines.append("Multi-Arch: same")
        if self.source != self.name or self.source_version != self.version:
            same = self.source_version == self.version
            lines.append(
                f"Source: {self.source}"
                if same
                else f"Source: {self.source} ({self.source_version})"
            )
        lines += [
            f"Version: {self.version}",
            "Depends: libc6 (>= 2.34)",
            f"Description: the {self.name} package",
            f" Synthetic package {self.name} built from {self.source}, for the scanning",
            " benchmark. Real status files carry descriptions of a few lines like this one.",
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class LangPackage:
    type: str  # pypi, npm
    name: str  # as installed (PyPI: any case and separators)
    version: Upstream | str

    @property
    def version_text(self) -> str:
        return self.version.plain() if isinstance(self.version, Upstream) else self.version


def deb_binaries(
    source: str, version: DebVersion, rng: random.Random, count: int
) -> list[DebPackage]:
    """The binary packages one source builds, as an image would have them installed."""
    so = rng.randint(0, 9)
    candidates = [
        f"lib{source}{so}",
        source,
        f"{source}-common",
        f"{source}-bin",
        f"lib{source}-data",
    ]
    names = candidates[:count] if rng.random() < 0.6 else candidates[1 : count + 1]
    binnmu = rng.random() < 0.1
    packages = []
    for name in names:
        arch = "all" if name.endswith(("-common", "-data")) else "amd64"
        binary = version.text() + ("+b1" if binnmu and arch != "all" else "")
        packages.append(
            DebPackage(
                name,
                binary,
                source,
                version.text(),
                arch,
                "libs" if name.startswith("lib") else "utils",
                rng.randint(40, 4000),
            )
        )
    return packages


REAL_DEBS = [
    DebPackage("libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1", "amd64", "libs", 12993),
    DebPackage("libc-bin", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1", "amd64", "libs", 2200),
    DebPackage("zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1", "amd64", "libs", 164),
]
REAL_PYTHON = [LangPackage("pypi", "requests", "2.28.1"), LangPackage("pypi", "urllib3", "1.26.12")]
REAL_NPM = [LangPackage("npm", "lodash", "4.17.15"), LangPackage("npm", "minimist", "1.2.5")]


@dataclass
class BigImage:
    """The content of measure 1, and the versions its synthetic records are built against."""

    debs: list[DebPackage]
    sources: dict[str, DebVersion]  # synthetic sources only
    python: list[LangPackage]
    npm: list[LangPackage]


def big_image(deb: int, python: int, npm: int, rng: random.Random, taken: set[str]) -> BigImage:
    debs = list(REAL_DEBS)
    sources: dict[str, DebVersion] = {}
    while len(debs) < deb:
        (source,) = unique_names(1, rng, taken)
        version = DebVersion.random(rng)
        binaries = deb_binaries(source, version, rng, rng.choice((1, 1, 1, 2, 2, 3)))
        sources[source] = version
        debs += binaries[: deb - len(debs)]
    py = list(REAL_PYTHON)
    for name in unique_names(python - len(py), rng, taken):
        # Installed names as projects spell them; advisories use the PEP 503 form.
        shown = name.capitalize() if rng.random() < 0.2 else name
        shown = shown[:3] + "_" + shown[3:] if rng.random() < 0.2 else shown
        py.append(LangPackage("pypi", shown, Upstream.random(rng)))
    js = list(REAL_NPM)
    for name in unique_names(npm - len(js), rng, taken):
        scoped = f"@{name[:4]}/{name}" if rng.random() < 0.15 else name
        js.append(LangPackage("npm", scoped, Upstream.random(rng)))
    return BigImage(debs, sources, py, js)


def filler(rng: random.Random, size: int) -> bytes:
    """Bytes that compress about as well as binaries do (half random, half zeros)."""
    return rng.randbytes(size // 2) + bytes(size - size // 2)


def deb_files(package: DebPackage, rng: random.Random) -> dict[str, bytes]:
    if package.name.startswith("lib"):
        binary = f"usr/lib/x86_64-linux-gnu/{package.name}.so.{rng.randint(0, 9)}"
    else:
        binary = f"usr/bin/{package.name}"
    doc = f"usr/share/doc/{package.name}/copyright"
    listed = ["/.", "/usr", f"/{binary}", f"/usr/share/doc/{package.name}", f"/{doc}"]
    md5 = [f"{hashlib.md5(p.encode()).hexdigest()}  {p[1:]}" for p in listed[2:]]
    return {
        binary: filler(rng, rng.randint(8, 96) << 10),
        doc: (
            f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            f"Upstream-Name: {package.source}\n\nFiles: *\nLicense: GPL-2+\n" + DETAILS * 8
        ).encode(),
        f"var/lib/dpkg/info/{package.name}.list": ("\n".join(listed) + "\n").encode(),
        f"var/lib/dpkg/info/{package.name}.md5sums": ("\n".join(md5) + "\n").encode(),
    }


def dist_info_files(package: LangPackage, site: str, rng: random.Random) -> dict[str, bytes]:
    module = package.name.lower().replace("-", "_")
    folder = f"{site}/{module}-{package.version_text}.dist-info"
    metadata = (
        f"Metadata-Version: 2.1\nName: {package.name}\nVersion: {package.version_text}\n"
        f"Summary: The {package.name} package\nRequires-Python: >=3.8\n"
        "Classifier: Programming Language :: Python :: 3\n\n" + DETAILS * 4
    ).encode()
    code = ("# generated\n" + "def f(x):\n    return x\n" * rng.randint(50, 800)).encode()
    return {
        f"{folder}/METADATA": metadata,
        f"{folder}/INSTALLER": b"pip\n",
        f"{folder}/RECORD": f"{module}/__init__.py,,\n{folder}/METADATA,,\n".encode(),
        f"{site}/{module}/__init__.py": code,
    }


def npm_files(package: LangPackage, root: str, rng: random.Random) -> dict[str, bytes]:
    folder = f"{root}/node_modules/{package.name}"
    document = {
        "name": package.name,
        "version": package.version_text,
        "main": "index.js",
        "license": "MIT",
        "description": f"the {package.name} package",
    }
    code = ("'use strict';\n" + "module.exports = function (x) { return x; };\n" * 200).encode()
    return {
        f"{folder}/package.json": json.dumps(document, indent=2).encode(),
        f"{folder}/index.js": code[: rng.randint(2000, len(code))],
        f"{folder}/README.md": (DETAILS * 6).encode(),
    }


def dpkg_status(packages: Iterable[DebPackage]) -> bytes:
    return "\n".join(p.stanza() for p in sorted(packages, key=lambda p: p.name)).encode()


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tarball, parent directories first, as real layers are."""
    buffer = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                parent = "/".join(parts[:i])
                if parent not in seen:
                    seen.add(parent)
                    info = tarfile.TarInfo(parent + "/")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(files[path]), 0o644, MTIME
            tar.addfile(info, io.BytesIO(files[path]))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    config: bytes
    layers: list[bytes]  # gzip
    manifest: bytes
    uncompressed: int
    files: int


def build_image(layer_files: list[dict[str, bytes]]) -> BuiltImage:
    tars = [layer_tar(files) for files in layer_files]
    layers = [gzip.compress(tar, compresslevel=6, mtime=0) for tar in tars]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": GZIP_LAYER, "digest": sha256(layer), "size": len(layer)}
                for layer in layers
            ],
        }
    ).encode()
    return BuiltImage(
        config,
        layers,
        manifest,
        sum(len(t) for t in tars),
        sum(len(files) for files in layer_files),
    )


def write_layout(root: Path, image: BuiltImage) -> None:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (image.config, *image.layers, image.manifest):
        (blobs / sha256(blob).split(":")[1]).write_bytes(blob)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(image.manifest),
        "size": len(image.manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    (root / "index.json").write_text(json.dumps(index))


def big_image_layers(image: BigImage, rng: random.Random) -> list[dict[str, bytes]]:
    """Base system; apt-get install and pip install (status rewritten); the app's node_modules."""
    base_count = int(len(image.debs) * 0.6)
    base, added = image.debs[:base_count], image.debs[base_count:]
    layer1 = {
        "usr/lib/os-release": OS_RELEASE,
        "etc/os-release": OS_RELEASE,
        "etc/debian_version": b"12.5\n",
        "var/lib/dpkg/status": dpkg_status(base),
    }
    for package in base:
        layer1 |= deb_files(package, rng)
    layer2 = {"var/lib/dpkg/status": dpkg_status(image.debs)}
    for package in added:
        layer2 |= deb_files(package, rng)
    for i, package in enumerate(image.python):
        site = "usr/lib/python3/dist-packages" if i % 10 == 9 else SITE
        layer2 |= dist_info_files(package, site, rng)
    layer3 = {"app/package.json": b'{"name": "app", "version": "1.0.0"}', "app/server.js": b"1;"}
    for package in image.npm:
        layer3 |= npm_files(package, "app", rng)
    return [layer1, layer2, layer3]


# -- synthetic OSV records -----------------------------------------------------------------


@dataclass
class RecordMaker:
    """Numbered synthetic OSV records shaped like osv.dev's, each with its own CVE."""

    prefix: str
    counter: int = 0
    severities: random.Random = field(default_factory=lambda: random.Random(7))

    def make(
        self, ecosystem: str, name: str, events: list[dict[str, str]], modified: str
    ) -> dict[str, Any]:
        self.counter += 1
        n = self.counter
        cve = f"CVE-{2019 + n % 6}-{self.prefix}{n:05d}"
        if ecosystem.startswith("Debian"):
            record_id = f"DEBIAN-{cve}"
        elif ecosystem == "PyPI":
            record_id = f"PYSEC-{2019 + n % 6}-{self.prefix}{n:05d}"
        else:
            record_id = f"GHSA-{self.prefix}{n:05d}-bench-{n % 97:04d}"
        record: dict[str, Any] = {
            "schema_version": "1.6.0",
            "id": record_id,
            "modified": modified,
            "published": "2023-01-01T00:00:00Z",
            "summary": f"synthetic advisory {n} in {name}",
            "details": DETAILS * (1 + n % 4),
            "affected": [
                {
                    "package": {"ecosystem": ecosystem, "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                    "database_specific": {"source": "synthetic"},
                }
            ],
            "references": [
                {"type": "ADVISORY", "url": f"https://security.example.test/{cve}"},
                {"type": "WEB", "url": f"https://tracker.example.test/issues/{n}"},
            ],
        }
        if ecosystem.startswith("Debian"):
            record["upstream"] = [cve]  # Debian records carry no severity of their own
        else:
            record["aliases"] = [cve]
            record["severity"] = [{"type": "CVSS_V3", "score": self.severities.choice(CVSS)}]
        return record


def affected_events(fixed: str | None) -> list[dict[str, str]]:
    return [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """A zip of records, as osv.dev exports them."""
    count = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record, indent=2))
            count += 1
    return count


def normalized_pypi(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def big_image_records(
    image: BigImage, total: int, affecting: int, rng: random.Random, taken: set[str]
) -> list[dict[str, Any]]:
    """TOTAL records: AFFECTING that affect image packages, 5% more on image packages that
    are already fixed (a tenth of the Debian ones in Debian:11, where any version would
    match if the release were ignored), the rest on packages the image does not have."""
    maker = RecordMaker("1")
    modified = "2024-01-01T00:00:00Z"
    keys: list[tuple[str, str, Callable[[bool], str | None]]] = []
    for source, deb_version in image.sources.items():
        keys.append(
            (
                "Debian:12",
                source,
                lambda hit, v=deb_version: v.fixed_later_in() if hit else v.already_fixed_in(),
            )
        )
    for group in (image.python[len(REAL_PYTHON) :], image.npm[len(REAL_NPM) :]):
        for package in group:
            assert isinstance(package.version, Upstream)
            ecosystem = "PyPI" if package.type == "pypi" else "npm"
            name = normalized_pypi(package.name) if ecosystem == "PyPI" else package.name
            keys.append(
                (
                    ecosystem,
                    name,
                    lambda hit, v=package.version: (v.higher() if hit else v.lower()).plain(),
                )
            )
    records = []
    for ecosystem, name, fixed in rng.sample(keys, min(affecting, len(keys))):
        unfixed = ecosystem.startswith("Debian") and rng.random() < 0.25
        records.append(
            maker.make(ecosystem, name, affected_events(None if unfixed else fixed(True)), modified)
        )
    for _ in range(total // 20):
        ecosystem, name, fixed = rng.choice(keys)
        if ecosystem == "Debian:12" and rng.random() < 0.1:
            records.append(maker.make("Debian:11", name, affected_events(None), modified))
        else:
            records.append(maker.make(ecosystem, name, affected_events(fixed(False)), modified))
    pools = {e: unique_names(max(total // 12, 1), rng, taken) for e in ("Debian:12", "PyPI", "npm")}
    ecosystems = ("Debian:12", "Debian:12", "PyPI", "npm")
    while len(records) < total:
        ecosystem = rng.choice(ecosystems)
        version = Upstream.random(rng)
        fixed = f"{version.plain()}-1" if ecosystem.startswith("Debian") else version.plain()
        records.append(
            maker.make(ecosystem, rng.choice(pools[ecosystem]), affected_events(fixed), modified)
        )
    return records


# -- measure 1 ------------------------------------------------------------------------------


def median_time(function: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def measure_one_image(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)
    taken = {"glibc", "zlib", "requests", "urllib3", "lodash", "minimist"}
    image = big_image(args.deb, args.python, args.npm, rng, taken)
    started = time.perf_counter()
    built = build_image(big_image_layers(image, rng))
    layout = root / "image"
    write_layout(layout, built)
    records = big_image_records(image, args.records, args.affecting, rng, taken)
    export = root / "synthetic.zip"
    write_records(export, records)
    setup = time.perf_counter() - started

    db_dir = root / "vulndb"
    store = open_local(db_dir)
    started = time.perf_counter()
    synthetic = import_source(store, str(export), "bench-synthetic")
    real = import_source(store, str(REAL_OSV), "osv-test-data")
    imported = time.perf_counter() - started

    reference = f"oci:{layout}"
    inventory_s, inventory_runs, inventories = median_time(
        lambda: inventory_image(reference), args.runs
    )
    (inventory,) = inventories
    fresh_s, fresh_runs, findings = median_time(
        lambda: match_inventory(inventory, VulnStore(local_engine(db_dir), parse_record)),
        args.runs,
    )
    warm = VulnStore(local_engine(db_dir), parse_record)
    match_inventory(inventory, warm)
    warm_s, warm_runs, _ = median_time(lambda: match_inventory(inventory, warm), args.runs)
    by_type: dict[str, int] = {}
    for package in inventory.packages:
        by_type[package.type] = by_type.get(package.type, 0) + 1
    vulnerable = {(f.package.type, f.package.name, f.package.location) for f in findings}
    return {
        "packages": len(inventory.packages),
        "packages_by_type": by_type,
        "os": f"{inventory.os.id} {inventory.os.version_id}" if inventory.os else None,
        "layers": len(built.layers),
        "files": built.files,
        "image_mib_uncompressed": round(built.uncompressed / 2**20, 1),
        "image_mib_gzip": round(sum(len(b) for b in built.layers) / 2**20, 1),
        "db_records": synthetic.records + real.records,
        "db_import_s": round(imported, 2),
        "setup_s": round(setup, 2),
        "findings": len(findings),
        "packages_with_findings": len(vulnerable),
        "real_record_findings": sum(
            1
            for f in findings
            if f.package.name in {"libc6", "libc-bin", "requests", "urllib3", "lodash", "minimist"}
        ),
        "inventory_s": round(inventory_s, 4),
        "inventory_runs_s": [round(t, 4) for t in inventory_runs],
        "match_fresh_store_s": round(fresh_s, 4),
        "match_fresh_store_runs_s": [round(t, 4) for t in fresh_runs],
        "match_cached_s": round(warm_s, 4),
        "match_cached_runs_s": [round(t, 4) for t in warm_runs],
    }


# -- measure 2 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pools:
    """What the small images are made of; versions are chosen per image."""

    base: list[tuple[str, str]]  # (binary, source) in every image
    base_versions: list[dict[str, DebVersion]]  # per snapshot: source -> version
    extras: list[str]  # one binary per source, same name
    extra_versions: dict[str, DebVersion]  # the patch varies per image
    python: list[str]
    python_versions: dict[str, Upstream]


VARIANTS = 4  # versions of each extra package across images (patch level + 0..3)
SNAPSHOTS = 5  # versions of the Debian base across images


def make_pools(rng: random.Random, taken: set[str], base: int, extras: int, python: int) -> Pools:
    sources = unique_names(base, rng, taken)
    binaries = [(f"lib{s}{rng.randint(0, 9)}" if rng.random() < 0.5 else s, s) for s in sources]
    snapshots = []
    first = {s: DebVersion.random(rng) for s in sources}
    for k in range(SNAPSHOTS):
        snapshots.append(
            {
                s: DebVersion(v.epoch, v.upstream, v.revision, v.stable_update + k // 2)
                for s, v in first.items()
            }
        )
    extra_names = unique_names(extras, rng, taken)
    python_names = unique_names(python, rng, taken)
    return Pools(
        binaries,
        snapshots,
        extra_names,
        {name: DebVersion.random(rng) for name in extra_names},
        python_names,
        {name: Upstream.random(rng) for name in python_names},
    )


def variant(version: DebVersion, k: int) -> DebVersion:
    up = version.upstream
    return DebVersion(version.epoch, Upstream(up.major, up.minor, up.patch + k), 1, 0)


@dataclass
class SmallImage:
    built: BuiltImage
    extras: dict[str, int]  # extra source -> variant
    python: dict[str, int]  # python name -> variant


def small_image(n: int, pools: Pools, rng: random.Random, extras: int, python: int) -> SmallImage:
    snapshot = pools.base_versions[n % SNAPSHOTS]
    debs = []
    for binary, source in pools.base:
        v = snapshot[source].text()
        debs.append(DebPackage(binary, v, source, v, "amd64", "libs", 100))
    chosen = {name: rng.randrange(VARIANTS) for name in rng.sample(pools.extras, extras)}
    for name, k in chosen.items():
        v = variant(pools.extra_versions[name], k).text()
        debs.append(DebPackage(name, v, name, v, "amd64", "utils", 200))
    files = {
        "etc/os-release": OS_RELEASE,
        "etc/debian_version": b"12.5\n",
        "var/lib/dpkg/status": dpkg_status(debs),
        f"app/build-{n}.txt": f"image {n}\n".encode(),
    }
    py = {name: rng.randrange(VARIANTS) for name in rng.sample(pools.python, python)}
    for name, k in py.items():
        up = pools.python_versions[name]
        version = Upstream(up.major, up.minor, up.patch + k)
        folder = f"{SITE}/{name}-{version.plain()}.dist-info"
        files[f"{folder}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version.plain()}\n\n"
        ).encode()
    return SmallImage(build_image([files]), chosen, py)


def pool_records(
    pools: Pools, total: int, rng: random.Random, taken: set[str]
) -> list[dict[str, Any]]:
    """The database the images are first scanned against: some records on base and extra
    packages (affecting some variants), the rest on packages no image has."""
    maker = RecordMaker("2")
    modified = "2024-01-01T00:00:00Z"
    records = []
    for _ in range(total // 20):
        kind = rng.random()
        if kind < 0.3:
            _, source = rng.choice(pools.base)
            fixed = pools.base_versions[rng.randrange(SNAPSHOTS)][source]
            records.append(maker.make("Debian:12", source, affected_events(fixed.text()), modified))
        elif kind < 0.8:
            name = rng.choice(pools.extras)
            fixed = variant(pools.extra_versions[name], rng.randrange(VARIANTS + 1))
            records.append(maker.make("Debian:12", name, affected_events(fixed.text()), modified))
        else:
            name = rng.choice(pools.python)
            up = pools.python_versions[name]
            fixed = Upstream(up.major, up.minor, up.patch + rng.randrange(VARIANTS + 1))
            records.append(maker.make("PyPI", name, affected_events(fixed.plain()), modified))
    others = {e: unique_names(max(total // 12, 1), rng, taken) for e in ("Debian:12", "PyPI")}
    while len(records) < total:
        ecosystem = rng.choice(("Debian:12", "Debian:12", "PyPI", "npm"))
        names = others["PyPI" if ecosystem == "npm" else ecosystem]
        version = Upstream.random(rng)
        fixed = f"{version.plain()}-1" if ecosystem.startswith("Debian") else version.plain()
        records.append(maker.make(ecosystem, rng.choice(names), affected_events(fixed), modified))
    return records


def update_records(
    prefix: str,
    count: int,
    touching: list[str],
    pools: Pools,
    rng: random.Random,
    taken: set[str],
) -> list[dict[str, Any]]:
    """COUNT new records: one per source in TOUCHING (fixed in variant 2, so images at variants
    0 and 1 get a new finding), the rest on packages no image has."""
    maker = RecordMaker(prefix)
    modified = "2024-06-01T00:00:00Z"
    records = [
        maker.make(
            "Debian:12",
            name,
            affected_events(variant(pools.extra_versions[name], 2).text()),
            modified,
        )
        for name in touching
    ]
    names = unique_names(max(count // 2, 1), rng, taken)
    while len(records) < count:
        ecosystem = rng.choice(("Debian:12", "PyPI", "npm"))
        version = Upstream.random(rng)
        fixed = f"{version.plain()}-1" if ecosystem == "Debian:12" else version.plain()
        records.append(maker.make(ecosystem, rng.choice(names), affected_events(fixed), modified))
    return records


def findings_stored(meta: MetadataStore) -> int:
    row = meta._fast.one("SELECT count(*) FROM scan_findings")
    return int(row[0]) if row else 0


def measure_registry(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(2)
    taken: set[str] = set()
    pools = make_pools(rng, taken, base=30, extras=args.extras_pool, python=300)
    engine = make_engine(f"sqlite:///{root / 'meta.db'}")
    migrate(engine)
    meta = MetadataStore(engine)
    blobs = FilesystemBlobStore(root / "blobs")
    vulndb = VulnStore(engine, parse_record)
    service = ScanService(meta, blobs, ScanStore(meta.db), vulndb)

    started = time.perf_counter()
    export = root / "pool.zip"
    write_records(export, pool_records(pools, args.records, rng, taken))
    first_import = import_source(vulndb, str(export), "bench-pool")
    import_s = time.perf_counter() - started

    started = time.perf_counter()
    pushed: list[tuple[str, str, SmallImage]] = []
    layer_bytes = 0
    for n in range(args.images):
        image = small_image(n, pools, rng, extras=20, python=5)
        repository = f"bench/app-{n % 50}"
        built = image.built
        for blob in (built.config, *built.layers):
            blobs.put(sha256(blob), blob)
            meta.blobs.link(repository, sha256(blob), len(blob))
            meta.blobs.mark_stored(sha256(blob))
        layer_bytes += sum(len(layer) for layer in built.layers)
        digest = sha256(built.manifest)
        manifest = parse_manifest(built.manifest, OCI_MANIFEST)
        meta.manifests.put(
            repository,
            digest,
            built.manifest,
            manifest,
            f"v{n}",
            False,
            system_caller("bench").as_actor(),
        )
        pushed.append((repository, digest, image))
    push_s = time.perf_counter() - started

    started = time.perf_counter()
    scanned = findings = 0
    for repository, digest, _ in pushed:
        outcome = service.scan(repository, digest)
        assert outcome.error is None, outcome.error
        scanned += outcome.scanned
        findings += outcome.findings
    scan_s = time.perf_counter() - started
    packages = sum(
        len(r.inventory[0]["packages"])
        for r in service.store.reports_for_reevaluation("", args.images + 1)
        if r.inventory
    )

    # Update 1: a few records on extra packages that some images have.
    touching = rng.sample(pools.extras, args.update_touching)
    expected = sum(1 for _, _, image in pushed if set(image.extras) & set(touching))
    newly_affected = sum(
        1 for _, _, image in pushed for name in touching if image.extras.get(name, 99) < 2
    )
    update_dir = root / "update1"
    update_dir.mkdir()
    for record in update_records("3", args.update_records, touching, pools, rng, taken):
        (update_dir / f"{record['id']}.json").write_text(json.dumps(record, indent=2))
    started = time.perf_counter()
    update1 = import_source(vulndb, str(update_dir), "bench-update-1")
    update1_import_s = time.perf_counter() - started
    before = findings_stored(meta)
    reeval1 = service.reevaluate_all()
    after = findings_stored(meta)

    # Update 2: records on packages no image has.
    update_dir = root / "update2"
    update_dir.mkdir()
    for record in update_records("4", args.update_records, [], pools, rng, taken):
        (update_dir / f"{record['id']}.json").write_text(json.dumps(record, indent=2))
    started = time.perf_counter()
    update2 = import_source(vulndb, str(update_dir), "bench-update-2")
    update2_import_s = time.perf_counter() - started
    reeval2 = service.reevaluate_all()

    # Nothing changed since.
    reeval3 = service.reevaluate_all()
    return {
        "images": len(pushed),
        "packages_per_image": round(packages / max(len(pushed), 1), 1),
        "layer_kib_per_image": round(layer_bytes / max(len(pushed), 1) / 1024, 1),
        "db_records": first_import.records,
        "db_import_s": round(import_s, 2),
        "push_s": round(push_s, 2),
        "scanned": scanned,
        "scan_s": round(scan_s, 2),
        "scans_per_s": round(scanned / scan_s, 1),
        "findings_after_scan": findings,
        "update1": {
            "records": update1.records,
            "added": update1.added,
            "keys_touched": len(update1.keys_touched),
            "import_s": round(update1_import_s, 3),
            "images_with_a_touched_package": expected,
            "new_findings_expected": newly_affected,
            "findings_before": before,
            "findings_after": after,
            **asdict(reeval1),
            "moved_only": reeval1.reports - reeval1.matched_again,
        },
        "update2": {
            "records": update2.records,
            "added": update2.added,
            "keys_touched": len(update2.keys_touched),
            "import_s": round(update2_import_s, 3),
            **asdict(reeval2),
            "moved_only": reeval2.reports - reeval2.matched_again,
        },
        "no_change": asdict(reeval3),
    }


# -- report ---------------------------------------------------------------------------------


def table(one: dict[str, Any], reg: dict[str, Any]) -> str:
    u1, u2, nc = reg["update1"], reg["update2"], reg["no_change"]
    types = ", ".join(f"{k} {v}" for k, v in sorted(one["packages_by_type"].items()))
    rows = [
        ("| measure | result |", ""),
        ("|---|---|", ""),
        (
            f"| inventory_image, {one['packages']} packages ({types}), {one['files']:,} files, "
            f"{one['layers']} gzip layers, {one['image_mib_gzip']} MiB "
            f"({one['image_mib_uncompressed']} MiB uncompressed) | "
            f"**{one['inventory_s'] * 1000:.0f} ms** |",
            "",
        ),
        (
            f"| match_inventory against {one['db_records']:,} records, fresh store (CLI) | "
            f"**{one['match_fresh_store_s'] * 1000:.0f} ms** "
            f"({one['findings']} findings in {one['packages_with_findings']} packages) |",
            "",
        ),
        (
            f"| match_inventory, same store again (records cached) | "
            f"**{one['match_cached_s'] * 1000:.0f} ms** |",
            "",
        ),
        (
            f"| ScanService.scan of {reg['images']:,} images ({reg['packages_per_image']} "
            f"packages each), {reg['db_records']:,} records | **{reg['scans_per_s']} scans/s** "
            f"({reg['scan_s']} s, {reg['findings_after_scan']:,} findings) |",
            "",
        ),
        (
            f"| reevaluate_all after {u1['added']} new records ({u1['keys_touched']} package "
            f"keys, {u1['images_with_a_touched_package']} images have one) | "
            f"**{u1['seconds']} s**: {u1['matched_again']} matched again, "
            f"{u1['moved_only']} moved only; findings {u1['findings_before']:,} -> "
            f"{u1['findings_after']:,} |",
            "",
        ),
        (
            f"| reevaluate_all after {u2['added']} new records on no stored package | "
            f"**{u2['seconds']} s**: {u2['matched_again']} matched again, "
            f"{u2['moved_only']} moved only |",
            "",
        ),
        (
            f"| reevaluate_all, nothing changed | **{nc['seconds']} s** "
            f"({nc['reports']} reports) |",
            "",
        ),
    ]
    return "\n".join(row for row, _ in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--deb", type=int, default=350, help="dpkg packages in the big image")
    parser.add_argument("--python", type=int, default=100, help="dist-info packages")
    parser.add_argument("--npm", type=int, default=50, help="npm packages")
    parser.add_argument("--records", type=int, default=20_000, help="synthetic OSV records")
    parser.add_argument("--affecting", type=int, default=40, help="records hitting the image")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measure (median)")
    parser.add_argument("--images", type=int, default=1000, help="stored images to re-evaluate")
    parser.add_argument("--extras-pool", type=int, default=1000, help="extra Debian packages")
    parser.add_argument("--update-records", type=int, default=500)
    parser.add_argument(
        "--update-touching", type=int, default=10, help="update records on stored packages"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if args.quick:
        args.deb, args.python, args.npm, args.records = 60, 20, 10, 2000
        args.affecting, args.runs, args.images, args.extras_pool = 10, 2, 50, 200
        args.update_records, args.update_touching = 50, 3

    root = Path(tempfile.mkdtemp(prefix="cargohold-scan-bench-"))
    try:
        started = time.perf_counter()
        (root / "one").mkdir()
        (root / "reg").mkdir()
        one = measure_one_image(root / "one", args)
        print(json.dumps({"one_image": one}), flush=True)
        reg = measure_registry(root / "reg", args)
        print(json.dumps({"registry": reg}), flush=True)
        results = {
            "args": vars(args) | {"json": str(args.json) if args.json else None},
            "one_image": one,
            "registry": reg,
            "seconds": round(time.perf_counter() - started, 1),
            "load_average": os.getloadavg(),
        }
        print()
        print(table(one, reg))
        print()
        print(json.dumps(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
