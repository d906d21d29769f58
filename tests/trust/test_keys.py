"""cosign's key files both ways: keys cosign generated open here with their password and sign
what their public key verifies; keys made here have cosign's exact sealed format.

The vectors are cosign's own test data: sigstore/cosign pkg/cosign/keys_test.go (commit
11671a73744069f05c3f706700b35be1162080ee), password "hello":
- `pemcosigneckey`: an `ENCRYPTED COSIGN PRIVATE KEY` (the older PEM type), scrypt N=65536,
  holding the SEC 1 form of the file's `validecp256` key;
- `pemsigstorekey`: an `ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt N=32768, holding PKCS#8;
- `pemcosignkey`: the older PEM type at scrypt N=32768, holding PKCS#8 (the file's comment
  calls it RSA; it is a P-256 key).
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.trust.keys import (
    KeyFileError,
    generate_key_pair,
    load_private_key,
    load_public_key,
    public_key_pem,
    seal_private_key,
    sign,
    verifies,
)

COSIGN_PASSWORD = b"hello"

PEMCOSIGNECKEY = b"""-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJHK3F5WTYrNzhNS0JzMXNGTGs1ajYwcS9kS3Z1czBW
VkhlSHZybC9POTF3PSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJRc2JGdG13WDRDK2ttV3ZCcVRaMEFGOUFYdk1jRmg1SCJ9LCJj
aXBoZXJ0ZXh0IjoiREM5T28zeldiYVQzSXYwdFVnWEdycjUxYW1samwwNlQ5MTNP
VkxPbWpuMWhnK2o2WXRUbWg3SGhZSlY1N2J5eGE0Q281bE9YYmRqbTJ3aklubEd1
Um5aZCt5OExnekpSNzFSeEhKVzgrWmRlcFJmYWJMTjdHbDgrSFZEcERVQ3NxQnRh
VngyblpGbFEwWUl1anZwbFphblNGaUVvdERLVGkxZ3VhUXIwUHNzYU01NXZxbTRY
WS9rPSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""
VALIDECP256 = b"""-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIGhcmCI5F7BPMH4r3pWCpQdAsveErdU5DjvVQerErJuoAoGCCqGSM49
AwEHoUQDQgAE+9E3Qe+h25ofmz3Uo2T004Dfy49iX06MMbxf9rsGmLkOPrS0KYDl
1QMfFuSbrtf8wTWNT9HNxrW/Foz39mDhHw==
-----END EC PRIVATE KEY-----
"""
PEMSIGSTOREKEY = b"""-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiI3T3VGd2VsbWZZNXVId2NoaURSc210anNwZ2ZlZjFG
Mk5lOGFDTjVLYVpZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJQNHk4OGhCb3ZTa09MbXN0bFVBaGJwdDJ0K2xTNUxQSCJ9LCJj
aXBoZXJ0ZXh0IjoiMnB1QzdyZldJOWh3bnJlQ2s4aUZDRlVwQlRrSzRJNlIvbFBF
cnBDekpXUGpJWXl4eGVIL1A2VW52cFJHdVhla1NNb3JMdGhLamdoQ1JlNy82NDVH
QWtoVm1LRC92eEF0S2EvbE1abENSQ3FlekJGUFd1dzNpeFRtZ2xhb2J1ZFVSbUVs
bmNGOGlZbzBTMVl6Y1ZOMVFwY2J2c0dNcUlYRzVlbmdteGp5dCtBcXlyZTF0Q0Y0
V01tU1BlaEljNlBqd2h1Q2xHaVpJUWRvTGc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""
PEMCOSIGNKEY = b"""-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJ4WWdoc09JTUxUWGNOT0RsclNIOUNKc1FlOVFnZmN1
cmUrMXlLdHh1TlkwPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiI0cS9PSlVmaXJkSUkrUjZ0ajZBMmcyQ0JqL25xdFNicCJ9LCJj
aXBoZXJ0ZXh0IjoiKzB4Q3NzcFN0WStBczdKanJpOWtsbHBWd2JhcUI4ZWJNdWto
eS9aVE1MSXRsL3B1YS9jWVJvbytLRGxMWWdmOW1kSjk4K1FnQW9oTktoYnJPMTcw
MHdBY1JTMjFDOE4zQUNJRUVZaWpOMllBNnMraGJSbkhjUnd4eGhDMDFtb2FvL0dO
Y1pmbEJheXZMV3pXblo4d2NDZ2ZpT1o1VXlRTEFJMHh0dnR6dEh3cTdDV1Vhd3V4
RlhlNDZzck9TUE9SNHN6bytabWErUGovSFE9PSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""


