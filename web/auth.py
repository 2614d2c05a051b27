"""Who is signed in: the session, the member and owner guards, and the sign-in, consent and sign-out pages."""

from __future__ import annotations

import functools
import hmac
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from recs.core.domain import PURPOSES, Consent, Member, Purpose
from recs.storage import Database
from recs.usecases import accounts
from recs.usecases.instance import Instance
from recs.usecases.stats import zone

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "member_id"

# Each purpose in plain words: what it keeps, who sees it, how to stop.
PURPOSE_TEXT: dict[Purpose, tuple[str, str]] = {
    "store": (
        "Keep my listening",
        "recs stores the songs you play, your saved songs and your own playlists in this household's "
        "database, so it can draw your charts and learn your taste. Only you see your history; the owner "
        "sees only whether syncing works.",
    ),
    "train": (
        "Use my listening for the household's recommendations",
        "Your plays help the model that suggests music to everyone here. Others never see what you "
        "played; an explanation on their list only ever names songs from their own history.",
    ),
    "publish": (
        "Write playlists to my Spotify",
        "recs creates private playlists in your Spotify account and replaces their songs on your schedule.",
    ),
    "blend": (
        "Take part in the household Blend",
        "A weekly playlist shared with the other members who opt in: your favourites and tracks your taste "
        "brings appear in it under your name, with how well your taste matches theirs, and a copy is written "
        "to your Spotify. Nothing else of your history is shown. Needs “Use my listening” too.",
    ),
}


BLEND_NEEDS_TRAIN = "The Blend is made with the household model: tick “Use my listening” too."


# --- helpers the other blueprints use ------------------------------------------------------------


def instance() -> Instance:
    from web import instance_of

    return instance_of(current_app)


def db() -> Database:
    """The database for this request: shared reads for GET, the instance's own for everything else."""
    shared = g.get("reads")
    if shared is not None:
        return cast(Database, shared)
    return instance().db


def now() -> datetime:
    from web import clock_of

    return clock_of(current_app)()


def member() -> Member:
    """The signed-in member (only inside a guarded view)."""
    m = g.get("member")
    if m is None:  # pragma: no cover - guards run first
        abort(401)
    return cast(Member, m)


def sign_in_session(member_id: int) -> None:
    """Start a fresh session for *member_id* (a new cookie, so an old one cannot be replayed into it)."""
    session.clear()
    session[SESSION_KEY] = member_id
    session.permanent = False


def consents_of(member_id: int) -> dict[Purpose, Consent]:
    if g.get("reads") is None:  # a POST: consents may change during it
        return accounts.consents(db(), member_id)
    # A GET reads one snapshot: the guard's answer serves the page too.
    memo: dict[int, dict[Purpose, Consent]] = g.setdefault("consents", {})
    if member_id not in memo:
        memo[member_id] = accounts.consents(db(), member_id)
    return memo[member_id]


def save_consents(member_id: int, chosen: dict[Purpose, bool]) -> None:
    when = now()
    for purpose, granted in chosen.items():
        accounts.set_consent(instance(), member_id, purpose, granted, lambda: when)


def consent_words(chosen: dict[Purpose, bool]) -> str:
    """The confirmation after saving consents, saying what recs will and will not do from now on."""
    if not any(chosen.values()):
        return (
            "Saved: you agreed to nothing, so recs stores none of your listening and writes nothing to your "
            "Spotify. You can change this any time under Settings & privacy."
        )
    will = [words for purpose, words in CONSENT_DOING.items() if chosen[purpose]]
    wont = [words for purpose, words in CONSENT_DOING.items() if not chosen[purpose]]
    text = "Saved: recs will " + " and ".join(will) + "."
    if wont:
        text += " It will not " + " or ".join(wont) + "."
    return text + " You can change this any time under Settings & privacy."


CONSENT_DOING: dict[Purpose, str] = {
    "store": "keep your listening",
    "train": "use it for the household's recommendations",
    "publish": "write playlists to your Spotify",
    "blend": "put you in the household Blend",
}


def consent_decided(consents: dict[Purpose, Consent]) -> bool:
    return any(c.granted_at is not None or c.revoked_at is not None for c in consents.values())


def member_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("member") is None:
            return redirect(
                url_for("auth.signin", next=request.full_path.rstrip("?") if request.method == "GET" else None)
            )
        if not consent_decided(consents_of(member().id)):
            return redirect(url_for("auth.consent"))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def owner_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("member") is None:
            return redirect(url_for("auth.signin"))
        if not member().is_owner:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapped)


def init_app(app: Flask) -> None:

    @app.before_request
    def load_member() -> None:
        g.member = None
        # The callback writes (through recs.usecases.accounts) and then reads what it wrote: not a shared snapshot.
        if request.method in ("GET", "HEAD") and request.endpoint not in ("static", "auth.callback"):
            g.reads = instance().db.shared_reads()
        member_id = session.get(SESSION_KEY)
        if not isinstance(member_id, int):
            return
        found = accounts.find_member(db(), member_id)
        if found is None:  # deleted meanwhile: the cookie means nothing now
            session.clear()
            return
        g.member = found

    @app.teardown_request
    def release_reads(_exc: BaseException | None) -> None:
        reads = g.pop("reads", None)
        if reads is not None:
            reads.release()

    @app.context_processor
    def template_globals() -> dict[str, Any]:
        return {"current_member": g.get("member"), "instance_name": "recs"}

    # A global, not a context value: imported macros do not see the request's context.
    app.jinja_env.globals["local_time"] = local_time


