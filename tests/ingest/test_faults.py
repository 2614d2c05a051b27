"""Sync under faults injected by the emulator: rate limits, quota, 5xx, timeouts, drops, 401, invalid_grant, bad JSON."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest

from recs.core.domain import CursorRow
from recs.storage import accounts as aq
from recs.storage import members as mq
from recs.storage import sync as sq
from recs.storage.listening import count_plays
from recs.usecases import accounts, ingest
from recs.usecases.budget import Budget

from .conftest import Household

RECENT = "/v1/me/player/recently-played"


class Sleeps:
    """Records the worker's waits and moves the emulated clock instead of sleeping."""

    def __init__(self, household: Household) -> None:
        self.household = household
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.household.sleep(seconds)


def recent_requests(household: Household) -> list[dict[str, object]]:
    return [r for r in household.control.requests() if r["path"] == RECENT]


def cursor(household: Household, member_id: int) -> CursorRow | None:
    with household.instance.db.read() as conn:
        return sq.get_cursor(conn, member_id, "recently_played")


def add_plays(household: Household, user: str, n: int) -> None:
    """n plays of a known track, 40 s apart, ending now, so a round has something new to find."""
    track_id = household.control.ground_truth(user)["plays"][-1]["track_id"]
    now_ms = int(household.now().timestamp() * 1000)
    plays = [{"track_id": track_id, "played_at_ms": now_ms - 40_000 * i - 1, "ms_played": 35_000} for i in range(n)]
    assert household.control.add_plays(user, plays) == n


def synced(household: Household, n: int = 1) -> list[int]:
    """Members signed in and synced once (a clean first round)."""
    members = household.join_all(n)
    for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep):
        assert not r.errors, r.errors
    household.control.clear_requests()
    return [m.id for m in members]


def test_a_short_429_is_waited_out_by_the_worker_then_succeeds(household: Household) -> None:
    (member_id,) = synced(household)
    household.sleep(3 * 3600)
    household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": "7"})
    sleeps = Sleeps(household)
    report = ingest.sync_member(household.instance, member_id, now=household.now, sleep=sleeps, force=True)
    assert not report.errors, report.errors
    assert sleeps.waits == [7.0]
    statuses = [r["status"] for r in recent_requests(household)]
    assert statuses == [429, 200]


def test_a_round_stops_waiting_when_rate_limits_keep_coming(household: Household) -> None:
    ids = synced(household, 2)
    household.sleep(3 * 3600)
    household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": "50"}, times=None)
    sleeps = Sleeps(household)
    reports = ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert sum(sleeps.waits) <= 2 * household.instance.settings.budget.max_retry_after_s
    assert any("too long" in e for r in reports for e in r.errors)
    assert len(reports) == 1  # the round stopped: the second member waits for the next one
    assert Budget(household.instance.db, household.instance.settings.budget, household.now).pause() is None
    household.control.clear_faults()
    reports = ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert [r.member_id for r in reports] == ids and not any(r.errors for r in reports)


def test_the_emulators_own_quota_429_pauses_the_instance_for_its_retry_after(household: Household) -> None:
    # Not a fault rule: the app's daily quota runs out, and the emulator answers as the live API does
    # (429, "Too many requests", reason QUOTA_EXCEEDED, Retry-After in hours).
    synced(household, 2)
    household.sleep(3 * 3600)
    emulator = household.server.emulator
    emulator.quota_per_day = household.control.usage()["used_24h"]
    sleeps = Sleeps(household)
    reports = ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert any("quota" in e.lower() for r in reports for e in r.errors)
    assert not sleeps.waits, "a quota 429 is never waited out inside a round"
    refused = [r for r in household.control.requests() if r["path"].startswith("/v1/")]
    assert [r["status"] for r in refused] == [429], "one refused call, then nothing for anyone"
    pause = Budget(household.instance.db, household.instance.settings.budget, household.now).pause()
    assert pause is not None
    # the pause ends when the emulator's rolling window frees a call: 21 h after the 3-hour-old calls
    left = (pause.until - household.now()).total_seconds()
    assert 20 * 3600 < left <= 21 * 3600 + 60, left


