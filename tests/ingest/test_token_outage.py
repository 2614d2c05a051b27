"""A failing token endpoint (5xx) is an outage to wait out, never a reason to make the member sign in again."""

from __future__ import annotations

from typing import Any

import pytest

from recs.storage import accounts as aq
from recs.storage import members as mq
from recs.usecases import ingest

from .conftest import Household


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, None),
        (503, None),
        # A failing node or proxy that says invalid_grant with a 5xx: the status decides, not the body.
        (502, {"error": "invalid_grant", "error_description": "upstream said so"}),
    ],
)
def test_a_5xx_from_the_token_endpoint_keeps_the_member_connected(household: Household, status: int, body: Any) -> None:
    (member,) = household.join_all(1)
    for r in ingest.sync_all(household.instance, now=household.now, sleep=household.sleep):
        assert not r.errors, r.errors
    household.sleep(2 * 3600)  # the access token expired: the next round refreshes
    household.control.add_fault("POST", "/api/token", status, body=body)
    report = ingest.sync_member(household.instance, member.id, now=household.now, force=True)
    assert report.errors and not any("invalid_grant" in e or "sign in" in e for e in report.errors), report.errors
    with household.instance.db.read() as conn:
        stored = mq.get_member(conn, member.id)
        assert stored is not None and not stored.reconnect_needed
        assert aq.get_token(conn, member.id) is not None
    # The outage is over: the same refresh token works and the member syncs again.
    report = ingest.sync_member(household.instance, member.id, now=household.now, force=True)
    assert not report.errors, report.errors
    tokens = [r for r in household.control.requests() if r["path"] == "/api/token"]
    assert [r["status"] for r in tokens[-2:]] == [status, 200]
