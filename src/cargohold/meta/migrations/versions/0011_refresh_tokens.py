"""Refresh tokens: long-lived stand-ins for a sign-in that get registry tokens without the
password (the token endpoint's `offline_token=true` and OAuth2 `access_type=offline`).

Kept only as SHA-256 digests, like personal access tokens (docs/decisions/022). Each belongs
to exactly one user or robot; one obtained with a personal access token also names that token,
so deleting the token ends it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "robot_id", sa.Integer, sa.ForeignKey("robots.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "access_token_id",
            sa.Integer,
            sa.ForeignKey("access_tokens.id", ondelete="CASCADE"),
            nullable=True,
        ),
        # The user's or robot's name when the token was made (for the audit log and listings).
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (robot_id IS NULL)", name="ck_refresh_tokens_one_holder"
        ),
    )
    op.create_index("ix_refresh_tokens_user", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_robot", "refresh_tokens", ["robot_id"])
    op.create_index("ix_refresh_tokens_access_token", "refresh_tokens", ["access_token_id"])
    op.create_index("ix_refresh_tokens_expires", "refresh_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_table("refresh_tokens")
