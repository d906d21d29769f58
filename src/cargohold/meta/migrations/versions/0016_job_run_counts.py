"""How many jobs of each kind ended, and how: counters every process that runs jobs (server or
`cargohold worker`, on any machine) adds to, which /metrics reads when scraped.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_table(
        "job_run_counts",
        sa.Column("kind", sa.String(64), primary_key=True),
        # succeeded, failed
        sa.Column("result", sa.String(16), primary_key=True),
        sa.Column("runs", sa.BigInteger, nullable=False),
    )
    # The runs recorded so far count: a counter that starts at history, not at zero.
    op.execute(
        "INSERT INTO job_run_counts (kind, result, runs)"
        " SELECT kind, state, COUNT(*) FROM job_runs"
        " WHERE state IN ('succeeded', 'failed') GROUP BY kind, state"
    )


def downgrade() -> None:
    op.drop_table("job_run_counts")
