"""The worker and refresh commands as an operator runs them: two workers at once, and cron's one round."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recs.core.config import Settings
from recs.storage import Database
from recs.storage.jobs import recent_job_runs
from recs.usecases.instance import init_instance


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    env["RECS_INSTANCE__DATA_DIR"] = settings.instance.data_dir
    return env


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_two_worker_processes_run_one_trigger_once(settings: Settings, tmp_path: Path) -> None:
    init_instance(settings, {})
    recs = str(Path(sys.executable).with_name("recs"))
    procs = [
        subprocess.Popen(
            [recs, "worker", "--once", "backup"], env=_env(settings), cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    statuses = sorted(line.rsplit(": ", 1)[1].split(" ")[0] for out in outputs for line in out.splitlines())
    assert statuses == ["skipped", "succeeded"], outputs
    db = Database(settings.database_url)
    with db.read() as conn:
        runs = [r for r in recent_job_runs(conn) if r.job == "backup"]
    db.dispose()
    assert len(runs) == 1 and runs[0].status == "succeeded"
    assert len(list((Path(settings.instance.data_dir) / "backups").glob("*.sqlite3"))) == 1
