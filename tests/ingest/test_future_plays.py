"""A recently-played item dated in the future (a device's wrong clock) is not stored and does not move the cursor."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from recs.core.payloads import to_ms
from recs.storage import sync as sq
from recs.usecases import ingest

from .conftest import Household
from .test_faults import add_plays, cursor, synced


def stored_plays(household: Household, member_id: int) -> list[int]:
    with household.instance.db.read() as conn:
        return [int(at.timestamp() * 1000) for at, _ in sq.play_keys(conn, member_id)]


def add_future_play(household: Household, user: str, ahead: timedelta) -> int:
    """A play dated *ahead* of now that the API shows at once, as a device with a wrong clock reports it."""
    track_id = household.control.ground_truth(user)["plays"][-1]["track_id"]
    now_ms = int(household.now().timestamp() * 1000)
    at = now_ms + int(ahead.total_seconds() * 1000)
    assert household.control.add_plays(user, [{"track_id": track_id, "played_at_ms": at, "visible_at_ms": now_ms}])
    return at


def test_a_play_dated_a_year_ahead_is_not_stored_and_the_next_plays_are(
    household: Household, caplog: pytest.LogCaptureFixture
) -> None:
    (member_id,) = synced(household)
    user = household.users[0]
    household.sleep(600)
    bogus = add_future_play(household, user, timedelta(days=365))
    with caplog.at_level(logging.WARNING):
        report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep, force=True)
    assert not report.errors, report.errors
    assert "future" in caplog.text
    row = cursor(household, member_id)
    assert row is not None and row.cursor is not None and int(row.cursor) <= to_ms(household.now())
    assert bogus not in stored_plays(household, member_id)
    # The next real plays are all stored (the bogus item is still listed first by Spotify).
    household.sleep(1800)
    add_plays(household, user, 7)
    new = [int(p["played_at_ms"]) for p in household.control.ground_truth(user)["plays"][-7:]]
    report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep, force=True)
    assert not report.errors, report.errors
    stored = stored_plays(household, member_id)
    assert set(new) <= set(stored)
    assert bogus not in stored
    with household.instance.db.read() as conn:
        assert not sq.list_gaps(conn, member_id)


def test_a_small_clock_skew_is_allowed(household: Household) -> None:
    (member_id,) = synced(household)
    user = household.users[0]
    household.sleep(600)
    ahead = add_future_play(household, user, timedelta(seconds=90))
    ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep, force=True)
    assert ahead in stored_plays(household, member_id)


def test_a_cursor_left_in_the_future_is_repaired(household: Household) -> None:
    """An install whose cursor a future play already moved (before this fix) polls again from its real plays."""
    (member_id,) = synced(household)
    user = household.users[0]
    with household.instance.db.write() as conn:
        sq.save_cursor(
            conn,
            member_id,
            "recently_played",
            now=household.now(),
            cursor=str(to_ms(household.now() + timedelta(days=365))),
            success=True,
        )
    household.sleep(1800)
    add_plays(household, user, 7)
    new = [int(p["played_at_ms"]) for p in household.control.ground_truth(user)["plays"][-7:]]
    ingest.sync_member(household.instance, member_id, now=household.now, sleep=household.sleep, force=True)
    assert set(new) <= set(stored_plays(household, member_id))
    row = cursor(household, member_id)
    assert row is not None and row.cursor is not None and int(row.cursor) <= to_ms(household.now())
