"""The household Blend against the emulator: fair shares, vetoes, leavers, consent, copies, too few participants."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from recs.core.config import Settings
from recs.core.domain import ArtistInfo, PlayRow, TrackInfo
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.feedback import block_artist, hide_track
from recs.storage.listening import insert_plays
from recs.storage.members import set_consent
from recs.storage.schema import artists, track_artists
from recs.usecases import blends, training
from recs.usecases.instance import Instance
from tests.publishing.conftest import catalogue_tracks, emulator_instance, sign_in

# Each member's own tracks, and a few every member plays.
OWN = 24
SHARED = 4


@pytest.fixture
def instance(settings: Settings, db: Database, emulator: EmulatorServer) -> Instance:
    """Untuned training (no hold-out) and a Blend of 12: fast, and enough to show the shares."""
    return emulator_instance(
        settings,
        db,
        emulator,
        training=dataclasses.replace(settings.training, holdout_days=0),
        publish=dataclasses.replace(settings.publish, blend_size=12),
    )


@dataclasses.dataclass
class Household:
    members: list[int]
    users: list[str]
    own: dict[int, list[int]]  # member -> track ids only they play
    shared: list[int]
    spotify: dict[int, str]  # track id -> Spotify id


def _household(instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]) -> Household:
    """Three signed-in members (store, train, publish), each playing their own tracks and a few shared ones."""
    users = [m["user_id"] for m in emulator.control.members()][:3]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    pool = catalogue_tracks(emulator, 3 * OWN + SHARED)
    # One artist per track, so the artist cap never decides what a test checks.
    infos = [
        TrackInfo(sid, f"Track {i}", (ArtistInfo(f"blendartist{i:010d}", f"Artist {i}"),)) for i, sid in enumerate(pool)
    ]
    now = clock()
    with instance.db.write() as conn:
        ids = upsert_tracks(conn, infos)
        by_index = [ids[sid] for sid in pool]
        own = {m: by_index[k * OWN : (k + 1) * OWN] for k, m in enumerate(members)}
        shared = by_index[3 * OWN :]
        for k, m in enumerate(members):
            rows = []
            for rank, t in enumerate(own[m] + shared):
                # Stronger favourites are played more; every play within the last three weeks.
                for n in range(1 + (OWN - rank % OWN) // 4):
                    rows.append(PlayRow(now - timedelta(days=1 + n, minutes=rank + 7 * k), t, "api"))
            insert_plays(conn, m, rows)
    spotify = {ids[sid]: sid for sid in pool}
    return Household(members, users, own, shared, spotify)


def _opt_in(instance: Instance, member_ids: list[int], when: datetime, on: bool = True) -> None:
    with instance.db.write() as conn:
        for m in member_ids:
            set_consent(conn, m, "blend", on, now=when)


def _blend_playlists(emulator: EmulatorServer, user: str) -> list[dict[str, Any]]:
    return [
        p for p in emulator.control.ground_truth()["playlists"] if p["owner_id"] == user and p["name"] == blends.NAME
    ]


def _artist_of(instance: Instance, track_id: int) -> int:
    with instance.db.read() as conn:
        return int(
            conn.execute(sa.select(track_artists.c.artist_id).where(track_artists.c.track_id == track_id)).scalar_one()
        )


@pytest.fixture
def house(instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]) -> Household:
    h = _household(instance, emulator, clock)
    return h


def test_shares_are_equal_within_one_track_and_every_copy_holds_the_same_tracks(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    _opt_in(instance, house.members, clock())
    training.train(instance, now=clock())
    outcome = blends.make_blend(instance, clock())
    assert outcome.status == "made" and sorted(outcome.participants) == sorted(house.members)
    assert len(outcome.uris) == 12
    with instance.db.read() as conn:
        from recs import storage

        stored = storage.blends.latest_blend(conn)
    assert stored is not None
    counts = [stored.shares[m] for m in house.members]
    assert max(counts) - min(counts) <= 1 and sum(counts) == 12, counts
    # Every track came from the taste of the member it is attributed to.
    for t in stored.tracks:
        assert t.track_id in house.own[t.member_id] + house.shared
        if t.track_id in house.shared:
            assert set(t.shared_with) == set(house.members) - {t.member_id}
    assert any(t.track_id in house.shared for t in stored.tracks), "shared favourites come first"
    assert {a for a, _, _ in stored.matches} | {b for _, b, _ in stored.matches} == set(house.members)
    assert all(0.0 <= v <= 1.0 for _, _, v in stored.matches)

    copies = blends.write_copies(instance, outcome, clock())
    assert [r.status for r in copies] == ["created"] * 3
    held = []
    for user in house.users:
        mine = _blend_playlists(emulator, user)
        assert len(mine) == 1, f"{user} has {len(mine)} Blend playlists"
        held.append([i["track_id"] for i in mine[0]["items"]])
    assert held[0] == held[1] == held[2] == [u.rsplit(":", 1)[1] for u in outcome.uris]
    # Next week, in place: still one playlist each.
    emulator.control.advance(days=7)
    summary = blends.run_job(instance, None, clock())
    assert summary["status"] == "made" and summary["participants"] == 3
    for user in house.users:
        assert len(_blend_playlists(emulator, user)) == 1


def test_any_participants_hidden_track_or_blocked_artist_is_kept_out(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    a, b, c = house.members
    _opt_in(instance, house.members, clock())
    training.train(instance, now=clock())
    first = blends.make_blend(instance, clock())
    ids = {v: k for k, v in house.spotify.items()}
    picked = [ids[u.rsplit(":", 1)[1]] for u in first.uris]
    by_b = [t for t in picked if t in house.own[b]]
    by_c = [t for t in picked if t in house.own[c]]
    assert len(by_b) >= 2 and len(by_c) >= 2
    hidden, blocked, expired = by_b[0], by_c[0], by_b[1]
    today = clock().date()
    blocked_artist, expired_artist = _artist_of(instance, blocked), _artist_of(instance, expired)
    with instance.db.write() as conn:
        hide_track(conn, a, hidden, clock())  # A hides one of B's tracks
        block_artist(conn, a, blocked_artist, today + timedelta(days=3), clock())  # until a later date
        block_artist(conn, c, expired_artist, today - timedelta(days=1), clock())  # a block that ended
    second = blends.make_blend(instance, clock())
    again = [ids[u.rsplit(":", 1)[1]] for u in second.uris]
    assert hidden not in again and blocked not in again
    assert expired in again, "a block whose end date has passed vetoes nothing"
    # After the block's end date, the artist may come back.
    later = blends.make_blend(instance, clock() + timedelta(days=5))
    assert blocked in [ids[u.rsplit(":", 1)[1]] for u in later.uris]


def test_a_leaver_is_gone_from_next_weeks_blend_and_their_account_is_not_touched(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    a, b, c = house.members
    _opt_in(instance, house.members, clock())
    training.train(instance, now=clock())
    blends.run_job(instance, None, clock())
    a_copy = _blend_playlists(emulator, house.users[0])[0]
    emulator.control.advance(days=7)
    _opt_in(instance, [a], clock(), on=False)
    mark = len(emulator.control.requests())
    summary = blends.run_job(instance, None, clock())
    assert summary["participants"] == 2
    from recs import storage

    with instance.db.read() as conn:
        stored = storage.blends.latest_blend(conn)
    assert stored is not None and set(stored.shares) == {b, c}
    assert all(t.member_id != a and a not in t.shared_with for t in stored.tracks)
    assert all(a not in (x, y) for x, y, _ in stored.matches)
    counts = list(stored.shares.values())
    assert max(counts) - min(counts) <= 1
    # Nothing was written to the leaver's playlist.
    writes = [r for r in emulator.control.requests(mark) if a_copy["id"] in r["path"] and r["method"] != "GET"]
    assert writes == []
    # The leaver's page shows no Blend; the others' page does not name them.
    assert blends.blend_view(instance, instance.db, a).reason == "not-participant"
    view = blends.blend_view(instance, instance.db, b)
    assert view.reason == "" and a not in view.names and all(line.member_id != a for line in view.lines)


def test_a_member_without_blend_consent_never_appears(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    a, b, c = house.members
    _opt_in(instance, [a, b], clock())  # C trains with the household but never joins the Blend
    training.train(instance, now=clock())
    blends.run_job(instance, None, clock())
    from recs import storage

    with instance.db.read() as conn:
        stored = storage.blends.latest_blend(conn)
        c_favourites = storage.blends.run_favourites(conn, storage.publishing.current_run_id(conn) or 0, [c])
    assert stored is not None and set(stored.shares) == {a, b}
    assert c_favourites == {}, "training stores nothing of a member outside the Blend"
    for t in stored.tracks:
        assert t.member_id != c and c not in t.shared_with
        assert t.track_id not in house.own[c], "a track only C plays came into the Blend"
    assert all(c not in (x, y) for x, y, _ in stored.matches)
    assert _blend_playlists(emulator, house.users[2]) == []
    with instance.db.read() as conn:
        c_name = storage.members.get_member(conn, c).display_name  # type: ignore[union-attr]
    for viewer in (a, b):
        view = blends.blend_view(instance, instance.db, viewer)
        assert c not in view.names and c_name not in view.names.values()
    assert blends.blend_view(instance, instance.db, c) == blends.BlendView("not-participant")


def test_fewer_than_two_participants_make_no_blend(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    a = house.members[0]
    _opt_in(instance, [a], clock())
    training.train(instance, now=clock())
    summary = blends.run_job(instance, None, clock())
    assert summary == {"status": "too-few", "participants": 0, "tracks": 0, "written": 0, "calls": 0}
    assert _blend_playlists(emulator, house.users[0]) == []
    assert blends.blend_view(instance, instance.db, a).reason == "too-few"


def test_only_data_from_blend_on_intervals_counts(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    """Plays made while a member had the Blend switched off (after granting it) never make their favourites."""
    a, b, _c = house.members
    now = clock()
    _opt_in(instance, [a, b], now - timedelta(days=30))
    _opt_in(instance, [a], now - timedelta(days=20), on=False)
    _opt_in(instance, [a], now - timedelta(days=10))
    pool = catalogue_tracks(emulator, 3 * OWN + SHARED + 3)[-3:]
    with instance.db.write() as conn:
        ids = upsert_tracks(
            conn,
            [TrackInfo(sid, f"Off {i}", (ArtistInfo(f"offartist{i:08d}", f"Off {i}"),)) for i, sid in enumerate(pool)],
        )
        # A's heaviest listening of all, but inside the interval the Blend was off.
        insert_plays(
            conn,
            a,
            [PlayRow(now - timedelta(days=15, minutes=k), ids[sid], "api") for sid in pool for k in range(40)],
        )
    training.train(instance, now=now)
    from recs import storage

    with instance.db.read() as conn:
        favs = storage.blends.run_favourites(conn, storage.publishing.current_run_id(conn) or 0, [a])
        # Training itself still learns from them: consent to train was on.
        assert conn.execute(artists.select()).first() is not None
    assert favs[a] and not set(ids.values()) & set(favs[a])


def test_a_removed_member_is_gone_from_the_next_blend(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], house: Household
) -> None:
    a, b, c = house.members
    _opt_in(instance, house.members, clock())
    training.train(instance, now=clock())
    blends.run_job(instance, None, clock())
    from recs.usecases.accounts import delete_my_data

    assert delete_my_data(instance, c)
    emulator.control.advance(days=7)
    assert blends.run_job(instance, None, clock())["participants"] == 2
    from recs import storage

    with instance.db.read() as conn:
        stored = storage.blends.latest_blend(conn)
    assert stored is not None and set(stored.shares) == {a, b}
    assert all(t.member_id != c and c not in t.shared_with for t in stored.tracks)


def test_taste_match_is_the_mean_place_of_each_ones_favourites_in_the_others_ranking() -> None:
    from recs.core.household_blend import taste_match

    favs = {1: [10, 11], 2: [12]}
    enjoyment = {(2, 10): 1.0, (2, 11): 0.5, (1, 12): 0.9, (3, 10): 0.0}
    assert taste_match(1, 2, favs, enjoyment) == pytest.approx(0.8)
    assert taste_match(1, 3, favs, enjoyment) == pytest.approx(0.0)
    assert taste_match(2, 3, favs, enjoyment) is None
