"""cosign's key files: `cosign.key` (a sealed private key) and `cosign.pub` (PKIX PEM).

The private key is PKCS#8 DER sealed as go-securesystemslib's `encrypted` package seals it,
the body of a PEM block of type `ENCRYPTED SIGSTORE PRIVATE KEY` (older cosign:
`ENCRYPTED COSIGN PRIVATE KEY`):

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": "<b64 32 bytes>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<b64 24 bytes>"},
     "ciphertext": "<b64 secretbox(PKCS#8 DER)>"}

scrypt derives the 32-byte secretbox key from the password and salt; secretbox is
XSalsa20-Poly1305, which `cryptography` lacks, so PyNaCl seals and opens it. cosign refuses
scrypt parameters other than N = 2^15, 2^16 or 2^17 with r = 8, p = 1, and so does this
module (which also bounds the memory a hostile key file could make scrypt use).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SIGSTORE_PRIVATE_KEY = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PRIVATE_KEY = "ENCRYPTED COSIGN PRIVATE KEY"
PRIVATE_KEY_TYPES = (SIGSTORE_PRIVATE_KEY, COSIGN_PRIVATE_KEY)
PUBLIC_KEY_TYPE = "PUBLIC KEY"

SCRYPT_N = 65536
SCRYPT_R = 8
SCRYPT_P = 1
ALLOWED_SCRYPT_N = (2**15, 2**16, 2**17)
SALT_BYTES = 32
NONCE_BYTES = 24
KEY_BYTES = 32

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyFileError(ValueError):
    """A key file that cannot be used; the message says why in one line (never a secret)."""


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(type, body) of each PEM block in `data`."""
    text = data.decode("ascii", errors="replace")
    blocks: list[tuple[str, bytes]] = []
    lines = iter(text.splitlines())
    for line in lines:
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            kind = line[len("-----BEGIN ") : -len("-----")]
            body: list[str] = []
            for inner in lines:
                inner = inner.strip()
                if inner == f"-----END {kind}-----":
                    break
                if ":" in inner:  # RFC 1421 headers: none in cosign's files
                    continue
                body.append(inner)
            else:
                raise KeyFileError(f"the PEM block {kind!r} has no END line")
            try:
                blocks.append((kind, base64.b64decode("".join(body), validate=True)))
            except binascii.Error:
                raise KeyFileError(f"the PEM block {kind!r} is not base64") from None
    return blocks


def _pem(kind: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(password)


def seal_private_key(key: ec.EllipticCurvePrivateKey, password: bytes) -> bytes:
    """The `ENCRYPTED SIGSTORE PRIVATE KEY` PEM of `key`, sealed with `password`, as
    `cosign generate-key-pair` writes it (scrypt N=65536, r=8, p=1)."""
    from nacl.secret import SecretBox

    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    box = SecretBox(_derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    ciphertext = box.encrypt(der, nonce).ciphertext
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return _pem(SIGSTORE_PRIVATE_KEY, json.dumps(document, separators=(",", ":")).encode())


def _field(document: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(document, dict) or name not in document:
            raise KeyFileError(f"the sealed key has no {'.'.join(path)}")
        document = document[name]
    return document


def _b64_field(document: Any, *path: str) -> bytes:
    value = _field(document, *path)
    try:
        if not isinstance(value, str):
            raise binascii.Error
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise KeyFileError(f"the sealed key's {'.'.join(path)} is not base64") from None


def _open_sealed(body: bytes, password: bytes) -> bytes:
    """The PKCS#8 DER inside a sealed key's JSON document."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        document = json.loads(body)
    except ValueError:
        raise KeyFileError("the sealed key is not cosign's JSON document") from None
    if _field(document, "kdf", "name") != "scrypt":
        raise KeyFileError("the sealed key's kdf is not scrypt")
    if _field(document, "cipher", "name") != "nacl/secretbox":
        raise KeyFileError("the sealed key's cipher is not nacl/secretbox")
    n, r, p = (_field(document, "kdf", "params", name) for name in ("N", "r", "p"))
    if n not in ALLOWED_SCRYPT_N or r != SCRYPT_R or p != SCRYPT_P:
        raise KeyFileError(
            f"unsupported scrypt parameters N={n} r={r} p={p} "
            "(cosign's are N=32768, 65536 or 131072 with r=8, p=1)"
        )
    salt = _b64_field(document, "kdf", "salt")
    nonce = _b64_field(document, "cipher", "nonce")
    ciphertext = _b64_field(document, "ciphertext")
    if len(nonce) != NONCE_BYTES:
        raise KeyFileError("the sealed key's nonce is not 24 bytes")
    try:
        return SecretBox(_derive(password, salt, n, r, p)).decrypt(ciphertext, nonce)
    except CryptoError:
        raise KeyFileError("wrong password for the private key (or a damaged key file)") from None


def load_private_key(data: bytes, password: bytes) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 key of a cosign private key file (either PEM type); signing keys of
    other kinds are refused with a one-line reason."""
    blocks = [(kind, body) for kind, body in _pem_blocks(data) if kind in PRIVATE_KEY_TYPES]
    if not blocks:
        raise KeyFileError(
            f"not a cosign private key (expected a PEM block {SIGSTORE_PRIVATE_KEY!r} "
            f"or {COSIGN_PRIVATE_KEY!r})"
        )
    der = _open_sealed(blocks[0][1], password)
    try:
        # cosign writes PKCS#8; older tools sealed SEC 1 EC keys, which load the same way.
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError("the sealed private key is not a key cosign writes") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"only ECDSA P-256 keys sign (this one is {describe_key(key)})")
    return key


def load_public_key(data: bytes) -> PublicKey:
    """A PKIX `PUBLIC KEY` PEM (cosign.pub): ECDSA P-256/384/521, RSA or Ed25519."""
    if not any(kind == PUBLIC_KEY_TYPE for kind, _ in _pem_blocks(data)):
        raise KeyFileError("not a public key (expected a PEM block 'PUBLIC KEY', as cosign.pub)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError("the PUBLIC KEY block is not a key cosign can use") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise KeyFileError(f"unsupported public key type {describe_key(key)}")
    return key


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def describe_key(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(key).__name__


def key_id(key: PublicKey) -> str:
    """A short, stable name of a public key: sha256 of its PKIX DER, as `sha256:` + 16 hex."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes


def generate_key_pair(password: bytes) -> KeyPair:
    """A new ECDSA P-256 key pair: the sealed private key and the public key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(seal_private_key(key, password), public_key_pem(key.public_key()))


def _ecdsa_hashes(curve: ec.EllipticCurve) -> list[hashes.HashAlgorithm]:
    # cosign verifies with SHA-256 whatever the curve; other sigstore clients hash P-384 and
    # P-521 signatures with SHA-384 and SHA-512: both are accepted.
    larger = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(curve.name)
    return [hashes.SHA256(), *([larger] if larger else [])]


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """An ASN.1 DER ECDSA-SHA256 signature of `data`, as cosign makes them."""
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _ecdsa_verifies(
    key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(algorithm))
    except (InvalidSignature, ValueError):
        return False
    return True


def verifies(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether `signature` is `key`'s over `data` (ECDSA DER, RSA PKCS#1 v1.5, Ed25519)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            return any(_ecdsa_verifies(key, signature, data, h) for h in _ecdsa_hashes(key.curve))
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
