"""Seeded emulated household: members with shared and personal tastes, and their day-by-day listening."""

from __future__ import annotations

import heapq
import math
import random
import string
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from recs.emulator.catalog import Catalog, base62_id, played_tracks

DAY_MS = 86_400_000
_NAMES = ("Ana", "Ben", "Chloé", "Dev", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jonah", "Kemi", "Luca")
_PLATFORMS = ("android", "ios", "windows", "osx", "web_player", "linux")
_COUNTRIES = ("GB", "SE", "DE", "FR", "NL", "ES")
_PLAYLIST_NAMES = ("Morning {g}", "{g} forever", "Late night {g}", "Best of {g}", "{g} for the road", "Sunday {g}")
SPOTIFY_USER = "spotify"  # owner of editorial and algorithmic playlists: their contents answer 404 in dev mode
_EDITORIAL = (
    "Today's Top Hits",
    "Discover Weekly",
    "Release Radar",
    "All Out 2010s",
    "Chill Vibes",
    "Rock Classics",
    "Peaceful Piano",
    "Mood Booster",
)
_SHOWS = (("The Daily Groove", "Groove Media"), ("Crate Diggers", "Vinyl Radio"), ("Liner Notes", "Indie Audio"))
_LOCAL_FILES = (
    ("Demo Band", "Garage Tapes", "Rehearsal 3"),
    ("Unknown Artist", "Voice Memos", "New Recording 12"),
    ("DJ Nobody", "Mixtape 2009", "Side A"),
    ("The Cousins", "Wedding Set", "First Dance (live)"),
)
# Churn of the members' own playlists: chance per playlist per day of one change, and its kinds.
CHURN_PER_DAY = 0.04


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the emulator works in UTC-aware datetimes")
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso_ms(ms: int) -> str:
    """Web API timestamp with milliseconds, as in played_at."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_s(ms: int) -> str:
    """Second-precision UTC timestamp, as in added_at and the export's ts."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Play:
    """One stream of one track, as the platform recorded it; at_ms is the end of the stream (Unix ms)."""

    at_ms: int
    user_id: str
    track_id: str
    ms_played: int
    context_type: str | None = None
    context_uri: str | None = None
    reason_start: str = "clickrow"
    reason_end: str = "trackdone"
    shuffle: bool = False
    skipped: bool = False
    offline: bool = False
    incognito: bool = False
    # when the platform learnt of the play (Unix ms): offline plays sync later, a few arrive late anyway
    visible_ms: int = 0

    def __post_init__(self) -> None:
        if self.visible_ms < self.at_ms:
            self.visible_ms = self.at_ms


@dataclass
class PlaylistItem:
    """One entry of a playlist: a catalogue track, or (kind) a podcast episode, a local file or an unavailable item."""

    track_id: str  # the track id; the episode id when kind is "episode"; "" for a local file or a null item
    added_at_ms: int
    added_by: str
    # "track", "episode", "local" (a file on the member's device: spotify:local:…) or "null" (the API sends null)
    kind: str = "track"
    local: tuple[str, str, str, int] | None = None  # artist, album, title, seconds (kind "local")


@dataclass(frozen=True)
class PlaylistChange:
    """A change a member makes to an own playlist; fractions pick positions when it is applied."""

    kind: str  # add, remove, move, rename, delete
    by: str = ""
    tracks: tuple[str, ...] = ()
    episode: str | None = None
    at: float = 0.0
    to: float = 0.0
    name: str = ""


@dataclass(frozen=True)
class Episode:
    id: str
    name: str
    show_id: str
    show_name: str
    publisher: str
    duration_ms: int
    release_date: str


@dataclass
class Playlist:
    id: str
    name: str
    owner_id: str
    description: str
    public: bool
    collaborative: bool
    items: list[PlaylistItem] = field(default_factory=list)
    collaborators: set[str] = field(default_factory=set)
    version: int = 1
    # members who follow it without owning or collaborating: listed by GET /me/playlists, contents refused
    followers: set[str] = field(default_factory=set)

    @property
    def snapshot_id(self) -> str:
        # opaque but stable per (playlist, version): changes on every modification, like Spotify's
        raw = f"{self.version:08d}{self.id}".encode()
        return "".join(string.ascii_letters[b % 52] for b in raw) + "AAAA"

    def can_edit(self, user_id: str) -> bool:
        return user_id == self.owner_id or (self.collaborative and user_id in self.collaborators)


@dataclass
class Listener:
    """One simulated Spotify user of the emulated household: taste, habits and library."""

    index: int
    user_id: str
    account_id: str
    display_name: str
    allowlisted: bool
    genres: list[str]
    fav_artists: list[str]
    fav_cum: list[float]
    explore_artists: list[str]
    explore_cum: list[float]
    p_skip: float
    p_explore: float
    sessions_per_day: float
    session_mean: float
    peaks: list[float]
    platform: str
    country: str
    save_threshold: int
    followed: list[str] = field(default_factory=list)


def _cum(weights: list[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


@dataclass(frozen=True)
class Taste:
    """Favourite artists (weighted) and the artists of the liked genres to explore (by popularity)."""

    fav_artists: list[str]
    fav_cum: list[float]
    explore_artists: list[str]
    explore_cum: list[float]


def make_taste(rng: random.Random, catalog: Catalog, liked: list[str]) -> Taste:
    """A listener's taste from their liked genres: household members and community listeners share this."""
    fav: dict[str, float] = {}
    explore: dict[str, float] = {}
    for genre in liked:
        gw = rng.uniform(0.5, 2.0)
        pool = catalog.by_genre[genre]
        pop = [catalog.artists[a].weight for a in pool]
        for a in pool:
            explore[a] = explore.get(a, 0.0) + catalog.artists[a].weight
        for a in rng.choices(pool, weights=pop, k=rng.randint(8, 16)):
            fav[a] = fav.get(a, 0.0) + gw * math.sqrt(catalog.artists[a].weight) * rng.uniform(0.4, 2.5)
    fav_ids = sorted(fav, key=lambda a: -fav[a])
    exp_ids = list(explore)
    return Taste(fav_ids, _cum([fav[a] for a in fav_ids]), exp_ids, _cum([explore[a] for a in exp_ids]))


def draw_track(
    rng: random.Random,
    catalog: Catalog,
    fav_artists: list[str],
    fav_cum: list[float],
    explore_artists: list[str],
    explore_cum: list[float],
    p_explore: float,
) -> str:
    """One track a listener of this taste plays: a favourite artist, or now and then one to explore."""
    if rng.random() < p_explore:
        artist_id = explore_artists[bisect_left(explore_cum, rng.random() * explore_cum[-1])]
    else:
        artist_id = fav_artists[bisect_left(fav_cum, rng.random() * fav_cum[-1])]
    artist = catalog.artists[artist_id]
    return artist.track_ids[bisect_left(artist.track_cum, rng.random() * artist.track_cum[-1])]


def _poisson(rng: random.Random, lam: float) -> int:
    threshold = math.exp(-lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


class Household:
    """Members, their library and every play they made, generated one UTC day at a time."""

    def __init__(
        self, catalog: Catalog, seed: int, members: int, start_ms: int, history_days: int, allowlisted: int
    ) -> None:
        self.catalog = catalog
        self.seed = seed
        self.members: dict[str, Listener] = {}
        self.plays: dict[str, list[Play]] = {}
        self.play_ms: dict[str, list[int]] = {}
        self.saved: dict[str, list[tuple[int, str]]] = {}
        self.playlists: dict[str, Playlist] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._session_playlists: dict[str, list[list[str]]] = {}
        self._weekly: dict[tuple[str, int], list[str]] = {}
        self._saved_ids: dict[str, set[str]] = {}
        self.other_library: dict[str, set[str]] = {}  # "album:<id>", "episode:<id>"… saved through /me/library
        self.episodes: dict[str, Episode] = {}
        # playlists the members made themselves (churned by them over time; not those an app creates)
        self._generated: list[str] = []
        # playlist changes generated for a day, applied when the clock passes them: (at_ms, seq, playlist, change)
        self._pending: list[tuple[int, int, str, PlaylistChange]] = []
        self._seq = 0
        self._next_day = date.fromordinal(from_ms(start_ms - history_days * DAY_MS).date().toordinal())
        self.history_start_ms = start_ms - history_days * DAY_MS
        rng = random.Random(f"household/{seed}")
        genres = list(catalog.by_genre)
        for i in range(members):
            if i > 0 and rng.random() < 0.65:
                # shared taste: borrow genres from an earlier member, plus one of their own
                other = rng.choice(list(self.members.values()))
                liked = rng.sample(other.genres, k=min(len(other.genres), rng.randint(1, 2)))
                extra = [g for g in genres if g not in liked]
                liked.append(rng.choice(extra))
            else:
                liked = rng.sample(genres, k=rng.randint(2, 3))
            self._add_member(rng, i, liked, allowlisted=i < allowlisted)
        for m in self.members.values():
            self._make_library(rng, m)
        if members >= 2:
            self._make_shared_playlist(rng, *list(self.members.values())[:2])
        # A separate stream, so the catalogue, tastes and plays of a seed are what they were before these existed.
        extras = random.Random(f"household-extras/{seed}")
        self._make_episodes(extras)
        self._make_editorial(extras)
        for m in self.members.values():
            self._add_odd_items(extras, m)
            self._follow_playlists(extras, m)

    # --- generation of members and their library -------------------------------------------------
    def _add_member(self, rng: random.Random, i: int, liked: list[str], allowlisted: bool) -> None:
        taste = make_taste(rng, self.catalog, liked)
        user_id = "31" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=26))
        member = Listener(
            index=i,
            user_id=user_id,
            account_id="".join(rng.choices(string.ascii_letters + string.digits, k=10)),
            display_name=_NAMES[i % len(_NAMES)] + ("" if i < len(_NAMES) else f" {i // len(_NAMES) + 1}"),
            allowlisted=allowlisted,
            genres=liked,
            fav_artists=taste.fav_artists,
            fav_cum=taste.fav_cum,
            explore_artists=taste.explore_artists,
            explore_cum=taste.explore_cum,
            p_skip=rng.uniform(0.08, 0.25),
            p_explore=rng.uniform(0.08, 0.2),
            sessions_per_day=rng.uniform(1.2, 3.0),
            session_mean=rng.uniform(6, 14),
            peaks=sorted(rng.sample([7.5, 8.5, 12.5, 17.5, 19.5, 21.5, 22.5], k=2)),
            platform=rng.choice(_PLATFORMS),
            country=rng.choice(_COUNTRIES),
            save_threshold=rng.randint(3, 6),
            followed=taste.fav_artists[: rng.randint(4, min(12, len(taste.fav_artists)))],
        )
        self.members[user_id] = member
        self.plays[user_id] = []
        self.play_ms[user_id] = []
        self.saved[user_id] = []
        self._counts[user_id] = {}
        self._session_playlists[user_id] = []

    def _taste_track(self, rng: random.Random, m: Listener) -> str:
        return draw_track(rng, self.catalog, m.fav_artists, m.fav_cum, m.explore_artists, m.explore_cum, m.p_explore)

    def _make_library(self, rng: random.Random, m: Listener) -> None:
        before = self.history_start_ms
        for _ in range(rng.randint(10, 25)):
            self.saved[m.user_id].append(
                (before - rng.randint(1, 400) * DAY_MS + rng.randint(0, DAY_MS), self._taste_track(rng, m))
            )
        self._dedupe_saved(m.user_id)
        self._saved_ids[m.user_id] = {t for _, t in self.saved[m.user_id]}
        for n in range(rng.randint(2, 4)):
            genre = m.genres[n % len(m.genres)]
            pl = Playlist(
                base62_id(rng),
                rng.choice(_PLAYLIST_NAMES).format(g=genre),
                m.user_id,
                "" if rng.random() < 0.5 else f"{genre} I keep coming back to",
                rng.random() < 0.6,
                False,
            )
            created = before - rng.randint(30, 500) * DAY_MS
            tracks: list[str] = []
            for _ in range(rng.randint(12, 35)):
                t = self._taste_track(rng, m)
                if t not in tracks:
                    tracks.append(t)
            for k, t in enumerate(tracks):
                pl.items.append(PlaylistItem(t, created + k * rng.randint(60_000, 20 * DAY_MS), m.user_id))
            pl.items.sort(key=lambda it: it.added_at_ms)
            self.playlists[pl.id] = pl
            self._generated.append(pl.id)
            self._session_playlists[m.user_id].append([pl.id, *tracks])

    def _make_shared_playlist(self, rng: random.Random, a: Listener, b: Listener) -> None:
        pl = Playlist(
            base62_id(rng), "Household mix", a.user_id, "what we both play", False, True, collaborators={b.user_id}
        )
        at = self.history_start_ms - 60 * DAY_MS
        seen: set[str] = set()
        for k in range(24):
            who = a if k % 2 == 0 else b
            t = self._taste_track(rng, who)
            if t not in seen:
                seen.add(t)
                at += rng.randint(60_000, 3 * DAY_MS)
                pl.items.append(PlaylistItem(t, at, who.user_id))
        self.playlists[pl.id] = pl
        self._generated.append(pl.id)

    def _make_episodes(self, rng: random.Random) -> None:
        for show_name, publisher in _SHOWS:
            show_id = base62_id(rng)
            for n in range(1, 9):
                ep = Episode(
                    base62_id(rng),
                    f"{show_name} #{n}",
                    show_id,
                    show_name,
                    publisher,
                    rng.randint(900, 4_800) * 1000,
                    from_ms(self.history_start_ms - rng.randint(1, 700) * DAY_MS).strftime("%Y-%m-%d"),
                )
                self.episodes[ep.id] = ep

    def _make_editorial(self, rng: random.Random) -> None:
        """Spotify's own playlists (editorial and algorithmic): members follow them; dev-mode apps cannot read them."""
        for name in _EDITORIAL:
            pl = Playlist(base62_id(rng), name, SPOTIFY_USER, f"The best of {name.lower()}.", True, False)
            tracks = rng.sample(played_tracks(self.catalog), k=30)
            pl.items = [PlaylistItem(t, self.history_start_ms - DAY_MS, SPOTIFY_USER) for t in tracks]
            self.playlists[pl.id] = pl

    def _add_odd_items(self, rng: random.Random, m: Listener) -> None:
        """Own playlists also hold podcast episodes, local files and items Spotify no longer has (sent as null).

        Each member's first own playlist holds one of each, so every world meets all three; the others by chance."""
        own = [self.playlists[p] for p in self._generated if self.playlists[p].owner_id == m.user_id]
        episodes = list(self.episodes)
        for n, pl in enumerate(p for p in own if not p.collaborative):
            kinds = ["episode", "local", "null"] if n == 0 else []
            kinds += ["episode"] * (rng.random() < 0.3) + ["local"] * (rng.random() < 0.25)
            for kind in kinds:
                at = rng.randrange(len(pl.items) + 1)
                added = pl.items[min(at, len(pl.items) - 1)].added_at_ms if pl.items else self.history_start_ms
                if kind == "episode":
                    item = PlaylistItem(rng.choice(episodes), added, m.user_id, "episode")
                elif kind == "local":
                    artist, album, title = rng.choice(_LOCAL_FILES)
                    item = PlaylistItem("", added, m.user_id, "local", (artist, album, title, rng.randint(120, 400)))
                else:
                    item = PlaylistItem("", added, m.user_id, "null")
                pl.items.insert(at, item)

    def _follow_playlists(self, rng: random.Random, m: Listener) -> None:
        """Members follow Spotify's playlists, now and then another member's public one or the household mix."""
        editorial = [p for p in self.playlists.values() if p.owner_id == SPOTIFY_USER]
        for pl in rng.sample(editorial, k=rng.randint(1, 3)):
            pl.followers.add(m.user_id)
        others = [
            self.playlists[p]
            for p in self._generated
            if self.playlists[p].owner_id != m.user_id and m.user_id not in self.playlists[p].collaborators
        ]
        public = [p for p in others if p.public and not p.collaborative]
        if public and rng.random() < 0.6:
            rng.choice(public).followers.add(m.user_id)
        if m.index == 2:
            # a shared link to the household's collaborative mix: followed, but not a collaborator
            for pl in others:
                if pl.collaborative:
                    pl.followers.add(m.user_id)

    def _dedupe_saved(self, user_id: str) -> None:
        seen: set[str] = set()
        out: list[tuple[int, str]] = []
        for at, t in sorted(self.saved[user_id]):
            if t not in seen:
                seen.add(t)
                out.append((at, t))
        self.saved[user_id] = out

    # --- listening --------------------------------------------------------------------------------
    def _weekly_favourites(self, m: Listener, day: int) -> list[str]:
        week = day // 7
        key = (m.user_id, week)
        if key not in self._weekly:
            rng = random.Random(f"{self.seed}/{m.index}/week{week}")
            self._weekly[key] = [self._taste_track(rng, m) for _ in range(6)]
        return self._weekly[key]

    def generate_until(self, until_ms: int) -> int:
        """Generate every whole UTC day up to and including the day of until_ms; returns the number of new plays."""
        last = from_ms(until_ms).date()
        added = 0
        while self._next_day <= last:
            day = self._next_day
            day_ms = to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
            # a day's playlist changes are drawn from the playlists as they stand when it begins
            self._apply_changes(day_ms - 1)
            for m in self.members.values():
                added += self._generate_day(m, day)
                self._plan_changes(m, day, day_ms)
            self._next_day += timedelta(days=1)
        self._apply_changes(until_ms)
        return added

    # --- playlist churn -----------------------------------------------------------------------------
    def _plan_changes(self, m: Listener, day: date, day_ms: int) -> None:
        """The changes a member makes to their own playlists on a day: add, remove, reorder, rename, delete.

        Each playlist changes on CHURN_PER_DAY of days: half the changes add 1-3 tracks (now and then an episode),
        a fifth remove one, 15 % move one, the rest rename it, and 0.5 % delete it (never a collaborative one)."""
        rng = random.Random(f"{self.seed}/{m.index}/{day.toordinal()}/playlists")
        for pid in self._generated:
            pl = self.playlists.get(pid)
            if pl is None or pl.owner_id != m.user_id or rng.random() >= CHURN_PER_DAY:
                continue
            r = rng.random()
            if r < 0.5:
                tracks = tuple(self._taste_track(rng, m) for _ in range(rng.randint(1, 3)))
                episode = rng.choice(list(self.episodes)) if self.episodes and rng.random() < 0.05 else None
                change = PlaylistChange("add", m.user_id, tracks, episode)
            elif r < 0.7:
                change = PlaylistChange("remove", at=rng.random())
            elif r < 0.85:
                change = PlaylistChange("move", at=rng.random(), to=rng.random())
            elif r < 0.995 or pl.collaborative:
                change = PlaylistChange("rename", name=rng.choice(_PLAYLIST_NAMES).format(g=rng.choice(m.genres)))
            else:
                # rare, and never the shared mix: a member deletes one of their own playlists
                change = PlaylistChange("delete")
            self._seq += 1
            heapq.heappush(self._pending, (day_ms + rng.randrange(DAY_MS), self._seq, pid, change))

    def _apply_changes(self, until_ms: int) -> None:
        while self._pending and self._pending[0][0] <= until_ms:
            at, _, pid, change = heapq.heappop(self._pending)
            pl = self.playlists.get(pid)
            if pl is None:
                continue  # deleted meanwhile
            kind = change.kind
            if kind == "add":
                pl.items.extend(PlaylistItem(t, at, change.by) for t in change.tracks)
                if change.episode is not None:
                    pl.items.append(PlaylistItem(change.episode, at, change.by, "episode"))
            elif kind == "remove" and pl.items:
                del pl.items[int(change.at * len(pl.items))]
            elif kind == "move" and len(pl.items) > 1:
                item = pl.items.pop(int(change.at * len(pl.items)))
                pl.items.insert(int(change.to * (len(pl.items) + 1)), item)
            elif kind == "rename":
                pl.name = change.name
            elif kind == "delete":
                self.delete_playlist(pid)
                continue
            pl.version += 1

    def delete_playlist(self, playlist_id: str) -> None:
        """The owner deleted the playlist: gone from every list, no longer played from."""
        del self.playlists[playlist_id]
        for own in self._session_playlists.values():
            own[:] = [p for p in own if p[0] != playlist_id]

    def _generate_day(self, m: Listener, day: date) -> int:
        cat = self.catalog
        ordinal = day.toordinal()
        rng = random.Random(f"{self.seed}/{m.index}/{ordinal}")
        day_ms = to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
        lam = m.sessions_per_day * (1.3 if day.weekday() >= 5 else 1.0)
        n_sessions = _poisson(rng, lam)
        hours = sorted(min(23.9, max(0.0, rng.gauss(rng.choice(m.peaks), 1.5))) for _ in range(n_sessions))
        weekly = self._weekly_favourites(m, ordinal)
        plays = self.plays[m.user_id]
        stamps = self.play_ms[m.user_id]
        counts = self._counts[m.user_id]
        cursor = day_ms
        made = 0
        for hour in hours:
            start = max(cursor + 60_000, day_ms + int(hour * 3_600_000))
            length = min(40, 1 + int(rng.expovariate(1.0 / m.session_mean)))
            incognito = rng.random() < 0.02
            offline = rng.random() < 0.03
            kind = rng.random()
            context_type: str | None = None
            context_uri: str | None = None
            shuffle = False
            sequence: list[str] = []
            own = self._session_playlists[m.user_id]
            if kind < 0.35:
                artist = cat.artists[m.fav_artists[bisect_left(m.fav_cum, rng.random() * m.fav_cum[-1])]]
                album = cat.albums[rng.choice(artist.album_ids)]
                first = 0 if rng.random() < 0.7 else rng.randrange(len(album.track_ids))
                sequence = album.track_ids[first : first + length]
                context_type, context_uri = "album", album.uri
            elif kind < 0.65 and own:
                chosen = rng.choice(own)
                sequence = [rng.choice(chosen[1:]) for _ in range(length)]
                context_type, context_uri, shuffle = "playlist", f"spotify:playlist:{chosen[0]}", True
            elif kind < 0.8:
                artist = cat.artists[m.fav_artists[bisect_left(m.fav_cum, rng.random() * m.fav_cum[-1])]]
                sequence = [
                    artist.track_ids[bisect_left(artist.track_cum, rng.random() * artist.track_cum[-1])]
                    for _ in range(length)
                ]
                context_type, context_uri = "artist", artist.uri
            else:
                sequence = [
                    rng.choice(weekly) if rng.random() < 0.25 else self._taste_track(rng, m) for _ in range(length)
                ]
                # liked songs and the home feed: Spotify reports the member's collection as the context
                context_type, context_uri = "collection", f"spotify:user:{m.user_id}:collection"
            reason_start = rng.choice(("clickrow", "playbtn"))
            session: list[Play] = []
            for k, track_id in enumerate(sequence):
                duration = cat.tracks[track_id].duration_ms
                p_skip = m.p_skip * (0.3 if track_id in weekly else 1.0)
                skipped = rng.random() < p_skip
                if skipped:
                    ms_played = int(rng.uniform(1_500, min(duration, 75_000)))
                    reason_end = "fwdbtn"
                elif k == len(sequence) - 1 and rng.random() < 0.3:
                    ms_played = int(rng.uniform(0.2, 1.0) * duration)
                    reason_end = "endplay"
                else:
                    ms_played = duration
                    reason_end = "trackdone"
                at = start + ms_played
                play = Play(
                    at,
                    m.user_id,
                    track_id,
                    ms_played,
                    context_type,
                    context_uri,
                    reason_start,
                    reason_end,
                    shuffle,
                    skipped,
                    offline,
                    incognito,
                )
                if rng.random() < 0.02:
                    play.visible_ms = at + rng.randint(5_000, 120_000)
                session.append(play)
                self._insert(play, plays, stamps)
                made += 1
                if not skipped and ms_played >= 30_000:
                    n = counts.get(track_id, 0) + 1
                    counts[track_id] = n
                    if n == m.save_threshold and rng.random() < 0.5 and track_id not in self._saved_ids[m.user_id]:
                        # a track already liked stays liked once: Spotify keeps one entry per track
                        self._saved_ids[m.user_id].add(track_id)
                        self.saved[m.user_id].append((at + 20_000, track_id))
                reason_start = "fwdbtn" if skipped else "trackdone"
                start = at + rng.randint(0, 3_000)
            if offline:
                # the device reconnects a while after the session: its plays reach the platform together
                synced = start + rng.randint(10, 240) * 60_000
                for play in session:
                    play.visible_ms = synced
            cursor = start
        return made

    @staticmethod
    def _insert(play: Play, plays: list[Play], stamps: list[int]) -> None:
        if not stamps or play.at_ms >= stamps[-1]:
            plays.append(play)
            stamps.append(play.at_ms)
        else:
            i = bisect_right(stamps, play.at_ms)
            plays.insert(i, play)
            stamps.insert(i, play.at_ms)

    def add_play(self, play: Play) -> bool:
        """Insert a play made by hand; False when the same (user, played_at, track) already exists."""
        stamps = self.play_ms[play.user_id]
        plays = self.plays[play.user_id]
        lo, hi = bisect_left(stamps, play.at_ms), bisect_right(stamps, play.at_ms)
        if any(plays[i].track_id == play.track_id for i in range(lo, hi)):
            return False
        self._insert(play, plays, stamps)
        return True

    def plays_until(self, user_id: str, now_ms: int) -> list[Play]:
        return self.plays[user_id][: bisect_right(self.play_ms[user_id], now_ms)]

    def set_saved(self, user_id: str, track_id: str, saved: bool, now_ms: int) -> None:
        """A like or unlike through the API: one entry per track, dated when it was liked."""
        ids = self._saved_ids[user_id]
        if saved and track_id not in ids:
            ids.add(track_id)
            self.saved[user_id].append((now_ms, track_id))
            self.saved[user_id].sort()
        elif not saved and track_id in ids:
            ids.discard(track_id)
            self.saved[user_id] = [s for s in self.saved[user_id] if s[1] != track_id]

    def saved_until(self, user_id: str, now_ms: int) -> list[tuple[int, str]]:
        return [s for s in self.saved[user_id] if s[0] <= now_ms]
