"""Journeys in Chromium for the charts, the listening page, admin health and quality (issue 15 items 3, 6, 13, 14, 15).

Every step is photographed at 1366 and 390 px and checked with axe-core (`_shot`); pages are also checked for
sideways scrolling at 360 px.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import test_web_browser as journeys
from test_web_browser import CHROMIUM, Live, _owner_joins, _shot

from recs.core.domain import PlayRow
from recs.storage import schema as s
from recs.storage.listening import insert_plays
from recs.usecases import accounts, feedback, ingest, jobs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]

OVERFLOW = "document.documentElement.scrollWidth"
# The dashboard beside the emulator, and Chromium, as the first journeys have them.
live = journeys.live
browser_page = journeys.browser_page


def _fits(page: Any, width: int) -> None:
    """No sideways scroll at *width*: the page is no wider than the window (marked scroll areas scroll inside)."""
    before = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": 900})
    wide = page.evaluate(OVERFLOW)
    offenders = page.evaluate(
        """w => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.scroll'))
             .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
        width,
    )
    page.set_viewport_size({"width": before, "height": 900})
    assert wide <= width, f"{page.url} is {wide} px wide at {width} px: {offenders}"


def _sign_in_as_first_member(page: Any, live: Live) -> None:
    page.goto(f"{live.url}/signin")
    page.get_by_role("button", name="Sign in with Spotify").click()
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(f"{live.url}/listening")


def _older_years(live: Live, member_id: int) -> None:
    """The export reached two more years back: the same plays one and two years earlier."""
    with live.instance.db.read() as conn:
        rows = conn.execute(
            sa.select(s.plays.c.played_at, s.plays.c.track_id, s.plays.c.ms_played).where(
                s.plays.c.member_id == member_id
            )
        ).all()
    older = [PlayRow(at - timedelta(days=364 * k), tid, "export", ms_played=ms) for at, tid, ms in rows for k in (1, 2)]
    with live.instance.db.write() as conn:
        insert_plays(conn, member_id, older)


