"""`cargohold`: serve the registry, or administer one through its HTTP API.

The commands live in the `*_cmd` modules; this one builds the app from them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cargohold import __version__
from cargohold.cli.admin_cmd import admin_app
from cargohold.cli.analyze_cmd import analyze
from cargohold.cli.audit_cmd import audit
from cargohold.cli.credentials import use_auth_file
from cargohold.cli.fsck_cmd import fsck
from cargohold.cli.holds_cmd import hold_app
from cargohold.cli.jobs_cmd import jobs_app
from cargohold.cli.lifecycle_cmd import lifecycle_app
from cargohold.cli.lint_cmd import lint
from cargohold.cli.login_cmd import login, logout
from cargohold.cli.migrate_metadata_cmd import migrate_metadata
from cargohold.cli.migrate_storage_cmd import migrate_storage
from cargohold.cli.policy_cmd import policy_app
from cargohold.cli.projects_cmd import projects_app
from cargohold.cli.quota_cmd import quota_app
from cargohold.cli.repos_cmd import info, repos, tags
from cargohold.cli.rm_cmd import rm
from cargohold.cli.robots_cmd import robots_app
from cargohold.cli.scan_cmd import scan
from cargohold.cli.scanpolicy_cmd import allowlist_app, overdue, scan_policy_app
from cargohold.cli.serve_cmd import serve, worker
from cargohold.cli.storage_cmd import gc, storage
from cargohold.cli.tag_cmd import tag
from cargohold.cli.trust_cmd import generate_key_pair, sign, verify
from cargohold.cli.trust_keys_cmd import trust_app
from cargohold.cli.users_cmd import tokens_app, users_app
from cargohold.cli.vulndb_cmd import vulndb_app
from cargohold.cli.where_cmd import where

app = typer.Typer(
    help="cargohold: a self-hosted container registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"cargohold {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    authfile: Annotated[
        Path | None,
        typer.Option(
            "--authfile",
            help="The auth file read first for credentials, and written by login and logout, "
            "in the place of $REGISTRY_AUTH_FILE.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """cargohold: a self-hosted container registry."""
    use_auth_file(authfile)


# `cargohold --help` lists the commands in the order they are registered here, then the groups
# in theirs (typer keeps both orders): keep it when adding one.
app.command("serve")(serve)
app.command("worker")(worker)
app.command("login")(login)
app.command("logout")(logout)
app.command("info")(info)
app.command("repos")(repos)
app.command("tags")(tags)
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(policy_app, name="policy")
app.add_typer(hold_app, name="hold")
app.command("rm")(rm)
app.add_typer(quota_app, name="quota")
app.add_typer(jobs_app, name="jobs")
app.add_typer(scan_policy_app, name="scan-policy")
app.add_typer(allowlist_app, name="allowlist")
app.command("overdue")(overdue)
app.add_typer(vulndb_app, name="vulndb")
app.command("storage")(storage)
app.command("gc")(gc)
app.command("audit")(audit)
app.command("scan")(scan)
app.command("lint")(lint)
app.command("analyze")(analyze)
app.command("tag")(tag)
app.command("generate-key-pair")(generate_key_pair)
app.command("sign")(sign)
app.command("verify")(verify)
app.add_typer(trust_app, name="trust")
app.command("where")(where)
app.command("fsck")(fsck)
app.command("migrate-storage")(migrate_storage)
app.command("migrate-metadata")(migrate_metadata)
app.add_typer(users_app, name="users")
app.add_typer(projects_app, name="projects")
app.add_typer(robots_app, name="robots")
app.add_typer(tokens_app, name="tokens")
app.add_typer(admin_app, name="admin")

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    app()
