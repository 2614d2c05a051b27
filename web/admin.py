"""The owner's pages: members and invites, sync health, API budget, model runs against baselines, jobs, and "run now"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from recs.core.domain import ModelRunRow
from recs.usecases import accounts, feedback, release_radar
from recs.usecases.playlists import refused_tracks
from recs.usecases.stats import instance_overview
from web import quality
from web.auth import db, instance, member, now, owner_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _quality(runs: Sequence[ModelRunRow]) -> dict[str, Any]:
    """The model section's words, chart and table rows."""
    points = quality.run_points(runs)
    current = next((r for r in reversed(runs) if r.is_current), None)
    return {
        "quality": quality.explain(current, instance().settings.training.holdout_days),
        "runs_chart": quality.runs_chart(points),
        "points": points,
        "candidate_words": quality.candidate_words,
    }


@bp.get("")
@owner_required
def index() -> str:
    overview = instance_overview(db(), instance().settings.budget.daily_calls, now())
    return render_template(
        "admin.html",
        overview=overview,
        **_quality(overview.runs),
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
        **_quality(overview.runs),
        requests=feedback.job_requests(db(), limit=20),
        refused=refused_tracks(db()),
        jobs=feedback.JOBS,
        new_code=created.code,
        radar=release_radar.stored_plan(instance(), db(), now()),
        invite_url=instance().settings.instance.public_url.rstrip("/") + url_for("auth.signin", invite=created.code),
    )
