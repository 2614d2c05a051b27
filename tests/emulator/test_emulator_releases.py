"""The emulator's release stream: dates, kinds of release, ground truth, and GET /artists/{id}/albums over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from recs.emulator import ControlClient, Emulator, EmulatorServer
from recs.emulator.control import ControlError
from recs.emulator.household import from_ms, to_ms
from recs.emulator.releases import ReleaseStream


def _api(server: EmulatorServer, token: str, path: str, status: int = 200) -> Any:
    response = requests.get(server.api_base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == status, response.text
    return response.json()


def _token(control: ControlClient, member_id: str) -> str:
    """Signed in after the clock moved: an access token lives an hour."""
    access: str = control.sign_in(member_id)["access_token"]
    return access


def test_stream_is_seeded_and_independent_of_how_the_clock_moved() -> None:
    at_once, by_day = Emulator(3, 2, history_days=5), Emulator(3, 2, history_days=5)
    at_once.advance(10 * 86_400)
    for _ in range(10):
        by_day.advance(86_400)
    today = from_ms(at_once.now_ms).date().isoformat()
    truth = at_once.releases.ground_truth("2000-01-01", today)
    assert truth == by_day.releases.ground_truth("2000-01-01", today)
    kinds = {r["kind"] for r in truth}
    assert {"single", "album", "feature", "deluxe", "remaster", "compilation"} <= kinds
    assert Emulator(4, 2, history_days=5).releases.ground_truth("2000-01-01", today) != truth


def test_re_releases_bring_out_nothing_new_and_deluxe_only_its_bonus_tracks() -> None:
    world = Emulator(1, 2, history_days=5)
    world.advance(20 * 86_400)
    albums, tracks = world.releases.album_table, world.releases.track_table
    seen_kinds: set[str] = set()
    for r in world.releases.ground_truth("2000-01-01", from_ms(world.now_ms).date().isoformat()):
        album = albums[r["album_id"]]
        seen_kinds.add(r["kind"])
        assert (album.version == "") == bool(r["new_track_ids"]) or r["kind"] == "deluxe"
        if r["album_id"] not in world.releases.albums:
            continue  # the catalogue's own: see the next test
        if r["kind"] in ("remaster", "deluxe"):
            original = albums[r["original_album_id"]]
            assert original.release_date < album.release_date
            names = [tracks[t].name for t in original.track_ids]
            assert [tracks[t].name for t in album.track_ids[: len(names)]] == names
            bonus = album.track_ids[len(names) :]
            if r["kind"] == "remaster":
                assert r["new_track_ids"] == [] and bonus == []
            else:
                old_isrcs = {tracks[t].isrc for t in original.track_ids}
                assert {tracks[t].isrc for t in album.track_ids[: len(names)]} == old_isrcs
                assert r["new_track_ids"] == bonus and bonus
        elif r["kind"] == "compilation":
            assert album.album_type == "compilation" and r["new_track_ids"] == []
            artist_isrcs = {
                tracks[t].isrc
                for a in world.releases.own[r["artist_id"]]
                if albums[a].release_date < album.release_date
                for t in albums[a].track_ids
            }
            assert {tracks[t].isrc for t in album.track_ids} <= artist_isrcs
        elif r["kind"] == "feature":
            credited = [t for t in album.track_ids if len(tracks[t].artist_ids) > 1]
            assert len(credited) == 1
            featured = tracks[credited[0]].artist_ids[1]
            assert r["new_tracks_by_artist"][featured] == credited
            assert featured != r["artist_id"]
        else:
            assert r["new_track_ids"] == album.track_ids
    assert {"remaster", "deluxe", "compilation", "feature"} <= seen_kinds


def test_the_catalogues_own_remasters_and_compilations_are_not_new_releases() -> None:
    world = Emulator(0, 1, history_days=0)
    catalog = world.catalog
    for version in ("remaster", "live", "compilation"):
        album = next(al for al in catalog.albums.values() if al.version == version)
        day = date.fromisoformat(album.release_date)
        stream = ReleaseStream(catalog, 0, to_ms(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)))
        (truth,) = [r for r in stream.ground_truth(album.release_date, album.release_date) if r["album_id"] == album.id]
        assert truth["kind"] == version and truth["new_track_ids"] == []
        first = catalog.tracks[album.track_ids[0]]
        assert truth["original_album_id"] == catalog.tracks[first.original_id or ""].album_id
        originals = [
            r
            for r in stream.ground_truth("2000-01-01", album.release_date)
            if r["album_id"] in catalog.albums and not catalog.albums[r["album_id"]].version
        ]
        assert any(r["new_track_ids"] for r in originals)
        for r in originals:
            album_tracks = catalog.albums[r["album_id"]].track_ids
            assert set(r["new_track_ids"]) <= set(album_tracks)
            for left_out in set(album_tracks) - set(r["new_track_ids"]):
                # only a title the artist has on another original is not counted new
                track = catalog.tracks[left_out]
                assert any(
                    other.id != track.id
                    and other.artist_ids[0] == track.artist_ids[0]
                    and other.name.casefold() == track.name.casefold()
                    and not catalog.albums[other.album_id].version
                    for other in catalog.tracks.values()
                )


def test_artist_albums_newest_first_by_group_with_paging(
    server: EmulatorServer, control: ControlClient, member_id: str
) -> None:
    control.advance(days=30)
    token = _token(control, member_id)
    truth = control.releases(since=date(2000, 1, 1))
    feature = next(r for r in truth["releases"] if r["kind"] == "feature")
    featured = next(a for a in feature["new_tracks_by_artist"] if a != feature["artist_id"])

    pages: list[dict[str, Any]] = []
    path: str | None = f"artists/{featured}/albums?include_groups=album,single,appears_on,compilation&limit=10"
    while path:
        page = _api(server, token, path)
        assert len(page["items"]) <= 10
        pages.extend(page["items"])
        path = page["next"][len(server.api_base_url) :] if page["next"] else None
    assert len(pages) == page["total"] == len({a["id"] for a in pages})
    dates = [a["release_date"] for a in pages]
    assert dates == sorted(dates, reverse=True)
    assert max(dates) <= truth["today"]
    on = [a for a in pages if a["id"] == feature["album_id"]]
    assert on and on[0]["album_group"] == "appears_on" and on[0]["artists"][0]["id"] == feature["artist_id"]

    only = _api(server, token, f"artists/{featured}/albums?include_groups=appears_on&limit=10")
    assert only["items"] and {a["album_group"] for a in only["items"]} == {"appears_on"}
    singles = _api(server, token, f"artists/{featured}/albums?include_groups=single&limit=10")
    assert {a["album_group"] for a in singles["items"]} <= {"single"}
    assert singles["total"] == sum(1 for a in pages if a["album_group"] == "single")
    _api(server, token, f"artists/{featured}/albums?include_groups=album,bogus", 400)

    # the feature's tracks: the artist is credited on exactly one, which is a real, fetchable track
    tracks = _api(server, token, f"albums/{feature['album_id']}/tracks?limit=50")["items"]
    credited = [t for t in tracks if featured in {a["id"] for a in t["artists"]}]
    assert [t["id"] for t in credited] == feature["new_tracks_by_artist"][featured]
    full = _api(server, token, f"tracks/{credited[0]['id']}")
    assert full["album"]["id"] == feature["album_id"] and full["external_ids"]["isrc"]


def test_a_release_is_listed_only_from_its_day(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    today = control.now().date()
    assert control.releases(since=today + timedelta(days=1), until=today + timedelta(days=9))["releases"] == []
    control.advance(days=3)
    token = _token(control, member_id)
    new = control.releases(since=today + timedelta(days=1))["releases"]
    assert new and all(r["release_date"] > today.isoformat() for r in new)
    release = new[0]
    listed = _api(server, token, f"artists/{release['artist_id']}/albums?limit=10")
    assert listed["items"][0]["release_date"] >= release["release_date"]
    assert release["album_id"] in {a["id"] for a in listed["items"]}


def test_releases_control_names_a_bad_day(control: ControlClient) -> None:
    with pytest.raises(ControlError, match="since must be an ISO day"):
        control._call("GET", "releases", params={"since": "yesterday"})
