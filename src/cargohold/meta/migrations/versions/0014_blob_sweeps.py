"""Blobs say when a garbage collection began deleting their bytes: `swept_at`.

A collection deletes bytes between two transactions, holding no lock while it talks to the
blob store (an object store is a network away); the mark tells a push of the same digest
meanwhile to wait for the deletion before it writes (BlobRecords.sweep, decision 005).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("swept_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("swept_at")
