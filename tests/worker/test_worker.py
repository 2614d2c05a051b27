"""The worker runs each job once per trigger across workers, stops jobs at their deadline, and keeps N backups."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recs.cli.scheduling import Worker, trigger_key
from recs.core.config import Settings
from recs.storage.jobs import job_runs_for, recent_job_runs
from recs.storage.schema import job_requests
from recs.usecases.instance import Instance, init_instance, open_instance
from recs.usecases.jobs import JobSpec, execute, execute_requests
from tests.worker import jobbodies

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.fixture
def instance(settings: Settings) -> Iterator[Instance]:
    init_instance(settings, {})
    inst = open_instance(settings, {})
    yield inst
    inst.close()


def test_two_workers_run_each_trigger_once(settings: Settings, instance: Instance) -> None:
    second = open_instance(settings, {})
    workers = [
        Worker(instance, clock=lambda: NOW, in_process=True, worker="w1"),
        Worker(second, clock=lambda: NOW, in_process=True, worker="w2"),
    ]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def fire(w: Worker) -> None:
        barrier.wait()
        outcomes.append(w.fire("backup", NOW).status)

    threads = [threading.Thread(target=fire, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["skipped", "succeeded"]
    key = trigger_key("backup", NOW, "UTC")
    with instance.db.read() as conn:
        runs = job_runs_for(conn, "backup", key)
    assert len(runs) == 1 and runs[0].status == "succeeded"
    # The next day's trigger is a new run.
    assert workers[1].fire("backup", NOW + timedelta(days=1)).status == "succeeded"
    second.close()


def test_a_dead_workers_lease_is_taken_over(instance: Instance) -> None:
    spec = JobSpec("probe", jobbodies.count_members, timedelta(seconds=30), "test")
    from recs.usecases.jobs import claim_job_run

    assert claim_job_run(instance.db, "probe", "k", "dead", NOW, lease=timedelta(minutes=1)) is not None
    early = execute(instance, "probe", "k", now=lambda: NOW + timedelta(seconds=30), in_process=True, spec=spec)
    assert early.status == "skipped"  # lease still held
    late = execute(instance, "probe", "k", now=lambda: NOW + timedelta(minutes=2), in_process=True, spec=spec)
    assert late.status == "succeeded" and late.detail == {"members": 0, "now": (NOW + timedelta(minutes=2)).isoformat()}


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_hard_deadline_kills_a_hung_job_and_records_it(instance: Instance) -> None:
    spec = JobSpec("hang", jobbodies.hang, timedelta(seconds=3), "test")
    outcome = execute(instance, "hang", "t1", spec=spec, environ={})
    assert outcome.status == "timeout"
    crash = execute(
        instance, "crash", "t1", spec=JobSpec("crash", jobbodies.crash, timedelta(seconds=30), "t"), environ={}
    )
    assert crash.status == "failed" and "boom in the job" in (crash.error or "")
    with instance.db.read() as conn:
        runs = {r.job: r for r in recent_job_runs(conn)}
    assert runs["hang"].status == "timeout" and runs["hang"].finished_at is not None
    assert runs["crash"].status == "failed"


def test_backups_are_consistent_and_only_n_are_kept(instance: Instance) -> None:
    keep = instance.settings.scheduler.backups_keep
    for day in range(keep + 2):
        outcome = Worker(instance, clock=lambda d=day: NOW + timedelta(days=d), in_process=True).fire(
            "backup", NOW + timedelta(days=day)
        )
        assert outcome.status == "succeeded", outcome.error
    backups = sorted((instance.settings.data_path / "backups").glob("recs-*.sqlite3"))
    assert len(backups) == keep
    con = sqlite3.connect(backups[-1])
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    assert {"members", "plays", "job_runs", "alembic_version"} <= tables


def test_run_now_requests_are_taken_once(instance: Instance) -> None:
    with instance.db.write() as conn:
        conn.execute(job_requests.insert().values(job="backup", requested_at=NOW, status="queued"))
        conn.execute(job_requests.insert().values(job="nonsense", requested_at=NOW, status="queued"))
    outcomes = execute_requests(instance, now=lambda: NOW, in_process=True)
    assert [o.status for o in outcomes] == ["succeeded"]
    assert execute_requests(instance, now=lambda: NOW, in_process=True) == []
    with instance.db.read() as conn:
        statuses = sorted(r.status for r in conn.execute(job_requests.select()))
    assert statuses == ["failed", "succeeded"]


def test_scheduler_defaults_and_jobs(instance: Instance) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    w = Worker(instance)
    sched = w.build(BackgroundScheduler(**w.scheduler_options()))
    sched.start(paused=True)
    try:
        jobs = sched.get_jobs()
        assert {j.id for j in jobs} == {
            "sync",
            "library",
            "train",
            "publish",
            "blend",
            "backup",
            "resolve",
            "radar",
            "requests",
        }
        for job in jobs:
            assert job.coalesce is True and job.max_instances == 1
            assert job.misfire_grace_time == instance.settings.scheduler.misfire_grace_hours * 3600
        train = sched.get_job("train")
        hour, minute = instance.settings.scheduler.train_time.split(":")
        assert str(train.trigger).startswith("cron[") and f"hour='{int(hour)}'" in str(train.trigger)
        assert f"minute='{int(minute)}'" in str(train.trigger)
        # The Blend: weekly, on its weekday, two hours after that night's training.
        blend = str(sched.get_job("blend").trigger)
        assert f"day_of_week='{instance.settings.publish.blend_weekday}'" in blend
        assert f"hour='{(int(hour) + 2) % 24}'" in blend
    finally:
        sched.shutdown(wait=False)


def test_trigger_keys_agree_between_workers_and_follow_the_local_date() -> None:
    a = trigger_key("sync", NOW + timedelta(seconds=5), "UTC")
    b = trigger_key("sync", NOW + timedelta(seconds=50), "UTC")
    assert a == b
    assert trigger_key("sync", NOW + timedelta(seconds=65), "UTC") != a
    # 23:30 UTC is already the next day in Berlin.
    late = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    assert trigger_key("train", late, "Europe/Berlin") == "2026-06-02"
    assert trigger_key("train", late, "UTC") == "2026-06-01"


def test_backup_command_writes_a_copy(settings: Settings, instance: Instance, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from recs.cli.main import main

    target = tmp_path / "copy.sqlite3"
    result = CliRunner().invoke(main, ["backup", str(target)], env={"RECS_INSTANCE__DATA_DIR": str(settings.data_path)})
    assert result.exit_code == 0, result.output
    assert target.exists() and "backup written" in result.output
