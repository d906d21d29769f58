"""Revocations of registry tokens, as every server process reads them: a token of the subject
issued in the change's second or before is refused, a later one counts, and rows older than
any token can live are deleted."""

from __future__ import annotations

from cargohold.meta.store import MetadataStore
from cargohold.meta.token_revocations import TokenRevocationRecords, revoke_tokens
from cargohold.services.token_revocations import PURGE_MARGIN_SECONDS, TokenRevocations


def test_tokens_issued_until_the_change_are_refused(meta: MetadataStore) -> None:
    now = [10_000.5]
    records = TokenRevocationRecords(meta.db)
    revocations = TokenRevocations(records, 300, lambda: now[0])
    with meta.db.transaction() as tx:
        revoke_tokens(tx, "robot$ci", now[0])
        revoke_tokens(tx, "old", now[0] - 300 - PURGE_MARGIN_SECONDS - 1)
    assert not revocations.refused("robot$ci", 9_000)  # nothing read yet
    revocations.refresh()
    assert revocations.refused("robot$ci", 9_000)
    assert revocations.refused("robot$ci", 10_000)  # `iat` is whole seconds
    assert revocations.refused("robot$ci", 10_001)  # within the grace after the change
    assert not revocations.refused("robot$ci", 10_002)
    assert not revocations.refused("someone-else", 9_000)
    # Older than any token can live: not read, and deleted.
    assert not revocations.refused("old", 0)
    assert records.since(0) == {"robot$ci": 10_000.5}
    # Revoked again later: the later time counts (one row per subject).
    now[0] += 60
    with meta.db.transaction() as tx:
        revoke_tokens(tx, "robot$ci", now[0])
    revocations.refresh()
    assert revocations.refused("robot$ci", 10_002)
    # An older revocation committed later does not move the time back.
    with meta.db.transaction() as tx:
        revoke_tokens(tx, "robot$ci", 10_000.5)
    revocations.refresh()
    assert revocations.refused("robot$ci", 10_002)
