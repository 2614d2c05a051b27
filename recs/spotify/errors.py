"""Classification of everything a Spotify call can fail with into a few kinds the use cases act on."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any

import requests
from spotipy.exceptions import SpotifyException, SpotifyOauthError

# A Retry-After above this many seconds on a 429 without a reason is still a short-term limit;
# the budget decides (with its own cap) whether it pauses the instance.
_DEFAULT_RETRY_AFTER_S = 1
# No single answer may stop calls for longer than Spotify's daily quota window: a larger Retry-After
# (86400000 was seen) is taken as this.
MAX_RETRY_AFTER_S = 24 * 3600.0
# A Retry-After that is not a number of seconds ("inf", "nan", negative, an HTTP date, garbage) is
# answered with a short pause: long enough not to hammer, short enough to be waited out.
NONSENSE_RETRY_AFTER_S = 5.0

log = logging.getLogger(__name__)


class ErrorKind(Enum):
    RATE_LIMITED = "rate_limited"  # 429 with a short Retry-After: wait, then retry
    QUOTA_EXCEEDED = "quota_exceeded"  # 429 QUOTA_EXCEEDED or a long Retry-After: stop all calls
    NOT_ALLOWLISTED = "not_allowlisted"  # 403 for a member missing from the Dashboard's user list
    FORBIDDEN = "forbidden"  # 403 for one resource (e.g. a playlist they do not own)
    UNAUTHORIZED = "unauthorized"  # 401: the access token expired or was revoked early
    INVALID_GRANT = "invalid_grant"  # the refresh token is dead: the member must sign in again
    NOT_FOUND = "not_found"
    SERVER = "server"  # 5xx
    TIMEOUT = "timeout"
    NETWORK = "network"  # refused or dropped connection
    MALFORMED = "malformed"  # a body that is not the JSON the API documents
    BAD_REQUEST = "bad_request"
    NO_TOKEN = "no_token"  # nothing stored for the member (never signed in, or dropped)
    BUDGET = "budget"  # refused locally: the daily budget is spent or the instance is paused


# Kinds that are worth another attempt on the next round without anyone acting.
TRANSIENT = frozenset(
    {ErrorKind.RATE_LIMITED, ErrorKind.SERVER, ErrorKind.TIMEOUT, ErrorKind.NETWORK, ErrorKind.MALFORMED}
)


class SpotifyError(Exception):
    """A failed Spotify call, classified; carries no token or code."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float | None:
    if not headers:
        return None
    value = None
    for key, v in headers.items():
        if str(key).lower() == "retry-after":
            value = v
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    received = str(value)[:40]
    if not math.isfinite(seconds) or seconds < 0:
        log.warning("Retry-After %r is not a number of seconds: taken as %.0f s", received, NONSENSE_RETRY_AFTER_S)
        return NONSENSE_RETRY_AFTER_S
    if seconds > MAX_RETRY_AFTER_S:
        log.warning("Retry-After %r is longer than a day: taken as %.0f s", received, MAX_RETRY_AFTER_S)
        return MAX_RETRY_AFTER_S
    return seconds


def classify_http(
    status: int,
    reason: str | None,
    message: str,
    headers: Mapping[str, Any] | None,
    *,
    long_retry_s: float,
    path: str = "",
) -> SpotifyError:
    """An HTTP error status (and Spotify's error body) as a SpotifyError; *path* is the endpoint called."""
    retry = retry_after_seconds(headers)
    if status == 429:
        if (reason or "").upper() == "QUOTA_EXCEEDED" or (retry is not None and retry > long_retry_s):
            return SpotifyError(
                ErrorKind.QUOTA_EXCEEDED, "Spotify quota exceeded", status=429, retry_after_s=retry, reason=reason
            )
        return SpotifyError(
            ErrorKind.RATE_LIMITED,
            "rate limited",
            status=429,
            retry_after_s=retry if retry is not None else _DEFAULT_RETRY_AFTER_S,
            reason=reason,
        )
    if status == 401:
        return SpotifyError(ErrorKind.UNAUTHORIZED, "access token rejected", status=401)
    if status == 403:
        # The member's own endpoints (/me...) answer 403 only when the account is not on the app's
        # Dashboard user list; elsewhere a 403 is about one resource.
        lowered = (message or "").lower()
        if "scope" in lowered:  # "Insufficient client scope": the member did not grant what this call needs
            return SpotifyError(ErrorKind.FORBIDDEN, message, status=403, reason="scope")
        if path.lstrip("/").startswith("me") or "not registered" in lowered or "dashboard" in lowered:
            return SpotifyError(
                ErrorKind.NOT_ALLOWLISTED,
                "this Spotify account is not on the app's user list in the Spotify Dashboard "
                "(development mode allows at most 5 users, each added by hand)",
                status=403,
                reason=reason,
            )
        return SpotifyError(ErrorKind.FORBIDDEN, message or "forbidden", status=403, reason=reason)
    if status == 404:
        return SpotifyError(ErrorKind.NOT_FOUND, message or "not found", status=404)
    if status >= 500:
        return SpotifyError(ErrorKind.SERVER, f"Spotify server error {status}", status=status)
    return SpotifyError(ErrorKind.BAD_REQUEST, message or f"HTTP {status}", status=status)


def classify(exc: BaseException, *, long_retry_s: float, path: str = "") -> SpotifyError:
    """Any exception raised by spotipy or requests during a call, classified."""
    if isinstance(exc, SpotifyError):
        return exc
    if isinstance(exc, SpotifyException):
        msg = str(exc.msg).split("\n", 1)[-1].strip() if exc.msg else ""
        return classify_http(int(exc.http_status), exc.reason, msg, exc.headers, long_retry_s=long_retry_s, path=path)
    if isinstance(exc, SpotifyOauthError):
        if exc.error == "invalid_grant":
            return SpotifyError(ErrorKind.INVALID_GRANT, "refresh token no longer valid", status=400)
        return SpotifyError(ErrorKind.BAD_REQUEST, f"token endpoint refused: {exc.error}", status=400)
    if isinstance(exc, requests.Timeout):
        return SpotifyError(ErrorKind.TIMEOUT, "Spotify did not answer in time")
    if isinstance(exc, requests.ConnectionError):
        return SpotifyError(ErrorKind.NETWORK, "connection to Spotify failed or dropped")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return SpotifyError(ErrorKind.NETWORK, "connection dropped mid-response")
    if isinstance(exc, ValueError):
        return SpotifyError(ErrorKind.MALFORMED, "Spotify sent a body that is not valid JSON")
    if isinstance(exc, requests.RequestException):
        return SpotifyError(ErrorKind.NETWORK, type(exc).__name__)
    raise exc
