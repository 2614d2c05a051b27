"""Release Radar's pure core: how much a member loves each artist, and how many artists the API budget lets us check per day."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from recs.core.names import normalise

# Weights of the love score (docs/release-radar.md explains them). Plays count most in number but each
# adds less than the one before (log), and recent plays count more (half-life); a liked song is a
# deliberate act worth about four recent plays of it; following an artist is the strongest single
# statement; Spotify's own top-artists ranking confirms what the plays say.
W_PLAYS = 1.0
W_SAVES = 1.5
W_FOLLOW = 2.5
W_TOP = 1.0
PLAY_HALF_LIFE_DAYS = 90.0
# Below this an artist is heard, not loved: about three recent plays, or two liked songs, or a follow.
MIN_LOVE = W_PLAYS * math.log1p(3.0) - 1e-9
TOP_RANKS = 50


@dataclass(frozen=True)
class ArtistSignals:
    """What one member did with one artist: plays decayed by age, liked songs, a follow, a top-artists rank."""

    artist_id: int
    plays: float = 0.0
    saves: int = 0
    followed: bool = False
    top_rank: int | None = None  # 1 = Spotify's first top artist for the member


@dataclass(frozen=True)
class Loved:
    artist_id: int
    love: float


def love(s: ArtistSignals) -> float:
    """The weighted love score of one artist for one member (0 for no signal at all)."""
    top = 0.0
    if s.top_rank is not None and 1 <= s.top_rank <= TOP_RANKS:
        top = 1.0 - (s.top_rank - 1) / TOP_RANKS
    return (
        W_PLAYS * math.log1p(max(s.plays, 0.0))
        + W_SAVES * math.log1p(max(s.saves, 0))
        + W_FOLLOW * (1.0 if s.followed else 0.0)
        + W_TOP * top
    )


def rank_loved(signals: Iterable[ArtistSignals], blocked: Iterable[int] = (), limit: int = 200) -> list[Loved]:
    """The member's loved artists, most loved first (ties by artist id), without blocked ones, at most *limit*."""
    skip = set(blocked)
    scored = [Loved(s.artist_id, love(s)) for s in signals if s.artist_id not in skip]
    kept = [x for x in scored if x.love >= MIN_LOVE]
    kept.sort(key=lambda x: (-x.love, x.artist_id))
    return kept[: max(limit, 0)]


def collect_signals(
    plays: Iterable[tuple[datetime, Sequence[int]]],
    saved: Iterable[Sequence[int]],
    followed: Iterable[int],
    top_artists: Sequence[int],
    now: datetime,
    half_life_days: float = PLAY_HALF_LIFE_DAYS,
) -> list[ArtistSignals]:
    """Per-artist signals from a member's plays (time, credited artists), liked songs' artists, follows and top artists."""
    decayed: dict[int, float] = {}
    for at, artists in plays:
        age_days = max((now - at).total_seconds(), 0.0) / 86_400.0
        weight = 0.5 ** (age_days / half_life_days)
        for a in dict.fromkeys(artists):
            decayed[a] = decayed.get(a, 0.0) + weight
    saves: dict[int, int] = {}
    for artists in saved:
        for a in dict.fromkeys(artists):
            saves[a] = saves.get(a, 0) + 1
    follows = set(followed)
    rank = {a: i + 1 for i, a in reversed(list(enumerate(top_artists)))}
    ids = sorted(set(decayed) | set(saves) | follows | set(rank))
    return [ArtistSignals(a, decayed.get(a, 0.0), saves.get(a, 0), a in follows, rank.get(a)) for a in ids]


def household_order(loved: Mapping[int, Sequence[Loved]]) -> list[int]:
    """One check list for the household: members' loved artists taken in turn (each member's first, then
    each one's second...), an artist loved by several members checked once, at its best place."""
    order: dict[int, None] = {}
    lists = [list(loved[m]) for m in sorted(loved)]
    for depth in range(max((len(x) for x in lists), default=0)):
        for items in lists:
            if depth < len(items):
                order.setdefault(items[depth].artist_id, None)
    return list(order)


# --- the plan ----------------------------------------------------------------------------------------
# One GET /artists/{id}/albums (limit 10, newest first) usually reaches past the window; each release
# found in the window then costs one GET /albums/{id}/tracks. Spotify's artists release a few times a
# year; the emulator's release about once a quarter (0.08 a week), so 0.25 releases per check is a margin.
RELEASES_PER_CHECK = 0.25
CALLS_PER_RELEASE = 1.0


def calls_per_check(releases_per_check: float = RELEASES_PER_CHECK) -> float:
    return 1.0 + releases_per_check * CALLS_PER_RELEASE


def cycle_days(window_days: int, every_days: int = 7) -> int:
    """How often each artist must be checked so every release lands in some playlist within the window.

    A release is at most `cycle` days old when found and the next playlist comes at most `every_days`
    later, so cycle + every_days <= window. At least one day."""
    return max(1, window_days - every_days)


