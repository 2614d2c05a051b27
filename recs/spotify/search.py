"""Track search for name-only tracks: one /search call per name, through the member's budgeted client."""

from __future__ import annotations

from typing import Any

from recs.core.domain import TrackInfo
from recs.core.payloads import parse_track
from recs.spotify.client import SpotifyApi

# Resolving names is the lowest priority: it never takes budget from polling or publishing.
PURPOSE = "other"
LIMIT = 10  # /search answers at most 10 items in development mode


def _quoted(text: str) -> str:
    return text.replace('"', " ").strip()


class SpotifyTrackSearch:
    """A recs.usecases.imports.resolve Search: (artist, title) -> candidate tracks, best first."""

    def __init__(self, api: SpotifyApi, purpose: str = PURPOSE) -> None:
        self.api = api
        self.purpose = purpose

    def __call__(self, artist: str, title: str) -> list[TrackInfo]:
        query = f'track:"{_quoted(title)}" artist:"{_quoted(artist)}"'
        page: Any = self.api.call(self.purpose, "GET search", lambda sp: sp.search(q=query, type="track", limit=LIMIT))
        items = ((page or {}).get("tracks") or {}).get("items") or []
        out: list[TrackInfo] = []
        for item in items:
            try:
                out.append(parse_track(item))
            except ValueError:
                continue  # one odd item must not hide the others
        return out
