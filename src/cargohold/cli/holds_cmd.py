"""`cargohold hold`: retention holds on a project, a repository or one image."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import (
    JsonOption,
    ProjectOption,
    RegistryOption,
    RepositoryOption,
    client,
    fail,
    out,
    print_json,
    when,
)
from cargohold.cli.references import ReferenceError, parse_image

hold_app = typer.Typer(help="Retention holds: keep things for good.", no_args_is_help=True)


@hold_app.command("add")
def hold_add(
    reason: Annotated[str, typer.Option("--reason", help="Why (a case number, a ticket).")],
    project: ProjectOption = None,
    repository: RepositoryOption = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image", help="One image: REPOSITORY@DIGEST, or REPOSITORY:TAG for its digest now."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="End, ISO 8601 (UTC unless it has a zone), exclusive; default: none."
        ),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Put a hold on a project, a repository or one image; it wins over every delete."""
    if sum(x is not None for x in (project, repository, image)) != 1:
        raise fail("give exactly one of --project, --repository or --image")
    document: dict[str, Any] = {"reason": reason, "until": until}
    api = client(registry)
    try:
        if image is not None:
            try:
                ref = parse_image(image)
            except ReferenceError as exc:
                raise fail(f"--image: {exc}") from None
            digest = ref.digest
            if digest is None:
                # A hold is on an image, not on a tag that may move: pin the digest it names now.
                digest = api.manifest_digest(ref.repository, ref.reference)
                typer.echo(f"{ref} resolved to {digest}", err=True)
            document.update(scope="image", target=ref.repository, digest=digest)
        else:
            scope = "project" if project else "repository"
            document.update(scope=scope, target=project or repository)
        hold = api.add_hold(document)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"{hold['id']}\t{hold['description']}")


@hold_app.command("list")
def hold_list(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """List retention holds."""
    try:
        holds = client(registry).holds()
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(holds)
        return
    table = Table("id", "scope", "target", "digest", "reason", "until")
    for hold in holds:
        table.add_row(
            str(hold["id"]),
            hold["scope"],
            hold["target"],
            (hold["digest"] or "")[:19],
            hold["reason"],
            when(hold["endsAt"]) if hold["endsAt"] is not None else "none",
        )
    out.print(table)


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="The hold's id (see hold list).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Release a retention hold."""
    try:
        client(registry).release_hold(hold_id)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"released hold {hold_id}")
