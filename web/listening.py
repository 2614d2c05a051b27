"""The "My listening" page: the signed-in member's charts, drawn from their own plays only."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from flask import Blueprint, current_app, render_template, request
from markupsafe import Markup

from recs.usecases.stats import RANGES, ListeningStats, StatsCache
from web import charts
from web.auth import consents_of, db, instance, member, member_required, now

bp = Blueprint("listening", __name__)


Charts = tuple[Markup, Markup, Markup]


class ChartCache:
    """The three SVG charts of a statistics object, drawn once (about half a millisecond a view).

    Keyed by the object's identity: the statistics cache hands out the same object until the member's plays
    change or the hour turns, and then the charts are drawn from the new one.
    """

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._items: OrderedDict[tuple[int, str], tuple[weakref.ref[ListeningStats], Charts]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stats: ListeningStats, unit: str) -> Charts:
        key = (id(stats), unit)
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0]() is stats:
            return hit[1]
        drawn = draw(stats, unit)
        with self._lock:
            self._items[key] = (weakref.ref(stats), drawn)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return drawn


def draw(stats: ListeningStats, unit: str) -> Charts:
    """(hours or plays per week, weekday × hour heat map, new versus familiar per month)."""
    week_chart = charts.bar_chart(
        [w.start.strftime("%d %b") for w in stats.weeks],
        [float(w.plays) if unit == "plays" else round(w.hours, 2) for w in stats.weeks],
        title=f"{unit.capitalize()} of music per week, last 52 weeks"
        if unit == "hours"
        else "Plays per week, last 52 weeks",
        unit=unit,
        tick_every=8,
    )
    heat = charts.heat_map(stats.heat, title=f"When you listen (weekday by hour, {stats.timezone})")
    share = charts.stacked_bars(
        [m.month.strftime("%b") for m in stats.months],
        [(m.new_plays, m.familiar_plays) for m in stats.months],
        title="New music versus familiar music per month",
        names=("new to you", "familiar"),
    )
    return week_chart, heat, share


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
    drawn: ChartCache | None = current_app.extensions.get("recs_chart_cache")
    if drawn is None:
        drawn = current_app.extensions["recs_chart_cache"] = ChartCache()
    week_chart, heat, share = drawn.get(stats, unit)
    return render_template(
        "listening.html",
        stats=stats,
        ranges=RANGES,
        chosen=chosen,
        unit=unit,
        week_chart=week_chart,
        heat=heat,
        share=share,
        tracks=stats.top_tracks[chosen],
        artists=stats.top_artists[chosen],
        albums=stats.top_albums[chosen],
        recent=stats.recent,
        spotify_page=instance().settings.spotify_page,
        collecting=consents_of(me.id)["store"].granted,
    )
