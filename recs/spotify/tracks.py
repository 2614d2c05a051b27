"""Playability checks: one GET /tracks/{id} in the member's market per open-data track, through the budgeted client."""

from __future__ import annotations

from typing import Any

from recs.core.domain import TrackCheck
from recs.core.payloads import PayloadError, parse_track
from recs.spotify.client import SpotifyApi
from recs.spotify.errors import ErrorKind, SpotifyError

# The budget's lowest priority (recs/usecases/budget.py CEILINGS): a check put off costs a shorter playlist, no data.
PURPOSE = "playable"
# Spotify answers for the market of the token's user: /me no longer says which country that is.
MARKET = "from_token"
NOT_FOUND = "not found on Spotify"


class SpotifyTrackCheck:
    """Is a track playable for this member? One call per track; the caller caches the answer."""

    def __init__(self, api: SpotifyApi, purpose: str = PURPOSE) -> None:
        self.api = api
        self.purpose = purpose

    def __call__(self, spotify_id: str) -> TrackCheck:
        """The check's answer; raises SpotifyError for anything but a definite answer (budget, outage, token)."""
        try:
            body: Any = self.api.call(self.purpose, "GET tracks/{id}", lambda sp: sp.track(spotify_id, market=MARKET))
        except SpotifyError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return TrackCheck(spotify_id, False, NOT_FOUND)
            if exc.kind is ErrorKind.BAD_REQUEST and "id" in exc.message.lower():
                return TrackCheck(spotify_id, False, f"Spotify refused the id: {exc.message}"[:200])
            raise
        try:
            info = parse_track(body)
        except PayloadError as exc:
            raise SpotifyError(ErrorKind.MALFORMED, f"GET tracks/{spotify_id}: {exc}", status=200) from exc
        # With a market, Spotify says whether the track plays there.
        if body.get("is_playable") is False:
            restriction = (body.get("restrictions") or {}).get("reason") if isinstance(body, dict) else None
            reason = "not playable in the member's market" + (f" ({restriction})" if restriction else "")
            return TrackCheck(spotify_id, False, reason, info)
        # Track relinking answers with another id: playable, but its data is not this id's to cache.
        return TrackCheck(spotify_id, True, None, info if info.spotify_id == spotify_id else None)
