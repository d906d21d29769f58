"""Manifests found by digest alone: a scan report, a stored analysis, the scanner's "a
repository that stores this digest" and the failed-scans report look manifests up by digest
across repositories; the only index led with the repository, so each lookup read the table.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    op.create_index("ix_manifests_digest", "manifests", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_manifests_digest", table_name="manifests")
