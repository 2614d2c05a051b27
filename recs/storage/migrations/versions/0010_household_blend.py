"""household blend: consent purpose and the Blend's tables

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:13:03.414980
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD = "'store', 'train', 'publish'"
NEW = "'store', 'train', 'publish', 'blend'"


def _purposes(table: str, allowed: str) -> None:
    """Replace *table*'s purpose check (SQLite: by copying the table, as batch mode does)."""
    name = op.f(f"ck_{table}_purpose")
    check = f"purpose IN ({allowed})"
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.drop_constraint(name, type_="check")
            batch_op.create_check_constraint(name, sa.text(check))
    else:
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, sa.text(check))


def upgrade() -> None:
    _purposes("consents", NEW)
    _purposes("consent_intervals", NEW)
    # Every member has a row per purpose; the Blend starts off for everyone.
    op.execute(
        "INSERT INTO consents (member_id, purpose, granted, updated_at) "
        "SELECT id, 'blend', false, created_at FROM members"
    )
    op.create_table(
        "blends",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["model_runs.id"], name=op.f("fk_blends_run_id_model_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blends")),
    )
    op.create_table(
        "blend_enjoyment",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_blend_enjoyment_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["model_runs.id"], name=op.f("fk_blend_enjoyment_run_id_model_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_blend_enjoyment_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "member_id", "track_id", name=op.f("pk_blend_enjoyment")),
    )
    op.create_table(
        "blend_favourites",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_blend_favourites_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["model_runs.id"], name=op.f("fk_blend_favourites_run_id_model_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_blend_favourites_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "member_id", "track_id", name=op.f("pk_blend_favourites")),
    )
    op.create_table(
        "blend_members",
        sa.Column("blend_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tracks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blend_id"], ["blends.id"], name=op.f("fk_blend_members_blend_id_blends"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_blend_members_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("blend_id", "member_id", name=op.f("pk_blend_members")),
    )
    op.create_table(
        "blend_tracks",
        sa.Column("blend_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("shared_with", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blend_id"], ["blends.id"], name=op.f("fk_blend_tracks_blend_id_blends"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_blend_tracks_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_blend_tracks_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("blend_id", "position", name=op.f("pk_blend_tracks")),
    )


def downgrade() -> None:
    op.execute("DELETE FROM consent_intervals WHERE purpose = 'blend'")
    op.execute("DELETE FROM consents WHERE purpose = 'blend'")
    _purposes("consent_intervals", OLD)
    _purposes("consents", OLD)
    op.drop_table("blend_tracks")
    op.drop_table("blend_members")
    op.drop_table("blend_favourites")
    op.drop_table("blend_enjoyment")
    op.drop_table("blends")
