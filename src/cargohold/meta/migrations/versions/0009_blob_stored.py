"""Blobs say whether their bytes are durable: `stored` is true only once they are.

A push records the blob row first (it shields the bytes from garbage collection) and
marks it stored once the bytes are in place; a collection demotes a row before it deletes
the bytes. Rows that existed before this revision are assumed stored: `cargohold fsck`
finds the ones an older version left claiming bytes that were never written.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("stored", sa.Boolean, nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("stored")
