"""Logging: secrets written through the logging set-up come out redacted; third-party loggers are quiet."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from recs.core.logs import RedactingFilter, redact, setup_logging

TOKEN = "BQD4x-fake_access.token~value123"
REFRESH = "AQCrefresh-token-value-987654"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    setup_logging("DEBUG", handler=handler)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_tokens_codes_and_state_are_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("recs.test")
    log.debug("headers %s", {"Authorization": f"Bearer {TOKEN}"})
    log.info("token body: grant_type=refresh_token&refresh_token=%s&client_id=abc", REFRESH)
    log.warning('response {"access_token": "%s", "refresh_token": "%s"}', TOKEN, REFRESH)
    log.error("callback ?code=AUTHCODE123456&state=STATE987654 failed")
    out = captured.getvalue()
    for secret in (TOKEN, REFRESH, "AUTHCODE123456", "STATE987654"):
        assert secret not in out
    assert out.count("[REDACTED]") >= 6
    assert "client_id=abc" in out  # not everything is hidden


def test_exception_text_is_redacted(captured: io.StringIO) -> None:
    try:
        raise RuntimeError(f"failed with Bearer {TOKEN}")
    except RuntimeError:
        logging.getLogger("recs.test").exception("boom")
    assert TOKEN not in captured.getvalue()
    assert "RuntimeError" in captured.getvalue()


def test_third_party_loggers_at_warning(captured: io.StringIO) -> None:
    logging.getLogger("spotipy.client").debug("Sending GET with Bearer %s", TOKEN)
    logging.getLogger("urllib3.connectionpool").debug("https://api.spotify.com %s", TOKEN)
    assert captured.getvalue() == ""
    assert logging.getLogger("spotipy").level == logging.WARNING


def test_every_handler_gets_the_filter(captured: io.StringIO) -> None:
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in logging.getLogger().handlers)


def test_redact_is_idempotent_and_keeps_plain_text() -> None:
    text = "played 3 tracks for member 7"
    assert redact(text) == text
    once = redact(f"Basic dXNlcjpwYXNz and Bearer {TOKEN}")
    assert redact(once) == once
    assert "dXNlcjpwYXNz" not in once
