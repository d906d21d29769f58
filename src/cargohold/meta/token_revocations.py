"""When each subject's registry tokens stopped counting (raw statements on the Database's fast
path, decision 019). A change to a user's or robot's credentials or rights writes its row in
the change's own transaction (`revoke_tokens`), as does a project made private for the
anonymous tokens' pulls in it (`anonymous_in`); every server process reads the recent rows
every few seconds (services/token_revocations.py)."""

from __future__ import annotations

from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction

# The revocation of the anonymous tokens' pulls in one project (made private): a key no account
# can have (user names hold no ':', a robot's name starts with a prefix that holds none).
ANONYMOUS_IN = ":anonymous:"


def anonymous_in(project: str) -> str:
    """The subject under which the anonymous tokens' pulls in `project` are revoked."""
    return ANONYMOUS_IN + project


def revoke_tokens(tx: Transaction, subject: str, now: float) -> None:
    """Tokens of `subject` issued until now stop counting."""
    tx.execute(
        "INSERT INTO token_revocations (subject, revoked_at) VALUES (?, ?)"
        " ON CONFLICT (subject) DO UPDATE SET revoked_at = CASE"
        " WHEN excluded.revoked_at > token_revocations.revoked_at THEN excluded.revoked_at"
        " ELSE token_revocations.revoked_at END",
        (subject, now),
    )


class TokenRevocationRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def since(self, cutoff: float) -> dict[str, float]:
        """Subject -> revoked_at of the revocations after `cutoff`."""
        rows = self.db.rows(
            "SELECT subject, revoked_at FROM token_revocations WHERE revoked_at > ?", (cutoff,)
        )
        return {str(subject): float(at) for subject, at in rows}

    def purge_before(self, cutoff: float) -> int:
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM token_revocations WHERE revoked_at <= ?", (cutoff,))
