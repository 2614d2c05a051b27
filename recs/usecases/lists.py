"""List building: each member's "discover" and "rediscover" lists from a fitted model, with explanations (pure).

It reads no database: the training use case passes in the member's filters, the candidates' artist sets
and the names of the tracks an explanation cites. Building a list takes two steps, so that one read can
serve every member between them:

1. `ListBuilder.discover(member_id, top_tracks)` / `.rediscover(member_id)` score and return a `Pool`
   of candidates (about six times the list size), best first;
2. `ListBuilder.finish(pool, filters, artists)` drops hidden tracks and blocked artists, applies the
   per-artist cap and the week's seeded exploration, and picks each kept track's "because" track.

Explanations vary across a list: each card gets the member's track that explains it most strongly
(`explain_ranked`, up to `REASONS_PER_CARD` candidates), unless that track already explains
`seed_cap(len(list))` better-ranked cards (2 in a list of 12): then its next-strongest reason. Only when
every candidate of a card is taken that often does the card repeat the least-used one (`spread_reasons`).

Scores come from a `Scorer` (member row -> `TrackScores` over track ids, not matrix indices), by default
`household_scorer(inter, model)`: another source of scores, e.g. one reaching tracks the household never
played, plugs in there; tracks the member already knows are left out whatever the source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.core.config import RecommendSettings
from recs.core.domain import MemberFilters, TrackRow
from recs.core.interactions import CONTEXT_EXCLUDED, FloatArray, IntArray, Interactions, Signals
from recs.core.ranking import apply_filters, explore, week_seed
from recs.model import Model, top_n

# A discover list is cut from a pool this many times its length (room for filters, the cap and exploration).
POOL_FACTOR = 6
# Candidate "because" tracks considered per card, strongest first.
REASONS_PER_CARD = 6


@dataclass
class MemberView:
    """What a member's own history says, for list building and explanations."""

    member_id: int
    row: int
    known: set[int]
    play_count: dict[int, int]
    last_played: dict[int, float]


def member_views(signals: Signals, inter: Interactions) -> dict[int, MemberView]:
    """Each member's known tracks (any signal, "more like this" included), counted plays and last play time."""
    s = signals
    views: dict[int, MemberView] = {}
    for member_id in inter.members.ids.tolist():
        views[member_id] = MemberView(member_id, inter.row_of(member_id), set(), {}, {})
    for m, t in zip(s.play_member.tolist(), s.play_track.tolist(), strict=True):
        if m in views:
            views[m].known.add(t)
    for arr_m, arr_t in (
        (s.short_member, s.short_track),
        (s.saved_member, s.saved_track),
        (s.playlist_member, s.playlist_track),
        (s.liked_member, s.liked_track),
    ):
        for m, t in zip(arr_m.tolist(), arr_t.tolist(), strict=True):
            if m in views:
                views[m].known.add(t)
    counted = ~s.play_skipped & (s.play_context != CONTEXT_EXCLUDED)
    for m, t, at, c in zip(
        s.play_member.tolist(), s.play_track.tolist(), s.play_at.tolist(), counted.tolist(), strict=True
    ):
        v = views.get(m)
        if v is None:
            continue
        if at > v.last_played.get(t, -math.inf):
            v.last_played[t] = at
        if c:
            v.play_count[t] = v.play_count.get(t, 0) + 1
    return views


def _zscore(x: FloatArray) -> FloatArray:
    if x.size == 0:
        return x
    std = float(x.std())
    out: FloatArray = (x - x.mean()) / (std if std > 0 else 1.0)
    return out


@dataclass
class Draft:
    """One candidate of a list: its score (None for a popularity fill) and the track explaining it."""

    track_id: int
    score: float | None
    because: int | None
    kind: str  # 'model', 'seed', 'popular', 'rediscover', 'open' (a track only the prior holds), or a Scorer's own
    # The member's own tracks that explain it, strongest first (`because` is chosen among them).
    reasons: list[int] = field(default_factory=list)


@dataclass
class Pool:
    """A member's candidates for one mode, best first, before filters, cap and exploration."""

    member_id: int
    mode: str
    drafts: list[Draft]
    # Cold start: the seed row the item-item model scored (explanations may cite its tracks).
    seeds: sparse.csr_matrix | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TrackScores:
    """One member's scores over candidate tracks (database track ids, parallel arrays)."""

    track_ids: IntArray
    scores: FloatArray
    kind: str = "model"
    # Scores at or below this are no evidence at all and are left to the popularity fill.
    floor: float = -math.inf


Scorer = Callable[[int], TrackScores]


def household_scorer(inter: Interactions, model: Model) -> Scorer:
    """The household model's scores over every item of the matrix, for a member row."""

    def score(row: int) -> TrackScores:
        scores = model.scores(np.array([row]), inter.matrix)[0].astype(np.float64)
        # A neighbourhood score of 0 means no evidence at all.
        floor = 0.0 if model.kind == "itemknn" else -math.inf
        return TrackScores(inter.items.ids, scores, "model", floor)

    return score


