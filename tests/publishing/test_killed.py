"""A publishing process killed at any point leaves the playlist old or new, and the next round completes it."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from recs.emulator import EmulatorServer
from recs.storage.publishing import get_playlist_state
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member
from tests.publishing.conftest import catalogue_tracks, instance_env, sign_in, store_run


def _held(emulator: EmulatorServer, user: str) -> list[str]:
    mine = [
        p
        for p in emulator.control.ground_truth()["playlists"]
        if p["owner_id"] == user and p["name"].startswith("recs")
    ]
    assert len(mine) == 1, f"{len(mine)} recs playlists"
    return [i["track_id"] for i in mine[0]["items"]]


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_killed_mid_publish_then_completed(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], tmp_path: Path
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    pool = catalogue_tracks(emulator, 200)
    store_run(instance, [member], pool[:30])
    publish_member(instance, member, clock())
    rng = random.Random(7)
    recs = str(Path(sys.executable).with_name("recs"))
    lists = [pool[30:60], pool[60:90], pool[90:120]]
    for round_no, new in enumerate(lists):
        old = _held(emulator, user)
        store_run(instance, [member], new)
        # The item write takes a while on the server, so the kill can land while it is in flight.
        emulator.control.add_fault("PUT", "/v1/playlists/*/items", delay_s=1.0, times=1)
        process = subprocess.Popen([recs, "publish", "--member", str(member)], env=instance_env(instance), cwd=tmp_path)
        if round_no == 0:
            # Kill as soon as the write is in flight.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(f["hits"] for f in emulator.control.faults()):
                time.sleep(0.02)
        else:
            time.sleep(rng.uniform(0.0, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(1.2)  # let an in-flight write land on the server
        emulator.control.clear_faults()
        after_kill = _held(emulator, user)
        expected_new = [u.rsplit(":", 1)[1] for u in _plan(instance, member, clock)]
        assert after_kill in (old, expected_new), f"round {round_no}: the playlist is neither old nor new"
        finished = publish_member(instance, member, clock())[0]
        assert finished.status in ("written", "unchanged")
        assert _held(emulator, user) == expected_new
        with instance.db.read() as conn:
            state = get_playlist_state(conn, member, "discover")
        assert state.pending_hash is None and state.spotify_playlist_id == finished.playlist_id


def _plan(instance: Instance, member: int, clock: Callable[[], datetime]) -> list[str]:
    from recs.usecases.playlists import plan

    return plan(instance, member, "discover", clock())[1]
