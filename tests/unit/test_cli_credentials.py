"""Where the CLI finds credentials for a server: the environment, then podman's and docker's
auth files in the order podman and skopeo read them (containers-auth.json(5)), with docker's
credential helpers and podman's namespace entries; and how `cargohold login` writes an entry:
in docker's config.json, through its credential helper when it names one."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.cli.auth_files import encode_entry, remove_entry, store_entry
from cargohold.cli.credentials import (
    Credential,
    CredentialsUnreadable,
    auth_files,
    forget_login,
    login_file,
    registry_credentials,
    repository_of,
    save_login,
    use_auth_file,
)
from tests.support.credential_helpers import store_helper

SERVER = "http://127.0.0.1:5000"
HOST = "127.0.0.1:5000"


def _auth(text: str) -> dict[str, str]:
    return {"auth": base64.b64encode(text.encode()).decode()}


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment with a home and a runtime directory of the test's own, and no
    credentials anywhere yet."""
    (tmp_path / "home").mkdir()
    (tmp_path / "run").mkdir()
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    }


def _files(env: dict[str, str]) -> dict[str, Path]:
    home, run = Path(env["HOME"]), Path(env["XDG_RUNTIME_DIR"])
    return {
        "runtime": run / "containers" / "auth.json",
        "config": home / ".config" / "containers" / "auth.json",
        "docker": home / ".docker" / "config.json",
    }


def _name(env: dict[str, str]) -> str | None:
    found = registry_credentials(SERVER, env)
    return None if found is None else found.name


def test_the_lookup_order_is_podmans_then_dockers(env: dict[str, str], tmp_path: Path) -> None:
    files = _files(env)
    for label, path in files.items():
        _write(path, {"auths": {HOST: _auth(f"{label}:secret-{label}")}})
    auth_file = _write(tmp_path / "chosen.json", {"auths": {HOST: _auth("chosen:secret")}})

    assert registry_credentials(SERVER, env) == Credential(
        "runtime", "secret-runtime", source=str(files["runtime"])
    )
    # REGISTRY_AUTH_FILE takes the runtime file's place, as it does for podman.
    assert _name({**env, "REGISTRY_AUTH_FILE": str(auth_file)}) == "chosen"
    assert _name({**env, "REGISTRY_AUTH_FILE": str(tmp_path / "missing.json")}) == "config"
    # The environment's credentials come before every file.
    ci = {**env, "CARGOHOLD_USERNAME": "robot$ci", "CARGOHOLD_PASSWORD": "s3cret"}
    assert registry_credentials(SERVER, ci) == Credential(
        "robot$ci", "s3cret", source="$CARGOHOLD_USERNAME and $CARGOHOLD_PASSWORD"
    )

    files["runtime"].unlink()
    assert _name(env) == "config"
    files["config"].unlink()
    assert _name(env) == "docker"
    # DOCKER_CONFIG names docker's directory instead of ~/.docker.
    other = _write(tmp_path / "dockercfg" / "config.json", {"auths": {HOST: _auth("dc:x")}})
    assert _name({**env, "DOCKER_CONFIG": str(other.parent)}) == "dc"
    files["docker"].unlink()
    assert _name(env) is None
    # XDG_CONFIG_HOME moves ~/.config.
    moved = _write(tmp_path / "xdg" / "containers" / "auth.json", {"auths": {HOST: _auth("x:y")}})
    assert _name({**env, "XDG_CONFIG_HOME": str(moved.parent.parent)}) == "x"


def test_a_file_without_the_servers_entry_passes_to_the_next(env: dict[str, str]) -> None:
    files = _files(env)
    _write(files["runtime"], {"auths": {"127.0.0.1:5001": _auth("other:port")}})
    _write(files["config"], {"auths": {"registry.example": _auth("other:host")}})
    _write(files["docker"], {"auths": {HOST: _auth("docker:s")}})
    assert _name(env) == "docker"


