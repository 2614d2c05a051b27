"""A worker process for simulations on the emulator's clock: it runs one sync job as `recs worker` does, and is killed.

`recs worker` polls on the wall clock; a simulation moves the emulator's clock instead. This module
is the same worker path (recs.usecases.jobs.execute: the ledger, a job child process that dies with its
parent) with a job body that reads the emulator's clock, so a simulation can SIGKILL a real worker
mid-job and check what the next worker and the next rounds make of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from recs.emulator.control import ControlClient
from recs.usecases.instance import Instance

CONTROL = "RECS_TEST_EMULATOR_URL"


def emulated_sync(instance: Instance, member_id: int | None, _now: datetime) -> dict[str, Any]:
    """The sync job's body on the emulator's clock, every stream read (imported by the job's child process)."""
    from recs.usecases import ingest

    with ControlClient(os.environ[CONTROL]) as control:
        reports = ingest.sync_all(
            instance,
            now=control.now,
            sleep=lambda seconds: control.advance(seconds),
            member_ids=[member_id] if member_id is not None else None,
            force=True,
        )
    return {"members": len(reports), "new_plays": sum(r.new_plays for r in reports)}


def kill_a_worker_mid_sync(env: dict[str, str], control: ControlClient, trigger_key: str) -> int:
    """Start a worker running one sync job and SIGKILL it (by its pid) while the job's first recently-played
    call is held open by the emulator; returns the worker's pid. Other fault rules are left alone."""
    held = control.add_fault("GET", "/v1/me/player/recently-played", delay_s=5.0, times=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.worker.killable", trigger_key],
        env={**env, CONTROL: control.base_url},
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(f["id"] == held["id"] and f["hits"] for f in control.faults()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker ended (code {process.returncode}) before its first poll")
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        control.remove_fault(held["id"])
    return process.pid


def _main(trigger_key: str) -> None:
    from recs.core.config import load_settings
    from recs.usecases.instance import open_instance
    from recs.usecases.jobs import JobSpec, execute

    settings = load_settings(None, dict(os.environ))
    instance = open_instance(settings, dict(os.environ))
    control = ControlClient(os.environ[CONTROL])
    spec = JobSpec("sync", emulated_sync, timedelta(minutes=10), "sync on the emulator's clock")
    execute(instance, "sync", trigger_key, now=control.now, spec=spec, environ=dict(os.environ))


if __name__ == "__main__":
    _main(sys.argv[1])
