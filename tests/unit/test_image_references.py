"""One parser for image references on the command line (cli/references.py), as `sign`,
`verify`, `scan` of a cargohold server's image and `scan` of any registry's image read them."""

from __future__ import annotations

import pytest

from cargohold.cli.image_pull import parse_remote
from cargohold.cli.references import ReferenceError, parse_registry_reference, registry_base
from cargohold.cli.registry_auth import RegistryError
from cargohold.cli.scan_sources import registry_image
from cargohold.cli.trust_cmd import remote_image

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "host", "repository", "reference"),
    [
        ("team/app", None, "team/app", "latest"),
        ("team/app:v1", None, "team/app", "v1"),
        (f"team/app@{DIGEST}", None, "team/app", DIGEST),
        ("localhost/app:1", "localhost", "app", "1"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "latest"),
        ("ghcr.io/org/app:2", "ghcr.io", "org/app", "2"),
        (f"[::1]:5000/app@{DIGEST}", "[::1]:5000", "app", DIGEST),
    ],
)
def test_names_split_as_docker_splits_them(
    text: str, host: str | None, repository: str, reference: str
) -> None:
    parsed = parse_registry_reference(text)
    assert (parsed.host, parsed.repository, parsed.reference) == (host, repository, reference)
    assert parsed.is_digest == (reference == DIGEST)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("team/app@sha256:abc", "is not a digest"),
        ("team/app:bad tag", "is not a tag"),
        ("Team/App:v1", "is not a repository name"),
    ],
)
def test_bad_references_are_one_line_errors(text: str, why: str) -> None:
    with pytest.raises(ReferenceError, match=why):
        parse_registry_reference(text)
    with pytest.raises(RegistryError, match=why):
        parse_remote(f"docker://{text}")


def test_loopback_registries_are_plain_http_others_https() -> None:
    for host in ("127.0.0.1:5000", "localhost", "[::1]:5000", "[::1]"):
        assert registry_base(host) == f"http://{host}"
    assert registry_base("ghcr.io") == "https://ghcr.io"
    assert registry_base("mirror.example:8443", plain_http=True) == "http://mirror.example:8443"


def test_each_command_keeps_its_reading_of_a_name() -> None:
    # sign/verify: the named host wins over --registry.
    image = remote_image("127.0.0.1:5000/team/app:v1", "http://other:9")
    assert (image.base, image.host, image.repository) == (
        "http://127.0.0.1:5000",
        "127.0.0.1:5000",
        "team/app",
    )
    assert remote_image("team/app", "127.0.0.1:5000").base == "http://127.0.0.1:5000"
    # Docker Hub is reached at its API host by every command that reads any registry.
    assert remote_image("docker.io/library/debian:12", None).base == "https://registry-1.docker.io"
    # scan: --registry wins; without it, a named host.
    assert registry_image("team/app:v1", "http://127.0.0.1:5000").base == "http://127.0.0.1:5000"
    assert registry_image("ghcr.io/org/app:1", None).base == "https://ghcr.io"
    # any registry: no host is Docker Hub, one component is its library/ namespace.
    hub = parse_remote("debian:12")
    assert (hub.host, hub.repository, hub.reference, hub.base) == (
        "docker.io",
        "library/debian",
        "12",
        "https://registry-1.docker.io",
    )
    assert parse_remote("docker://index.docker.io/org/app").host == "docker.io"
    assert parse_remote("localhost:5000/team/app").base == "http://localhost:5000"
