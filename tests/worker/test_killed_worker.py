"""A `recs worker` killed (SIGKILL) or stopped (SIGTERM) mid-job: its job process ends with it and its run is settled.

Real processes throughout: the worker and its job process are started as an operator would, against
the emulator, and killed by their own pids.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recs.emulator import EmulatorServer
from recs.storage.jobs import recent_job_runs
from recs.storage.schema import job_requests
from recs.storage.sync import play_keys
from recs.usecases import ingest
from recs.usecases.instance import Instance
from tests.publishing.conftest import catalogue_tracks, instance_env, sign_in, store_run

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _job_process(worker_pid: int) -> int:
    """The worker's job process (a multiprocessing spawn child running recs.usecases.jobs._child)."""
    for pid in _children(worker_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            return pid
    raise AssertionError(f"worker {worker_pid} has no job process")


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _api_calls(emulator: EmulatorServer) -> int:
    return sum(1 for r in emulator.control.requests() if r["path"].startswith("/v1/"))


def _queue(instance: Instance, job: str, member_id: int) -> int:
    with instance.db.write() as conn:
        return int(
            conn.execute(
                job_requests.insert().values(
                    job=job, member_id=member_id, requested_at=datetime.now(UTC), status="queued"
                )
            ).inserted_primary_key[0]
        )


def _state(instance: Instance, request_id: int) -> tuple[str | None, str | None, str | None]:
    """(request status, its run's status, its run's error)."""
    with instance.db.read() as conn:
        request = conn.execute(job_requests.select().where(job_requests.c.id == request_id)).first()
        runs = [r for r in recent_job_runs(conn) if r.trigger_key == f"request:{request_id}"]
    run = runs[0] if runs else None
    return (request.status if request else None, run.status if run else None, run.error if run else None)


@pytest.fixture
def worker_cmd(instance: Instance, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        recs = str(Path(sys.executable).with_name("recs"))
        process = subprocess.Popen(
            [recs, "worker"],
            env=instance_env(instance),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.communicate()


def test_a_killed_workers_job_dies_with_it_and_a_new_worker_settles_the_run_at_once(
    instance: Instance,
    emulator: EmulatorServer,
    clock: Callable[[], datetime],
    worker_cmd: Callable[[], subprocess.Popen[str]],
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    # Every Web API call takes a second: the sync job is still calling when its worker is killed.
    emulator.control.add_fault("*", "/v1/*", delay_s=1.0, times=None)
    request = _queue(instance, "sync", member)
    before = _api_calls(emulator)
    worker = worker_cmd()
    _wait(lambda: _state(instance, request)[1] == "running", "the worker runs the request")
    _wait(lambda: any(f["hits"] for f in emulator.control.faults()), "the job calls the Web API")
    job = _job_process(worker.pid)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # Before the fix it ran on for the rest of its job (25 s of calls); the kernel now kills it at once.
    _wait(lambda: not _alive(job), "the job process ends with its worker", timeout=10)
    time.sleep(1.5)  # a call already in flight is logged when the emulator answers it
    settled_calls = _api_calls(emulator)
    time.sleep(3)
    assert _api_calls(emulator) == settled_calls, "Web API calls after the worker died"
    assert settled_calls > before
    assert _state(instance, request)[:2] == ("taken", "running")  # what the dead worker left
    emulator.control.clear_faults()
    # A new worker settles the dead worker's run at once, without waiting for the lease.
    started = time.monotonic()
    second = worker_cmd()
    _wait(lambda: _state(instance, request)[1] == "interrupted", "the new worker settles the run", timeout=30)
    status, _run, error = _state(instance, request)
    assert status == "interrupted" and f":{worker.pid} died" in (error or "")
    assert time.monotonic() - started < 30
    second.send_signal(signal.SIGTERM)
    output = second.communicate(timeout=30)[0]
    assert second.returncode == 0, output
    # The request was not run again, and a sync after the kill stores what the killed one did not, once.
    with instance.db.read() as conn:
        assert len([r for r in recent_job_runs(conn) if r.trigger_key == f"request:{request}"]) == 1
    ingest.sync_all(instance, now=lambda: datetime.now(UTC), member_ids=[member], force=True)
    _assert_window_stored_once(instance, emulator, member, user)


def _assert_window_stored_once(instance: Instance, emulator: EmulatorServer, member: int, user: str) -> None:
    """The plays recently-played shows (the newest 50 eligible), stored exactly once; nothing invented."""
    now_ms = int(emulator.control.now().timestamp() * 1000)
    happened = sorted(
        (int(p["played_at_ms"]), str(p["track_id"]))
        for p in emulator.control.ground_truth()["plays"]
        if p["user_id"] == user
        and int(p["ms_played"]) >= 30_000
        and not p["incognito"]
        and int(p.get("visible_at_ms") or p["played_at_ms"]) <= now_ms
    )
    with instance.db.read() as conn:
        stored = [(int(at.timestamp() * 1000), str(sid)) for at, sid in play_keys(conn, member)]
    assert len(stored) == len(set(stored)), "duplicated plays"
    assert set(happened[-50:]) <= set(stored), f"{len(set(happened[-50:]) - set(stored))} plays lost"
    assert set(stored) <= set(happened), "plays that never happened"


def test_sigterm_stops_a_publishing_worker_and_records_its_run_as_interrupted(
    instance: Instance,
    emulator: EmulatorServer,
    clock: Callable[[], datetime],
    worker_cmd: Callable[[], subprocess.Popen[str]],
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    # Reading the member's playlists hangs: the publish job is mid-call when SIGTERM comes.
    emulator.control.add_fault("GET", "/v1/me/playlists", delay_s=8.0, times=None)
    request = _queue(instance, "publish", member)
    worker = worker_cmd()
    _wait(lambda: any(f["hits"] for f in emulator.control.faults()), "the publish job calls the Web API")
    job = _job_process(worker.pid)
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert "interrupted" in output
    assert not _alive(job)
    status, run, error = _state(instance, request)
    assert (status, run) == ("interrupted", "interrupted"), output
    assert error == "the worker was stopped by SIGTERM"


def test_a_worker_killed_mid_sync_on_the_emulators_clock_is_settled_and_loses_nothing(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], tmp_path: Path
) -> None:
    from recs.usecases.jobs import settle_dead_runs
    from tests.worker.killable import kill_a_worker_mid_sync

    users = [m["user_id"] for m in emulator.control.members()]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    pid = kill_a_worker_mid_sync(instance_env(instance), emulator.control, "killed")
    time.sleep(6)  # the call held open when the worker died is answered (and logged) by now
    calls = len(emulator.control.requests())
    time.sleep(1.5)
    assert len(emulator.control.requests()) == calls, "the killed worker's job is still calling"
    settled = settle_dead_runs(instance, clock())
    assert [(r.job, r.trigger_key, r.worker.rsplit(":", 1)[1]) for r in settled] == [("sync", "killed", str(pid))]
    ingest.sync_all(instance, now=clock, member_ids=members, force=True)
    for member, user in zip(members, users, strict=True):
        _assert_window_stored_once(instance, emulator, member, user)