def seed_cap(cards: int) -> int:
    """How many cards of a list of *cards* one track may explain: 2 in 12, at least 1."""
    return max(1, math.ceil(cards / 6))


def spread_reasons(reasons: Sequence[Sequence[int]], cap: int) -> list[int | None]:
    """One reason per card, in list order: the strongest not yet used *cap* times, else the least used.

    *reasons* holds each card's candidates, strongest first (empty: no reason). The first cards keep their
    strongest reason; a later card gives way to its next one when a track already explains *cap* cards.
    """
    used: dict[int, int] = {}
    out: list[int | None] = []
    for candidates in reasons:
        if not candidates:
            out.append(None)
            continue
        chosen = next((c for c in candidates if used.get(c, 0) < cap), None)
        if chosen is None:
            # Every reason is taken that often: repeat the least used (the stronger one on a tie).
            chosen = min(candidates, key=lambda c: used.get(c, 0))
        used[chosen] = used.get(chosen, 0) + 1
        out.append(chosen)
    return out


def assign_reasons(drafts: Sequence[Draft]) -> None:
    """Set each draft's `because` from its `reasons`, spread across the list (see `spread_reasons`)."""
    for d, because in zip(drafts, spread_reasons([d.reasons for d in drafts], seed_cap(len(drafts))), strict=True):
        d.because = because


def explanation(d: Draft, tracks: Mapping[int, TrackRow], view: MemberView, now: float) -> str:
    """The line shown under a recommendation; *tracks* holds at least the because-tracks."""
    if d.kind == "rediscover":
        n = view.play_count.get(d.track_id, 0)
        last = datetime.fromtimestamp(view.last_played.get(d.track_id, now), UTC)
        return f"You played this {n} times; last in {last:%B %Y}"
    if d.because is not None and d.because in tracks:
        t = tracks[d.because]
        by = f" by {', '.join(t.artist_names[:2])}" if t.artist_names else ""
        if d.kind == "open":
            # Open data names no listener: only the member's own track and what the crowd does.
            return f"Listeners of {t.name}{by} (a track you play) also play this, in open listening data"
        return f"Because you like {t.name}{by}"
    if d.kind == "open":
        return "New to you, from open listening data"
    if d.kind == "open popular":
        return "Popular in open listening data, while recs learns your taste"
    if d.kind == "popular":
        return "A popular pick while recs learns your taste"
    return "New to you, picked to explore"


