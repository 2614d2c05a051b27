"""Web API object shapes (track, album, artist, user, playlist, paging) as the 2026 dev-mode API returns them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from recs.emulator.catalog import Album, Artist, Catalog, Track
from recs.emulator.household import SPOTIFY_USER, Episode, Listener, Playlist, PlaylistItem, iso_s

OPEN = "https://open.spotify.com"


class Shapes:
    """Builds payloads whose links (href, next, images) point at this emulator's base URL."""

    def __init__(
        self,
        catalog: Catalog,
        base_url: str,
        albums: Mapping[str, Album] | None = None,
        tracks: Mapping[str, Track] | None = None,
    ) -> None:
        self.catalog = catalog
        # the catalogue's albums and tracks plus those released since (recs.emulator.releases)
        self.albums = catalog.albums if albums is None else albums
        self.tracks = catalog.tracks if tracks is None else tracks
        self.base = base_url.rstrip("/") + "/"
        self.api = self.base + "v1/"

    def images(self, entity_id: str) -> list[dict[str, Any]]:
        return [{"url": f"{self.base}image/{entity_id}?size={s}", "height": s, "width": s} for s in (640, 300, 64)]

    def simple_artist(self, a: Artist) -> dict[str, Any]:
        return {
            "external_urls": {"spotify": f"{OPEN}/artist/{a.id}"},
            "href": f"{self.api}artists/{a.id}",
            "id": a.id,
            "name": a.name,
            "type": "artist",
            "uri": a.uri,
        }

    def artist(self, a: Artist) -> dict[str, Any]:
        # popularity and followers are gone for dev-mode apps; genres is deprecated but still sent
        return {**self.simple_artist(a), "genres": [a.genre], "images": self.images(a.id)}

    def simple_album(self, al: Album) -> dict[str, Any]:
        return {
            "album_type": al.album_type,
            "total_tracks": len(al.track_ids),
            # required by the published schema although Spotify stopped filling it (2026-02)
            "available_markets": [],
            "external_urls": {"spotify": f"{OPEN}/album/{al.id}"},
            "href": f"{self.api}albums/{al.id}",
            "id": al.id,
            "images": self.images(al.id),
            "name": al.name,
            "release_date": al.release_date,
            "release_date_precision": "day",
            "type": "album",
            "uri": al.uri,
            "artists": [self.simple_artist(self.catalog.artists[al.artist_id])],
        }

    def simple_track(self, t: Track) -> dict[str, Any]:
        return {
            "artists": [self.simple_artist(self.catalog.artists[a]) for a in t.artist_ids],
            "disc_number": t.disc_number,
            "duration_ms": t.duration_ms,
            "explicit": t.explicit,
            "external_urls": {"spotify": f"{OPEN}/track/{t.id}"},
            "href": f"{self.api}tracks/{t.id}",
            "id": t.id,
            "is_local": False,
            "is_playable": True,
            "name": t.name,
            "track_number": t.track_number,
            "type": "track",
            "uri": t.uri,
        }

    def track(self, t: Track) -> dict[str, Any]:
        return {
            **self.simple_track(t),
            "album": self.simple_album(self.albums[t.album_id]),
            "external_ids": {"isrc": t.isrc},
        }

    def album(self, al: Album, tracks_page: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.simple_album(al),
            "tracks": tracks_page,
            "copyrights": [{"text": f"(C) {al.release_date[:4]} {al.label}", "type": "C"}],
            "external_ids": {"upc": al.upc},
            "genres": [],
            "label": al.label,
            # required by the published schema; Spotify removed it for dev-mode apps, so it is always 0 here
            "popularity": 0,
        }

    def user_ref(self, user_id: str) -> dict[str, Any]:
        return {
            "external_urls": {"spotify": f"{OPEN}/user/{user_id}"},
            "href": f"{self.api}users/{user_id}",
            "id": user_id,
            "type": "user",
            "uri": f"spotify:user:{user_id}",
        }

    def me(self, m: Listener) -> dict[str, Any]:
        # country, email, product, followers and explicit_content are gone from /me (2026)
        return {
            **self.user_ref(m.user_id),
            "account_id": m.account_id,
            "display_name": m.display_name,
            "images": self.images(m.user_id)[1:2],
        }

    def owner(self, m: Listener | None, user_id: str) -> dict[str, Any]:
        name = m.display_name if m else ("Spotify" if user_id == SPOTIFY_USER else None)
        return {**self.user_ref(user_id), "display_name": name}

    def episode(self, ep: Episode) -> dict[str, Any]:
        show = {
            "available_markets": [],
            "copyrights": [],
            "description": f"{ep.show_name} by {ep.publisher}",
            "html_description": f"<p>{ep.show_name} by {ep.publisher}</p>",
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/show/{ep.show_id}"},
            "href": f"{self.api}shows/{ep.show_id}",
            "id": ep.show_id,
            "images": self.images(ep.show_id),
            "is_externally_hosted": False,
            "languages": ["en"],
            "media_type": "audio",
            "name": ep.show_name,
            "publisher": ep.publisher,
            "total_episodes": 8,
            "type": "show",
            "uri": f"spotify:show:{ep.show_id}",
        }
        return {
            "audio_preview_url": None,
            "description": ep.name,
            "html_description": f"<p>{ep.name}</p>",
            "duration_ms": ep.duration_ms,
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/episode/{ep.id}"},
            "href": f"{self.api}episodes/{ep.id}",
            "id": ep.id,
            "images": self.images(ep.id),
            "is_externally_hosted": False,
            "is_playable": True,
            "languages": ["en"],
            "name": ep.name,
            "release_date": ep.release_date,
            "release_date_precision": "day",
            "type": "episode",
            "uri": f"spotify:episode:{ep.id}",
            "show": show,
        }

    @staticmethod
    def local_track(artist: str, album: str, title: str, seconds: int) -> dict[str, Any]:
        """A file from the member's device, as Spotify sends it: no ids, no links, uri spotify:local:…."""
        parts = [urlencode({"q": x})[2:] for x in (artist, album, title)]
        return {
            "album": {
                "album_type": None,
                "artists": [],
                "available_markets": [],
                "external_urls": {},
                "href": None,
                "id": None,
                "images": [],
                "name": album,
                "release_date": None,
                "release_date_precision": None,
                "type": "album",
                "uri": None,
            },
            "artists": [{"external_urls": {}, "href": None, "id": None, "name": artist, "type": "artist", "uri": None}],
            "available_markets": [],
            "disc_number": 0,
            "duration_ms": seconds * 1000,
            "explicit": False,
            "external_ids": {},
            "external_urls": {},
            "href": None,
            "id": None,
            "is_local": True,
            "name": title,
            "popularity": 0,
            "preview_url": None,
            "track_number": 0,
            "type": "track",
            "uri": f"spotify:local:{parts[0]}:{parts[1]}:{parts[2]}:{seconds}",
        }

    def playlist_item(self, item: PlaylistItem, episodes: dict[str, Episode]) -> dict[str, Any]:
        body: dict[str, Any] | None
        if item.kind == "episode":
            body = self.episode(episodes[item.track_id])
        elif item.kind == "local" and item.local is not None:
            body = self.local_track(*item.local)
        elif item.kind == "null":
            body = None  # a track or episode Spotify no longer has
        else:
            body = self.track(self.tracks[item.track_id])
        return {
            "added_at": iso_s(item.added_at_ms),
            "added_by": self.user_ref(item.added_by),
            "is_local": item.kind == "local",
            "item": body,
        }

    def simple_playlist(self, p: Playlist, owner: Listener | None) -> dict[str, Any]:
        return {
            "collaborative": p.collaborative,
            "description": p.description,
            "external_urls": {"spotify": f"{OPEN}/playlist/{p.id}"},
            "href": f"{self.api}playlists/{p.id}",
            "id": p.id,
            "images": self.images(p.id) if p.items else [],
            "name": p.name,
            "owner": self.owner(owner, p.owner_id),
            "public": p.public,
            "snapshot_id": p.snapshot_id,
            "items": {"href": f"{self.api}playlists/{p.id}/items", "total": len(p.items)},
            "type": "playlist",
            "uri": f"spotify:playlist:{p.id}",
        }

    def paging(
        self, path: str, items: list[Any], total: int, limit: int, offset: int, extra: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """An offset paging object with absolute href/next/previous links to this emulator."""
        params = dict(extra or {})

        def link(off: int) -> str:
            return f"{self.api}{path}?{urlencode({**params, 'offset': off, 'limit': limit})}"

        return {
            "href": link(offset),
            "items": items,
            "limit": limit,
            "next": link(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        }