@pytest.mark.parametrize(
    "key", [HOST, f"http://{HOST}", f"https://{HOST}", f"https://{HOST}/v1/", f"{HOST}/v2/"]
)
def test_keys_with_or_without_scheme_as_docker_writes_them(env: dict[str, str], key: str) -> None:
    _write(_files(env)["docker"], {"auths": {key: _auth("alice:pw")}})
    assert _name(env) == "alice"
    assert registry_credentials(f"https://{HOST}", env) is not None
    assert registry_credentials(HOST, env) is not None
    assert registry_credentials("http://127.0.0.1:5001", env) is None


def test_a_namespaced_entry_is_not_the_servers(env: dict[str, str]) -> None:
    _write(_files(env)["runtime"], {"auths": {f"{HOST}/team": _auth("alice:pw")}})
    assert _name(env) is None
    assert registry_credentials(SERVER, env, repository="other/app") is None
    assert registry_credentials(SERVER, env, repository="teamx/app") is None


def test_for_a_repository_its_longest_namespace_entry_wins_as_podman_matches(
    env: dict[str, str],
) -> None:
    def name_for(repository: str) -> str | None:
        found = registry_credentials(SERVER, env, repository=repository)
        return None if found is None else found.name

    auths = {
        HOST: _auth("server:pw"),
        f"{HOST}/team": _auth("team:pw"),
        f"{HOST}/team/app": _auth("app:pw"),
        f"{HOST}/team/app/sub": _auth("sub:pw"),
    }
    _write(_files(env)["runtime"], {"auths": auths})
    assert name_for("team/app") == "app"
    assert name_for("team/app/sub/deeper") == "sub"
    assert name_for("team/web") == "team"
    assert name_for("other/app") == "server"
    assert _name(env) == "server"  # a command about no repository
    # Within one file only: an earlier file's server entry comes before a later namespace's.
    _write(_files(env)["config"], {"auths": {HOST: _auth("config:pw")}})
    _files(env)["runtime"].unlink()
    _write(_files(env)["docker"], {"auths": {f"{HOST}/team": _auth("docker:pw")}})
    assert name_for("team/app") == "config"
    # A namespace's empty placeholder passes to the server's entry.
    _write(_files(env)["config"], {"auths": {f"{HOST}/team": {}, HOST: _auth("config:pw")}})
    assert name_for("team/app") == "config"


@pytest.mark.parametrize(
    ("text", "repository"),
    [
        ("team/app", "team/app"),
        ("team/app:v1", "team/app"),
        ("team/app@sha256:" + "a" * 64, "team/app"),
        (f"{HOST}/team/app:v1", "team/app"),
        ("other.example/team/app:v1", None),
        ("oci:/tmp/layout", None),
        ("Team/App", None),
    ],
)
def test_the_repository_a_command_argument_names(text: str, repository: str | None) -> None:
    assert repository_of(text, HOST) == repository


def test_an_identity_token_entry_as_docker_writes_it(env: dict[str, str]) -> None:
    entry = {**_auth("alice:"), "identitytoken": "chrt_abc"}
    _write(_files(env)["docker"], {"auths": {HOST: entry}})
    assert registry_credentials(SERVER, env) == Credential(
        "alice", "chrt_abc", identity_token=True, source=str(_files(env)["docker"])
    )


def test_only_one_of_the_environment_variables_is_an_error(env: dict[str, str]) -> None:
    with pytest.raises(CredentialsUnreadable, match="both CARGOHOLD_USERNAME and"):
        registry_credentials(SERVER, {**env, "CARGOHOLD_USERNAME": "alice"})


@pytest.mark.parametrize("entry", [{"auth": "!!"}, _auth("no-colon"), _auth(":secret")])
def test_an_unreadable_entry_is_an_error_without_its_secret(
    env: dict[str, str], entry: object
) -> None:
    _write(_files(env)["runtime"], {"auths": {HOST: entry}})
    with pytest.raises(CredentialsUnreadable, match=HOST) as raised:
        registry_credentials(SERVER, env)
    assert "secret" not in str(raised.value).replace("name:secret", "")


