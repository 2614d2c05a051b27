"""What `recs worker` writes to its log: one line per job run with its figures, one line per failure."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from recs.emulator import EmulatorServer
from recs.usecases.instance import Instance
from tests.publishing.conftest import catalogue_tracks, instance_env, sign_in, store_run


def _run(instance: Instance, tmp_path: Path, job: str, level: str = "INFO") -> tuple[int, list[str]]:
    recs = str(Path(sys.executable).with_name("recs"))
    env = instance_env(instance) | {"RECS_INSTANCE__LOG_LEVEL": level}
    done = subprocess.run(
        [recs, "worker", "--once", job], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def _log_lines(lines: list[str]) -> list[str]:
    """The log records among the output (each starts with a date), without the command's own result line."""
    return [line for line in lines if line[:4].isdigit() and line[4:5] == "-"]


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
@pytest.mark.slow
def test_one_line_per_run_with_its_figures_and_one_line_per_failure(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], tmp_path: Path
) -> None:
    users = [m["user_id"] for m in emulator.control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    store_run(instance, members, catalogue_tracks(emulator, 20))
    # A good sync: one line, saying what it did.
    code, lines = _run(instance, tmp_path, "sync")
    assert code == 0, lines
    logged = _log_lines(lines)
    assert len(logged) == 1, "\n".join(lines)
    assert "INFO recs.usecases.jobs: job sync [" in logged[0] and " succeeded in " in logged[0]
    assert "2 members polled" in logged[0] and "plays added" in logged[0] and "calls used" in logged[0]
    # A publish where one member's create fails: that failure in one line, the run in one line, no traceback.
    emulator.control.add_fault("POST", "/v1/me/playlists", status=500, times=1)
    code, lines = _run(instance, tmp_path, "publish")
    assert code == 1
    logged = _log_lines(lines)
    assert len(logged) == 2, "\n".join(lines)
    failure, run = logged
    assert "WARNING recs.usecases.playlists: publishing for member" in failure and "Spotify server error 500" in failure
    assert "WARNING recs.usecases.jobs: job publish [" in run and " failed after " in run and "server error 500" in run
    assert not any("Traceback" in line for line in lines)


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
@pytest.mark.slow
def test_the_traceback_of_a_failed_job_is_logged_at_debug(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], tmp_path: Path
) -> None:
    member = sign_in(instance, emulator, emulator.control.members()[0]["user_id"], clock)
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    emulator.control.add_fault("POST", "/v1/me/playlists", status=500, times=1)
    code, lines = _run(instance, tmp_path, "publish", level="DEBUG")
    assert code == 1
    assert any(line.startswith("Traceback") for line in lines), "\n".join(lines)
    assert any("DEBUG recs.usecases.jobs: job _publish failed" in line for line in lines)


def test_a_publish_run_says_how_many_playlists_it_wrote(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], caplog: pytest.LogCaptureFixture
) -> None:
    from recs.usecases.jobs import execute

    users = [m["user_id"] for m in emulator.control.members()][:2]
    members = [sign_in(instance, emulator, u, clock) for u in users]
    store_run(instance, members, catalogue_tracks(emulator, 20))
    caplog.set_level(logging.INFO, logger="recs")
    mark = len(emulator.control.requests())
    outcome = execute(instance, "publish", "t1", now=clock, in_process=True)
    assert outcome.status == "succeeded", outcome.error
    calls = [r for r in emulator.control.requests(mark) if r["path"].startswith("/v1/")]
    lines = [r.getMessage() for r in caplog.records if r.name == "recs.usecases.jobs"]
    assert lines == [lines[0]] and lines[0].startswith("job publish [t1] succeeded in ")
    assert lines[0].endswith(f"{len(calls)} calls used, {len(members)} playlists written, 0 playlists unchanged")


def test_a_failure_is_one_line_and_the_run_another_without_traceback(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime], caplog: pytest.LogCaptureFixture
) -> None:
    from recs.core.logs import THIRD_PARTY, setup_logging
    from recs.usecases.jobs import execute

    member = sign_in(instance, emulator, emulator.control.members()[0]["user_id"], clock)
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    emulator.control.add_fault("POST", "/v1/me/playlists", status=500, times=1)
    names = ["", "recs", "spotipy.client", *THIRD_PARTY]
    levels = {name: logging.getLogger(name).level for name in names}
    setup_logging("INFO", handler=caplog.handler)  # the worker's own set-up, into caplog
    try:
        caplog.clear()
        outcome = execute(instance, "publish", "t1", now=clock, in_process=True)
    finally:
        logging.getLogger().removeHandler(caplog.handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert outcome.status == "failed"
    shown = [r for r in caplog.records if r.levelno >= logging.getLogger(r.name).getEffectiveLevel()]
    assert [(r.name, r.levelname) for r in shown] == [
        ("recs.usecases.playlists", "WARNING"),
        ("recs.usecases.jobs", "WARNING"),
    ]
    assert all("server error 500" in r.getMessage() for r in shown)
    assert not any(r.exc_info for r in shown if r.levelno > logging.DEBUG)
