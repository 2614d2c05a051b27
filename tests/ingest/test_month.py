"""A month of a 5-member household on the adaptive cadence, with faults: nothing lost unseen, doubled, or kept while off.

Faults are scheduled `Fault`s (a moment as a share of the month, and what happens then); each records what it
changes in the expectations: intervals with storing off, plays that must never be stored, and windows in which
plays may be lost provided a gap is recorded. Add a kind by writing one more function and scheduling it.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from recs.core.domain import Member
from recs.storage import sync as sq
from recs.usecases import accounts, ingest, jobs
from recs.usecases.budget import Budget
from recs.usecases.instance import Instance
from tests.publishing.conftest import instance_env
from tests.worker.killable import kill_a_worker_mid_sync

from .conftest import Household

DAYS = int(os.environ.get("RECS_TEST_MONTH_DAYS", "30"))
RECENT = "/v1/me/player/recently-played"
MIN = 60_000
HOUR = 3_600_000


def eligible(play: dict[str, object]) -> bool:
    """What recently-played shows: streams of 30 s or more, outside private sessions."""
    return int(play["ms_played"]) >= 30_000 and not play["incognito"]  # type: ignore[call-overload]


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


@dataclass
class Month:
    """The simulation's state, and what the faults changed in what must be stored."""

    household: Household
    members: list[Member]
    joined: datetime
    # user -> [from, until) intervals with storing off (until None: still off)
    off: dict[str, list[list[datetime | None]]] = field(default_factory=lambda: defaultdict(list))
    # (user, played_at ms): plays that are not plays (a wrong clock) and must never be stored
    bogus: set[tuple[str, int]] = field(default_factory=set)
    # (user or None for everyone, from, until): where a fault may make plays unreadable; a gap must say so
    lossy: list[tuple[str | None, datetime, datetime]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def instance(self) -> Instance:
        return self.household.instance

    def now(self) -> datetime:
        return self.household.now()

    def consent(self, member: Member, granted: bool) -> None:
        accounts.set_consent(self.instance, member.id, "store", granted, self.household.now)
        if granted:
            self.off[member.spotify_id][-1][1] = self.now()
        else:
            self.off[member.spotify_id].append([self.now(), None])

    def poll_now(self, member: Member) -> None:
        """A run-now request for one member."""
        ingest.sync_member(self.instance, member.id, now=self.household.now, sleep=self.household.sleep, force=True)

    def track(self, user: str) -> str:
        return str(
            self.household.control.ground_truth(user, since=self.now() - timedelta(days=2))["plays"][-1]["track_id"]
        )


@dataclass
class Fault:
    at: float  # share of the month
    name: str
    act: Callable[[Month], bool]  # False: not possible right now, try again after the next round
    done: bool = False


# --- fault kinds ---------------------------------------------------------------------------------------


def consent_flips(who: int) -> list[Fault]:
    """The attack on consent: off; on after 6 h; a day later off and on again for 5 minutes."""

    def off(m: Month) -> bool:
        m.consent(m.members[who], False)
        # Plays made before the revocation and not yet read may be pushed out of the window meanwhile.
        m.lossy.append((m.members[who].spotify_id, m.now() - timedelta(hours=12), m.now() + timedelta(days=1)))
        return True

    def on(m: Month) -> bool:
        m.consent(m.members[who], True)
        return True

    def flip(m: Month) -> bool:
        m.consent(m.members[who], False)
        m.household.sleep(300)
        m.consent(m.members[who], True)
        return True

    day = 1 / DAYS
    return [
        Fault(0.08, "consent off", off),
        Fault(0.08 + day / 4, "consent on", on),
        Fault(0.08 + 1.25 * day, "consent off and on for 5 min", flip),
    ]


def late_offline_burst(who: int) -> Callable[[Month], bool]:
    """39 plays from a quiet stretch of the last hours, older than plays already polled, reach Spotify now,
    with enough newer plays ahead of them that only some fit in the 50-play window: the rest are lost, and
    a gap must say where (the window's oldest play is then older than the cursor)."""

    def act(m: Month) -> bool:
        member = m.members[who]
        user = member.spotify_id
        now = ms(m.now())
        with m.instance.db.read() as conn:
            row = sq.get_cursor(conn, member.id, "recently_played")
        cursor = int(row.cursor) if row is not None and row.cursor else 0
        plays = m.household.control.ground_truth(user, since=m.now() - timedelta(hours=10))["plays"]
        stamps = sorted(int(p["played_at_ms"]) for p in plays)
        for a, b in reversed(list(itertools.pairwise(stamps))):
            burst = [a + MIN + 40_000 * i for i in range(39)]
            ahead = sum(
                1
                for p in plays
                if eligible(p) and int(p["played_at_ms"]) > burst[-1] and int(p["visible_at_ms"]) <= now
            )
            if b - a >= 30 * MIN and burst[-1] < cursor and 0 < ahead <= 40:
                break
        else:
            return False  # no quiet stretch behind the cursor with room in the window: try after the next round
        binge = [now - 1_000 - 40_000 * i for i in range(max(0, 55 - 39 - ahead))]
        track = m.track(user)
        rows = [{"track_id": track, "played_at_ms": t, "ms_played": 35_000} for t in burst + binge]
        m.household.control.add_plays(user, rows)
        m.lossy.append((user, datetime.fromtimestamp(a / 1000, UTC), m.now()))
        m.poll_now(member)
        m.log.append(f"late burst for {user}: 39 plays from {datetime.fromtimestamp(a / 1000, UTC)}, {ahead} ahead")
        return True

    return act


def future_play(who: int) -> Callable[[Month], bool]:
    """A device with a wrong clock: a play dated a year ahead, shown by the API at once."""

    def act(m: Month) -> bool:
        user = m.members[who].spotify_id
        at = ms(m.now() + timedelta(days=365))
        m.household.control.add_plays(
            user, [{"track_id": m.track(user), "played_at_ms": at, "visible_at_ms": ms(m.now())}]
        )
        m.bogus.add((user, at))
        return True

    return act


def retry_after(value: str, pauses: bool) -> Callable[[Month], bool]:
    """The next poll of anyone answers 429 with this Retry-After."""

    def act(m: Month) -> bool:
        m.household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": value})
        if pauses:
            # Everyone waits (at most a day): plays may be pushed out of the window meanwhile, with a gap.
            m.lossy.append((None, m.now() - timedelta(hours=12), m.now() + timedelta(days=1, hours=3)))
        return True

    return act


def worker_killed_mid_sync() -> Callable[[Month], bool]:
    """A real worker process SIGKILLed while its sync job's first poll is in flight (tests.worker.killable): its
    job process dies with it, and the next worker settles the run as interrupted at once, not an hour later."""

    def act(m: Month) -> bool:
        key = f"month {m.now():%Y-%m-%dT%H:%M}"
        pid = kill_a_worker_mid_sync(instance_env(m.instance), m.household.control, key)
        settled = jobs.settle_dead_runs(m.instance, m.now())
        assert [(r.trigger_key, r.worker.rsplit(":", 1)[1]) for r in settled] == [(key, str(pid))], settled
        m.log.append(f"worker {pid} killed mid-sync; its run settled as interrupted: {settled[0].trigger_key}")
        return True

    return act


def faults() -> list[Fault]:
    """At moments the other tests do not use; the pause of member 4 (a third to a half of the month) stays."""
    return [
        *consent_flips(1),
        Fault(0.17, "future played_at", future_play(2)),
        Fault(0.24, "late offline burst", late_offline_burst(0)),
        Fault(0.58, "Retry-After inf", retry_after("inf", pauses=False)),
        Fault(0.66, "worker killed mid-sync", worker_killed_mid_sync()),
        Fault(0.75, "Retry-After 86400000", retry_after("86400000", pauses=True)),
        Fault(0.83, "late offline burst", late_offline_burst(3)),
    ]


# --- the month -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # 100 s on a quiet 2-core machine, 326 s at a load average of 23: above the default 300
def test_a_month_of_five_members_loses_and_doubles_nothing_within_budget(household: Household) -> None:
    members = household.join_all()
    joined = household.now()
    m = Month(household, members, joined)
    by_user = {mem.spotify_id: mem for mem in members}
    end = joined + timedelta(days=DAYS)
    schedule = faults()
    budget = Budget(household.instance.db, household.instance.settings.budget, household.now)
    # One member switches storing off for a while, right after a poll of theirs.
    pauser = members[-1]
    pause_from, pause_to = joined + timedelta(days=DAYS / 3), joined + timedelta(days=DAYS / 2)
    paused = 0
    rounds = 0
    while household.now() < end:
        if paused == 1 and household.now() >= pause_to:
            m.consent(pauser, True)
            paused = 2
        reports = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
        polled = any(r.member_id == pauser.id and "recently_played" in r.streams for r in reports)
        if not paused and household.now() >= pause_from and polled:
            m.consent(pauser, False)
            paused = 1
        for fault in schedule:
            if not fault.done and household.now() >= joined + timedelta(days=DAYS * fault.at):
                fault.done = fault.act(m)
        rounds += 1
        pause = budget.pause()
        due = pause.until if pause is not None else ingest.next_due(household.instance)
        if due is not None and due > household.now():
            household.sleep((min(due, end) - household.now()).total_seconds() + 1)
    assert all(f.done for f in schedule), [f.name for f in schedule if not f.done]
    # A last round picks up what was played since the last poll.
    ingest.sync_all(household.instance, now=household.now, sleep=household.sleep, force=True)
    final = household.now()

    def off_for(user: str, at: int) -> bool:
        return any(ms(a) <= at and (b is None or at < ms(b)) for a, b in m.off[user])  # type: ignore[arg-type]

    truth = household.control.ground_truth(since=joined)
    expected: dict[str, set[tuple[int, str]]] = defaultdict(set)
    during_off: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for play in truth["plays"]:
        user, played = play["user_id"], int(play["played_at_ms"])
        if not eligible(play) or int(play["visible_at_ms"]) > ms(final):
            continue
        (during_off if off_for(user, played) else expected)[user].add((played, play["track_id"]))

    totals: Counter[str] = Counter()
    calls: Counter[tuple[int | None, int]] = Counter()
    with household.instance.db.read() as conn:
        for user, member in by_user.items():
            stored = [(ms(t), sid) for t, sid in sq.play_keys(conn, member.id)]
            totals["duplicated"] += len(stored) - len(set(stored))
            since_join = {p for p in stored if p[0] >= ms(joined)}
            gaps = sq.list_gaps(conn, member.id)
            in_gap = {p for p in expected[user] if any(ms(g.gap_start) <= p[0] <= ms(g.gap_end) for g in gaps)}
            lost = expected[user] - since_join
            totals["expected"] += len(expected[user])
            totals["lost"] += len(lost - in_gap)
            totals["lost in a recorded gap"] += len(lost & in_gap)
            totals["stored while storing was off"] += len(since_join & during_off[user])
            totals["bogus future plays stored"] += sum(1 for t, _ in stored if (user, t) in m.bogus)
            totals["stored that never happened"] += len(since_join - expected[user] - during_off[user])
            totals["gaps"] += len(gaps)
            if lost - in_gap:
                print("lost", user, [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t, _ in sorted(lost)[:5]])
                print("gaps", gaps, "lossy", m.lossy, m.log)
            # A gap only where a fault made plays unreadable.
            for g in gaps:
                assert any(who in (None, user) and g.gap_start <= b and g.gap_end >= a for who, a, b in m.lossy), (
                    f"{user}: a gap with no fault to explain it: {g}"
                )
        ledger = sq.list_calls(conn, joined - timedelta(days=1))
    times = sorted(at for at, *_ in ledger)
    for at, member_id, *_ in ledger:
        calls[(member_id, (at - joined).days)] += 1
    # The rolling 24 h count never passes the budget.
    daily = household.instance.settings.budget.daily_calls
    j = 0
    peak = 0
    for i, at in enumerate(times):
        while times[j] <= at - timedelta(days=1):
            j += 1
        peak = max(peak, i - j + 1)
    # No answer stopped polling for longer than the quota window (plus one idle interval).
    polls = sorted(r["at"] for r in household.control.requests() if r["path"] == RECENT)
    stops = [datetime.fromisoformat(b) - datetime.fromisoformat(a) for a, b in itertools.pairwise(polls)]
    longest = max(stops)
    print(f"\n{rounds} rounds, {len(ledger)} calls, peak {peak} in 24 h (budget {daily})")
    print("faults:", ", ".join(f"{f.name} (day {DAYS * f.at:.1f})" for f in schedule), *m.log, sep="\n  ")
    print("calls per member per day:")
    for member in members:
        row = [calls[(member.id, d)] for d in range(DAYS + 1)]
        print(f"  member {member.id}: {' '.join(f'{n:3d}' for n in row)}  total {sum(row)}")
    print(f"longest time without any poll: {longest}")
    for name in (
        "expected",
        "lost",
        "lost in a recorded gap",
        "duplicated",
        "stored while storing was off",
        "bogus future plays stored",
        "stored that never happened",
        "gaps",
    ):
        print(f"  {name}: {totals[name]}")
    assert totals["lost"] == 0
    assert totals["duplicated"] == 0
    assert totals["stored while storing was off"] == 0
    assert totals["bogus future plays stored"] == 0
    assert totals["stored that never happened"] == 0
    assert totals["lost in a recorded gap"] > 0, "the late bursts were all read: the faults tested nothing"
    assert peak <= daily
    assert longest <= timedelta(days=1, minutes=household.instance.settings.sync.max_poll_minutes + 5)
    unplanned = [r for r in household.control.requests() if r["status"] == 429 and not r["fault"]]
    assert not unplanned, unplanned[:3]
