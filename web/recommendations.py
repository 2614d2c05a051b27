"""The "My recommendations" page: the current list, "not for me", blocking artists, publishing and playlist settings."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from recs.usecases import feedback, saving
from recs.usecases.playlists import PublishOffer, playlist_status, publish_offer
from recs.usecases.stats import last_acceptance
from web import formats
from web.auth import consents_of, db, instance, local_time, member, member_required, now
from web.security import error_page

bp = Blueprint("recommendations", __name__)

MODES = {"discover": "Discover", "rediscover": "Rediscover"}
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _mode() -> str:
    mode = request.values.get("mode", "discover")
    return mode if mode in MODES else "discover"


def _back() -> Response:
    return redirect(url_for("recommendations.index", mode=_mode()))


def _back_to_card() -> Response:
    """Back to the list where the member was: the card named by the form's `at` (focused there by cards.js)."""
    at = _int("at")
    anchor = f"rec-{at}" if at is not None else None
    return redirect(url_for("recommendations.index", mode=_mode(), _anchor=anchor))


def _int(name: str) -> int | None:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        return None


TOKEN_PLACEHOLDER = "RECS-CSRF-TOKEN-PLACEHOLDER"


class CardCache:
    """The cards of a list, drawn once and reused while the list is the same (a third of the page's time).

    The key holds everything the cards show (the cards themselves, the mode, today's date for the block form);
    the drawn HTML carries a placeholder where each request puts its own CSRF token.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[object, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def html(self, cards: list[feedback.Card], mode: str, today: date, token: str) -> Markup:
        key = (mode, today, tuple(cards))
        with self._lock:
            drawn = self._items.get(key)
            if drawn is not None:
                self._items.move_to_end(key)
        if drawn is None:
            drawn = render_template("_cards.html", cards=cards, mode=mode, today=today, token=TOKEN_PLACEHOLDER)
            with self._lock:
                self._items[key] = drawn
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return Markup(drawn.replace(TOKEN_PLACEHOLDER, str(escape(token))))


def card_cache() -> CardCache:
    cache: CardCache | None = current_app.extensions.get("recs_card_cache")
    if cache is None:
        cache = current_app.extensions["recs_card_cache"] = CardCache()
    return cache


@bp.get("/recommendations")
@member_required
def index() -> str:
    me = member()
    mode = _mode()
    today = now().date()
    settings = feedback.playlist_settings(db(), me.id, instance().settings.publish)
    cards = feedback.my_recommendations(
        db(), me.id, mode, today, limit=settings.size, track_page=instance().settings.track_page
    )
    return render_template(
        "recommendations.html",
        mode=mode,
        modes=MODES,
        cards=cards,
        cards_html=card_cache().html(cards, mode, today, generate_csrf()) if cards else Markup(""),
        blocked=feedback.blocked_artists(db(), me.id, today),
        hidden=feedback.hidden_track_list(db(), me.id),
        acceptance=last_acceptance(db(), me.id),
        settings=settings,
        weekdays=WEEKDAY_NAMES,
        today=today,
        max_size=feedback.MAX_PLAYLIST_SIZE,
        offer=_offer(),
        kind_names=MODES,
        settings_open=request.args.get("settings") == "open",
        playlists=playlist_status(instance(), db(), me.id, consents_of(me.id)["publish"].granted, now()),
    )


def _offer() -> PublishOffer:
    me = member()
    return publish_offer(instance(), db(), me.id, consents_of(me.id)["publish"].granted, now())


def offer_words(offer: PublishOffer) -> str:
    """What a publish requested now will do, in one sentence: the button's confirmation."""
    parts = [f"your {MODES[kind]} playlist ({n} song{'s' if n != 1 else ''})" for kind, n in offer.kinds]
    return " and ".join(parts)


@bp.post("/recommendations/hide")
@member_required
def hide() -> Response | tuple[str, int]:
    track_id = _int("track_id")
    if track_id is None:
        return error_page(400, "No track was given.")
    try:
        feedback.hide_track(db(), member().id, track_id, now())
    except feedback.NotFound:
        return error_page(404)
    flash("Hidden: that song will not come back on your lists.", "ok")
    return _back_to_card()


@bp.post("/recommendations/like")
@member_required
def like() -> Response | tuple[str, int]:
    track_id = _int("track_id")
    if track_id is None:
        return error_page(400, "No track was given.")
    if request.form.get("undo") == "yes":
        feedback.unlike_track(db(), member().id, track_id)
        flash("Noted: that song no longer asks for more like it.", "ok")
        return _back_to_card()
    try:
        feedback.like_track(db(), member().id, track_id, now())
    except feedback.NotFound:
        return error_page(404)
    flash("Noted: your next list leans towards songs like this one (from the next training).", "ok")
    return _back_to_card()


