"""A `recs prior build` killed at random points (SIGKILL, real processes) never leaves a partial or unloadable prior."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recs.usecases.prior import PriorError, load_prior
from tests.prior.test_build import Dump


def _start(dump: Path, out: Path, processes: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from recs.cli.main import run; run()", "prior", "build", str(dump), "--out", str(out)]
    cmd += ["--factors", "32", "--iterations", "15", "--processes", str(processes)]
    env = {**os.environ, "RECS_INSTANCE__DATA_DIR": str(out.parent / "data")}
    # its own process group: the test can tell when the build's worker processes are gone too
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)


def _wait_for(build: subprocess.Popen[bytes], marker: bytes) -> None:
    """Read the build's log until *marker* appears (or the build ends)."""
    assert build.stderr is not None
    for line in build.stderr:
        if marker in line:
            return


def _group_gone(pgid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _check(out: Path) -> str:
    """The file at out loads, or there is none; returns which."""
    if not out.exists():
        return "none"
    try:
        load_prior(out)
    except PriorError as exc:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"a killed build left an unloadable prior: {exc}")
    return "loads"


# Where to kill: after the log line that starts a stage, plus a random delay of up to the given seconds.
STAGES = ((b"reading ", 0.5), (b"prior build train:", 0.3), (b"prior build write:", 0.15), (b"wrote ", 0.05))


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_a_whole_prior_or_none(tmp_path: Path) -> None:
    dump = Dump(tmp_path).path
    out = tmp_path / "out" / "c.prior.npz"
    out.parent.mkdir()
    rng = random.Random(12)
    outcomes: list[str] = []
    for attempt in range(8):
        had_prior = out.exists()
        build = _start(dump, out, 1 + attempt % 2)
        marker, spread = STAGES[attempt % len(STAGES)]
        _wait_for(build, marker)
        time.sleep(rng.uniform(0.0, spread))
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
        assert build.stderr is not None
        build.stderr.close()
        if not _group_gone(build.pid):
            os.killpg(build.pid, signal.SIGKILL)  # our own leftover workers, by their group id
            pytest.fail("worker processes outlived their killed build by 30 s")
        outcome = _check(out)
        assert outcome == "loads" or not had_prior, "a killed build removed the previous prior"
        outcomes.append(outcome)
        if attempt == 3:
            out.unlink(missing_ok=True)  # the rest start again with no prior in place
    # a later build removes what killed ones left behind and writes a whole prior
    with _start(dump, out, 2) as final:
        assert final.stderr is not None
        final.stderr.read()
        assert final.wait(timeout=120) == 0
    assert load_prior(out).n_tracks == 40
    assert sorted(p.name for p in out.parent.iterdir() if p.name != "data") == ["c.prior.npz"]
    assert "none" in outcomes and "loads" in outcomes, outcomes
