"""Pure parsing of Spotify Web API JSON into domain objects (no I/O): tracks, plays, library pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recs.core.domain import AlbumInfo, ArtistInfo, PlayRecord, TrackInfo


class PayloadError(ValueError):
    """A Spotify response does not have the shape the API documents; the page is rejected whole."""


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_timestamp(value: Any, where: str) -> datetime:
    """An ISO-8601 timestamp ('2026-01-02T03:04:05.678Z') as an aware UTC datetime."""
    text = _str(value, where)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where}: not an ISO-8601 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{where}: timestamp without a time zone: {text!r}")
    return parsed.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Unix milliseconds of an aware datetime (the recently-played cursor unit)."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _image(obj: Mapping[str, Any]) -> str | None:
    images = obj.get("images")
    if isinstance(images, list) and images and isinstance(images[0], Mapping):
        return _opt_str(images[0].get("url"))
    return None


def parse_artist(value: Any, where: str = "artist") -> ArtistInfo:
    obj = _obj(value, where)
    return ArtistInfo(
        spotify_id=_opt_str(obj.get("id")),
        name=_str(obj.get("name"), f"{where}.name"),
        image_url=_image(obj),
    )


def parse_album(value: Any, where: str = "album") -> AlbumInfo | None:
    if value is None:
        return None
    obj = _obj(value, where)
    name = _opt_str(obj.get("name"))
    if name is None:
        return None
    return AlbumInfo(
        spotify_id=_opt_str(obj.get("id")),
        name=name,
        release_date=_opt_str(obj.get("release_date")),
        image_url=_image(obj),
    )


def parse_track(value: Any, where: str = "track") -> TrackInfo:
    """A full track object; raises PayloadError when it lacks an id or a name."""
    obj = _obj(value, where)
    artists_raw = obj.get("artists") or []
    artists = tuple(parse_artist(a, f"{where}.artists[{i}]") for i, a in enumerate(_list(artists_raw, where)))
    duration = obj.get("duration_ms")
    explicit = obj.get("explicit")
    ext = obj.get("external_ids")
    isrc = _opt_str(ext.get("isrc")) if isinstance(ext, Mapping) else None
    return TrackInfo(
        spotify_id=_str(obj.get("id"), f"{where}.id"),
        name=_str(obj.get("name"), f"{where}.name"),
        artists=artists,
        album=parse_album(obj.get("album"), f"{where}.album"),
        duration_ms=duration if isinstance(duration, int) and not isinstance(duration, bool) else None,
        isrc=isrc,
        explicit=explicit if isinstance(explicit, bool) else None,
    )


def _is_music_track(value: Any) -> bool:
    """Episodes, local files and unavailable (null) tracks are not part of the music catalogue."""
    if not isinstance(value, Mapping):
        return False
    if value.get("type", "track") != "track" or value.get("is_local"):
        return False
    return bool(value.get("id"))


@dataclass(frozen=True)
class RecentlyPlayedPage:
    plays: tuple[PlayRecord, ...]
    # How many items the page held (a full page of 50 may hide older plays).
    item_count: int
    # The `cursors.after` value Spotify returned (Unix ms), if any.
    cursor_after: int | None


def parse_recently_played(payload: Any) -> RecentlyPlayedPage:
    """`GET /me/player/recently-played`: the whole page or a PayloadError (never a partial page)."""
    obj = _obj(payload, "recently-played")
    items = _list(obj.get("items"), "recently-played.items")
    plays = []
    for i, raw in enumerate(items):
        item = _obj(raw, f"items[{i}]")
        played_at = parse_timestamp(item.get("played_at"), f"items[{i}].played_at")
        track_raw = item.get("track")
        if not _is_music_track(track_raw):
            continue
        context = item.get("context")
        context_uri = _opt_str(context.get("uri")) if isinstance(context, Mapping) else None
        track = parse_track(track_raw, f"items[{i}].track")
        plays.append(
            PlayRecord(
                played_at=played_at,
                track=track,
                source="api",
                # The API does not say how much was played (only that it was over 30 s).
                ms_played=None,
                context_uri=context_uri,
            )
        )
    cursor_after: int | None = None
    cursors = obj.get("cursors")
    if isinstance(cursors, Mapping):
        after = cursors.get("after")
        if isinstance(after, str) and after.isdigit():
            cursor_after = int(after)
        elif isinstance(after, int) and not isinstance(after, bool):
            cursor_after = after
    return RecentlyPlayedPage(tuple(plays), len(items), cursor_after)


@dataclass(frozen=True)
class Page:
    """One page of an offset- or cursor-paged list."""

    items: tuple[Any, ...]
    next_url: str | None
    total: int | None
    # Cursor paging (followed artists): the id to continue after.
    cursor_after: str | None = None


def parse_page(payload: Any, where: str, *, wrapper: str | None = None) -> Page:
    """A paging object (optionally nested under *wrapper*, as followed artists are under 'artists')."""
    obj = _obj(payload, where)
    if wrapper is not None:
        obj = _obj(obj.get(wrapper), f"{where}.{wrapper}")
    items = _list(obj.get("items"), f"{where}.items")
    total = obj.get("total")
    cursors = obj.get("cursors")
    after = _opt_str(cursors.get("after")) if isinstance(cursors, Mapping) else None
    return Page(
        items=tuple(items),
        next_url=_opt_str(obj.get("next")),
        total=total if isinstance(total, int) else None,
        cursor_after=after,
    )


@dataclass(frozen=True)
class SavedTrack:
    added_at: datetime
    track: TrackInfo


def parse_saved_tracks(page: Page) -> list[SavedTrack]:
    """Items `{added_at, track}` of `GET /me/tracks`, newest first."""
    out = []
    for i, raw in enumerate(page.items):
        item = _obj(raw, f"saved[{i}]")
        added_at = parse_timestamp(item.get("added_at"), f"saved[{i}].added_at")
        if _is_music_track(item.get("track")):
            out.append(SavedTrack(added_at, parse_track(item.get("track"), f"saved[{i}].track")))
    return out


def parse_tracks(page: Page) -> list[TrackInfo]:
    """Items that are track objects themselves (`GET /me/top/tracks`)."""
    return [parse_track(t, f"tracks[{i}]") for i, t in enumerate(page.items) if _is_music_track(t)]


def parse_artists(page: Page) -> list[ArtistInfo]:
    """Items that are artist objects (`GET /me/top/artists`, `GET /me/following`)."""
    return [parse_artist(a, f"artists[{i}]") for i, a in enumerate(page.items)]


@dataclass(frozen=True)
class PlaylistSummary:
    spotify_id: str
    name: str
    snapshot_id: str | None
    owner_id: str | None
    collaborative: bool


def parse_playlists(page: Page) -> list[PlaylistSummary]:
    out = []
    for i, raw in enumerate(page.items):
        if raw is None:  # Spotify sends null for playlists it cannot show
            continue
        obj = _obj(raw, f"playlists[{i}]")
        owner = obj.get("owner")
        out.append(
            PlaylistSummary(
                spotify_id=_str(obj.get("id"), f"playlists[{i}].id"),
                name=str(obj.get("name") or ""),
                snapshot_id=_opt_str(obj.get("snapshot_id")),
                owner_id=_opt_str(owner.get("id")) if isinstance(owner, Mapping) else None,
                collaborative=bool(obj.get("collaborative")),
            )
        )
    return out


@dataclass(frozen=True)
class PlaylistEntry:
    position: int
    added_at: datetime | None
    track: TrackInfo


def parse_playlist_items(page: Page, first_position: int) -> list[PlaylistEntry]:
    """Items `{added_at, item}` (older payloads: `track`) of `GET /playlists/{id}/items`; positions kept."""
    out = []
    for i, raw in enumerate(page.items):
        item = _obj(raw, f"playlist_items[{i}]")
        track = item.get("item", item.get("track"))
        if item.get("is_local") or not _is_music_track(track):
            continue
        added = item.get("added_at")
        added_at = parse_timestamp(added, f"playlist_items[{i}].added_at") if added else None
        out.append(PlaylistEntry(first_position + i, added_at, parse_track(track, f"playlist_items[{i}].item")))
    return out


@dataclass(frozen=True)
class Profile:
    spotify_id: str
    account_id: str | None
    display_name: str


def parse_profile(payload: Any) -> Profile:
    """`GET /me`: `id`, `account_id` (stable), `display_name`."""
    obj = _obj(payload, "me")
    sid = _str(obj.get("id"), "me.id")
    return Profile(
        spotify_id=sid,
        account_id=_opt_str(obj.get("account_id")),
        display_name=_opt_str(obj.get("display_name")) or sid,
    )
