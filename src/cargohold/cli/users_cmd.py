"""`cargohold users` and `cargohold tokens`: users (system admins manage them; everyone reads
and changes their own) and personal access tokens, over the admin API.

A password or token the server made is printed alone on standard output, for scripts; what
goes with it goes to standard error.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY
from cargohold.cli.common import (
    JsonOption,
    RegistryOption,
    fail,
    line_from_stdin,
    out,
    print_json,
    remote,
    when,
)

users_app = typer.Typer(help="Users: who may sign in, and as what.", no_args_is_help=True)
tokens_app = typer.Typer(
    help="Personal access tokens: stand-ins for your password (CI, docker login).",
    no_args_is_help=True,
)

UserArgument = Annotated[str, typer.Argument(help="The user's name.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def user_path(name: str, suffix: str = "") -> str:
    return f"/api/v1/users/{quote(name, safe='')}{suffix}"


def _flags(user: dict[str, Any]) -> str:
    flags = (("system admin", "systemAdmin"), ("disabled", "disabled"))
    return ", ".join(label for label, key in flags if user[key]) or "-"


def _print_users(users: list[dict[str, Any]]) -> None:
    table = Table("name", "flags", "created", "updated")
    for user in users:
        table.add_row(user["name"], _flags(user), when(user["createdAt"]), when(user["updatedAt"]))
    out.print(table)


@users_app.command("list")
def users_list(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """List every user (system admins)."""
    users = remote(registry, "GET", "/api/v1/users")["users"]
    if as_json:
        print_json(users)
    else:
        _print_users(users)


@users_app.command("create")
def users_create(
    name: UserArgument,
    system_admin: Annotated[
        bool, typer.Option("--system-admin", help="Make the user a system admin.")
    ] = False,
    password_stdin: PasswordStdin = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Create a user (system admins). Without --password-stdin the server generates a
    password, printed alone on standard output, this once."""
    body: dict[str, Any] = {"name": name, "systemAdmin": system_admin}
    if password_stdin:
        body["password"] = line_from_stdin("--password-stdin")
    created = remote(registry, "POST", "/api/v1/users", body)
    typer.echo(f"created user {name}" + (" (system admin)" if system_admin else ""), err=True)
    if created["password"] is not None:
        print(created["password"])


@users_app.command("show")
def users_show(
    name: UserArgument, registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False
) -> None:
    """Show a user (yourself, or anyone as a system admin)."""
    user = remote(registry, "GET", user_path(name))
    if as_json:
        print_json(user)
    else:
        _print_users([user])


@users_app.command("me")
def users_me(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """Who you are signed in as, and your role in each project."""
    me = remote(registry, "GET", "/api/v1/users/me")
    if as_json:
        print_json(me)
        return
    admin = ", system admin" if me["systemAdmin"] else ""
    print(f"{me['name'] or 'anonymous'} ({me['kind']}{admin}, signed in with {me['method']})")
    if me["projects"]:
        table = Table("project", "role", "actions")
        for project in me["projects"]:
            table.add_row(project["project"], project["role"] or "-", ",".join(project["actions"]))
        out.print(table)


@users_app.command("update")
def users_update(
    name: UserArgument,
    system_admin: Annotated[
        bool | None,
        typer.Option("--system-admin/--no-system-admin", help="Give or take the flag."),
    ] = None,
    disabled: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="Stop (or allow again) every sign-in."),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Change a user's system-admin or disabled flag (system admins; not your own)."""
    if system_admin is None and disabled is None:
        raise fail("give --system-admin, --no-system-admin, --disable or --enable")
    body = {
        k: v for k, v in (("systemAdmin", system_admin), ("disabled", disabled)) if v is not None
    }
    user = remote(registry, "PATCH", user_path(name), body)
    print(f"{user['name']}: {_flags(user)}")


@users_app.command("delete")
def users_delete(name: UserArgument, registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """Delete a user with its memberships and tokens (system admins)."""
    remote(registry, "DELETE", user_path(name))
    print(f"deleted user {name}")


@users_app.command("password")
def users_password(
    name: UserArgument,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read from standard input: for your own password the old one on the first"
            " line and the new one on the second; for another user's (a system admin) the new"
            " one.",
        ),
    ] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Change your own password (asks for the old one), or set another user's as a system
    admin. The user's refresh tokens end (docker logins must sign in again)."""
    me = remote(registry, "GET", "/api/v1/users/me")
    own = me["kind"] == "user" and me["name"] == name
    body: dict[str, Any] = {}
    if password_stdin:
        if own:
            body["oldPassword"] = line_from_stdin("--password-stdin")
        body["password"] = line_from_stdin("--password-stdin")
    else:
        if own:
            body["oldPassword"] = typer.prompt("Old password", hide_input=True)
        body["password"] = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    remote(registry, "PUT", user_path(name, "/password"), body)
    print(f"changed the password of {name}")


# -- personal access tokens -------------------------------------------------------------------

OwnerOption = Annotated[
    str | None,
    typer.Option("--user", help="Whose tokens (system admins); default: yours."),
]


def _owner(registry: str, user: str | None) -> str:
    if user:
        return user
    me = remote(registry, "GET", "/api/v1/users/me")
    if me["kind"] != "user":
        raise fail(f"signed in as a {me['kind']}: personal access tokens are users'")
    return str(me["name"])


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="A name to tell the token by (e.g. laptop, ci).")],
    expires_in_days: Annotated[
        int | None,
        typer.Option("--expires-in-days", min=1, help="Days until it expires; default: never."),
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Create a personal access token of your own; the token is printed alone on standard
    output, this once. Sign in with your name and it."""
    owner = _owner(registry, None)
    body: dict[str, Any] = {"name": name, "expiresInDays": expires_in_days}
    created = remote(registry, "POST", user_path(owner, "/tokens"), body)
    token = created["token"]
    typer.echo(f"created token {name} of {owner}, expires {when(token['expiresAt'])}", err=True)
    print(created["secret"])


@tokens_app.command("list")
def tokens_list(
    user: OwnerOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """List your personal access tokens (never the tokens themselves)."""
    owner = _owner(registry, user)
    tokens = remote(registry, "GET", user_path(owner, "/tokens"))["tokens"]
    if as_json:
        print_json(tokens)
        return
    table = Table("name", "owner", "created", "expires", "last used")
    for token in tokens:
        expires = when(token["expiresAt"]) + (" (expired)" if token["expired"] else "")
        last = when(token["lastUsedAt"]) if token["lastUsedAt"] else "-"
        table.add_row(token["name"], token["owner"], when(token["createdAt"]), expires, last)
    out.print(table)


@tokens_app.command("delete")
def tokens_delete(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    user: OwnerOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Delete a personal access token: it, and what it obtained, stop working at once."""
    owner = _owner(registry, user)
    remote(registry, "DELETE", user_path(owner, f"/tokens/{quote(name, safe='')}"))
    print(f"deleted token {name} of {owner}")
