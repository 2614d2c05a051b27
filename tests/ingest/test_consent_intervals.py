"""Every interval in which a member had "keep my listening" off is honoured by polls and imports, however old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from recs.core.domain import PlayRow
from recs.storage import Database, migrate
from recs.storage import members as mq
from recs.storage import schema as s
from recs.storage import sync as sq
from recs.storage.imports import insert_export_plays, insert_export_short_streams
from recs.storage.listening import insert_plays
from recs.usecases import accounts, ingest
from recs.usecases.imports.service import run_import

from .conftest import Household
from .test_faults import synced


def stored_ms(household: Household, member_id: int, source: str | None = None) -> set[int]:
    with household.instance.db.read() as conn:
        return {int(at.timestamp() * 1000) for at, _ in sq.play_keys(conn, member_id, source)}


def add_plays(household: Household, user: str, n: int) -> list[int]:
    """n plays of a known track, 40 s apart, ending now; returns their played_at (Unix ms)."""
    track_id = household.control.ground_truth(user)["plays"][-1]["track_id"]
    now_ms = int(household.now().timestamp() * 1000)
    times = [now_ms - 40_000 * i - 1 for i in range(n)]
    plays = [{"track_id": track_id, "played_at_ms": t, "ms_played": 35_000} for t in times]
    assert household.control.add_plays(user, plays) == n
    return times


def in_any(ms: int, intervals: list[tuple[datetime, datetime]]) -> bool:
    return any(a.timestamp() * 1000 <= ms < b.timestamp() * 1000 for a, b in intervals)


def test_plays_from_an_earlier_off_interval_stay_out_after_a_later_one(household: Household) -> None:
    """The attack: off; 5 plays; on; poll (0); 2 plays; poll; off and on again for 5 min; the next poll
    stored the 5 plays of the first interval, because only the latest interval was remembered."""
    (member_id,) = synced(household)
    user = household.users[0]
    store = "store"

    def consent(granted: bool) -> datetime:
        accounts.set_consent(household.instance, member_id, store, granted, household.now)
        return household.now()

    def poll() -> ingest.SyncReport:
        report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep, force=True)
        assert not report.errors, report.errors
        return report

    household.sleep(60)
    off1 = consent(False)
    household.sleep(300)
    first = add_plays(household, user, 5)
    household.sleep(60)
    on1 = consent(True)
    household.sleep(60)
    poll()
    assert not set(first) & stored_ms(household, member_id)
    household.sleep(300)
    second = add_plays(household, user, 2)
    poll()
    assert set(second) <= stored_ms(household, member_id)
    household.sleep(60)
    off2 = consent(False)
    household.sleep(300)
    on2 = consent(True)
    household.sleep(60)
    poll()
    have = stored_ms(household, member_id)
    assert not set(first) & have, "plays from the first off interval were stored"
    assert not [t for t in have if in_any(t, [(off1, on1), (off2, on2)])]
    with household.instance.db.read() as conn:
        assert mq.off_intervals(conn, member_id) == [(off1, on1), (off2, on2)]
        # A time storing was off is not a gap.
        assert not sq.list_gaps(conn, member_id)


def test_an_export_import_leaves_out_an_old_off_interval(household: Household, tmp_path: Path) -> None:
    (member_id,) = synced(household)
    user = household.users[0]
    household.sleep(2 * 86400)
    accounts.set_consent(household.instance, member_id, "store", False, household.now)
    off = household.now()
    household.sleep(86400)  # a day of listening with storing off
    accounts.set_consent(household.instance, member_id, "store", True, household.now)
    on = household.now()
    household.sleep(20 * 86400)  # weeks later, far beyond any poll's look-back
    during = [
        p
        for p in household.control.ground_truth(user, since=off)["plays"]
        if off.timestamp() * 1000 <= p["played_at_ms"] < on.timestamp() * 1000
    ]
    assert len(during) > 5, "the member listened while storing was off"
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(household.control.export_zip(user))
    report = run_import(household.instance.db, household.instance.settings, member_id, [path], clock=household.now)
    assert report.plays_imported > 100
    off_ms, on_ms = off.timestamp() * 1000, on.timestamp() * 1000
    have = stored_ms(household, member_id)
    assert not [t for t in have if off_ms <= t < on_ms], "plays from while storing was off were imported"
    assert [t for t in have if t < off_ms] and [t for t in have if t >= on_ms]
    with household.instance.db.read() as conn:
        skips = conn.execute(
            sa.select(sa.func.count())
            .select_from(s.short_streams)
            .where(
                s.short_streams.c.member_id == member_id,
                s.short_streams.c.ended_at >= off,
                s.short_streams.c.ended_at < on,
            )
        ).scalar_one()
    assert skips == 0, "short streams from while storing was off were imported"


def test_nothing_is_written_while_storing_is_off(household: Household) -> None:
    """A write that began before a revocation (an import's next batch) stores nothing, however old its rows."""
    (member_id,) = synced(household)
    with household.instance.db.write() as conn:
        before = len(sq.play_keys(conn, member_id))
        track_id = conn.execute(sa.select(s.plays.c.track_id).where(s.plays.c.member_id == member_id)).scalar()
        assert track_id is not None
        mq.set_consent(conn, member_id, "store", False, household.now())
    row = PlayRow(played_at=datetime(2020, 1, 1, tzinfo=UTC), track_id=track_id, source="export")
    with household.instance.db.write() as conn:
        insert_export_plays(conn, member_id, [row], tolerance_s=5, minute_precision=False)
        insert_export_short_streams(
            conn, member_id, [(row.played_at, track_id, 1000, "fwdbtn")], None, minute_precision=False
        )
        insert_plays(conn, member_id, [row])
        assert len(sq.play_keys(conn, member_id)) == before
        assert not conn.execute(sa.select(s.short_streams.c.id).where(s.short_streams.c.member_id == member_id)).first()


def test_the_migration_keeps_the_interval_already_stored(tmp_path: Path) -> None:
    """An install upgraded from 0001: its remembered interval, and a consent still off, become intervals."""
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    migrate.upgrade(db, "0001")
    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    day = timedelta(days=1)
    with db.write() as conn:
        # Rows as 0001 held them (raw SQL: today's schema module may have columns 0001 lacks).
        for member_id, name in ((1, "a"), (2, "b"), (3, "c")):
            conn.execute(
                sa.text(
                    "INSERT INTO members (id, spotify_id, display_name, role, timezone, created_at, "
                    "reconnect_needed, not_allowlisted) VALUES (:id, :name, :name, 'member', 'UTC', :t, 0, 0)"
                ),
                {"id": member_id, "name": name, "t": t0.replace(tzinfo=None)},
            )
        for member_id, granted, granted_at, revoked in ((1, 1, t0, None), (2, 0, t0, t0 + 3 * day), (3, 0, None, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO consents (member_id, purpose, granted, granted_at, revoked_at, updated_at) "
                    "VALUES (:m, 'store', :g, :ga, :ra, :t)"
                ),
                {
                    "m": member_id,
                    "g": granted,
                    "ga": granted_at and granted_at.replace(tzinfo=None),
                    "ra": revoked and revoked.replace(tzinfo=None),
                    "t": t0.replace(tzinfo=None),
                },
            )
        conn.execute(
            sa.text("INSERT INTO sync_cursors (member_id, stream, cursor) VALUES (1, 'store_paused', :c)"),
            {"c": f"{(t0 + day).isoformat()}/{(t0 + 2 * day).isoformat()}"},
        )
        conn.execute(sa.text("INSERT INTO sync_cursors (member_id, stream, cursor) VALUES (1, 'recently_played', '7')"))
    migrate.upgrade(db)
    with db.read() as conn:
        assert mq.off_intervals(conn, 1) == [(t0 + day, t0 + 2 * day)]
        assert mq.off_intervals(conn, 2) == [(t0 + 3 * day, None)]
        assert mq.off_intervals(conn, 3) == []  # never granted: no interval (its history may be imported)
        assert sq.get_cursor(conn, 1, "store_paused") is None
        # Every later migration keeps the member's rows (SQLite rebuilding `members` once cascaded to them all).
        assert conn.execute(sa.text("SELECT cursor FROM sync_cursors WHERE stream = 'recently_played'")).scalar() == "7"
    migrate.downgrade(db, "0001")
    with db.read() as conn:
        cursor = conn.execute(sa.text("SELECT cursor FROM sync_cursors WHERE stream = 'store_paused'")).scalar()
    assert cursor == f"{(t0 + day).isoformat()}/{(t0 + 2 * day).isoformat()}"
    db.engine.dispose()
