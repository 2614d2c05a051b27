"""Release Radar over an emulated month for 5 members loving 200 artists each: every new release found, within budget, no 429."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from recs import storage
from recs.core.config import Settings, SpotifySettings
from recs.core.keys import Secrets
from recs.emulator import EmulatorServer
from recs.spotify.client import BareApi
from recs.storage import Database
from recs.storage.schema import plays, radar_finds, tracks
from recs.usecases import ingest, release_radar
from recs.usecases.instance import Instance
from tests.ingest.conftest import Household, emulator_instance, held_open

DAYS = 30
FOLLOWS = 200
WINDOW = 14


def follow(h: Household, user: str, artist_ids: list[str]) -> None:
    """The member follows these artists in their Spotify app (PUT /me/library, 40 at a time)."""
    api = BareApi(SpotifySettings(api_base_url=h.server.api_base_url), h.control.sign_in(user)["access_token"])
    for start in range(0, len(artist_ids), 40):
        uris = ",".join(f"spotify:artist:{a}" for a in artist_ids[start : start + 40])
        api.call("library", "PUT me/library", lambda sp, uris=uris: sp._put("me/library", uris=uris), expect_body=False)


def rolling_peak(times: list[datetime]) -> int:
    j = peak = 0
    for i, at in enumerate(times):
        while times[j] <= at - timedelta(days=1):
            j += 1
        peak = max(peak, i - j + 1)
    return peak


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_month_of_release_radar_finds_every_new_release_within_budget(
    settings: Settings, db: Database, secrets: Secrets
) -> None:
    # 12 genres x 90 artists: room for 5 x 200 loved artists with none in common (the plan's worst case)
    with held_open(db), EmulatorServer(seed=3, members=5, history_days=30, artists_per_genre=90) as server:
        h = Household(server, emulator_instance(server, settings, db, secrets))
        members = h.join_all()
        pool = sorted(server.emulator.catalog.artists)
        random.Random(3).shuffle(pool)
        for n, m in enumerate(members):
            follow(h, m.spotify_id, pool[n * FOLLOWS : (n + 1) * FOLLOWS])
        h.control.clear_requests()
        instance = h.instance
        start = h.now()
        end = start + timedelta(days=DAYS)
        next_check = start + timedelta(hours=2)
        orders: list[list[int]] = []
        found: dict[str, str] = {}
        plans = []
        while h.now() < end:
            ingest.sync_all(instance, now=h.now, sleep=h.sleep)
            if h.now() >= next_check:
                report = release_radar.check_day(instance, h.now, sleep=h.sleep)
                # what the day found (finds older than the window are forgotten by later checks)
                found.update(_finds(instance))
                hh = release_radar.household(instance, h.now())
                orders.append(hh.order)
                plans.append((hh.plan, report))
                next_check += timedelta(days=1)
            release_radar.publish_due(instance, h.now())
            due = ingest.next_due(instance)
            wake = min(d for d in (due, next_check, end) if d is not None)
            if wake > h.now():
                h.sleep((wake - h.now()).total_seconds() + 1)
        final = h.now()

        loved = release_radar.household(instance, final)
        sizes = [len(v) for v in loved.loved.values()]
        assert sizes == [200] * 5, sizes
        # the artists loved all month long (a few at the edge of a member's 200 change places with plays)
        steady = set(orders[0]).intersection(*orders[1:])
        cycle = plans[0][0].cycle_days
        first = (start + timedelta(days=cycle - WINDOW)).date()
        # a release dated the day its artist's last check of the month ran may come after that check: the
        # window ends a full cycle and a day before the end, so every counted release had a check after it
        last = (end - timedelta(days=cycle + 1)).date()
        spotify = loved.spotify
        steady_ids = {spotify[a] for a in steady}
        releases = h.control.releases(since=first, until=last)["releases"]
        truth = {t for r in releases for a, ts in r["new_tracks_by_artist"].items() if a in steady_ids for t in ts}
        with instance.db.read() as conn:
            steady_tracks = {
                sid
                for sid in found
                if set(storage.radar.artist_spotify_ids(conn, _credited(conn, sid)).values()) & steady_ids
            }
        got = {t for t, day in found.items() if first.isoformat() <= day <= last.isoformat() and t in steady_tracks}
        hit = got & truth
        recall, precision = len(hit) / len(truth), len(hit) / len(got)
        kinds = Counter(r["kind"] for r in releases if r["artist_id"] in steady_ids)

        ledger_times = sorted(at for at, *_ in _ledger(instance, start))
        peak = rolling_peak(ledger_times)
        radar_times = sorted(at for at, _m, purpose, *_ in _ledger(instance, start) if purpose == "radar")
        per_day = Counter((at - start).days for at in radar_times)
        checked = [r.checked for _p, r in plans]
        stops = sum(1 for _p, r in plans if r.stopped)
        errors = [e for _p, r in plans for e in r.errors]
        answered = h.control.requests()
        too_many = [r for r in answered if r["status"] == 429]
        print(
            f"\nrelease radar month: {len(steady)} steady loved artists of {len(orders[-1])}; plan "
            f"{plans[0][0].per_day} a day, cycle {cycle} d, {plans[0][0].calls_per_day:.0f} calls a day expected; "
            f"releases {first}..{last} by them: {dict(kinds)}; new tracks {len(truth)}, found {len(got)}, "
            f"recall {recall:.3f}, precision {precision:.3f}; radar calls a day max {max(per_day.values())}, "
            f"mean {sum(per_day.values()) / len(per_day):.1f}; peak of all calls in 24 h {peak} "
            f"(budget {instance.settings.budget.daily_calls}); 429s {len(too_many)}; artists checked a day min "
            f"{min(checked)} max {max(checked)}; days stopped early {stops}; errors {errors[:3]}"
        )
        # five lists of 200 with a few artists in common (those the members play)
        assert len(steady) >= 0.9 * len(orders[-1]) and len(orders[-1]) >= 900
        assert truth and recall == 1.0, sorted(truth - got)[:5]
        assert precision >= 0.95
        assert {"deluxe", "remaster", "compilation"} <= set(kinds)
        assert peak <= instance.settings.budget.daily_calls
        assert not too_many, too_many[:3]
        # each member's playlist holds only finds crediting their own loved artists, none they played
        for m in members:
            with instance.db.read() as conn:
                state = storage.publishing.get_playlist_state(conn, m.id, release_radar.KIND)
            assert state.spotify_playlist_id is not None and state.written_at is not None
            mine = {spotify[x.artist_id] for x in loved.loved[m.id]}
            items = _items(h, state.spotify_playlist_id)
            with instance.db.read() as conn:
                heard = conn.execute(
                    select(tracks.c.spotify_id)
                    .join(plays, plays.c.track_id == tracks.c.id)
                    .where(
                        plays.c.member_id == m.id, plays.c.played_at <= state.written_at, tracks.c.spotify_id.in_(items)
                    )
                ).all()
                assert items and not heard, heard
                for sid in items:
                    assert set(storage.radar.artist_spotify_ids(conn, _credited(conn, sid)).values()) & mine


def _finds(instance: Instance) -> dict[str, str]:
    with instance.db.read() as conn:
        rows = conn.execute(
            select(tracks.c.spotify_id, radar_finds.c.release_date).join(tracks, tracks.c.id == radar_finds.c.track_id)
        )
        return {str(sid): str(day) for sid, day in rows}


def _credited(conn: storage.Connection, spotify_id: str) -> list[int]:
    from recs.storage.schema import track_artists

    return [
        int(r[0])
        for r in conn.execute(
            select(track_artists.c.artist_id)
            .join(tracks, tracks.c.id == track_artists.c.track_id)
            .where(tracks.c.spotify_id == spotify_id)
        )
    ]


def _ledger(instance: Instance, since: datetime) -> list[tuple[datetime, int | None, str, str, int | None]]:
    with instance.db.read() as conn:
        return storage.sync.list_calls(conn, since - timedelta(days=1))


def _items(h: Household, playlist_id: str) -> list[str]:
    playlist = next(p for p in h.control.ground_truth()["playlists"] if p["id"] == playlist_id)
    return [str(i["track_id"]) for i in playlist["items"]]
