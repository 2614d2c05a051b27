"""The authorization-code flow with PKCE against Spotify's accounts service: authorize URL, code exchange, refresh."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from recs.core.config import Settings, require_spotify_app
from recs.spotify.errors import ErrorKind, SpotifyError, classify, classify_http

# Only what the product uses: read listening, library, top items and follows; write its own playlists; save a
# song to the member's library when they ask ("Save to my library": PUT /me/library needs user-library-modify).
SCOPES: tuple[str, ...] = (
    "user-read-recently-played",
    "user-library-read",
    "user-library-modify",
    "user-top-read",
    "user-follow-read",
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-private",
    "playlist-modify-public",
)


@dataclass(frozen=True)
class TokenBundle:
    """What the token endpoint granted; never logged (its repr hides the secrets)."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime
    scope: str

    def __repr__(self) -> str:
        return f"TokenBundle(access_token=***, refresh_token=***, access_expires_at={self.access_expires_at!r})"

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "access_expires_at": self.access_expires_at.isoformat(),
                "scope": self.scope,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TokenBundle:
        raw = json.loads(data)
        return cls(
            access_token=raw["access_token"],
            refresh_token=raw["refresh_token"],
            access_expires_at=datetime.fromisoformat(raw["access_expires_at"]),
            scope=raw.get("scope", ""),
        )


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    # 64 url-safe characters: inside RFC 7636's 43..128 range.
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class OAuthClient:
    """Talks to the accounts service; every request has a timeout, and failures are SpotifyErrors."""

    client_id: str
    client_secret: str
    redirect_uri: str
    accounts_base_url: str
    timeout_s: float
    session: requests.Session

    @property
    def authorize_endpoint(self) -> str:
        return self.accounts_base_url.rstrip("/") + "/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.accounts_base_url.rstrip("/") + "/api/token"

    def authorize_url(self, state: str, verifier: str, scopes: tuple[str, ...] = SCOPES) -> str:
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
            "code_challenge_method": "S256",
            "code_challenge": code_challenge(verifier),
        }
        return f"{self.authorize_endpoint}?{urlencode(query)}"

    def _post(self, data: dict[str, str]) -> dict[str, Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.client_secret:
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        try:
            response = self.session.post(self.token_endpoint, data=data, headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise classify(exc, long_retry_s=60) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            # Only a 4xx answer can say the grant is dead; a 5xx or 429 is the service failing, whatever
            # its body claims (a proxy or a failing node), and must not make the member sign in again.
            if error == "invalid_grant" and 400 <= response.status_code < 500 and response.status_code != 429:
                raise SpotifyError(ErrorKind.INVALID_GRANT, "the grant is invalid, expired or revoked", status=400)
            if response.status_code == 429 or response.status_code >= 500:
                raise classify_http(response.status_code, None, "", response.headers, long_retry_s=60)
            raise SpotifyError(
                ErrorKind.BAD_REQUEST,
                f"token endpoint refused the request ({error or response.status_code})",
                status=response.status_code,
            )
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise SpotifyError(ErrorKind.MALFORMED, "token endpoint sent no access token")
        return body

    def _bundle(self, body: dict[str, Any], now: datetime, previous_refresh: str | None) -> TokenBundle:
        expires_in = body.get("expires_in", 3600)
        refresh = body.get("refresh_token") or previous_refresh
        if not isinstance(refresh, str) or not refresh:
            raise SpotifyError(ErrorKind.MALFORMED, "token endpoint sent no refresh token")
        return TokenBundle(
            access_token=body["access_token"],
            refresh_token=refresh,
            access_expires_at=now + timedelta(seconds=int(expires_in)),
            scope=str(body.get("scope") or ""),
        )

    def exchange_code(self, code: str, verifier: str, now: Callable[[], datetime]) -> TokenBundle:
        body = self._post(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "client_id": self.client_id,
                "code_verifier": verifier,
            }
        )
        return self._bundle(body, now(), None)

    def refresh(self, refresh_token: str, now: Callable[[], datetime]) -> TokenBundle:
        """A fresh access token; Spotify may omit a new refresh token, then the old one is kept."""
        body = self._post({"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id})
        return self._bundle(body, now(), refresh_token)


def oauth_client(settings: Settings, client_secret: str) -> OAuthClient:
    """The accounts-service client for this instance's settings (base URL, redirect URI, timeout)."""
    require_spotify_app(settings)  # never send a member to Spotify with `client_id=`
    return OAuthClient(
        client_id=settings.spotify.client_id,
        client_secret=client_secret,
        redirect_uri=settings.redirect_uri,
        accounts_base_url=settings.spotify.accounts_base_url,
        timeout_s=settings.spotify.request_timeout_s,
        session=requests.Session(),
    )
