"""Where a blob's bytes are in the object store when not at its digest's key: a chunked
upload's parts completed where they were sent (`<prefix>located/<session>/<n>`), with no
copy to the digest's key (decision 055). The S3 driver reads a blob there when a row says so.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"


def upgrade() -> None:
    op.create_table(
        "blob_locations",
        sa.Column("digest", sa.String(255), primary_key=True),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
    )
    op.create_index("ix_blob_locations_key", "blob_locations", ["object_key"])


def downgrade() -> None:
    op.drop_index("ix_blob_locations_key", table_name="blob_locations")
    op.drop_table("blob_locations")
