"""Baseline models beside ALS: household popularity, item-kNN cosine and EASE."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.model.scoring import F32, strongest


class PopularModel:
    """Items ranked by how many rows have them (ties broken by summed confidence); the same for everyone."""

    kind = "popular"

    def __init__(self, popularity: F32) -> None:
        self.popularity = np.asarray(popularity, dtype=np.float32)

    def scores(self, rows: npt.ArrayLike, user_items: sparse.csr_matrix | None = None) -> F32:
        n = np.asarray(rows).size
        return np.broadcast_to(self.popularity, (n, self.popularity.size)).copy()

    def explain(self, row: int, user_items: sparse.csr_matrix, item: int) -> int | None:
        return None

    def explain_ranked(self, row: int, user_items: sparse.csr_matrix, item: int, n: int) -> list[int]:
        return []

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"popularity": self.popularity}

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind}


def fit_popular(matrix: sparse.csr_matrix) -> PopularModel:
    m = sparse.csr_matrix(matrix)
    positive = m.multiply(m > 0).tocsc()
    users = np.diff(positive.indptr).astype(np.float64)
    total = np.asarray(positive.sum(axis=0)).ravel()
    # The summed confidence only breaks ties between equally common items.
    tie = total / (total.max() + 1.0) if total.size else total
    return PopularModel((users + tie).astype(np.float32))


class ItemKnnModel:
    """Cosine item-item similarities (top neighbours kept); a user's score is their row times the similarities."""

    kind = "itemknn"

    def __init__(self, similarity: sparse.csr_matrix, neighbours: int) -> None:
        self.similarity = sparse.csr_matrix(similarity, dtype=np.float32)
        self.neighbours = neighbours

    def scores(self, rows: npt.ArrayLike, user_items: sparse.csr_matrix) -> F32:
        x = user_items[np.asarray(rows, dtype=np.int64)]
        x = x.multiply(x > 0).tocsr()
        out: F32 = np.asarray((x @ self.similarity).todense(), dtype=np.float32)
        return out

    def explain(self, row: int, user_items: sparse.csr_matrix, item: int) -> int | None:
        found = self.explain_ranked(row, user_items, item, 1)
        return found[0] if found else None

    def explain_ranked(self, row: int, user_items: sparse.csr_matrix, item: int, n: int) -> list[int]:
        start, end = user_items.indptr[row], user_items.indptr[row + 1]
        items = user_items.indices[start:end]
        conf = user_items.data[start:end]
        keep = (conf > 0) & (items != item)
        if not keep.any():
            return []
        items, conf = items[keep], conf[keep]
        sims = np.asarray(self.similarity[items, item].todense()).ravel().astype(np.float64) * conf
        sims[sims <= 0] = -np.inf  # no shared listeners: no reason
        return strongest(items, sims, n)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        s = self.similarity
        return {
            "sim_data": s.data,
            "sim_indices": s.indices,
            "sim_indptr": s.indptr,
            "sim_shape": np.asarray(s.shape, dtype=np.int64),
        }

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": {"neighbours": self.neighbours}}