def test_a_file_that_is_not_json_is_named(env: dict[str, str]) -> None:
    path = _files(env)["config"]
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(CredentialsUnreadable, match=f"{path}: not a readable auth file"):
        registry_credentials(SERVER, env)


# -- docker credential helpers -------------------------------------------------------------


def _helper(env: dict[str, str], name: str, username: str, secret: str) -> Path:
    """A `docker-credential-NAME` on PATH that knows one server, HOST, and writes what it was
    asked to `asked-NAME` beside it."""
    bin_dir = Path(env["PATH"].split(":", 1)[0])
    bin_dir.mkdir(exist_ok=True)
    answer = json.dumps({"ServerURL": HOST, "Username": username, "Secret": secret})
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = get ] || exit 2\n'
        f'asked=$(cat); printf "%s" "$asked" > "{bin_dir}/asked-{name}"\n'
        f"if [ \"$asked\" = \"{HOST}\" ]; then printf '%s\\n' '{answer}'; exit 0; fi\n"
        "echo 'credentials not found in native keychain'; exit 1\n"
    )
    script.chmod(0o755)
    return bin_dir / f"asked-{name}"


def test_creds_store_and_cred_helpers_are_run_with_the_server_on_stdin(
    env: dict[str, str],
) -> None:
    docker = _files(env)["docker"]
    asked = _helper(env, "secretservice", "alice", "from-store")
    _write(docker, {"auths": {HOST: {}}, "credsStore": "secretservice"})
    assert registry_credentials(SERVER, env) == Credential(
        "alice", "from-store", source="docker-credential-secretservice"
    )
    assert asked.read_text() == HOST

    # A credHelpers entry for the server comes before the credsStore.
    _helper(env, "pass", "bob", "from-helper")
    _write(docker, {"credsStore": "secretservice", "credHelpers": {HOST: "pass"}})
    assert _name(env) == "bob"

    # A helper's identity token: docker's "<token>" user name.
    _helper(env, "pass", "<token>", "chrt_xyz")
    found = registry_credentials(SERVER, env)
    assert found is not None and (found.secret, found.identity_token) == ("chrt_xyz", True)


def test_a_helper_that_knows_nothing_passes_to_the_auths_entry_and_next_file(
    env: dict[str, str],
) -> None:
    _helper(env, "pass", "alice", "pw")
    _write(
        _files(env)["config"],
        {"credHelpers": {"127.0.0.1:5001": "pass"}, "auths": {"127.0.0.1:5001": _auth("x:y")}},
    )
    _write(_files(env)["docker"], {"credsStore": "pass", "auths": {HOST: _auth("carol:pw")}})
    assert registry_credentials("http://127.0.0.1:5001", env) is not None
    assert _name(env) == "alice"
    assert registry_credentials("http://127.0.0.1:5002", env) is None


def test_a_missing_helper_is_a_one_line_error_naming_it(env: dict[str, str]) -> None:
    docker = _write(_files(env)["docker"], {"credsStore": "desktop"})
    with pytest.raises(CredentialsUnreadable) as raised:
        registry_credentials(SERVER, env)
    assert str(raised.value) == f"docker-credential-desktop not found on PATH (named in {docker})"


def test_a_failing_helper_is_a_one_line_error(env: dict[str, str]) -> None:
    bin_dir = Path(env["PATH"].split(":", 1)[0])
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-broken"
    script.write_text("#!/bin/sh\necho 'the keyring is locked' >&2\nexit 3\n")
    script.chmod(0o755)
    _write(_files(env)["docker"], {"credHelpers": {HOST: "broken"}})
    with pytest.raises(CredentialsUnreadable) as raised:
        registry_credentials(SERVER, env)
    assert str(raised.value) == "docker-credential-broken get failed: the keyring is locked"


# -- writing ------------------------------------------------------------------------------


