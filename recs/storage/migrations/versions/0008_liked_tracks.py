"""liked tracks: "More like this" on a recommendation, a positive signal for training

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:18:58.539154
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "liked_tracks",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_liked_tracks_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_liked_tracks_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "track_id", name=op.f("pk_liked_tracks")),
    )


def downgrade() -> None:
    op.drop_table("liked_tracks")
