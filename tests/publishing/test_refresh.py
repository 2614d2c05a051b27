"""`recs refresh` for cron: one whole round (sync, train, publish), exiting non-zero with a summary when a step failed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from recs.emulator import EmulatorServer
from recs.storage.listening import count_plays
from recs.usecases.instance import Instance
from tests.publishing.conftest import catalogue_tracks, instance_env, sign_in, store_run


def _refresh(instance: Instance, cwd: Path) -> subprocess.CompletedProcess[str]:
    recs = str(Path(sys.executable).with_name("recs"))
    return subprocess.run(
        [recs, "refresh"], env=instance_env(instance), cwd=cwd, capture_output=True, text=True, timeout=180
    )


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_refresh_runs_a_round_and_fails_loudly(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], tmp_path: Path
) -> None:
    users = [m["user_id"] for m in emulator.control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    store_run(instance, members, catalogue_tracks(emulator, 60))
    done = _refresh(instance, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refresh complete" in done.stdout
    for line in ("sync    member", "train", "publish member"):
        assert line in done.stdout
    with instance.db.read() as conn:
        assert all(count_plays(conn, m) > 0 for m in members)  # the sync step stored listening
    ours = [p for p in emulator.control.ground_truth()["playlists"] if p["name"].startswith("recs")]
    assert sorted(p["owner_id"] for p in ours) == sorted(users)
    # Spotify refuses every playlist write for a while: the round says which step failed and exits 1.
    emulator.control.add_fault("PUT", "/v1/playlists/*", status=503, times=50)
    emulator.control.add_fault("POST", "/v1/playlists/*", status=503, times=50)
    store_run(instance, members, catalogue_tracks(emulator, 120)[60:])
    failed = _refresh(instance, tmp_path)
    assert failed.returncode == 1
    assert "step(s) failed" in failed.stderr and "publish member" in failed.stderr
