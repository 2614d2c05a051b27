"""The dashboard's Flask app factory: wires the instance, security, blueprints and error pages together."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from recs.core.config import Settings
from recs.core.metrics import format_metric
from recs.usecases.instance import Instance, load, open_instance
from recs.usecases.stats import StatsCache

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Flask:
    """Build the dashboard.

    *overrides* are Flask config values set last (tests pass TESTING, a clock as RECS_CLOCK, or an already
    open Instance as RECS_INSTANCE so the app shares the test's database).
    """
    env = os.environ if environ is None else environ
    extra = dict(overrides or {})
    instance: Instance | None = extra.pop("RECS_INSTANCE", None)
    if instance is None:
        instance = open_instance(settings or load(None, env), env)
    settings = instance.settings

    app = Flask(__name__)
    https = settings.instance.public_url.startswith("https://")
    app.config.update(
        SECRET_KEY=instance.secrets.session_key,
        SESSION_COOKIE_NAME="recs_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PREFERRED_URL_SCHEME="https" if https else "http",
        MAX_CONTENT_LENGTH=settings.web.max_upload_mb * 1024 * 1024,
        # CSRF tokens last as long as the session; a page left open overnight still submits.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=https,
        TEMPLATES_AUTO_RELOAD=False,
        RECS_CLOCK=_now,
    )
    app.config.update(extra)
    app.extensions["recs"] = instance
    app.extensions["recs_stats_cache"] = StatsCache()
    app.jinja_env.globals["show_metric"] = format_metric  # `users 4`, not `users 4.000`

    from web import account, admin, auth, blend, formats, imports, listening, recommendations, security

    formats.register(app)
    security.init_app(app)
    auth.init_app(app)
    for module in (auth, listening, recommendations, blend, imports, account, admin):
        app.register_blueprint(module.bp)
    return app


# A stopping server gives the imports it runs this long to finish (one takes seconds; an import cut off
# shows as interrupted and is uploaded again).
IMPORT_GRACE_S = 30.0


def close_app(app: Flask, import_grace_s: float = IMPORT_GRACE_S) -> None:
    """When its server stops: let running imports finish (up to *import_grace_s*)."""
    runs = app.extensions.get("recs_imports")
    if runs is not None:
        left = runs.finish(import_grace_s)
        if left:
            log.warning("stopping with %s import(s) still running: they will show as interrupted", left)


def instance_of(app: Flask) -> Instance:
    instance: Instance = app.extensions["recs"]
    return instance


def clock_of(app: Flask) -> Callable[[], datetime]:
    clock: Callable[[], datetime] = app.config["RECS_CLOCK"]
    return clock
