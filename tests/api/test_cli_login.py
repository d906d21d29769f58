"""`cargohold login` and `logout` against a real server, and the commands that follow: a login
saves a refresh token (docker's `identitytoken`) where `docker login` does (docker's
config.json, or the credential helper it names), never the password; later commands, docker
and skopeo sign in with it, and cargohold signs in with what `docker login` saved; logout
removes and revokes it; a wrong password, a revoked refresh token or missing rights are
one-line errors with exit status 1. The docker CLI runs without a daemon: `docker login`,
`logout` and `manifest inspect` then work on their own, as docker's client does them."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cargohold.policy.permissions import Role
from tests.support.accounts import OPERATOR, Accounts
from tests.support.credential_helpers import store_helper
from tests.support.oci import push_image
from tests.support.server import CARGOHOLD, CargoholdServer

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CargoholdServer]:
    """A server of this module's; failed logins do not slow the next ones down, so one test's
    wrong password does not hold back another's login from the same address."""
    data = tmp_path_factory.mktemp("cli-login") / "data"
    slowdown = {"CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0"}
    started = CargoholdServer(data, extra_env=slowdown).start()
    with started.client() as admin:
        push_image(admin, "team/app", "v1")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def accounts(server: CargoholdServer) -> Iterator[Accounts]:
    made = Accounts(server)
    made.project("team")
    yield made
    made.close()


@pytest.fixture
def member(accounts: Accounts, request: pytest.FixtureRequest) -> str:
    """A user of the test's own, maintainer of `team`, with the password PASSWORD."""
    name = "".join(c for c in request.node.name.lower() if c.isalnum())[-40:]
    accounts.user(name, PASSWORD)
    accounts.member("team", name, Role.MAINTAINER)
    return name


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A user's environment with nothing signed in: a home and a runtime directory of the
    test's own (the test session's REGISTRY_AUTH_FILE left out), `bin` first on PATH for
    credential helpers, and no docker daemon (the docker CLI then works on its own)."""
    left_out = ("REGISTRY_AUTH", "CARGOHOLD", "DOCKER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(left_out)}
    for name in ("home", "run", "bin"):
        (tmp_path / name).mkdir()
    return {
        **env,
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "PATH": f"{tmp_path / 'bin'}:{env['PATH']}",
        "DOCKER_HOST": f"unix://{tmp_path / 'no-docker-daemon.sock'}",
    }


def _auth_file(env: dict[str, str]) -> Path:
    """Where `cargohold login` and `docker login` write: docker's config.json."""
    return Path(env["HOME"]) / ".docker" / "config.json"


def _runtime_file(env: dict[str, str]) -> Path:
    """podman's auth file, read first."""
    return Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"


def _run(
    env: dict[str, str], *args: str, stdin: str = "", program: str = CARGOHOLD
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [program, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "COLUMNS": "200"},
    )


