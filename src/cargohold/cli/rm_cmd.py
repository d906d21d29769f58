"""`cargohold rm`: untag (REPOSITORY:TAG) or delete an image (REPOSITORY@DIGEST).

Both go through the registry API (`DELETE /v2/<name>/manifests/<reference>`), like skopeo or
any other client, so holds, immutable tags and the audit log apply the same way.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cargohold.cli.client import DEFAULT_REGISTRY, AdminClient, ClientError
from cargohold.cli.common import RegistryOption, client, fail
from cargohold.cli.references import ImageRef, ReferenceError, parse_image
from cargohold.cli.tag_order import tag_sort_key


def _confirm(question: str) -> None:
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # stdin closed or ^C: no one said yes
        confirmed = False
    if not sys.stdin.isatty():
        typer.echo(err=True)  # an answer read from a pipe is not echoed: end the prompt's line
    if not confirmed:
        raise fail("nothing deleted (answer y, or pass --yes)")


def _tags_of(api: AdminClient, image: ImageRef, digest: str) -> list[str]:
    tags = (row["tag"] for row in api.tags(image.repository) if row["digest"] == digest)
    return sorted(tags, key=tag_sort_key)


def rm(
    image: Annotated[
        str,
        typer.Argument(
            metavar="IMAGE",
            help="REPOSITORY:TAG removes the tag (the image stays); REPOSITORY@DIGEST deletes "
            "the image, every tag on it, and its signatures, SBOMs and other referrers.",
            show_default=False,
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Untag an image, or delete it (its blobs are freed by the next gc)."""
    try:
        ref = parse_image(image)
    except ReferenceError as exc:
        raise fail(str(exc)) from None
    api = client(registry)
    try:
        # Look first, so a typo is "no such image" rather than a question about nothing.
        digest = api.manifest_digest(ref.repository, ref.reference)
        if ref.tag is not None:
            if not yes:
                _confirm(f"Untag {ref} ({digest})? The image stays")
            api.delete_manifest(ref.repository, ref.tag)
            print(f"untagged {ref} (was {digest})")
            return
        tags = _tags_of(api, ref, digest)
        if not yes:
            named = f" and its tags {', '.join(tags)}" if tags else " (it has no tags)"
            _confirm(
                f"Delete {ref}{named}, with its signatures, SBOMs and other referrers? "
                "This cannot be undone"
            )
        api.delete_manifest(ref.repository, digest)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"deleted {ref}" + (f" (tags: {', '.join(tags)})" if tags else ""))
