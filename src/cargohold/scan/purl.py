"""Package URLs (https://github.com/package-url/purl-spec) for each package type."""

from __future__ import annotations

from packageurl import PackageURL

from cargohold.scan.model import OSInfo


def _qualifiers(arch: str | None, os: OSInfo | None) -> dict[str, str]:
    qualifiers = {"arch": arch} if arch else {}
    if os is not None:
        qualifiers["distro"] = os.distro
    return qualifiers


def os_purl(
    purl_type: str,
    default_namespace: str,
    name: str,
    version: str,
    arch: str | None,
    os: OSInfo | None,
    extra: dict[str, str] | None = None,
) -> str:
    """deb, apk and rpm purls: the namespace is the distribution, e.g. pkg:deb/debian/..."""
    namespace = os.id if os is not None else default_namespace
    return PackageURL(
        type=purl_type,
        namespace=namespace,
        name=name,
        version=version,
        qualifiers={**_qualifiers(arch, os), **(extra or {})},
    ).to_string()


def pypi_purl(name: str, version: str) -> str:
    # The purl spec: PyPI names are lowercased, with "_" replaced by "-".
    return PackageURL(type="pypi", name=name.lower().replace("_", "-"), version=version).to_string()


def npm_purl(name: str, version: str) -> str:
    namespace, _, bare = name.rpartition("/")
    return PackageURL(
        type="npm", namespace=namespace or None, name=bare, version=version
    ).to_string()


def golang_purl(module: str, version: str) -> str:
    """pkg:golang/github.com/gorilla/mux@v1.8.0; the toolchain is pkg:golang/stdlib@1.19.8."""
    namespace, _, name = module.rpartition("/")
    return PackageURL(
        type="golang", namespace=namespace or None, name=name, version=version
    ).to_string()


def maven_purl(group: str, artifact: str, version: str) -> str:
    return PackageURL(type="maven", namespace=group, name=artifact, version=version).to_string()


def gem_purl(name: str, version: str) -> str:
    return PackageURL(type="gem", name=name, version=version).to_string()


def composer_purl(name: str, version: str) -> str:
    """pkg:composer/monolog/monolog@2.9.1: Packagist names are `vendor/project`."""
    namespace, _, bare = name.rpartition("/")
    return PackageURL(
        type="composer", namespace=namespace or None, name=bare, version=version
    ).to_string()


def cargo_purl(name: str, version: str) -> str:
    return PackageURL(type="cargo", name=name, version=version).to_string()


def nuget_purl(name: str, version: str) -> str:
    return PackageURL(type="nuget", name=name, version=version).to_string()


def conda_purl(name: str, version: str) -> str:
    return PackageURL(type="conda", name=name, version=version).to_string()