def _login(
    server: CargoholdServer, env: dict[str, str], name: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    return _run(env, "login", server.host, "-u", name, "--password-stdin", stdin=f"{password}\n")


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def _refresh(server: CargoholdServer, refresh_token: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "service": "cargohold",
        "client_id": "test",
    }
    return httpx.post(f"{server.url}/auth/token", data=form, timeout=30)


def test_login_saves_a_refresh_token_that_later_commands_use(
    server: CargoholdServer, member: str, home: dict[str, str]
) -> None:
    done = _login(server, home, member)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Login Succeeded!\n"

    path = _auth_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entry = json.loads(path.read_text())["auths"][server.host]
    assert entry["auth"] == base64.b64encode(f"{member}:".encode()).decode()
    assert entry["identitytoken"].startswith("chrt_")
    assert PASSWORD not in path.read_text()
    assert f"a refresh token is saved in {path}" in done.stderr
    assert not _runtime_file(home).exists()

    tags = _run(home, "tags", "team/app", "--registry", server.url, "--json")
    assert tags.returncode == 0, tags.stderr
    assert [row["tag"] for row in json.loads(tags.stdout)] == ["v1"]
    repos = _run(home, "repos", "--registry", server.url, "--json")
    assert repos.returncode == 0, repos.stderr
    assert [row["name"] for row in json.loads(repos.stdout)] == ["team/app"]
    # podman's tools read the same file, and the same refresh token.
    listed = _run(
        home,
        "list-tags",
        "--tls-verify=false",
        f"docker://{server.host}/team/app",
        program="skopeo",
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["Tags"] == ["v1"]
    # So does docker: its client signs in with the refresh token for a private image.
    _docker_reads_the_login(server, home)


def test_a_saved_sign_in_runs_the_admin_commands_its_account_may(
    server: CargoholdServer, accounts: Accounts, home: dict[str, str]
) -> None:
    """The refresh token saved by a login stands for its account on the admin API too: a
    system admin signed in once runs the system commands, and `--save-password` still saves
    the password itself for whoever wants that."""
    accounts.user("operator", PASSWORD, system_admin=True)
    assert _login(server, home, "operator").returncode == 0
    info = _run(home, "info", "--registry", server.url)
    assert info.returncode == 0, info.stderr
    assert f"at {server.url}" in info.stdout
    audited = _run(home, "audit", "--action", "login", "--registry", server.url)
    assert audited.returncode == 0, audited.stderr

    saved = _run(
        home,
        "login",
        "--save-password",
        server.host,
        "-u",
        "operator",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert saved.returncode == 0, saved.stderr
    assert "Your password will be stored unencrypted" in saved.stderr
    entry = json.loads(_auth_file(home).read_text())["auths"][server.host]
    assert entry == {"auth": base64.b64encode(f"operator:{PASSWORD}".encode()).decode()}
    assert _run(home, "info", "--registry", server.url).returncode == 0


def test_logout_removes_the_login_and_revokes_its_refresh_token(
    server: CargoholdServer, member: str, home: dict[str, str]
) -> None:
    path = _auth_file(home)
    path.parent.mkdir()
    kept = {"auths": {"elsewhere:1": {"auth": "eDp5"}}, "psFormat": "{{.ID}}"}
    path.write_text(json.dumps(kept))
    assert _login(server, home, member).returncode == 0
    refresh_token = json.loads(path.read_text())["auths"][server.host]["identitytoken"]
    assert _refresh(server, refresh_token).status_code == 200

    done = _run(home, "logout", server.host)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Removed login credentials for {server.host}\n"
    assert json.loads(path.read_text()) == kept
    assert _refresh(server, refresh_token).json()["error"] == "invalid_grant"

    hint = f"run `cargohold login {server.host}`"
    _one_line_error(_run(home, "tags", "team/app", "--registry", server.url), "not signed in", hint)
    _one_line_error(_run(home, "logout", server.host), f"not logged in to {server.host}")


def test_a_wrong_password_fails_with_one_line_and_saves_nothing(
    server: CargoholdServer, member: str, home: dict[str, str]
) -> None:
    done = _login(server, home, member, password="not the password")
    _one_line_error(done, f"login to {server.host} failed", "not accepted")
    assert "not the password" not in done.stderr
    assert not _auth_file(home).exists()


def test_a_revoked_refresh_token_asks_to_log_in_again(
    server: CargoholdServer, accounts: Accounts, member: str, home: dict[str, str]
) -> None:
    assert _login(server, home, member).returncode == 0
    # A password reset ends the user's refresh tokens.
    accounts.access.users.reset_password(member, "another password", OPERATOR)
    done = _run(home, "tags", "team/app", "--registry", server.url)
    _one_line_error(done, "expired or was revoked", f"run `cargohold login {server.host}`")


def test_a_password_on_the_command_line_needs_force(
    server: CargoholdServer, member: str, home: dict[str, str]
) -> None:
    refused = _run(home, "login", server.host, "-u", member, "-p", PASSWORD)
    _one_line_error(refused, "--password-stdin")
    assert not _auth_file(home).exists()
    forced = _run(home, "login", server.host, "-u", member, "-p", PASSWORD, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "WARNING! Using --password via the CLI is insecure" in forced.stderr


def test_credentials_from_the_environment_and_a_docker_credential_helper(
    server: CargoholdServer, accounts: Accounts, member: str, home: dict[str, str]
) -> None:
    token = accounts.token(member, "ci")
    ci = {**home, "CARGOHOLD_USERNAME": member, "CARGOHOLD_PASSWORD": token.secret}
    assert _run(ci, "tags", "team/app", "--registry", server.url).returncode == 0
    wrong = {**ci, "CARGOHOLD_PASSWORD": "chpat_wrong"}
    _one_line_error(
        _run(wrong, "tags", "team/app", "--registry", server.url),
        "$CARGOHOLD_USERNAME and $CARGOHOLD_PASSWORD were not accepted",
    )

    # docker's config naming a credential helper, which answers with the token.
    bin_dir = Path(home["HOME"]) / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    answer = json.dumps({"ServerURL": server.host, "Username": member, "Secret": token.secret})
    helper.write_text(f"#!/bin/sh\ncat > /dev/null\necho '{answer}'\n")
    helper.chmod(0o755)
    docker = Path(home["HOME"]) / ".docker" / "config.json"
    docker.parent.mkdir()
    docker.write_text(json.dumps({"credsStore": "test"}))
    helped = {**home, "PATH": f"{bin_dir}:{home['PATH']}"}
    assert _run(helped, "tags", "team/app", "--registry", server.url).returncode == 0
    _one_line_error(
        _run(home, "tags", "team/app", "--registry", server.url),
        "docker-credential-test not found on PATH",
    )


def test_an_account_without_the_right_is_told_so(
    server: CargoholdServer, accounts: Accounts, home: dict[str, str]
) -> None:
    accounts.user("guest", PASSWORD)
    accounts.member("team", "guest", Role.GUEST)
    assert _login(server, home, "guest").returncode == 0
    done = _run(home, "rm", "team/app:v1", "--yes", "--registry", server.url)
    _one_line_error(done, "DENIED", "the account 'guest' may not do this")


# -- docker's config.json and credential helpers, namespaces, --authfile --------------------


def _docker(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is missing: apt-get install docker.io")
    return _run(env, *args, stdin=stdin, program=docker)


def _docker_reads_the_login(server: CargoholdServer, env: dict[str, str]) -> None:
    """docker's client pulls the private manifest with the saved login (no daemon needed)."""
    image = f"{server.host}/team/app:v1"
    inspected = _docker(env, "manifest", "inspect", "--insecure", image)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["schemaVersion"] == 2


def _basic(name: str, secret: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{name}:{secret}".encode()).decode()}


def test_a_login_through_dockers_credential_helper_is_dockers_too(
    server: CargoholdServer, member: str, home: dict[str, str]
) -> None:
    kept = store_helper(home, "keys")
    config = _auth_file(home)
    config.parent.mkdir()
    config.write_text(json.dumps({"credsStore": "keys", "psFormat": "{{.ID}}"}))

    done = _login(server, home, member)
    assert done.returncode == 0, done.stderr
    assert "a refresh token is saved in docker-credential-keys" in done.stderr
    # As docker stores a refresh token: the user `<token>` in the helper, `{}` in the file.
    stored = json.loads(kept.read_text())[server.host]
    assert stored["ServerURL"] == server.host and stored["Username"] == "<token>"
    assert stored["Secret"].startswith("chrt_")
    assert json.loads(config.read_text()) == {
        "credsStore": "keys",
        "psFormat": "{{.ID}}",
        "auths": {server.host: {}},
    }
    assert PASSWORD not in config.read_text() + kept.read_text()
    _docker_reads_the_login(server, home)
    # cargohold reads it back the same way (the helper keeps no name: the token says who).
    me = _run(home, "users", "me", "--json", "--registry", server.url)
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["name"] == member

    # `docker logout` erases it through the helper, and cargohold is signed out.
    logged_out = _docker(home, "logout", server.host)
    assert logged_out.returncode == 0, logged_out.stderr
    assert server.host not in json.loads(kept.read_text())
    assert server.host not in json.loads(config.read_text()).get("auths", {})
    _one_line_error(_run(home, "tags", "team/app", "--registry", server.url), "not signed in")

    # `cargohold logout` erases it through the helper too, and revokes the refresh token.
    assert _login(server, home, member).returncode == 0
    refresh_token = json.loads(kept.read_text())[server.host]["Secret"]
    done = _run(home, "logout", server.host)
    assert done.returncode == 0, done.stderr
    assert json.loads(kept.read_text()) == {}
    assert _refresh(server, refresh_token).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("helper", [None, "keys"])
def test_a_docker_login_is_used_by_cargohold(
    server: CargoholdServer, member: str, home: dict[str, str], helper: str | None
) -> None:
    config = _auth_file(home)
    if helper:
        kept = store_helper(home, helper)
        config.parent.mkdir()
        config.write_text(json.dumps({"credsStore": helper}))
    done = _docker(home, "login", server.host, "-u", member, "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 0, done.stderr
    if helper:
        assert json.loads(kept.read_text())[server.host]["Username"] == "<token>"
    else:
        assert json.loads(config.read_text())["auths"][server.host]["identitytoken"]

    tags = _run(home, "tags", "team/app", "--registry", server.url, "--json")
    assert tags.returncode == 0, tags.stderr
    assert [row["tag"] for row in json.loads(tags.stdout)] == ["v1"]
    me = _run(home, "users", "me", "--json", "--registry", server.url)
    assert json.loads(me.stdout)["name"] == member


def test_a_namespace_entry_wins_for_a_command_about_its_repository(
    server: CargoholdServer, accounts: Accounts, member: str, home: dict[str, str]
) -> None:
    """podman's entries for a namespace or repository (`HOST/team`, `HOST/team/app`): the
    longest that holds the command's repository wins over the server's entry; a command about
    no repository uses the server's."""
    accounts.user("nsoutsider", PASSWORD)
    host = server.host
    runtime = _runtime_file(home)
    runtime.parent.mkdir()
    auths = {host: _basic("nsoutsider", PASSWORD), f"{host}/team": _basic(member, "wrong")}
    runtime.write_text(
        json.dumps({"auths": {**auths, f"{host}/team/app": _basic(member, PASSWORD)}})
    )

    tags = _run(home, "tags", "team/app", "--registry", server.url, "--json")
    assert tags.returncode == 0, tags.stderr
    me = _run(home, "users", "me", "--json", "--registry", server.url)
    assert json.loads(me.stdout)["name"] == "nsoutsider"
    # An image argument names its repository too.
    removed = _run(home, "rm", "team/app:nosuchtag", "--yes", "--registry", server.url)
    _one_line_error(removed, "team/app:nosuchtag: no such image")
    # Without the repository's entry, `HOST/team` (a wrong password here) is the one used;
    # without either, the server's.
    runtime.write_text(json.dumps({"auths": auths}))
    _one_line_error(
        _run(home, "tags", "team/app", "--registry", server.url),
        f"the credentials from {runtime} were not accepted",
    )
    runtime.write_text(json.dumps({"auths": {host: auths[host]}}))
    removed = _run(home, "rm", "team/app:nosuchtag", "--yes", "--registry", server.url)
    _one_line_error(removed, "DENIED: the account 'nsoutsider' may not do this")

    # A login in docker's file says that podman's file, read first, still has the server.
    done = _login(server, home, member)
    assert done.returncode == 0, done.stderr
    assert f"warning: {runtime} has credentials for {host} too, and is read first" in done.stderr


def test_the_global_authfile_option_names_the_file_every_command_uses(
    server: CargoholdServer, member: str, home: dict[str, str], tmp_path: Path
) -> None:
    chosen = tmp_path / "chosen" / "auth.json"
    tags = ("tags", "team/app", "--registry", server.url)
    done = _run(
        home,
        "--authfile",
        str(chosen),
        "login",
        server.host,
        "-u",
        member,
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(chosen.read_text())["auths"][server.host]["identitytoken"]
    assert not _auth_file(home).exists()
    assert _run(home, "--authfile", str(chosen), *tags).returncode == 0
    _one_line_error(_run(home, *tags), "not signed in")
    # $REGISTRY_AUTH_FILE names it as well; the option wins over it.
    with_variable = {**home, "REGISTRY_AUTH_FILE": str(chosen)}
    assert _run(with_variable, *tags).returncode == 0
    missing = str(tmp_path / "missing.json")
    _one_line_error(_run(with_variable, "--authfile", missing, *tags), "not signed in")

    done = _run(home, "--authfile", str(chosen), "logout", server.host)
    assert done.returncode == 0, done.stderr
    assert json.loads(chosen.read_text()) == {"auths": {}}
