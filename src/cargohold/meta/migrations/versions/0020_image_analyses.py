"""Image analyses (`cargohold analyze` through the admin API): one stored document per image
manifest, computed the first time it is asked for.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"


def upgrade() -> None:
    op.create_table(
        "image_analyses",
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("format_version", sa.Integer, nullable=False),
        sa.Column("analyzed_at", sa.Float, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_analyses")
