"""Signature enforcement on pull: trusted keys per project, the per-project switch, each
image's stored verdict, and the generation counter the signature gate reloads by.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_table(
        "trusted_keys",
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(80), primary_key=True),
        sa.Column("algorithm", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("added_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "signature_enforcement",
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("enforce", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "signature_verdicts",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("key_fingerprint", sa.String(80), nullable=True),
        sa.Column("computed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_signature_verdicts_project", "signature_verdicts", ["project"])
    # No seed row: the first change inserts it (meta/signatures.py), so that a migrated,
    # unused database holds no rows.
    op.create_table(
        "signature_generation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signature_generation")
    op.drop_index("ix_signature_verdicts_project", "signature_verdicts")
    op.drop_table("signature_verdicts")
    op.drop_table("signature_enforcement")
    op.drop_table("trusted_keys")
