"""Reads for one member over the Web API: profile, recently played, saved tracks, followed artists, top items, playlists.

The read side's port, as `SpotifyPlaylists` is the write side's: each method makes one call through the
member's caller (budget, ledger, rate-limit waits), parses the payload with `recs.core.payloads` and turns a
payload that does not parse into one `SpotifyError(MALFORMED)` naming what was rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import spotipy

from recs.core.domain import ArtistInfo, TrackInfo
from recs.core.payloads import (
    Page,
    PayloadError,
    PlaylistEntry,
    PlaylistSummary,
    Profile,
    RecentlyPlayedPage,
    SavedTrack,
    parse_artists,
    parse_page,
    parse_playlist_items,
    parse_playlists,
    parse_profile,
    parse_recently_played,
    parse_saved_tracks,
    parse_tracks,
)
from recs.spotify.errors import ErrorKind, SpotifyError

T = TypeVar("T")

OTHER = "other"  # the budget's class for the sign-in's profile read
POLLING = "polling"  # the budget's priority class for recently played
LIBRARY = "library"  # and for the rest of the library


class Caller(Protocol):
    """Runs one call for the member: *endpoint* ("GET me/tracks") names it in the ledger (SpotifyApi.call)."""

    def __call__(self, purpose: str, endpoint: str, fn: Callable[[spotipy.Spotify], Any]) -> Any: ...


def _parsed(what: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except PayloadError as exc:
        raise SpotifyError(ErrorKind.MALFORMED, f"{what} page rejected: {exc}") from None


def _paged(
    what: str, raw: Any, items: Callable[[Page], list[T]], *, wrapper: str | None = None
) -> tuple[Page, list[T]]:
    def parse() -> tuple[Page, list[T]]:
        page = parse_page(raw, what, wrapper=wrapper)
        return page, items(page)

    return _parsed(what, parse)


class SpotifyLibrary:
    """One member's library reads, each a page (limit at most 50, Spotify's maximum)."""

    def __init__(self, call: Caller) -> None:
        self.call = call

    def profile(self) -> Profile:
        """The member's own profile (GET me): who signed in."""
        raw = self.call(OTHER, "GET me", lambda sp: sp.current_user())
        return _parsed("profile", lambda: parse_profile(raw))

    def recently_played(self, *, limit: int, after_ms: int | None = None) -> RecentlyPlayedPage:
        """The latest plays (Spotify keeps only 50), those after *after_ms* when given."""
        params: dict[str, Any] = {"limit": limit}
        if after_ms is not None:
            params["after"] = after_ms
        raw = self.call(POLLING, "GET me/player/recently-played", lambda sp: sp.current_user_recently_played(**params))
        return _parsed("recently played", lambda: parse_recently_played(raw))

    def saved_tracks(self, *, limit: int, offset: int) -> tuple[Page, list[SavedTrack]]:
        raw = self.call(LIBRARY, "GET me/tracks", lambda sp: sp.current_user_saved_tracks(limit=limit, offset=offset))
        return _paged("saved tracks", raw, parse_saved_tracks)

    def followed_artists(self, *, limit: int, after: str | None) -> tuple[Page, list[ArtistInfo]]:
        raw = self.call(
            LIBRARY, "GET me/following", lambda sp: sp.current_user_followed_artists(limit=limit, after=after)
        )
        return _paged("followed artists", raw, parse_artists, wrapper="artists")

    def top_tracks(self, *, limit: int, time_range: str) -> list[TrackInfo]:
        raw = self.call(
            LIBRARY, "GET me/top/tracks", lambda sp: sp.current_user_top_tracks(limit=limit, time_range=time_range)
        )
        return _paged("top tracks", raw, parse_tracks)[1]

    def top_artists(self, *, limit: int, time_range: str) -> list[ArtistInfo]:
        raw = self.call(
            LIBRARY, "GET me/top/artists", lambda sp: sp.current_user_top_artists(limit=limit, time_range=time_range)
        )
        return _paged("top artists", raw, parse_artists)[1]

    def playlists(self, *, limit: int, offset: int) -> tuple[Page, list[PlaylistSummary]]:
        raw = self.call(LIBRARY, "GET me/playlists", lambda sp: sp.current_user_playlists(limit=limit, offset=offset))
        return _paged("playlists", raw, parse_playlists)

    def playlist_items(self, playlist_id: str, *, limit: int, offset: int) -> tuple[Page, list[PlaylistEntry]]:
        """Tracks of a playlist from *offset* (episodes left out), with their positions."""
        raw = self.call(
            LIBRARY,
            "GET playlists/{id}/items",
            lambda sp: sp.playlist_items(playlist_id, limit=limit, offset=offset, additional_types=("track",)),
        )
        return _paged("playlist items", raw, lambda page: parse_playlist_items(page, offset))
