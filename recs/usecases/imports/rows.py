"""Pure parsing of data-export rows into streams, library items and playlists, with a counted reason for every skip."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final, Literal

from recs.core.domain import AlbumInfo, ArtistInfo, TrackInfo

# Skip reasons, as they appear in the import report.
NOT_AN_OBJECT: Final = "not_an_object"
INCOGNITO: Final = "incognito"
PODCAST: Final = "podcast"
AUDIOBOOK: Final = "audiobook"
NO_TRACK_URI: Final = "no_track_uri"
INVALID_TRACK_URI: Final = "invalid_track_uri"
MISSING_NAMES: Final = "missing_names"
INVALID_TS: Final = "invalid_ts"
INVALID_MS_PLAYED: Final = "invalid_ms_played"

Precision = Literal["second", "minute"]

_TRACK_URI = re.compile(r"spotify:track:([0-9A-Za-z]{22})")
_ARTIST_URI = re.compile(r"spotify:artist:([0-9A-Za-z]{22})")
# Spotify started in 2006; anything far outside its lifetime is a broken value, not a play.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# ms_played is stored in a 32-bit column.
_MAX_MS = 2**31 - 1
# Column widths of the catalogue and plays tables: longer text is cut rather than refused by PostgreSQL.
_NAME_MAX = 500
_CODE_MAX = 32


@dataclass(frozen=True, slots=True)
class Stream:
    """One listening row of a history file, its track identified by URI (extended) or by names (account data)."""

    ended_at: datetime
    track: TrackInfo
    ms_played: int
    precision: Precision
    skipped: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    shuffle: bool | None = None

    def is_play(self, min_play_ms: int) -> bool:
        """A stream is a play from *min_play_ms* on, whether or not it was skipped later."""
        return self.ms_played >= min_play_ms


@dataclass(frozen=True, slots=True)
class ExportPlaylist:
    name: str
    modified_at: datetime | None
    # Tracks in playlist order, with the date each was added (day precision).
    items: tuple[tuple[TrackInfo, datetime | None], ...]
    # Items that were episodes, audiobooks, local files or broken.
    skipped_items: int


def _text(value: Any, limit: int = _NAME_MAX) -> str | None:
    """A non-empty string (cut to *limit*), or None for anything else."""
    if value.__class__ is not str:
        return None
    if "\x00" in value:  # PostgreSQL refuses NUL in text
        value = value.replace("\x00", "")
    value = value.strip()
    return value[:limit] if value else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _ms(value: Any) -> int | None:
    """A play length in ms: a non-negative whole number that fits the column, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, Decimal):
        try:
            if not value.is_finite() or value != value.to_integral_value():
                return None
            number = int(value)
        except (InvalidOperation, OverflowError, ValueError):
            return None
    else:
        return None
    return number if 0 <= number <= _MAX_MS else None


