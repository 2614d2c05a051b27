"""Release Radar's pure core: the love ranking of a member's artists and the budget plan for checking them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from recs.core.radar import (
    MIN_LOVE,
    ArtistSignals,
    Loved,
    calls_per_check,
    checks_today,
    collect_signals,
    cycle_days,
    due_today,
    household_order,
    love,
    plan,
    rank_loved,
)
from recs.usecases.budget import CEILINGS

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
# measured in tests/ingest/test_month.py: about 33 polling calls per member per day
OTHER_CALLS_5_MEMBERS = 5 * 33


def test_each_signal_raises_love_and_more_of_it_raises_it_less() -> None:
    base = love(ArtistSignals(1, plays=5.0))
    assert love(ArtistSignals(1, plays=6.0)) > base
    assert love(ArtistSignals(1, plays=5.0, saves=1)) > base
    assert love(ArtistSignals(1, plays=5.0, followed=True)) > base
    assert love(ArtistSignals(1, plays=5.0, top_rank=50)) > base
    assert love(ArtistSignals(1, plays=5.0, top_rank=1)) > love(ArtistSignals(1, plays=5.0, top_rank=2))
    assert love(ArtistSignals(1, plays=5.0, top_rank=51)) == base
    # diminishing: the 50th play adds less than the 2nd
    assert love(ArtistSignals(1, plays=50.0)) - love(ArtistSignals(1, plays=49.0)) < love(
        ArtistSignals(1, plays=2.0)
    ) - love(ArtistSignals(1, plays=1.0))
    assert love(ArtistSignals(1)) == 0.0


def test_ranking_orders_filters_blocks_and_caps() -> None:
    signals = [
        ArtistSignals(10, plays=40.0),
        ArtistSignals(11, plays=1.0),  # heard once: not loved
        ArtistSignals(12, followed=True),  # a follow alone is enough
        ArtistSignals(13, saves=3, plays=10.0),
        ArtistSignals(14, plays=40.0),  # same as 10: tie broken by id
        ArtistSignals(15, plays=500.0),  # blocked
    ]
    ranked = rank_loved(signals, blocked=[15])
    assert [x.artist_id for x in ranked] == [13, 10, 14, 12]
    assert all(x.love >= MIN_LOVE for x in ranked)
    assert [x.artist_id for x in rank_loved(signals, blocked=[15], limit=2)] == [13, 10]
    assert rank_loved(signals, limit=0) == []


def test_signals_decay_plays_by_age_and_count_each_credit_once() -> None:
    plays = [
        (NOW - timedelta(days=1), (1, 2)),
        (NOW - timedelta(days=1), (1, 1)),  # a doubled credit still counts once for the artist
        (NOW - timedelta(days=360), (3,)),
        (NOW - timedelta(days=1), (3,)),
    ]
    by_id = {
        s.artist_id: s
        for s in collect_signals(plays, saved=[(2,), (2, 4)], followed=[5], top_artists=[3, 1, 3], now=NOW)
    }
    assert sorted(by_id) == [1, 2, 3, 4, 5]
    assert by_id[1].plays == pytest.approx(2 * 0.5 ** (1 / 90))
    assert by_id[3].plays == pytest.approx(0.5 ** (1 / 90) + 0.5**4)
    assert (by_id[2].saves, by_id[4].saves, by_id[1].saves) == (2, 1, 0)
    assert by_id[5].followed and not by_id[1].followed
    assert (by_id[3].top_rank, by_id[1].top_rank, by_id[2].top_rank) == (1, 2, None)


def test_household_order_interleaves_members_and_checks_shared_artists_once() -> None:
    loved = {
        2: [Loved(7, 9.0), Loved(8, 5.0), Loved(9, 1.5)],
        1: [Loved(1, 9.0), Loved(7, 4.0)],
    }
    assert household_order(loved) == [1, 7, 8, 9]
    assert household_order({}) == []


def test_cycle_keeps_every_release_inside_the_window() -> None:
    assert cycle_days(14) == 7
    assert cycle_days(7) == 1
    assert cycle_days(3) == 1
    # simulated: a release on any day, artist checked every `cycle` days, playlist every 7 days
    rng = random.Random(0)
    for window in (8, 14, 21, 28):
        cycle = cycle_days(window)
        for _ in range(200):
            offset, released = rng.randrange(cycle), rng.randrange(60)
            playlist_day = rng.randrange(7)
            found = next(d for d in range(released, released + cycle + 1) if (d - offset) % cycle == 0)
            shown = next(d for d in range(found, found + 8) if d % 7 == playlist_day)
            assert shown - released <= window


def test_a_household_of_five_with_200_loved_artists_each_fits_the_budget() -> None:
    share = CEILINGS["radar"]
    assert share == min(CEILINGS.values()), "the radar must stop first"
    # worst case: no artist shared between members
    p = plan(5 * 200, daily_calls=800, radar_share=share, other_calls_per_day=OTHER_CALLS_5_MEMBERS)
    assert p.fits and p.coverable == 1000
    assert p.per_day == 143 and p.cycle_days == 7
    assert p.calls_per_day == pytest.approx(143 * calls_per_check())
    assert p.headroom == 400 - OTHER_CALLS_5_MEMBERS
    # and the polling ceiling is untouched: radar plus everything else stays under the radar's share
    assert p.calls_per_day + OTHER_CALLS_5_MEMBERS <= 800 * share


def test_a_plan_that_does_not_fit_says_how_many_artists_it_can_cover() -> None:
    p = plan(1000, daily_calls=300, radar_share=0.5, other_calls_per_day=100)
    assert not p.fits
    assert p.headroom == 50
    assert p.coverable == checks_today(50) * 7 == 40 * 7
    assert plan(0, 800, 0.5, 165).per_day == 0


def test_checks_today_never_exceeds_what_is_left() -> None:
    for remaining in (0, 1, 2, 99, 235):
        n = checks_today(remaining)
        assert n * calls_per_check() <= remaining < (n + 1) * calls_per_check()
    assert checks_today(-5) == 0


def test_due_today_rotates_longest_unchecked_first_in_love_order() -> None:
    today = date(2026, 12, 1)
    order = [5, 4, 3, 2, 1]
    last = {5: today - timedelta(days=1), 4: today - timedelta(days=9), 3: today - timedelta(days=7), 1: today}
    assert due_today(order, last, today, quota=10, cycle=7) == [2, 4, 3]
    assert due_today(order, last, today, quota=2, cycle=7) == [2, 4]
    assert due_today(order, {}, today, quota=3, cycle=7) == [5, 4, 3]
    # over a cycle, a quota of ceil(n / cycle) a day checks everyone exactly once
    checked: dict[int, date] = {}
    seen: list[int] = []
    artists = list(range(100))
    for day in range(7):
        d = today + timedelta(days=day)
        picked = due_today(artists, checked, d, quota=15, cycle=7)
        checked.update(dict.fromkeys(picked, d))
        seen.extend(picked)
    assert sorted(seen) == artists
