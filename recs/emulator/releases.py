"""A seeded stream of releases over emulated time (new singles and albums, features, deluxe editions, remasters, compilations) with ground truth of what is new."""

from __future__ import annotations

import bisect
import itertools
import random
import string
from collections import ChainMap, Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from recs.emulator.catalog import Album, Catalog, Track, _title, base62_id
from recs.emulator.household import from_ms

# Releases exist from this long before the emulator's start, so a window ending at the start is not empty.
LOOKBACK_DAYS = 60
# Kinds of release and how often each comes out. "feature" is another artist's single crediting the artist
# (appears_on for them). Only album, single and feature bring recordings out for the first time, plus a
# deluxe edition's bonus tracks; remasters and compilations only re-release what was already out.
KINDS: tuple[tuple[str, float], ...] = (
    ("single", 0.35),
    ("album", 0.2),
    ("feature", 0.1),
    ("deluxe", 0.12),
    ("remaster", 0.1),
    ("compilation", 0.13),
)
ORIGINAL_KINDS = frozenset({"single", "album", "feature"})
GROUPS = ("album", "single", "appears_on", "compilation")


@dataclass(frozen=True)
class Release:
    """One album that came out on *album.release_date*, with the tracks it brought out for the first time."""

    album: Album
    kind: str
    new_track_ids: tuple[str, ...]
    original_album_id: str | None = None


# the catalogue's look-alike releases (catalog._add_lookalikes): nobody plays them and they are no release of
# the emulated present, so the stream leaves them out (as before they existed)
LOOKALIKES = ("deluxe", "tribute")