def parse_time(value: Any) -> datetime | None:
    """An export timestamp as aware UTC; a value without a zone is UTC, as Spotify documents every export time."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if not _EARLIEST <= parsed < _LATEST:
        return None
    return parsed


def _track_id(uri: Any) -> str | Literal[False] | None:
    """The id of a spotify:track: URI; None when absent, False when present but malformed."""
    if uri is None or uri == "":
        return None
    if not isinstance(uri, str):
        return False
    match = _TRACK_URI.fullmatch(uri.strip())
    return match.group(1) if match else False


@lru_cache(maxsize=65536)
def _extended_track(track_id: str, name: str, artist: str | None, album: str | None) -> TrackInfo:
    # A history repeats each track many times: building its TrackInfo once is a third of the parsing time.
    return TrackInfo(
        spotify_id=track_id,
        name=name,
        artists=(ArtistInfo(None, artist),) if artist else (),
        album=AlbumInfo(None, album) if album else None,
    )


def parse_extended_row(row: Any) -> Stream | str:
    """A row of Streaming_History_Audio/Video_*.json or endsong_*.json: a Stream, or the reason it is skipped."""
    if not isinstance(row, dict):
        return NOT_AN_OBJECT
    if row.get("incognito_mode") is True:
        return INCOGNITO
    if row.get("spotify_episode_uri") or row.get("episode_name"):
        return PODCAST
    if row.get("audiobook_uri") or row.get("audiobook_chapter_uri") or row.get("audiobook_title"):
        return AUDIOBOOK
    track_id = _track_id(row.get("spotify_track_uri"))
    if track_id is None:
        return NO_TRACK_URI
    if track_id is False:
        return INVALID_TRACK_URI
    ended_at = parse_time(row.get("ts"))
    if ended_at is None:
        return INVALID_TS
    ms = _ms(row.get("ms_played"))
    if ms is None:
        return INVALID_MS_PLAYED
    track = _extended_track(
        track_id,
        _text(row.get("master_metadata_track_name")) or "",
        _text(row.get("master_metadata_album_artist_name")),
        _text(row.get("master_metadata_album_album_name")),
    )
    return Stream(
        ended_at=ended_at,
        track=track,
        ms_played=ms,
        precision="second",
        skipped=_flag(row.get("skipped")),
        reason_start=_text(row.get("reason_start"), _CODE_MAX),
        reason_end=_text(row.get("reason_end"), _CODE_MAX),
        shuffle=_flag(row.get("shuffle")),
    )


def parse_account_row(row: Any) -> Stream | str:
    """A row of StreamingHistory*.json (account data: names only, minute precision): a Stream, or why it is skipped."""
    if not isinstance(row, dict):
        return NOT_AN_OBJECT
    if "podcastName" in row or "episodeName" in row:
        return PODCAST
    if "audiobookName" in row or "chapterName" in row:
        return AUDIOBOOK
    artist = _text(row.get("artistName"))
    title = _text(row.get("trackName"))
    if artist is None or title is None:
        return MISSING_NAMES
    ended_at = parse_time(row.get("endTime"))
    if ended_at is None:
        return INVALID_TS
    ms = _ms(row.get("msPlayed"))
    if ms is None:
        return INVALID_MS_PLAYED
    track = TrackInfo(spotify_id=None, name=title, artists=(ArtistInfo(None, artist),))
    return Stream(ended_at=ended_at, track=track, ms_played=ms, precision="minute")


def parse_library_track(row: Any) -> TrackInfo | str:
    """An entry of YourLibrary.json `tracks`."""
    if not isinstance(row, dict):
        return NOT_AN_OBJECT
    track_id = _track_id(row.get("uri"))
    if track_id is None:
        return NO_TRACK_URI
    if track_id is False:
        return INVALID_TRACK_URI
    artist = _text(row.get("artist"))
    album = _text(row.get("album"))
    return TrackInfo(
        spotify_id=track_id,
        name=_text(row.get("track")) or "",
        artists=(ArtistInfo(None, artist),) if artist else (),
        album=AlbumInfo(None, album) if album else None,
    )


def parse_library_artist(row: Any) -> ArtistInfo | str:
    """An entry of YourLibrary.json `artists` (followed artists)."""
    if not isinstance(row, dict):
        return NOT_AN_OBJECT
    uri = row.get("uri")
    match = _ARTIST_URI.fullmatch(uri.strip()) if isinstance(uri, str) else None
    if match is None:
        return INVALID_TRACK_URI if uri else NO_TRACK_URI
    return ArtistInfo(match.group(1), _text(row.get("name")) or "")


def parse_playlist(row: Any) -> ExportPlaylist | str:
    """An entry of Playlist*.json `playlists`: its name, date and the tracks it holds (episodes are left out)."""
    if not isinstance(row, dict):
        return NOT_AN_OBJECT
    name = _text(row.get("name"))
    if name is None:
        return MISSING_NAMES
    raw_items = row.get("items")
    items: list[tuple[TrackInfo, datetime | None]] = []
    skipped = 0
    for item in raw_items if isinstance(raw_items, list) else ():
        track = item.get("track") if isinstance(item, dict) else None
        if not isinstance(track, dict):
            skipped += 1
            continue
        track_id = _track_id(track.get("trackUri"))
        if not track_id:
            skipped += 1
            continue
        artist = _text(track.get("artistName"))
        album = _text(track.get("albumName"))
        info = TrackInfo(
            spotify_id=track_id,
            name=_text(track.get("trackName")) or "",
            artists=(ArtistInfo(None, artist),) if artist else (),
            album=AlbumInfo(None, album) if album else None,
        )
        assert isinstance(item, dict)
        items.append((info, parse_time(item.get("addedDate"))))
    return ExportPlaylist(
        name=name,
        modified_at=parse_time(row.get("lastModifiedDate")),
        items=tuple(items),
        skipped_items=skipped,
    )
