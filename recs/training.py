"""Training use case: read consenting members' signals, tune on a temporal hold-out, fit, store recommendations.

Public API:
- `train(instance, now=None, progress=None) -> RunSummary`: one whole run. It records a model_runs row
  (params, data size, hold-out metrics of the chosen model and of the baselines, timings), writes the
  artifact (temporary name, then os.replace) and stores every member's "discover" and "rediscover" lists
  and flips the current run in ONE transaction: until that commits, the previous run serves; a failed
  run is marked failed and a killed one (its process gone) is marked failed by the next run. Nothing
  else changes. Two runs at once are harmless: the later commit becomes current.
- `current_recommendations(db, member_id, mode) -> list[Recommendation]`: the current run's list with
  track display data (name, artists, album, image, URI) and an explanation drawn only from that
  member's own history.
- `select_model(...)`, `fit_spec(...)`, `evaluate(...)`, `ALS_GRID`: the tuning shared with benchmarks/.

A member with fewer than `recommend.cold_start_items` liked tracks gets "discover" seeded from their top
tracks, saved tracks and plays (item-item evidence), filled up with household popularity (stored with
no score, never a zero passed off as one): the list is empty only when the household's data holds no
track the member has not played. "rediscover" may be empty (nothing played twice and then left alone).

Only members who consented to training are in the model and receive lists. Session and own-playlist
pseudo-rows never receive recommendations and are never named in explanations.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs import metrics as M
from recs.config import Settings
from recs.interactions import CONTEXT_EXCLUDED, CONTEXT_NORMAL, Interactions, Signals, Weighting, build_interactions
from recs.model import (
    AlsParams,
    BlendModel,
    EaseSolver,
    ItemKnnModel,
    Model,
    fit_als,
    fit_ease,
    fit_itemknn,
    fit_popular,
    recommend_top,
    save_model,
    top_n,
)
from recs.ranking import capped, explore, week_seed
from recs.storage import Database
from recs.storage import members as member_store
from recs.storage import training as store
from recs.storage.catalog import TrackRow, get_tracks

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Clock = Callable[[], float]

# Tried in this order until the tuning budget runs out: the likeliest winners first, so a cut-off search
# still has good candidates. (factors, regularization, alpha); 15 CG iterations each.
ALS_GRID: tuple[tuple[int, float, float], ...] = (
    (64, 1.0, 4.0),
    (128, 10.0, 4.0),
    (256, 100.0, 4.0),
    (256, 30.0, 1.0),
    (64, 0.1, 10.0),
    (128, 50.0, 2.0),
    (32, 0.05, 20.0),
)
KNN_GRID: tuple[int, ...] = (50, 200, 1000)
BLEND_WEIGHTS: tuple[float, ...] = (0.2, 0.4)
EASE_LAMBDAS: tuple[float, ...] = (500.0, 2000.0, 8000.0)
# EASE solves a dense items x items system (cubic cost): the nightly run tries it only for catalogues (items
# in two or more rows) up to this size; the HetRec benchmark raises it to 6,000.
EASE_MAX_ITEMS = 2500
DEFAULT_ALS = AlsParams(64, 1.0, 4.0, 15)
# Evaluation lists are this long (recall@50).
EVAL_DEPTH = 50
MODES = ("discover", "rediscover")


# ---------------------------------------------------------------- model selection (shared with benchmarks)


@dataclass(frozen=True)
class Candidate:
    name: str
    spec: dict[str, Any]


def als_spec(params: AlsParams) -> dict[str, Any]:
    return {"kind": "als", "params": params.as_dict()}


def knn_spec(neighbours: int) -> dict[str, Any]:
    return {"kind": "itemknn", "params": {"neighbours": neighbours}}


def fit_spec(
    spec: Mapping[str, Any], matrix: sparse.csr_matrix, *, seed: int, threads: int, n_members: int | None = None
) -> Model:
    """Fit the model a spec describes (as stored in model_runs.params['spec'])."""
    kind = spec["kind"]
    if kind == "als":
        return fit_als(matrix, AlsParams(**spec["params"]), seed=seed, threads=threads)
    if kind == "itemknn":
        return fit_itemknn(matrix, int(spec["params"]["neighbours"]))
    if kind == "popular":
        rows = matrix[:n_members] if n_members else matrix
        return fit_popular(rows)
    if kind == "ease":
        return fit_ease(matrix, float(spec["params"]["lambda"]))
    if kind == "blend":
        return BlendModel(
            [
                (fit_spec(p["spec"], matrix, seed=seed, threads=threads, n_members=n_members), float(p["weight"]))
                for p in spec["parts"]
            ]
        )
    raise ValueError(f"unknown model kind {kind!r}")


def evaluate(
    model: Model,
    train: sparse.csr_matrix,
    rows: npt.NDArray[np.int64],
    relevant: Mapping[int, set[int]],
    *,
    popularity: Mapping[int, int],
    n_users: int,
    batch: int = 512,
    threads: int = 1,
) -> dict[str, float]:
    """Hold-out metrics of *model*: top EVAL_DEPTH of each row, the row's training items left out."""
    ranked: dict[int, list[int]] = {}
    for start in range(0, rows.size, batch):
        part = rows[start : start + batch]
        tops = recommend_top(model, part, train, EVAL_DEPTH, train[part], threads=threads)
        ranked.update({int(r): [i for i in t.tolist() if i >= 0] for r, t in zip(part, tops, strict=True)})
    return M.mean_metrics(ranked, relevant, n_items=train.shape[1], popularity=popularity, n_users=n_users)


