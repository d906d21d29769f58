"""Admissions: what the Kubernetes admission webhook let run, where and when (one row per
cluster, namespace, workload, repository and digest; admitting it again moves its last time).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.create_table(
        "admissions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(150), nullable=False),
        sa.Column("image", sa.String(1024), nullable=False),
        sa.Column("first_admitted_at", sa.Float, nullable=False),
        sa.Column("last_admitted_at", sa.Float, nullable=False),
        sa.UniqueConstraint(
            "cluster", "namespace", "kind", "name", "repository", "digest", name="uq_admissions"
        ),
    )
    op.create_index(
        "ix_admissions_repository_digest",
        "admissions",
        ["repository", "digest", "last_admitted_at"],
    )
    op.create_index("ix_admissions_last", "admissions", ["last_admitted_at"])


def downgrade() -> None:
    op.drop_index("ix_admissions_last", "admissions")
    op.drop_index("ix_admissions_repository_digest", "admissions")
    op.drop_table("admissions")
