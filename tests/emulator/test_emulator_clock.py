"""Wall-clock mode: emulated time follows real time, so Retry-After clears as on Spotify (issue 16, item 7).

The wall clock is injected (a fake the test moves), so nothing sleeps for real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from recs.emulator import EmulatorServer

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class FakeWall:
    """Wall-clock seconds that move only when the test says."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _limited(server: EmulatorServer) -> tuple[str, int]:
    """Sign a member in and spend the rate window; the token and the Retry-After of the refused call."""
    user = server.control.members()[0]["user_id"]
    token = server.control.sign_in(user)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert requests.get(server.api_base_url + "me", headers=headers, timeout=10).status_code == 200
    refused = requests.get(server.api_base_url + "me", headers=headers, timeout=10)
    assert refused.status_code == 429
    return token, int(refused.headers["Retry-After"])


def test_retry_after_clears_when_real_time_passes() -> None:
    wall = FakeWall()
    with EmulatorServer(
        seed=1, members=1, rate_limit_per_30s=3, quota_per_day=None, start=START, wall_clock=wall
    ) as server:
        token, retry_after = _limited(server)
        assert 1 <= retry_after <= 30
        headers = {"Authorization": f"Bearer {token}"}
        wall.t += retry_after - 1
        assert requests.get(server.api_base_url + "me", headers=headers, timeout=10).status_code == 429
        wall.t += 1
        assert requests.get(server.api_base_url + "me", headers=headers, timeout=10).status_code == 200
        assert server.control.now() == START + timedelta(seconds=retry_after)


def test_a_manual_clock_stays_limited_until_the_control_api_moves_it() -> None:
    wall = FakeWall()
    with EmulatorServer(seed=1, members=1, rate_limit_per_30s=3, quota_per_day=None, start=START) as server:
        token, retry_after = _limited(server)
        headers = {"Authorization": f"Bearer {token}"}
        wall.t += 3600  # nothing follows it
        assert requests.get(server.api_base_url + "me", headers=headers, timeout=10).status_code == 429
        server.control.advance(seconds=retry_after)
        assert requests.get(server.api_base_url + "me", headers=headers, timeout=10).status_code == 200


def test_members_keep_listening_and_a_jump_ahead_stays_ahead() -> None:
    wall = FakeWall()
    with EmulatorServer(seed=2, members=2, start=START, wall_clock=wall, history_days=3) as server:
        before = len(server.control.ground_truth(since=START)["plays"])
        wall.t += 2 * 86400
        assert server.control.now() == START + timedelta(days=2)
        assert len(server.control.ground_truth(since=START)["plays"]) > before
        server.control.advance(hours=5)
        wall.t += 10
        assert server.control.now() == START + timedelta(days=2, hours=5, seconds=10)
        wall.t -= 3600  # a wall clock stepped back (NTP) never moves emulated time backwards
        assert server.control.now() == START + timedelta(days=2, hours=5, seconds=10)


@pytest.mark.parametrize("wall_clock", [None, FakeWall()])
def test_token_expiry_follows_the_same_clock(wall_clock: FakeWall | None) -> None:
    with EmulatorServer(seed=1, members=1, start=START, wall_clock=wall_clock) as server:
        user = server.control.members()[0]["user_id"]
        headers = {"Authorization": f"Bearer {server.control.sign_in(user)['access_token']}"}
        if wall_clock is not None:
            wall_clock.t += 3600
        else:
            server.control.advance(hours=1)
        expired = requests.get(server.api_base_url + "me", headers=headers, timeout=10)
        assert expired.status_code == 401 and "expired" in expired.text
