"""`cargohold robots`: robot accounts for CI, over the admin API.

A robot's secret is printed alone on standard output when it is created or refreshed, this
once, so a script can keep it (`SECRET=$(cargohold robots create ...)`); the rest goes to
standard error.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY
from cargohold.cli.common import JsonOption, RegistryOption, fail, out, print_json, remote, when

robots_app = typer.Typer(
    help="Robot accounts: scoped, expiring credentials for CI.", no_args_is_help=True
)

RobotArgument = Annotated[
    str, typer.Argument(help="The robot's name (the robot$ prefix optional).")
]
ExpiryOption = Annotated[
    str | None,
    typer.Option(
        "--expires-in-days",
        help="Days until it expires, or never (system admins only); default: the server's"
        " auth_robot_expiry_days (30).",
    ),
]


def _path(name: str, suffix: str = "") -> str:
    return f"/api/v1/robots/{quote(name, safe='')}{suffix}"


def _expiry(text: str | None) -> int | str | None:
    if text is None or text == "never":
        return text
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise fail(f"--expires-in-days: a number of days (1 or more) or never, not {text!r}")
    return int(text)


def _scope(text: str) -> dict[str, Any]:
    project, colon, actions = text.rpartition(":")
    if not colon or not project or not actions:
        raise fail(f"--scope {text!r}: PROJECT:ACTION[,ACTION...], e.g. team:pull,push")
    return {"project": project, "actions": [a.strip() for a in actions.split(",") if a.strip()]}


def _scopes(robot: dict[str, Any]) -> str:
    return " ".join(f"{s['project']}:{','.join(s['actions'])}" for s in robot["scopes"]) or "-"


def _state(robot: dict[str, Any]) -> str:
    return "revoked" if robot["revoked"] else "expired" if robot["expired"] else "active"


def _print_robots(robots: list[dict[str, Any]]) -> None:
    table = Table("name", "scopes", "state", "expires", "created by", "description")
    for robot in robots:
        table.add_row(
            robot["name"],
            _scopes(robot),
            _state(robot),
            when(robot["expiresAt"]),
            robot["createdBy"],
            robot["description"],
        )
    out.print(table)


def _print_secret(done: str, answer: dict[str, Any]) -> None:
    robot = answer["robot"]
    typer.echo(
        f"{done} {robot['name']} ({_scopes(robot)}), expires {when(robot['expiresAt'])}", err=True
    )
    print(answer["secret"])


@robots_app.command("create")
def robots_create(
    name: RobotArgument,
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="PROJECT:ACTION[,ACTION...] (pull, push, delete, ...), repeatable; * for every"
            " project (system admins).",
        ),
    ],
    expires_in_days: ExpiryOption = None,
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Create a robot with no more than you may do yourself (a project admin: its projects);
    its secret is printed alone on standard output, this once."""
    body = {
        "name": name,
        "scopes": [_scope(s) for s in scope],
        "expiresInDays": _expiry(expires_in_days),
        "description": description,
    }
    _print_secret("created", remote(registry, "POST", "/api/v1/robots", body))


@robots_app.command("list")
def robots_list(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """List the robots you may manage."""
    robots = remote(registry, "GET", "/api/v1/robots")["robots"]
    if as_json:
        print_json(robots)
    else:
        _print_robots(robots)


@robots_app.command("show")
def robots_show(
    name: RobotArgument, registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False
) -> None:
    """Show a robot (never its secret)."""
    robot = remote(registry, "GET", _path(name))
    if as_json:
        print_json(robot)
    else:
        _print_robots([robot])


@robots_app.command("refresh")
def robots_refresh(
    name: RobotArgument,
    expires_in_days: ExpiryOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Give a robot a new secret (printed alone on standard output) and a new expiry; the old
    secret, and the refresh tokens it obtained, stop working at once."""
    body = {"expiresInDays": _expiry(expires_in_days)}
    _print_secret("refreshed", remote(registry, "POST", _path(name, "/refresh"), body))


@robots_app.command("revoke")
def robots_revoke(name: RobotArgument, registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """Revoke a robot for good: kept for the record, never accepted again."""
    robot = remote(registry, "POST", _path(name, "/revoke"))
    print(f"revoked {robot['name']}")


@robots_app.command("delete")
def robots_delete(name: RobotArgument, registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """Delete a robot (revoked or not)."""
    remote(registry, "DELETE", _path(name))
    print(f"deleted {name}")
