"""`cargohold info`, `repos` and `tags`: what a registry holds, read through its admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError, base_url
from cargohold.cli.common import JsonOption, RegistryOption, fail, out
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json
from cargohold.cli.common import size as _size
from cargohold.cli.common import when as _when
from cargohold.cli.tag_order import tag_sort_key


def info(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """Show the server's version, stores, object counts and free disk space."""
    try:
        data = _client(registry).system()
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(data)
        return
    out.print(f"cargohold {data['version']} at {registry}")
    out.print(f"storage: {data['storage']['driver']}, metadata: {data['metadata']['dialect']}")
    counts = data["counts"]
    out.print(
        f"{counts['repositories']} repositories, {counts['manifests']} manifests, "
        f"{counts['tags']} tags, {counts['blobs']} blobs ({_size(counts['blobBytes'])})"
    )
    disk = data.get("disk")
    if disk:
        out.print(
            f"disk: {_size(disk['freeBytes'])} free of {_size(disk['totalBytes'])} in "
            f"{disk['path']}",
            markup=False,
        )
        if disk["diskFull"]:
            out.print(
                "[bold red]DISK FULL[/]: pushes are refused (507 DISK_FULL); delete images and "
                "run `cargohold gc` to free space"
            )
        elif disk["lowSpace"]:
            out.print("[yellow]low on disk space[/]: pushes will fail when it runs out")


def repos(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """List repositories with their sizes."""
    try:
        rows = _client(registry).repositories()
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(rows)
        return
    table = Table("repository", "manifests", "tags", "size", "last push")
    for row in rows:
        table.add_row(
            row["name"],
            str(row["manifests"]),
            str(row["tags"]),
            _size(row["sizeBytes"]),
            _when(row["lastPushedAt"]),
        )
    out.print(table)


def tags(
    repository: Annotated[str, typer.Argument(help="Repository name, e.g. team/app.")],
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            help="Verify each signed image's signatures with this public key (cosign.pub); "
            "repeat for several.",
            show_default=False,
        ),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """List a repository's tags with digest, size, signatures, push time and last pull time.

    Signatures and other accessories (sha256-<hex>.sig tags, referrers) are shown with their
    image, not as tags. With --key, each signed image is verified and the keys that signed it
    are shown."""
    try:
        rows = _client(registry).tags(repository)
    except ClientError as exc:
        raise fail(str(exc)) from None
    verified = _verified_keys(registry, repository, rows, key) if key else {}
    if as_json:
        if key:
            for row in rows:
                row["keysVerified"] = verified.get(row["digest"], [])
        _print_json(rows)
        return
    table = Table("tag", "digest", "size", "signed", "pushed", "last pull")
    for row in sorted(rows, key=lambda row: tag_sort_key(row["tag"])):
        table.add_row(
            row["tag"],
            row["digest"][:19],
            _size(row["sizeBytes"]),
            _signed(row, verified.get(row["digest"]) if key else None),
            _when(row["pushedAt"]),
            _when(row["lastPulledAt"]),
        )
    out.print(table)


def _signed(row: dict[str, Any], keys: list[str] | None) -> str:
    count = row.get("signatures", 0)
    if not count:
        return "unsigned"
    text = f"signed ({count})"
    if keys is not None:
        text += f" by {', '.join(keys)}" if keys else ", none by the key"
    return text


def _verified_keys(
    registry: str, repository: str, rows: list[dict[str, Any]], paths: list[Path]
) -> dict[str, list[str]]:
    """Per signed image digest, the names of the --key files a valid signature is by."""
    from cargohold.cli.registry_client import RegistryClient
    from cargohold.cli.trust_cmd import trusted_keys
    from cargohold.trust.discovery import SourceError
    from cargohold.trust.verification import verify_image

    keys = trusted_keys(paths)
    digests = sorted({row["digest"] for row in rows if row.get("signatures")})
    found: dict[str, list[str]] = {}
    try:
        with RegistryClient(base_url(registry), repository, push=False) as client:
            for digest in digests:
                report = verify_image(client, digest, keys, {})
                found[digest] = sorted({c.key.name for c in report.valid if c.key})
    except SourceError as exc:
        raise fail(str(exc)) from None
    return found
