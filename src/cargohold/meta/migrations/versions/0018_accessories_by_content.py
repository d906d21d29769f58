"""Signature verdicts judged by content: the stored verdicts are dropped, to be computed again
with the rule of decision 043. Verdicts stored before it passed as accessories manifests that
only carried a `subject` or an accessory tag, and were kept for projects that do not enforce
(which nothing reads). Projects that enforce recompute each image on its next pull.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    op.execute("DELETE FROM signature_verdicts")
    # Running servers reload their signature gates when the generation moves.
    op.execute("UPDATE signature_generation SET generation = generation + 1")


def downgrade() -> None:
    # The verdicts are a cache of what the store holds: nothing to restore.
    pass
