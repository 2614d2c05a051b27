"""Saving to one member's Spotify library over the Web API: `PUT /me/library` (the 2026 endpoint), one call."""

from __future__ import annotations

from recs.spotify.client import SpotifyApi

PURPOSE = "save"  # the budget's class for a member's own "save" clicks
# The scope `PUT /me/library` needs for track URIs (openapi.yml lists it beside the follow and playlist ones).
SCOPE = "user-library-modify"
MAX_URIS = 40  # the endpoint takes at most 40 URIs per call


def save_tracks(api: SpotifyApi, uris: list[str]) -> None:
    """Add tracks (spotify:track: URIs) to the member's saved songs; raises SpotifyError when Spotify refuses."""
    if not 0 < len(uris) <= MAX_URIS:
        raise ValueError(f"save takes 1 to {MAX_URIS} URIs, got {len(uris)}")
    joined = ",".join(uris)
    api.call(PURPOSE, "PUT me/library", lambda sp: sp._put("me/library", uris=joined), expect_body=False)
