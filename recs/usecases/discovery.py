"""Household and prior scores over one catalogue: the union, the blend with its popularity guard, and its choice.

The household model scores the household's tracks; the prior (members folded in, `recs.model.fold_in`)
scores the prior's tracks. Both are laid out over the union catalogue (the household's tracks first,
then the prior's tracks the household lacks), a side scoring 0 where it has no track: what that side's
model gives a track with no evidence (ALS with an empty item column, a neighbourhood model with no
neighbour). Each side is standardised per member over the union, then

    score = (1 - w) * household + w * (prior - guard * popularity)

where `popularity` is the standardised log(1 + listeners) of each track in the prior (0 for tracks it
lacks, standardised over the union too). w = 0 is household-only, w = 1 prior-only; the guard keeps the
open data's most-listened tracks from flooding every list (its listeners are not the household).
`choose_blend` picks w and the guard on a hold-out; used by the nightly training and benchmarks/quality.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.core import metrics as M
from recs.model import standardise, top_n

F32 = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# The prior's share of the blend: 0 (household only) and 1 (prior only) are always candidates.
PRIOR_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
# How far the standardised popularity in the open data pulls the prior's side down.
GUARDS: tuple[float, ...] = (0.0, 0.25, 0.5)
# When the hold-out cannot tell the candidates apart (no candidate finds a held-out track).
DEFAULT_WEIGHT, DEFAULT_GUARD = 0.5, 0.25
EVAL_DEPTH = 50
POPULAR = "prior popular"


@dataclass(frozen=True)
class Catalogue:
    """The union of the household's items and the prior's: where each side's item sits in it."""

    household: IntArray  # union position of household item i (= i)
    prior: IntArray  # union position of prior item j
    size: int
    popularity: F32  # standardised log(1 + listeners in the prior) per union position

    @property
    def n_household(self) -> int:
        return int(self.household.size)

    @property
    def in_prior(self) -> npt.NDArray[np.bool_]:
        mask = np.zeros(self.size, dtype=bool)
        mask[self.prior] = True
        return mask


def union_catalogue(n_household: int, prior_in_household: npt.ArrayLike, listeners: npt.ArrayLike) -> Catalogue:
    """The union catalogue, given for each prior item its household index (-1 when the household lacks it)."""
    where = np.asarray(prior_in_household, dtype=np.int64)
    counts = np.asarray(listeners, dtype=np.float64)
    if where.shape != counts.shape:
        raise ValueError(f"{where.size} prior items but {counts.size} listener counts")
    if where.size and (where.max() >= n_household or where.min() < -1):
        raise ValueError("a prior item maps outside the household's items")
    new = where < 0
    positions = where.copy()
    positions[new] = n_household + np.arange(int(new.sum()), dtype=np.int64)
    size = n_household + int(new.sum())
    pop = np.zeros(size, dtype=np.float64)
    pop[positions] = np.log1p(np.maximum(counts, 0.0))
    return Catalogue(np.arange(n_household, dtype=np.int64), positions, size, standardise(pop[None, :])[0])


def spread(scores: npt.ArrayLike, positions: IntArray, size: int) -> F32:
    """Rows of scores over one side's items laid over the union (0 where that side has no item)."""
    s = np.asarray(scores, dtype=np.float32)
    out = np.zeros((s.shape[0], size), dtype=np.float32)
    out[:, positions] = s
    return out


def blend_scores(catalogue: Catalogue, household: F32, prior: F32 | None, weight: float, guard: float) -> F32:
    """The blended score of each union item (rows x union); *prior* None (no prior) means household only.

    Weight 0 is household-only (the prior's other tracks score -inf: not candidates), weight 1 prior-only
    (the household's tracks the prior lacks score -inf).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the prior's weight must be between 0 and 1, got {weight}")
    if prior is None or weight == 0.0:
        h = standardise(household)
        h[:, catalogue.n_household :] = -np.inf
        return h
    p = standardise(prior) - np.float32(guard) * catalogue.popularity[None, :]
    if weight == 1.0:
        p[:, ~catalogue.in_prior] = -np.inf
        return p
    out = np.float32(1.0 - weight) * standardise(household) + np.float32(weight) * p
    return out.astype(np.float32, copy=False)


def candidate_name(weight: float, guard: float) -> str:
    if weight == 0.0:
        return "household"
    return f"prior w{weight:g} g{guard:g}"


@dataclass(frozen=True)
class BlendChoice:
    """The prior weight and guard the hold-out chose, why, and every candidate's hold-out metrics."""

    weight: float
    guard: float
    metrics: dict[str, dict[str, float]]
    note: str

    @property
    def name(self) -> str:
        return candidate_name(self.weight, self.guard)


def evaluate_scores(
    scores: F32, exclude: sparse.csr_matrix, relevant: Mapping[int, set[int]], *, depth: int = EVAL_DEPTH
) -> dict[str, float]:
    """Hold-out metrics of dense scores (row i of *scores* is member row i of *relevant*), known items left out."""
    return M.mean_metrics(ranked_lists(scores, exclude, depth), relevant, n_items=scores.shape[1])


