"""ControlClient: a small HTTP client of the emulator's /_emulator/ control API (and its non-interactive sign-in)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

ALL_SCOPES = (
    "user-read-private user-read-recently-played user-library-read user-top-read user-follow-read "
    "playlist-read-private playlist-read-collaborative playlist-modify-public playlist-modify-private "
    "user-library-modify user-follow-modify"
)


class ControlError(RuntimeError):
    """The emulator refused a control request; the message is the emulator's explanation."""


class ControlClient:
    """Drives one running emulator: clock, plays, faults, request log, ground truth, members, exports, sign-in."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/_emulator/{path}", json=json, params=params, timeout=self.timeout
        )
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise ControlError(f"{method} /_emulator/{path} -> {response.status_code}: {message}")
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response.content

    # --- app and lifecycle --------------------------------------------------------------------------
    def app(self) -> dict[str, Any]:
        """The registered app: client_id, client_secret, seed, members."""
        result: dict[str, Any] = self._call("GET", "app")
        return result

    def reset(self, seed: int | None = None, members: int | None = None) -> datetime:
        """Regenerate everything from a seed (same seed, same world); returns the emulated now."""
        body = {k: v for k, v in (("seed", seed), ("members", members)) if v is not None}
        return _parse(self._call("POST", "reset", json=body)["now"])

    # --- clock --------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return _parse(self._call("GET", "clock")["now"])

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move the emulated clock forward (members keep listening meanwhile); returns the new now."""
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        return _parse(self._call("POST", "clock/advance", json={"seconds": total})["now"])

    # --- listening ----------------------------------------------------------------------------------
    def add_plays(self, user_id: str, plays: list[dict[str, Any]]) -> int:
        """Add plays: each {track_id, played_at (ISO, UTC) | played_at_ms, ms_played?, context_uri?}; returns how many were new."""
        added: int = self._call("POST", "plays", json={"user_id": user_id, "plays": plays})["added"]
        return added

    def availability(self, user_id: str, track_ids: list[str]) -> dict[str, Any]:
        """Ground truth of playability for a member: {"market": country, "tracks": {id: {exists, playable}}}."""
        result: dict[str, Any] = self._call(
            "GET", f"members/{user_id}/availability", params={"track_ids": ",".join(track_ids)}
        )
        return result

    def ground_truth(self, user_id: str | None = None, since: datetime | None = None) -> dict[str, Any]:
        """Every play (played_at, track_id, context, ms_played, ...; those from `since` on), playlist, saved track, follow."""
        params: dict[str, Any] = {}
        if user_id:
            params["user_id"] = user_id
        if since is not None:
            params["since_ms"] = int(since.timestamp() * 1000)
        result: dict[str, Any] = self._call("GET", "ground-truth", params=params)
        return result

    def releases(self, since: date | None = None, until: date | None = None) -> dict[str, Any]:
        """Ground truth of releases dated in [since, until] (default: today): kind and the tracks each released first."""
        params = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
        result: dict[str, Any] = self._call("GET", "releases", params=params)
        return result

    # --- faults and request log ---------------------------------------------------------------------
    def add_fault(
        self,
        method: str,
        path_pattern: str,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        reason: str | None = None,
        delay_s: float = 0.0,
        drop: bool = False,
        malformed: bool = False,
        html: bool = False,
        after: bool = False,
        times: int | None = 1,
    ) -> dict[str, Any]:
        """Answer the next `times` requests matching method ("*" for any) and path_pattern (fnmatch) this way.

        With after=True the endpoint runs first (the action happens) and only its answer is faulted.
        """
        spec = {
            "method": method,
            "path_pattern": path_pattern,
            "status": status,
            "headers": headers or {},
            "body": body,
            "reason": reason,
            "delay_s": delay_s,
            "drop": drop,
            "malformed": malformed,
            "html": html,
            "after": after,
            "times": times,
        }
        result: dict[str, Any] = self._call("POST", "faults", json=spec)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def remove_fault(self, fault_id: int) -> None:
        """Remove one fault rule (its id from add_fault), leaving the others."""
        self._call("DELETE", f"faults/{fault_id}")

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log: seq, at (emulated), method, path, query, status, member, fault, body."""
        result: list[dict[str, Any]] = self._call("GET", "requests", params={"since": since})
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def usage(self) -> dict[str, Any]:
        """Web API calls counted in the rolling 24 h quota and 30 s rate windows."""
        result: dict[str, Any] = self._call("GET", "usage")
        return result

    # --- members ------------------------------------------------------------------------------------
    def members(self) -> list[dict[str, Any]]:
        """Each member: user_id, account_id, display_name, allowlisted, genres."""
        result: list[dict[str, Any]] = self._call("GET", "members")
        return result

    def set_allowlisted(self, user_id: str, allowlisted: bool) -> None:
        self._call("PUT", f"members/{user_id}/allowlisted", json={"allowlisted": allowlisted})

    def revoke(self, user_id: str) -> int:
        """Revoke the member's grants: their refresh tokens answer invalid_grant, access tokens 401."""
        n: int = self._call("POST", f"members/{user_id}/revoke")["revoked_grants"]
        return n

    def delete_playlist(self, playlist_id: str) -> None:
        """Delete a playlist as its owner would in the Spotify app (publishing must create it again)."""
        self._call("DELETE", f"playlists/{playlist_id}")

    def export_zip(self, user_id: str, package: str = "extended") -> bytes:
        """The member's data export before the emulated now: "extended" streaming history or "account" data."""
        data: bytes = self._call("GET", f"members/{user_id}/export.zip", params={"package": package})
        return data

    # --- sign-in ------------------------------------------------------------------------------------
    def authorize(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        state: str,
        code_challenge: str | None = None,
        user_id: str | None = None,
        code_challenge_method: str = "S256",
    ) -> str:
        """Sign `user_id` in without a browser; returns the redirect URL carrying code and state (or error)."""
        params = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "emulator_user": user_id or "",
            "auto": "1",
        }
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method=code_challenge_method)
        response = self._session.get(
            f"{self.base_url}/authorize", params=params, allow_redirects=False, timeout=self.timeout
        )
        if response.status_code != 302:
            raise ControlError(f"/authorize answered {response.status_code}: {response.text[:300]}")
        return response.headers["Location"]

    def sign_in(
        self, user_id: str, redirect_uri: str = "http://127.0.0.1:8000/auth/callback", scope: str = ALL_SCOPES
    ) -> dict[str, Any]:
        """Shortcut for tests: the whole code flow with the app's secret; returns the token response."""
        app = self.app()
        state = secrets.token_urlsafe(8)
        location = self.authorize(app["client_id"], redirect_uri, scope, state, user_id=user_id)
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise ControlError(f"sign-in failed: {location}")
        response = self._session.post(
            f"{self.base_url}/api/token",
            data={"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri},
            auth=(app["client_id"], app["client_secret"]),
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise ControlError(f"/api/token answered {response.status_code}: {response.text[:300]}")
        token: dict[str, Any] = response.json()
        return token

    def authorize_url(self, **params: str) -> str:
        return f"{self.base_url}/authorize?{urlencode(params)}"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
