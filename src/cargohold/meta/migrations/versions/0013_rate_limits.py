"""Pull rate limits: one counter per caller (docs/decisions/024-pull-rate-limit-counters.md).

A row is a caller's current fixed window: `subject` names the caller's class and who they are
(`anonymous:192.0.2.1`, `user:alice`, `robot:robot$ci`), `started_at` when its first pull of
the window was counted, `pulls` how many were. Used only with the embedded counter store
(`pull_limit_store` empty); windows that ended are purged.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "pull_counters",
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("pulls", sa.Integer, nullable=False),
    )
    op.create_index("ix_pull_counters_started_at", "pull_counters", ["started_at"])


def downgrade() -> None:
    op.drop_table("pull_counters")
