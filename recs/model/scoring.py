"""What every model is and what is done with any model: the Model protocol, blending models, and the n best items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import sparse

F32 = npt.NDArray[np.float32]


class Model(Protocol):
    kind: str

    def scores(self, rows: npt.ArrayLike, user_items: sparse.csr_matrix) -> F32: ...

    def explain(self, row: int, user_items: sparse.csr_matrix, item: int) -> int | None: ...

    def explain_ranked(self, row: int, user_items: sparse.csr_matrix, item: int, n: int) -> list[int]:
        """Up to *n* of the row's items that explain *item*, strongest first (`explain` is the first)."""
        ...

    def arrays(self) -> dict[str, npt.NDArray[Any]]: ...

    def meta(self) -> dict[str, Any]: ...


def standardise(s: npt.NDArray[np.floating[Any]]) -> F32:
    """Each row shifted to mean 0 and scaled to standard deviation 1 (a constant row becomes all 0)."""
    mean = s.mean(axis=1, keepdims=True)
    std = s.std(axis=1, keepdims=True)
    out: F32 = ((s - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    return out


class BlendModel:
    """A weighted sum of models' per-user standardised scores; explanations come from the first part that has one."""

    kind = "blend"

    def __init__(self, parts: Sequence[tuple[Model, float]]) -> None:
        if not parts:
            raise ValueError("a blend needs at least one model")
        self.parts = list(parts)

    def scores(self, rows: npt.ArrayLike, user_items: sparse.csr_matrix) -> F32:
        total: F32 | None = None
        for model, weight in self.parts:
            s = standardise(model.scores(rows, user_items)) * np.float32(weight)
            total = s if total is None else total + s
        assert total is not None
        return total

    def explain(self, row: int, user_items: sparse.csr_matrix, item: int) -> int | None:
        found = self.explain_ranked(row, user_items, item, 1)
        return found[0] if found else None

    def explain_ranked(self, row: int, user_items: sparse.csr_matrix, item: int, n: int) -> list[int]:
        for model, _ in sorted(self.parts, key=lambda p: -p[1]):
            found = model.explain_ranked(row, user_items, item, n)
            if found:
                return found
        return []

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {}
        for i, (model, _) in enumerate(self.parts):
            out.update({f"part{i}_{k}": v for k, v in model.arrays().items()})
        return out

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "parts": [{"weight": w, **m.meta()} for m, w in self.parts]}


def recommend_top(
    model: Model,
    rows: npt.ArrayLike,
    user_items: sparse.csr_matrix,
    n: int,
    exclude: sparse.csr_matrix | None,
    threads: int = 1,
) -> npt.NDArray[np.int64]:
    """The n best items for each row (index -1 pads rows with too few); ALS uses implicit's native top-k."""
    top = getattr(model, "top", None)
    if top is not None:
        result: npt.NDArray[np.int64] = top(rows, n, exclude, threads=threads)
        return result
    return top_n(model.scores(rows, user_items), n, exclude)


def top_n(scores: F32, n: int, exclude: sparse.csr_matrix | None = None) -> npt.NDArray[np.int64]:
    """Indices of the n best items per row, best first; items present in *exclude*'s rows are left out."""
    s = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        coo = exclude.tocoo()
        s[coo.row, coo.col] = -np.inf
    n = min(n, s.shape[1])
    if n <= 0:
        return np.zeros((s.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-s, n - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def strongest(items: npt.NDArray[Any], weights: npt.NDArray[np.floating[Any]], n: int) -> list[int]:
    """The *items* with the *n* largest finite *weights*, largest first (ties: earlier first); -inf: never named."""
    order = np.argsort(-weights, kind="stable")[:n]
    return [int(items[i]) for i in order if np.isfinite(weights[i])]
