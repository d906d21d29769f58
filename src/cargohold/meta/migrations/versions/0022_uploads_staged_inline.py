"""An upload session's bytes kept in its row while they are few (the S3 driver's small
uploads: a PATCH then costs one row write instead of several requests to the bucket).
NULL: the bytes, if any, are staged in the blob store. `held_until`: while a request appends
to such a session, until when it holds it (the blob store's lease does that for the others).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("staged", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("held_until", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("held_until")
        batch.drop_column("staged")
