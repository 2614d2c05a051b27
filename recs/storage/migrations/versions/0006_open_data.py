"""open data: a member's switch, and each recommendation's source

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:19:57.467200
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_data", sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_column("source")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("open_data")