class ListBuilder:
    """Builds every member's lists from one fitted model (no I/O: see the module docstring)."""

    def __init__(
        self,
        inter: Interactions,
        model: Model,
        signals: Signals,
        settings: RecommendSettings,
        *,
        seed: int,
        now: datetime,
        popularity: npt.NDArray[np.float32],
        knn: Callable[[], Model],
        scorer: Scorer | None = None,
    ) -> None:
        """*popularity* is the household popularity per item; *knn* fits the cold-start item-item model on demand."""
        self.inter = inter
        self.model = model
        self.settings = settings
        self.seed = seed
        self.now = now
        self.views = member_views(signals, inter)
        self.popularity = popularity
        self._fit_knn = knn
        self._knn: Model | None = None
        self.scorer = scorer or household_scorer(inter, model)
        # The popularity that fills a pool, per member row: None (or a None answer) is household popularity.
        self.fill: Callable[[int], TrackScores | None] | None = None

    @property
    def knn(self) -> Model:
        if self._knn is None:
            self._knn = self._fit_knn()
        return self._knn

    def discover(self, member_id: int, top_tracks: Sequence[int]) -> Pool:
        """Candidates new to the member: the scorer's (or, in a cold start, their seeds'), then popularity."""
        rec = self.settings
        view = self.views[member_id]
        items = self.inter.items
        row = view.row
        history = self.inter.matrix[row]
        n_positive = int((history.data > 0).sum())
        pool_size = rec.list_size * POOL_FACTOR
        known = np.array(sorted(view.known), dtype=np.int64)
        exclude = np.array(sorted(items.indices(known)), dtype=np.int64)
        exclude = exclude[exclude >= 0]
        drafts: list[Draft] = []
        seed_rows: sparse.csr_matrix | None = None
        if n_positive >= rec.cold_start_items:
            scored = self.scorer(row)
            scores = np.array(scored.scores, dtype=np.float64)
            scores[np.isin(scored.track_ids, known)] = -np.inf
            top = top_n(scores[None, :].astype(np.float32), pool_size)[0]
            for idx in top.tolist():
                if not np.isfinite(scores[idx]) or scores[idx] <= scored.floor:
                    break
                drafts.append(Draft(int(scored.track_ids[idx]), float(scores[idx]), None, scored.kind))
        else:
            # Cold start: item-item evidence from the member's own seeds (plays, saved, top tracks).
            seed_idx = items.indices(np.array(list(top_tracks), dtype=np.int64))
            seeds = sparse.csr_matrix(history.multiply(history > 0))
            seed_rows = seeds
            seed_idx = seed_idx[seed_idx >= 0]
            if seed_idx.size:
                extra = sparse.csr_matrix(
                    (np.ones(seed_idx.size), (np.zeros(seed_idx.size, dtype=np.int64), seed_idx)), shape=seeds.shape
                )
                seeds = (seeds + extra).tocsr()
            if seeds.nnz:
                seed_scores = self.knn.scores(np.array([0]), seeds)[0].astype(np.float64)
                seed_scores[exclude] = 0.0
                top = top_n(seed_scores[None, :].astype(np.float32), pool_size)[0]
                for idx in top.tolist():
                    if seed_scores[idx] <= 0:
                        break
                    drafts.append(Draft(items.id_of(idx), float(seed_scores[idx]), None, "seed"))
        # Popularity fills what is left (the household's, or blended with the open data's: `fill`); its counts
        # are not a score for this member.
        taken = {d.track_id for d in drafts}
        filled = self.fill(row) if self.fill is not None else None
        if filled is not None:
            pop = np.array(filled.scores, dtype=np.float64)
            pop[np.isin(filled.track_ids, known)] = -np.inf
            fill_ids = filled.track_ids
        else:
            pop = self.popularity.astype(np.float64).copy()
            pop[exclude] = -np.inf
            pop[pop <= 0] = -np.inf
            fill_ids = items.ids
        for idx in top_n(pop[None, :].astype(np.float32), pool_size)[0].tolist():
            if len(drafts) >= pool_size or not np.isfinite(pop[idx]):
                break
            tid = int(fill_ids[idx])
            if tid not in taken:
                drafts.append(Draft(tid, None, None, "popular"))
        return Pool(member_id, "discover", drafts, seed_rows)

    def rediscover(self, member_id: int) -> Pool:
        """Tracks the member played at least twice and then left alone, by play count and model score."""
        rec = self.settings
        view = self.views[member_id]
        cutoff = (self.now - timedelta(days=rec.rediscover_after_days)).timestamp()
        cands = [t for t, n in view.play_count.items() if n >= 2 and view.last_played.get(t, math.inf) < cutoff]
        if not cands:
            return Pool(member_id, "rediscover", [])
        counts = np.array([view.play_count[t] for t in cands], dtype=np.float64)
        combined = _zscore(np.log2(1 + counts))
        idx = self.inter.items.indices(np.array(cands, dtype=np.int64))
        if self.model.kind != "popular" and (idx >= 0).all():
            model_scores = self.model.scores(np.array([view.row]), self.inter.matrix)[0].astype(np.float64)[idx]
            combined = combined + 0.5 * _zscore(model_scores)
        order = np.argsort(-combined, kind="stable")
        drafts = [Draft(cands[i], float(combined[i]), None, "rediscover") for i in order[: rec.list_size * POOL_FACTOR]]
        return Pool(member_id, "rediscover", drafts)

    def finish(self, pool: Pool, filters: MemberFilters, artists: Mapping[int, Sequence[int]]) -> list[Draft]:
        """The stored list: *pool* minus the member's filters, capped per artist, with the week's exploration.

        *artists* maps track ids to their credited artist ids (at least the pool's tracks).
        """
        rec = self.settings
        drafts = pool.drafts
        ordered = apply_filters([d.track_id for d in drafts], artists, filters, cap=rec.artist_cap)
        salt = 1 if pool.mode == "discover" else 2
        rng = np.random.default_rng(week_seed(self.seed, pool.member_id, self.now, salt))
        chosen = explore(ordered, rec.list_size, rec.exploration, rng)
        by_id = {d.track_id: d for d in drafts}
        final = [by_id[t] for t in chosen]
        if pool.mode == "discover":
            row = self.views[pool.member_id].row
            history = self.inter.matrix[row]
            own = set(history.indices[history.data > 0].tolist())
            for d in final:
                d.reasons = self._reasons(row, d, own, pool.seeds)
            assign_reasons(final)
        return final

    def _reasons(self, row: int, d: Draft, own: set[int], seeds: sparse.csr_matrix | None) -> list[int]:
        """The member's own tracks that best explain *d*, strongest first; never an item outside their history."""
        items = self.inter.items
        idx = items.index_of(d.track_id)
        if idx < 0 or d.kind == "popular":
            return []
        if d.kind == "seed" and seeds is not None:
            found = self.knn.explain_ranked(0, seeds, idx, REASONS_PER_CARD)
            allowed = own | set(seeds.indices.tolist())
        else:
            found = self.model.explain_ranked(row, self.inter.matrix, idx, REASONS_PER_CARD)
            allowed = own
        return [items.id_of(f) for f in found if f in allowed]
