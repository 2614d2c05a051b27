"""The owner's pages: members and invites, sync health, API budget, model runs against baselines, jobs, and "run now"."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from recs.core.domain import ModelRunRow
from recs.usecases import accounts, feedback, release_radar
from recs.usecases.playlists import refused_tracks
from recs.usecases.stats import instance_overview
from web import charts
from web.auth import db, instance, member, now, owner_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Metrics worth a line on the chart, in the order shown.
CHART_METRICS = ("ndcg@10", "recall@10", "precision@10", "map@10", "hit_rate@10", "coverage")


def _metric_names(runs: Sequence[ModelRunRow]) -> list[str]:
    seen: list[str] = [m for m in CHART_METRICS if any(m in r.metrics for r in runs)]
    if not seen:
        seen = sorted({k for r in runs for k, v in r.metrics.items() if isinstance(v, int | float)})[:2]
    return seen[:2]


def _baseline(run: ModelRunRow, metric: str) -> float | None:
    """A run's best baseline for *metric*: baselines is {name: {metric: value}} or {name: value}."""
    best: float | None = None
    for value in run.baselines.values():
        v = value.get(metric) if isinstance(value, dict) else None
        if isinstance(v, int | float) and (best is None or v > best):
            best = float(v)
    return best


def runs_chart(runs: Sequence[ModelRunRow]) -> Markup | None:
    done = [r for r in runs if r.status == "succeeded"]
    if not done:
        return None
    series = []
    for metric in _metric_names(done):
        series.append(
            charts.Series(
                f"model {metric}",
                [float(v) if isinstance(v := r.metrics.get(metric), int | float) else None for r in done],
            )
        )
        series.append(charts.Series(f"best baseline {metric}", [_baseline(r, metric) for r in done], dashed=True))
    if not series:
        return None
    return charts.line_chart(
        [r.started_at.strftime("%d %b") for r in done], series, title="Model quality per run, against baselines"
    )


@bp.get("")
@owner_required
def index() -> str:
    overview = instance_overview(db(), instance().settings.budget.daily_calls, now())
    return render_template(
        "admin.html",
        overview=overview,
        runs_chart=runs_chart(overview.runs),
        requests=feedback.job_requests(db(), limit=20),
        refused=refused_tracks(db()),
        jobs=feedback.JOBS,
        new_code=None,
        radar=release_radar.stored_plan(instance(), db(), now()),
    )


@bp.post("/jobs")
@owner_required
def run_now() -> Response:
    job = request.form.get("job", "")
    try:
        queued = feedback.request_job(db(), job, None, member().id, now())
    except feedback.FeedbackError as exc:
        flash(str(exc), "error")
    else:
        if queued.new:
            flash(f"“{job}” is queued; the worker starts it within a minute.", "ok")
        else:
            flash(f"“{job}” was already waiting in the queue.", "ok")
    return redirect(url_for("admin.index") + "#jobs")


@bp.post("/invites")
@owner_required
def invite() -> str | Response:
    spotify_id = request.form.get("spotify_id", "").strip() or None
    try:
        created = accounts.create_invite(instance(), by_member_id=member().id, now=now, spotify_id=spotify_id)
    except (ValueError, PermissionError) as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.index") + "#invites")
    if created.code is None:
        flash(f"{spotify_id} may now sign in (until {created.expires_at:%d %b %Y}).", "ok")
        return redirect(url_for("admin.index") + "#invites")
    overview = instance_overview(db(), instance().settings.budget.daily_calls, now())
    # The code is shown once, on this response only: only its hash is stored.
    return render_template(
        "admin.html",
        overview=overview,
        runs_chart=runs_chart(overview.runs),
        requests=feedback.job_requests(db(), limit=20),
        refused=refused_tracks(db()),
        jobs=feedback.JOBS,
        new_code=created.code,
        radar=release_radar.stored_plan(instance(), db(), now()),
        invite_url=instance().settings.instance.public_url.rstrip("/") + url_for("auth.signin", invite=created.code),
    )