SAVE_WORDS = {
    "saved": "Saved to your Spotify library: “{name}”.",
    "already": "“{name}” is already in your saved songs.",
    "no-scope": (
        "Not saved: recs may not yet add songs to your library. Reconnect Spotify under Settings & privacy "
        "and allow it, then try again."
    ),
    "budget": "Not saved: recs has used today's Spotify allowance for this household. Try again {when}.",
    "reconnect": "Not saved: recs needs you to reconnect Spotify first (Settings & privacy).",
    "not-allowlisted": "Not saved: Spotify refuses recs for your account until the owner adds you to the app's user list.",
    "failed": "Not saved: Spotify did not accept it just now. Try again later.",
}


@bp.post("/recommendations/save")
@member_required
def save() -> Response | tuple[str, int]:
    track_id = _int("track_id")
    if track_id is None:
        return error_page(400, "No track was given.")
    try:
        result = saving.save_to_library(instance(), member().id, track_id, now)
    except feedback.NotFound:
        return error_page(404)
    when = "later"
    if result.retry_at is not None:
        when = "after " + formats.moment(local_time(result.retry_at))
    ok = result.outcome in ("saved", "already")
    flash(SAVE_WORDS[result.outcome].format(name=result.name, when=when), "ok" if ok else "error")
    return _back_to_card()


@bp.post("/recommendations/unhide")
@member_required
def unhide() -> Response | tuple[str, int]:
    track_id = _int("track_id")
    if track_id is None or not feedback.unhide_track(db(), member().id, track_id):
        return error_page(404)
    flash("That song may come back on your lists.", "ok")
    return _back()


@bp.post("/recommendations/block")
@member_required
def block() -> Response | tuple[str, int]:
    artist_id = _int("artist_id")
    if artist_id is None:
        return error_page(400, "No artist was given.")
    raw_until = request.form.get("until", "").strip()
    until: date | None = None
    if raw_until:
        try:
            until = date.fromisoformat(raw_until)
        except ValueError:
            flash(f"“{raw_until}” is not a date (use the date picker or YYYY-MM-DD).", "error")
            return _back()
    try:
        name = feedback.block_artist(db(), member().id, artist_id, until, now().date(), now())
    except feedback.NotFound:
        return error_page(404)
    except feedback.FeedbackError as exc:
        flash(str(exc), "error")
        return _back()
    flash(f"{name} is blocked" + (f" until {formats.day(until)} (that day included)." if until else "."), "ok")
    return _back()


@bp.post("/recommendations/unblock")
@member_required
def unblock() -> Response | tuple[str, int]:
    artist_id = _int("artist_id")
    if artist_id is None or not feedback.unblock_artist(db(), member().id, artist_id):
        return error_page(404)
    flash("That artist may appear on your lists again.", "ok")
    return _back()


@bp.post("/recommendations/publish")
@member_required
def publish() -> Response:
    offer = _offer()
    if not offer.kinds:
        # The button is not offered then; a stale page or a second tab still gets the truth.
        flash(NOTHING_TO_PUBLISH[offer.reason], "error")
        return _back()
    queued = feedback.request_job(db(), "publish", member().id, member().id, now())
    what = offer_words(offer)
    if queued.new:
        flash(f"Publishing is queued: {what} will be written to your Spotify within a few minutes.", "ok")
    else:
        flash(f"Publishing was already queued: {what} will be written to your Spotify within a few minutes.", "ok")
    return _back()


NOTHING_TO_PUBLISH = {
    "no-consent": "Nothing was published: writing playlists to your Spotify is off (Settings & privacy).",
    "reconnect": "Nothing was published: recs needs you to reconnect Spotify first (Settings & privacy).",
    "no-kinds": "Nothing was published: your playlist settings choose neither Discover nor Rediscover.",
    "empty": "Nothing was published: you have no recommendations yet.",
}


@bp.post("/recommendations/settings")
@member_required
def save_settings() -> Response:
    f = request.form
    try:
        values = feedback.validate_playlist_settings(
            f.get("size", ""),
            f.get("discover") == "yes",
            f.get("rediscover") == "yes",
            f.get("frequency", ""),
            f.get("weekday", ""),
            f.get("local_time", ""),
        )
    except feedback.FeedbackError as exc:
        flash(str(exc), "error")
    else:
        feedback.save_playlist_settings(db(), member().id, values)
        flash("Playlist settings saved.", "ok")
    # Back to the top of the page, the confirmation in view and the settings (above the list) left open.
    return redirect(url_for("recommendations.index", mode=_mode(), settings="open"))
