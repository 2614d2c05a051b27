"""The "My listening" page: the signed-in member's charts, drawn from their own plays only."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from recs.stats import RANGES, StatsCache
from web import charts
from web.auth import db, member, member_required, now

bp = Blueprint("listening", __name__)


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
    )
