"""Parsing ListenBrainz dump lines (pure): one JSON listen a line -> a kept listen with a Spotify track id, or a reason.

A dump line, as ListenBrainz writes it (listenbrainz/listen.py `Listen.to_json`, serialised by orjson):
`{"user_id": int, "user_name": str, "timestamp": int, "recording_msid": str, "track_metadata":
{"artist_name": str, "track_name": str, "additional_info": {..., "spotify_id": ..., "origin_url": ...}}}`.
Clients fill `additional_info` as they like, so every field is checked: a line is kept only when it has
a positive integer `user_id`, an integer `timestamp` in range and a Spotify track id in `spotify_id` or
`origin_url` (URL, `spotify:track:` URI or bare 22-character base62 id). Names missing or mistyped are
kept as "" (they are only for display).

Speed: most lines carry no Spotify id at all. `parse_chunk` finds the lines that contain the bytes
`spotify` with `bytes.find` over a whole chunk and parses only those; every other line is counted as
`no_spotify_id` without a JSON parse (so a line that is not JSON but mentions no Spotify is counted there).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import orjson

# ListenBrainz refuses listens before this (listenbrainz/listenstore/__init__.py LISTEN_MINIMUM_TS).
EARLIEST_TIMESTAMP = int(datetime(2002, 10, 1, tzinfo=UTC).timestamp())

# Reject reasons, in the order a line is checked.
NO_SPOTIFY_ID = "no_spotify_id"
NOT_JSON = "not_json"
NOT_AN_OBJECT = "not_an_object"
NO_TRACK_METADATA = "no_track_metadata"
BAD_SPOTIFY_ID = "bad_spotify_id"
BAD_USER_ID = "bad_user_id"
BAD_TIMESTAMP = "bad_timestamp"
TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
OUTSIDE_WINDOW = "outside_window"
REASONS = (
    NO_SPOTIFY_ID,
    NOT_JSON,
    NOT_AN_OBJECT,
    NO_TRACK_METADATA,
    BAD_SPOTIFY_ID,
    BAD_USER_ID,
    BAD_TIMESTAMP,
    TIMESTAMP_OUT_OF_RANGE,
    OUTSIDE_WINDOW,
)

MARKER = b"spotify"
_BASE62 = "[0-9A-Za-z]{22}"
_TRACK_REF = re.compile(
    rf"""(?:
        (?P<bare>{_BASE62})
      | spotify:track:(?P<uri>{_BASE62})
      | (?:https?://)?(?:open|play)\.spotify\.com/(?:intl-[A-Za-z_-]+/)?(?:embed/)?track/(?P<url>{_BASE62})(?:[/?\#].*)?
    )""",
    re.VERBOSE | re.DOTALL,
)


_URL = "https://open.spotify.com/track/"
_URL_END = len(_URL) + 22


def spotify_track_id(value: object) -> str | None:
    """The track id in a `spotify_id`/`origin_url` value (bare id, URI or open.spotify.com URL), else None."""
    if type(value) is not str:
        return None
    # the form nearly every line has, without a regex (parsing is the build's hot path)
    if value.startswith(_URL) and (len(value) == _URL_END or (len(value) > _URL_END and value[_URL_END] in "?/#")):
        candidate = value[len(_URL) : _URL_END]
        return candidate if candidate.isascii() and candidate.isalnum() else None
    m = _TRACK_REF.fullmatch(value.strip())
    if m is None:
        return None
    return m.group("bare") or m.group("uri") or m.group("url")


@dataclass(frozen=True)
class Window:
    """Which listens count: `since` <= timestamp < `until` (either may be None), and no later than `latest`."""

    since: int | None = None
    until: int | None = None
    latest: int = 2**62


# A kept listen: (user_id, timestamp, track_id, track_name, artist_name).
Listen = tuple[int, int, str, str, str]


def parse_line(line: bytes | str, window: Window = Window()) -> Listen | str:
    """One dump line -> the kept listen, or the reason (one of REASONS) it is not kept."""
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
    if MARKER not in raw:
        return NO_SPOTIFY_ID
    return _parse_candidate(raw, window)


def _parse_candidate(raw: bytes, window: Window) -> Listen | str:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NOT_JSON
    if type(obj) is not dict:
        return NOT_AN_OBJECT
    meta = obj.get("track_metadata")
    if type(meta) is not dict:
        return NO_TRACK_METADATA
    info = meta.get("additional_info")
    if type(info) is not dict:
        return NO_SPOTIFY_ID
    sid = info.get("spotify_id")
    url = info.get("origin_url")
    track_id = spotify_track_id(sid) or spotify_track_id(url)
    if track_id is None:
        return BAD_SPOTIFY_ID if _mentions_spotify(sid) or _mentions_spotify(url) else NO_SPOTIFY_ID
    user = obj.get("user_id")
    if type(user) is not int or user <= 0 or user >= 2**63:
        return BAD_USER_ID
    ts = obj.get("timestamp")
    if type(ts) is not int:
        return BAD_TIMESTAMP
    if ts < EARLIEST_TIMESTAMP or ts > window.latest:
        return TIMESTAMP_OUT_OF_RANGE
    if (window.since is not None and ts < window.since) or (window.until is not None and ts >= window.until):
        return OUTSIDE_WINDOW
    name = meta.get("track_name")
    artist = meta.get("artist_name")
    return (user, ts, track_id, name if type(name) is str else "", artist if type(artist) is str else "")


def _mentions_spotify(value: object) -> bool:
    """A non-null value that is not a track id but claims to be one (any type but str, or a str naming Spotify)."""
    if value is None:
        return False
    if type(value) is not str:
        return True
    return "spotify" in value.lower() or len(value) == 22


@dataclass
class ChunkResult:
    """What one chunk of lines gave: kept listens as columns, chunk-local track ids, names and reject counts."""

    lines: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    users: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    timestamps: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # index into track_ids, per kept listen
    tracks: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    track_ids: list[str] = field(default_factory=list)
    # (track index, pack_spelling(track name, artist name)) -> listens with that spelling
    names: dict[tuple[int, str], int] = field(default_factory=dict)


def pack_spelling(name: str, artist: str) -> str:
    """A track name and artist name as one string (about half the memory of a tuple of two)."""
    return f"{len(name)}:{name}{artist}"


def unpack_spelling(packed: str) -> tuple[str, str]:
    length, _, rest = packed.partition(":")
    n = int(length)
    return rest[:n], rest[n:]


def count_lines(chunk: bytes) -> int:
    """Lines in *chunk*: its newlines, plus a last line without one."""
    n = chunk.count(b"\n")
    if chunk and not chunk.endswith(b"\n"):
        n += 1
    return n


def parse_chunk(
    chunk: bytes,
    window: Window = Window(),
    *,
    vocab: dict[str, int] | None = None,
    spellings: dict[tuple[int, str], int] | None = None,
) -> ChunkResult:
    """Parse every line of *chunk* (whole lines, newline-separated); only lines mentioning Spotify are decoded.

    With `vocab` and `spellings` given, track codes and spellings go into them (shared by the chunks of
    one source, see parse_chunks) and the result's `track_ids` and `names` stay empty.
    """
    out = ChunkResult(lines=count_lines(chunk))
    users: list[int] = []
    stamps: list[int] = []
    codes: list[int] = []
    local: dict[str, int] = {} if vocab is None else vocab
    names: dict[tuple[int, str], int] = {} if spellings is None else spellings
    rejected: Counter[str] = Counter()
    candidates = 0
    find = chunk.find
    rfind = chunk.rfind
    size = len(chunk)
    pos = find(MARKER)
    while pos != -1:
        start = rfind(b"\n", 0, pos) + 1
        end = find(b"\n", pos)
        if end == -1:
            end = size
        candidates += 1
        got = _parse_candidate(chunk[start:end], window)
        if isinstance(got, str):
            rejected[got] += 1
        else:
            user, ts, track_id, name, artist = got
            code = local.get(track_id)
            if code is None:
                code = local[track_id] = len(local)
            users.append(user)
            stamps.append(ts)
            codes.append(code)
            key = (code, f"{len(name)}:{name}{artist}")  # pack_spelling, inlined: this loop is the hot path
            names[key] = names.get(key, 0) + 1
        pos = find(MARKER, end)
    rejected[NO_SPOTIFY_ID] += out.lines - candidates
    out.rejected = +rejected
    out.users = np.array(users, dtype=np.int64)
    out.timestamps = np.array(stamps, dtype=np.int64)
    out.tracks = np.array(codes, dtype=np.int32)
    if vocab is None:
        out.track_ids = list(local)
        out.names = names
    return out


def parse_chunks(chunks: Iterable[bytes], window: Window = Window()) -> ChunkResult:
    """Parse a stream of chunks into one result (one vocabulary and one spelling count for all of them)."""
    vocab: dict[str, int] = {}
    spellings: dict[tuple[int, str], int] = {}
    lines = 0
    rejected: Counter[str] = Counter()
    users: list[npt.NDArray[np.int64]] = []
    stamps: list[npt.NDArray[np.int64]] = []
    tracks: list[npt.NDArray[np.int32]] = []
    for chunk in chunks:
        r = parse_chunk(chunk, window, vocab=vocab, spellings=spellings)
        lines += r.lines
        rejected.update(r.rejected)
        users.append(r.users)
        stamps.append(r.timestamps)
        tracks.append(r.tracks)
    out = ChunkResult(lines=lines, rejected=rejected, track_ids=list(vocab), names=spellings)
    if users:
        out.users = np.concatenate(users)
        out.timestamps = np.concatenate(stamps)
        out.tracks = np.concatenate(tracks)
    return out
