"""The instance-wide Spotify API budget: a ledger of every call, a daily allowance by priority, and a pause that survives restarts."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from recs import storage
from recs.core.config import BudgetSettings
from recs.spotify import ErrorKind, SpotifyError
from recs.storage import Database

log = logging.getLogger(__name__)

CallPurpose = Literal["polling", "publishing", "save", "library", "other", "radar", "playable", "token"]
# Share of the daily allowance each purpose may bring the rolling total up to: lower priorities stop
# first, so polling (which loses plays when late) always has room left. Release Radar's artist checks
# (recs/core/radar.py) and the playability checks of open-data tracks (recs/spotify/tracks.py) come last:
# a release found a day later is no loss, and an unchecked track only leaves a playlist shorter.
CEILINGS: dict[str, float] = {
    "polling": 1.0,
    "token": 1.0,
    "publishing": 0.9,
    "save": 0.9,  # a member's own "Save to my library" click (recs/usecases/saving.py)
    "library": 0.75,
    "other": 0.6,
    "radar": 0.5,
    "playable": 0.5,
}
PAUSE_KEY = "api_pause"
WINDOW = timedelta(hours=24)
# A quota 429 without a Retry-After: Spotify's reported pauses are 13-21 h.
DEFAULT_QUOTA_PAUSE = timedelta(hours=12)


@dataclass(frozen=True)
class Pause:
    until: datetime
    reason: str


class Budget:
    """Decides whether a call may go out now, and records every call that did."""

    def __init__(self, db: Database, settings: BudgetSettings, now: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.now = now

    def limit(self, purpose: str) -> int:
        return int(self.settings.daily_calls * CEILINGS.get(purpose, CEILINGS["other"]))

    def used(self, purpose: str | None = None) -> int:
        """Web API calls in the rolling 24 h (token requests are in the ledger but not in Spotify's quota)."""
        with self.db.read() as conn:
            return storage.sync.count_calls(conn, self.now() - WINDOW, purpose=purpose, exclude_purpose="token")

    def remaining(self, purpose: str = "polling") -> int:
        return max(0, self.limit(purpose) - self.used())

    def pause(self) -> Pause | None:
        """The stored pause, if it still holds."""
        with self.db.read() as conn:
            value = storage.sync.get_state(conn, PAUSE_KEY)
        return self._pause(value)

    def _pause(self, value: object) -> Pause | None:
        if not isinstance(value, dict) or not value.get("until"):
            return None
        until = datetime.fromisoformat(str(value["until"]))
        if until <= self.now():
            return None
        if until - self.now() > WINDOW:
            # Stored before pauses were bounded (one answer once paused an instance for years).
            return None
        return Pause(until, str(value.get("reason") or ""))

    def pause_until(self, until: datetime, reason: str) -> None:
        """Stop every call until *until*; an existing longer pause is kept."""
        current = self.pause()
        if current is not None and current.until >= until:
            return
        with self.db.write() as conn:
            storage.sync.set_state(conn, PAUSE_KEY, {"until": until.isoformat(), "reason": reason}, self.now())
        log.warning("Spotify calls paused until %s: %s", until.isoformat(), reason)

    def check(self, purpose: str) -> None:
        """Raise SpotifyError(BUDGET) when a call for *purpose* may not go out now."""
        with self.db.read() as conn:
            pause = self._pause(storage.sync.get_state(conn, PAUSE_KEY))
            used = storage.sync.count_calls(conn, self.now() - WINDOW, exclude_purpose="token")
        if pause is not None:
            raise SpotifyError(
                ErrorKind.BUDGET,
                f"Spotify calls are paused until {pause.until.isoformat()} ({pause.reason})",
                retry_after_s=(pause.until - self.now()).total_seconds(),
            )
        limit = self.limit(purpose)
        if used >= limit:
            raise SpotifyError(
                ErrorKind.BUDGET,
                f"daily API budget reached for {purpose}: {used} calls in 24 h, limit {limit} "
                f"of {self.settings.daily_calls}",
            )

    def record(
        self, member_id: int | None, purpose: str, endpoint: str, status: int | None, duration_ms: int | None
    ) -> None:
        method, _, path = endpoint.partition(" ")
        with self.db.write() as conn:
            storage.sync.record_call(
                conn,
                at=self.now(),
                member_id=member_id,
                purpose=purpose,
                method=method or "GET",
                endpoint=path or endpoint,
                status=status,
                duration_ms=duration_ms,
            )

    def on_error(self, error: SpotifyError) -> None:
        """A quota 429, or a Retry-After beyond the cap, pauses the whole instance."""
        if error.kind is ErrorKind.QUOTA_EXCEEDED:
            seconds = error.retry_after_s
            if seconds is None or not math.isfinite(seconds):
                wait = DEFAULT_QUOTA_PAUSE
            else:  # never longer than the quota window, whatever one answer said
                wait = timedelta(seconds=min(max(seconds, 0.0), WINDOW.total_seconds()))
            self.pause_until(self.now() + wait, f"Spotify quota exceeded ({error.reason or 'long Retry-After'})")

    def observer(self, member_id: int | None) -> MemberCalls:
        return MemberCalls(self, member_id)


class MemberCalls:
    """The CallObserver for one member's client: checks the budget, then writes the ledger."""

    def __init__(self, budget: Budget, member_id: int | None) -> None:
        self.budget = budget
        self.member_id = member_id
        self.calls = 0

    def before_call(self, purpose: str, endpoint: str) -> None:
        self.budget.check(purpose)

    def after_call(
        self, purpose: str, endpoint: str, status: int | None, duration_ms: int, error: SpotifyError | None
    ) -> None:
        self.calls += 1
        self.budget.record(self.member_id, purpose, endpoint, status, duration_ms)
        if error is not None:
            self.budget.on_error(error)
