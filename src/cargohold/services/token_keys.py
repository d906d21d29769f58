"""The ES256 keys that sign registry tokens: PEM files in one directory, shared by every node,
or PEM blocks given in the configuration (`auth_token_keys`, ConfiguredKeys).

Each file `key-NNNN.pem` holds a P-256 private key (PKCS#8, mode 0600). The highest number
signs; every key in the directory verifies, so a rotation adds a key, tokens signed with the
old one stay valid until they expire, and the old file can be removed after the longest
token lifetime. A key is named in tokens by its `kid`, the libtrust fingerprint Docker's
tools use. Files are created with a hard link, which fails if the name exists, so two nodes
starting (or rotating) at once never overwrite each other's key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_KEY_FILE = re.compile(r"key-(\d{4,})\.pem")
# One PEM block, its label the group: a private key is PKCS#8 `PRIVATE KEY` or SEC 1
# `EC PRIVATE KEY`; `EC PARAMETERS` (what `openssl ecparam -genkey` prints first) is skipped.
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)
_PRIVATE_KEY_LABELS = ("PRIVATE KEY", "EC PRIVATE KEY")
_SKIPPED_LABELS = ("EC PARAMETERS",)
# The ring reads the directory again at most this often: when a token names an unknown kid (a
# key another node rotated in is found; forged kids cannot make every request read the disk)
# and when it signs (a key added by a rotation elsewhere signs here too).
RELOAD_INTERVAL_SECONDS = 5.0


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """libtrust's key id: the first 240 bits of the SHA-256 of the DER public key, base32,
    in twelve groups of four separated by colons."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class SigningKey:
    number: int
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()


class TokenKeyError(Exception):
    """A key file that cannot be read as a P-256 private key."""


class KeysInConfiguration(TokenKeyError):
    """A rotation asked of keys given in the configuration: the message says how to rotate
    them there."""


def _load(path: Path, number: int) -> SigningKey:
    return _parse(path.read_bytes(), number, str(path))


def _parse(pem: bytes, number: int, where: str) -> SigningKey:
    """A P-256 private key from PEM; TokenKeyError names `where`, never the key's text."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenKeyError(f"{where}: not a PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise TokenKeyError(f"{where}: not a P-256 (ES256) key")
    return SigningKey(number, key_id(key.public_key()), key)


@functools.lru_cache(maxsize=2)
def configured_keys(text: str) -> tuple[SigningKey, ...]:
    """The keys of `auth_token_keys`: one or more PEM private keys one after the other, the
    last one signing. Raises TokenKeyError (naming a key by its place, never its text).
    Parsed once per process: the settings' validation and the wiring ask for the same text."""
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text)]
    if not blocks or _PEM_BLOCK.sub("", text).strip():
        escaped = "\\n" in text and "\n" not in text.strip()
        hint = " (the text holds \\n escapes where line breaks belong)" if escaped else ""
        raise TokenKeyError(
            "auth_token_keys: expected PEM private keys (-----BEGIN PRIVATE KEY----- ...),"
            f" one after the other, and nothing else{hint}"
        )
    keys: list[SigningKey] = []
    for place, (label, block) in enumerate(blocks, start=1):
        if label in _SKIPPED_LABELS:
            continue
        if label not in _PRIVATE_KEY_LABELS:
            raise TokenKeyError(
                f"auth_token_keys, block {place}: {label} is not an unencrypted private key"
            )
        number = len(keys) + 1
        keys.append(_parse(block.encode(), number, f"auth_token_keys, key {number}"))
    if not keys:
        raise TokenKeyError("auth_token_keys: no private key among the PEM blocks")
    if len({key.kid for key in keys}) != len(keys):
        raise TokenKeyError("auth_token_keys: the same key is given twice")
    return tuple(keys)


class ConfiguredKeys:
    """The keys given in the configuration: every node that has the same settings signs and
    verifies with the same keys, and nothing is written. The last one signs. A rotation takes
    two restarts of every node: first the new key goes before the last one (every node then
    verifies it, none signs with it), then it moves last (nodes restarted sooner sign with it,
    the others already verify it)."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        self._keys = {key.kid: key for key in keys}
        self._current = keys[-1]

    def current(self) -> SigningKey:
        return self._current

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        found = self._keys.get(kid)
        return found.public_key if found else None

    def rotate(self) -> SigningKey:
        raise KeysInConfiguration(
            "the signing keys are given in the configuration (auth_token_keys): rotate there,"
            " in two restarts of every server (add the new key before the last one, then move"
            " it last) and remove the old key after auth_token_expiry_seconds"
        )


class KeyRing:
    """The keys of a directory, read on first use (building one touches no file)."""

    def __init__(self, directory: Path, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] | None = None
        self._loaded_at = 0.0
        # Each key file parsed so far, by what identifies its content (name, inode, mtime):
        # a re-read lists the directory and parses only files it has not seen, so the
        # periodic re-read (which may run on the event loop) costs a listing, not a PEM parse
        # of every key.
        self._parsed: dict[tuple[str, int, int], SigningKey] = {}

    def _read(self) -> dict[str, SigningKey]:
        keys: dict[str, SigningKey] = {}
        parsed: dict[tuple[str, int, int], SigningKey] = {}
        if self.directory.is_dir():
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    match = _KEY_FILE.fullmatch(entry.name)
                    if not match:
                        continue
                    stat = entry.stat()
                    seen = (entry.name, stat.st_ino, stat.st_mtime_ns)
                    key = self._parsed.get(seen) or _load(Path(entry.path), int(match.group(1)))
                    parsed[seen] = keys[key.kid] = key
        self._parsed = parsed
        self._loaded_at = self.clock()
        return keys

    def _ensure(self) -> dict[str, SigningKey]:
        with self._lock:
            if self._keys is None:
                self._keys = self._read()
                if not self._keys:
                    self._add(1)
                    self._keys = self._read()
            return self._keys

    def _add(self, number: int) -> bool:
        """Write key number `number`; False when that file exists already."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".key-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            os.link(temporary, self.directory / f"key-{number:04d}.pem")
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)

    def current(self) -> SigningKey:
        """The key that signs: the highest number in the directory as read at most
        RELOAD_INTERVAL_SECONDS ago, so a key `cargohold admin rotate-token-key` (or another
        node) added signs here too within that time."""
        keys = self._ensure()
        if self.clock() - self._loaded_at >= RELOAD_INTERVAL_SECONDS:
            with self._lock:
                self._keys = keys = self._read() or keys
        return max(keys.values(), key=lambda k: k.number)

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The public key of that kid, or None when no key of the directory has it."""
        keys = self._ensure()
        found = keys.get(kid)
        if found is None and self.clock() - self._loaded_at >= RELOAD_INTERVAL_SECONDS:
            with self._lock:
                self._keys = keys = self._read()
            found = keys.get(kid)
        return found.public_key if found else None

    def rotate(self) -> SigningKey:
        """Add a key that signs from now on; the others keep verifying."""
        while True:
            number = self.current().number + 1
            if self._add(number):
                break
            # Another node rotated at the same moment: read its key and go past it.
            with self._lock:
                self._keys = self._read()
        with self._lock:
            self._keys = self._read()
        return self.current()


# What signs and verifies registry tokens: a directory's keys, or the configuration's.
SigningKeys = KeyRing | ConfiguredKeys
