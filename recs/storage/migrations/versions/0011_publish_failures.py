"""a failed publish per member and playlist, with its reason

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 16:12:22.665627
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("published_playlists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("failure_detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("published_playlists", schema=None) as batch_op:
        batch_op.drop_column("failure_detail")
        batch_op.drop_column("failure")
        batch_op.drop_column("failed_at")
