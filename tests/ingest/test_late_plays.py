"""Plays uploaded late (an offline session) behind 50 newer ones cannot be read: the loss is recorded as a gap."""

from __future__ import annotations

from datetime import UTC, datetime

from recs.storage import sync as sq
from recs.usecases import accounts, ingest

from .conftest import Household

MINUTE_MS = 60_000


def quiet_stretch(household: Household, user: str, hours: float) -> int:
    """The start (Unix ms) of the next stretch of *hours* in which *user* plays nothing and nothing of theirs
    becomes visible, moving the clock a day at a time until one exists (the emulator generates whole days)."""
    emulator = household.server.emulator
    for _ in range(10):
        now = emulator.now_ms
        events = sorted(t for p in emulator.household.plays[user] for t in (p.at_ms, p.visible_ms) if t >= now)
        start = now
        for t in events:
            if t - start >= hours * 3_600_000:
                return start
            start = max(start, t + 1)
        household.sleep(24 * 3600)
    raise AssertionError("no quiet stretch found")


def add(household: Household, user: str, track_id: str, times_ms: list[int]) -> None:
    plays = [{"track_id": track_id, "played_at_ms": t, "ms_played": 35_000} for t in times_ms]
    assert household.control.add_plays(user, plays) == len(times_ms)


def stored(household: Household, member_id: int) -> set[int]:
    with household.instance.db.read() as conn:
        return {int(at.timestamp() * 1000) for at, _ in sq.play_keys(conn, member_id)}


def test_a_late_offline_session_behind_fifty_newer_plays_is_recorded_as_a_gap(household: Household) -> None:
    (member,) = household.join_all(1)
    user = member.spotify_id
    track = household.control.ground_truth(user)["plays"][-1]["track_id"]
    q = quiet_stretch(household, user, 3)

    def at(minutes: float) -> None:
        household.sleep((q + minutes * MINUTE_MS - household.server.emulator.now_ms) / 1000)

    def poll() -> None:
        report = ingest.sync_member(household.instance, member.id, now=household.now, sleep=household.sleep, force=True)
        assert not report.errors, report.errors

    at(1)
    poll()  # everything before the quiet stretch is stored
    at(60)
    add(household, user, track, [q + (55 + i) * MINUTE_MS for i in range(5)])
    poll()  # five online plays: the cursor is now at q + 59 min
    at(120)
    # An offline session from q + 10 min reaches Spotify now, and 35 online plays came after the last poll:
    # the window of 50 holds the 35, the 5 stored, and only the 10 newest plays of the session.
    late = [q + 10 * MINUTE_MS + 40_000 * i for i in range(39)]
    add(household, user, track, late)
    add(household, user, track, [q + 62 * MINUTE_MS + 40_000 * i for i in range(35)])
    poll()

    have = stored(household, member.id)
    lost = [t for t in late if t not in have]
    assert len(lost) == 29
    gaps = ingest.member_gaps(household.instance, member.id)
    assert gaps, "plays lost with no gap recorded"
    for t in lost:
        moment = datetime.fromtimestamp(t / 1000, UTC)
        assert any(g.gap_start <= moment <= g.gap_end for g in gaps), f"lost play at {moment} outside every gap"
    # Where gaps are shown (`recs members`, the owner's page): the member is told to import that period.
    (status,) = accounts.member_statuses(household.instance)
    assert status.open_gaps == len(gaps)


def test_a_full_page_that_joins_up_with_stored_plays_is_no_gap(household: Household) -> None:
    """A full page whose oldest play was stored before: nothing is hidden below it."""
    (member,) = household.join_all(1)
    user = member.spotify_id
    track = household.control.ground_truth(user)["plays"][-1]["track_id"]
    q = quiet_stretch(household, user, 3)

    def at(minutes: float) -> None:
        household.sleep((q + minutes * MINUTE_MS - household.server.emulator.now_ms) / 1000)

    at(1)
    ingest.sync_member(household.instance, member.id, now=household.now, sleep=household.sleep, force=True)
    at(60)
    add(household, user, track, [q + 10 * MINUTE_MS + 40_000 * i for i in range(30)])
    ingest.sync_member(household.instance, member.id, now=household.now, sleep=household.sleep, force=True)
    at(120)
    add(household, user, track, [q + 62 * MINUTE_MS + 40_000 * i for i in range(30)])
    report = ingest.sync_member(household.instance, member.id, now=household.now, sleep=household.sleep, force=True)
    assert report.new_plays == 30
    assert not ingest.member_gaps(household.instance, member.id)
