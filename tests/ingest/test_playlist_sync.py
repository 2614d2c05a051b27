"""Playlist sync against playlists as they really are: followed and Spotify-owned ones, odd items, churn, cost."""

from __future__ import annotations

import math
from typing import Any

from recs.storage import sync as sq
from recs.usecases import ingest

from .conftest import Household

PAGE = 50


def readable(truth: dict[str, Any], user: str) -> dict[str, dict[str, Any]]:
    """The playlists a dev-mode app may read for *user*: owned or collaborated on."""
    return {p["id"]: p for p in truth["playlists"] if p["owner_id"] == user or user in p["collaborators"]}


def expected_contents(playlist: dict[str, Any]) -> tuple[str, list[str]]:
    # episodes, local files and null items are not music the model can use: only catalogue tracks count
    return playlist["name"], [it["track_id"] for it in playlist["items"] if it["kind"] == "track"]


def stored(household: Household, member_id: int) -> dict[str, tuple[str, list[str | None]]]:
    with household.instance.db.read() as conn:
        return sq.playlist_contents(conn, member_id)


def playlist_calls(household: Household, since: int = 0) -> list[dict[str, Any]]:
    return [
        r
        for r in household.control.requests(since)
        if r["path"] == "/v1/me/playlists" or r["path"].startswith("/v1/playlists/")
    ]


def test_sync_keeps_own_playlists_skips_followed_ones_and_counts_only_tracks(household: Household) -> None:
    members = household.join_all(3)
    truth = household.control.ground_truth(since=household.control.now())
    followed_only = [p for p in truth["playlists"] if p["followers"]]
    # the world holds what real accounts hold (checked first, so a change of the generator cannot hide it)
    assert any(p["owner_id"] == "spotify" for p in followed_only)
    assert any(p["collaborative"] and set(p["followers"]) - set(p["collaborators"]) for p in followed_only)
    kinds = {it["kind"] for p in truth["playlists"] for it in p["items"]}
    assert {"track", "episode", "local", "null"} <= kinds

    reports = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    assert not [r.errors for r in reports if r.errors]
    calls = playlist_calls(household)
    for member, user in zip(members, household.users, strict=False):
        mine = readable(truth, user)
        got = stored(household, member.id)
        assert got == {pid: expected_contents(p) for pid, p in mine.items()}
        # followed playlists were never stored, and Spotify's own were never asked for
        for p in truth["playlists"]:
            if user in p["followers"]:
                assert p["id"] not in got
            if p["owner_id"] == "spotify":
                assert not any(p["id"] in c["path"] for c in calls)
    # the collaborative mix a member only follows was tried (recs cannot tell from the listing) and refused
    refused = [c for c in calls if c["status"] == 403]
    assert len(refused) == 1 and refused[0]["path"].endswith("/items")


def test_churn_is_reread_only_where_the_snapshot_changed_and_costs_what_it_should(household: Household) -> None:
    (member,) = household.join_all(1)
    user = household.users[0]
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    before = readable(household.control.ground_truth(user, since=household.control.now()), user)
    household.control.clear_requests()

    household.control.advance(days=30)
    truth = household.control.ground_truth(user, since=household.control.now())
    after = readable(truth, user)
    changed = {pid for pid, p in after.items() if pid not in before or before[pid]["snapshot_id"] != p["snapshot_id"]}
    unchanged = set(after) - changed
    assert changed and unchanged, "seed 7 changes some playlists in 30 days and leaves others alone"
    (report,) = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep, force=True)
    assert not report.errors, report.errors

    assert stored(household, member.id) == {pid: expected_contents(p) for pid, p in after.items()}
    calls = playlist_calls(household)
    item_calls = [c for c in calls if c["path"].endswith("/items")]
    assert {c["path"].split("/")[3] for c in item_calls} == changed
    listed = [p for p in truth["playlists"] if user in (p["owner_id"], *p["collaborators"], *p["followers"])]
    expected_cost = math.ceil(len(listed) / PAGE) + sum(
        max(1, math.ceil(len(after[pid]["items"]) / PAGE)) for pid in changed
    )
    assert len(calls) == expected_cost


def test_a_playlist_deleted_renamed_or_reordered_between_polls_is_seen_at_the_next(household: Household) -> None:
    (member,) = household.join_all(1)
    user = household.users[0]
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    own = [p for p in readable(household.control.ground_truth(user, since=household.control.now()), user).values()]
    gone, renamed = own[0]["id"], own[1]["id"]
    household.control.delete_playlist(gone)
    token = household.control.sign_in(user)["access_token"]
    import requests

    api = household.server.api_base_url
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.put(f"{api}playlists/{renamed}", json={"name": "renamed"}, headers=headers, timeout=5).ok
    moved = requests.put(
        f"{api}playlists/{renamed}/items", json={"range_start": 0, "insert_before": 3}, headers=headers, timeout=5
    )
    assert moved.ok
    household.sleep(60)
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep, force=True)
    truth = readable(household.control.ground_truth(user, since=household.control.now()), user)
    got = stored(household, member.id)
    assert gone not in got
    assert got[renamed] == expected_contents(truth[renamed]) and got[renamed][0] == "renamed"
