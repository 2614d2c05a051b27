"""Domain objects shared across layers: frozen dataclasses with no behaviour beyond validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Purpose = Literal["store", "train", "publish"]
PURPOSES: tuple[Purpose, ...] = ("store", "train", "publish")
Role = Literal["owner", "member"]
PlaySource = Literal["api", "export"]
Mode = Literal["discover", "rediscover"]


@dataclass(frozen=True)
class ArtistInfo:
    spotify_id: str | None
    name: str
    image_url: str | None = None


@dataclass(frozen=True)
class AlbumInfo:
    spotify_id: str | None
    name: str
    release_date: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class TrackInfo:
    """What we know of a track from a payload or an export row (no extra metadata calls)."""

    spotify_id: str | None
    name: str
    artists: tuple[ArtistInfo, ...] = ()
    album: AlbumInfo | None = None
    duration_ms: int | None = None
    isrc: str | None = None
    explicit: bool | None = None

    @property
    def primary_artist(self) -> str:
        return self.artists[0].name if self.artists else ""


@dataclass(frozen=True)
class PlayRecord:
    """One play (>= the play threshold) of one track by one member."""

    played_at: datetime
    track: TrackInfo
    source: PlaySource
    ms_played: int | None = None
    context_uri: str | None = None
    skipped: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    shuffle: bool | None = None


@dataclass(frozen=True)
class ShortStream:
    """A stream under the play threshold: not a play, kept as a skip signal."""

    ended_at: datetime
    track: TrackInfo
    ms_played: int
    reason_end: str | None = None


@dataclass(frozen=True)
class PlayRow:
    """A play to store, its track already resolved to a row id."""

    played_at: datetime
    track_id: int
    source: PlaySource
    ms_played: int | None = None
    context_uri: str | None = None
    skipped: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    shuffle: bool | None = None
    import_id: int | None = None


@dataclass(frozen=True)
class Member:
    id: int
    spotify_id: str
    account_id: str | None
    display_name: str
    role: Role
    timezone: str
    created_at: datetime
    reconnect_needed: bool = False
    not_allowlisted: bool = False

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


@dataclass(frozen=True)
class Consent:
    purpose: Purpose
    granted: bool
    granted_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class MemberFilters:
    """What a member keeps out of their lists on a given day: hidden tracks and artists blocked that day."""

    hidden: frozenset[int] = frozenset()
    blocked_artists: frozenset[int] = frozenset()


@dataclass(frozen=True)
class TrackRow:
    """A stored track with what a list needs to show it (names, artists, album, image)."""

    id: int
    spotify_id: str | None
    name: str
    artist_names: tuple[str, ...]
    artist_ids: tuple[int, ...]
    album_name: str | None
    image_url: str | None
    duration_ms: int | None

    @property
    def uri(self) -> str | None:
        return f"spotify:track:{self.spotify_id}" if self.spotify_id else None


@dataclass(frozen=True)
class Recommendation:
    """One stored recommendation; `track` (display data) is filled in by the use case that shows it."""

    run_id: int
    rank: int
    track_id: int
    score: float | None
    explanation: str | None
    because_track_id: int | None
    track: TrackRow | None = None
