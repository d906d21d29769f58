"""Retention holds on projects, repositories and single images.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(150), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_holds_target", "holds", ["target"])


def downgrade() -> None:
    op.drop_table("holds")
