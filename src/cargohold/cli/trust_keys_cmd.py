"""`cargohold trust`: a project's signature enforcement. `trust keys add|list|remove` manage the
public keys (cosign.pub) whose signatures let an image be pulled; `trust enforce|show` the
switch. Project admins change them; every change is audited on the server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY, ClientError
from cargohold.cli.common import JsonOption, RegistryOption, client, fail, out, print_json, when

trust_app = typer.Typer(
    help="Signature enforcement on pull: a project's trusted keys and its switch.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="The public keys a project trusts (cosign.pub).", no_args_is_help=True)
trust_app.add_typer(keys_app, name="keys")

ProjectArgument = Annotated[str, typer.Argument(help="The project (first path component).")]


def _keys_table(keys: list[dict[str, Any]]) -> Table:
    table = Table("FINGERPRINT", "ALGORITHM", "ADDED", "BY", box=None)
    for key in keys:
        table.add_row(key["fingerprint"], key["algorithm"], when(key["addedAt"]), key["addedBy"])
    return table


@keys_app.command("add")
def keys_add(
    project: ProjectArgument,
    key: Annotated[Path, typer.Argument(help="The public key file (cosign.pub, PEM).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Trust a public key in the project: images it signed may be pulled when it enforces."""
    try:
        pem = key.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {key}: {exc}") from None
    try:
        added = client(registry).add_trusted_key(project, pem)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(added)
    else:
        out.print(
            f"{project} trusts {added['fingerprint']} ({added['algorithm']})", highlight=False
        )


@keys_app.command("list")
def keys_list(
    project: ProjectArgument,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """The keys the project trusts."""
    try:
        policy = client(registry).trust_policy(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(policy["keys"])
    elif not policy["keys"]:
        out.print(f"{project} trusts no key", highlight=False)
    else:
        out.print(_keys_table(policy["keys"]))


@keys_app.command("remove")
def keys_remove(
    project: ProjectArgument,
    fingerprint: Annotated[str, typer.Argument(help="The key's fingerprint (sha256:...).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Stop trusting a key: images only it signed are refused where the project enforces."""
    try:
        client(registry).remove_trusted_key(project, fingerprint)
    except ClientError as exc:
        raise fail(str(exc)) from None
    out.print(f"{project} no longer trusts {fingerprint}", highlight=False)


@trust_app.command("enforce")
def enforce(
    project: ProjectArgument,
    on: Annotated[
        bool,
        typer.Option("--on/--off", help="Refuse pulls of images no trusted key signed."),
    ] = True,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Turn signature enforcement on (--on, the default) or off for the project."""
    try:
        policy = client(registry).set_trust_enforcement(project, on)
    except ClientError as exc:
        raise fail(str(exc)) from None
    state = "enforces" if policy["enforce"] else "does not enforce"
    out.print(
        f"{project} {state} signatures ({len(policy['keys'])} trusted key(s))", highlight=False
    )


@trust_app.command("show")
def show(
    project: ProjectArgument,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """Whether the project enforces signatures, and the keys it trusts."""
    try:
        policy = client(registry).trust_policy(project)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(policy)
        return
    state = "enforces" if policy["enforce"] else "does not enforce"
    out.print(f"{project} {state} signatures on pull", highlight=False)
    if policy["keys"]:
        out.print(_keys_table(policy["keys"]))
