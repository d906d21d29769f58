"""Repository rows, as the write paths that put something into a repository need them."""

from __future__ import annotations

from cargohold.meta.fastpath import Transaction


def ensure_repository_id(tx: Transaction, name: str, now: float) -> int:
    """The repository's id, its row created on first use (a push into a new name)."""
    row = tx.one("SELECT id FROM repositories WHERE name = ?", (name,))
    if row is None:
        row = tx.one(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?)"
            " ON CONFLICT (name) DO NOTHING RETURNING id",
            (name, now),
        ) or tx.one("SELECT id FROM repositories WHERE name = ?", (name,))
    assert row is not None
    return int(row[0])
