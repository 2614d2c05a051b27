"""Publishing against the emulator: one playlist per kind, refreshed in place, recreated, chunked, filtered, crash-safe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recs.core.domain import PlayRow
from recs.emulator import EmulatorServer
from recs.storage.listening import insert_plays
from recs.storage.publishing import acceptance, get_playlist_state
from recs.storage.schema import blocked_artists, hidden_tracks, publish_settings, tracks
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member, run_job
from tests.publishing.conftest import catalogue_tracks, sign_in, store_run


def _recs_playlists(emulator: EmulatorServer, owner: str) -> list[dict[str, Any]]:
    truth = emulator.control.ground_truth()
    return [p for p in truth["playlists"] if p["owner_id"] == owner and p["name"].startswith("recs")]


def _set_size(instance: Instance, member_id: int, size: int) -> None:
    with instance.db.write() as conn:
        conn.execute(
            publish_settings.insert().values(
                member_id=member_id,
                size=size,
                discover=True,
                rediscover=False,
                frequency="weekly",
                weekday=0,
                local_time="07:00",
            )
        )


def _writes(emulator: EmulatorServer, since: int) -> list[dict[str, Any]]:
    return [
        r
        for r in emulator.control.requests(since)
        if r["method"] in ("PUT", "POST", "DELETE")
        and r["path"].startswith("/v1/playlists/")
        and r["path"].endswith("/items")
    ]


def test_two_rounds_leave_one_playlist_with_the_second_rounds_tracks(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    users = [m["user_id"] for m in emulator.control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    pool = catalogue_tracks(emulator, 80)
    store_run(instance, members, pool[:30])
    first = {m: publish_member(instance, m, clock()) for m in members}
    assert all(r[0].status == "created" for r in first.values())
    store_run(instance, members, pool[40:70])
    second = {m: publish_member(instance, m, clock()) for m in members}
    assert all(r[0].status == "written" for r in second.values())
    for user, member_id in zip(users, members, strict=True):
        mine = _recs_playlists(emulator, user)
        assert len(mine) == 1, f"{user} has {len(mine)} recs playlists"
        held = [i["track_id"] for i in mine[0]["items"]]
        # Filters may drop tracks the member already played; what is there is the second round's, in order.
        assert held and set(held) <= set(pool[40:70])
        assert held == [u.rsplit(":", 1)[1] for u in second[member_id][0].uris]
        assert mine[0]["public"] is False and "Model run" in mine[0]["description"]
    # A third round with the same list writes nothing.
    mark = len(emulator.control.requests())
    third = publish_member(instance, members[0], clock())
    assert third[0].status == "unchanged"
    assert _writes(emulator, mark) == []


def test_a_deleted_playlist_is_created_again(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    old = publish_member(instance, member, clock())[0].playlist_id
    assert old is not None
    _delete_playlist(emulator, old)
    again = publish_member(instance, member, clock())[0]
    assert again.status == "created" and again.playlist_id != old
    mine = _recs_playlists(emulator, user)
    assert [p["id"] for p in mine] == [again.playlist_id]
    assert [i["track_id"] for i in mine[0]["items"]] == [u.rsplit(":", 1)[1] for u in again.uris]


def _delete_playlist(emulator: EmulatorServer, playlist_id: str) -> None:
    """The member deletes (unfollows) the playlist in their Spotify app."""
    emulator.control.delete_playlist(playlist_id)


def test_250_tracks_take_exactly_three_item_writes(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    pool = catalogue_tracks(emulator, 400)
    _set_size(instance, member, 250)
    store_run(instance, [member], pool)
    publish_member(instance, member, clock())  # creates it
    store_run(instance, [member], list(reversed(pool)))
    mark = len(emulator.control.requests())
    result = publish_member(instance, member, clock())[0]
    assert len(result.uris) == 250
    writes = _writes(emulator, mark)
    assert [w["method"] for w in writes] == ["PUT", "POST", "POST"]
    held = [i["track_id"] for i in _recs_playlists(emulator, user)[0]["items"]]
    assert held == [u.rsplit(":", 1)[1] for u in result.uris]


def test_published_lists_respect_played_hidden_blocked_and_the_artist_cap(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    pool = catalogue_tracks(emulator, 60)
    # Artist k gets tracks 3k, 3k+1, 3k+2: the cap of 2 drops every third.
    store_run(instance, [member], pool, artists_per=3)
    with instance.db.write() as conn:
        ids = {
            sid: tid for tid, sid in conn.execute(tracks.select().with_only_columns(tracks.c.id, tracks.c.spotify_id))
        }
        insert_plays(conn, member, [PlayRow(clock() - timedelta(days=1), ids[pool[0]], "api")])
        conn.execute(hidden_tracks.insert().values(member_id=member, track_id=ids[pool[1]], created_at=clock()))
        blocked_artist = conn.execute(
            tracks.select().with_only_columns(tracks.c.id).where(tracks.c.spotify_id == pool[3])
        ).scalar_one()
        from recs.storage.schema import track_artists

        artist_id = conn.execute(
            track_artists.select()
            .with_only_columns(track_artists.c.artist_id)
            .where(track_artists.c.track_id == blocked_artist)
        ).scalar_one()
        conn.execute(blocked_artists.insert().values(member_id=member, artist_id=artist_id, created_at=clock()))
        # A block that ended yesterday no longer applies.
        artist_6 = conn.execute(
            track_artists.select()
            .with_only_columns(track_artists.c.artist_id)
            .where(track_artists.c.track_id == ids[pool[6]])
        ).scalar_one()
        conn.execute(
            blocked_artists.insert().values(
                member_id=member, artist_id=artist_6, until=clock().date() - timedelta(days=1), created_at=clock()
            )
        )
    result = publish_member(instance, member, clock())[0]
    held = [u.rsplit(":", 1)[1] for u in result.uris]
    assert pool[0] not in held  # already played
    assert pool[1] not in held  # hidden
    assert not {pool[3], pool[4], pool[5]} & set(held)  # blocked artist
    assert pool[6] in held  # the block expired
    by_artist: dict[int, int] = {}
    for sid in held:
        k = pool.index(sid) // 3
        by_artist[k] = by_artist.get(k, 0) + 1
    assert max(by_artist.values()) <= instance.settings.recommend.artist_cap
    assert len(held) == instance.settings.publish.size
    stored = _recs_playlists(emulator, user)[0]
    assert [i["track_id"] for i in stored["items"]] == held


def test_a_write_cut_short_leaves_old_or_new_and_the_next_round_completes(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    pool = catalogue_tracks(emulator, 300)
    store_run(instance, [member], pool[:30])
    publish_member(instance, member, clock())
    old = [i["track_id"] for i in _recs_playlists(emulator, user)[0]["items"]]
    # The single PUT of a short list fails: the playlist is still the old one.
    store_run(instance, [member], pool[30:60])
    emulator.control.add_fault("PUT", "/v1/playlists/*/items", drop=True, times=1)
    with pytest.raises(Exception):  # noqa: B017 - any transport error
        publish_member(instance, member, clock())
    assert [i["track_id"] for i in _recs_playlists(emulator, user)[0]["items"]] == old
    with instance.db.read() as conn:
        assert get_playlist_state(conn, member, "discover").pending_hash is not None
    done = publish_member(instance, member, clock())[0]
    assert done.status == "written"
    assert [i["track_id"] for i in _recs_playlists(emulator, user)[0]["items"]] == [
        u.rsplit(":", 1)[1] for u in done.uris
    ]
    # A long list cut after its first 100: the next round sees the pending write and redoes it.
    _set_size(instance, member, 150)
    store_run(instance, [member], pool[100:300])
    emulator.control.add_fault("POST", "/v1/playlists/*/items", status=503, times=1)
    with pytest.raises(Exception):  # noqa: B017
        publish_member(instance, member, clock())
    finished = publish_member(instance, member, clock())[0]
    assert finished.status == "written" and len(finished.uris) == 150
    held = [i["track_id"] for i in _recs_playlists(emulator, user)[0]["items"]]
    assert held == [u.rsplit(":", 1)[1] for u in finished.uris]
    with instance.db.read() as conn:
        state = get_playlist_state(conn, member, "discover")
    assert state.pending_hash is None


def test_dry_run_writes_nothing_and_no_consent_means_no_write(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    from recs.storage.members import set_consent

    users = [m["user_id"] for m in emulator.control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    store_run(instance, members, catalogue_tracks(emulator, 30))
    mark = len(emulator.control.requests())
    dry = publish_member(instance, members[0], clock(), dry_run=True)[0]
    assert dry.status == "dry-run" and len(dry.uris) > 0
    assert emulator.control.requests(mark) == []
    with instance.db.write() as conn:
        set_consent(conn, members[1], "publish", False, now=clock())
    summary = run_job(instance, None, clock())
    assert summary["written"] == 1
    assert _recs_playlists(emulator, users[1]) == []


def test_publish_time_is_honoured_in_the_members_timezone_across_dst(
    instance: Instance, emulator: EmulatorServer
) -> None:
    """Daily at 07:00 Europe/Berlin: 06:00 UTC before 2026-03-29, 05:00 UTC after (the clocks went forward)."""
    from recs.storage.members import update_member

    moments: list[datetime] = []
    now = {"t": datetime(2026, 3, 27, 5, 30, tzinfo=UTC)}

    def clock() -> datetime:
        return now["t"]

    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, emulator.control.now)
    with instance.db.write() as conn:
        update_member(conn, member, timezone="Europe/Berlin")
        conn.execute(
            publish_settings.insert().values(
                member_id=member,
                size=10,
                discover=True,
                rediscover=False,
                frequency="daily",
                weekday=0,
                local_time="07:00",
            )
        )
    store_run(instance, [member], catalogue_tracks(emulator, 40))
    t = datetime(2026, 3, 27, 4, 0, tzinfo=UTC)
    while t < datetime(2026, 3, 31, 0, 0, tzinfo=UTC):
        now["t"] = t
        summary = run_job(instance, None, t, port_factory=_emulator_port(emulator))
        if summary["written"] or summary["unchanged"]:
            moments.append(t)
        t += timedelta(minutes=15)
    assert moments == [
        datetime(2026, 3, 27, 4, 0, tzinfo=UTC),  # never published: at once
        datetime(2026, 3, 27, 6, 0, tzinfo=UTC),
        datetime(2026, 3, 28, 6, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 5, 0, tzinfo=UTC),
    ]
    assert [m.astimezone(ZoneInfo("Europe/Berlin")).hour for m in moments[1:]] == [7, 7, 7, 7]


def _emulator_port(emulator: EmulatorServer) -> Any:
    """Publishing through the real client, with token times from the emulator's clock (the test moves its own)."""
    from recs.usecases.playlists import default_port

    def factory(instance: Instance, member_id: int, _clock: Callable[[], datetime]) -> Any:
        return default_port(instance, member_id, emulator.control.now)

    return factory


