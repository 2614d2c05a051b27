"""Request-wide protections: CSRF on every form, security headers, and friendly error pages without stack traces."""

from __future__ import annotations

import logging
import os

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)
csrf = CSRFProtect()

# What each status means to a person, in plain words.
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("That request could not be used", "The form may have expired. Go back, reload the page and try again."),
    403: ("Not yours to see", "This page belongs to someone else or needs the instance owner."),
    404: ("Nothing here", "The page or item does not exist, or it is not yours."),
    405: ("Not like that", "This address does not take that kind of request."),
    413: ("That file is too large", "The upload is larger than this instance accepts."),
    500: ("Something broke on our side", "The error was logged. Try again in a moment."),
}


def content_security_policy(app: Flask) -> str:
    """The CSP; album covers come from Spotify's image host (or the emulator's, whose base URL is a setting)."""
    from web import instance_of

    spotify = instance_of(app).settings.spotify
    img = ["'self'", "data:", "https://i.scdn.co"]
    api_origin = _origin(spotify.api_base_url)
    if api_origin and api_origin not in img:
        img.append(api_origin)
    return (
        f"default-src 'self'; img-src {' '.join(img)}; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def _origin(url: str) -> str:
    parts = url.split("/")
    return "/".join(parts[:3]) if len(parts) >= 3 and parts[0] in ("http:", "https:") else ""


# HSTS for a year, for this host only: a household's instance often shares its domain with other services
# that may still serve plain HTTP, so no includeSubDomains and no preload.
HSTS = "max-age=31536000"


def init_app(app: Flask) -> None:
    from web import instance_of

    csrf.init_app(app)
    policy = content_security_policy(app)
    # Only behind HTTPS: over plain HTTP browsers ignore the header, and a local http instance must stay reachable.
    https = instance_of(app).settings.instance.public_url.lower().startswith("https://")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if https:
            response.headers["Strict-Transport-Security"] = HSTS
        # Which server process answered (`recs serve --processes N`): for the operator and the tests.
        response.headers["X-Recs-Worker"] = str(os.getpid())
        if request.endpoint != "static":
            # Pages show personal data: never keep them in shared caches.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return error_page(400, "The form expired or did not come from this site. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int] | HTTPException:
        code = exc.code or 500
        if code < 400:
            return exc
        return error_page(code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return error_page(exc.code or 500)
        if app.testing and not app.config.get("RECS_FRIENDLY_ERRORS"):
            raise exc  # tests see the real error unless they test the friendly page
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_page(InternalServerError.code)


def error_page(code: int, detail: str | None = None) -> tuple[str, int]:
    title, message = MESSAGES.get(code, ("Something went wrong", "Go back and try again."))
    return render_template("error.html", code=code, title=title, message=detail or message), code
