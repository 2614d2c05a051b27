"""recs' own calls meet the 2026 API's small rules (issue 17 item 6), read from the emulator's request log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from recs.emulator import EmulatorServer
from recs.spotify.search import SpotifyTrackSearch
from recs.storage import schema as s
from recs.usecases import ingest
from recs.usecases.accounts import member_client
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member
from recs.usecases.saving import save_to_library
from tests.publishing.conftest import catalogue_tracks, sign_in, store_run


def _body(entry: dict[str, Any]) -> Any:
    body = entry.get("body")
    return json.loads(body) if isinstance(body, str) and body else body


def test_a_sync_a_publish_a_save_and_a_name_lookup_meet_the_2026_api(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    control = emulator.control
    users = [m["user_id"] for m in control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    control.clear_requests()
    reports = ingest.sync_all(instance, now=clock, sleep=emulator.emulator.advance, force=True)
    assert reports and not any(r.errors for r in reports), [r.errors for r in reports]
    pool = catalogue_tracks(emulator, 40)
    store_run(instance, members, pool[:30])
    assert publish_member(instance, members[0], clock())[0].status == "created"
    with instance.db.read() as conn:
        track_id = int(conn.execute(sa.select(s.tracks.c.id).where(s.tracks.c.spotify_id == pool[0])).scalar_one())
    assert save_to_library(instance, members[0], track_id, clock) is not None
    track = emulator.emulator.catalog.tracks[pool[1]]
    artist = emulator.emulator.catalog.artists[track.artist_ids[0]].name
    found = SpotifyTrackSearch(member_client(instance, members[0], clock))(artist, track.name)
    assert pool[1] in {c.spotify_id for c in found}

    calls = [r for r in control.requests() if r["path"].startswith("/v1/")]
    assert {r["method"] for r in calls} >= {"GET", "POST", "PUT"}
    # Nothing recs calls is removed (403/404/405), malformed (400: an invalid market, unbalanced fields, a bad
    # limit) or refused for a scope: followed and Spotify-owned playlists are never read for their items.
    refused = [(r["method"], r["path"], r["query"], r["status"]) for r in calls if r["status"] >= 400]
    assert refused == []
    # a market, when recs sends one (its playability check of open-data tracks), is one Spotify accepts
    markets = {r["query"]["market"] for r in calls if "market" in r["query"]}
    assert all(m == "from_token" or (len(m) == 2 and m.isupper()) for m in markets), markets
    # search: tracks only, at most the 2026 limit of 10
    searches = [r["query"] for r in calls if r["path"] == "/v1/search"]
    assert searches and all(q["type"] == "track" and 1 <= int(q["limit"]) <= 10 for q in searches)
    # playlist writes go to /items with a {"uris": [...]} body (never the removed /tracks, never a bare
    # array); recs replaces contents and never DELETEs items, so the old `tracks` key and a stale
    # snapshot_id cannot arise
    writes = [r for r in calls if r["path"].startswith("/v1/playlists/") and r["method"] in ("POST", "PUT", "DELETE")]
    item_writes = [r for r in writes if r["path"].endswith("/items")]
    assert item_writes and all(r["method"] != "DELETE" for r in item_writes)
    assert all(isinstance(_body(r), dict) and "uris" in _body(r) for r in item_writes)
    assert not [r for r in calls if r["path"].endswith("/tracks") and r["path"].startswith("/v1/playlists/")]
    # liking a track goes through the 2026 /me/library, URIs in the query
    saves = [r for r in calls if r["path"] == "/v1/me/library"]
    assert [r["method"] for r in saves] == ["PUT"] and saves[0]["query"]["uris"] == f"spotify:track:{pool[0]}"
