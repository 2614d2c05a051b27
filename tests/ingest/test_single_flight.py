"""Polling one member is single-flight across workers: two workers running at once poll each member once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

from recs.core.processes import owner_id
from recs.spotify import RefreshLocks
from recs.storage import Database
from recs.storage import sync as sq
from recs.usecases import ingest
from recs.usecases.instance import Instance

from .conftest import Household
from .test_faults import RECENT, synced


def worker_instance(household: Household) -> Instance:
    """What another worker process has: its own engine and connections to the same database."""
    return dataclasses.replace(household.instance, db=Database(household.instance.db.url))


def test_two_workers_running_at_once_poll_each_member_once(household: Household) -> None:
    ids = synced(household, 5)
    household.sleep(3 * 3600)  # every member is due
    # Each poll takes a while, so the two workers overlap on every member.
    household.control.add_fault("GET", RECENT, delay_s=1.0, times=None)
    workers = [worker_instance(household) for _ in range(2)]
    start = threading.Barrier(2)
    reports: list[list[ingest.SyncReport]] = [[], []]
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            # A run-now request: the due members, each worker with its own lock registry, as processes are.
            reports[i] = ingest.sync_all(workers[i], now=household.now, sleep=household.sleep, locks=RefreshLocks())
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for w in workers:
        w.db.dispose()
    assert not failures, failures
    polls = Counter(r["member"] for r in household.control.requests() if r["path"] == RECENT)
    assert sorted(polls.values()) == [1] * len(ids), f"members polled more than once: {polls}"
    skipped = [r for rs in reports for r in rs if r.skipped == "being synced by another worker"]
    assert skipped, "the workers did not overlap: the test proves nothing"
    assert all(not r.errors for rs in reports for r in rs), [r.errors for rs in reports for r in rs]


def test_a_dead_workers_lease_runs_out(household: Household) -> None:
    """A worker that died holding a member's lease blocks polling them only until the lease expires."""
    (member_id,) = synced(household)
    household.sleep(3 * 3600)
    moment = household.now()
    with household.instance.db.write() as conn:
        assert sq.acquire_sync_lease(conn, member_id, "dead-worker", moment + ingest.SYNC_LEASE, moment)
    report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep)
    assert report.skipped == "being synced by another worker" and report.calls == 0
    household.sleep(ingest.SYNC_LEASE.total_seconds() + 1)
    report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep)
    assert not report.errors and "recently_played" in report.streams
    # Released after the sync: the next one needs no wait.
    household.sleep(timedelta(hours=3).total_seconds())
    report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep)
    assert report.skipped is None and "recently_played" in report.streams


def test_a_killed_workers_lease_on_this_host_is_taken_over_at_once(household: Household) -> None:
    (member_id,) = synced(household)
    household.sleep(3 * 3600)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = owner_id().rpartition(":")[0]
    moment = household.now()
    with household.instance.db.write() as conn:
        assert sq.acquire_sync_lease(conn, member_id, f"{host}:{gone.pid}/x", moment + ingest.SYNC_LEASE, moment)
    report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep)
    assert report.skipped is None and "recently_played" in report.streams
