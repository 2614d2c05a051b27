"""consent intervals: every interval a purpose was off, not only the latest one

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:59:34.612848
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sync_cursors row that held the latest 'store' off interval ("<from>/<until>", ISO) before this table.
STORE_PAUSED = "store_paused"

intervals = sa.table(
    "consent_intervals",
    sa.column("member_id", sa.Integer()),
    sa.column("purpose", sa.String()),
    sa.column("off_from", sa.DateTime(timezone=True)),
    sa.column("off_until", sa.DateTime(timezone=True)),
)
cursors = sa.table("sync_cursors", sa.column("member_id", sa.Integer()), sa.column("stream"), sa.column("cursor"))


def _stored(value: datetime, dialect: str) -> datetime:
    """As recs.storage.schema.UTCDateTime writes it: naive UTC on SQLite, aware elsewhere."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.replace(tzinfo=None) if dialect == "sqlite" else value


def _iso(value: datetime | str) -> str:
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def upgrade() -> None:
    op.create_table(
        "consent_intervals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("off_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("off_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('store', 'train', 'publish')", name=op.f("ck_consent_intervals_purpose")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_consent_intervals_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_intervals")),
    )
    with op.batch_alter_table("consent_intervals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_intervals_member_id"), ["member_id"], unique=False)

    # The latest closed 'store' interval, kept until now in a sync_cursors row, moves here.
    bind = op.get_bind()
    rows = bind.execute(sa.select(cursors.c.member_id, cursors.c.cursor).where(cursors.c.stream == STORE_PAUSED)).all()
    for member_id, value in rows:
        start, _, end = str(value or "").partition("/")
        if start and end:
            bind.execute(
                intervals.insert().values(
                    member_id=member_id,
                    purpose="store",
                    off_from=_stored(datetime.fromisoformat(start), bind.dialect.name),
                    off_until=_stored(datetime.fromisoformat(end), bind.dialect.name),
                )
            )
    bind.execute(sa.delete(cursors).where(cursors.c.stream == STORE_PAUSED))
    # A purpose switched off after being granted, and still off: an open interval from then.
    op.execute(
        "INSERT INTO consent_intervals (member_id, purpose, off_from, off_until) "
        "SELECT member_id, purpose, revoked_at, NULL FROM consents "
        "WHERE granted = false AND revoked_at IS NOT NULL AND granted_at IS NOT NULL"
    )


def downgrade() -> None:
    # The latest closed 'store' interval goes back to its sync_cursors row; older ones are lost, as before.
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(intervals.c.member_id, sa.func.max(intervals.c.off_from))
        .where(intervals.c.purpose == "store", intervals.c.off_until.is_not(None))
        .group_by(intervals.c.member_id)
    ).all()
    for member_id, latest in rows:
        off_from, off_until = bind.execute(
            sa.select(intervals.c.off_from, intervals.c.off_until).where(
                intervals.c.member_id == member_id, intervals.c.purpose == "store", intervals.c.off_from == latest
            )
        ).one()
        cursor = f"{_iso(off_from)}/{_iso(off_until)}"
        bind.execute(sa.insert(cursors).values(member_id=member_id, stream=STORE_PAUSED, cursor=cursor))
    with op.batch_alter_table("consent_intervals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_intervals_member_id"))

    op.drop_table("consent_intervals")