@dataclass
class Selection:
    """The outcome of tuning: what to serve, why, and every candidate's hold-out metrics."""

    chosen: Candidate
    metrics: dict[str, dict[str, float]]
    best_als: str | None
    best_baseline: str
    note: str
    seconds: float
    budget_exhausted: bool
    models: dict[str, Model] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return str(self.chosen.spec["kind"])


def select_model(
    train: sparse.csr_matrix,
    rows: npt.NDArray[np.int64],
    relevant: Mapping[int, set[int]],
    *,
    seed: int,
    threads: int,
    budget_s: float,
    n_members: int | None = None,
    als_grid: Sequence[tuple[int, float, float]] = ALS_GRID,
    knn_grid: Sequence[int] = KNN_GRID,
    iterations: int = 15,
    ease_max_items: int = EASE_MAX_ITEMS,
    ease_lambdas: Sequence[float] = EASE_LAMBDAS,
    clock: Clock = time.monotonic,
    keep_models: bool = False,
) -> Selection:
    """Evaluate baselines, the ALS grid (until *budget_s* runs out, at least one) and blends of the best ALS.

    EASE joins (as a blend partner of ALS, and on its own) only when at most *ease_max_items* items have two
    or more rows: its cost grows with the cube of that number.

    The winner is the best NDCG@10; ALS serves only when it beats the best baseline, and the note says so.
    """
    start = clock()
    pop_counts = np.diff(sparse.csc_matrix(train > 0).indptr)
    popularity = {int(i): int(c) for i, c in enumerate(pop_counts) if c}
    n_users = int(train.shape[0])
    results: dict[str, dict[str, float]] = {}
    models: dict[str, Model] = {}
    specs: dict[str, dict[str, Any]] = {}

    def run(name: str, spec: dict[str, Any], model: Model | None = None) -> None:
        fitted = model or fit_spec(spec, train, seed=seed, threads=threads, n_members=n_members)
        results[name] = evaluate(fitted, train, rows, relevant, popularity=popularity, n_users=n_users, threads=threads)
        specs[name] = spec
        models[name] = fitted

    exhausted = False

    def over_budget() -> bool:
        nonlocal exhausted
        over = clock() - start > budget_s
        exhausted = exhausted or over
        return over

    run("popular", {"kind": "popular"})
    for i, k in enumerate(knn_grid):
        if i > 0 and over_budget():
            break
        run(f"itemknn k{k}", knn_spec(k))
    last_fit: tuple[int, float] | None = None  # (factors, seconds) of the latest ALS candidate
    for i, (factors, reg, alpha) in enumerate(als_grid):
        # The first ALS candidate always runs, whatever the budget: ALS must be compared.
        if i > 0 and over_budget():
            break
        if last_fit is not None:
            # A fit costs roughly factors**1.5 here (CG steps are linear, the per-row products quadratic):
            # skip a candidate that would end past the budget, and try the smaller ones after it.
            predicted = last_fit[1] * (factors / last_fit[0]) ** 1.5
            if clock() - start + predicted > budget_s:
                exhausted = True
                continue
        began = clock()
        params = AlsParams(factors, reg, alpha, iterations)
        run(f"als f{factors} r{reg:g} a{alpha:g}", als_spec(params))
        last_fit = (factors, clock() - began)

    def ndcg(name: str) -> float:
        return results[name]["ndcg@10"]

    best_ease: str | None = None
    if ease_lambdas and EaseSolver.covered_items(train) <= ease_max_items and not over_budget():
        solver = EaseSolver(train)
        for i, lam in enumerate(ease_lambdas):
            if i > 0 and over_budget():
                break
            run(f"ease l{lam:g}", {"kind": "ease", "params": {"lambda": lam}}, solver.fit(lam))
        best_ease = max((n for n in results if n.startswith("ease")), key=ndcg)

    baselines = [n for n in results if not n.startswith("als")]
    als_names = [n for n in results if n.startswith("als")]
    best_baseline = max(baselines, key=ndcg)
    best_als = max(als_names, key=ndcg) if als_names else None
    best_knn = max((n for n in baselines if n.startswith("itemknn")), key=ndcg, default=None)
    # ALS blended with each kind of neighbourhood model (item-kNN first, then EASE).
    for partner in (best_knn, best_ease):
        if best_als is None or partner is None:
            continue
        for w in BLEND_WEIGHTS:
            name = f"blend {best_als} + {w:g} {partner}"
            spec = {
                "kind": "blend",
                "parts": [{"weight": 1 - w, "spec": specs[best_als]}, {"weight": w, "spec": specs[partner]}],
            }
            run(name, spec, BlendModel([(models[best_als], 1 - w), (models[partner], w)]))

    # Ties go to the simpler model: baselines, then ALS, then blends.
    order = {n: i for i, n in enumerate([*baselines, *als_names, *[n for n in results if n.startswith("blend")]])}
    winner = max(results, key=lambda n: (round(ndcg(n), 6), round(results[n]["recall@50"], 6), -order[n]))
    uninformative = ndcg(winner) == 0 and results[winner]["recall@50"] == 0
    if uninformative and best_als is not None:
        # Nobody found a single held-out track (e.g. they are all new to the household): the hold-out
        # cannot rank the models, so the default choice, ALS, serves.
        winner = best_als
        note = "the hold-out could not tell the models apart (no candidate found any held-out track): serving ALS"
    elif best_als is None:
        note = f"no ALS candidate fitted; serving {winner}"
    elif winner.startswith("als"):
        note = f"ALS beat the best baseline ({best_baseline}) on the hold-out: NDCG@10 {ndcg(winner):.4f} vs {ndcg(best_baseline):.4f}"
    elif winner.startswith("blend"):
        note = (
            f"a blend ({winner}) won the hold-out (NDCG@10 {ndcg(winner):.4f}; best ALS {ndcg(best_als):.4f}, "
            f"best baseline {best_baseline} {ndcg(best_baseline):.4f}): serving the blend"
        )
    else:
        note = (
            f"ALS did not beat the best baseline on the hold-out (best ALS {ndcg(best_als):.4f} vs {winner} "
            f"{ndcg(winner):.4f}): serving {winner}"
        )
    if exhausted:
        note += f"; the tuning budget ({budget_s:g} s) ended the search early"
    return Selection(
        chosen=Candidate(winner, specs[winner]),
        metrics=results,
        best_als=best_als,
        best_baseline=best_baseline,
        note=note,
        seconds=clock() - start,
        budget_exhausted=exhausted,
        models=models if keep_models else {},
    )


