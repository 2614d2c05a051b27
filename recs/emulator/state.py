"""In-memory state of the emulated platform: clock, household, registered app, tokens, faults, limits and request log."""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from recs.emulator.catalog import Catalog, generate_catalog
from recs.emulator.household import DAY_MS, Household, Listener, Play, from_ms, to_ms
from recs.emulator.releases import ReleaseStream

ACCESS_TOKEN_TTL_S = 3600
CODE_TTL_MS = 10 * 60_000
DEFAULT_START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RATE_WINDOW_MS = 30_000
QUOTA_WINDOW_MS = DAY_MS


class EmulatorError(ValueError):
    """A control request the emulator cannot honour; the message names what is wrong."""


@dataclass
class AuthCode:
    user_id: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    created_ms: int
    used: bool = False


@dataclass
class Grant:
    """One authorisation by a member: refresh tokens of it expire 6 months after authorised_ms."""

    user_id: str
    scope: str
    authorised_ms: int
    expires_ms: int
    pkce: bool
    revoked: bool = False


@dataclass
class AccessToken:
    user_id: str
    scope: str
    expires_ms: int
    grant: Grant


@dataclass
class Fault:
    id: int
    method: str
    path_pattern: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    reason: str | None = None
    delay_s: float = 0.0
    drop: bool = False
    malformed: bool = False
    html: bool = False
    # Applied after the endpoint ran: the action happens (a playlist is created, items are written)
    # and only the answer is delayed, dropped or replaced, as when a client times out too early.
    after: bool = False
    times: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method == "*" or self.method.upper() == method.upper()) and fnmatchcase(path, self.path_pattern)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path_pattern": self.path_pattern,
            "status": self.status,
            "headers": self.headers,
            "body": self.body,
            "reason": self.reason,
            "delay_s": self.delay_s,
            "drop": self.drop,
            "malformed": self.malformed,
            "html": self.html,
            "after": self.after,
            "times": self.times,
            "hits": self.hits,
        }


