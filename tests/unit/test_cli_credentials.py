"""The CLI signs in with the entry for its server in a containers auth file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cargohold.cli.credentials import CredentialsUnreadable, registry_credentials


def _file(tmp_path: Path, auths: object) -> dict[str, str]:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": auths}))
    return {"REGISTRY_AUTH_FILE": str(path)}


def _auth(text: str) -> dict[str, str]:
    return {"auth": base64.b64encode(text.encode()).decode()}


def test_the_entry_for_the_servers_host_and_port(tmp_path: Path) -> None:
    env = _file(tmp_path, {"127.0.0.1:5000": _auth("alice:s3:cret"), "other:1": _auth("b:c")})
    assert registry_credentials("http://127.0.0.1:5000", env) == ("alice", "s3:cret")
    assert registry_credentials("http://127.0.0.1:5001", env) is None
    assert registry_credentials("http://127.0.0.1:5000", {}) is None
    missing = {"REGISTRY_AUTH_FILE": str(tmp_path / "none.json")}
    assert registry_credentials("http://127.0.0.1:5000", missing) is None


@pytest.mark.parametrize("entry", [{"auth": "!!"}, _auth("no-colon"), _auth(":secret")])
def test_an_unreadable_entry_is_an_error_without_its_secret(tmp_path: Path, entry: object) -> None:
    env = _file(tmp_path, {"h:1": entry})
    with pytest.raises(CredentialsUnreadable, match="h:1") as raised:
        registry_credentials("http://h:1", env)
    assert "secret" not in str(raised.value).replace("name:secret", "")
