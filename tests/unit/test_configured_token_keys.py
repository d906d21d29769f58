"""Signing keys given in the configuration (`auth_token_keys`): PEM private keys one after the
other, the last signing and every one verifying, the same on every node that has the same
settings; nothing is written, a rotation is refused with what to do instead, and a key that is
not a P-256 private key stops the configuration with one line that never shows the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cargohold.config import ConfigError, load_settings
from cargohold.policy.scopes import ResourceScope
from cargohold.services.token_keys import ConfiguredKeys, TokenKeyError, key_id
from cargohold.services.tokens import InvalidToken, TokenService
from cargohold.wiring_access import signing_keys, token_service

ACCESS = [ResourceScope("repository", "team/app", ("pull",))]


def _pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, sec1: bool = False) -> str:
    form = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if sec1
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(
        serialization.Encoding.PEM, form, serialization.NoEncryption()
    ).decode()


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _service(tmp_path: Path, keys: str) -> TokenService:
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path), "auth_token_keys": keys})
    return token_service(settings)


def test_the_last_key_signs_every_key_verifies_and_nothing_is_written(tmp_path: Path) -> None:
    old, new = _p256(), _p256()
    before = _service(tmp_path / "a", _pem(old))
    issued_before = before.issue("alice", ACCESS)
    # A rotation in the configuration: the new key after the old one (SEC 1 form here).
    rotated = _pem(old) + "\n" + _pem(new, sec1=True)
    node1, node2 = _service(tmp_path / "b", rotated), _service(tmp_path / "c", rotated)
    assert node1.keys.current().kid == key_id(new.public_key())
    issued = node1.issue("alice", ACCESS)
    assert node2.verify(issued.token).subject == "alice"  # another node, the same settings
    assert node2.verify(issued_before.token).subject == "alice"  # the old key still verifies
    # Without the old key, its tokens are refused.
    only_new = _service(tmp_path / "d", _pem(new))
    with pytest.raises(InvalidToken):
        only_new.verify(issued_before.token)
    assert not any(tmp_path.rglob("token-keys"))


def test_a_rotation_by_command_is_refused_with_what_to_do(tmp_path: Path) -> None:
    settings = load_settings(
        env={}, overrides={"data_dir": str(tmp_path), "auth_token_keys": _pem(_p256())}
    )
    keys = signing_keys(settings)
    assert isinstance(keys, ConfiguredKeys)
    with pytest.raises(TokenKeyError, match="add a new key after the others"):
        keys.rotate()


@pytest.mark.parametrize(
    "text",
    [
        "not a key at all",
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        "ed25519",
        "p384",
        "twice",
        "trailing",
    ],
)
def test_a_key_that_cannot_sign_es256_stops_the_configuration(text: str, tmp_path: Path) -> None:
    p256 = _p256()
    given = {
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate()),
        "p384": _pem(ec.generate_private_key(ec.SECP384R1())),
        "twice": _pem(p256) + _pem(p256),
        "trailing": _pem(p256) + "and something else",
    }.get(text, text)
    with pytest.raises(ConfigError) as refused:
        load_settings(env={}, overrides={"data_dir": str(tmp_path), "auth_token_keys": given})
    message = str(refused.value)
    assert message.startswith("auth_token_keys") and "\n" not in message
    assert "PRIVATE KEY-----" not in message.replace("-----BEGIN PRIVATE KEY----- ...", "")
    for line in given.splitlines()[1:-1]:
        assert line not in message


def test_the_keys_come_from_the_environment_as_a_deployment_sets_them(tmp_path: Path) -> None:
    key = _p256()
    settings = load_settings(
        env={"CARGOHOLD_AUTH_TOKEN_KEYS": _pem(key)}, overrides={"data_dir": str(tmp_path)}
    )
    assert signing_keys(settings).current().kid == key_id(key.public_key())
    assert _pem(key) not in repr(settings)
