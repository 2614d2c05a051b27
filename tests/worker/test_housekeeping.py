"""The daily backup job also forgets finished job runs older than 90 days, so the ledger stops growing (issue 16, item 10)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from recs.core.config import Settings
from recs.storage.jobs import recent_job_runs
from recs.usecases.instance import init_instance, open_instance
from recs.usecases.jobs import JOB_RUNS_KEPT, claim_job_run, figures, finish_job_run, run_backup

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def test_backup_prunes_finished_runs_past_the_retention(settings: Settings) -> None:
    init_instance(settings, os.environ)
    instance = open_instance(settings, os.environ)
    try:
        ages = {"old": JOB_RUNS_KEPT + timedelta(days=1), "recent": JOB_RUNS_KEPT - timedelta(days=1)}
        for name, age in ages.items():
            at = NOW - age
            run = claim_job_run(instance.db, "sync", f"{name}-done", "w", at, timedelta(minutes=5))
            assert run is not None
            finish_job_run(instance.db, run, "succeeded", at + timedelta(seconds=3))
        # A run that never finished is never pruned, whatever its age: the ledger settles it elsewhere.
        assert claim_job_run(instance.db, "sync", "old-running", "w", NOW - timedelta(days=400), timedelta(minutes=5))
        detail = run_backup(instance, None, NOW)
        with instance.db.read() as conn:
            keys = {r.trigger_key for r in recent_job_runs(conn, limit=100)}
    finally:
        instance.close()
    assert keys == {"recent-done", "old-running"}
    assert detail["job_runs_pruned"] == 1
    assert "1 old job runs forgotten" in figures(detail)
