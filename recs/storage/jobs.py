"""Job queries: the job-run ledger (one row per job and trigger, held with a lease), run-now requests, backups.

Like every query module, they take a Connection: the caller (recs.usecases.jobs) owns the transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from recs.core.domain import JobRequest, JobRun
from recs.storage import Database
from recs.storage.dialect import insert_ignore
from recs.storage.schema import job_requests, job_runs


def _run(row: Any) -> JobRun:
    m = row._mapping
    return JobRun(
        id=m["id"],
        job=m["job"],
        trigger_key=m["trigger_key"],
        member_id=m["member_id"],
        worker=m["worker"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        status=m["status"],
        detail=m["detail"],
        error=m["error"],
        lease_until=m["lease_until"],
    )


def start_job_run(
    conn: Connection,
    job: str,
    trigger_key: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    member_id: int | None = None,
) -> int | None:
    """Insert the ledger row for (job, trigger_key) as running; None when there is one already."""
    row = {
        "job": job,
        "trigger_key": trigger_key,
        "member_id": member_id,
        "worker": worker,
        "lease_until": now + lease,
        "started_at": now,
        "status": "running",
    }
    if not insert_ignore(conn, job_runs, [row]):
        return None
    found = conn.execute(
        select(job_runs.c.id).where(job_runs.c.job == job, job_runs.c.trigger_key == trigger_key)
    ).first()
    return int(found[0]) if found else None


def running_job_run(conn: Connection, job: str, trigger_key: str) -> JobRun | None:
    """The ledger row for (job, trigger_key) when it is still running."""
    row = conn.execute(
        select(job_runs).where(
            job_runs.c.job == job, job_runs.c.trigger_key == trigger_key, job_runs.c.status == "running"
        )
    ).first()
    return _run(row) if row else None


def take_over_job_run(
    conn: Connection, run_id: int, from_worker: str, worker: str, now: datetime, lease: timedelta
) -> int | None:
    """Give a running row to *worker* with a fresh lease, if *from_worker* still holds it."""
    taken = conn.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id, job_runs.c.status == "running", job_runs.c.worker == from_worker)
        .values(worker=worker, lease_until=now + lease, started_at=now)
        .returning(job_runs.c.id)
    ).first()
    return int(taken[0]) if taken else None


def finish_job_run(
    conn: Connection,
    run_id: int,
    status: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    error: str | None = None,
    *,
    worker: str | None = None,
) -> bool:
    """Record how a run ended; False when it was no longer running (already settled, or taken over from *worker*)."""
    conditions = [job_runs.c.id == run_id, job_runs.c.status == "running"]
    if worker is not None:
        conditions.append(job_runs.c.worker == worker)
    result = conn.execute(
        update(job_runs)
        .where(*conditions)
        .values(status=status, finished_at=now, detail=detail, error=error[:4000] if error else None)
    )
    return bool(result.rowcount)


def running_job_runs(conn: Connection) -> list[JobRun]:
    return [_run(r) for r in conn.execute(select(job_runs).where(job_runs.c.status == "running"))]


def record_missed(conn: Connection, job: str, trigger_key: str, worker: str, now: datetime) -> None:
    """Note a firing the scheduler skipped (misfire past its grace time) for the admin page."""
    row = {
        "job": job,
        "trigger_key": trigger_key,
        "worker": worker,
        "lease_until": now,
        "started_at": now,
        "finished_at": now,
        "status": "missed",
    }
    insert_ignore(conn, job_runs, [row])


def recent_job_runs(conn: Connection, limit: int = 50, job: str | None = None) -> list[JobRun]:
    stmt = select(job_runs).order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc()).limit(limit)
    if job:
        stmt = stmt.where(job_runs.c.job == job)
    return [_run(r) for r in conn.execute(stmt)]


def job_runs_for(conn: Connection, job: str, trigger_key: str) -> list[JobRun]:
    stmt = select(job_runs).where(job_runs.c.job == job, job_runs.c.trigger_key == trigger_key)
    return [_run(r) for r in conn.execute(stmt)]


def prune_job_runs(conn: Connection, older_than: datetime) -> int:
    """Forget finished runs of frequent jobs older than a date (the ledger would otherwise grow forever)."""
    result = conn.execute(
        delete(job_runs).where(job_runs.c.finished_at.is_not(None), job_runs.c.finished_at < older_than)
    )
    return result.rowcount


def take_job_request(conn: Connection, now: datetime, stale_after: timedelta) -> JobRequest | None:
    """Mark the oldest queued run-now request as taken and return it (one taken but never started is retaken)."""
    row = conn.execute(
        select(job_requests)
        .where(
            or_(
                job_requests.c.status == "queued",
                and_(job_requests.c.status == "taken", job_requests.c.taken_at < now - stale_after),
            )
        )
        .order_by(job_requests.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    conn.execute(update(job_requests).where(job_requests.c.id == row.id).values(status="taken", taken_at=now))
    return JobRequest(row.id, row.job, row.member_id, row.requested_by, row.requested_at)


def finish_job_request(conn: Connection, request_id: int, status: str, now: datetime) -> bool:
    """Record how a taken request ended; False when it was already settled."""
    result = conn.execute(
        update(job_requests)
        .where(job_requests.c.id == request_id, job_requests.c.status == "taken")
        .values(status=status, finished_at=now)
    )
    return bool(result.rowcount)


def backup_sqlite(db: Database, target: Path) -> Path:
    """A consistent copy of a SQLite database while it is in use (SQLite's online backup API)."""
    if not db.is_sqlite:
        raise ValueError("recs backup copies SQLite databases; back up PostgreSQL with pg_dump")
    source_path = db.engine.url.database
    if not source_path:
        raise ValueError("in-memory databases cannot be backed up")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(source_path, timeout=15)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    finally:
        dst.close()
        src.close()
    tmp.replace(target)
    return target
