"""Storage: migrations on SQLite and PostgreSQL, schema/migration agreement, idempotent plays, member cascade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from recs.core.domain import AlbumInfo, ArtistInfo, PlayRow, TrackInfo
from recs.storage import Database, migrate
from recs.storage import schema as s
from recs.storage.catalog import get_tracks, upsert_tracks
from recs.storage.listening import count_plays, insert_plays, last_played_at
from recs.storage.members import (
    create_member,
    delete_member,
    get_consents,
    members_with_consent,
    set_consent,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _track(n: int) -> TrackInfo:
    return TrackInfo(
        spotify_id=f"{n:022d}",
        name=f"Song {n}",
        artists=(ArtistInfo(f"a{n % 3:021d}", f"Artist {n % 3}"),),
        album=AlbumInfo(f"b{n % 2:021d}", f"Album {n % 2}", image_url=f"http://img/{n % 2}.png"),
        duration_ms=200_000 + n,
        isrc=f"USXXX{n:07d}",
    )


def test_upgrade_downgrade_upgrade(any_db: Database) -> None:
    assert migrate.current_revision(any_db) == migrate.head_revision()
    migrate.downgrade(any_db, "base")
    assert migrate.current_revision(any_db) is None
    with any_db.read() as conn:
        names = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    assert names == set()
    migrate.upgrade(any_db)
    assert migrate.current_revision(any_db) == migrate.head_revision()
    migrate.upgrade(any_db)  # again: nothing to do


def test_migrations_match_the_schema(any_db: Database) -> None:
    with any_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, s.metadata)
    assert diff == [], f"schema.py and the migrations disagree: {diff}"


def test_same_play_twice_leaves_one_row(any_db: Database) -> None:
    with any_db.write() as conn:
        member = create_member(conn, "alice", "Alice", role="owner", now=NOW)
        ids = upsert_tracks(conn, [_track(1), _track(2)])
        rows = [PlayRow(NOW - timedelta(minutes=i), ids[_track(i).spotify_id or ""], "api") for i in (1, 2)]
        assert insert_plays(conn, member.id, rows) == 2
    with any_db.write() as conn:
        assert insert_plays(conn, member.id, rows) == 0
        assert upsert_tracks(conn, [_track(1)]) == {_track(1).spotify_id: ids[_track(1).spotify_id or ""]}
    with any_db.read() as conn:
        assert count_plays(conn, member.id) == 2
        assert last_played_at(conn, member.id) == NOW - timedelta(minutes=1)
        info = get_tracks(conn, ids.values())
    t1 = info[ids[_track(1).spotify_id or ""]]
    assert t1.artist_names == ("Artist 1",) and t1.album_name == "Album 1" and t1.uri.endswith("1")


def test_name_only_tracks_match_known_tracks(db: Database) -> None:
    with db.write() as conn:
        known = upsert_tracks(conn, [_track(5)])
        by_name = upsert_tracks(
            conn,
            [
                TrackInfo(None, "SONG 5", (ArtistInfo(None, "artist 2"),)),
                TrackInfo(None, "Unknown", (ArtistInfo(None, "X"),)),
            ],
        )
    assert by_name["name:artist 2|song 5"] == known[_track(5).spotify_id or ""]
    assert by_name["name:x|unknown"] not in known.values()
    with db.write() as conn:  # a second time creates nothing new
        again = upsert_tracks(conn, [TrackInfo(None, "Unknown", (ArtistInfo(None, "X"),))])
    assert again["name:x|unknown"] == by_name["name:x|unknown"]


def test_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.write() as conn:
        create_member(conn, "bob", "Bob", now=datetime(2026, 1, 1))


def test_consents_default_off_and_toggle(db: Database) -> None:
    with db.write() as conn:
        m = create_member(conn, "carol", "Carol", now=NOW)
        assert not any(c.granted for c in get_consents(conn, m.id).values())
        set_consent(conn, m.id, "train", True, now=NOW)
        assert members_with_consent(conn, "train") == [m.id]
        set_consent(conn, m.id, "train", False, now=NOW + timedelta(days=1))
        c = get_consents(conn, m.id)["train"]
    assert not c.granted and c.revoked_at == NOW + timedelta(days=1)


def _tables_referencing_members() -> list[tuple[sa.Table, sa.Column[object]]]:
    out = []
    for table in s.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table is s.members for fk in column.foreign_keys):
                out.append((table, column))
    return out


def test_deleting_a_member_leaves_no_row_of_theirs(any_db: Database) -> None:
    refs = _tables_referencing_members()
    assert len({t.name for t, _ in refs}) >= 20  # the walk really covers the domain
    with any_db.write() as conn:
        alice = create_member(conn, "alice", "Alice", role="owner", now=NOW)
        bob = create_member(conn, "bob", "Bob", now=NOW)
        ids = upsert_tracks(conn, [_track(1), _track(2)])
        tid = next(iter(ids.values()))
        artist_id = conn.execute(sa.select(s.artists.c.id)).scalars().first()
        for m in (alice, bob):
            _fill_every_member_table(conn, m.id, tid, artist_id)
    with any_db.write() as conn:
        assert delete_member(conn, alice.id)
    with any_db.read() as conn:
        for table, column in refs:
            left = conn.execute(sa.select(sa.func.count()).select_from(table).where(column == alice.id)).scalar_one()
            assert left == 0, f"{table.name}.{column.name} still holds rows of the deleted member"
        # Bob's rows are all still there.
        for table, column in refs:
            if column.name in ("created_by", "used_by", "requested_by"):
                continue
            kept = conn.execute(sa.select(sa.func.count()).select_from(table).where(column == bob.id)).scalar_one()
            assert kept >= 1, f"{table.name} lost Bob's rows"


def _fill_every_member_table(conn: sa.Connection, mid: int, tid: int, artist_id: int) -> None:
    """One row in every table that references members."""
    conn.execute(s.invites.insert().values(created_by=mid, used_by=mid, created_at=NOW, spotify_id="x"))
    conn.execute(s.tokens.insert().values(member_id=mid, ciphertext=b"x", scope="", authorised_at=NOW, updated_at=NOW))
    imp = conn.execute(
        s.imports.insert().values(member_id=mid, started_at=NOW, source_name="f.json", status="succeeded")
    ).inserted_primary_key[0]
    insert_plays(conn, mid, [PlayRow(NOW, tid, "export", import_id=imp)])
    conn.execute(s.short_streams.insert().values(member_id=mid, ended_at=NOW, track_id=tid, ms_played=5000))
    conn.execute(s.saved_tracks.insert().values(member_id=mid, track_id=tid, added_at=NOW, source="api"))
    conn.execute(s.followed_artists.insert().values(member_id=mid, artist_id=artist_id, source="api", seen_at=NOW))
    pl = conn.execute(
        s.playlists.insert().values(member_id=mid, spotify_id=f"pl{mid}", name="Mine", updated_at=NOW)
    ).inserted_primary_key[0]
    conn.execute(s.playlist_items.insert().values(playlist_id=pl, position=0, track_id=tid, added_at=NOW))
    conn.execute(
        s.top_items.insert().values(
            member_id=mid, kind="tracks", time_range="short_term", taken_at=NOW, rank=1, track_id=tid
        )
    )
    conn.execute(s.sync_cursors.insert().values(member_id=mid, stream="recently_played", cursor="1"))
    conn.execute(s.sync_gaps.insert().values(member_id=mid, gap_start=NOW, gap_end=NOW, detected_at=NOW))
    conn.execute(
        s.api_calls.insert().values(at=NOW, member_id=mid, purpose="poll", method="GET", endpoint="/me", status=200)
    )
    run = conn.execute(s.model_runs.insert().values(started_at=NOW, status="succeeded")).inserted_primary_key[0]
    conn.execute(
        s.recommendations.insert().values(run_id=run, member_id=mid, mode="discover", rank=1, track_id=tid, score=1.0)
    )
    conn.execute(s.hidden_tracks.insert().values(member_id=mid, track_id=tid, created_at=NOW))
    conn.execute(s.liked_tracks.insert().values(member_id=mid, track_id=tid, created_at=NOW))
    conn.execute(s.blocked_artists.insert().values(member_id=mid, artist_id=artist_id, created_at=NOW))
    conn.execute(s.excluded_contexts.insert().values(member_id=mid, context_uri="spotify:playlist:x", created_at=NOW))
    conn.execute(s.radar_settings.insert().values(member_id=mid, enabled=True, size=30, weekday=4, local_time="08:00"))
    conn.execute(
        s.publish_settings.insert().values(
            member_id=mid, size=30, discover=True, rediscover=False, frequency="weekly", weekday=0, local_time="07:00"
        )
    )
    conn.execute(s.published_playlists.insert().values(member_id=mid, kind="discover", spotify_playlist_id="p"))
    conn.execute(
        s.publish_log.insert().values(
            member_id=mid, kind="discover", spotify_playlist_id="p", written_at=NOW, track_uris=["spotify:track:x"]
        )
    )
    gone = conn.execute(
        s.tracks.insert().values(spotify_id=f"gone{mid}", name="Gone", name_key=f"gone|{mid}")
    ).inserted_primary_key[0]
    conn.execute(
        s.rejected_tracks.insert().values(track_id=gone, member_id=mid, kind="discover", reason="x", rejected_at=NOW)
    )
    conn.execute(s.track_checks.insert().values(track_id=gone, playable=False, member_id=mid, checked_at=NOW))
    conn.execute(
        s.job_runs.insert().values(
            job="publish",
            trigger_key=f"t{mid}",
            member_id=mid,
            worker="w",
            lease_until=NOW,
            started_at=NOW,
            status="succeeded",
        )
    )
    conn.execute(s.job_requests.insert().values(job="sync", member_id=mid, requested_by=mid, requested_at=NOW))
    conn.execute(s.consent_intervals.insert().values(member_id=mid, purpose="store", off_from=NOW, off_until=NOW))
    conn.execute(s.sync_leases.insert().values(member_id=mid, owner="w", until=NOW))
    conn.execute(s.blend_favourites.insert().values(run_id=run, member_id=mid, track_id=tid, rank=1))
    conn.execute(s.blend_enjoyment.insert().values(run_id=run, member_id=mid, track_id=tid, score=0.5))
    blend = conn.execute(s.blends.insert().values(made_at=NOW, run_id=run, matches=[])).inserted_primary_key[0]
    conn.execute(s.blend_members.insert().values(blend_id=blend, member_id=mid, tracks=1))
    conn.execute(
        s.blend_tracks.insert().values(blend_id=blend, position=1, track_id=tid, member_id=mid, shared_with=[])
    )


def test_sqlite_connection_rules(db: Database) -> None:
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 15000


def test_writes_take_the_lock_at_begin(db: Database) -> None:
    """BEGIN IMMEDIATE: a second writer waits for (here: times out on) the first, instead of failing later."""
    other = Database(db.url)
    with db.write() as conn:
        conn.execute(s.instance_state.insert().values(key="k", value={"a": 1}, updated_at=NOW))
        raw = other.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            with pytest.raises(Exception, match="locked"):
                raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        finally:
            raw.close()
    other.dispose()


def test_one_owner_per_instance_even_in_a_race(any_db: Database) -> None:
    from recs.storage.members import OwnerTaken

    with any_db.write() as conn:
        create_member(conn, "first", "First", role="owner", now=NOW)
    with pytest.raises(OwnerTaken), any_db.write() as conn:
        create_member(conn, "second", "Second", role="owner", now=NOW)
    # The race itself: both transactions passed the check; the index refuses the second owner row.
    with pytest.raises(sa.exc.IntegrityError), any_db.write() as conn:
        conn.execute(
            s.members.insert().values(
                spotify_id="racer",
                display_name="R",
                role="owner",
                timezone="UTC",
                created_at=NOW,
                reconnect_needed=False,
                not_allowlisted=False,
            )
        )
    with any_db.read() as conn:
        owners = conn.execute(sa.select(s.members.c.spotify_id).where(s.members.c.role == "owner")).scalars().all()
    assert owners == ["first"]
