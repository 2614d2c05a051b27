"""The Web API client for one member: spotipy without its retry sleeping, every call timed, classified and observed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import requests
import spotipy

from recs.core.config import SpotifySettings
from recs.spotify.auth import EXPIRY_MARGIN, MemberAuth
from recs.spotify.errors import ErrorKind, SpotifyError, classify
from recs.spotify.oauth import TokenBundle

log = logging.getLogger(__name__)
T = TypeVar("T")


class CallObserver(Protocol):
    """Told about every call before and after it goes out (the budget and its ledger)."""

    def before_call(self, purpose: str, endpoint: str) -> None:
        """Raise SpotifyError(ErrorKind.BUDGET) to refuse the call."""
        ...

    def after_call(
        self, purpose: str, endpoint: str, status: int | None, duration_ms: int, error: SpotifyError | None
    ) -> None: ...


class NullObserver:
    def before_call(self, purpose: str, endpoint: str) -> None:
        return None

    def after_call(
        self, purpose: str, endpoint: str, status: int | None, duration_ms: int, error: SpotifyError | None
    ) -> None:
        return None


def make_spotify(settings: SpotifySettings, auth_manager: Any) -> spotipy.Spotify:
    """A spotipy client pointed at the configured API, with a plain Session so a 429 raises at once."""
    sp = spotipy.Spotify(
        auth_manager=auth_manager,
        # A plain Session has no urllib3 Retry adapter: spotipy would otherwise sleep for
        # Retry-After (hours on a quota 429) inside the call.
        requests_session=requests.Session(),
        requests_timeout=settings.request_timeout_s,
        retries=0,
        status_retries=0,
    )
    sp.prefix = settings.api_base_url.rstrip("/") + "/"
    return sp


class SpotifyApi:
    """One member's calls; each goes through the observer, and a 401 gets exactly one refresh and retry."""

    def __init__(
        self,
        settings: SpotifySettings,
        auth: MemberAuth,
        observer: CallObserver | None = None,
        *,
        long_retry_s: float = 60.0,
    ) -> None:
        self.auth = auth
        self.observer: CallObserver = observer or NullObserver()
        self.long_retry_s = long_retry_s
        self._bundle: TokenBundle | None = None
        self.sp = make_spotify(settings, self)

    # spotipy asks its auth manager for a token on every request.
    def get_access_token(self, as_dict: bool = False) -> str:
        bundle = self._bundle
        if bundle is None or bundle.access_expires_at - EXPIRY_MARGIN <= self.auth.now():
            bundle = self._bundle = self.auth.valid_token(stale=None)
        return bundle.access_token

    def call(self, purpose: str, endpoint: str, fn: Callable[[spotipy.Spotify], T], *, expect_body: bool = True) -> T:
        """Run *fn* against the spotipy client; *endpoint* ("GET me/tracks") names the call in the ledger."""
        try:
            return self._attempt(purpose, endpoint, fn, expect_body)
        except SpotifyError as exc:
            if exc.kind is not ErrorKind.UNAUTHORIZED:
                raise
        # The token was rejected before its time (revoked or rotated): refresh once, then retry once.
        stale = self._bundle.access_token if self._bundle else None
        self._bundle = self.auth.valid_token(stale=stale)
        return self._attempt(purpose, endpoint, fn, expect_body)

    def _attempt(self, purpose: str, endpoint: str, fn: Callable[[spotipy.Spotify], T], expect_body: bool) -> T:
        self.get_access_token()  # any refresh happens before the call is counted
        self.observer.before_call(purpose, endpoint)
        started = time.monotonic()
        status: int | None = None
        error: SpotifyError | None = None
        try:
            result = fn(self.sp)
            status = 200
            if expect_body and result is None:
                # spotipy turns a body that is not JSON into None.
                error = SpotifyError(ErrorKind.MALFORMED, f"{endpoint}: the body was not valid JSON", status=200)
        except Exception as exc:
            error = classify(exc, long_retry_s=self.long_retry_s, path=endpoint.partition(" ")[2])
            status = error.status
        finally:
            self.observer.after_call(purpose, endpoint, status, int((time.monotonic() - started) * 1000), error)
        if error is not None:
            # The caller decides whether this is a failure worth a line (a 401 retried is not).
            log.debug("spotify call %s failed: %s", endpoint, error)
            raise error
        return result


class CallsApi(Protocol):
    """What a port needs of a client: one call, named for the ledger (SpotifyApi, or a wrapper of one)."""

    def call(
        self, purpose: str, endpoint: str, fn: Callable[[spotipy.Spotify], T], *, expect_body: bool = True
    ) -> T: ...


class _TokenOnly:
    """A spotipy auth manager holding one access token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_access_token(self, as_dict: bool = False) -> str:
        return self.token


class BareApi:
    """Calls with a bare access token: no ledger, no budget, no refresh (benchmarks and tests against the emulator)."""

    def __init__(self, settings: SpotifySettings, access_token: str) -> None:
        self.sp = make_spotify(settings, _TokenOnly(access_token))

    def call(self, purpose: str, endpoint: str, fn: Callable[[spotipy.Spotify], T], *, expect_body: bool = True) -> T:
        return fn(self.sp)


class CountingApi:
    """Another client's calls, counted per purpose and endpoint as they go out (failed ones too)."""

    def __init__(self, api: CallsApi) -> None:
        self.api = api
        self.calls: Counter[tuple[str, str]] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def call(self, purpose: str, endpoint: str, fn: Callable[[spotipy.Spotify], T], *, expect_body: bool = True) -> T:
        self.calls[(purpose, endpoint)] += 1
        return self.api.call(purpose, endpoint, fn, expect_body=expect_body)
