"""Access control: users, projects and their members, robot accounts, personal access
tokens and the login-failure counters behind slowdown and lockout.

Secrets are never stored: passwords as argon2 hashes, robot secrets and personal access
tokens as SHA-256 digests (they are long random strings; see docs/decisions/022).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def _name(length: int = 255) -> sa.types.TypeEngine[str]:
    # Names sort by bytes on both stores, like repository names (models.byte_ordered).
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", _name(), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("system_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", _name(), nullable=False, unique=True),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "project_members",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_project_members_user", "project_members", ["user_id"])
    op.create_table(
        "robots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", _name(), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        # NULL: never expires (only a system admin may create such a robot).
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("secret_updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "robot_scopes",
        sa.Column(
            "robot_id", sa.Integer, sa.ForeignKey("robots.id", ondelete="CASCADE"), primary_key=True
        ),
        # A project name, or "*" for every project.
        sa.Column("project", _name(), primary_key=True),
        # Comma-separated, sorted.
        sa.Column("actions", sa.String(255), nullable=False),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_access_tokens_user_name"),
    )
    op.create_table(
        "login_failures",
        # "account" (a user or robot name) or "address" (a client address).
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.Float, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "login_failures",
        "access_tokens",
        "robot_scopes",
        "robots",
        "project_members",
        "projects",
        "users",
    ):
        op.drop_table(table)
