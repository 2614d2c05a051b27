"""The worker's jobs as plain functions (sync, train, publish, the Blend, library refresh, backup, run-now requests), each run once per trigger under the job ledger."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recs import storage
from recs.core.config import Settings
from recs.core.domain import JobRequest, JobRun
from recs.core.processes import die_with_parent, owner_id, owner_is_dead
from recs.storage import Database
from recs.storage.jobs import backup_sqlite
from recs.usecases.instance import Instance, open_instance

log = logging.getLogger(__name__)

JobBody = Callable[[Instance, int | None, datetime], dict[str, Any]]


# ---- the ledger's transactions (storage.jobs holds the queries; each step here is one transaction)


def claim_job_run(
    db: Database,
    job: str,
    trigger_key: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    member_id: int | None = None,
    owner_dead: Callable[[str], bool] = lambda _owner: False,
) -> int | None:
    """Take the ledger row for (job, trigger_key); None when another worker has it or it already ran.

    A row still 'running' whose lease ran out, or whose owner *owner_dead* says is gone, is taken over.
    """
    with db.write() as conn:
        run_id = storage.jobs.start_job_run(conn, job, trigger_key, worker, now, lease, member_id)
    if run_id is not None:
        return run_id
    with db.read() as conn:
        held = storage.jobs.running_job_run(conn, job, trigger_key)
    if held is None or (held.lease_until >= now and not owner_dead(held.worker)):
        return None
    with db.write() as conn:
        return storage.jobs.take_over_job_run(conn, held.id, held.worker, worker, now, lease)


def finish_job_run(
    db: Database,
    run_id: int,
    status: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    error: str | None = None,
    *,
    worker: str | None = None,
) -> bool:
    """Record how a run ended; False when it was no longer running (already settled, or taken over from *worker*)."""
    with db.write() as conn:
        return storage.jobs.finish_job_run(conn, run_id, status, now, detail, error, worker=worker)


def record_missed(db: Database, job: str, trigger_key: str, worker: str, now: datetime) -> None:
    """Note a firing the scheduler skipped (misfire past its grace time) for the admin page."""
    with db.write() as conn:
        storage.jobs.record_missed(conn, job, trigger_key, worker, now)


def take_job_request(db: Database, now: datetime, stale_after: timedelta = timedelta(hours=1)) -> JobRequest | None:
    """Take the oldest queued run-now request (one taken but never finished within *stale_after* is retaken).

    One at a time: a worker that dies leaves the requests it had not started queued for the next.
    """
    with db.write() as conn:
        return storage.jobs.take_job_request(conn, now, stale_after)


def finish_job_request(db: Database, request_id: int, status: str, now: datetime) -> bool:
    """Record how a taken request ended; False when it was already settled."""
    with db.write() as conn:
        return storage.jobs.finish_job_request(conn, request_id, status, now)


@dataclass(frozen=True)
class JobSpec:
    name: str
    body: JobBody
    # A job that runs longer than this is stopped (its process killed) and recorded as 'timeout'.
    deadline: timedelta
    description: str


def worker_id() -> str:
    return owner_id()


def backup_path(settings: Settings, now: datetime) -> Path:
    return settings.data_path / "backups" / f"recs-{now:%Y%m%d-%H%M%S}.sqlite3"


# Finished job runs are kept this long (the admin page shows the last few; older ones only fill the ledger:
# polling every 10 minutes alone writes ~50,000 rows a year).
JOB_RUNS_KEPT = timedelta(days=90)


def backup_to(instance: Instance, target: Path) -> Path:
    """`recs backup PATH`: a consistent copy of the SQLite database at target (a folder gets a dated name)."""
    if target.is_dir():
        target = target / backup_path(instance.settings, datetime.now(UTC)).name
    return backup_sqlite(instance.db, target)


def run_backup(instance: Instance, _member_id: int | None, now: datetime) -> dict[str, Any]:
    """Daily housekeeping: forget finished job runs past JOB_RUNS_KEPT, back up SQLite into <data_dir>/backups (newest N kept)."""
    with instance.db.write() as conn:
        pruned = storage.jobs.prune_job_runs(conn, now - JOB_RUNS_KEPT)
    if not instance.db.is_sqlite:
        return {"skipped": "PostgreSQL: use pg_dump", "job_runs_pruned": pruned}
    target = backup_sqlite(instance.db, backup_path(instance.settings, now))
    keep = instance.settings.scheduler.backups_keep
    backups = sorted(target.parent.glob("recs-*.sqlite3"))
    removed = [p.name for p in backups[:-keep]] if keep > 0 else []
    for name in removed:
        (target.parent / name).unlink(missing_ok=True)
    return {"path": str(target), "bytes": target.stat().st_size, "removed": removed, "job_runs_pruned": pruned}


def _sync_summary(reports: list[Any]) -> dict[str, Any]:
    return {
        "members": len(reports),
        "new_plays": sum(r.new_plays for r in reports),
        "calls": sum(r.calls for r in reports),
        "errors": [e for r in reports for e in r.errors],
    }


def _sync(instance: Instance, member_id: int | None, _now: datetime) -> dict[str, Any]:
    """Poll every consenting member whose streams are due (the adaptive cadence decides who)."""
    from recs.usecases import ingest

    reports = ingest.sync_all(
        instance, now=lambda: datetime.now(UTC), member_ids=[member_id] if member_id is not None else None
    )
    return _sync_summary(reports)


def _library(instance: Instance, member_id: int | None, _now: datetime) -> dict[str, Any]:
    """The daily full refresh: every stream of every consenting member, due or not."""
    from recs.usecases import ingest

    reports = ingest.sync_all(
        instance, now=lambda: datetime.now(UTC), force=True, member_ids=[member_id] if member_id is not None else None
    )
    return _sync_summary(reports)


def run_resolve(instance: Instance, member_id: int | None, _now: datetime) -> dict[str, Any]:
    """Look up a few name-only tracks (account-data history) through search, as one member with a valid token."""
    from recs.spotify.search import SpotifyTrackSearch
    from recs.storage.members import list_members, members_with_consent
    from recs.usecases.accounts import member_client
    from recs.usecases.imports.resolve import resolve_names

    with instance.db.read() as conn:
        storing = set(members_with_consent(conn, "store"))
        usable = [
            m.id for m in list_members(conn) if m.id in storing and not m.reconnect_needed and not m.not_allowlisted
        ]
    chosen = member_id if member_id is not None else (usable[0] if usable else None)
    if chosen is None:
        return {"skipped": "no member with a usable Spotify authorisation"}
    clock = lambda: datetime.now(UTC)  # noqa: E731 - token expiry needs a moving clock
    api = member_client(instance, chosen, clock)
    report = resolve_names(instance.db, instance.settings, SpotifyTrackSearch(api))
    return {"searched": report.searched, "resolved": report.resolved, "not_found": report.not_found}


def _train(instance: Instance, _member_id: int | None, now: datetime) -> dict[str, Any]:
    from recs.usecases import training

    summary = training.train(instance, now=now)
    return {"run_id": summary.run_id, "model": summary.model_kind}


def _publish(instance: Instance, member_id: int | None, now: datetime) -> dict[str, Any]:
    """Recommendation playlists, then Release Radar playlists, of the members whose time has come."""
    from recs.usecases import playlists, release_radar

    summary = playlists.run_job(instance, member_id, now)
    radar = release_radar.publish_due(instance, now, member_id=member_id)
    summary["calls"] += radar["calls"]
    if radar["errors"]:
        raise RuntimeError("; ".join(radar["errors"]))
    # Release Radar's figures only when one was due (most rounds write none)
    return summary | {k: v for k, v in radar.items() if k.startswith("radar_") and v}


def _radar(instance: Instance, member_id: int | None, now: datetime) -> dict[str, Any]:
    from recs.usecases import release_radar

    return release_radar.run_job(instance, member_id, now)


def _blend(instance: Instance, member_id: int | None, now: datetime) -> dict[str, Any]:
    from recs.usecases import blends

    return blends.run_job(instance, member_id, now)


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("sync", _sync, timedelta(minutes=10), "poll recently played (members due on the adaptive cadence)"),
        JobSpec("library", _library, timedelta(minutes=30), "refresh saved tracks, top items, follows, playlists"),
        JobSpec("train", _train, timedelta(minutes=60), "train the household model and store recommendations"),
        JobSpec("publish", _publish, timedelta(minutes=15), "write recommendation playlists that are due"),
        JobSpec("blend", _blend, timedelta(minutes=15), "make the weekly household Blend and write each copy"),
        JobSpec("backup", run_backup, timedelta(minutes=15), "back up the database"),
        JobSpec("resolve", run_resolve, timedelta(minutes=10), "look up a few name-only tracks through search"),
        JobSpec("radar", _radar, timedelta(minutes=60), "check loved artists for new releases (Release Radar)"),
    )
}


@dataclass(frozen=True)
class Outcome:
    job: str
    trigger_key: str
    status: str  # 'succeeded', 'failed', 'timeout', 'interrupted', 'skipped' (another worker has it)
    detail: dict[str, Any] | None = None
    error: str | None = None


REQUEST_PREFIX = "request:"  # the trigger key of a run-now request's run


class _Stop:
    """Set when the worker is stopping: no new job starts, running ones are killed and recorded as interrupted.

    A plain flag, not an Event: the signal handler that sets it may interrupt the very thread that reads it.
    """

    def __init__(self) -> None:
        self.requested = False
        self.why = "the worker was stopped"

    def request(self, why: str) -> None:
        self.why = why
        self.requested = True


STOP = _Stop()


def _settle_interrupted(instance: Instance, run: int, trigger_key: str, now: datetime, why: str, worker: str) -> bool:
    """Record a run and its run-now request as interrupted, in one transaction, unless it was settled already."""
    with instance.db.write() as conn:
        settled = storage.jobs.finish_job_run(conn, run, "interrupted", now, error=why, worker=worker)
        if settled and trigger_key.startswith(REQUEST_PREFIX):
            request = int(trigger_key.removeprefix(REQUEST_PREFIX))
            storage.jobs.finish_job_request(conn, request, "interrupted", now)
    return settled


def settle_dead_runs(
    instance: Instance,
    now: datetime,
    owner_dead: Callable[[str], bool] = owner_is_dead,
) -> list[JobRun]:
    """Runs still 'running' whose worker is gone (no such process on this host, or the lease ran out): interrupted.

    Their run-now requests are settled too, and not run again: half of a job may have happened, and
    the scheduled runs carry on by themselves.
    """
    with instance.db.read() as conn:
        running = storage.jobs.running_job_runs(conn)
    settled = []
    for run in running:
        dead = owner_dead(run.worker)
        if not dead and run.lease_until >= now:
            continue
        why = f"its worker {run.worker} " + ("died" if dead else "did not finish it within its lease")
        if _settle_interrupted(instance, run.id, run.trigger_key, now, why, run.worker):
            log.warning("job %s [%s] interrupted: %s", run.job, run.trigger_key, why)
            settled.append(run)
    return settled


def _child(
    settings: Settings,
    environ: dict[str, str],
    body: JobBody,
    member_id: int | None,
    now: datetime,
    queue: Any,
    parent_pid: int,
    deadline_s: float,
) -> None:
    """Runs in a child process: open the instance, run the body, report back; ends with its parent."""
    from recs.core.logs import setup_logging

    # A worker killed by SIGKILL cannot stop its job: the job stops itself, at once.
    die_with_parent(parent_pid, deadline_s=deadline_s + 30)
    setup_logging(settings.instance.log_level)
    instance = open_instance(settings, environ)
    try:
        detail = body(instance, member_id, now)
        queue.put(("succeeded", detail, None))
    except BaseException as exc:  # report every failure: the parent records and logs it in one line
        queue.put(("failed", None, "".join(traceback.format_exception_only(exc)).strip()))
        log.debug("job %s failed", getattr(body, "__name__", body), exc_info=True)
    finally:
        instance.close()


def execute(
    instance: Instance,
    job: str,
    trigger_key: str,
    *,
    member_id: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    worker: str | None = None,
    environ: Mapping[str, str] | None = None,
    in_process: bool = False,
    deadline: timedelta | None = None,
    spec: JobSpec | None = None,
) -> Outcome:
    """Run *job* once for *trigger_key*: take the ledger row, run the body under a hard deadline, record the result.

    With in_process=False (the worker's way) the body runs in a child process that is killed at
    the deadline, so a hung call or a crash never takes the worker down; the child dies with the
    worker, and a worker stopped while waiting kills it and records the run as interrupted.
    """
    spec = spec or JOBS[job]
    limit = deadline or spec.deadline
    started = now()
    clock_started = time.monotonic()
    owner = worker or worker_id()
    if STOP.requested:
        return Outcome(job, trigger_key, "skipped")
    run_id = claim_job_run(
        instance.db,
        job,
        trigger_key,
        owner,
        started,
        lease=limit + timedelta(minutes=1),
        member_id=member_id,
        owner_dead=owner_is_dead,
    )
    if run_id is None:
        return Outcome(job, trigger_key, "skipped")
    status: str
    detail: dict[str, Any] | None = None
    error: str | None = None
    if in_process:
        try:
            detail = spec.body(instance, member_id, started)
            status = "succeeded"
        except Exception as exc:
            status, error = "failed", "".join(traceback.format_exception_only(exc)).strip()
            log.debug("job %s failed", job, exc_info=True)
    else:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        process = ctx.Process(
            target=_child,
            args=(
                instance.settings,
                dict(environ if environ is not None else os.environ),
                spec.body,
                member_id,
                started,
                queue,
                os.getpid(),
                limit.total_seconds(),
            ),
            name=f"recs-{job}",
        )
        process.start()
        ends = time.monotonic() + limit.total_seconds()

        def interrupt(why: str) -> Outcome:
            # The job goes with the worker: killed, and its run recorded as interrupted.
            process.kill()
            process.join()
            queue.close()
            _settle_interrupted(instance, run_id, trigger_key, now(), why, owner)
            interrupted = Outcome(job, trigger_key, "interrupted", None, why)
            log_outcome(interrupted, time.monotonic() - clock_started)
            return interrupted

        try:
            # In short waits, so a stop requested by a signal handler or another thread is noticed at once.
            while process.is_alive() and not STOP.requested and (left := ends - time.monotonic()) > 0:
                process.join(min(0.5, left))
        except BaseException:  # Ctrl-C where no handler turns it into a stop request
            interrupt("the worker was stopped by Ctrl-C")
            raise
        if STOP.requested:
            return interrupt(STOP.why)
        if process.is_alive():
            process.kill()
            process.join()
            status, error = "timeout", f"stopped after the {limit} deadline"
        else:
            try:
                status, detail, error = queue.get(timeout=5)
            except queue_module.Empty:
                status, error = "failed", f"the job process exited with code {process.exitcode}"
        queue.close()
    if not finish_job_run(instance.db, run_id, status, now(), detail=detail, error=error, worker=owner):
        status, error = "interrupted", "settled by another worker while it ran"
    outcome = Outcome(job, trigger_key, status, detail, error)
    log_outcome(outcome, time.monotonic() - clock_started)
    return outcome


# How a job's figures read in its log line, in this order; other keys follow as "key value".
FIGURES: dict[str, str] = {
    "members": "members polled",
    "new_plays": "plays added",
    "calls": "calls used",
    "model": "model served",
    "run_id": "model run",
    "written": "playlists written",
    "unchanged": "playlists unchanged",
    "radar_written": "Release Radars written",
    "radar_unchanged": "Release Radars unchanged",
    "artists_checked": "artists checked",
    "tracks_found": "new tracks found",
    "searched": "names searched",
    "resolved": "resolved",
    "not_found": "not found",
    "bytes": "bytes written",
    "removed": "old backups removed",
    "job_runs_pruned": "old job runs forgotten",
    "errors": "failures",
}


def figures(detail: dict[str, Any] | None) -> str:
    """A job's detail as words: '2 members polled, 41 plays added, 14 calls used' (lists are counted)."""
    if not detail:
        return "nothing to report"
    parts = []
    for key in sorted(detail, key=lambda k: (list(FIGURES).index(k) if k in FIGURES else len(FIGURES), k)):
        value = detail[key]
        if isinstance(value, (list, tuple, dict)):
            if key in ("errors", "removed") and not value:
                continue
            value = len(value)
        label = FIGURES.get(key, key.replace("_", " "))
        parts.append(f"{label} {value}" if key in ("model", "run_id", "path", "skipped") else f"{value} {label}")
    return ", ".join(parts)


def log_outcome(outcome: Outcome, seconds: float) -> None:
    """One line per job run: what it did when it succeeded, why not when it did not."""
    head = f"job {outcome.job} [{outcome.trigger_key}] {outcome.status}"
    if outcome.status == "succeeded":
        log.info("%s in %.1f s: %s", head, seconds, figures(outcome.detail))
    elif outcome.status == "skipped":
        log.debug("%s: another worker has it or it already ran", head)
    else:
        log.warning("%s after %.1f s: %s", head, seconds, outcome.error)


def execute_requests(
    instance: Instance, now: Callable[[], datetime] = lambda: datetime.now(UTC), **kwargs: Any
) -> list[Outcome]:
    """Run the dashboard's queued run-now requests, one taken at a time, after settling runs whose worker died."""
    settle_dead_runs(instance, now())
    outcomes = []
    while not STOP.requested and (request := take_job_request(instance.db, now())) is not None:
        if request.job not in JOBS:
            finish_job_request(instance.db, request.id, "failed", now())
            continue
        outcome = execute(
            instance, request.job, f"{REQUEST_PREFIX}{request.id}", member_id=request.member_id, now=now, **kwargs
        )
        finish_job_request(instance.db, request.id, outcome.status, now())
        outcomes.append(outcome)
    return outcomes
