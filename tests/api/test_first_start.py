"""The first start of a server: the system admin, its password from the environment or
generated and shown once in the log, and `cargohold admin reset-password` run beside it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.services.token_keys import key_id
from tests.api.helpers import assert_error
from tests.support.jsonlog import json_log
from tests.support.ports import free_port
from tests.support.server import CARGOHOLD, CargoholdServer


def _token(server: CargoholdServer, password: str, name: str = "admin") -> httpx.Response:
    return httpx.get(
        f"{server.url}/auth/token",
        params={"service": "cargohold", "scope": "repository:any/app:pull,push,delete"},
        auth=(name, password),
        timeout=60,
    )


def _admin_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGOHOLD_")}
    return subprocess.run(
        [CARGOHOLD, "admin", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_generated_admin_password_is_shown_once_with_a_docker_login_line(
    tmp_path: Path,
) -> None:
    server = CargoholdServer(tmp_path / "data", admin_password="").start()
    try:
        [line] = server.first_start_lines()
        password = server.admin_password
        assert len(password) >= 16
        assert f"docker login {server.host} --username admin --password-stdin" in line
        assert f"echo '{password}' |" in line
        response = _token(server, password)
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
        # A system admin: every action anywhere.
        assert claims["access"][0]["actions"] == ["delete", "pull", "push"]
        server.restart()
        assert len(server.first_start_lines()) == 1  # the second start shows no password
        hints = [
            str(entry["message"])
            for entry in json_log(server.log_path)
            if entry.get("logger") == "cargohold.sign_in"
        ]
        assert len(hints) == 1  # only the second start: the first showed the whole line
        assert f"docker login {server.host} --username admin " in hints[0]
        assert password not in hints[0]
        assert _token(server, password).status_code == 200
    finally:
        server.stop()


def test_the_admin_password_from_the_environment_is_used_and_never_logged(
    tmp_path: Path,
) -> None:
    server = CargoholdServer(tmp_path / "data", admin_password="chosen by the operator").start()
    try:
        assert server.first_start_lines() == []
        assert _token(server, "chosen by the operator").status_code == 200
        assert "chosen by the operator" not in server.log_path.read_text()
    finally:
        server.stop()


def test_a_too_short_admin_password_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CARGOHOLD_ADMIN_PASSWORD": "short"}
    done = subprocess.run(
        [
            CARGOHOLD,
            "serve",
            "--addr",
            f"127.0.0.1:{free_port()}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    # The schema is migrated first (its log lines); the refusal is one line, no traceback.
    last = done.stderr.strip().splitlines()[-1]
    assert last == "error: CARGOHOLD_ADMIN_PASSWORD: a password needs at least 8 characters"
    assert "Traceback" not in done.stderr


def test_reset_password_sets_a_new_one_and_lifts_the_lockout(tmp_path: Path) -> None:
    server = CargoholdServer(
        tmp_path / "data",
        extra_env={
            "CARGOHOLD_AUTH_LOCKOUT_THRESHOLD": "1",
            "CARGOHOLD_AUTH_SLOWDOWN_BASE_SECONDS": "0",
            "CARGOHOLD_AUTH_ADDRESS_LOCKOUT_THRESHOLD": "1000",
        },
    ).start()
    data_dir = str(server.data_dir)
    try:
        old = server.admin_password
        refresh = httpx.get(
            f"{server.url}/auth/token",
            params={"service": "cargohold", "offline_token": "true"},
            auth=server.admin_auth,
            timeout=60,
        ).json()["refresh_token"]
        assert_error(_token(server, "a wrong guess"), 401, "UNAUTHORIZED")
        assert_error(_token(server, old), 429, "TOOMANYREQUESTS")  # locked out

        generated = _admin_cli("reset-password", "admin", "--data-dir", data_dir)
        assert generated.returncode == 0, generated.stderr
        new = generated.stdout.strip()
        assert len(new) >= 16 and new != old
        assert "lockout" in generated.stderr and new not in generated.stderr
        assert _token(server, new).status_code == 200  # the lock is lifted
        assert_error(_token(server, old), 401, "UNAUTHORIZED")
        ended = httpx.post(
            f"{server.url}/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "service": "cargohold",
                "client_id": "tests",
            },
            timeout=60,
        )
        assert ended.status_code == 400 and ended.json()["error"] == "invalid_grant"

        chosen = _admin_cli(
            "reset-password",
            "admin",
            "--password-stdin",
            "--data-dir",
            data_dir,
            stdin="a chosen password\n",
        )
        assert chosen.returncode == 0, chosen.stderr
        assert chosen.stdout == ""
        assert _token(server, "a chosen password").status_code == 200
    finally:
        server.stop()


def test_reset_password_refusals_are_one_line(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data").start()
    data_dir = str(server.data_dir)
    try:
        cases = [
            (("reset-password", "nobody", "--data-dir", data_dir), "", "no user 'nobody'"),
            (
                ("reset-password", "admin", "--password-stdin", "--data-dir", data_dir),
                "short\n",
                "at least 8 characters",
            ),
            (("reset-password", "admin", "--password-stdin", "--data-dir", data_dir), "", "stdin"),
            (
                ("reset-password", "admin", "--data-dir", str(tmp_path / "elsewhere")),
                "",
                "no cargohold database",
            ),
        ]
        for args, stdin, expected in cases:
            done = _admin_cli(*args, stdin=stdin)
            assert done.returncode == 1, (args, done.stdout, done.stderr)
            assert done.stderr.startswith("error: ") and expected in done.stderr, done.stderr
            assert done.stderr.count("\n") == 1 and done.stdout == ""
        assert _token(server, server.admin_password).status_code == 200  # unchanged
    finally:
        server.stop()


def test_rotating_the_signing_key_beside_a_running_server(tmp_path: Path) -> None:
    """`cargohold admin rotate-token-key` adds a key: the running server signs with it within
    seconds, tokens signed before stay valid, and the rotation is audited."""
    server = CargoholdServer(tmp_path / "data").start()
    try:
        before = _token(server, server.admin_password).json()["token"]
        old_kid = jwt.get_unverified_header(before)["kid"]
        rotated = _admin_cli("rotate-token-key", "--data-dir", str(server.data_dir))
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.strip()
        assert new_kid != old_kid and "key-0002.pem signs" in rotated.stderr
        assert sorted(p.name for p in (server.data_dir / "token-keys").iterdir()) == [
            "key-0001.pem",
            "key-0002.pem",
        ]
        deadline = time.monotonic() + 30
        kid = old_kid
        while kid != new_kid and time.monotonic() < deadline:
            time.sleep(0.5)
            kid = jwt.get_unverified_header(_token(server, server.admin_password).json()["token"])[
                "kid"
            ]
        assert kid == new_kid
        # The token signed with the older key still works (allowed in, nothing pushed there).
        listed = httpx.get(
            f"{server.url}/v2/any/app/tags/list",
            headers={"Authorization": f"Bearer {before}"},
            timeout=60,
        )
        assert_error(listed, 404, "NAME_UNKNOWN")
        with server.client() as admin:
            events = admin.get("/api/v1/audit", params={"action": "token-key.rotate"}).json()
        (entry,) = events["events"]
        assert (entry["actor"], entry["target"]) == ("cli", new_kid)
        assert entry["detail"]["previousKid"] == old_kid
        missing = _admin_cli("rotate-token-key", "--data-dir", str(tmp_path / "elsewhere"))
        assert missing.returncode == 1 and "no cargohold database" in missing.stderr
        assert "Traceback" not in missing.stderr
    finally:
        server.stop()


def test_signing_keys_given_in_the_configuration(tmp_path: Path) -> None:
    """`auth_token_keys` (here from the environment, as a deployment's secret sets it): the
    server signs with the last key, writes no key directory, and `rotate-token-key` says to
    change the configuration instead, in one line."""
    old, new = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    pems = "".join(
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        for k in (old, new)
    )
    server = CargoholdServer(
        tmp_path / "data", extra_env={"CARGOHOLD_AUTH_TOKEN_KEYS": pems}
    ).start()
    try:
        token = _token(server, server.admin_password).json()["token"]
        assert jwt.get_unverified_header(token)["kid"] == key_id(new.public_key())
        assert not (server.data_dir / "token-keys").exists()
        refused = subprocess.run(
            [CARGOHOLD, "admin", "rotate-token-key", "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            env={**os.environ, "CARGOHOLD_AUTH_TOKEN_KEYS": pems},
            timeout=120,
        )
        assert refused.returncode == 1, refused.stderr
        assert "auth_token_keys" in refused.stderr and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "PRIVATE KEY" not in server.log_path.read_text()
    finally:
        server.stop()
