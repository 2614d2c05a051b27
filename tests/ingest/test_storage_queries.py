"""Account and sync queries on SQLite and PostgreSQL: token lease, states, invites, cursors, library, ledger, state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recs.core.domain import AlbumInfo, ArtistInfo, TrackInfo
from recs.storage import Database, catalog
from recs.storage import accounts as q
from recs.storage import members as mq
from recs.storage import sync as sq

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_token_row_and_refresh_lease(any_db: Database) -> None:
    with any_db.write() as conn:
        m = mq.create_member(conn, "alice", "Alice", role="owner", now=T0)
        q.put_token(conn, m.id, b"c1", scope="s", access_expires_at=T0, now=T0, authorised_at=T0, refresh_expires_at=T0)
        assert q.acquire_refresh_lease(conn, m.id, "a", T0 + timedelta(seconds=30), T0)
        assert not q.acquire_refresh_lease(conn, m.id, "b", T0 + timedelta(seconds=30), T0)
        # An expired lease can be taken over.
        assert q.acquire_refresh_lease(conn, m.id, "b", T0 + timedelta(seconds=90), T0 + timedelta(seconds=31))
        q.put_token(conn, m.id, b"c2", scope="s", access_expires_at=T0 + timedelta(hours=1), now=T0)
        q.release_refresh_lease(conn, m.id, "b")
        assert q.acquire_refresh_lease(conn, m.id, "c", T0 + timedelta(seconds=30), T0)
        row = q.get_token(conn, m.id)
        assert row is not None and row.ciphertext == b"c2" and row.refresh_expires_at == T0
        q.delete_token(conn, m.id)
        assert q.get_token(conn, m.id) is None


def test_states_are_used_once_and_invites_spent_once(any_db: Database) -> None:
    with any_db.write() as conn:
        q.add_state(conn, "h" * 64, b"v", T0, None)
        assert [s.state_hash for s in q.states_since(conn, T0 - timedelta(minutes=1))] == ["h" * 64]
        assert q.use_state(conn, "h" * 64, T0)
        assert not q.use_state(conn, "h" * 64, T0)
        assert q.states_since(conn, T0 - timedelta(minutes=1)) == []
        m = mq.create_member(conn, "alice", "Alice", role="owner", now=T0)
        iid = q.add_invite(
            conn, code_hash="c" * 64, spotify_id=None, created_by=m.id, now=T0, expires_at=T0 + timedelta(days=1)
        )
        assert [i.id for i in q.open_invites(conn, T0)] == [iid]
        assert q.open_invites(conn, T0 + timedelta(days=2)) == []
        assert q.use_invite(conn, iid, m.id, T0)
        assert not q.use_invite(conn, iid, m.id, T0)


def track(n: int) -> TrackInfo:
    return TrackInfo(
        f"t{n}", f"Song {n}", (ArtistInfo(f"a{n % 3}", f"Artist {n % 3}"),), AlbumInfo("al", "Album"), 1000
    )


def test_library_cursors_gaps_ledger_and_state(any_db: Database) -> None:
    with any_db.write() as conn:
        m = mq.create_member(conn, "alice", "Alice", role="owner", now=T0)
        ids = catalog.upsert_tracks(conn, [track(n) for n in range(5)])
        sq.upsert_saved_tracks(conn, m.id, [(ids["t0"], T0), (ids["t1"], T0)])
        sq.upsert_saved_tracks(conn, m.id, [(ids["t0"], T0 + timedelta(days=1))])
        assert sq.saved_added_at(conn, m.id, [ids["t0"]]) == {ids["t0"]: T0 + timedelta(days=1)}
        assert sq.count_saved_tracks(conn, m.id) == 2
        artists = catalog.upsert_artists(conn, [ArtistInfo("a0", "Artist 0"), ArtistInfo("a1", "Artist 1")])
        sq.replace_followed_artists(conn, m.id, [artists["a0"], artists["a1"]], T0)
        sq.replace_followed_artists(conn, m.id, [artists["a1"]], T0)
        pid = sq.save_playlist(
            conn,
            m.id,
            "p1",
            name="P",
            snapshot_id="s1",
            owned=True,
            collaborative=False,
            items=[(0, ids["t2"], T0), (1, ids["t3"], None)],
            now=T0,
        )
        assert (
            sq.save_playlist(
                conn,
                m.id,
                "p1",
                name="P",
                snapshot_id="s2",
                owned=True,
                collaborative=False,
                items=[(0, ids["t4"], None)],
                now=T0,
            )
            == pid
        )
        assert sq.get_playlists(conn, m.id)["p1"].snapshot_id == "s2"
        assert sq.add_top_items(conn, m.id, "tracks", "short_term", T0, [ids["t0"], ids["t1"]]) == 2
        assert sq.add_top_items(conn, m.id, "tracks", "short_term", T0, [ids["t1"]]) == 1  # same moment: replaced
        sq.save_cursor(conn, m.id, "recently_played", now=T0, cursor="123", success=True, next_due_at=T0)
        sq.save_cursor(conn, m.id, "recently_played", now=T0, success=False, error="server: 503", next_due_at=T0)
        c = sq.get_cursor(conn, m.id, "recently_played")
        assert c is not None and c.cursor == "123" and c.last_error == "server: 503"
        assert sq.due_times(conn, [m.id]) == {m.id: {"recently_played": T0}}
        sq.add_gap(conn, m.id, T0 - timedelta(hours=3), T0, T0)
        assert len(sq.list_gaps(conn, m.id, open_only=True)) == 1
        sq.record_call(
            conn, at=T0, member_id=m.id, purpose="polling", method="GET", endpoint="me", status=200, duration_ms=3
        )
        assert sq.count_calls(conn, T0 - timedelta(days=1), purpose="polling") == 1
        sq.set_state(conn, "api_pause", {"until": T0.isoformat()}, T0)
        sq.set_state(conn, "api_pause", {"until": (T0 + timedelta(hours=1)).isoformat()}, T0)
        assert sq.get_state(conn, "api_pause") == {"until": (T0 + timedelta(hours=1)).isoformat()}
        mq.delete_member(conn, m.id)
        assert sq.count_calls(conn, T0 - timedelta(days=1)) == 1  # the ledger keeps the call, unnamed
        assert sq.list_cursors(conn, m.id) == [] and sq.get_playlists(conn, m.id) == {}