def test_login_writes_dockers_file_unless_told_another(env: dict[str, str], tmp_path: Path) -> None:
    assert login_file(env) == _files(env)["docker"]
    assert login_file({**env, "DOCKER_CONFIG": "/d"}) == Path("/d/config.json")
    # REGISTRY_AUTH_FILE, as for podman login.
    assert login_file({**env, "REGISTRY_AUTH_FILE": "/x/a.json"}) == Path("/x/a.json")


@pytest.fixture
def chosen(tmp_path: Path) -> Iterator[Path]:
    """The global --authfile, set for the test only."""
    path = tmp_path / "chosen.json"
    use_auth_file(path)
    yield path
    use_auth_file(None)


def test_the_global_authfile_takes_registry_auth_files_place(
    env: dict[str, str], chosen: Path
) -> None:
    files = _files(env)
    with_variable = {**env, "REGISTRY_AUTH_FILE": "/x/a.json"}
    assert login_file(with_variable) == chosen
    assert auth_files(with_variable) == [chosen, files["config"], files["docker"]]
    _write(files["runtime"], {"auths": {HOST: _auth("runtime:pw")}})
    _write(chosen, {"auths": {HOST: _auth("chosen:pw")}})
    assert _name(env) == "chosen"
    # Asked for on the command line, the file comes before the variables as well; one that
    # holds nothing for the server passes on to them, then to the other files.
    ci = {**env, "CARGOHOLD_USERNAME": "robot$ci", "CARGOHOLD_PASSWORD": "s3cret"}
    assert _name(ci) == "chosen"
    chosen.unlink()
    assert _name(ci) == "robot$ci"
    assert _name(env) is None  # the runtime file is not read: the chosen one is in its place
    _write(files["docker"], {"auths": {HOST: _auth("docker:pw")}})
    assert _name(env) == "docker"


