"""Single-flight refresh across real processes: four processes needing a fresh token make one token request."""

from __future__ import annotations

import multiprocessing
from datetime import datetime
from typing import Any

import pytest

from recs.core.config import Settings
from recs.core.keys import Secrets
from recs.spotify import RefreshLocks
from recs.storage import Database
from recs.usecases import accounts
from recs.usecases.budget import Budget
from recs.usecases.instance import Instance

from .conftest import Household

PROCESSES = 4


def _refresh_in_a_process(
    settings: Settings, secrets: Secrets, url: str, member_id: int, at: str, barrier: Any, out: Any
) -> None:
    db = Database(url)
    try:
        instance = Instance(settings=settings, secrets=secrets, db=db)
        moment = datetime.fromisoformat(at)

        def now() -> datetime:
            return moment

        api = accounts.member_client(
            instance, member_id, now, budget=Budget(db, settings.budget, now), locks=RefreshLocks(), wait=_short_wait
        )
        barrier.wait(timeout=60)
        out.put(api.get_access_token())
    except BaseException as exc:  # reported to the parent, which fails the test with it
        out.put(f"error: {exc!r}")
    finally:
        db.dispose()


def _short_wait(seconds: float) -> None:
    # Real processes wait for each other in real time; keep the polls short.
    import time

    time.sleep(min(seconds, 0.02))


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_processes_needing_a_fresh_token_make_one_token_request(household: Household) -> None:
    member = household.sign_in(household.users[0])
    household.sleep(3600 + 120)  # the access token expired
    household.control.clear_requests()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    instance = household.instance
    procs = [
        ctx.Process(
            target=_refresh_in_a_process,
            args=(
                instance.settings,
                instance.secrets,
                instance.db.url,
                member.id,
                household.now().isoformat(),
                barrier,
                out,
            ),
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert not [r for r in results if r.startswith("error")], results
    assert len(set(results)) == 1
    assert len([r for r in household.control.requests() if r["path"] == "/api/token"]) == 1
