"""NuGet and Packagist package names are case-insensitive: the vulnerability database keys
their records by the lower-case name (scan/osv.py normalize_name). Rows written before are
brought to lower case; a row that would then duplicate another is dropped.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"

_CASE_INSENSITIVE = "('NuGet', 'Packagist')"


def upgrade() -> None:
    for table, key in (("vuln_affected", "record_id"), ("vuln_changes", "serial")):
        op.execute(
            f"DELETE FROM {table} WHERE ecosystem IN {_CASE_INSENSITIVE}"
            f" AND name <> lower(name) AND EXISTS (SELECT 1 FROM {table} other"
            f" WHERE other.{key} = {table}.{key} AND other.ecosystem = {table}.ecosystem"
            f" AND other.name = lower({table}.name))"
        )
        op.execute(
            f"UPDATE {table} SET name = lower(name)"
            f" WHERE ecosystem IN {_CASE_INSENSITIVE} AND name <> lower(name)"
        )


def downgrade() -> None:
    # Nothing to restore: each record's JSON keeps its own spelling, and code before this
    # revision only misses the names that were not lower case until their records change.
    pass