def _sealed_document(pem: bytes) -> dict[str, object]:
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return json.loads(base64.b64decode(body))  # type: ignore[no-any-return]


def test_a_cosign_generated_key_of_the_older_pem_type_opens_and_signs() -> None:
    key = load_private_key(PEMCOSIGNECKEY, COSIGN_PASSWORD)
    # The sealed key is the file's plain `validecp256`: its public half verifies.
    plain = serialization.load_pem_private_key(VALIDECP256, password=None)
    assert isinstance(plain, ec.EllipticCurvePrivateKey)
    public = load_public_key(public_key_pem(plain.public_key()))
    signature = sign(key, b"payload")
    assert verifies(public, signature, b"payload")
    assert not verifies(public, signature, b"payload, changed")


@pytest.mark.parametrize("pem", [PEMSIGSTOREKEY, PEMCOSIGNKEY], ids=["sigstore", "cosign"])
def test_cosign_generated_pkcs8_keys_open_and_sign(pem: bytes) -> None:
    key = load_private_key(pem, COSIGN_PASSWORD)
    public = load_public_key(public_key_pem(key.public_key()))
    assert verifies(public, sign(key, b"image"), b"image")


def test_wrong_password_and_non_p256_keys_are_refused_in_one_line() -> None:
    with pytest.raises(KeyFileError, match="wrong password"):
        load_private_key(PEMSIGSTOREKEY, b"not hello")
    p384 = seal_private_key(ec.generate_private_key(ec.SECP384R1()), b"pw")
    with pytest.raises(
        KeyFileError, match=r"only ECDSA P-256 keys sign \(this one is ECDSA secp384r1\)"
    ):
        load_private_key(p384, b"pw")
    with pytest.raises(KeyFileError, match="not a cosign private key"):
        load_private_key(VALIDECP256, b"")
    with pytest.raises(KeyFileError, match="not a public key"):
        load_public_key(PEMSIGSTOREKEY)


def test_generated_keys_are_sealed_exactly_as_cosign_seals_them() -> None:
    pair = generate_key_pair(b"s3cret")
    assert pair.private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert pair.public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    document = _sealed_document(pair.private_pem)
    assert list(document) == ["kdf", "cipher", "ciphertext"]
    assert document["kdf"] == {
        "name": "scrypt",
        "params": {"N": 65536, "r": 8, "p": 1},
        "salt": document["kdf"]["salt"],  # type: ignore[index]
    }
    assert len(base64.b64decode(document["kdf"]["salt"])) == 32  # type: ignore[index]
    assert document["cipher"]["name"] == "nacl/secretbox"  # type: ignore[index]
    assert len(base64.b64decode(document["cipher"]["nonce"])) == 24  # type: ignore[index]
    # The body's base64 starts as cosign's does for the same parameters (its N=65536 vector).
    assert pair.private_pem.splitlines()[1] == PEMCOSIGNECKEY.splitlines()[1]
    key = load_private_key(pair.private_pem, b"s3cret")
    assert verifies(load_public_key(pair.public_pem), sign(key, b"x"), b"x")


def test_scrypt_parameters_cosign_refuses_are_refused() -> None:
    document = _sealed_document(PEMSIGSTOREKEY)
    document["kdf"]["params"]["N"] = 2**24  # type: ignore[index]
    body = base64.b64encode(json.dumps(document).encode())
    kind = b"ENCRYPTED SIGSTORE PRIVATE KEY"
    pem = b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, body, kind)
    with pytest.raises(KeyFileError, match="unsupported scrypt parameters N=16777216"):
        load_private_key(pem, COSIGN_PASSWORD)
