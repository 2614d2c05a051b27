"""Seeded generation of the emulated catalogue: artists, albums and tracks with long-tailed popularity."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

GENRES: tuple[str, ...] = (
    "indie rock",
    "synth pop",
    "jazz",
    "hip hop",
    "techno",
    "folk",
    "classical",
    "metal",
    "soul",
    "ambient",
    "reggaeton",
    "k-pop",
)

_FIRST = [
    "Mara",
    "Ana",
    "Theo",
    "Ivo",
    "Lena",
    "Noor",
    "Kai",
    "Rosa",
    "Elio",
    "Juno",
    "Sami",
    "Ada",
    "Otto",
    "Lina",
    "Milo",
    "Vera",
    "Nils",
    "Iris",
    "Tomas",
    "Zoe",
    "Remi",
    "Yara",
    "Hugo",
    "Nina",
    "Emil",
    "Alba",
    "Oskar",
    "Leni",
    "Pablo",
    "Ines",
    "Aiko",
    "Dara",
    "Felix",
    "Greta",
    "Jonas",
    "Livia",
    "Matteo",
    "Suri",
]
_LAST = [
    "Lind",
    "Okafor",
    "Varga",
    "Moreau",
    "Sato",
    "Brandt",
    "Quinn",
    "Holm",
    "Rossi",
    "Novak",
    "Berg",
    "Castell",
    "Ibarra",
    "Kowal",
    "Laine",
    "Mertens",
    "Nakamura",
    "Oyelaran",
    "Petrov",
    "Ruiz",
    "Strand",
    "Tanaka",
    "Ueda",
    "Voss",
    "Weller",
    "Yilmaz",
    "Zeller",
    "Achterberg",
    "Duarte",
    "Fjell",
]
_ADJ = [
    "Velvet",
    "Silent",
    "Electric",
    "Golden",
    "Hollow",
    "Crimson",
    "Paper",
    "Neon",
    "Distant",
    "Wild",
    "Quiet",
    "Broken",
    "Endless",
    "Lunar",
    "Northern",
    "Slow",
    "Bright",
    "Sunken",
    "Glass",
    "Burning",
    "Frozen",
    "Tender",
    "Restless",
    "Scarlet",
    "Hidden",
    "Open",
    "Little",
    "Faded",
]
_NOUN = [
    "Foxes",
    "Harbour",
    "Machines",
    "Orchard",
    "Satellites",
    "Rivers",
    "Tigers",
    "Lanterns",
    "Engines",
    "Pines",
    "Waves",
    "Rooms",
    "Birds",
    "Mirrors",
    "Gardens",
    "Signals",
    "Horses",
    "Echoes",
    "Summers",
    "Cities",
    "Comets",
    "Islands",
    "Bridges",
    "Shadows",
    "Letters",
    "Clouds",
]
_WORDS = [
    "love",
    "night",
    "light",
    "river",
    "home",
    "fire",
    "dream",
    "rain",
    "heart",
    "city",
    "summer",
    "gold",
    "ocean",
    "road",
    "stars",
    "blue",
    "morning",
    "shadow",
    "echo",
    "window",
    "silver",
    "dance",
    "storm",
    "paper",
    "ghost",
    "glass",
    "winter",
    "honey",
    "thunder",
    "garden",
    "moon",
    "wild",
    "forever",
    "slow",
    "tide",
    "velvet",
    "smoke",
    "pulse",
    "bloom",
    "static",
    "orbit",
    "hollow",
    "fever",
    "wonder",
    "sleep",
    "faded",
    "neon",
]
_COUNTRIES = ("GB", "US", "SE", "DE", "FR", "NL", "JP", "BR", "ES", "IT", "KR", "NG")


def base62_id(rng: random.Random) -> str:
    """A Spotify-style id: 22 base62 characters."""
    return "".join(rng.choices(BASE62, k=22))


def is_base62_id(value: str) -> bool:
    return len(value) == 22 and all(c in BASE62 for c in value)


@dataclass
class Artist:
    id: str
    name: str
    genre: str
    weight: float
    album_ids: list[str] = field(default_factory=list)
    track_ids: list[str] = field(default_factory=list)
    # cumulative popularity weights over track_ids, for fast seeded sampling
    track_cum: list[float] = field(default_factory=list)
    # releases members never pick as albums (deluxe editions): listed with the artist's albums and found by
    # search, but kept out of album_ids so that adding them leaves every member's listening as it was
    other_album_ids: list[str] = field(default_factory=list)
    # a look-alike of another artist (a tribute act, "The X" beside "X"): search meets it, members never play it
    lookalike_of: str | None = None

    @property
    def uri(self) -> str:
        return f"spotify:artist:{self.id}"


@dataclass
class Album:
    id: str
    name: str
    artist_id: str
    album_type: str
    release_date: str
    label: str
    upc: str
    track_ids: list[str] = field(default_factory=list)
    # "" for an original release; "remaster", "live", "compilation", "deluxe" or "tribute" for another release
    # of its tracks (a tribute act's covers: other artists, same song names)
    version: str = ""

    @property
    def uri(self) -> str:
        return f"spotify:album:{self.id}"


@dataclass
class Track:
    id: str
    name: str
    artist_ids: tuple[str, ...]
    album_id: str
    track_number: int
    disc_number: int
    duration_ms: int
    explicit: bool
    isrc: str
    # the original recording this track is another release of (a remaster, a live take, a compilation's copy)
    original_id: str | None = None

    @property
    def uri(self) -> str:
        return f"spotify:track:{self.id}"


@dataclass
class Catalog:
    artists: dict[str, Artist]
    albums: dict[str, Album]
    tracks: dict[str, Track]
    # artist ids per genre, most popular first
    by_genre: dict[str, list[str]]

    def primary_artist(self, track_id: str) -> Artist:
        return self.artists[self.tracks[track_id].artist_ids[0]]


def _title(rng: random.Random, words: int) -> str:
    return " ".join(w.capitalize() for w in rng.sample(_WORDS, words))


def _artist_name(rng: random.Random, used: set[str]) -> str:
    while True:
        if rng.random() < 0.5:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        else:
            name = (
                f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
                if rng.random() < 0.5
                else rng.choice(_ADJ) + " " + rng.choice(_NOUN)
            )
        if name not in used:
            used.add(name)
            return name


@lru_cache(maxsize=4)
def generate_catalog(seed: int, artists_per_genre: int = 30) -> Catalog:
    """The same seed gives the same catalogue, ids included (cached: a catalogue is never modified)."""
    rng = random.Random(f"catalog/{seed}")
    artists: dict[str, Artist] = {}
    albums: dict[str, Album] = {}
    tracks: dict[str, Track] = {}
    by_genre: dict[str, list[str]] = {}
    used_names: set[str] = set()
    isrc_serial = 0
    for genre in GENRES:
        ids: list[str] = []
        for rank in range(artists_per_genre):
            # Zipf-like: a few artists are heard by everyone, most are the long tail
            artist = Artist(base62_id(rng), _artist_name(rng, used_names), genre, 1.0 / (rank + 1) ** 1.1)
            artists[artist.id] = artist
            ids.append(artist.id)
            country = rng.choice(_COUNTRIES)
            registrant = "".join(rng.choices(string.ascii_uppercase + string.digits, k=3))
            n_albums = 1 + min(5, int(rng.expovariate(0.8)))
            weights: list[float] = []
            for _ in range(n_albums):
                kind = rng.random()
                n_tracks = rng.randint(1, 2) if kind < 0.4 else rng.randint(4, 6) if kind < 0.6 else rng.randint(8, 14)
                album_type = "single" if n_tracks <= 2 else "album"
                year = rng.randint(1995, 2026)
                released = date(year, rng.randint(1, 12), rng.randint(1, 28))
                album = Album(
                    base62_id(rng),
                    _title(rng, rng.randint(1, 3)),
                    artist.id,
                    album_type,
                    released.isoformat(),
                    f"{rng.choice(_ADJ)} {rng.choice(['Records', 'Music', 'Recordings', 'Sounds'])}",
                    "".join(rng.choices(string.digits, k=12)),
                )
                albums[album.id] = album
                artist.album_ids.append(album.id)
                for number in range(1, n_tracks + 1):
                    isrc_serial += 1
                    featured: tuple[str, ...] = ()
                    if len(ids) > 3 and rng.random() < 0.06:
                        featured = (rng.choice(ids[:-1]),)
                    duration = int(max(75_000, min(540_000, rng.gauss(215_000, 55_000))))
                    track = Track(
                        base62_id(rng),
                        _title(rng, rng.randint(1, 3)),
                        (artist.id, *featured),
                        album.id,
                        number,
                        1,
                        duration,
                        rng.random() < 0.15,
                        f"{country}{registrant}{year % 100:02d}{isrc_serial % 100000:05d}",
                    )
                    tracks[track.id] = track
                    album.track_ids.append(track.id)
                    artist.track_ids.append(track.id)
                    # singles and album openers are heard more: long tail within an artist too
                    weights.append((3.0 if album_type == "single" else 1.0) / number**0.7 * rng.uniform(0.3, 1.7))
            total = 0.0
            for w in weights:
                total += w
                artist.track_cum.append(total)
        by_genre[genre] = ids
    catalog = Catalog(artists, albums, tracks, by_genre)
    _add_versions(random.Random(f"catalog-versions/{seed}"), catalog)
    _add_lookalikes(random.Random(f"catalog-lookalikes/{seed}"), catalog, used_names)
    return catalog


def played_tracks(catalog: Catalog) -> list[str]:
    """Track ids members and listeners can meet by chance: everything but look-alike artists and deluxe editions."""
    return [
        t
        for t, track in catalog.tracks.items()
        if catalog.albums[track.album_id].version not in ("deluxe", "tribute")
        and catalog.artists[track.artist_ids[0]].lookalike_of is None
    ]


def _add_lookalikes(rng: random.Random, catalog: Catalog, used: set[str]) -> None:
    """Near-duplicates of artists and albums, as real search meets them: "The X" beside "X" (another, obscure
    band with its own songs), tribute acts covering an artist's best-known songs under the same names, and
    deluxe editions (the album's recordings, same names and ISRCs, plus bonus tracks). Nobody plays them
    (weight 0, in no genre's list, not among album_ids), so every member's listening stays as it was; they
    are dated before 2025, so no release window of the emulated present contains them."""
    serial = 0

    def album_for(artist: Artist, name: str, year: int, version: str, kind: str = "album") -> Album:
        album = Album(
            base62_id(rng),
            name,
            artist.id,
            kind,
            date(year, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            f"{rng.choice(_ADJ)} Records",
            "".join(rng.choices(string.digits, k=12)),
            version=version,
        )
        catalog.albums[album.id] = album
        return album

    def track_for(album: Album, name: str, artist_ids: tuple[str, ...], isrc: str | None, original: str | None) -> None:
        nonlocal serial
        serial += 1
        track = Track(
            base62_id(rng),
            name,
            artist_ids,
            album.id,
            len(album.track_ids) + 1,
            1,
            int(max(75_000, min(540_000, rng.gauss(215_000, 55_000)))),
            False,
            isrc or f"QM{''.join(rng.choices(string.ascii_uppercase, k=3))}{album.release_date[2:4]}{serial:05d}",
            original,
        )
        catalog.tracks[track.id] = track
        album.track_ids.append(track.id)

    def best_known(artist: Artist, n: int) -> list[Track]:
        steps = [b - a for a, b in zip([0.0, *artist.track_cum], artist.track_cum, strict=False)]
        order = sorted(range(len(steps)), key=lambda i: -steps[i])
        seen: set[str] = set()
        out: list[Track] = []
        for i in order:
            track = catalog.tracks[artist.track_ids[i]]
            if track.name not in seen:
                seen.add(track.name)
                out.append(track)
        return out[:n]

    for genre, ids in list(catalog.by_genre.items()):
        for artist_id in ids[:6]:
            artist = catalog.artists[artist_id]
            # "The X" and "X": another band whose name differs by the article
            band = artist.name.startswith("The ") or artist.name.split()[0] in _ADJ
            twin = artist.name[4:] if artist.name.startswith("The ") else f"The {artist.name}"
            if not band or twin in used:
                twin = ""
            if twin and rng.random() < 0.5:
                used.add(twin)
                other = Artist(base62_id(rng), twin, genre, 0.0, lookalike_of=artist.id)
                catalog.artists[other.id] = other
                year = rng.randint(2000, 2024)
                album = album_for(other, _title(rng, rng.randint(1, 2)), year, "")
                other.album_ids.append(album.id)
                for _ in range(rng.randint(3, 8)):
                    track_for(album, _title(rng, rng.randint(1, 3)), (other.id,), None, None)
                other.track_ids = list(album.track_ids)
            # a tribute act: the artist's best-known songs, covered, under the same names (own ISRCs)
            if rng.random() < 0.6:
                name = rng.choice([f"{artist.name} Tribute Band", f"The {artist.name.removeprefix('The ')} Experience"])
                if name in used:
                    continue
                used.add(name)
                tribute = Artist(base62_id(rng), name, genre, 0.0, lookalike_of=artist.id)
                catalog.artists[tribute.id] = tribute
                album = album_for(tribute, f"A Tribute to {artist.name}", rng.randint(2005, 2024), "tribute")
                tribute.album_ids.append(album.id)
                for original in best_known(artist, rng.randint(3, 6)):
                    track_for(album, original.name, (tribute.id,), None, original.id)
                tribute.track_ids = list(album.track_ids)
        # deluxe editions of popular artists' albums: same recordings (names, ISRCs), plus bonus tracks
        for artist_id in ids[:10]:
            artist = catalog.artists[artist_id]
            for album_id in list(artist.album_ids):
                album = catalog.albums[album_id]
                year = int(album.release_date[:4])
                if album.album_type != "album" or album.version or year > 2021 or rng.random() >= 0.3:
                    continue
                deluxe = album_for(artist, f"{album.name} (Deluxe Edition)", year + rng.randint(1, 3), "deluxe")
                artist.other_album_ids.append(deluxe.id)
                for track_id in album.track_ids:
                    original = catalog.tracks[track_id]
                    track_for(deluxe, original.name, original.artist_ids, original.isrc, original.id)
                for _ in range(rng.randint(1, 3)):
                    track_for(deluxe, _title(rng, rng.randint(1, 3)), (artist.id,), None, None)


def _add_versions(rng: random.Random, catalog: Catalog) -> None:
    """Near-duplicates, as search meets them: remastered and live albums of popular artists' albums, and a
    "Various Artists" compilation per genre. Members play the remastered and live albums as albums (they are
    among the artist's albums) but never pick their tracks one by one (they are not in the artist's track list).
    A remaster or live take has its own ISRC; a compilation's copy shares the original's, as on Spotify."""
    various = Artist(base62_id(rng), "Various Artists", "various", 0.0)
    catalog.artists[various.id] = various
    serial = 0

    def copy(album: Album, original: Track, name: str, isrc: str | None) -> None:
        nonlocal serial
        serial += 1
        track = Track(
            base62_id(rng),
            name,
            original.artist_ids,
            album.id,
            len(album.track_ids) + 1,
            1,
            original.duration_ms + (rng.randint(20_000, 90_000) if album.version == "live" else 0),
            original.explicit,
            isrc or f"QZ{''.join(rng.choices(string.ascii_uppercase, k=3))}{album.release_date[2:4]}{serial:05d}",
            original.id,
        )
        catalog.tracks[track.id] = track
        album.track_ids.append(track.id)

    for genre, ids in catalog.by_genre.items():
        for artist_id in ids[:12]:
            artist = catalog.artists[artist_id]
            for album_id in list(artist.album_ids):
                album = catalog.albums[album_id]
                if album.album_type != "album":
                    continue
                for version, chance in (("remaster", 0.35), ("live", 0.2)):
                    if rng.random() >= chance:
                        continue
                    year = min(2026, int(album.release_date[:4]) + rng.randint(5, 20))
                    suffix = f"Remastered {year}" if version == "remaster" else "Live"
                    other = Album(
                        base62_id(rng),
                        f"{album.name} ({suffix})",
                        artist.id,
                        "album",
                        date(year, rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
                        album.label,
                        "".join(rng.choices(string.digits, k=12)),
                        version=version,
                    )
                    catalog.albums[other.id] = other
                    artist.album_ids.append(other.id)
                    for track_id in album.track_ids:
                        if version == "live" and rng.random() < 0.3:
                            continue
                        original = catalog.tracks[track_id]
                        copy(other, original, f"{original.name} - {suffix}", None)
        best = Album(
            base62_id(rng),
            f"{genre.title()} Classics",
            various.id,
            "compilation",
            date(rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            "Various Records",
            "".join(rng.choices(string.digits, k=12)),
            version="compilation",
        )
        catalog.albums[best.id] = best
        various.album_ids.append(best.id)
        for artist_id in ids[:8]:
            artist = catalog.artists[artist_id]
            # the artist's most played track (the largest step of its cumulative weights)
            steps = [b - a for a, b in zip([0.0, *artist.track_cum], artist.track_cum, strict=False)]
            original = catalog.tracks[artist.track_ids[steps.index(max(steps))]]
            copy(best, original, original.name, original.isrc)
