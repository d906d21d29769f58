"""`cargohold where IMAGE`: the clusters, namespaces and workloads the admission webhook let
run an image, and when (what keeps it from lifecycle policies and garbage collection)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cargohold.cli.client import AdminClient, ClientError
from cargohold.cli.common import JsonOption, fail, out, print_json, when
from cargohold.cli.trust_cmd import remote_image


def where(
    image: Annotated[
        str,
        typer.Argument(
            help="HOST[:PORT]/REPOSITORY[:TAG|@DIGEST], or REPOSITORY[:TAG|@DIGEST] with "
            "--registry (the tag defaults to latest, and names the digest it points to now).",
        ),
    ],
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry", envvar="CARGOHOLD_REGISTRY", help="URL of the cargohold server."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show where and when the admission webhook admitted an image."""
    named = remote_image(image, registry)
    try:
        found = AdminClient(named.base).admissions(named.repository, named.reference)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(found)
        return
    rows = found["admissions"]
    subject = f"{named.repository}@{found['digest']}"
    if not rows:
        out.print(f"{subject} was never admitted to a cluster", highlight=False)
        return
    table = Table("cluster", "namespace", "workload", "last admitted", "first admitted", "image")
    for row in rows:
        table.add_row(
            row["cluster"],
            row["namespace"],
            f"{row['kind']}/{row['name']}",
            when(row["lastAdmittedAt"]),
            when(row["firstAdmittedAt"]),
            row["image"],
        )
    out.print(subject, highlight=False)
    out.print(table)
    out.print(
        f"kept from lifecycle and garbage collection while admitted within the last "
        f"{found['keepDays']} days",
        highlight=False,
    )
