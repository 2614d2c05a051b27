"""Release Radar's daily job and playlist against the emulator: love from storage, checks stored once, the member's filters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from recs import storage
from recs.core.config import Settings
from recs.core.domain import ArtistInfo, PlayRow, TrackInfo
from recs.storage import Database
from recs.storage.schema import api_calls, radar_finds, tracks
from recs.usecases import release_radar
from recs.usecases.instance import Instance
from tests.ingest.conftest import Household
from tests.operations.cli import invoke
from tests.publishing.conftest import instance_env


def radar_calls(instance: Instance) -> int:
    with instance.db.read() as conn:
        return int(conn.execute(select(func.count()).where(api_calls.c.purpose == "radar")).scalar_one())


def finds(instance: Instance) -> dict[str, str]:
    with instance.db.read() as conn:
        rows = conn.execute(
            select(tracks.c.spotify_id, radar_finds.c.release_date).join(tracks, tracks.c.id == radar_finds.c.track_id)
        )
        return {str(s): str(d) for s, d in rows}


def test_a_day_checks_its_share_in_love_order_and_a_restart_spends_nothing(home: Household) -> None:
    plan = release_radar.household(home.instance, home.now())
    assert plan.members and plan.plan.fits and plan.plan.per_day == -(-len(plan.order) // plan.plan.cycle_days)
    home.sleep(86_400)
    first = release_radar.check_day(home.instance, home.now, sleep=home.sleep)
    # never-checked artists are due first, most loved first
    with home.instance.db.read() as conn:
        checked = set(storage.radar.checks(conn))
    assert checked == set(plan.order[: plan.plan.per_day]) and first.checked == plan.plan.per_day
    assert first.calls == radar_calls(home.instance) > 0
    found = finds(home.instance)
    # the same day again (a restarted worker): nothing is due, no call goes out, nothing is stored twice
    again = release_radar.check_day(home.instance, home.now, sleep=home.sleep)
    assert (again.due, again.calls, radar_calls(home.instance), finds(home.instance)) == (0, 0, first.calls, found)
    # a week of days checks everyone once; every find is a recording the emulator says is new
    for _ in range(7):
        home.sleep(86_400)
        release_radar.check_day(home.instance, home.now, sleep=home.sleep)
    with home.instance.db.read() as conn:
        assert set(storage.radar.checks(conn)) == set(plan.order)
    new = {
        t
        for r in home.control.releases(since=home.now().date() - timedelta(days=30))["releases"]
        for ts in r["new_tracks_by_artist"].values()
        for t in ts
    }
    assert finds(home.instance) and set(finds(home.instance)) <= new
    # finds older than the window are forgotten at the next check (the catalogue keeps the tracks)
    home.sleep(15 * 86_400)
    release_radar.check_day(home.instance, home.now, sleep=home.sleep)
    since = (home.now().date() - timedelta(days=14)).isoformat()
    assert any(day < since for day in found.values())
    assert all(day >= since for day in finds(home.instance).values())
    with home.instance.db.read() as conn:
        assert storage.catalog.spotify_ids_of(conn, [_track_id(conn, sid) for sid in found])


def test_the_playlist_leaves_out_what_the_member_played_hid_or_blocked_and_caps_artists(home: Household) -> None:
    instance = dataclasses.replace(
        home.instance,
        settings=dataclasses.replace(
            home.instance.settings, recommend=dataclasses.replace(home.instance.settings.recommend, artist_cap=1)
        ),
    )
    for _ in range(8):
        home.sleep(86_400)
        release_radar.check_day(instance, home.now, sleep=home.sleep)
    member = release_radar.household(instance, home.now()).members[0]
    uncapped = dataclasses.replace(
        instance, settings=dataclasses.replace(instance.settings, recommend=home.instance.settings.recommend)
    )
    before = release_radar.playlist_uris(uncapped, member, home.now())
    assert len(before) >= 4, before
    with instance.db.read() as conn:
        ids = {u: tid for u in before for tid in [_track_id(conn, u.rsplit(":", 1)[-1])]}
        artists = storage.training.track_artist_sets(conn, ids.values())
    played, hidden, by_blocked = before[0], before[1], before[2]
    blocked = artists[ids[by_blocked]][0]
    now = home.now()
    with instance.db.write() as conn:
        storage.listening.insert_plays(conn, member, [PlayRow(now, ids[played], "api", 200_000)])
        storage.feedback.hide_track(conn, member, ids[hidden], now)
        storage.feedback.block_artist(conn, member, blocked, None, now)
    after = release_radar.playlist_uris(instance, member, now)
    assert after and not {played, hidden, by_blocked} & set(after)
    assert all(blocked not in artists[ids[u]] for u in after if u in ids)
    with instance.db.read() as conn:
        sets = storage.training.track_artist_sets(conn, [_track_id(conn, u.rsplit(":", 1)[-1]) for u in after])
    credits = [a for artists_ in sets.values() for a in artists_]
    assert max(credits.count(a) for a in credits) == 1  # artist cap 1
    # written in place: created once, then not due again until next week's slot
    result = release_radar.publish_due(instance, now, member_id=member)
    assert result["radar_written"] == 1 and not result["errors"]
    with instance.db.read() as conn:
        state = storage.publishing.get_playlist_state(conn, member, release_radar.KIND)
    assert state.spotify_playlist_id is not None
    assert _items(home, state.spotify_playlist_id) == after
    # the scheduled round writes the other member's, never written yet; the next round has nothing due
    assert release_radar.publish_due(instance, now + timedelta(minutes=5))["radar_written"] == 1
    assert release_radar.publish_due(instance, now + timedelta(minutes=10))["radar_written"] == 0


def _track_id(conn: storage.Connection, spotify_id: str) -> int:
    return int(conn.execute(select(tracks.c.id).where(tracks.c.spotify_id == spotify_id)).scalar_one())


def _items(home: Household, playlist_id: str) -> list[str]:
    truth = home.control.ground_truth()
    playlist = next(p for p in truth["playlists"] if p["id"] == playlist_id)
    return [f"spotify:track:{i['track_id']}" for i in playlist["items"]]


def test_love_comes_from_consenting_members_and_skips_what_was_saved_while_storing_was_off(
    db: Database, settings: Settings
) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with db.write() as conn:
        a = storage.members.create_member(conn, "a", "A", now=t0)
        b = storage.members.create_member(conn, "b", "B", now=t0)
        for m in (a.id, b.id):
            for purpose in ("store", "publish"):
                storage.members.set_consent(conn, m, purpose, True, t0)  # type: ignore[arg-type]
        # two songs by each of three artists (two liked songs make an artist loved)
        infos = [
            TrackInfo(f"t{i:021d}", f"Song {i}", (ArtistInfo(f"r{i // 2:021d}", f"Artist {i // 2}"),)) for i in range(6)
        ]
        ids = [storage.catalog.upsert_tracks(conn, infos)[t.spotify_id] for t in infos]
        # storing off for a day: songs liked then do not count, those liked before do
        storage.members.set_consent(conn, a.id, "store", False, t0 + timedelta(days=1))
        storage.members.set_consent(conn, a.id, "store", True, t0 + timedelta(days=2))
        at = [t0 + timedelta(hours=1)] * 2 + [t0 + timedelta(days=1, hours=1)] * 2
        storage.sync.upsert_saved_tracks(conn, a.id, list(zip(ids[:4], at, strict=True)))
        # B does not allow playlists any more: no radar for B, however much B loves
        storage.members.set_consent(conn, b.id, "publish", False, t0 + timedelta(days=2))
        storage.sync.upsert_saved_tracks(conn, b.id, [(ids[4], t0), (ids[5], t0)])
    loved = release_radar.loved_artists(db, a.id, t0 + timedelta(days=3), 200)
    with db.read() as conn:
        artist_of = storage.training.track_artist_sets(conn, ids)
    assert [x.artist_id for x in loved] == [artist_of[ids[0]][0]]
    assert release_radar.radar_members(db, settings.radar) == [a.id]
    assert release_radar.radar_members(db, dataclasses.replace(settings.radar, default_on=False)) == []
    # a member's own choice outranks the default
    release_radar.save_settings(db, a.id, release_radar.validate_settings(False, "20", "4", "08:00"))
    assert release_radar.radar_members(db, settings.radar) == []


def test_the_command_line_states_the_plan_and_checks_today(home: Household, tmp_path: Path) -> None:
    env = instance_env(home.instance) | {"RECS_RADAR__PACE_S": "0"}  # no real waits between calls
    code, out = invoke(tmp_path, "radar", "plan", env=env)
    assert code == 0 and "2 members with a Release Radar love" in out and "It fits" in out, out
    code, out = invoke(tmp_path, "radar", "check", env=env)
    per_day = release_radar.household(home.instance, home.now()).plan.per_day
    assert code == 0 and out.startswith(f"{per_day} of {per_day} artists due checked"), out
    assert radar_calls(home.instance) > 0


def test_the_plan_before_the_first_check_is_made_once_per_web_process_not_per_admin_view(home: Household) -> None:
    """The admin page showed the plan by reading every member's plays on each view (0.2-0.6 s of CPU)."""
    release_radar._plan_previews.clear()
    lines, at = release_radar.stored_plan(home.instance, home.instance.db, home.now())
    assert lines and at == home.now()
    # a play added now would change a fresh plan's love figures; within the TTL the preview is reused as made
    home.sleep(60)
    again = release_radar.stored_plan(home.instance, home.instance.db, home.now())
    assert again == (lines, at)
    home.sleep(release_radar.PLAN_PREVIEW_TTL.total_seconds())
    later = release_radar.stored_plan(home.instance, home.instance.db, home.now())
    assert later[1] == home.now()
    # once the daily check has stored its plan, that is what the page shows
    release_radar.check_day(home.instance, home.now, sleep=home.sleep)
    with home.instance.db.read() as conn:
        saved = storage.sync.get_state(conn, release_radar.PLAN_KEY)
    assert isinstance(saved, dict)
    stored = release_radar.stored_plan(home.instance, home.instance.db, home.now() + timedelta(minutes=1))
    assert stored == (saved["lines"], datetime.fromisoformat(saved["at"]))
