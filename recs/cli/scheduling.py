"""The worker process: APScheduler 3 triggers wired to recs.usecases.jobs, with coalescing, one instance per job and a ledger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from recs.usecases import jobs
from recs.usecases.instance import Instance

log = logging.getLogger(__name__)

# How often the frequent jobs look for work; each decides itself which members are due.
SYNC_EVERY = timedelta(minutes=1)
PUBLISH_EVERY = timedelta(minutes=5)
REQUESTS_EVERY = timedelta(seconds=15)


def trigger_key(job: str, scheduled: datetime, timezone: str) -> str:
    """One key per firing: the period the scheduled time falls in, so two workers agree on it."""
    local = scheduled.astimezone(ZoneInfo(timezone))
    if job in ("train", "backup", "library", "resolve", "radar", "blend"):
        return local.strftime("%Y-%m-%d")
    period = {"sync": SYNC_EVERY, "publish": PUBLISH_EVERY}.get(job, SYNC_EVERY)
    epoch = int(scheduled.timestamp())
    bucket = epoch - epoch % int(period.total_seconds())
    return datetime.fromtimestamp(bucket, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Worker:
    """Fires jobs through the ledger; the APScheduler scheduler only decides when."""

    def __init__(
        self,
        instance: Instance,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        in_process: bool = False,
        worker: str | None = None,
    ) -> None:
        self.instance = instance
        self.clock = clock
        self.in_process = in_process
        self.worker = worker or jobs.worker_id()

    def fire(self, job: str, scheduled: datetime | None = None) -> jobs.Outcome:
        when = scheduled or self.clock()
        key = trigger_key(job, when, self.instance.settings.scheduler.timezone)
        return jobs.execute(self.instance, job, key, now=self.clock, worker=self.worker, in_process=self.in_process)

    def fire_requests(self) -> list[jobs.Outcome]:
        return jobs.execute_requests(self.instance, now=self.clock, worker=self.worker, in_process=self.in_process)

    def on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            when = event.scheduled_run_time
            key = trigger_key(event.job_id, when, self.instance.settings.scheduler.timezone)
            jobs.record_missed(self.instance.db, event.job_id, key, self.worker, self.clock())
            log.warning("job %s missed its %s run", event.job_id, when)
        elif event.exception is not None:
            log.error("job %s raised %r", event.job_id, event.exception)

    def scheduler_options(self) -> dict[str, Any]:
        conf = self.instance.settings.scheduler
        return {
            "timezone": conf.timezone,
            "job_defaults": {
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": conf.misfire_grace_hours * 3600,
            },
        }

    def serve(self, on_start: Callable[[list[str]], None] = lambda _lines: None) -> None:
        """Run the jobs until jobs.STOP is requested (by a signal handler), then wait for running ones to end.

        The scheduler runs in the background and this thread only polls the flag, so a signal never
        interrupts the scheduler half-way through its own bookkeeping.
        """
        sched = self.build(BackgroundScheduler(**self.scheduler_options()))
        on_start(
            [f"recs worker {self.worker}: {len(sched.get_jobs())} jobs scheduled; Ctrl-C to stop"]
            + [f"  {job.id:<9} {job.trigger}" for job in sched.get_jobs()]
        )
        sched.start()
        try:
            while not jobs.STOP.requested:
                time.sleep(0.2)
        finally:
            # Running jobs see the flag within half a second, stop their processes and record them.
            jobs.STOP.request(jobs.STOP.why)
            sched.shutdown(wait=True)

    def build(self, scheduler: BaseScheduler | None = None) -> BaseScheduler:
        """A scheduler with every job, coalescing missed runs, one instance each, misfire grace in hours."""
        conf = self.instance.settings.scheduler
        sched = scheduler or BlockingScheduler(**self.scheduler_options())
        hour, minute = (int(p) for p in conf.train_time.split(":"))
        cron: dict[str, dict[str, Any]] = {
            "train": {"hour": hour, "minute": minute},
            "backup": {"hour": (hour + 23) % 24, "minute": 30},
            "library": {"hour": (hour + 1) % 24, "minute": 0},
            "resolve": {"hour": (hour + 1) % 24, "minute": 30},
            # Weekly, after that night's training.
            "blend": {
                "day_of_week": self.instance.settings.publish.blend_weekday,
                "hour": (hour + 2) % 24,
                "minute": 30,
            },
            # After the library refresh (follows, top artists) and training: the radar's calls come last.
            "radar": {"hour": (hour + 2) % 24, "minute": 0},
        }
        for name, spec in cron.items():
            sched.add_job(self.fire, CronTrigger(timezone=conf.timezone, **spec), args=[name], id=name, name=name)
        sched.add_job(
            self.fire, IntervalTrigger(seconds=SYNC_EVERY.total_seconds()), args=["sync"], id="sync", name="sync"
        )
        sched.add_job(
            self.fire,
            IntervalTrigger(seconds=PUBLISH_EVERY.total_seconds()),
            args=["publish"],
            id="publish",
            name="publish",
        )
        # Requests first at once: a (re)started worker takes queued run-now requests without waiting.
        sched.add_job(
            self.fire_requests,
            IntervalTrigger(seconds=REQUESTS_EVERY.total_seconds()),
            id="requests",
            next_run_time=datetime.now(UTC),
        )
        sched.add_listener(self.on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        return sched
