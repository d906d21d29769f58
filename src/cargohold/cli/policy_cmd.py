"""`cargohold policy`: tag rules, i.e. immutable tag patterns and refusing the tag 'latest', for
a project or a repository."""

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
    fail,
    out,
    scope_of,
)
from cargohold.cli.common import client as _client
from cargohold.cli.common import print_json as _print_json

policy_app = typer.Typer(
    help="Tag rules: immutable tag patterns and refusing 'latest'.", no_args_is_help=True
)


def _print_rule(rule: dict[str, Any]) -> None:
    print(f"{rule['id']}\t{rule['description']}")


@policy_app.command("list")
def policy_list(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """List the tag rules."""
    try:
        rules = _client(registry).tag_rules()
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_json(rules)
        return
    table = Table("id", "kind", "scope", "target", "pattern", "excludes")
    for rule in rules:
        pattern = f"{rule['pattern']} ({rule['patternKind']})" if rule["pattern"] else ""
        table.add_row(
            str(rule["id"]),
            rule["kind"],
            rule["scope"],
            rule["target"],
            pattern,
            ", ".join(rule["excludes"]),
        )
    out.print(table)


@policy_app.command("add-immutable")
def policy_add_immutable(
    pattern: Annotated[str, typer.Option("--pattern", help="Tag glob (v*, release-*) or regex.")],
    project: ProjectOption = None,
    repository: RepositoryOption = None,
    regex: Annotated[bool, typer.Option("--regex", help="The patterns are regexes.")] = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Tags to leave mutable (repeatable).")
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Make matching tags immutable: no overwrite with another digest, no delete."""
    scope, target = scope_of(project, repository)
    rule = {
        "kind": "immutable",
        "scope": scope,
        "target": target,
        "pattern": pattern,
        "patternKind": "regex" if regex else "glob",
        "excludes": exclude or [],
    }
    try:
        _print_rule(_client(registry).add_tag_rule(rule))
    except ClientError as exc:
        raise fail(str(exc)) from None


@policy_app.command("deny-latest")
def policy_deny_latest(
    project: ProjectOption = None,
    repository: RepositoryOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Refuse pushes of the tag 'latest'."""
    scope, target = scope_of(project, repository)
    try:
        _print_rule(
            _client(registry).add_tag_rule(
                {"kind": "deny-latest", "scope": scope, "target": target}
            )
        )
    except ClientError as exc:
        raise fail(str(exc)) from None


@policy_app.command("remove")
def policy_remove(
    rule_id: Annotated[int, typer.Argument(help="The rule's id (see policy list).")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Remove a tag rule."""
    try:
        _client(registry).remove_tag_rule(rule_id)
    except ClientError as exc:
        raise fail(str(exc)) from None
    print(f"removed rule {rule_id}")