def test_quota_exceeded_pauses_every_call_until_the_stored_time_then_resumes(household: Household) -> None:
    ids = synced(household, 2)
    household.sleep(3 * 3600)
    household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": str(13 * 3600)}, reason="QUOTA_EXCEEDED")
    sleeps = Sleeps(household)
    started = time.monotonic()
    reports = ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert time.monotonic() - started < 10
    assert all(w <= household.instance.settings.budget.max_retry_after_s for w in sleeps.waits)
    assert any("quota" in e.lower() for r in reports for e in r.errors)
    # One refused call, then nothing for anyone: the second member was not even tried.
    assert [r["status"] for r in household.control.requests() if r["path"].startswith("/v1/")] == [429]
    # A restarted worker reads the stored pause and makes no call before the time.
    household.control.clear_requests()
    household.sleep(12 * 3600)
    budget = Budget(household.instance.db, household.instance.settings.budget, household.now)
    assert budget.pause() is not None
    ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert not [r for r in household.control.requests() if r["path"].startswith("/v1/")]
    household.sleep(3600 + 1)
    reports = ingest.sync_all(household.instance, now=household.now, sleep=sleeps, force=True)
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    assert {r.member_id for r in reports} == set(ids)


def test_a_retry_after_beyond_the_cap_pauses_instead_of_blocking(household: Household) -> None:
    (member_id,) = synced(household)
    household.sleep(3600)
    household.control.add_fault("GET", RECENT, 429, headers={"Retry-After": "600"})
    sleeps = Sleeps(household)
    with pytest.raises(ingest.StopSync):
        ingest.sync_member(household.instance, member_id, now=household.now, sleep=sleeps, force=True)
    assert sleeps.waits == []
    pause = Budget(household.instance.db, household.instance.settings.budget, household.now).pause()
    assert pause is not None and pause.until == household.now() + timedelta(seconds=600)


def test_5xx_bursts_and_malformed_bodies_keep_the_cursor_and_lose_nothing(household: Household) -> None:
    (member_id,) = synced(household)
    before = cursor(household, member_id)
    household.sleep(2 * 3600)
    for fault in ({"status": 503}, {"status": 500}, {"malformed": True}, {"status": 502, "html": True}):
        household.control.add_fault("GET", RECENT, **fault)  # type: ignore[arg-type]
        report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
        assert report.errors and report.new_plays == 0
        after = cursor(household, member_id)
        assert after is not None and before is not None and after.cursor == before.cursor
        assert after.last_error
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert not report.errors
    queries = [r["query"] for r in recent_requests(household)]
    assert len({str(q) for q in queries}) == 1  # every retry asked for the same range
    truth = household.control.ground_truth(household.users[0])
    assert report.new_plays == len(
        [
            p
            for p in truth["plays"]
            if p["ms_played"] >= 30_000
            and not p["incognito"]
            and int(p["played_at_ms"]) > int(before.cursor or 0)
            and int(p.get("visible_at_ms") or 0) <= household.now().timestamp() * 1000
        ]
    )


def test_timeouts_and_dropped_connections_do_not_hang_and_are_retried_next_round(household: Household) -> None:
    (member_id,) = synced(household)
    fast = dataclasses.replace(household.instance.settings.spotify, request_timeout_s=0.3)
    household.instance.settings = dataclasses.replace(household.instance.settings, spotify=fast)
    household.sleep(2 * 3600)
    household.control.add_fault("GET", RECENT, delay_s=1.0)
    started = time.monotonic()
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert time.monotonic() - started < 5
    assert any("timeout" in e for e in report.errors)
    household.control.add_fault("GET", RECENT, 200, drop=True)
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert any("network" in e for e in report.errors), report.errors
    add_plays(household, household.users[0], 3)
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert not report.errors and report.new_plays >= 3


def test_a_401_gets_one_refresh_and_the_same_request_again(household: Household) -> None:
    (member_id,) = synced(household)
    household.sleep(600)  # the access token is still valid by its expiry time
    household.control.add_fault("GET", RECENT, 401)
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert not report.errors, report.errors
    log = household.control.requests()
    tokens = [r for r in log if r["path"] == "/api/token"]
    recent = [r for r in log if r["path"] == RECENT]
    assert len(tokens) == 1 and [r["status"] for r in recent] == [401, 200]
    assert recent[0]["query"] == recent[1]["query"]


