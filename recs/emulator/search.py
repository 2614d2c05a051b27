"""Ranked, typo-tolerant search over the emulated catalogue and playlists, as Spotify's /search behaves."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from recs.emulator.catalog import Catalog

_TOKEN = re.compile(r"[a-z0-9]+")
# Popularity of another release relative to its original: search ranks the original first, as Spotify does.
_VERSION_WEIGHT = {"": 1.0, "remaster": 0.4, "live": 0.15, "compilation": 0.25, "deluxe": 0.3, "tribute": 0.02}
# Which field filters apply to which result type (openapi.yml, /search `q`); a filter that does not apply to a
# type is left out for it. `year`, `genre`, `isrc`, `upc` and `tag` are conditions, the others words to match.
APPLIES = {
    "track": {"track", "artist", "album", "year", "genre", "isrc"},
    "artist": {"artist", "year", "genre"},
    "album": {"album", "artist", "year", "upc", "tag"},
}
# the fields free words are matched against, per result type
FREE_FIELDS = {"track": ("track", "artist", "album"), "artist": ("artist",), "album": ("album", "artist")}


# words a name may leave out ("the glass orchard" finds "Glass Orchard"): they add to the score, never exclude
OPTIONAL = frozenset({"the", "a", "an", "and", "of"})


def tokens(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return _TOKEN.findall(folded)


def _within(a: str, b: str, limit: int) -> bool:
    """Edit distance of a and b (insertions, deletions, substitutions, swaps of neighbours) is at most limit."""
    if abs(len(a) - len(b)) > limit:
        return False
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return False
        before, previous = previous, current
    return previous[-1] <= limit


def word_quality(word: str, token: str) -> float:
    """How well a query word matches an indexed word: exact 1, a prefix (as typed so far) 0.8, a typo 0.6."""
    if word == token:
        return 1.0
    if len(word) >= 3 and token.startswith(word):
        return 0.8
    if len(word) >= 4 and _within(word, token, 1 if len(word) < 8 else 2):
        return 0.6
    return 0.0


def year_range(value: str) -> tuple[int, int] | None:
    """`year:1999` or `year:1955-1960`; None for anything else (Spotify then finds nothing)."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", value.strip())
    if match is None:
        return None
    low = int(match.group(1))
    return low, int(match.group(2) or low)


