"""sync lease per member: polling one member is single-flight across processes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:14:51.285825
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sync_lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sync_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("sync_lease_until")
        batch_op.drop_column("sync_lease_owner")
