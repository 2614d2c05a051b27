"""A simulated month of a 5-member household on the adaptive cadence: nothing lost, nothing doubled, within budget."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from recs import accounts, ingest
from recs.storage import sync as sq

from .conftest import Household

DAYS = int(os.environ.get("RECS_TEST_MONTH_DAYS", "30"))


def eligible(play: dict[str, object]) -> bool:
    """What recently-played shows: streams of 30 s or more, outside private sessions."""
    return int(play["ms_played"]) >= 30_000 and not play["incognito"]  # type: ignore[call-overload]


@pytest.mark.slow
def test_a_month_of_five_members_loses_and_doubles_nothing_within_budget(household: Household) -> None:
    members = household.join_all()
    joined = household.now()
    by_user = {m.spotify_id: m for m in members}
    end = joined + timedelta(days=DAYS)
    # One member switches storing off for a while: nothing they play meanwhile may be stored.
    pauser = members[-1]
    pause_from, pause_to = joined + timedelta(days=DAYS / 3), joined + timedelta(days=DAYS / 2)
    paused: list[datetime] = []
    rounds = 0
    while household.now() < end:
        if len(paused) == 1 and household.now() >= pause_to:
            accounts.set_consent(household.instance, pauser.id, "store", True, household.now)
            paused.append(household.now())
        reports = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
        polled = any(r.member_id == pauser.id and "recently_played" in r.streams for r in reports)
        if not paused and household.now() >= pause_from and polled:
            # Right after a poll of theirs, so nothing they played before is left unread.
            accounts.set_consent(household.instance, pauser.id, "store", False, household.now)
            paused.append(household.now())
        rounds += 1
        due = ingest.next_due(household.instance)
        if due is not None and due > household.now():
            household.sleep((min(due, end) - household.now()).total_seconds() + 1)
    # A last round picks up what was played since the last poll.
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep, force=True)
    final = household.now()

    final_ms = int(final.timestamp() * 1000)
    truth = household.control.ground_truth()
    expected: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for play in truth["plays"]:
        visible = int(play.get("visible_at_ms") or play["played_at_ms"])
        at = int(play["played_at_ms"])
        if play["user_id"] == pauser.spotify_id and paused[0].timestamp() * 1000 <= at < paused[1].timestamp() * 1000:
            continue
        if eligible(play) and joined.timestamp() * 1000 <= at and visible <= final_ms:
            expected[play["user_id"]].add((at, play["track_id"]))

    calls: Counter[tuple[int | None, int]] = Counter()
    with household.instance.db.read() as conn:
        for user, member in by_user.items():
            stored = [(int(at.timestamp() * 1000), sid) for at, sid in sq.play_keys(conn, member.id)]
            assert len(stored) == len(set(stored)), f"{user}: duplicated plays"
            since_join = {p for p in stored if p[0] >= joined.timestamp() * 1000}
            lost = expected[user] - since_join
            extra = since_join - expected[user]
            if lost:
                first = min(lost)[0]
                near = [
                    (c[0].isoformat(), c[3], c[4])
                    for c in sq.list_calls(conn, joined)
                    if c[1] == member.id and abs(c[0].timestamp() * 1000 - first) < 4 * 3600_000
                ]
                print(
                    "lost",
                    sorted(lost)[:3],
                    datetime.fromtimestamp(first / 1000, UTC),
                    near,
                    sq.list_gaps(conn, member.id),
                )
            assert not lost, f"{user}: {len(lost)} plays lost of {len(expected[user])}"
            assert not extra, f"{user}: {len(extra)} plays that never happened"
            assert not sq.list_gaps(conn, member.id)
        ledger = sq.list_calls(conn, joined - timedelta(days=1))
    times = sorted(at for at, *_ in ledger)
    for at, member_id, *_ in ledger:
        calls[(member_id, (at - joined).days)] += 1
    # The rolling 24 h count never passes the budget.
    budget = household.instance.settings.budget.daily_calls
    j = 0
    peak = 0
    for i, at in enumerate(times):
        while times[j] <= at - timedelta(days=1):
            j += 1
        peak = max(peak, i - j + 1)
    assert peak <= budget
    assert not any(r["status"] == 429 for r in household.control.requests())
    print(f"\n{rounds} rounds, {len(ledger)} calls, peak {peak} in 24 h (budget {budget})")
    print("calls per member per day:")
    for member in members:
        row = [calls[(member.id, d)] for d in range(DAYS + 1)]
        print(f"  member {member.id}: {' '.join(f'{n:3d}' for n in row)}  total {sum(row)}")
    plays_total = sum(len(v) for v in expected.values())
    print(f"{plays_total} plays expected and stored exactly once")