def local_time(moment: datetime) -> datetime:
    """A stored UTC time in the signed-in member's timezone (UTC for visitors)."""
    m = g.get("member")
    return moment.astimezone(zone(m.timezone if m is not None else "UTC"))


# A `next` address as the app itself makes it (request.full_path): printable ASCII without space or backslash,
# starting with one slash. Anything else (tabs and newlines that browsers drop, backslashes they read as
# slashes, non-ASCII lookalikes such as U+FF0F or U+3002) is refused rather than cleaned up.
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-\[\]-~]*")
_NEXT_MAX = 2000


def local_path(target: object) -> str | None:
    """*target* when it is a path on this site, whatever a browser or proxy decodes it into; else None.

    An open redirect would let a link send a freshly signed-in member anywhere. The path part is also
    checked once percent-decoded (repeatedly, as a chain of proxies might): `/%2f/evil` and `/%5cevil`
    decode to addresses on another host, `/%09/evil` to one a browser reads as `//evil`.
    """
    if not isinstance(target, str) or len(target) > _NEXT_MAX or not _LOCAL_PATH.fullmatch(target):
        return None
    path = target.split("?", 1)[0].split("#", 1)[0]
    for _ in range(5):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        return None  # still percent-encoded after five decodings: nobody needs that
    if not _LOCAL_PATH.fullmatch(path):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _safe_next(target: object) -> str:
    return local_path(target) or url_for("listening.index")


# --- pages ----------------------------------------------------------------------------------------


@bp.get("/")
def home() -> Response:
    if g.get("member") is None:
        return redirect(url_for("auth.signin"))
    return redirect(url_for("listening.index"))


@bp.get("/favicon.ico")
def favicon() -> Response:
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/auth/login")
@bp.get("/signin")
def signin() -> str | Response:
    if g.get("member") is not None and not request.args.get("reconnect"):
        return redirect(url_for("listening.index"))
    return render_template(
        "signin.html",
        invite=request.args.get("invite", ""),
        next=local_path(request.args.get("next")) or "",
        reconnect=bool(request.args.get("reconnect")),
    )


@bp.post("/signin")
def signin_start() -> str | Response | tuple[str, int]:
    invite = request.form.get("invite", "").strip() or None
    target = _safe_next(request.form.get("next"))
    try:
        start = accounts.begin_sign_in(instance(), now, invite_code=invite)
    except accounts.SignInError as exc:
        return render_template("signin.html", invite=invite or "", next="", reconnect=False, error=exc.message), 400
    # Bind the attempt to this browser: a callback carrying someone else's state is refused (login CSRF).
    session["signin_state"] = start.state
    session["next"] = target
    return redirect(start.authorize_url)


@bp.get("/auth/callback")
def callback() -> str | Response | tuple[str, int]:
    state = request.args.get("state", "")
    expected = session.pop("signin_state", None)
    if not isinstance(expected, str) or not hmac.compare_digest(expected, state):
        message = "This sign-in did not start in this browser, or it was already used. Start again here."
        return render_template("signin.html", invite="", next="", reconnect=False, error=message), 400
    try:
        result = accounts.complete_sign_in(
            instance(), state=state, code=request.args.get("code"), error=request.args.get("error"), now=now
        )
    except accounts.SignInError as exc:
        return render_template("signin.html", invite="", next="", reconnect=False, error=exc.message), 400
    target = session.get("next")
    sign_in_session(result.member.id)
    if not consent_decided(consents_of(result.member.id)):
        return redirect(url_for("auth.consent"))
    return redirect(_safe_next(target))


@bp.get("/consent")
def consent() -> str | Response:
    if g.get("member") is None:
        return redirect(url_for("auth.signin"))
    return render_template("consent.html", purposes=PURPOSE_TEXT, consents=consents_of(member().id))


@bp.post("/consent")
def consent_save() -> Response:
    if g.get("member") is None:
        return redirect(url_for("auth.signin"))
    chosen = {p: request.form.get(p) == "yes" for p in PURPOSES}
    if chosen["train"] and not chosen["store"]:
        # Training needs stored plays; say so rather than silently storing.
        flash("Using your listening for recommendations needs it kept: tick “Keep my listening” too.", "error")
        return redirect(url_for("auth.consent"))
    if chosen["blend"] and not chosen["train"]:
        flash(BLEND_NEEDS_TRAIN, "error")
        return redirect(url_for("auth.consent"))
    save_consents(member().id, chosen)
    flash(consent_words(chosen), "ok")
    return redirect(url_for("listening.index"))


@bp.post("/signout")
def signout() -> Response:
    session.clear()
    flash("You are signed out.", "ok")
    return redirect(url_for("auth.signin"))
