"""Ranked, typo-tolerant search over the emulated catalogue, as Spotify's /search behaves: words in any order."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from recs.emulator.catalog import Catalog

_TOKEN = re.compile(r"[a-z0-9]+")
# Popularity of another release relative to its original: search ranks the original first, as Spotify does.
_VERSION_WEIGHT = {"": 1.0, "remaster": 0.4, "live": 0.15, "compilation": 0.25}


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


@dataclass
class SearchIndex:
    """Inverted indexes of the catalogue's track names, artist names and album names."""

    catalog: Catalog
    by_field: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    popularity: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, catalog: Catalog) -> SearchIndex:
        index = cls(catalog, {"track": defaultdict(set), "artist": defaultdict(set), "album": defaultdict(set)})
        for artist in catalog.artists.values():
            previous = 0.0
            for track_id, cum in zip(artist.track_ids, artist.track_cum, strict=False):
                index.popularity[track_id] = artist.weight * (cum - previous)
                previous = cum
        for track in catalog.tracks.values():
            album = catalog.albums[track.album_id]
            if track.original_id is not None:
                base = index.popularity.get(track.original_id, 0.0)
                index.popularity[track.id] = base * _VERSION_WEIGHT[album.version]
            for word in tokens(track.name):
                index.by_field["track"][word].add(track.id)
            for artist_id in track.artist_ids:
                for word in tokens(catalog.artists[artist_id].name):
                    index.by_field["artist"][word].add(track.id)
            for word in tokens(album.name):
                index.by_field["album"][word].add(track.id)
        return index

    def _matches(self, word: str, fields: tuple[str, ...]) -> dict[str, float]:
        """Track id -> the best quality with which *word* matches one of its *fields*."""
        out: dict[str, float] = {}
        for name in fields:
            for token, ids in self.by_field[name].items():
                quality = word_quality(word, token)
                if quality:
                    for track_id in ids:
                        if out.get(track_id, 0.0) < quality:
                            out[track_id] = quality
        return out

    def tracks(self, words: list[str], filters: dict[str, str]) -> list[str]:
        """Track ids matching every word (free words anywhere; `track:`, `artist:`, `album:` words in that field
        only), best first: match quality, then popularity."""
        wanted: list[tuple[str, tuple[str, ...]]] = [(w, ("track", "artist", "album")) for w in words]
        for key in ("track", "artist", "album"):
            wanted += [(w, (key,)) for w in tokens(filters.get(key, ""))]
        if not wanted:
            return []
        score: dict[str, float] | None = None
        for word, fields in wanted:
            found = self._matches(word, fields)
            score = found if score is None else {t: s + found[t] for t, s in score.items() if t in found}
            if not score:
                return []
        assert score is not None
        title = tokens(filters.get("track", "")) or words
        if title:
            # a name that is exactly the words asked for ranks above one that merely contains them
            for track_id in score:
                if tokens(self.catalog.tracks[track_id].name) == title:
                    score[track_id] += 0.5
        return sorted(score, key=lambda t: (-score[t], -self.popularity.get(t, 0.0), t))


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
