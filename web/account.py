"""The "Settings & privacy" page: consent per purpose, excluded contexts, timezone, reconnecting, and deleting my data."""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask import (
    Response as FlaskResponse,
)
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from recs.core.domain import PURPOSES
from recs.usecases import accounts, feedback, release_radar, takeout
from recs.usecases.stats import authorisation
from web.auth import (
    BLEND_NEEDS_TRAIN,
    PURPOSE_TEXT,
    consent_words,
    consents_of,
    db,
    instance,
    member,
    member_required,
    now,
    save_consents,
)
from web.imports import coverage_cache

bp = Blueprint("account", __name__)

DELETE_WORD = "delete"
_ZONES: list[str] = []


def zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))
    return _ZONES


@functools.cache
def zone_options() -> Markup:
    """The timezone suggestions (about 600 options, the same for everyone): drawn once, not on every view."""
    return Markup("".join(f'<option value="{escape(z)}">' for z in zones()))


@bp.get("/settings")
@member_required
def index() -> str:
    me = member()
    authorised_at, expires_at = authorisation(db(), me.id)
    return render_template(
        "settings.html",
        purposes=PURPOSE_TEXT,
        consents=consents_of(me.id),
        excluded=feedback.excluded_contexts(db(), me.id),
        choices=feedback.context_choices(db(), me.id),
        zone_options=zone_options(),
        authorised_at=authorised_at,
        expires_at=expires_at,
        today=now().date(),
        delete_word=DELETE_WORD,
        open_data=feedback.open_data_on(db(), me.id),
        radar=release_radar.member_view(instance(), db(), me.id, now()),
        writing=consents_of(me.id)["publish"].granted,
        weekdays=WEEKDAYS,
    )


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@bp.post("/settings/radar")
@member_required
def save_radar() -> Response:
    form = request.form
    try:
        values = release_radar.validate_settings(
            form.get("enabled") == "yes", form.get("size", ""), form.get("weekday", ""), form.get("local_time", "")
        )
    except release_radar.RadarError as exc:
        flash(f"Nothing was saved: {exc}.", "error")
        return redirect(url_for("account.index") + "#radar")
    release_radar.save_settings(db(), member().id, values)
    if values.enabled:
        flash(
            f"Your Release Radar holds up to {values.size} songs, written each {WEEKDAYS[values.weekday]} "
            f"at {values.local_time}.",
            "ok",
        )
    else:
        flash("Release Radar is off: recs will not write it (the playlist already in Spotify stays).", "ok")
    return redirect(url_for("account.index") + "#radar")


@bp.post("/settings/consent")
@member_required
def save_consent() -> Response:
    chosen = {p: request.form.get(p) == "yes" for p in PURPOSES}
    if chosen["train"] and not chosen["store"]:
        flash("Using your listening for recommendations needs it kept: tick “Keep my listening” too.", "error")
        return redirect(url_for("account.index"))
    if chosen["blend"] and not chosen["train"]:
        flash(BLEND_NEEDS_TRAIN, "error")
        return redirect(url_for("account.index"))
    save_consents(member().id, chosen)
    flash(consent_words(chosen), "ok")
    return redirect(url_for("account.index"))


@bp.get("/settings/download")
@member_required
def download() -> FlaskResponse:
    """Everything stored about the signed-in member, as a zip streamed while it is written (docs/download.md)."""
    me = member()
    when = now()
    # Its own read transaction, not the page's shared one: the response outlives the request's handler.
    body = takeout.member_zip(instance().db, me.id, when)
    name = f"recs-my-data-{when:%Y-%m-%d}.zip"
    return FlaskResponse(
        stream_with_context(body),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@bp.post("/settings/open-data")
@member_required
def save_open_data() -> Response:
    on = request.form.get("open_data") == "yes"
    feedback.set_open_data(db(), member().id, on)
    flash(
        "Discover will draw on open listening data from the next training."
        if on
        else "Discover will hold only your household's tracks from the next training.",
        "ok",
    )
    return redirect(url_for("account.index"))


@bp.post("/settings/timezone")
@member_required
def save_timezone() -> Response:
    try:
        name = feedback.set_timezone(db(), member().id, request.form.get("timezone", ""))
    except feedback.FeedbackError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Your timezone is now {name}.", "ok")
    return redirect(url_for("account.index"))


@bp.post("/settings/contexts")
@member_required
def exclude_context() -> Response:
    try:
        uri = feedback.exclude_context(
            db(), member().id, request.form.get("context", ""), request.form.get("label", ""), now()
        )
    except feedback.FeedbackError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Plays from {uri} no longer count as your taste.", "ok")
    return redirect(url_for("account.index") + "#contexts")


@bp.post("/settings/contexts/remove")
@member_required
def include_context() -> Response | tuple[str, int]:
    from web.security import error_page

    if not feedback.include_context(db(), member().id, request.form.get("context", "")):
        return error_page(404)
    flash("That context counts as your taste again.", "ok")
    return redirect(url_for("account.index") + "#contexts")


@bp.post("/settings/delete")
@member_required
def delete_my_data() -> Response:
    if request.form.get("confirm", "").strip().lower() != DELETE_WORD or request.form.get("understand") != "yes":
        flash(f"Nothing was deleted: tick the box and type “{DELETE_WORD}” to confirm.", "error")
        return redirect(url_for("account.index") + "#delete")
    me = member()
    accounts.delete_my_data(instance(), me.id)
    current_app.extensions["recs_stats_cache"].forget(me.id)
    coverage_cache().forget(me.id)
    session.clear()
    flash("Your account and everything recs stored about you are deleted.", "ok")
    return redirect(url_for("auth.signin"))
