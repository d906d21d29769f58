"""Models for signature enforcement: a project's trusted keys and its switch (responses), and
the bodies that change them (requests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc, utc_or_none

if TYPE_CHECKING:  # a server with the signatures extension off never loads it
    from cargohold.meta import signatures as facts


class TrustedKey(Model):
    """A public key a project trusts: its signatures let an image be pulled when the project
    enforces signatures."""

    project: str
    fingerprint: Annotated[
        str, msgspec.Meta(description="sha256: and 16 hex digits of the key's PKIX DER")
    ]
    algorithm: Annotated[str, msgspec.Meta(description="ECDSA P-256 (secp256r1), RSA, Ed25519")]
    pem: str
    added_at: UtcTime
    added_by: str

    @classmethod
    def of(cls, row: facts.TrustedKeyRow) -> TrustedKey:
        return cls(
            project=row.project,
            fingerprint=row.fingerprint,
            algorithm=row.algorithm,
            pem=row.pem,
            added_at=utc(row.added_at),
            added_by=row.added_by,
        )


class TrustedKeyList(Model):
    keys: list[TrustedKey]


class TrustPolicy(Model):
    """Whether a project refuses pulls of images none of its trusted keys signed."""

    project: str
    enforce: bool
    updated_at: Annotated[UtcTime | None, msgspec.Meta(description="null: never set")]
    updated_by: str | None
    keys: list[TrustedKey]

    @classmethod
    def of(cls, enforcement: facts.Enforcement, keys: list[facts.TrustedKeyRow]) -> TrustPolicy:
        return cls(
            project=enforcement.project,
            enforce=enforcement.enforce,
            updated_at=utc_or_none(enforcement.updated_at),
            updated_by=enforcement.updated_by,
            keys=[TrustedKey.of(row) for row in keys],
        )


# -- request bodies ------------------------------------------------------------------------


class AddTrustedKey(Model):
    """The body of POST .../trust/keys."""

    pem: Annotated[
        str,
        msgspec.Meta(
            description="A PKIX PEM public key (cosign.pub): ECDSA P-256/P-384/P-521, RSA or "
            "Ed25519; at most 16 KiB"
        ),
    ]


class SetEnforcement(Model):
    """The body of PUT .../trust."""

    enforce: Annotated[
        bool, msgspec.Meta(description="true: refuse pulls of images no trusted key signed")
    ]


RESPONSE_MODELS: list[type[msgspec.Struct]] = [TrustedKey, TrustedKeyList, TrustPolicy]
REQUEST_MODELS: list[type[msgspec.Struct]] = [AddTrustedKey, SetEnforcement]
