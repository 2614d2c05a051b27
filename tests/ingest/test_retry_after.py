"""A Retry-After from Spotify is bounded: huge values are clamped to a day, nonsense is a short pause, both logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from recs.spotify.errors import MAX_RETRY_AFTER_S, NONSENSE_RETRY_AFTER_S, retry_after_seconds
from recs.storage import sync as sq
from recs.usecases import ingest
from recs.usecases.budget import PAUSE_KEY, Budget
from recs.usecases.instance import Instance

from .conftest import Clock, Household
from .test_faults import RECENT, Sleeps, synced


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("86400", 86400.0),
        ("86400000", MAX_RETRY_AFTER_S),
        ("1e12", MAX_RETRY_AFTER_S),
        ("1e400", NONSENSE_RETRY_AFTER_S),  # float overflow: inf
        ("inf", NONSENSE_RETRY_AFTER_S),
        ("-inf", NONSENSE_RETRY_AFTER_S),
        ("nan", NONSENSE_RETRY_AFTER_S),
        ("-5", NONSENSE_RETRY_AFTER_S),
        ("soon", NONSENSE_RETRY_AFTER_S),
        ("Wed, 21 Oct 2015 07:28:00 GMT", NONSENSE_RETRY_AFTER_S),
    ],
)
def test_retry_after_values_are_bounded(header: str, seconds: float) -> None:
    assert retry_after_seconds({"Retry-After": header}) == seconds


@pytest.mark.parametrize("header", ["86400000", "1e12"])
def test_a_huge_retry_after_pauses_the_instance_for_at_most_a_day(
    household: Household, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = synced(household, 2)
    household.sleep(3600)
    household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": header})
    with caplog.at_level(logging.WARNING):
        reports = ingest.sync_all(household.instance, now=household.now, sleep=Sleeps(household), force=True)
    assert any("quota" in e.lower() for r in reports for e in r.errors)
    assert header in caplog.text  # what Spotify sent is in the log
    pause = Budget(household.instance.db, household.instance.settings.budget, household.now).pause()
    assert pause is not None and pause.until == household.now() + timedelta(days=1)
    # A day later every member is polled again.
    household.sleep(24 * 3600 + 1)
    reports = ingest.sync_all(household.instance, now=household.now, sleep=Sleeps(household), force=True)
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    assert sorted(r.member_id for r in reports if "recently_played" in r.streams) == sorted(ids)


@pytest.mark.parametrize("header", ["inf", "-inf", "nan", "1e400", "soon"])
def test_a_nonsense_retry_after_is_a_short_wait_not_a_crash(
    household: Household, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    (member_id,) = synced(household)
    household.sleep(3600)
    household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": header})
    sleeps = Sleeps(household)
    with caplog.at_level(logging.WARNING):
        reports = ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert [r.errors for r in reports] == [[]]
    assert sleeps.waits == [NONSENSE_RETRY_AFTER_S]
    assert header in caplog.text
    assert Budget(household.instance.db, household.instance.settings.budget, household.now).pause() is None
    with household.instance.db.read() as conn:
        assert sq.get_cursor(conn, member_id, "recently_played") is not None


def test_a_stored_pause_longer_than_a_day_is_not_honoured(instance: Instance, clock: Clock) -> None:
    """A pause written before pauses were bounded (one instance was paused until 2029) does not hold."""
    with instance.db.write() as conn:
        sq.set_state(conn, PAUSE_KEY, {"until": (clock() + timedelta(days=1000)).isoformat(), "reason": "old"}, clock())
    budget = Budget(instance.db, instance.settings.budget, clock)
    assert budget.pause() is None
    budget.check("polling")