class ReleaseStream:
    """The catalogue's albums plus releases generated day by day as the clock moves (each day seeded on its own)."""

    def __init__(self, catalog: Catalog, seed: int, start_ms: int) -> None:
        self.catalog = catalog
        self.seed = seed
        self.albums: dict[str, Album] = {}
        self.tracks: dict[str, Track] = {}
        self.releases: list[Release] = []
        # album ids per artist (own releases) and per credited artist on others' releases (appears_on)
        self.own: dict[str, list[str]] = {
            a: [*artist.album_ids, *artist.other_album_ids] for a, artist in catalog.artists.items()
        }
        self.appears: dict[str, list[str]] = {}
        for album in catalog.albums.values():
            for artist_id in self._credited(album, catalog.tracks):
                if artist_id != album.artist_id:
                    self.appears.setdefault(artist_id, []).append(album.id)
        # song names per credited artist: a new song never takes the name of one the artist already has
        # (the title generator draws from few words, and a clash would read as a re-release)
        self.songs: dict[str, set[str]] = {}
        for track in catalog.tracks.values():
            if catalog.albums[track.album_id].version in LOOKALIKES:
                continue
            for a in track.artist_ids:
                self.songs.setdefault(a, set()).add(track.name.casefold())
        self.artist_ids = sorted(catalog.artists)
        self.cum_weights = list(itertools.accumulate(catalog.artists[a].weight ** 0.5 for a in self.artist_ids))
        self.next_day = from_ms(start_ms).date() - timedelta(days=LOOKBACK_DAYS)

        def song(t: Track) -> tuple[str, str]:
            return t.artist_ids[0], t.name.casefold()

        titles = Counter(song(t) for t in catalog.tracks.values() if not catalog.albums[t.album_id].version)
        # the catalogue's own recent albums are releases too (all their recordings new), some dated ahead
        recent = [
            al
            for al in catalog.albums.values()
            if al.release_date >= self.next_day.isoformat() and al.version not in LOOKALIKES
        ]
        for album in sorted(recent, key=lambda al: (al.release_date, al.id)):
            if not album.version:
                # the catalogue's titles repeat within an artist (members may even have played a later-dated
                # one early); a title the artist has on another original cannot be told from a re-release
                new = tuple(t for t in album.track_ids if titles[song(catalog.tracks[t])] == 1)
                self.releases.append(Release(album, album.album_type, new))
                continue
            # the catalogue's remasters, live takes and compilations re-release recordings already out
            first = catalog.tracks[album.track_ids[0]].original_id if album.track_ids else None
            source = catalog.tracks[first].album_id if first else None
            self.releases.append(Release(album, album.version, (), source))

    @property
    def album_table(self) -> Mapping[str, Album]:
        return ChainMap(self.albums, self.catalog.albums)

    @property
    def track_table(self) -> Mapping[str, Track]:
        return ChainMap(self.tracks, self.catalog.tracks)

    @staticmethod
    def _credited(album: Album, tracks: Mapping[str, Track]) -> list[str]:
        seen: dict[str, None] = {}
        for t in album.track_ids:
            for a in tracks[t].artist_ids:
                seen[a] = None
        return list(seen)

    def generate_until(self, now_ms: int) -> None:
        """Bring out every release dated up to and including the current emulated day."""
        today = from_ms(now_ms).date()
        while self.next_day <= today:
            self._generate_day(self.next_day)
            self.next_day += timedelta(days=1)

    def _generate_day(self, day: date) -> None:
        rng = random.Random(f"releases/{self.seed}/{day.isoformat()}")
        kinds, weights = zip(*KINDS, strict=True)
        for _ in range(rng.randint(2, 6)):
            artist_id = self.artist_ids[
                bisect.bisect_left(self.cum_weights, rng.random() * self.cum_weights[-1]) % len(self.artist_ids)
            ]
            kind = rng.choices(kinds, weights)[0]
            self._release(rng, day, artist_id, kind)

    def _originals(self, artist_id: str, day: date) -> list[Album]:
        table = self.album_table
        return [
            table[a]
            for a in self.own[artist_id]
            if table[a].album_type in ("album", "single")
            and not table[a].version
            and table[a].release_date < day.isoformat()
        ]

    def _release(self, rng: random.Random, day: date, artist_id: str, kind: str) -> None:
        artist = self.catalog.artists[artist_id]
        tracks = self.track_table
        originals = self._originals(artist_id, day)
        if kind in ("deluxe", "remaster", "compilation") and not originals:
            kind = "single"
        album_type = {"album": "album", "deluxe": "album", "remaster": "album", "compilation": "compilation"}.get(
            kind, "single"
        )
        owner = artist_id
        if kind == "feature":
            others = [a for a in self.catalog.by_genre[artist.genre] if a != artist_id]
            owner = rng.choice(others)
        original: Album | None = None
        if kind in ("deluxe", "remaster"):
            original = rng.choice(originals)
            name = f"{original.name} ({'Deluxe Edition' if kind == 'deluxe' else f'{day.year} Remaster'})"
        elif kind == "compilation":
            name = rng.choice(["Greatest Hits", "The Best Of", "Collected", "Essentials", "Anthology"])
        else:
            name = _title(rng, rng.randint(1, 3))
        album = Album(
            base62_id(rng),
            name,
            owner,
            album_type,
            day.isoformat(),
            f"{self.catalog.artists[owner].name} Records",
            "".join(rng.choices(string.digits, k=12)),
            version="" if kind in ORIGINAL_KINDS else kind,
        )
        new: list[str] = []
        registrant = "".join(rng.choices(string.ascii_uppercase + string.digits, k=3))

        def add(
            name: str, artists: tuple[str, ...], isrc: str | None, duration: int, original: str | None = None
        ) -> None:
            track_id = base62_id(rng)
            if isrc is None:
                isrc = f"QZ{registrant}{day.year % 100:02d}{rng.randrange(100_000):05d}"
                new.append(track_id)
            number = len(album.track_ids) + 1
            track = Track(track_id, name, artists, album.id, number, 1, duration, rng.random() < 0.15, isrc, original)
            self.tracks[track_id] = track
            album.track_ids.append(track_id)

        def fresh(artists: tuple[str, ...]) -> str:
            while True:
                name = _title(rng, rng.randint(1, 3))
                if all(name.casefold() not in self.songs.get(a, ()) for a in artists):
                    for a in artists:
                        self.songs.setdefault(a, set()).add(name.casefold())
                    return name

        if original is not None:
            for t in original.track_ids:
                old = tracks[t]
                # a remaster is a new recording of the same song (new ISRC, same name); a deluxe edition
                # re-issues the very recordings (same ISRC) and adds bonus tracks
                isrc = None if kind == "remaster" else old.isrc
                add(old.name, old.artist_ids, isrc, old.duration_ms, old.original_id or old.id)
            if kind == "remaster":
                new.clear()
            else:
                for _ in range(rng.randint(1, 3)):
                    add(fresh((artist_id,)), (artist_id,), None, rng.randint(150_000, 300_000))
        elif kind == "compilation":
            pool = [t for al in originals for t in al.track_ids]
            for t in rng.sample(pool, k=min(len(pool), rng.randint(4, 12))):
                old = tracks[t]
                add(old.name, old.artist_ids, old.isrc, old.duration_ms, old.original_id or old.id)
        else:
            n = rng.randint(1, 3) if album_type == "single" else rng.randint(6, 12)
            featured = rng.randrange(n) if kind == "feature" else -1
            for i in range(n):
                credits = (owner, artist_id) if i == featured else (owner,)
                add(fresh(credits), credits, None, rng.randint(120_000, 330_000))
        self.albums[album.id] = album
        self.own.setdefault(owner, []).append(album.id)
        if kind == "feature":
            self.appears.setdefault(artist_id, []).append(album.id)
        self.releases.append(Release(album, kind, tuple(new), original.id if original else None))

    def artist_albums(self, artist_id: str, groups: set[str], today: str) -> list[tuple[Album, str]]:
        """The artist's released albums in *groups* with their album_group, newest first (then by id)."""
        table = self.album_table
        out: list[tuple[Album, str]] = []
        for album_id in self.own.get(artist_id, []):
            album = table[album_id]
            if album.album_type in groups and album.release_date <= today:
                out.append((album, album.album_type))
        if "appears_on" in groups:
            out.extend(
                (table[a], "appears_on") for a in self.appears.get(artist_id, []) if table[a].release_date <= today
            )
        out.sort(key=lambda pair: (pair[0].release_date, pair[0].id), reverse=True)
        return out

    def ground_truth(self, since: str, until: str) -> list[dict[str, object]]:
        """Releases dated in [since, until]: kind, and per artist the tracks first released there crediting them."""
        out: list[dict[str, object]] = []
        tracks = self.track_table
        for r in self.releases:
            if not since <= r.album.release_date <= until:
                continue
            new_by_artist: dict[str, list[str]] = {}
            for t in r.new_track_ids:
                for a in tracks[t].artist_ids:
                    new_by_artist.setdefault(a, []).append(t)
            out.append(
                {
                    "album_id": r.album.id,
                    "artist_id": r.album.artist_id,
                    "name": r.album.name,
                    "album_type": r.album.album_type,
                    "kind": r.kind,
                    "release_date": r.album.release_date,
                    "original_album_id": r.original_album_id,
                    "new_track_ids": list(r.new_track_ids),
                    "new_tracks_by_artist": new_by_artist,
                }
            )
        return out
