"""The listening charts' periods (last 52 weeks, all time, each year), their axes, and the numbers behind them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from flask.testing import FlaskClient
from web_helpers import NOW, sign_in, track

from recs.core.domain import PlayRow
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent
from recs.usecases.stats import chart_period, compute_listening_stats
from web import charts
from web.charts import month_ticks


def _member(db: Database, plays: list[datetime], name: str = "Yara Years") -> int:
    with db.write() as conn:
        m = create_member(conn, name.lower().replace(" ", "-"), name, timezone="UTC", now=NOW)
        set_consent(conn, m.id, "store", True, NOW)
        ids = upsert_tracks(conn, [track(n, n % 3) for n in range(6)])
        tids = [ids[f"t{n:021d}"] for n in range(6)]
        insert_plays(conn, m.id, [PlayRow(at, tids[i % 6], "export", 600_000) for i, at in enumerate(plays)])
    return m.id


def _three_years() -> list[datetime]:
    """One play every third day from 1 Feb 2024 to yesterday, and three more on 10 Mar 2025."""
    start = datetime(2024, 2, 1, 20, 0, tzinfo=UTC)
    days = (NOW - start).days
    out = [start + timedelta(days=d) for d in range(0, days, 3)]
    return out + [datetime(2025, 3, 10, 21, m, tzinfo=UTC) for m in (0, 10, 20)]


def _table(html: str, label: str) -> list[list[str]]:
    """The rows of the table in the scroll region named *label* (cells' text)."""
    region = html.split(f'aria-label="{label}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", region, re.S)[1:]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows
    ]


def test_imported_years_can_be_charted_one_by_one_and_all_at_once(client: FlaskClient, db: Database) -> None:
    plays = _three_years()
    mid = _member(db, plays)
    sign_in(client, mid)
    html = client.get("/listening").get_data(as_text=True)
    # The choices: the last 52 weeks (the default), all time, and each year with plays, newest first.
    nav = html.split('aria-label="Period of the charts"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r">([^<>]+)</a>", nav) == ["Last 52 weeks", "All time", "2026", "2025", "2024"]
    assert 'aria-current="page">Last 52 weeks' in nav

    year = client.get("/listening?period=2025").get_data(as_text=True)
    assert "Hours per week, 2025" in year and 'aria-current="page">2025' in year
    weeks = _table(year, "Hours per week, as a table")
    assert weeks[0][0] == "29 Dec 2025" and weeks[-1][0] == "30 Dec 2024"  # newest first; weeks touching 2025
    in_2025 = [p for p in plays if date(2024, 12, 30) <= p.date() <= date(2026, 1, 4)]
    assert sum(int(r[2]) for r in weeks) == len(in_2025)
    # The week of 10 Mar 2025 holds the three extra plays: the table and the sentence under the chart say so.
    march = {r[0]: r for r in weeks}["10 Mar 2025"]
    n = sum(1 for p in plays if date(2025, 3, 10) <= p.date() <= date(2025, 3, 16))
    assert int(march[2]) == n and float(march[1]) == round(n / 6, 1)  # ten minutes a play
    assert "the most in the week of 10 Mar 2025" in year
    # Month labels carry their year (the first tick and each January); every month of 2025 is in the table.
    assert "<tspan" in year and ">2025</tspan>" in year
    months = _table(year, "New and familiar plays per month, as a table")
    assert [r[0] for r in months] == [f"{m:%B} 2025" for m in (date(2025, k, 1) for k in range(12, 0, -1))]
    heat = _table(year, "Plays by hour and weekday, as a table")
    assert len(heat) == 24 and heat[23][0] == "23:00"
    assert sum(int(c) for row in heat for c in row[1:]) == sum(1 for p in plays if p.year == 2025)

    every = client.get("/listening?period=all").get_data(as_text=True)
    assert "Hours per month, all time" in every  # 146 weeks: a bar per month
    bars = _table(every, "Hours per month, as a table")
    assert bars[-1][0] == "January 2024" and bars[0][0] == "November 2026"  # from the first play's week (29 Jan)
    assert sum(int(r[2]) for r in bars) == len(plays)
    assert re.search(r"the most in [A-Z][a-z]+ 20\d\d, ", every)  # a month, not "the most in the March 2025"
    # An unknown period is the default; the top lists' range keeps the chosen period in its links.
    assert 'aria-current="page">Last 52 weeks' in client.get("/listening?period=1999").get_data(as_text=True)
    assert "period=2025" in year.split('aria-label="Time range"', 1)[1].split("</nav>", 1)[0]


def test_a_new_members_axis_spans_their_weeks_not_an_empty_year(client: FlaskClient, db: Database) -> None:
    mid = _member(db, [NOW - timedelta(days=d, hours=2) for d in (1, 3, 9)], name="Nia New")
    stats = compute_listening_stats(db, mid, "UTC", NOW)
    p = chart_period(stats, "52w")
    assert len(p.bars) == 8 and sum(b.plays for b in p.bars) == 3  # at least 8 weeks, ending this week
    assert len(p.months) == 3
    sign_in(client, mid)
    html = client.get("/listening").get_data(as_text=True)
    assert "so the chart starts there" in html
    svg = html.split('<div class="wide-only">', 1)[1].split("</div>", 1)[0]
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    axis = [t.text for t in root.iter(f"{ns}text") if t.get("text-anchor") == "end"]
    assert axis[-1] not in ("0", "1")  # the top of the axis fits half an hour a week, not a whole hour or none
    ticks = ["".join(t.itertext()) for t in root.iter(f"{ns}text") if t.get("text-anchor") != "end"]
    assert ticks and all(re.fullmatch(r"[A-Z][a-z]{2}(\d{4})?", t) for t in ticks)
    assert any(t.endswith("2026") for t in ticks)


def test_month_ticks_name_the_year_and_stay_few() -> None:
    weeks = [date(2025, 11, 17) + timedelta(weeks=k) for k in range(52)]
    ticks = month_ticks(weeks, 12)
    assert ticks[0] == (2, "Dec\n2025") and (ticks[1][1], ticks[2][1]) == ("Jan\n2026", "Feb")
    assert len(month_ticks(weeks, 5)) <= 5
    months = [date(2014 + k // 12, 1 + k % 12, 1) for k in range(12 * 12)]
    long = month_ticks(months, 6)
    assert len(long) <= 6 and all(label.startswith("Jan\n") for _, label in long)


def test_axis_figures_keep_their_half_way_marks() -> None:
    assert [charts.fmt(v) for v in (12.5, 0.25, 1234.0, 7.0, 2.34, 250.4)] == [
        "12.5",
        "0.25",
        "1,234",
        "7",
        "2.3",
        "250",
    ]
