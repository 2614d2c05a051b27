"""Ranking metrics (NDCG, recall, precision, MAP, coverage, novelty) as small pure functions over id lists.

Each per-user function takes the ranked recommendations and the set of relevant (held-out) items and
returns a float in [0, 1]; `mean_metrics` averages them over users. Conventions follow the HetRec
protocol of issue 6: binary gains; recall@k divides hits by min(k, |relevant|); the ideal DCG uses
min(k, |relevant|) hits; MAP@k divides by min(k, |relevant|).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)

_LOG2 = [1.0 / math.log2(i + 2) for i in range(1000)]


def _discount(i: int) -> float:
    return _LOG2[i] if i < len(_LOG2) else 1.0 / math.log2(i + 2)


def _check(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")


def precision_at_k(ranked: Sequence[T], relevant: Collection[T], k: int) -> float:
    """Share of the first k recommendations that are relevant (k in the denominator, even if fewer shown)."""
    _check(k)
    return sum(1 for item in ranked[:k] if item in relevant) / k


def recall_at_k(ranked: Sequence[T], relevant: Collection[T], k: int) -> float:
    """Hits in the first k over min(k, |relevant|); 0 when nothing is relevant."""
    _check(k)
    if not relevant:
        return 0.0
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[T], relevant: Collection[T], k: int) -> float:
    """Binary-gain NDCG@k with the ideal list holding min(k, |relevant|) hits."""
    _check(k)
    if not relevant:
        return 0.0
    dcg = sum(_discount(i) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(_discount(i) for i in range(min(k, len(relevant))))
    return dcg / ideal


def average_precision_at_k(ranked: Sequence[T], relevant: Collection[T], k: int) -> float:
    """AP@k: mean of precision at each hit position, over min(k, |relevant|)."""
    _check(k)
    if not relevant:
        return 0.0
    hits = 0
    total = 0.0
    for i, item in enumerate(ranked[:k]):
        if item in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / min(k, len(relevant))


def catalogue_coverage(lists: Iterable[Sequence[T]], n_items: int, k: int) -> float:
    """Share of the catalogue (n_items) that appears in at least one user's top k."""
    _check(k)
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    seen: set[T] = set()
    for ranked in lists:
        seen.update(ranked[:k])
    return len(seen) / n_items


def novelty_at_k(lists: Iterable[Sequence[T]], popularity: Mapping[T, int], n_users: int, k: int) -> float:
    """Mean self-information -log2(p(item)) of recommended items, p = share of users who have the item.

    Items never seen in training count as seen by one user, so the value stays finite; 0 for no lists.
    """
    _check(k)
    if n_users <= 0:
        raise ValueError(f"n_users must be positive, got {n_users}")
    total = 0.0
    count = 0
    for ranked in lists:
        for item in ranked[:k]:
            p = max(popularity.get(item, 0), 1) / n_users
            total += -math.log2(min(p, 1.0))
            count += 1
    return total / count if count else 0.0


K = TypeVar("K", bound=Hashable)


def mean_metrics(
    ranked_by_user: Mapping[K, Sequence[T]],
    relevant_by_user: Mapping[K, Collection[T]],
    *,
    n_items: int,
    popularity: Mapping[T, int] | None = None,
    n_users: int | None = None,
) -> dict[str, float]:
    """The report of issue 6, averaged over users that have relevant items.

    Keys: precision@10, recall@20, recall@50, ndcg@10, map@10, coverage@10 and, given popularity and
    n_users, novelty@10.
    """
    users = [u for u, rel in relevant_by_user.items() if rel]
    out = {"precision@10": 0.0, "recall@20": 0.0, "recall@50": 0.0, "ndcg@10": 0.0, "map@10": 0.0}
    for u in users:
        ranked = ranked_by_user.get(u, ())
        rel = relevant_by_user[u]
        out["precision@10"] += precision_at_k(ranked, rel, 10)
        out["recall@20"] += recall_at_k(ranked, rel, 20)
        out["recall@50"] += recall_at_k(ranked, rel, 50)
        out["ndcg@10"] += ndcg_at_k(ranked, rel, 10)
        out["map@10"] += average_precision_at_k(ranked, rel, 10)
    n = max(len(users), 1)
    out = {key: value / n for key, value in out.items()}
    lists = [ranked_by_user.get(u, ()) for u in users]
    out["coverage@10"] = catalogue_coverage(lists, n_items, 10) if n_items > 0 else 0.0
    if popularity is not None and n_users:
        out["novelty@10"] = novelty_at_k(lists, popularity, n_users, 10)
    out["users"] = float(len(users))
    return out


# Entries of a metrics report that count things rather than measure a rate.
COUNTS = frozenset({"users"})


def format_metric(name: str, value: float) -> str:
    """A metric as people read it: counts as whole numbers (`users 4`), rates to three decimals (`ndcg@10 0.412`)."""
    if name in COUNTS and float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}"
