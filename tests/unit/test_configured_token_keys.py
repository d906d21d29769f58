"""Signing keys given in the configuration (`auth_token_keys`): PEM private keys one after the
other, the last signing and every one verifying, the same on every node that has the same
settings; nothing is written, a rotation is refused with what to do instead, and a key that is
not a P-256 private key stops the configuration with one line that never shows the key."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cargohold.config import ConfigError, load_settings
from cargohold.policy.scopes import ResourceScope
from cargohold.services.token_keys import (
    ConfiguredKeys,
    TokenKeyError,
    configured_keys,
    key_id,
)
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
    with pytest.raises(TokenKeyError, match="add the new key before the last one"):
        keys.rotate()


def test_a_rotation_in_two_restarts_never_refuses_a_token_on_any_node(tmp_path: Path) -> None:
    """During each rolling restart, nodes of the two generations serve side by side: every
    token either signs is verified by both."""
    old, new = _pem(_p256()), _pem(_p256())
    generations = [old, new + old, old + new, new]  # before, step 1, step 2, old key removed
    for step, (before, after) in enumerate(itertools.pairwise(generations)):
        earlier = _service(tmp_path / f"{step}-a", before)
        later = _service(tmp_path / f"{step}-b", after)
        if step == 2:
            continue  # the old key goes once its tokens have expired: no token of it is left
        for signer, checker in ((earlier, later), (later, earlier)):
            issued = signer.issue("alice", ACCESS)
            assert checker.verify(issued.token).subject == "alice", step


@pytest.mark.parametrize(
    "text",
    [
        "not a key at all",
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        "ed25519",
        "p384",
        "twice",
        "trailing",
        "public key",
        "encrypted",
        "escaped",
        "parameters only",
    ],
)
def test_a_key_that_cannot_sign_es256_stops_the_configuration(text: str, tmp_path: Path) -> None:
    p256 = _p256()
    public = p256.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encrypted = p256.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    given = {
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate()),
        "p384": _pem(ec.generate_private_key(ec.SECP384R1())),
        "twice": _pem(p256) + _pem(p256),
        "trailing": _pem(p256) + "and something else",
        "public key": _pem(p256) + public.decode(),
        "encrypted": encrypted.decode(),
        "escaped": _pem(p256).replace("\n", "\\n"),
        "parameters only": parameters,
    }.get(text, text)
    with pytest.raises(ConfigError) as refused:
        load_settings(env={}, overrides={"data_dir": str(tmp_path), "auth_token_keys": given})
    message = str(refused.value)
    assert message.startswith(("auth_token_keys", "set auth_token_keys")) and "\n" not in message
    assert {
        "public key": "block 2: PUBLIC KEY is not an unencrypted private key",
        "encrypted": "block 1: ENCRYPTED PRIVATE KEY is not",
        "escaped": "\\n escapes",
        "parameters only": "no private key",
        "p384": "key 1: not a P-256",
    }.get(text, "") in message
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


def test_what_openssl_ecparam_prints_is_taken_and_the_directory_is_not_set_beside(
    tmp_path: Path,
) -> None:
    """`openssl ecparam -genkey` prints EC PARAMETERS before the key: skipped. A key directory
    set as well is refused: one of them holds the keys."""
    key = _p256()
    parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    assert [k.kid for k in configured_keys(parameters + _pem(key, sec1=True))] == [
        key_id(key.public_key())
    ]
    with pytest.raises(ConfigError, match="not both"):
        load_settings(
            env={},
            overrides={
                "data_dir": str(tmp_path),
                "auth_token_keys": _pem(key),
                "auth_token_key_dir": str(tmp_path / "keys"),
            },
        )
