"""A track Spotify refuses ("Payload contains a non-existing ID") is dropped; the member still gets the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from recs.emulator import EmulatorServer
from recs.storage.publishing import recent_rejections
from recs.storage.schema import publish_settings
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member
from tests.publishing.conftest import catalogue_tracks, sign_in, store_run

# Well-formed ids (22 base62 characters) that name no track: Spotify refuses a write holding one.
GONE = ["000000000000000000Gone", "111111111111111111Gone"]


def _held(emulator: EmulatorServer, owner: str) -> list[str]:
    mine = [
        p
        for p in emulator.control.ground_truth()["playlists"]
        if p["owner_id"] == owner and p["name"].startswith("recs")
    ]
    assert len(mine) == 1
    return [i["track_id"] for i in mine[0]["items"]]


def _refused(emulator: EmulatorServer, since: int) -> list[dict[str, Any]]:
    return [r for r in emulator.control.requests(since) if r["path"].endswith("/items") and r["status"] == 400]


def test_a_refused_track_is_dropped_recorded_and_left_out_next_time(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    with instance.db.write() as conn:
        conn.execute(
            publish_settings.insert().values(
                member_id=member,
                size=150,
                discover=True,
                rediscover=False,
                frequency="weekly",
                weekday=0,
                local_time="07:00",
            )
        )
    pool = catalogue_tracks(emulator, 200)
    # One unknown id in the first hundred, one in the second: both writes are refused whole.
    wanted = [*pool[:40], GONE[0], *pool[40:120], GONE[1], *pool[120:160]]
    store_run(instance, [member], wanted)
    result = publish_member(instance, member, clock())[0]
    assert result.status == "created"
    assert sorted(u.rsplit(":", 1)[1] for u in result.dropped) == sorted(GONE)
    assert all("non-existing ID" in why for why in result.dropped.values())
    held = _held(emulator, user)
    assert held == [u.rsplit(":", 1)[1] for u in result.uris]
    assert not set(GONE) & set(held) and len(held) == 150 - len(GONE)
    with instance.db.read() as conn:
        rejections = recent_rejections(conn)
    assert sorted(r.spotify_id or "" for r in rejections) == sorted(GONE)
    assert all(r.kind == "discover" and "non-existing ID" in r.reason for r in rejections)
    # The next model run still ranks them: they are left out without asking Spotify again.
    store_run(instance, [member], list(reversed(wanted)))
    mark = len(emulator.control.requests())
    again = publish_member(instance, member, clock())[0]
    assert again.status == "written" and again.dropped == {}
    assert _refused(emulator, mark) == []
    assert _held(emulator, user) == [u.rsplit(":", 1)[1] for u in again.uris]


def test_when_every_track_is_refused_the_playlist_is_emptied_not_left_stale(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    store_run(instance, [member], catalogue_tracks(emulator, 10))
    publish_member(instance, member, clock())
    assert len(_held(emulator, user)) == 10
    store_run(instance, [member], GONE)
    result = publish_member(instance, member, clock())[0]
    assert result.status == "written" and len(result.dropped) == 2 and result.uris == []
    assert _held(emulator, user) == []