# ---------------------------------------------------------------- the household pipeline


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    model_kind: str
    chosen: str
    params: dict[str, Any]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    timings: dict[str, float]
    data_size: dict[str, int]
    note: str
    members: int
    recommendations: int
    artifact_path: str | None


@dataclass(frozen=True)
class Recommendation:
    """One stored recommendation with what a list needs to show it."""

    run_id: int
    rank: int
    track_id: int
    score: float | None
    explanation: str | None
    because_track_id: int | None
    track: TrackRow | None


class TrainingError(RuntimeError):
    """Training cannot run (e.g. no member has consented or there is no data); nothing was changed."""


def _holdout(
    signals: Signals, train: Interactions, cutoffs: dict[int, float]
) -> tuple[npt.NDArray[np.int64], dict[int, set[int]]]:
    """Each member's tracks first played after their cutoff (new to them, not skipped, not from an excluded
    context nor from our own published lists), as item indices.

    Tracks the training matrix does not know count against recall but can never be hit (negative sentinels).
    """
    s = signals
    member_rows = train.members.indices(s.play_member)
    # Plays from our own published lists would reward the previous model for its own picks: not relevant.
    ok = (member_rows >= 0) & ~s.play_skipped & (s.play_context == CONTEXT_NORMAL)
    before = s.play_at < s.cutoff_of(s.play_member, cutoffs)
    saved_before = ~(s.saved_at >= s.cutoff_of(s.saved_member, cutoffs))
    known = set(zip(s.play_member[before].tolist(), s.play_track[before].tolist(), strict=True))
    known.update(zip(s.saved_member[saved_before].tolist(), s.saved_track[saved_before].tolist(), strict=True))
    relevant: dict[int, set[int]] = {}
    unknown: dict[int, int] = {}
    after = ok & ~before
    for m, t, row in zip(
        s.play_member[after].tolist(), s.play_track[after].tolist(), member_rows[after].tolist(), strict=True
    ):
        if (m, t) in known:
            continue
        idx = train.items.index_of(t)
        if idx < 0:
            idx = -1 - unknown.setdefault(t, len(unknown))
        relevant.setdefault(row, set()).add(idx)
    rows = np.array(sorted(relevant), dtype=np.int64)
    return rows, relevant


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