def test_listening_charts_show_imported_years_with_their_numbers_at_both_widths(
    live: Live, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    owner_user = live.emulator.control.members()[0]["user_id"]
    owner_id = _owner_joins(live, owner_user, tmp_path)
    _older_years(live, owner_id)
    _sign_in_as_first_member(page, live)
    this_year = live.now().year

    # The last 52 weeks by default, with every year of the import offered (item 6).
    assert page.get_by_role("heading", name="Hours per week, the last 52 weeks").is_visible()
    periods = page.get_by_role("navigation", name="Period of the charts")
    years = [y for y in periods.get_by_role("link").all_inner_texts() if y.isdigit()]
    assert years[0] == str(this_year) and len(years) >= 3
    assert page.locator("svg.chart:visible").count() == 3
    _shot(page, "20-listening-52-weeks")
    _fits(page, 360)

    periods.get_by_role("link", name="All time").click()
    assert page.get_by_role("heading", name=re.compile(r"Hours per (week|month), all time")).is_visible()
    _shot(page, "21-listening-all-time")
    oldest = years[-1]
    page.get_by_role("navigation", name="Period of the charts").get_by_role("link", name=oldest).click()
    assert page.get_by_role("heading", name=f"Hours per week, {oldest}").is_visible()
    # Month labels carry their year.
    ticks = page.locator(".wide-only svg text tspan").all_text_contents()
    assert oldest in ticks
    _shot(page, "22-listening-one-year")

    # The numbers behind each chart, by keyboard, without hovering (item 15).
    summary = page.locator("details.numbers summary").first
    summary.focus()
    page.keyboard.press("Enter")
    table = page.get_by_role("region", name="Hours per week, as a table")
    assert table.is_visible()
    rows = table.locator("tbody tr")
    assert rows.count() == page.locator(".wide-only svg rect.bar").count()
    assert rows.first.locator("th").inner_text().endswith(oldest)
    assert page.locator("figcaption#bars-note").inner_text().startswith(f"{rows.count()} weeks from week of")
    _shot(page, "23-listening-numbers")

    # On a phone: the narrow chart, every hour of the heat map and the play counts in view (item 14).
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("navigation", name="Period of the charts").get_by_role("link", name="Last 52 weeks").click()
    assert page.locator(".narrow-only svg.chart").is_visible() and not page.locator(".wide-only svg").is_visible()
    heat = page.locator("svg.heat").bounding_box()
    assert heat is not None and heat["x"] >= 0 and heat["x"] + heat["width"] <= 390
    assert page.locator("svg.heat text", has_text="21").is_visible()
    assert page.locator(".toplist .count").first.is_visible()
    _shot(page, "24-listening-phone")
    _fits(page, 360)

    # The import report fits a phone too.
    with live.instance.db.read() as conn:
        import_id = conn.execute(
            sa.select(sa.func.max(s.imports.c.id)).where(s.imports.c.member_id == owner_id)
        ).scalar_one()
    page.goto(f"{live.url}/import/{import_id}")
    assert page.get_by_role("heading", name="Import report").is_visible()
    _shot(page, "25-import-report")
    _fits(page, 360)
    page.goto(f"{live.url}/import")
    _fits(page, 360)


def test_owner_reads_health_and_quality_in_words_and_a_member_reads_why_a_publish_failed(
    live: Live, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    owner_user, other_user = (m["user_id"] for m in live.emulator.control.members()[:2])
    owner_id = _owner_joins(live, owner_user, tmp_path)
    accounts.create_invite(live.instance, by_member_id=owner_id, now=live.now, spotify_id=other_user)
    other_id = _owner_joins(live, other_user, tmp_path)
    for _ in range(2):  # two runs: the chart draws runs over time
        feedback.request_job(live.instance.db, "train", None, owner_id, live.now())
        assert [o.status for o in jobs.execute_requests(live.instance, now=live.now, in_process=True)] == ["succeeded"]
        live.emulator.control.advance(minutes=30)
    ingest.sync_all(live.instance, now=live.now, sleep=lambda s: None, force=True)

    # Spotify refuses the owner's playlist write: the publish is recorded as failed with its reason (item 3).
    live.emulator.control.add_fault(
        "PUT", "/v1/playlists/*/items", 403, body={"error": {"status": 403, "message": "You cannot edit this playlist"}}
    )
    feedback.request_job(live.instance.db, "publish", owner_id, owner_id, live.now())
    outcomes = jobs.execute_requests(live.instance, now=live.now, in_process=True)
    assert [(o.job, o.status) for o in outcomes] == [("publish", "failed")], outcomes
    # The other member's grant is revoked; the next sync finds it.
    live.emulator.control.revoke(other_user)
    live.emulator.control.advance(hours=2)
    ingest.sync_all(live.instance, now=live.now, sleep=lambda s: None, force=True)

    _sign_in_as_first_member(page, live)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My recommendations").click()
    failed = page.locator(".publish-failed")
    assert failed.is_visible()
    assert "failed: Spotify refused to let recs change the playlist" in failed.inner_text()
    assert "You cannot edit this playlist" in failed.inner_text()
    assert not page.get_by_text("No playlist published yet").is_visible()
    _shot(page, "26-recommendations-publish-failed")

    page.get_by_role("link", name="Admin").click()
    health = page.get_by_role("region", name=re.compile("Members and sync health"))
    owner_row = health.locator("tr", has=page.locator("th", has_text=_name(live, owner_id)))
    assert "last publish refused by Spotify (403 on the playlist)" in owner_row.inner_text()
    other_row = health.locator("tr", has=page.locator("th", has_text=_name(live, other_id)))
    assert "Spotify access revoked or expired" in other_row.inner_text()
    assert other_row.locator(".badge.bad").count() == 1 and other_row.locator(".badge.ok").count() == 0
    _shot(page, "27-admin-health")

    # Quality in words, runs over time with labels that tell runs apart, the numbers in a table (items 13, 15).
    runs = page.locator("#runs")
    assert re.search(r"Run \d+ \(trained .+ UTC\) serves ", runs.inner_text())
    ticks = runs.locator("svg text:has(tspan)").all_text_contents()
    assert len(ticks) == 2 and len(set(ticks)) == 2 and all(t.startswith("Run ") for t in ticks)
    table = page.get_by_role("region", name="Model runs (scrolls sideways)")
    assert table.locator("tbody tr").count() == 2
    runs.scroll_into_view_if_needed()
    _shot(page, "28-admin-quality")
    _fits(page, 360)


def _name(live: Live, member_id: int) -> str:
    with live.instance.db.read() as conn:
        return str(conn.execute(sa.select(s.members.c.display_name).where(s.members.c.id == member_id)).scalar_one())