def _keep_top(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the k largest entries of each row."""
    m = m.tocsr()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    rows_out: list[npt.NDArray[np.int64]] = []
    cols_out: list[npt.NDArray[np.int32]] = []
    vals_out: list[npt.NDArray[np.float32]] = []
    for r in np.nonzero(counts)[0]:
        s, e = m.indptr[r], m.indptr[r + 1]
        vals = m.data[s:e]
        cols = m.indices[s:e]
        if e - s > k:
            top = np.argpartition(-vals, k - 1)[:k]
            vals, cols = vals[top], cols[top]
        rows_out.append(np.full(vals.size, r, dtype=np.int64))
        cols_out.append(cols)
        vals_out.append(vals)
    return sparse.csr_matrix(
        (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=m.shape,
    )


def _split_long_rows(x: sparse.csr_matrix, limit: int, seed: int = 0) -> sparse.csr_matrix:
    """Rows with more than *limit* items become several rows of random disjoint subsets.

    Co-occurrence costs the square of a row's length: a member row of 5,000 tracks would add 25M pairs
    that say little beyond "same person". Subsets keep that evidence at a bounded cost.
    """
    lengths = np.diff(x.indptr)
    if lengths.max(initial=0) <= limit:
        return x
    rng = np.random.default_rng(seed)
    rows_out: list[npt.NDArray[np.int64]] = []
    cols_out: list[npt.NDArray[np.int32]] = []
    next_row = 0
    for r in range(x.shape[0]):
        cols = x.indices[x.indptr[r] : x.indptr[r + 1]]
        if cols.size > limit:
            cols = rng.permutation(cols)
        chunk = np.arange(cols.size) // limit
        rows_out.append(next_row + chunk.astype(np.int64))
        cols_out.append(cols)
        next_row += int(chunk[-1]) + 1 if cols.size else 1
    rows = np.concatenate(rows_out)
    cols = np.concatenate(cols_out)
    return sparse.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(next_row, x.shape[1]))


def fit_itemknn(
    matrix: sparse.csr_matrix, neighbours: int = 100, shrink: float = 0.0, max_row_items: int = 500
) -> ItemKnnModel:
    """Cosine similarity between item columns (binary use), each item keeping its top neighbours."""
    x = sparse.csr_matrix(matrix, dtype=np.float32)
    x = _split_long_rows((x > 0).astype(np.float32).tocsr(), max_row_items)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    co = (x.T @ x).tocsr()
    co.setdiag(0.0)
    co.eliminate_zeros()
    co = co.tocoo()
    denom = norms[co.row] * norms[co.col] + shrink
    sim = sparse.csr_matrix((co.data / np.maximum(denom, 1e-12), (co.row, co.col)), shape=co.shape, dtype=np.float32)
    # Rows of the similarity are "neighbours of item j"; a user's row times it sums over their items.
    sim = _keep_top(sim, neighbours)
    return ItemKnnModel(sim, neighbours)


class EaseModel:
    """Embarrassingly shallow autoencoder (Steck 2019): a dense item-item weight matrix in closed form."""

    kind = "ease"

    def __init__(self, weights: F32, items: npt.NDArray[np.int64], n_items: int, lam: float) -> None:
        self.weights = weights
        self.items = items  # the columns the weights cover (items seen often enough)
        self.n_items = n_items
        self.lam = lam

    def scores(self, rows: npt.ArrayLike, user_items: sparse.csr_matrix) -> F32:
        x = user_items[np.asarray(rows, dtype=np.int64)][:, self.items]
        part = np.asarray(x @ self.weights, dtype=np.float32)
        # Items too rare for the weights rank below every covered item, without skewing a blend's scaling.
        floor = part.min(axis=1, keepdims=True) - 1.0 if part.size else np.zeros((part.shape[0], 1), np.float32)
        out = np.broadcast_to(floor, (part.shape[0], self.n_items)).astype(np.float32)
        out[:, self.items] = part
        return out

    def explain(self, row: int, user_items: sparse.csr_matrix, item: int) -> int | None:
        return None

    def explain_ranked(self, row: int, user_items: sparse.csr_matrix, item: int, n: int) -> list[int]:
        return []

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"weights": self.weights, "items": self.items}

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_items": self.n_items, "params": {"lambda": self.lam}}


class EaseSolver:
    """The Gram matrix of the covered items, computed once for several lambdas."""

    def __init__(self, matrix: sparse.csr_matrix, min_users: int = 2) -> None:
        x = sparse.csr_matrix(matrix, dtype=np.float64)
        self.n_items = x.shape[1]
        self.items = self._covered(x, min_users)
        xs = x[:, self.items]
        self.gram = np.asarray((xs.T @ xs).todense(), dtype=np.float64)

    @staticmethod
    def _covered(x: sparse.csr_matrix, min_users: int) -> npt.NDArray[np.int64]:
        users = np.diff(sparse.csc_matrix(x).indptr)
        return np.nonzero(users >= min_users)[0].astype(np.int64)

    @classmethod
    def covered_items(cls, matrix: sparse.csr_matrix, min_users: int = 2) -> int:
        """How many items the weights would cover (the size of the dense system to solve)."""
        return int(cls._covered(matrix, min_users).size)

    def fit(self, lam: float) -> EaseModel:
        g = self.gram.copy()
        g[np.diag_indices_from(g)] += lam
        p = np.linalg.inv(g)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        return EaseModel(b.astype(np.float32), self.items, self.n_items, lam)


def fit_ease(matrix: sparse.csr_matrix, lam: float, min_users: int = 2) -> EaseModel:
    return EaseSolver(matrix, min_users).fit(lam)
