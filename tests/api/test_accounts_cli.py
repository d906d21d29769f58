"""`cargohold users`, `projects`, `robots` and `tokens` against a real server: secrets alone on
standard output (for scripts), one-line errors with exit status 1."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import httpx

from tests.api.accounts_world import PASSWORD, World, unique, world_fixture  # noqa: F401
from tests.support.server import AUTH_FILE, CARGOHOLD


def _cli(
    world: World, *args: str, stdin: str = "", auth_file: Path = AUTH_FILE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, *args, "--registry", world.server.url],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", "REGISTRY_AUTH_FILE": str(auth_file)},
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def _signed_in_as(world: World, tmp_path: Path, name: str, secret: str) -> Path:
    """An auth file (as podman keeps it) with the user's entry for the server."""
    entry = base64.b64encode(f"{name}:{secret}".encode()).decode()
    path = tmp_path / f"{name}-auth.json"
    path.write_text(json.dumps({"auths": {world.server.host: {"auth": entry}}}))
    return path


def test_accounts_from_the_command_line(world: World, tmp_path: Path) -> None:
    name, generated_for = unique("cli"), unique("cli")
    # Created with a password from stdin: nothing on stdout.
    assert _ok(_cli(world, "users", "create", name, "--password-stdin", stdin=PASSWORD)) == ""
    # Without one: the generated password, alone on stdout.
    generated = _ok(_cli(world, "users", "create", generated_for)).strip()
    assert "\n" not in generated and len(generated) >= 16
    assert httpx.get(f"{world.server.url}/v2/", auth=(generated_for, generated)).status_code == 200
    _one_line_error(
        _cli(world, "users", "create", "Bad Name", "--password-stdin", stdin=PASSWORD),
        "ACCESS_INVALID",
    )
    listed = json.loads(_ok(_cli(world, "users", "list", "--json")))
    assert {name, generated_for} <= {u["name"] for u in listed}

    project, other = unique("cli"), unique("cli")
    for created in (project, other):
        _ok(_cli(world, "projects", "create", created))
    _ok(_cli(world, "projects", "members", "add", project, name, "developer"))
    _ok(_cli(world, "projects", "members", "set", project, name, "project-admin"))
    members = json.loads(_ok(_cli(world, "projects", "members", "list", project, "--json")))
    assert members == [{"project": project, "user": name, "role": "project-admin"}]
    _one_line_error(
        _cli(world, "projects", "members", "add", project, name, "owner"), "ACCESS_INVALID"
    )

    as_user = _signed_in_as(world, tmp_path, name, PASSWORD)
    token = _ok(_cli(world, "tokens", "create", "ci", auth_file=as_user)).strip()
    assert token.startswith("chpat_") and "\n" not in token
    as_token = _signed_in_as(world, tmp_path, name, token)
    tokens = _ok(_cli(world, "tokens", "list", "--json", auth_file=as_token))
    assert [t["name"] for t in json.loads(tokens)] == ["ci"] and token not in tokens
    me = _ok(_cli(world, "users", "me", auth_file=as_token))
    assert name in me and project in me and "project-admin" in me

    secret = _ok(
        _cli(
            world,
            "robots",
            "create",
            "builder-" + name,
            "--scope",
            f"{project}:pull,push",
            "--expires-in-days",
            "7",
            auth_file=as_token,
        )
    ).strip()
    robot = f"robot$builder-{name}"
    assert httpx.get(f"{world.server.url}/v2/", auth=(robot, secret)).status_code == 200
    _one_line_error(
        _cli(world, "robots", "create", "x" + name, "--scope", f"{other}:pull", auth_file=as_token),
        "DENIED",
    )
    _one_line_error(
        _cli(
            world,
            "robots",
            "create",
            "y" + name,
            "--scope",
            f"{project}:pull",
            "--expires-in-days",
            "never",
            auth_file=as_token,
        ),
        "DENIED",
        "never expires",
    )
    _one_line_error(_cli(world, "robots", "create", "z", "--scope", "nocolon"), "--scope")
    new_secret = _ok(_cli(world, "robots", "refresh", robot, auth_file=as_token)).strip()
    assert new_secret != secret
    assert httpx.get(f"{world.server.url}/v2/", auth=(robot, secret)).status_code == 401
    robots = json.loads(_ok(_cli(world, "robots", "list", "--json", auth_file=as_token)))
    assert [r["name"] for r in robots] == [robot]
    _ok(_cli(world, "robots", "revoke", robot, auth_file=as_token))
    assert httpx.get(f"{world.server.url}/v2/", auth=(robot, new_secret)).status_code == 401
    _ok(_cli(world, "robots", "delete", robot, auth_file=as_token))

    # Your own password: the old one, then the new one, on stdin.
    changed = _cli(
        world,
        "users",
        "password",
        name,
        "--password-stdin",
        stdin=f"{PASSWORD}\nthe new passphrase\n",
        auth_file=as_token,
    )
    _ok(changed)
    assert (
        httpx.get(f"{world.server.url}/v2/", auth=(name, "the new passphrase")).status_code == 200
    )

    _ok(_cli(world, "projects", "update", project, "--public"))
    shown = json.loads(_ok(_cli(world, "projects", "show", project, "--json")))
    assert shown["public"] is True
    _ok(_cli(world, "tokens", "delete", "ci", "--user", name))
    assert httpx.get(f"{world.server.url}/v2/", auth=(name, token)).status_code == 401
    _ok(_cli(world, "users", "update", generated_for, "--disable"))
    _ok(_cli(world, "users", "delete", generated_for))
    _one_line_error(_cli(world, "users", "show", generated_for), "ACCESS_UNKNOWN")
    _ok(_cli(world, "projects", "delete", other))