def test_invalid_grant_for_one_member_leaves_the_others_syncing(household: Household) -> None:
    ids = synced(household, 3)
    household.control.revoke(household.users[1])
    household.sleep(2 * 3600)  # access tokens expired: everyone refreshes
    add_plays(household, household.users[0], 2)
    add_plays(household, household.users[2], 2)
    reports = {r.member_id: r for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)}
    assert not reports[ids[0]].errors and not reports[ids[2]].errors
    assert reports[ids[0]].new_plays >= 2 and reports[ids[2]].new_plays >= 2
    assert any("invalid_grant" in e for e in reports[ids[1]].errors)
    with household.instance.db.read() as conn:
        member = mq.get_member(conn, ids[1])
        assert member is not None and member.reconnect_needed
        assert aq.get_token(conn, ids[1]) is None
        assert aq.get_token(conn, ids[0]) is not None
    # The member is skipped from now on, without calls, until they sign in again.
    household.control.clear_requests()
    household.sleep(3 * 3600)
    reports = {r.member_id: r for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)}
    assert reports[ids[1]].calls == 0 and reports[ids[1]].skipped
    household.sign_in(household.users[1], consent=False)
    with household.instance.db.read() as conn:
        member = mq.get_member(conn, ids[1])
        assert member is not None and not member.reconnect_needed


def test_a_member_missing_from_the_dashboard_is_reported_as_exactly_that(household: Household) -> None:
    ids = synced(household, 2)
    household.control.set_allowlisted(household.users[1], False)
    household.sleep(3600)
    reports = {r.member_id: r for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)}
    assert any("user list in the Spotify Dashboard" in e for e in reports[ids[1]].errors)
    assert not reports[ids[0]].errors
    with household.instance.db.read() as conn:
        member = mq.get_member(conn, ids[1])
        assert member is not None and member.not_allowlisted
        assert count_plays(conn, ids[0]) > 0
    # Retried rarely, not every round; once the owner adds them, the flag clears by itself.
    household.control.clear_requests()
    household.sleep(3600)
    reports = {r.member_id: r for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)}
    assert reports[ids[1]].calls == 0
    household.control.set_allowlisted(household.users[1], True)
    household.sleep(6 * 3600)
    reports = {r.member_id: r for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)}
    assert not reports[ids[1]].errors
    with household.instance.db.read() as conn:
        member = mq.get_member(conn, ids[1])
        assert member is not None and not member.not_allowlisted


def test_the_token_endpoint_has_a_timeout_and_a_stuck_refresh_is_retried(household: Household) -> None:
    (member_id,) = synced(household)
    fast = dataclasses.replace(household.instance.settings.spotify, request_timeout_s=0.3)
    household.instance.settings = dataclasses.replace(household.instance.settings, spotify=fast)
    household.sleep(2 * 3600)  # the access token expired
    household.control.add_fault("POST", "/api/token", delay_s=1.0)
    started = time.monotonic()
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert time.monotonic() - started < 5
    assert report.errors and all("timeout" in e for e in report.errors)
    # The lease was released: the next round refreshes at once.
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert not report.errors, report.errors


def test_a_full_page_newer_than_everything_stored_records_a_gap(household: Household) -> None:
    (member_id,) = synced(household)
    with household.instance.db.read() as conn:
        last = sq.play_keys(conn, member_id)[-1][0]
    household.sleep(3600)
    add_plays(household, household.users[0], 60)  # more than the API keeps
    report = ingest.sync_member(household.instance, member_id, now=household.now, force=True)
    assert report.gaps == 1 and report.new_plays == 50
    with household.instance.db.read() as conn:
        (gap,) = sq.list_gaps(conn, member_id)
        oldest_new = sq.play_keys(conn, member_id)[-50][0]
    assert gap.gap_start == last and gap.gap_end == oldest_new
    (status,) = [s for s in accounts.member_statuses(household.instance) if s.member.id == member_id]
    assert status.open_gaps == 1
    assert ingest.member_gaps(household.instance, member_id) == [gap]
    # Polling on: no new gap while fewer than 50 plays happen between polls.
    household.sleep(600)
    add_plays(household, household.users[0], 5)
    assert ingest.sync_member(household.instance, member_id, now=household.now, force=True).gaps == 0


def test_a_playlist_gone_between_listing_and_reading_is_skipped_and_the_others_kept(household: Household) -> None:
    household.join_all(1)
    user = household.users[0]
    owned = [p for p in household.control.ground_truth(user)["playlists"] if p["owner_id"] == user]
    assert len(owned) >= 2
    household.control.add_fault("GET", f"/v1/playlists/{owned[0]['id']}/items", 404)
    (report,) = ingest.sync_all(household.instance, now=household.now, sleep=household.sleep)
    assert not report.errors, report.errors
    with household.instance.db.read() as conn:
        stored = sq.get_playlists(conn, report.member_id)
    assert owned[0]["id"] not in stored and owned[1]["id"] in stored