def test_storing_keeps_other_entries_and_is_owner_only(env: dict[str, str]) -> None:
    path = _files(env)["runtime"]
    _write(
        path,
        {
            "auths": {"other:1": _auth("o:p"), f"https://{HOST}": _auth("old:pw")},
            "credHelpers": {"gcr.io": "gcloud"},
        },
    )
    path.chmod(0o644)
    store_entry(path, HOST, encode_entry("alice", "chrt_new", identity_token=True))
    document = json.loads(path.read_text())
    assert document == {
        "auths": {"other:1": _auth("o:p"), HOST: {**_auth("alice:"), "identitytoken": "chrt_new"}},
        "credHelpers": {"gcr.io": "gcloud"},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["auth.json"]  # no temporary file left behind

    removed = remove_entry(path, HOST)
    assert removed is not None and removed["identitytoken"] == "chrt_new"
    assert json.loads(path.read_text())["auths"] == {"other:1": _auth("o:p")}
    assert remove_entry(path, HOST) is None


def test_storing_creates_the_file_and_its_directory(env: dict[str, str]) -> None:
    path = _files(env)["runtime"]
    store_entry(path, HOST, encode_entry("alice", "pw", identity_token=False))
    assert json.loads(path.read_text()) == {"auths": {HOST: _auth("alice:pw")}}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert registry_credentials(SERVER, env) == Credential("alice", "pw", source=str(path))


# -- writing as docker does, through its credential helpers --------------------------------


def test_a_login_goes_through_the_helper_docker_names_for_the_server(env: dict[str, str]) -> None:
    docker = _files(env)["docker"]
    kept = store_helper(env, "keys")
    other = store_helper(env, "other")
    settings = {"credsStore": "keys", "credHelpers": {"gcr.io": "other"}, "psFormat": "{{.ID}}"}
    _write(docker, settings)
    token = Credential("alice", "chrt_abc", identity_token=True)
    assert save_login(docker, HOST, token, env) == "docker-credential-keys"
    # docker's way: a refresh token as the user `<token>`, an empty entry in the file.
    assert json.loads(kept.read_text()) == {
        HOST: {"ServerURL": HOST, "Username": "<token>", "Secret": "chrt_abc"}
    }
    assert json.loads(docker.read_text()) == {**settings, "auths": {HOST: {}}}
    assert stat.S_IMODE(docker.stat().st_mode) == 0o600
    assert not other.exists()
    # Read back as docker reads it: the name is not kept, the token is.
    assert registry_credentials(SERVER, env) == Credential(
        "", "chrt_abc", identity_token=True, source="docker-credential-keys"
    )

    # A credHelpers entry for the server wins over the credsStore; a password is kept as is.
    _write(docker, {**settings, "credHelpers": {HOST: "other"}})
    save_login(docker, HOST, Credential("bob", "chpat_x"), env)
    assert json.loads(other.read_text())[HOST]["Username"] == "bob"
    assert registry_credentials(SERVER, env) == Credential(
        "bob", "chpat_x", source="docker-credential-other"
    )

    removed, found = forget_login(docker, HOST, env)
    assert found and removed == Credential("bob", "chpat_x", source="docker-credential-other")
    assert json.loads(other.read_text()) == {}
    assert json.loads(docker.read_text()) == {
        **settings,
        "credHelpers": {HOST: "other"},
        "auths": {},
    }
    assert forget_login(docker, HOST, env) == (None, False)


def test_a_login_without_a_helper_goes_in_auths_as_docker_writes_it(env: dict[str, str]) -> None:
    docker = _files(env)["docker"]
    _write(docker, {"auths": {"other:1": _auth("o:p")}, "HttpHeaders": {"X-Meta": "1"}})
    saved = save_login(docker, HOST, Credential("alice", "chrt_abc", identity_token=True), env)
    assert saved == str(docker)
    assert json.loads(docker.read_text()) == {
        "auths": {"other:1": _auth("o:p"), HOST: {**_auth("alice:"), "identitytoken": "chrt_abc"}},
        "HttpHeaders": {"X-Meta": "1"},
    }
    removed, found = forget_login(docker, HOST, env)
    assert found and removed == Credential("alice", "chrt_abc", True, source=str(docker))
    assert json.loads(docker.read_text())["auths"] == {"other:1": _auth("o:p")}


def test_a_helper_that_cannot_store_is_an_error_naming_it(env: dict[str, str]) -> None:
    bin_dir = Path(env["PATH"].split(":", 1)[0])
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-locked"
    script.write_text("#!/bin/sh\necho 'the keyring is locked' >&2\nexit 3\n")
    script.chmod(0o755)
    docker = _write(_files(env)["docker"], {"credsStore": "locked"})
    with pytest.raises(CredentialsUnreadable) as raised:
        save_login(docker, HOST, Credential("alice", "pw"), env)
    assert str(raised.value) == "docker-credential-locked store failed: the keyring is locked"
    assert json.loads(docker.read_text()) == {"credsStore": "locked"}


def test_docker_hub_is_found_under_each_of_its_names(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker login keys Docker Hub as https://index.docker.io/v1/; the one registry client
    (sign, verify, scans of remote images) talks to registry-1.docker.io and finds it."""
    from cargohold.cli.registry_auth import api_base, find_credential
    from cargohold.cli.registry_client import RegistryClient

    _write(_files(env)["docker"], {"auths": {"https://index.docker.io/v1/": _auth("hub:pw")}})
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("CARGOHOLD_USERNAME", "CARGOHOLD_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert api_base("docker.io") == "https://registry-1.docker.io"
    with RegistryClient(api_base("docker.io"), "library/debian") as client:
        found = client.auth.credential
    assert found is not None and (found.name, found.secret) == ("hub", "pw")
    other = find_credential("https://ghcr.io", "org/app")
    assert other is None


def test_a_challenge_keeps_the_commas_of_a_quoted_scope() -> None:
    """The one challenge parser (registry clients and `cargohold login`)."""
    from cargohold.cli.registry_auth import parse_challenge

    header = 'Bearer realm="https://r.example/auth",service="r",scope="repository:a/b:pull,push"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://r.example/auth", "service": "r", "scope": "repository:a/b:pull,push"},
    )
    assert parse_challenge('Basic realm="registry"') == ("basic", {"realm": "registry"})
    assert parse_challenge("") == ("", {})