def checks_today(remaining: int, releases_per_check: float = RELEASES_PER_CHECK) -> int:
    """How many artists may be checked with *remaining* calls left at the radar's priority today."""
    return max(0, int(remaining // calls_per_check(releases_per_check)))


@dataclass(frozen=True)
class RadarPlan:
    artists: int  # distinct artists to check
    cycle_days: int  # each is checked once per cycle
    per_day: int  # artists to check each day
    calls_per_day: float  # expected radar calls a day
    headroom: int  # calls a day the radar may use: its ceiling minus everything else
    fits: bool
    # when it does not fit: the most loved artists that can be checked each cycle
    coverable: int


def plan(
    artists: int,
    daily_calls: int,
    radar_share: float,
    other_calls_per_day: int,
    window_days: int = 14,
    releases_per_check: float = RELEASES_PER_CHECK,
) -> RadarPlan:
    """Whether checking *artists* each cycle fits under the radar's share of the budget after everything else."""
    cycle = cycle_days(window_days)
    per_day = math.ceil(artists / cycle) if artists else 0
    cost = calls_per_check(releases_per_check)
    headroom = max(0, int(daily_calls * radar_share) - other_calls_per_day)
    calls = per_day * cost
    coverable = min(artists, checks_today(headroom, releases_per_check) * cycle)
    return RadarPlan(artists, cycle, per_day, calls, headroom, calls <= headroom, coverable)


def due_today(order: Sequence[int], last_checked: Mapping[int, date], today: date, quota: int, cycle: int) -> list[int]:
    """The artists to check today: those not checked within the cycle, longest unchecked first (never
    checked first of all), in love order among equals; at most *quota*."""
    due = [a for a in order if a not in last_checked or (today - last_checked[a]).days >= cycle]
    place = {a: i for i, a in enumerate(order)}
    due.sort(key=lambda a: (last_checked.get(a, date.min), place[a]))
    return due[: max(quota, 0)]


# --- the fetch ---------------------------------------------------------------------------------------
# Groups asked for: compilations are old recordings by definition, so they are not even listed.
FETCH_GROUPS = ("album", "single", "appears_on")
_REMASTER = re.compile(
    r"\s*[-(\[]\s*(?:(?:\d{4}\s+)?remaster(?:ed)?(?:\s+version)?(?:\s+\d{4})?|live)\s*[)\]]?\s*$", re.I
)
_EDITION = re.compile(
    r"\s*[(\[][^()\[\]]*(?:edition|remaster(?:ed)?|version|anniversary|live)[^()\[\]]*[)\]]\s*$", re.I
)


@dataclass(frozen=True)
class AlbumRef:
    spotify_id: str
    name: str
    release_date: str  # as Spotify gives it: "2026-11-20", "2026-11" or "2026"
    group: str  # album_group: album, single, appears_on, compilation
    artist_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleasedTrack:
    spotify_id: str
    name: str
    artist_ids: tuple[str, ...]
    isrc: str | None = None
    artist_names: tuple[str, ...] = ()  # in credit order, beside artist_ids (empty when not given)


@dataclass(frozen=True)
class NewTrack:
    artist_id: str  # the loved artist credited on it
    track: ReleasedTrack
    album: AlbumRef


class ReleasesSource(Protocol):
    """The two reads the radar makes (recs.spotify.releases.SpotifyReleases over the Web API)."""

    def artist_albums(self, artist_id: str, offset: int) -> tuple[list[AlbumRef], bool]:
        """One page (newest first) of the artist's albums in FETCH_GROUPS, and whether more follow."""
        ...

    def album_tracks(self, album_id: str) -> list[ReleasedTrack]: ...


def song_key(artist_id: str, name: str) -> tuple[str, str]:
    """The same song by the same artist, whatever the remaster suffix says."""
    return artist_id, normalise(_REMASTER.sub("", name))


@dataclass
class KnownTracks:
    """Recordings already out: by ISRC and by (artist, song name). A track matching either is a re-release."""

    isrcs: set[str] = field(default_factory=set)
    songs: set[tuple[str, str]] = field(default_factory=set)

    def add(self, track: ReleasedTrack) -> None:
        if track.isrc:
            self.isrcs.add(track.isrc)
        for a in track.artist_ids:
            self.songs.add(song_key(a, track.name))

    def knows(self, track: ReleasedTrack, artist_id: str) -> bool:
        return bool(track.isrc and track.isrc in self.isrcs) or song_key(artist_id, track.name) in self.songs


def find_new_tracks(
    source: ReleasesSource, artist_id: str, since: str, known: KnownTracks, albums_read: dict[str, str] | None = None
) -> list[NewTrack]:
    """Tracks crediting *artist_id* released on or after *since* (ISO day) and not re-releases of known ones.

    Reads the artist's albums newest first and stops at the first one older than the window. An edition of
    an older album on the same pages ("X (Deluxe Edition)", "X (2026 Remaster)") first teaches the tracks of
    that album, so only its bonus tracks count as new. Releases in *albums_read* (album id -> release date: an
    earlier check read them, what they brought is known) are not read again, and each release read is added."""
    in_window: list[AlbumRef] = []
    older: list[AlbumRef] = []
    offset = 0
    while True:
        page, more = source.artist_albums(artist_id, offset)
        offset += len(page)
        for album in page:
            (in_window if album.release_date >= since else older).append(album)
        if not more or not page or page[-1].release_date < since:
            break
    out: list[NewTrack] = []
    by_name = {normalise(a.name): a for a in older if a.group != "appears_on"}
    # oldest first, so a single that came out last week is known when this week's album repeats it
    for album in sorted(in_window, key=lambda a: (a.release_date, a.spotify_id)):
        if album.group == "compilation":
            continue
        if albums_read is not None:
            if album.spotify_id in albums_read:
                continue
            albums_read[album.spotify_id] = album.release_date
        base = normalise(_EDITION.sub("", album.name))
        if base != normalise(album.name) and base in by_name:
            for track in source.album_tracks(by_name[base].spotify_id):
                known.add(track)
        for track in source.album_tracks(album.spotify_id):
            if artist_id not in track.artist_ids:
                continue  # appears_on counts only where the artist is credited on the track
            if not known.knows(track, artist_id):
                out.append(NewTrack(artist_id, track, album))
            known.add(track)
    return out