@dataclass
class FieldIndex:
    """One kind of item (tracks, artists, albums, playlists) indexed by field: word -> item ids."""

    by_field: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    names: dict[str, list[str]] = field(default_factory=dict)
    popularity: dict[str, float] = field(default_factory=dict)

    def add(self, item_id: str, name: str, fields: Mapping[str, Iterable[str]], popularity: float) -> None:
        """*fields*: field -> texts; *name* is the item's own name (an exact match of it ranks higher)."""
        self.names[item_id] = tokens(name)
        self.popularity[item_id] = popularity
        for key, texts in fields.items():
            for text in texts:
                for word in tokens(text):
                    self.by_field[key][word].add(item_id)

    def _matches(self, word: str, fields: tuple[str, ...]) -> dict[str, float]:
        """Item id -> the best quality with which *word* matches one of its *fields*."""
        out: dict[str, float] = {}
        for name in fields:
            for token, ids in self.by_field[name].items():
                quality = word_quality(word, token)
                if quality:
                    for item_id in ids:
                        if out.get(item_id, 0.0) < quality:
                            out[item_id] = quality
        return out

    def rank(
        self,
        wanted: list[tuple[str, tuple[str, ...]]],
        title: list[str],
        keep: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Ids matching every (word, fields) wanted (an OPTIONAL word only adds) and passing *keep*, best first:
        the summed match quality (+0.5 when the item's name is exactly *title*), then popularity. No words:
        every item *keep* passes."""
        score: dict[str, float] | None = None
        required = [(w, f) for w, f in wanted if w not in OPTIONAL] or wanted
        optional = [(w, f) for w, f in wanted if (w, f) not in required]
        if not required:
            if keep is None:
                return []
            score = {item_id: 0.0 for item_id in self.names}
        for word, fields in required:
            found = self._matches(word, fields)
            score = found if score is None else {t: s + found[t] for t, s in score.items() if t in found}
            if not score:
                return []
        assert score is not None
        for word, fields in optional:
            found = self._matches(word, fields)
            score = {t: s + found.get(t, 0.0) for t, s in score.items()}
        if keep is not None:
            score = {t: s for t, s in score.items() if keep(t)}
        if title:
            # a name that is exactly the words asked for ranks above one that merely contains them
            for item_id in score:
                if self.names[item_id] == title:
                    score[item_id] += 0.5
        return sorted(score, key=lambda t: (-score[t], -self.popularity.get(t, 0.0), t))


def wanted_words(kind: str, words: list[str], filters: Mapping[str, str]) -> list[tuple[str, tuple[str, ...]]]:
    """The (word, fields) a query asks of one result type: free words in its free fields, filter words in theirs."""
    out = [(w, FREE_FIELDS[kind]) for w in words]
    for key in ("track", "artist", "album"):
        if key in APPLIES[kind]:
            out += [(w, (key,)) for w in tokens(filters.get(key, ""))]
    return out


@dataclass
class SearchIndex:
    """The catalogue's tracks, artists and albums, each a FieldIndex, with what the filters look at."""

    catalog: Catalog
    tracks: FieldIndex
    artists: FieldIndex
    albums: FieldIndex
    artist_years: dict[str, set[int]]

    @classmethod
    def build(cls, catalog: Catalog) -> SearchIndex:
        track_pop: dict[str, float] = {}
        for artist in catalog.artists.values():
            previous = 0.0
            for track_id, cum in zip(artist.track_ids, artist.track_cum, strict=False):
                track_pop[track_id] = artist.weight * (cum - previous)
                previous = cum
        tracks, artists, albums = FieldIndex(), FieldIndex(), FieldIndex()
        album_pop: dict[str, float] = defaultdict(float)
        artist_years: dict[str, set[int]] = defaultdict(set)
        for track in catalog.tracks.values():
            album = catalog.albums[track.album_id]
            pop = track_pop.get(track.id, 0.0)
            if track.original_id is not None:
                pop = track_pop.get(track.original_id, 0.0) * _VERSION_WEIGHT[album.version]
            album_pop[album.id] += pop
            names = [catalog.artists[a].name for a in track.artist_ids]
            tracks.add(track.id, track.name, {"track": [track.name], "artist": names, "album": [album.name]}, pop)
        for album in catalog.albums.values():
            artist_years[album.artist_id].add(int(album.release_date[:4]))
            owner = catalog.artists[album.artist_id].name
            albums.add(album.id, album.name, {"album": [album.name], "artist": [owner]}, album_pop[album.id])
        for artist in catalog.artists.values():
            # a look-alike (tribute act, "The X" beside "X") is far less known than the artist it resembles
            artists.add(artist.id, artist.name, {"artist": [artist.name]}, artist.weight)
        return cls(catalog, tracks, artists, albums, artist_years)

    def _album_year(self, album_id: str) -> int:
        return int(self.catalog.albums[album_id].release_date[:4])

    def search(self, kind: str, words: list[str], filters: Mapping[str, str], today: str) -> list[str]:
        """Ids of *kind* ("track", "artist", "album") for the query, best first."""
        cat = self.catalog
        applied = {k: v for k, v in filters.items() if k in APPLIES[kind]}
        conditions: list[Callable[[str], bool]] = []
        if "year" in applied:
            span = year_range(applied["year"])
            if span is None:
                return []
            low, high = span
            if kind == "track":
                conditions.append(lambda t: low <= self._album_year(cat.tracks[t].album_id) <= high)
            elif kind == "album":
                conditions.append(lambda a: low <= self._album_year(a) <= high)
            else:
                conditions.append(lambda a: any(low <= y <= high for y in self.artist_years.get(a, ())))
        if "genre" in applied:
            genre = " ".join(tokens(applied["genre"]))
            if kind == "track":
                conditions.append(lambda t: genre in {cat.artists[a].genre for a in cat.tracks[t].artist_ids})
            else:
                conditions.append(lambda a: cat.artists[a].genre == genre)
        if "isrc" in applied:
            isrc = applied["isrc"].upper()
            conditions.append(lambda t: cat.tracks[t].isrc == isrc)
        if "upc" in applied:
            upc = applied["upc"]
            conditions.append(lambda a: cat.albums[a].upc == upc)
        if applied.get("tag") == "new":
            # released in the past two weeks of the emulated day
            from datetime import date, timedelta

            since = (date.fromisoformat(today) - timedelta(days=14)).isoformat()
            conditions.append(lambda a: since <= cat.albums[a].release_date <= today)
        elif applied.get("tag") == "hipster":
            # the albums with the lowest 10 % popularity
            ranked = sorted(self.albums.popularity, key=lambda a: (self.albums.popularity[a], a))
            lowest = set(ranked[: max(1, len(ranked) // 10)])
            conditions.append(lambda a: a in lowest)
        keep = (lambda item: all(c(item) for c in conditions)) if conditions else None
        index = {"track": self.tracks, "artist": self.artists, "album": self.albums}[kind]
        title = tokens(applied.get(kind, "")) or words
        return index.rank(wanted_words(kind, words, applied), title, keep)


_INDEXES: dict[int, tuple[Catalog, SearchIndex]] = {}


def index_for(catalog: Catalog) -> SearchIndex:
    """The catalogue's index, built once (catalogues are never modified; a few are cached by generate_catalog)."""
    cached = _INDEXES.get(id(catalog))
    if cached is None or cached[0] is not catalog:
        if len(_INDEXES) >= 4:
            _INDEXES.pop(next(iter(_INDEXES)))
        cached = (catalog, SearchIndex.build(catalog))
        _INDEXES[id(catalog)] = cached
    return cached[1]


def rank_named(items: Mapping[str, tuple[str, list[str], float]], words: list[str]) -> list[str]:
    """Rank a handful of items built per query (playlists, episodes): id -> (name, texts, popularity)."""
    index = FieldIndex()
    for item_id, (name, texts, pop) in items.items():
        index.add(item_id, name, {"name": texts}, pop)
    return index.rank([(w, ("name",)) for w in words], words)
