"""A Debian 12 base image made here, for building cargohold's image without Docker Hub.

The Dockerfile's base is debian:bookworm-slim, which this machine cannot pull. What that
image is made of can be made here: `debootstrap --variant=minbase bookworm` from the Debian
mirror apt already uses, slimmed the way the official slim images are (no documentation,
manual pages or translations, now or in packages installed later; no apt lists or caches).
The result is a root filesystem tarball for `docker import`.

Making it takes about half a minute, so the tarball is kept between test runs in a cache
directory outside the work tree (a fresh clone, as CI uses, would never find one inside it):
`$CARGOHOLD_TEST_CACHE`, else `$XDG_CACHE_HOME/cargohold-tests`, else
`~/.cache/cargohold-tests`. A tarball older than MAX_AGE_DAYS is made again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

DEBOOTSTRAP = "/usr/sbin/debootstrap"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# Bump when what goes into the tarball changes: an older cached one is then not reused.
FORMAT = 1
MAX_AGE_DAYS = 30
DEBOOTSTRAP_TIMEOUT = 600

# What debian:bookworm-slim keeps out of packages (the slimming of the official images).
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""
_CLEAN = (
    '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb'
    ' /var/cache/apt/*.bin || true"'
)
APT_CLEAN = f"""\
DPkg::Post-Invoke {{ {_CLEAN}; }};
APT::Update::Post-Invoke {{ {_CLEAN}; }};
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
SOURCES = f"""\
Types: deb
URIs: {MIRROR}
Suites: {SUITE} {SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def cache_dir() -> Path:
    explicit = os.environ.get("CARGOHOLD_TEST_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "cargohold-tests"


def base_tarball() -> Path:
    """The cached root filesystem tarball of Debian 12 slim, made first when missing or old."""
    target = cache_dir() / f"debian-{SUITE}-slim-v{FORMAT}.tar"
    if target.is_file() and time.time() - target.stat().st_mtime < MAX_AGE_DAYS * 86400:
        return target
    if not os.access(DEBOOTSTRAP, os.X_OK):
        raise RuntimeError(f"{DEBOOTSTRAP} is missing: install the Debian package debootstrap")
    if os.geteuid() != 0:
        raise RuntimeError("making a Debian root filesystem with debootstrap needs root")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="debian-base-", dir=target.parent))
    try:
        root = work / "root"
        _debootstrap(root, work / "debootstrap.log")
        _slim(root)
        partial = work / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."],
            check=True,
            timeout=300,
        )
        partial.replace(target)  # atomic: a concurrent run sees the old tarball or the new one
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _debootstrap(root: Path, log: Path) -> None:
    command = [DEBOOTSTRAP, "--variant=minbase", SUITE, str(root), MIRROR]
    with log.open("wb") as out:
        try:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"debootstrap took over {DEBOOTSTRAP_TIMEOUT}s (is {MIRROR} reachable?)"
            ) from None
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"exit {done.returncode}: {' '.join(command)}\n{tail}")


def _slim(root: Path) -> None:
    """What debian:bookworm-slim leaves out, and its apt settings."""
    (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(SOURCES)
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
        "var/log/*.log",
    ):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.name != "lock":
                path.unlink()
    for path in (root / "usr/share/doc").rglob("*"):
        if (path.is_file() or path.is_symlink()) and path.name != "copyright":
            path.unlink()
