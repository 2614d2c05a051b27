"""Release Radar's reads: an artist's albums newest first and an album's tracks, through the member's budgeted client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recs.core.radar import FETCH_GROUPS, AlbumRef, ReleasedTrack
from recs.spotify.client import CallsApi

# The lowest priority of the budget: the radar stops first (recs/usecases/budget.py CEILINGS).
PURPOSE = "radar"
ALBUMS_LIMIT = 10  # GET /artists/{id}/albums answers at most 10 in development mode
TRACKS_LIMIT = 50


def _ids(artists: Any) -> tuple[str, ...]:
    return tuple(str(a["id"]) for a in artists or () if isinstance(a, dict) and a.get("id"))


def _names(artists: Any) -> tuple[str, ...]:
    return tuple(str(a.get("name") or "") for a in artists or () if isinstance(a, dict) and a.get("id"))


class SpotifyReleases:
    """A recs.core.radar.ReleasesSource over the Web API."""

    def __init__(self, api: CallsApi, purpose: str = PURPOSE) -> None:
        self.api = api
        self.purpose = purpose

    def artist_albums(self, artist_id: str, offset: int) -> tuple[list[AlbumRef], bool]:
        page: Any = self.api.call(
            self.purpose,
            "GET artists/{id}/albums",
            lambda sp: sp.artist_albums(
                artist_id, include_groups=",".join(FETCH_GROUPS), limit=ALBUMS_LIMIT, offset=offset
            ),
        )
        items = (page or {}).get("items") or []
        out = [
            AlbumRef(
                str(a["id"]),
                str(a.get("name") or ""),
                str(a.get("release_date") or ""),
                str(a.get("album_group") or a.get("album_type") or ""),
                _ids(a.get("artists")),
            )
            for a in items
            if isinstance(a, dict) and a.get("id")
        ]
        return out, bool((page or {}).get("next"))

    @staticmethod
    def _tracks_page(album_id: str, offset: int) -> Callable[[Any], Any]:
        return lambda sp: sp.album_tracks(album_id, limit=TRACKS_LIMIT, offset=offset)

    def album_tracks(self, album_id: str) -> list[ReleasedTrack]:
        out: list[ReleasedTrack] = []
        offset = 0
        while True:
            page: Any = self.api.call(self.purpose, "GET albums/{id}/tracks", self._tracks_page(album_id, offset))
            items = (page or {}).get("items") or []
            for t in items:
                if isinstance(t, dict) and t.get("id"):
                    isrc = (t.get("external_ids") or {}).get("isrc")
                    artists = t.get("artists")
                    name = str(t.get("name") or "")
                    out.append(ReleasedTrack(str(t["id"]), name, _ids(artists), isrc, _names(artists)))
            offset += len(items)
            if not items or not (page or {}).get("next"):
                return out
