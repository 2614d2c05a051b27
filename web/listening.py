"""The "My listening" page: the signed-in member's charts, drawn from their own plays only."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, current_app, render_template, request
from markupsafe import Markup

from recs.usecases.stats import (
    DEFAULT_PERIOD,
    RANGES,
    ChartPeriod,
    ListeningStats,
    StatsCache,
    WeekPoint,
    chart_period,
    periods,
)
from web import charts
from web.auth import consents_of, db, instance, member, member_required, now
from web.charts import month_ticks

bp = Blueprint("listening", __name__)


@dataclass(frozen=True)
class Drawn:
    """A period's charts: the bars at page width and at phone width, the heat map, new versus familiar."""

    period: ChartPeriod
    bars: Markup
    bars_narrow: Markup
    heat: Markup
    share: Markup
    bars_text: str  # each chart in a sentence, under it (also the drawing's description)
    heat_text: str
    share_text: str


class ChartCache:
    """The SVG charts of a statistics object, drawn once per period and unit (about half a millisecond a view).

    Keyed by the object's identity: the statistics cache hands out the same object until the member's plays
    change or the hour turns, and then the charts are drawn from the new one.
    """

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._items: OrderedDict[tuple[int, str, str], tuple[weakref.ref[ListeningStats], Drawn]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stats: ListeningStats, unit: str, period: str) -> Drawn:
        key = (id(stats), unit, period)
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0]() is stats:
            return hit[1]
        drawn = draw(stats, unit, period)
        with self._lock:
            self._items[key] = (weakref.ref(stats), drawn)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return drawn


def bar_label(p: ChartPeriod, start: date) -> str:
    """A bar's name in words: "week of 3 Mar 2025" or "March 2025"."""
    return f"week of {start.day} {start:%b %Y}" if p.weekly else f"{start:%B %Y}"


def bar_value(point: WeekPoint, unit: str) -> float:
    return float(point.plays) if unit == "plays" else round(point.hours, 2)


def _amount(value: float, unit: str) -> str:
    if unit == "plays":
        return charts.plays(int(value))
    return f"{charts.fmt(value)} hour{'s' if value != 1 else ''}"


def bars_summary(p: ChartPeriod, unit: str) -> str:
    """The bar chart in one sentence: its span, total, and busiest bar."""
    if not p.bars:
        return "No plays in this period."
    values = [bar_value(b, unit) for b in p.bars]
    peak = max(range(len(values)), key=values.__getitem__)
    what = "weeks" if p.weekly else "months"
    return (
        f"{len(values)} {what} from {bar_label(p, p.bars[0].start)} to {bar_label(p, p.bars[-1].start)}: "
        f"{_amount(sum(values), unit)} in all; the most in {'the ' if p.weekly else ''}{bar_label(p, p.bars[peak].start)}, "
        f"{_amount(values[peak], unit)}."
    )


def heat_summary(grid: tuple[tuple[int, ...], ...]) -> str:
    """The heat map in one sentence: the busiest weekday and hour, and the busiest hour across the week."""
    total = sum(map(sum, grid))
    if not total:
        return "No plays in this period."
    d, h = max(((d, h) for d in range(7) for h in range(24)), key=lambda c: grid[c[0]][c[1]])
    by_hour = [sum(grid[d][h] for d in range(7)) for h in range(24)]
    top_hour = max(range(24), key=by_hour.__getitem__)
    by_day = [sum(row) for row in grid]
    top_day = max(range(7), key=by_day.__getitem__)
    return (
        f"{charts.plays(total)} by weekday and hour. Busiest: {charts.DAY_NAMES[d]} {h:02d}:00 to {h + 1:02d}:00 "
        f"({charts.plays(grid[d][h])}); busiest hour over the week {top_hour:02d}:00 ({charts.plays(by_hour[top_hour])}); "
        f"busiest day {charts.DAY_NAMES[top_day]} ({charts.plays(by_day[top_day])})."
    )


def share_summary(p: ChartPeriod) -> str:
    played = [m for m in p.months if m.new_plays + m.familiar_plays]
    if not played:
        return "No plays in this period."
    new = sum(m.new_plays for m in played)
    total = new + sum(m.familiar_plays for m in played)
    top = max(played, key=lambda m: m.new_share)
    text = f"{len(p.months)} months; {new / total:.0%} of {charts.plays(total)} were songs new to you."
    return text + (f" The most new music: {top.month:%B %Y}, {top.new_share:.0%}." if top.new_plays else "")


def draw(stats: ListeningStats, unit: str, key: str) -> Drawn:
    """The charts of one period: hours or plays per week (or month), weekday × hour, new versus familiar."""
    p = chart_period(stats, key)
    starts = [b.start for b in p.bars]
    labels = [bar_label(p, d) for d in starts]
    values = [bar_value(b, unit) for b in p.bars]
    per = "week" if p.weekly else "month"
    title = f"{unit.capitalize()} of music per {per}, {p.label}"
    summary = bars_summary(p, unit)
    bars = charts.bar_chart(labels, values, title=title, unit=unit, ticks=month_ticks(starts, 12), summary=summary)
    narrow = charts.bar_chart(
        labels, values, title=title, unit=unit, ticks=month_ticks(starts, 5), width=360, summary=summary
    )
    heat_text, share_text = heat_summary(p.heat), share_summary(p)
    heat = charts.heat_map(
        p.heat, title=f"When you listen (weekday by hour, {stats.timezone}), {p.label}", summary=heat_text
    )
    month_starts = [m.month for m in p.months]
    share = charts.stacked_bars(
        [f"{d:%B %Y}" for d in month_starts],
        [(m.new_plays, m.familiar_plays) for m in p.months],
        title=f"New music versus familiar music per month, {p.label}",
        names=("new to you", "familiar"),
        ticks=month_ticks(month_starts, 6),
        summary=share_text,
    )
    return Drawn(p, bars, narrow, heat, share, summary, heat_text, share_text)


@bp.get("/listening")
@member_required
def index() -> str:
    me = member()
    cache: StatsCache = current_app.extensions["recs_stats_cache"]
    stats = cache.get(db(), me.id, me.timezone, now())
    chosen = request.args.get("range", "4w")
    if chosen not in RANGES:
        chosen = "4w"
    unit = "plays" if request.args.get("unit") == "plays" else "hours"
    choices = periods(stats)
    period = request.args.get("period", DEFAULT_PERIOD)
    if period not in dict(choices):
        period = DEFAULT_PERIOD
    drawn: ChartCache | None = current_app.extensions.get("recs_chart_cache")
    if drawn is None:
        drawn = current_app.extensions["recs_chart_cache"] = ChartCache()
    charted = drawn.get(stats, unit, period)
    return render_template(
        "listening.html",
        stats=stats,
        ranges=RANGES,
        chosen=chosen,
        unit=unit,
        period=period,
        periods=choices,
        charted=charted,
        p=charted.period,
        bar_label=bar_label,
        bar_value=bar_value,
        weekdays=charts.WEEKDAYS,
        tracks=stats.top_tracks[chosen],
        artists=stats.top_artists[chosen],
        albums=stats.top_albums[chosen],
        recent=stats.recent,
        spotify_page=instance().settings.spotify_page,
        collecting=consents_of(me.id)["store"].granted,
    )
