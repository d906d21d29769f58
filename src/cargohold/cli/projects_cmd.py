"""`cargohold projects`: projects (system admins create them), their public flag, and
`cargohold projects members`: who has which role in one (its project admins)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from cargohold.cli.client import DEFAULT_REGISTRY
from cargohold.cli.common import JsonOption, RegistryOption, out, print_json, remote, when

projects_app = typer.Typer(
    help="Projects: the first path component of repository names, public or private.",
    no_args_is_help=True,
)
members_app = typer.Typer(
    help="A project's members and their roles: project-admin, maintainer, developer, guest.",
    no_args_is_help=True,
)
projects_app.add_typer(members_app, name="members")

ProjectArgument = Annotated[str, typer.Argument(help="The project (e.g. team for team/app).")]
UserArgument = Annotated[str, typer.Argument(help="The user's name.")]
RoleArgument = Annotated[str, typer.Argument(help="project-admin, maintainer, developer or guest.")]


def _path(project: str, suffix: str = "") -> str:
    return f"/api/v1/projects/{quote(project, safe='')}{suffix}"


def _print_projects(projects: list[dict[str, Any]]) -> None:
    table = Table("name", "visibility", "created", "by")
    for project in projects:
        table.add_row(
            project["name"],
            "public" if project["public"] else "private",
            when(project["createdAt"]),
            project["createdBy"],
        )
    out.print(table)


@projects_app.command("list")
def projects_list(registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False) -> None:
    """List the projects you may pull from (every project for a system admin)."""
    projects = remote(registry, "GET", "/api/v1/projects")["projects"]
    if as_json:
        print_json(projects)
    else:
        _print_projects(projects)


@projects_app.command("create")
def projects_create(
    name: ProjectArgument,
    public: Annotated[
        bool, typer.Option("--public", help="Anyone, signed in or not, may pull from it.")
    ] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Create a project (system admins)."""
    project = remote(registry, "POST", "/api/v1/projects", {"name": name, "public": public})
    print(f"created {'public' if project['public'] else 'private'} project {project['name']}")


@projects_app.command("show")
def projects_show(
    name: ProjectArgument, registry: RegistryOption = DEFAULT_REGISTRY, as_json: JsonOption = False
) -> None:
    """Show a project."""
    project = remote(registry, "GET", _path(name))
    if as_json:
        print_json(project)
    else:
        _print_projects([project])


@projects_app.command("update")
def projects_update(
    name: ProjectArgument,
    public: Annotated[
        bool, typer.Option("--public/--private", help="Make it public, or private again.")
    ],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Make a project public or private (its project admins)."""
    project = remote(registry, "PATCH", _path(name), {"public": public})
    print(f"{project['name']} is {'public' if project['public'] else 'private'}")


@projects_app.command("delete")
def projects_delete(name: ProjectArgument, registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """Delete an empty project with its memberships (its project admins). A project whose
    repositories still hold images is refused: delete them first (cargohold rm)."""
    remote(registry, "DELETE", _path(name))
    print(f"deleted project {name}")


@members_app.command("list")
def members_list(
    project: ProjectArgument,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """List a project's members and their roles."""
    members = remote(registry, "GET", _path(project, "/members"))["members"]
    if as_json:
        print_json(members)
        return
    table = Table("user", "role")
    for member in members:
        table.add_row(member["user"], member["role"])
    out.print(table)


@members_app.command("add")
def members_add(
    project: ProjectArgument,
    user: UserArgument,
    role: RoleArgument,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Give a user a role in the project."""
    member = remote(registry, "POST", _path(project, "/members"), {"user": user, "role": role})
    print(f"{member['user']} is {member['role']} in {member['project']}")


@members_app.command("set")
def members_set(
    project: ProjectArgument,
    user: UserArgument,
    role: RoleArgument,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Change a member's role."""
    path = _path(project, f"/members/{quote(user, safe='')}")
    member = remote(registry, "PUT", path, {"role": role})
    print(f"{member['user']} is {member['role']} in {member['project']}")


@members_app.command("remove")
def members_remove(
    project: ProjectArgument, user: UserArgument, registry: RegistryOption = DEFAULT_REGISTRY
) -> None:
    """Remove a member from the project."""
    remote(registry, "DELETE", _path(project, f"/members/{quote(user, safe='')}"))
    print(f"removed {user} from {project}")
