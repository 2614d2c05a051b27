"""Logging set-up: one configuration for the process, quiet third-party loggers, and redaction of secrets."""

from __future__ import annotations

import logging
import re
from typing import Any

# Patterns whose captured value is replaced; each names what it hides.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"), r"\1[REDACTED]"),
    (
        re.compile(
            r"(?i)([\"']?(?:access_token|refresh_token|code|state|code_verifier|client_secret|"
            r"authorization)[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"
        ),
        r"\1[REDACTED]",
    ),
)

THIRD_PARTY = ("spotipy", "urllib3", "requests", "waitress", "apscheduler", "alembic", "werkzeug")


def redact(text: str) -> str:
    """Hide bearer tokens, refresh tokens, authorization codes and OAuth state in *text*."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (after %-formatting) with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_redaction(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())


def setup_logging(level: str = "INFO", *, handler: logging.Handler | None = None, **_: Any) -> None:
    """Configure the root logger once; every handler gets the redaction filter."""
    root = logging.getLogger()
    if handler is None and not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if handler is not None:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("recs").setLevel(level)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    # spotipy logs every HTTP error at ERROR, URL and all; recs.spotify classifies it and the use case
    # that made the call says what failed, once.
    logging.getLogger("spotipy.client").setLevel(logging.CRITICAL)
    for h in root.handlers:
        install_redaction(h)