def test_acceptance_counts_plays_from_our_playlist(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    pool = catalogue_tracks(emulator, 30)
    store_run(instance, [member], pool)
    result = publish_member(instance, member, clock())[0]
    written = clock()
    context = f"spotify:playlist:{result.playlist_id}"
    with instance.db.write() as conn:
        ids = {
            sid: tid for tid, sid in conn.execute(tracks.select().with_only_columns(tracks.c.id, tracks.c.spotify_id))
        }
        held = [u.rsplit(":", 1)[1] for u in result.uris]
        insert_plays(
            conn,
            member,
            [
                PlayRow(written + timedelta(hours=1), ids[held[0]], "api", context_uri=context),
                PlayRow(written + timedelta(hours=2), ids[held[0]], "api", context_uri=context),
                PlayRow(written + timedelta(hours=3), ids[held[1]], "api", context_uri=context, skipped=True),
                PlayRow(written + timedelta(hours=4), ids[held[2]], "api", context_uri="spotify:album:x"),
            ],
        )
        got = acceptance(conn, member)
    assert len(got) == 1
    assert (got[0].tracks, got[0].played, got[0].skipped, got[0].saved) == (len(held), 2, 1, 0)


def test_a_retrain_with_the_same_songs_renames_the_run_in_the_description(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    pool = catalogue_tracks(emulator, 20)
    first_run = store_run(instance, [member], pool)
    assert publish_member(instance, member, clock())[0].status == "created"
    second_run = store_run(instance, [member], pool)
    mark = len(emulator.control.requests())
    again = publish_member(instance, member, clock())[0]
    # Same songs: the items are not written again, but the playlist says which run it now carries.
    assert again.status == "unchanged" and _writes(emulator, mark) == []
    description = _recs_playlists(emulator, user)[0]["description"]
    assert f"Model run {second_run}," in description and f"Model run {first_run}," not in description
    with instance.db.read() as conn:
        assert get_playlist_state(conn, member, "discover").run_id == second_run
