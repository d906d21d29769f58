"""Repository rows: created on first push, listed while they hold something, looked up by name.

`RepositoryRecords` answers whether a repository exists and lists the catalog; the helpers
below are shared by the modules whose transactions touch repository rows.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from cargohold.meta.database import Database
from cargohold.meta.fastpath import Transaction
from cargohold.meta.models import repositories

# The repositories of a project, as a condition on `repositories r`: the project itself and
# everything below it. Its parameters: project_params(project).
IN_PROJECT = "(r.name = ? OR r.name LIKE ? ESCAPE '!')"


def project_params(project: str) -> tuple[str, str]:
    """IN_PROJECT's parameters: the name, and `<project>/%` with LIKE's wildcards escaped."""
    escaped = project.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return project, escaped + "/%"


SELECT_REPOSITORY_ID = "SELECT id FROM repositories WHERE name = ?"


def find_repository_id(source: Transaction | Database, name: str) -> int | None:
    """The repository's id (read in a transaction or on its own); None if it has no row."""
    row = source.one(SELECT_REPOSITORY_ID, (name,))
    return None if row is None else int(row[0])


def ensure_repository_id(tx: Transaction, name: str, now: float) -> int:
    """The repository's id, its row created on first use (a push into a new name)."""
    row = tx.one(SELECT_REPOSITORY_ID, (name,))
    if row is None:
        row = tx.one(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?)"
            " ON CONFLICT (name) DO NOTHING RETURNING id",
            (name, now),
        ) or tx.one(SELECT_REPOSITORY_ID, (name,))
    assert row is not None
    return int(row[0])


# Bumped with every tag change of a repository; the tag page cache keys on it.
BUMP_TAGS_VERSION = "UPDATE repositories SET tags_version = tags_version + 1 WHERE id = ?"

# A repository is listed while it holds a manifest or a push into it is in flight. The row
# itself stays (a push may be linking into it right now); an emptied repository drops out
# of listings once its last links are older than the grace period.
# Parameter: the link cutoff (see MetadataStore.link_grace_seconds).
LISTED = (
    "(EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)"
    " OR EXISTS (SELECT 1 FROM repository_blobs rb"
    " WHERE rb.repository_id = r.id AND rb.linked_at >= ?))"
)


def repository_id_of(conn: sa.Connection, name: str) -> int | None:
    return conn.execute(
        sa.select(repositories.c.id).where(repositories.c.name == name)
    ).scalar_one_or_none()


class RepositoryRecords:
    def __init__(self, db: Database, link_grace_seconds: float) -> None:
        self.db = db
        # Links younger than this keep an emptied repository listed (see LISTED).
        self.link_grace_seconds = link_grace_seconds

    def exists(self, name: str) -> bool:
        """Whether the repository's row exists (listed or not)."""
        return self.db.one("SELECT 1 FROM repositories WHERE name = ?", (name,)) is not None

    def catalog(self, limit: int, last: str | None) -> list[str]:
        """Listed repositories in byte order after `last`."""
        return self.db.column(
            f"SELECT r.name FROM repositories r WHERE {LISTED} AND r.name > ?"
            " ORDER BY r.name LIMIT ?",
            (time.time() - self.link_grace_seconds, last or "", limit),
        )