def ranked_lists(scores: F32, exclude: sparse.csr_matrix | None, depth: int) -> dict[int, list[int]]:
    """Each row's best *depth* union positions, best first; excluded and -inf items never appear."""
    tops = top_n(scores, depth, exclude)
    out: dict[int, list[int]] = {}
    for r in range(scores.shape[0]):
        picked = tops[r]
        # A row with fewer candidates than depth gets -inf and excluded items padded in: cut them.
        kept = picked[np.isfinite(scores[r, picked])]
        if exclude is not None:
            kept = kept[~np.isin(kept, exclude.indices[exclude.indptr[r] : exclude.indptr[r + 1]])]
        out[r] = kept.tolist()
    return out


def choose_blend(
    catalogue: Catalogue,
    household: F32,
    prior: F32 | None,
    exclude: sparse.csr_matrix,
    relevant: Mapping[int, set[int]],
    *,
    weights: Sequence[float] = PRIOR_WEIGHTS,
    guards: Sequence[float] = GUARDS,
) -> BlendChoice:
    """The best (weight, guard) by NDCG@10 on the hold-out (recall@50 next; ties go to the smaller weight and guard).

    A blend (0 < weight < 1) serves only when its mean per-member NDCG@10 beats the best pure candidate's
    (household only, or prior only with any guard) by more than one standard error of the difference.

    The metrics also hold POPULAR (the prior's most-listened tracks), a baseline that is never chosen.

    *household* and *prior* are union scores fitted without the held-out part; *relevant* holds, per row,
    the union positions of the row's held-out items (negative for items the union lacks: never hit).
    """
    if prior is None:
        m = evaluate_scores(blend_scores(catalogue, household, None, 0.0, 0.0), exclude, relevant)
        return BlendChoice(0.0, 0.0, {"household": m}, "no prior: household only")
    results: dict[str, dict[str, float]] = {}
    per_row: dict[str, npt.NDArray[np.float64]] = {}
    keys: dict[str, tuple[float, float]] = {}
    rows_with = sorted(r for r, rel in relevant.items() if rel)
    for w in weights:
        for g in guards if w > 0 else (0.0,):
            name = candidate_name(w, g)
            ranked = ranked_lists(blend_scores(catalogue, household, prior, w, g), exclude, EVAL_DEPTH)
            results[name] = M.mean_metrics(ranked, relevant, n_items=catalogue.size)
            per_row[name] = np.array([M.ndcg_at_k(ranked.get(r, []), relevant[r], 10) for r in rows_with])
            keys[name] = (w, g)
    order = list(results)

    def rank(name: str) -> tuple[float, float, int]:
        return (round(results[name]["ndcg@10"], 6), round(results[name]["recall@50"], 6), -order.index(name))

    winner = max(results, key=rank)
    pure = max((n for n in keys if keys[n][0] in (0.0, 1.0)), key=rank)
    kept_pure = False
    if 0.0 < keys[winner][0] < 1.0:
        # A blend serves only when it beats the better of its two parts by more than the hold-out's noise
        # (one standard error of the per-member difference): a few members' hold-out is a noisy judge.
        diff = per_row[winner] - per_row[pure]
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("inf")
        if not float(diff.mean()) > se:
            winner, kept_pure = pure, True
    best = results[winner]
    # Popular-from-the-prior, a baseline reported beside the candidates (never chosen).
    popular = np.where(catalogue.in_prior, catalogue.popularity, -np.inf).astype(np.float32)
    rows = max(household.shape[0], 1)
    results[POPULAR] = evaluate_scores(np.broadcast_to(popular, (rows, catalogue.size)).copy(), exclude, relevant)
    home = results["household"]["ndcg@10"] if "household" in results else float("nan")
    only = max((n for n in keys if keys[n][0] == 1.0), key=rank, default=None)
    if best["ndcg@10"] == 0 and best["recall@50"] == 0:
        w, g = DEFAULT_WEIGHT, DEFAULT_GUARD
        note = (
            "the hold-out could not tell the blends apart (none found a held-out track): "
            f"prior weight {w:g}, guard {g:g} by default"
        )
        return BlendChoice(w, g, results, note)
    w, g = keys[winner]
    note = f"{winner} won the hold-out: NDCG@10 {best['ndcg@10']:.4f} (household only {home:.4f}"
    if kept_pure:
        note = (
            f"{winner} serves: no blend beat it on the hold-out by more than one standard error; "
            f"NDCG@10 {best['ndcg@10']:.4f} (household only {home:.4f}"
        )
    if only is not None:
        note += f", prior only {results[only]['ndcg@10']:.4f}"
    note += f", popular in the open data {results[POPULAR]['ndcg@10']:.4f}"
    return BlendChoice(w, g, results, note + ")")
