"""A playlist create whose answer is lost (timeout, dropped connection, killed process) leaves one playlist, not two."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from recs.emulator import EmulatorServer
from recs.storage.publishing import get_playlist_state
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member
from tests.publishing.conftest import catalogue_tracks, instance_env, sign_in, store_run


def _recs_playlists(emulator: EmulatorServer, owner: str) -> list[dict[str, Any]]:
    truth = emulator.control.ground_truth()
    return [p for p in truth["playlists"] if p["owner_id"] == owner and p["name"].startswith("recs")]


@pytest.mark.parametrize("fault", [{"drop": True}, {"delay_s": 1.5}], ids=["dropped", "timed-out"])
def test_a_create_whose_answer_was_lost_is_adopted_not_repeated(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], fault: dict[str, Any]
) -> None:
    spotify = dataclasses.replace(instance.settings.spotify, request_timeout_s=0.5)
    instance = dataclasses.replace(instance, settings=dataclasses.replace(instance.settings, spotify=spotify))
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    # Spotify creates the playlist; only its answer is lost.
    emulator.control.add_fault("POST", "/v1/me/playlists", after=True, **fault)
    with pytest.raises(Exception):  # noqa: B017 - a timeout or a dropped connection
        publish_member(instance, member, clock())
    assert len(_recs_playlists(emulator, user)) == 1, "the emulator did not create the playlist before the fault"
    with instance.db.read() as conn:
        assert get_playlist_state(conn, member, "discover").spotify_playlist_id is None
    again = publish_member(instance, member, clock())[0]
    mine = _recs_playlists(emulator, user)
    assert [p["id"] for p in mine] == [again.playlist_id], f"{len(mine)} recs playlists after the retry"
    assert again.status == "written" and "adopted" in again.note
    assert [i["track_id"] for i in mine[0]["items"]] == [u.rsplit(":", 1)[1] for u in again.uris]
    creates = [r for r in emulator.control.requests() if r["method"] == "POST" and r["path"] == "/v1/me/playlists"]
    assert len(creates) == 1


def test_another_members_marked_playlist_is_not_adopted(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    users = [m["user_id"] for m in emulator.control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    store_run(instance, members, catalogue_tracks(emulator, 20))
    first = publish_member(instance, members[0], clock())[0]
    assert first.status == "created"
    second = publish_member(instance, members[1], clock())[0]
    assert second.status == "created" and second.playlist_id != first.playlist_id
    assert len(_recs_playlists(emulator, users[1])) == 1


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
@pytest.mark.slow
def test_publish_killed_during_the_create_call_then_run_again_leaves_one_playlist(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], tmp_path: Path
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    # The create lands on Spotify, then its answer is held back long enough for the kill to come first.
    emulator.control.add_fault("POST", "/v1/me/playlists", after=True, delay_s=20)
    recs = str(Path(sys.executable).with_name("recs"))
    process = subprocess.Popen(
        [recs, "publish", "--member", str(member)],
        env=instance_env(instance),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _recs_playlists(emulator, user):
            assert process.poll() is None, "recs publish ended before its create call"
            assert time.monotonic() < deadline, "recs publish never made its create call"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    emulator.control.clear_faults()
    with instance.db.read() as conn:
        assert get_playlist_state(conn, member, "discover").spotify_playlist_id is None
    again = publish_member(instance, member, clock())[0]
    mine = _recs_playlists(emulator, user)
    assert [p["id"] for p in mine] == [again.playlist_id], f"{len(mine)} recs playlists after the rerun"
    assert [i["track_id"] for i in mine[0]["items"]] == [u.rsplit(":", 1)[1] for u in again.uris]
