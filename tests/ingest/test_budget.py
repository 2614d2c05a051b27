"""The instance-wide API budget: ledger, priorities, and a quota pause that survives a restart."""

from __future__ import annotations

import dataclasses

import pytest

from recs.spotify import ErrorKind, SpotifyError
from recs.usecases.budget import Budget
from recs.usecases.instance import Instance

from .conftest import Clock


def test_lower_priorities_stop_first_and_the_window_rolls(instance: Instance, clock: Clock) -> None:
    budget = Budget(instance.db, dataclasses.replace(instance.settings.budget, daily_calls=20), clock)
    obs = budget.observer(None)
    for _ in range(12):
        obs.before_call("other", "GET me")
        obs.after_call("other", "GET me", 200, 5, None)
    with pytest.raises(SpotifyError) as info:
        budget.check("other")
    assert info.value.kind is ErrorKind.BUDGET
    budget.check("library")  # library may go up to 15 of 20
    for _ in range(3):
        obs.after_call("library", "GET me/tracks", 200, 5, None)
    with pytest.raises(SpotifyError):
        budget.check("library")
    budget.check("publishing")
    budget.check("polling")
    for _ in range(5):
        obs.after_call("polling", "GET me/player/recently-played", 200, 5, None)
    with pytest.raises(SpotifyError):
        budget.check("polling")
    assert budget.used() == 20 and obs.calls == 20
    clock.advance(24 * 3600 + 1)
    budget.check("other")
    assert budget.used() == 0


def test_quota_429_pauses_every_call_until_the_stored_time_across_restarts(instance: Instance, clock: Clock) -> None:
    budget = Budget(instance.db, instance.settings.budget, clock)
    error = SpotifyError(
        ErrorKind.QUOTA_EXCEEDED, "quota", status=429, retry_after_s=13 * 3600, reason="QUOTA_EXCEEDED"
    )
    budget.observer(None).after_call("polling", "GET me/player/recently-played", 429, 3, error)
    restarted = Budget(instance.db, instance.settings.budget, clock)  # a new process reads the stored pause
    with pytest.raises(SpotifyError) as info:
        restarted.check("polling")
    assert info.value.kind is ErrorKind.BUDGET and "paused" in info.value.message
    clock.advance(13 * 3600 - 1)
    with pytest.raises(SpotifyError):
        restarted.check("polling")
    clock.advance(2)
    restarted.check("polling")
    assert restarted.pause() is None


def test_a_shorter_pause_does_not_shorten_a_longer_one(instance: Instance, clock: Clock) -> None:
    budget = Budget(instance.db, instance.settings.budget, clock)
    budget.on_error(SpotifyError(ErrorKind.QUOTA_EXCEEDED, "q", retry_after_s=7200))
    budget.on_error(SpotifyError(ErrorKind.QUOTA_EXCEEDED, "q", retry_after_s=100))
    pause = budget.pause()
    assert pause is not None and (pause.until - clock()).total_seconds() == 7200


def test_token_requests_are_in_the_ledger_but_not_in_the_web_api_budget(instance: Instance, clock: Clock) -> None:
    budget = Budget(instance.db, dataclasses.replace(instance.settings.budget, daily_calls=2), clock)
    for _ in range(5):
        budget.record(None, "token", "POST api/token", 200, 3)
    budget.check("polling")
    assert budget.used() == 0
    budget.record(None, "polling", "GET me/player/recently-played", 200, 3)
    budget.record(None, "polling", "GET me/player/recently-played", 200, 3)
    with pytest.raises(SpotifyError):
        budget.check("polling")
