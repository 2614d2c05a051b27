"""Open-data tracks are checked once (GET /tracks/{id}, member's market, lowest budget priority) before publishing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from recs.core.config import BudgetSettings
from recs.emulator import EmulatorServer
from recs.storage import sync
from recs.storage.catalog import get_tracks
from recs.storage.publishing import checked_tracks
from recs.storage.schema import track_checks, tracks
from recs.usecases.budget import CEILINGS
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member
from tests.publishing.conftest import catalogue_tracks, sign_in, store_run

# Well-formed ids (22 base62 characters) that name no track: a prior can hold tracks Spotify has withdrawn.
WITHDRAWN = ["000000000000000Withdrn", "111111111111111Withdrn"]


def _held(emulator: EmulatorServer, owner: str) -> list[str]:
    mine = [
        p
        for p in emulator.control.ground_truth()["playlists"]
        if p["owner_id"] == owner and p["name"].startswith("recs")
    ]
    assert len(mine) == 1
    return [i["track_id"] for i in mine[0]["items"]]


def _track_checks(emulator: EmulatorServer, since: int) -> list[str]:
    """The track ids of every GET /v1/tracks/{id} the emulator answered since *since*."""
    return [
        r["path"].rsplit("/", 1)[1]
        for r in emulator.control.requests(since)
        if r["method"] == "GET" and r["path"].startswith("/v1/tracks/")
    ]


def _open_list(emulator: EmulatorServer, user: str, n: int) -> tuple[list[str], set[str]]:
    """*n* tracks for an open-data Discover list, led by some the member cannot play (ground truth) and withdrawn ones."""
    pool = catalogue_tracks(emulator, 400)
    truth = emulator.control.availability(user, pool)["tracks"]
    blocked = [t for t in pool if not truth[t]["playable"]][:3]
    assert len(blocked) == 3, "the emulator makes about one track in thirty unplayable in a market"
    fine = [t for t in pool if truth[t]["playable"]]
    bad = {*blocked, *WITHDRAWN}
    assert not any(emulator.control.availability(user, WITHDRAWN)["tracks"][t]["exists"] for t in WITHDRAWN)
    # The bad ones among the first ten: each has to be replaced by a later candidate.
    wanted = [blocked[0], fine[0], WITHDRAWN[0], blocked[1], *fine[1:6], blocked[2], WITHDRAWN[1], *fine[6 : n - 5]]
    return wanted, bad


def test_unplayable_open_tracks_are_replaced_each_checked_once_with_names_from_spotify(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    wanted, bad = _open_list(emulator, user, 45)
    store_run(instance, [member], wanted, source="open", names="Prior name")
    seq = emulator.control.requests()[-1]["seq"]

    result = publish_member(instance, member, clock())[0]

    assert result.status == "created"
    held = _held(emulator, user)
    assert len(held) == 30 and not set(held) & bad, "a full playlist, none of it unplayable for the member"
    good = [t for t in wanted if t not in bad]
    assert held == good[:30], "each bad track replaced by the next candidate, rank order kept"
    assert not result.dropped, "nothing was left for Spotify to refuse"
    assert result.checks is not None and set(result.checks.unplayable) == bad
    assert "5 open-data track(s) not playable for you, replaced" in result.note
    checked = _track_checks(emulator, seq)
    assert sorted(checked) == sorted(wanted[:35]), "each track the list needed checked once, no more"
    with instance.db.read() as conn:
        ids = dict(conn.execute(select(tracks.c.spotify_id, tracks.c.id).where(tracks.c.spotify_id.in_(wanted))).all())
        found = checked_tracks(conn, ids.values())
        names = get_tracks(conn, [ids[held[0]], ids[WITHDRAWN[0]]])
        reasons = dict(conn.execute(select(track_checks.c.track_id, track_checks.c.reason)).all())
        playable_calls = sync.count_calls(conn, clock() - timedelta(days=1), purpose="playable")
    assert {t for t, ok in found.items() if not ok} == {ids[t] for t in bad}
    assert reasons[ids[WITHDRAWN[0]]] == "not found on Spotify"
    assert "market" in str(reasons[ids[wanted[0]]])
    assert playable_calls == 35, "every check is in the ledger under the lowest priority"
    # Spotify's own data replaced the prior's names once checked; a track never found keeps the prior's.
    catalogue = emulator.emulator.catalog.tracks
    assert names[ids[held[0]]].name == catalogue[held[0]].name != "Prior name 1"
    assert names[ids[held[0]]].artist_names == tuple(
        emulator.emulator.catalog.artists[a].name for a in catalogue[held[0]].artist_ids
    )
    assert names[ids[WITHDRAWN[0]]].name == "Prior name 2"

    # A new run recommending the same tracks: no track is checked twice, and nothing bad comes back. (Spotify's
    # artists now count against the artist cap, so the list may reach further down, to tracks not yet checked.)
    seq = emulator.control.requests()[-1]["seq"]
    store_run(instance, [member], wanted, source="open", names="Prior name")
    again = publish_member(instance, member, clock() + timedelta(days=8))[0]
    assert not set(_track_checks(emulator, seq)) & set(checked)
    assert set(_track_checks(emulator, seq)) <= set(wanted[35:])
    assert again.status in ("written", "unchanged") and not set(_held(emulator, user)) & bad


def test_when_the_lowest_priority_budget_is_spent_unchecked_tracks_are_left_out(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    budget = BudgetSettings(daily_calls=40)
    instance = dataclasses.replace(instance, settings=dataclasses.replace(instance.settings, budget=budget))
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    wanted, bad = _open_list(emulator, user, 45)
    store_run(instance, [member], wanted, source="open")
    with instance.db.read() as conn:
        before = sync.count_calls(conn, clock() - timedelta(days=1), exclude_purpose="token")
    limit = int(budget.daily_calls * CEILINGS["playable"])
    assert before < limit

    result = publish_member(instance, member, clock())[0]

    assert result.status == "created", result
    held = _held(emulator, user)
    assert result.checks is not None and result.checks.unchecked > 0
    assert "daily API budget reached for playable" in (result.checks.stopped or "")
    assert f"{result.checks.unchecked} open-data track(s) left out unchecked" in result.note, result.note
    with instance.db.read() as conn:
        playable_calls = sync.count_calls(conn, clock() - timedelta(days=1), purpose="playable")
        ids = dict(conn.execute(select(tracks.c.spotify_id, tracks.c.id).where(tracks.c.spotify_id.in_(held))).all())
        found = checked_tracks(conn, ids.values())
    assert playable_calls == limit - before, "checks stop at the lowest priority's ceiling, not before, not after"
    assert not set(held) & bad
    assert held and len(held) < 30, "only checked tracks are published: a shorter playlist"
    assert all(found.get(ids[t]) for t in held), "every published open-data track was checked playable"
