"""Sign-in and sync against the emulator over HTTP: plays, library, metadata from payloads, the ledger."""

from __future__ import annotations

from datetime import timedelta

from recs.core.domain import ArtistInfo, TrackInfo
from recs.storage import catalog
from recs.storage import sync as sq
from recs.storage.listening import count_plays
from recs.usecases import ingest

from .conftest import Household


def test_first_sync_stores_recent_plays_library_and_every_call_in_the_ledger(any_household: Household) -> None:
    household = any_household
    (owner,) = household.join_all(1)
    assert owner.role == "owner"
    (report,) = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    assert not report.errors, report.errors
    assert report.new_plays > 0 and report.saved_tracks > 0
    with household.instance.db.read() as conn:
        assert count_plays(conn, owner.id) == report.new_plays
        assert sq.count_saved_tracks(conn, owner.id) == report.saved_tracks
        ledger = sq.list_calls(conn, household.now() - timedelta(days=1))
    api_requests = [r for r in household.control.requests() if r["path"].startswith("/v1/")]
    # Every Web API request the emulator saw is in the ledger, with its purpose.
    assert len([c for c in ledger if c[2] != "token"]) == len(api_requests)
    assert report.calls == len([c for c in ledger if c[1] == owner.id])
    assert {c[2] for c in ledger} >= {"polling", "library"}
    # Metadata came from the payloads: no per-track, per-artist or per-album calls.
    assert not any(r["path"].startswith(("/v1/tracks", "/v1/artists", "/v1/albums")) for r in api_requests)


def test_second_sync_asks_only_for_newer_plays_and_skips_unchanged_playlists(any_household: Household) -> None:
    household = any_household
    household.join_all(1)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    household.control.clear_requests()
    household.sleep(3600)
    (report,) = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep, force=True)
    assert not report.errors, report.errors
    paths = [(r["path"], r.get("query")) for r in household.control.requests() if r["path"].startswith("/v1/")]
    recent = [q for p, q in paths if p == "/v1/me/player/recently-played"]
    assert len(recent) == 1 and "after" in str(recent[0])
    assert not any(p.startswith("/v1/playlists/") for p, _ in paths)


def test_saved_tracks_are_read_incrementally_and_in_full_weekly_to_see_removals(household: Household) -> None:
    (member,) = household.join_all(1)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    with household.instance.db.write() as conn:
        count = sq.count_saved_tracks(conn, member.id)
        # A track the member has since removed on Spotify (the API never says so).
        ids = catalog.upsert_tracks(conn, [TrackInfo("0" * 22, "Removed", (ArtistInfo("a" * 22, "Gone"),))])
        sq.upsert_saved_tracks(conn, member.id, [(ids["0" * 22], household.now() - timedelta(days=400))])
    household.control.clear_requests()
    household.sleep(86400 + 60)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    saved_calls = [r for r in household.control.requests() if r["path"] == "/v1/me/tracks"]
    assert len(saved_calls) == 1  # incremental: stopped at the first known added_at
    with household.instance.db.read() as conn:
        assert sq.count_saved_tracks(conn, member.id) >= count + 1
    household.sleep(7 * 86400)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    truth = household.control.ground_truth(household.users[0])["saved_tracks"][household.users[0]]
    with household.instance.db.read() as conn:
        assert sq.count_saved_tracks(conn, member.id) == len({s["track_id"] for s in truth})
