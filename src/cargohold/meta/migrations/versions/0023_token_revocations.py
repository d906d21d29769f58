"""When a user's or robot's registry tokens stopped counting: its credentials or rights changed
(a robot revoked, deleted or given a new secret; a user's password set, the user disabled,
deleted, made no longer a system admin, or removed from a project or given another role).
A token issued at or before `revoked_at` is refused from then on; rows older than any token
can live are deleted.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("revoked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("token_revocations")