def add_months(moment_ms: int, months: int) -> int:
    moment = from_ms(moment_ms)
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, [31, 29 if year % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
    return to_ms(moment.replace(year=year, month=month, day=day))


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Emulator:
    """Everything the emulated Spotify knows; every public method takes the lock, so request threads may share it."""

    def __init__(
        self,
        seed: int = 0,
        members: int = 5,
        *,
        quota_per_day: int | None = 1000,
        rate_limit_per_30s: int | None = 150,
        history_days: int = 365,
        start: datetime = DEFAULT_START,
        allowlisted: int | None = None,
        redirect_uris: tuple[str, ...] | None = None,
        rotate_refresh_tokens: bool = False,
        listenbrainz_dir: Path | None = None,
        wall_clock: Callable[[], float] | None = None,
        artists_per_genre: int = 30,
    ) -> None:
        # None: the clock moves only through advance(). A function giving wall-clock seconds (time.time, or a
        # test's fake): emulated time follows it from `start`, so windows slide and Retry-After clears on its own.
        self.wall_clock = wall_clock
        # a folder of ListenBrainz dumps (as write_community_dumps lays it out) served as a mirror
        self.listenbrainz_dir = listenbrainz_dir
        for name, value in (("quota_per_day", quota_per_day), ("rate_limit_per_30s", rate_limit_per_30s)):
            if value is not None and value < 1:
                raise EmulatorError(f"{name} must be at least 1 (or None for no limit), got {value}")
        if history_days < 0:
            raise EmulatorError(f"history_days must not be negative, got {history_days}")
        if start.tzinfo is None:
            raise EmulatorError(f"start must be timezone-aware (UTC), got naive {start.isoformat()}")
        if artists_per_genre < 1:
            raise EmulatorError(f"artists_per_genre must be at least 1, got {artists_per_genre}")
        # the catalogue's size: 12 genres of this many artists (more for a household that loves hundreds each)
        self.artists_per_genre = artists_per_genre
        self.lock = threading.RLock()
        self.quota_per_day = quota_per_day
        self.rate_limit_per_30s = rate_limit_per_30s
        self.history_days = history_days
        self.start = start
        self.redirect_uris = redirect_uris
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self._allowlisted = allowlisted
        self.reset(seed, members)

    # --- lifecycle ----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, members: int | None = None) -> None:
        """Regenerate catalogue, household, app credentials; forget tokens, faults, log and quota use."""
        with self.lock:
            if seed is not None:
                self.seed = seed
            if members is not None:
                if not 1 <= members <= 50:
                    raise EmulatorError(f"members must be between 1 and 50, got {members}")
                self.n_members = members
            rng = random.Random(f"app/{self.seed}")
            self.client_id = "".join(rng.choices("0123456789abcdef", k=32))
            self.client_secret = "".join(rng.choices("0123456789abcdef", k=32))
            self.now_ms = to_ms(self.start)
            self._anchor = (self.wall_clock(), self.now_ms) if self.wall_clock is not None else None
            self.catalog: Catalog = generate_catalog(self.seed, self.artists_per_genre)
            allow = 5 if self._allowlisted is None else self._allowlisted
            self.household = Household(self.catalog, self.seed, self.n_members, self.now_ms, self.history_days, allow)
            self.household.generate_until(self.now_ms)
            self.releases = ReleaseStream(self.catalog, self.seed, self.now_ms)
            self.releases.generate_until(self.now_ms)
            self.codes: dict[str, AuthCode] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, Grant] = {}
            self.faults: list[Fault] = []
            self._fault_seq = 0
            self.created_playlists = 0
            self.log: list[dict[str, Any]] = []
            self._quota: deque[int] = deque()
            self._rate: deque[int] = deque()

    # --- clock --------------------------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the emulated clock forward; members keep listening meanwhile. Returns plays that became visible."""
        if seconds < 0:
            raise EmulatorError(f"the clock only moves forward; seconds={seconds}")
        with self.lock:
            self.follow_wall_clock()
            before = {u: len(self.household.plays_until(u, self.now_ms)) for u in self.household.members}
            self.now_ms += int(seconds * 1000)
            self.household.generate_until(self.now_ms)
            self.releases.generate_until(self.now_ms)
            if self.wall_clock is not None:
                # Real time goes on from the moved clock: a jump ahead stays ahead.
                self._anchor = (self.wall_clock(), self.now_ms)
            return sum(len(self.household.plays_until(u, self.now_ms)) - n for u, n in before.items())

    def follow_wall_clock(self) -> None:
        """In wall-clock mode, bring emulated time up to the real time passed (members listen meanwhile); else nothing."""
        if self.wall_clock is None or self._anchor is None:
            return
        with self.lock:
            wall_then, emulated_then = self._anchor
            target = emulated_then + int((self.wall_clock() - wall_then) * 1000)
            if target > self.now_ms:  # a wall clock stepped backwards leaves emulated time where it is
                self.now_ms = target
                self.household.generate_until(target)
                self.releases.generate_until(target)

    # --- members ------------------------------------------------------------------------------------
    def member(self, user_id: str) -> Listener:
        m = self.household.members.get(user_id)
        if m is None:
            raise EmulatorError(f"no emulated member with user id {user_id!r}")
        return m

    def set_allowlisted(self, user_id: str, allowlisted: bool) -> None:
        with self.lock:
            self.member(user_id).allowlisted = allowlisted

    def add_plays(self, user_id: str, plays: list[dict[str, Any]]) -> int:
        """Add plays by hand (each: track_id, played_at ISO or played_at_ms, optional ms_played, context_uri, visible_at_ms)."""
        with self.lock:
            self.member(user_id)
            added = 0
            for raw in plays:
                track_id = str(raw.get("track_id", "")).removeprefix("spotify:track:")
                if track_id not in self.catalog.tracks:
                    raise EmulatorError(f"unknown track id {track_id!r} in add_plays")
                if "played_at_ms" in raw:
                    at = int(raw["played_at_ms"])
                elif "played_at" in raw:
                    try:
                        at = to_ms(datetime.fromisoformat(str(raw["played_at"]).replace("Z", "+00:00")))
                    except ValueError as exc:
                        raise EmulatorError(
                            f"played_at {raw['played_at']!r} is not an ISO-8601 time with a zone: {exc}"
                        ) from None
                else:
                    at = self.now_ms
                ms_played = raw.get("ms_played", self.catalog.tracks[track_id].duration_ms)
                if not isinstance(ms_played, int) or isinstance(ms_played, bool) or ms_played < 0:
                    raise EmulatorError(f"ms_played must be a non-negative integer, got {ms_played!r}")
                uri = raw.get("context_uri")
                if uri is not None and (
                    not isinstance(uri, str) or len(uri.split(":")) < 3 or not uri.startswith("spotify:")
                ):
                    raise EmulatorError(f"context_uri must be a Spotify URI like spotify:album:<id>, got {uri!r}")
                ctx_type = uri.split(":")[1] if uri else None
                play = Play(at, user_id, track_id, ms_played, ctx_type, uri, skipped=bool(raw.get("skipped", False)))
                if "visible_at_ms" in raw:
                    # A device with a wrong clock: the platform shows the play from then on, whatever its played_at.
                    visible = raw["visible_at_ms"]
                    if not isinstance(visible, int) or isinstance(visible, bool):
                        raise EmulatorError(f"visible_at_ms must be an integer (Unix ms), got {visible!r}")
                    play.visible_ms = visible
                added += self.household.add_play(play)
            return added

    # --- OAuth --------------------------------------------------------------------------------------
    def check_redirect_uri(self, uri: str) -> str | None:
        """None when acceptable, else why not (Spotify's rule since 2025: https, or loopback IP literals)."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            return "malformed redirect URI"
        if parts.hostname == "localhost":
            return "localhost is not allowed as redirect URI; use 127.0.0.1 or [::1]"
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1"):
            return "insecure redirect URI: use https, or http with a loopback IP literal"
        if parts.scheme not in ("http", "https"):
            return "redirect URI must be https or http loopback"
        if parts.scheme == "http" and port is None:
            return "loopback redirect URI needs an explicit port"
        if self.redirect_uris is not None and uri not in self.redirect_uris:
            return "redirect URI is not registered for this app"
        return None

    def issue_code(
        self, user_id: str, client_id: str, redirect_uri: str, scope: str, code_challenge: str | None
    ) -> str:
        with self.lock:
            code = "AQ" + secrets.token_urlsafe(48)
            self.codes[code] = AuthCode(user_id, client_id, redirect_uri, scope, code_challenge, self.now_ms)
            return code

    def issue_app_token(self) -> dict[str, Any]:
        """The client-credentials grant: a token of the app itself (no member, no scope, no refresh token)."""
        with self.lock:
            out = self._issue_tokens(Grant("", "", self.now_ms, self.now_ms, pkce=False), with_refresh=False)
            del out["scope"]
            return out

    def _issue_tokens(self, grant: Grant, with_refresh: bool) -> dict[str, Any]:
        access = "BQ" + secrets.token_urlsafe(60)
        self.access_tokens[access] = AccessToken(
            grant.user_id, grant.scope, self.now_ms + ACCESS_TOKEN_TTL_S * 1000, grant
        )
        out: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL_S,
            "scope": grant.scope,
        }
        if with_refresh:
            refresh = "AQ" + secrets.token_urlsafe(96)
            self.refresh_tokens[refresh] = grant
            out["refresh_token"] = refresh
        return out

    def exchange_code(
        self, code: str, redirect_uri: str, client_id: str, verifier: str | None, client_authenticated: bool
    ) -> dict[str, Any]:
        """Raises OAuthError; else the token response."""
        with self.lock:
            record = self.codes.get(code)
            if record is None or record.used or self.now_ms - record.created_ms > CODE_TTL_MS:
                raise OAuthError("invalid_grant", "Invalid authorization code")
            record.used = True
            if record.client_id != client_id:
                raise OAuthError("invalid_grant", "Invalid authorization code")
            if record.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "Invalid redirect URI")
            if record.code_challenge is not None:
                if not verifier or pkce_challenge(verifier) != record.code_challenge:
                    raise OAuthError("invalid_grant", "code_verifier was incorrect")
            elif not client_authenticated:
                raise OAuthError("invalid_client", "Invalid client secret")
            grant = Grant(
                record.user_id, record.scope, self.now_ms, add_months(self.now_ms, 6), pkce=not client_authenticated
            )
            return self._issue_tokens(grant, with_refresh=True)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        with self.lock:
            grant = self.refresh_tokens.get(refresh_token)
            if grant is None:
                raise OAuthError("invalid_grant", "Invalid refresh token")
            if grant.revoked:
                raise OAuthError("invalid_grant", "Refresh token revoked")
            if self.now_ms >= grant.expires_ms:
                raise OAuthError("invalid_grant", "Refresh token expired")
            # PKCE clients get a new refresh token each time (the old one keeps working until revoked);
            # confidential clients get none back, so clients must keep the one they have
            rotate = grant.pkce or self.rotate_refresh_tokens
            return self._issue_tokens(grant, with_refresh=rotate)

    def delete_playlist(self, playlist_id: str) -> None:
        """The owner deletes (unfollows) a playlist in their Spotify app; it is gone from every list."""
        with self.lock:
            if playlist_id not in self.household.playlists:
                raise EmulatorError(f"no playlist with id {playlist_id!r}")
            self.household.delete_playlist(playlist_id)

    def revoke(self, user_id: str) -> int:
        """Revoke every grant of a member (as when they remove the app from their account)."""
        with self.lock:
            self.member(user_id)
            n = 0
            for grant in {id(g): g for g in self.refresh_tokens.values() if g.user_id == user_id}.values():
                grant.revoked = True
                n += 1
            for token in [t for t, a in self.access_tokens.items() if a.user_id == user_id]:
                del self.access_tokens[token]
            return n

    def token_owner(self, token: str) -> AccessToken | str:
        """The access token's record, or the 401 message."""
        record = self.access_tokens.get(token)
        if record is None:
            return "Invalid access token"
        if record.grant.revoked:
            return "Invalid access token"
        if self.now_ms >= record.expires_ms:
            return "The access token expired"
        return record

    # --- faults, limits and log ---------------------------------------------------------------------
    def add_fault(self, spec: dict[str, Any]) -> Fault:
        with self.lock:
            if not spec.get("path_pattern"):
                raise EmulatorError(
                    "a fault needs path_pattern (an fnmatch pattern over the request path, e.g. /v1/me/*)"
                )
            known = set(Fault.__dataclass_fields__) - {"id", "hits"}
            unknown = set(spec) - known
            if unknown:
                raise EmulatorError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
            status = spec.get("status")
            if status is not None and not 100 <= int(status) <= 599:
                raise EmulatorError(f"fault status must be an HTTP status, got {status!r}")
            times = spec.get("times", 1)
            if times is not None and int(times) < 1:
                raise EmulatorError(f"fault times must be at least 1 (or null for always), got {times!r}")
            self._fault_seq += 1
            fault = Fault(
                id=self._fault_seq,
                method=str(spec.get("method", "*")),
                path_pattern=str(spec["path_pattern"]),
                status=int(status) if status is not None else None,
                headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
                body=spec.get("body"),
                reason=spec.get("reason"),
                delay_s=float(spec.get("delay_s") or 0.0),
                drop=bool(spec.get("drop", False)),
                malformed=bool(spec.get("malformed", False)),
                html=bool(spec.get("html", False)),
                after=bool(spec.get("after", False)),
                times=int(times) if times is not None else None,
            )
            self.faults.append(fault)
            return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
            return None

    def charge(self) -> tuple[int, str | None] | None:
        """Count one Web API call against the limits; (retry_after_s, reason) when it must be refused."""
        with self.lock:
            now = self.now_ms
            self._trim_windows()
            if self.quota_per_day is not None and len(self._quota) >= self.quota_per_day:
                oldest = self._quota[len(self._quota) - self.quota_per_day]
                return max(1, -(-(oldest + QUOTA_WINDOW_MS - now) // 1000)), "QUOTA_EXCEEDED"
            if self.rate_limit_per_30s is not None and len(self._rate) >= self.rate_limit_per_30s:
                oldest = self._rate[len(self._rate) - self.rate_limit_per_30s]
                return max(1, -(-(oldest + RATE_WINDOW_MS - now) // 1000)), None
            self._rate.append(now)
            self._quota.append(now)
            return None

    def usage(self) -> dict[str, Any]:
        with self.lock:
            self._trim_windows()
            return {
                "quota_per_day": self.quota_per_day,
                "used_24h": len(self._quota),
                "rate_limit_per_30s": self.rate_limit_per_30s,
                "used_30s": len(self._rate),
            }

    def _trim_windows(self) -> None:
        now = self.now_ms
        while self._rate and self._rate[0] <= now - RATE_WINDOW_MS:
            self._rate.popleft()
        while self._quota and self._quota[0] <= now - QUOTA_WINDOW_MS:
            self._quota.popleft()

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            entry["seq"] = len(self.log)
            self.log.append(entry)


class OAuthError(Exception):
    """An accounts-service error: RFC 6749 error code plus description."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