@dataclass
class _MemberView:
    member_id: int
    row: int
    known: set[int]
    play_count: dict[int, int]
    last_played: dict[int, float]


def _member_views(signals: Signals, inter: Interactions) -> dict[int, _MemberView]:
    s = signals
    views: dict[int, _MemberView] = {}
    for member_id in inter.members.ids.tolist():
        views[member_id] = _MemberView(member_id, inter.row_of(member_id), set(), {}, {})
    for m, t in zip(s.play_member.tolist(), s.play_track.tolist(), strict=True):
        if m in views:
            views[m].known.add(t)
    for arr_m, arr_t in (
        (s.short_member, s.short_track),
        (s.saved_member, s.saved_track),
        (s.playlist_member, s.playlist_track),
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


def _zscore(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if x.size == 0:
        return x
    std = float(x.std())
    out: npt.NDArray[np.float64] = (x - x.mean()) / (std if std > 0 else 1.0)
    return out


@dataclass
class _Draft:
    track_id: int
    score: float | None
    because: int | None
    kind: str  # 'model', 'seed', 'popular', 'rediscover'


def _explanation(d: _Draft, tracks: Mapping[int, TrackRow], view: _MemberView, now: float) -> str:
    if d.kind == "rediscover":
        n = view.play_count.get(d.track_id, 0)
        last = datetime.fromtimestamp(view.last_played.get(d.track_id, now), UTC)
        return f"You played this {n} times; last in {last:%B %Y}"
    if d.because is not None and d.because in tracks:
        t = tracks[d.because]
        by = f" by {', '.join(t.artist_names[:2])}" if t.artist_names else ""
        return f"Because you like {t.name}{by}"
    if d.kind == "popular":
        return "A popular pick while recs learns your taste"
    return "New to you, picked to explore"


class _Recommender:
    """Builds every member's lists from one fitted model (internal to train)."""

    def __init__(
        self,
        db: Database,
        inter: Interactions,
        model: Model,
        signals: Signals,
        settings: Settings,
        now: datetime,
    ) -> None:
        self.db = db
        self.inter = inter
        self.model = model
        self.settings = settings
        self.now = now
        self.views = _member_views(signals, inter)
        self.popular = fit_popular(inter.member_rows())
        self._knn: ItemKnnModel | None = None

    @property
    def knn(self) -> ItemKnnModel:
        if self._knn is None:
            self._knn = fit_itemknn(self.inter.matrix, 200)
        return self._knn

    def _artists(self, track_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        with self.db.read() as conn:
            return store.track_artist_sets(conn, track_ids)

    def _finish(self, drafts: list[_Draft], member_id: int, mode: str, salt: int) -> list[_Draft]:
        rec = self.settings.recommend
        with self.db.read() as conn:
            hidden, blocked = store.read_filters(conn, member_id, self.now.date())
        artists = self._artists([d.track_id for d in drafts])
        ordered = capped(
            [d.track_id for d in drafts], artists, cap=rec.artist_cap, hidden=hidden, blocked_artists=blocked
        )
        rng = np.random.default_rng(week_seed(self.settings.training.seed, member_id, self.now, salt))
        chosen = explore(ordered, rec.list_size, rec.exploration, rng)
        by_id = {d.track_id: d for d in drafts}
        return [by_id[t] for t in chosen]

    def discover(self, member_id: int, top_tracks: Sequence[int]) -> list[_Draft]:
        rec = self.settings.recommend
        view = self.views[member_id]
        items = self.inter.items
        row = view.row
        history = self.inter.matrix[row]
        n_positive = int((history.data > 0).sum())
        pool_size = rec.list_size * 6
        exclude = np.array(sorted(items.indices(np.array(sorted(view.known), dtype=np.int64))), dtype=np.int64)
        exclude = exclude[exclude >= 0]
        drafts: list[_Draft] = []
        seed_rows: sparse.csr_matrix | None = None
        if n_positive >= rec.cold_start_items:
            scores = self.model.scores(np.array([row]), self.inter.matrix)[0].astype(np.float64)
            scores[exclude] = -np.inf
            top = top_n(scores[None, :].astype(np.float32), pool_size)[0]
            # A neighbourhood score of 0 means no evidence at all: such items are left to the popularity fill.
            floor = 0.0 if self.model.kind == "itemknn" else -np.inf
            for idx in top.tolist():
                if not np.isfinite(scores[idx]) or scores[idx] <= floor:
                    break
                drafts.append(_Draft(items.id_of(idx), float(scores[idx]), None, "model"))
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
                scores = self.knn.scores(np.array([0]), seeds)[0].astype(np.float64)
                scores[exclude] = 0.0
                top = top_n(scores[None, :].astype(np.float32), pool_size)[0]
                for idx in top.tolist():
                    if scores[idx] <= 0:
                        break
                    drafts.append(_Draft(items.id_of(idx), float(scores[idx]), None, "seed"))
        # Household popularity fills what is left; its counts are not a score for this member.
        taken = {d.track_id for d in drafts}
        pop = self.popular.popularity.astype(np.float64).copy()
        pop[exclude] = -np.inf
        for idx in top_n(pop[None, :].astype(np.float32), pool_size)[0].tolist():
            if len(drafts) >= pool_size:
                break
            if not np.isfinite(pop[idx]) or pop[idx] <= 0:
                break
            tid = items.id_of(idx)
            if tid not in taken:
                drafts.append(_Draft(tid, None, None, "popular"))
        final = self._finish(drafts, member_id, "discover", 1)
        own = set(history.indices[history.data > 0].tolist())
        for d in final:
            d.because = self._because(row, d, own, seed_rows)
        return final

    def _because(self, row: int, d: _Draft, own: set[int], seeds: sparse.csr_matrix | None) -> int | None:
        """The member's own track that best explains *d*, or None; never an item outside their own history."""
        items = self.inter.items
        idx = items.index_of(d.track_id)
        if idx < 0 or d.kind == "popular":
            return None
        if d.kind == "seed" and seeds is not None:
            found = self.knn.explain(0, seeds, idx)
            allowed = own | set(seeds.indices.tolist())
        else:
            found = self.model.explain(row, self.inter.matrix, idx)
            allowed = own
        if found is None or found not in allowed:
            return None
        return items.id_of(found)

    def rediscover(self, member_id: int) -> list[_Draft]:
        rec = self.settings.recommend
        view = self.views[member_id]
        cutoff = _epoch(self.now - timedelta(days=rec.rediscover_after_days))
        cands = [t for t, n in view.play_count.items() if n >= 2 and view.last_played.get(t, math.inf) < cutoff]
        if not cands:
            return []
        counts = np.array([view.play_count[t] for t in cands], dtype=np.float64)
        combined = _zscore(np.log2(1 + counts))
        idx = self.inter.items.indices(np.array(cands, dtype=np.int64))
        if self.model.kind != "popular" and (idx >= 0).all():
            model_scores = self.model.scores(np.array([view.row]), self.inter.matrix)[0].astype(np.float64)[idx]
            combined = combined + 0.5 * _zscore(model_scores)
        order = np.argsort(-combined, kind="stable")
        drafts = [_Draft(cands[i], float(combined[i]), None, "rediscover") for i in order[: rec.list_size * 6]]
        return self._finish(drafts, member_id, "rediscover", 2)


class TrainingInstance(Protocol):
    """What train needs of an instance (recs.instance.Instance has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...


def _no_progress(_stage: str) -> None:
    return None


def train(instance: TrainingInstance, now: datetime | None = None, progress: Progress | None = None) -> RunSummary:
    """Run one training; see the module docstring. Raises TrainingError when there is nothing to train on."""
    settings = instance.settings
    db: Database = instance.db
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("train(now=...) needs a timezone-aware datetime")
    report = progress or _no_progress
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with db.write() as conn:
        stale = store.fail_stale_runs(
            conn, now, [r for r, started, owner in store.running_runs(conn) if _is_stale(owner, started, now)]
        )
        run_id = store.start_run(conn, now, _owner())
    if stale:
        log.warning("marked %d interrupted training run(s) as failed", stale)
    try:
        return _train(instance, run_id, now, report, timings, t0)
    except BaseException as exc:
        with db.write() as conn:
            store.fail_run(
                conn, run_id, now + timedelta(seconds=time.perf_counter() - t0), f"{type(exc).__name__}: {exc}"
            )
        artifact = artifact_path(settings, run_id)
        artifact.unlink(missing_ok=True)
        artifact.with_suffix(".json").unlink(missing_ok=True)
        raise


STALE_ELSEWHERE = timedelta(hours=12)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_stale(owner: str, started: datetime, now: datetime) -> bool:
    """A running run whose process is gone: same host and no such pid, or another host and long ago."""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, under another user
            return False
        return False
    return now - started > STALE_ELSEWHERE


def artifact_path(settings: Settings, run_id: int) -> Path:
    """Where a run's model artifact lives: <data_dir>/models/run-<id>.npz (and .json beside it)."""
    return Path(settings.data_path) / "models" / f"run-{run_id}.npz"


def _train(
    instance: TrainingInstance, run_id: int, now: datetime, report: Progress, timings: dict[str, float], t0: float
) -> RunSummary:
    settings = instance.settings
    db: Database = instance.db
    tcfg = settings.training
    weighting = Weighting.from_settings(tcfg)

    report("reading")
    t = time.perf_counter()
    with db.read() as conn:
        member_ids = member_store.members_with_consent(conn, "train")
        if not member_ids:
            raise TrainingError("no member has consented to training: nothing to train on")
        signals = store.read_signals(conn, member_ids, tcfg.sources, now.date())
        top_tracks = {m: store.read_top_tracks(conn, m) for m in member_ids}
    timings["read_s"] = time.perf_counter() - t

    t = time.perf_counter()
    inter = build_interactions(signals, weighting, _epoch(now), member_ids)
    timings["matrix_s"] = time.perf_counter() - t
    if inter.matrix.nnz == 0:
        raise TrainingError(
            f"no usable listening for the {len(member_ids)} consenting member(s) (sources={tcfg.sources})"
        )

    report("tuning")
    t = time.perf_counter()
    # Each member's own last days: a member whose listening stopped months ago (an export) still has some.
    cutoffs = signals.last_days_cutoffs(tcfg.holdout_days)
    held = signals.before(cutoffs)
    selection: Selection | None = None
    if held.n_plays and tcfg.holdout_days > 0:
        train_inter = build_interactions(held, weighting, _epoch(now), member_ids)
        rows, relevant = _holdout(signals, train_inter, cutoffs)
        if rows.size and train_inter.matrix.nnz:
            selection = select_model(
                train_inter.matrix,
                rows,
                relevant,
                seed=tcfg.seed,
                threads=tcfg.threads,
                budget_s=tcfg.tuning_budget_s,
                n_members=train_inter.n_members,
            )
    timings["tuning_s"] = time.perf_counter() - t

    if selection is not None:
        spec = selection.chosen.spec
        chosen = selection.chosen.name
        note = selection.note
        chosen_metrics = selection.metrics[chosen]
        baselines = {
            n: m
            for n, m in selection.metrics.items()
            if n != chosen and (n == "popular" or n.startswith("itemknn") or n == selection.best_als)
        }
    else:
        spec = als_spec(DEFAULT_ALS)
        chosen = "als (defaults)"
        note = f"no member has new tracks in their last {tcfg.holdout_days} days of listening: default ALS parameters, untuned"
        chosen_metrics = {}
        baselines = {}

    report("fitting")
    t = time.perf_counter()
    model = fit_spec(spec, inter.matrix, seed=tcfg.seed, threads=tcfg.threads, n_members=inter.n_members)
    timings["fit_s"] = time.perf_counter() - t

    report("recommending")
    t = time.perf_counter()
    recommender = _Recommender(db, inter, model, signals, settings, now)
    rows_out: list[store.RecommendationRow] = []
    drafts_by: dict[tuple[int, str], list[_Draft]] = {}
    for member_id in member_ids:
        drafts_by[(member_id, "discover")] = recommender.discover(member_id, top_tracks.get(member_id, []))
        drafts_by[(member_id, "rediscover")] = recommender.rediscover(member_id)
    needed = {d.because for ds in drafts_by.values() for d in ds if d.because is not None}
    with db.read() as conn:
        names = get_tracks(conn, needed)
    now_s = _epoch(now)
    for (member_id, mode), drafts in drafts_by.items():
        view = recommender.views[member_id]
        for rank, d in enumerate(drafts, start=1):
            rows_out.append(
                store.RecommendationRow(
                    member_id=member_id,
                    mode=mode,
                    rank=rank,
                    track_id=d.track_id,
                    score=d.score,
                    explanation=_explanation(d, names, view, now_s),
                    because_track_id=d.because if d.because in names else None,
                )
            )
    timings["recommend_s"] = time.perf_counter() - t

    report("saving")
    t = time.perf_counter()
    artifact = artifact_path(settings, run_id)
    params = {"chosen": chosen, "spec": spec, "seed": tcfg.seed, "weighting": weighting.__dict__.copy()}
    save_model(
        artifact,
        model,
        {"item_ids": inter.items.ids, "member_ids": inter.members.ids, "n_members": np.array([inter.n_members])},
        {"run_id": run_id, "created_at": now.isoformat(), "params": params},
    )
    timings["save_s"] = time.perf_counter() - t
    data_size = {**inter.size(), "plays": signals.n_plays}
    timings["total_s"] = time.perf_counter() - t0
    timings = {k: round(v, 3) for k, v in timings.items()}
    with db.write() as conn:
        store.finish_run(
            conn,
            run_id,
            now + timedelta(seconds=timings["total_s"]),
            model_kind=str(spec["kind"]),
            params=params,
            data_size=data_size,
            metrics=chosen_metrics,
            baselines=baselines,
            timings=timings,
            artifact_path=str(artifact),
            note=note,
            rows=rows_out,
        )
        report("committing")
    _cleanup_artifacts(db, artifact.parent)
    summary = RunSummary(
        run_id=run_id,
        model_kind=str(spec["kind"]),
        chosen=chosen,
        params=params,
        metrics=chosen_metrics,
        baselines=baselines,
        timings=timings,
        data_size=data_size,
        note=note,
        members=len(member_ids),
        recommendations=len(rows_out),
        artifact_path=str(artifact),
    )
    return summary


def _cleanup_artifacts(db: Database, folder: Path) -> None:
    """Keep the artifacts of the two newest succeeded runs; remove the rest (killed runs' temporary files too)."""
    with db.read() as conn:
        keep = {Path(p).name for p in store.artifact_paths(conn, newest=2)}
        # A run still going (another process) may have written its artifact but not committed yet.
        keep |= {f"run-{run_id}.npz" for run_id, _, _ in store.running_runs(conn)}
    for path in folder.glob("*run-*"):
        stem = path.name.removeprefix(".").split(".")[0]
        if f"{stem}.npz" not in keep:
            path.unlink(missing_ok=True)


def current_recommendations(db: Database, member_id: int, mode: str = "discover") -> list[Recommendation]:
    """The current run's list for a member ('discover' or 'rediscover'), best first, with track display data."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    with db.read() as conn:
        stored = store.read_recommendations(conn, member_id, mode)
        tracks = get_tracks(conn, [r.track_id for r in stored])
    return [
        Recommendation(
            run_id=r.run_id,
            rank=r.rank,
            track_id=r.track_id,
            score=r.score,
            explanation=r.explanation,
            because_track_id=r.because_track_id,
            track=tracks.get(r.track_id),
        )
        for r in stored
    ]
