"""Playlist writes for one member over the Web API: find, create, replace and append items, update the description."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import spotipy

from recs.core.domain import TrackCheck
from recs.spotify.client import SpotifyApi
from recs.spotify.errors import ErrorKind, SpotifyError
from recs.spotify.tracks import SpotifyTrackCheck

PURPOSE = "publishing"  # the budget's priority class for these calls
CHUNK = 100  # the Web API takes at most 100 URIs per write


class ItemsRejected(Exception):
    """Spotify refused an item write because of what it holds (a track id that does not exist, a bad URI).

    Spotify refuses the whole request and does not say which item: the caller narrows it down.
    """


def _about_items(exc: SpotifyError) -> bool:
    message = exc.message.lower()
    return exc.kind is ErrorKind.BAD_REQUEST and (
        "non-existing id" in message or ("invalid" in message and ("id" in message or "uri" in message))
    )


def _next_page(page: dict[str, Any], sp: spotipy.Spotify) -> Any:
    return sp.next(page)


class SpotifyPlaylists:
    """The PlaylistPort of recs.usecases.playlists, over one member's SpotifyApi (every call counted as 'publishing')."""

    def __init__(self, api: SpotifyApi, purpose: str = PURPOSE) -> None:
        self.api = api
        self.purpose = purpose
        self.calls = 0  # Web API calls made through this port, for the job's log line
        self._check = SpotifyTrackCheck(api)

    def check_track(self, spotify_id: str) -> TrackCheck:
        """Whether a track plays in the member's market (budget purpose 'playable', the lowest priority)."""
        self.calls += 1
        return self._check(spotify_id)

    def _call(self, endpoint: str, fn: Callable[[spotipy.Spotify], Any], *, expect_body: bool = True) -> Any:
        self.calls += 1
        return self.api.call(self.purpose, endpoint, fn, expect_body=expect_body)

    def owned_playlists(self) -> dict[str, str]:
        """Id to description of the playlists in the member's library (a deleted or unfollowed one is not there)."""
        found: dict[str, str] = {}
        page: Any = self._call("GET me/playlists", lambda sp: sp.current_user_playlists(limit=50))
        while page:
            found.update((item["id"], item.get("description") or "") for item in page.get("items") or [] if item)
            if not page.get("next"):
                break
            page = self._call("GET me/playlists", partial(_next_page, page))
        return found

    def create(self, name: str, description: str, public: bool) -> str:
        created: Any = self._call(
            "POST me/playlists",
            lambda sp: sp.current_user_playlist_create(name, public=public, description=description),
        )
        return str(created["id"])

    def replace(self, playlist_id: str, uris: list[str]) -> None:
        if len(uris) > CHUNK:
            raise ValueError(f"replace takes at most {CHUNK} URIs, got {len(uris)}")
        self._write(
            "PUT playlists/{id}/items",
            lambda sp: sp._put(f"playlists/{playlist_id}/items", payload={"uris": uris}),
        )

    def append(self, playlist_id: str, uris: list[str]) -> None:
        if len(uris) > CHUNK:
            raise ValueError(f"append takes at most {CHUNK} URIs, got {len(uris)}")
        # The documented {"uris": [...]} body (spotipy's playlist_add_items posts a bare array).
        self._write(
            "POST playlists/{id}/items",
            lambda sp: sp._post(f"playlists/{playlist_id}/items", payload={"uris": uris}),
        )

    def _write(self, endpoint: str, fn: Callable[[spotipy.Spotify], Any]) -> None:
        try:
            self._call(endpoint, fn)
        except SpotifyError as exc:
            if _about_items(exc):
                raise ItemsRejected(exc.message) from exc
            raise

    def describe(self, playlist_id: str, description: str) -> None:
        self._call(
            "PUT playlists/{id}",
            lambda sp: sp.playlist_change_details(playlist_id, description=description),
            expect_body=False,
        )
