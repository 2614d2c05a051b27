"""Implicit-feedback ALS on the CPU: fitting with implicit's conjugate-gradient solver, scoring and explaining."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.model.scoring import strongest
from recs.model.threads import blas_threads

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AlsParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AlsModel:
    """User and item factors; scores are dot products, explanations follow Hu, Koren & Volinsky §5."""

    kind = "als"

    def __init__(self, user_factors: F32, item_factors: F32, params: AlsParams) -> None:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.params = params
        self._gram: npt.NDArray[np.float64] | None = None
        self._solved: dict[tuple[int, int], npt.NDArray[np.float64]] = {}

    @property
    def n_items(self) -> int:
        return int(self.item_factors.shape[0])

    def scores(self, rows: npt.ArrayLike, user_items: sparse.csr_matrix | None = None) -> F32:
        idx = np.asarray(rows, dtype=np.int64)
        out: F32 = self.user_factors[idx] @ self.item_factors.T
        return out

    def top(
        self, rows: npt.ArrayLike, n: int, exclude: sparse.csr_matrix | None = None, threads: int = 1
    ) -> npt.NDArray[np.int64]:
        """The n best items per row, best first, skipping each row's items in *exclude* (implicit's native top-k)."""
        from implicit.cpu.topk import topk

        idx = np.asarray(rows, dtype=np.int64)
        n = min(n, self.n_items)
        with blas_threads(1):
            ids, scores = topk(
                self.item_factors,
                self.user_factors[idx],
                n,
                filter_query_items=None if exclude is None else sparse.csr_matrix(exclude),
                num_threads=max(1, threads),
            )
        out = np.asarray(ids, dtype=np.int64)
        # Rows with fewer than n candidates come back padded with -1 (and -inf scores).
        return np.where(np.isfinite(scores), out, -1)

    def explain(self, row: int, user_items: sparse.csr_matrix, item: int) -> int | None:
        """The item of *row* that contributes most to the score of *item*, or None if the row has none."""
        found = self.explain_ranked(row, user_items, item, 1)
        return found[0] if found else None

    def explain_ranked(self, row: int, user_items: sparse.csr_matrix, item: int, n: int) -> list[int]:
        """Up to *n* items of *row* by how much each contributes to the score of *item*, strongest first."""
        start, end = user_items.indptr[row], user_items.indptr[row + 1]
        items = user_items.indices[start:end]
        conf = user_items.data[start:end].astype(np.float64) * self.params.alpha
        if not (conf > 0).any():
            return []
        y = self.item_factors
        if self._gram is None:
            y64 = y.astype(np.float64)
            self._gram = y64.T @ y64
        yj = y[items].astype(np.float64)
        key = (row, id(user_items))
        if key not in self._solved:
            # The row's own system, as in implicit's explain: (YtY + reg I + Yj^T (Cj - 1) Yj)^-1 Yj^T.
            a = self._gram + self.params.regularization * np.eye(y.shape[1])
            a += (yj * (np.abs(conf) - 1.0)[:, None]).T @ yj
            self._solved = {
                key: np.asarray(np.linalg.inv(a), dtype=np.float64)
            }  # one row at a time: lists are built member by member
        inv = self._solved[key]
        weighted = inv @ y[item].astype(np.float64)
        contrib = (yj @ weighted) * conf
        contrib[conf <= 0] = -np.inf
        contrib[items == item] = -np.inf
        return strongest(items, contrib, n)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params.as_dict()}


def fit_als(
    matrix: sparse.csr_matrix, params: AlsParams, *, seed: int, threads: int = 1, exact: bool = False
) -> AlsModel:
    """Fit ALS on a users x items confidence matrix (negative cells mean dislike).

    implicit's conjugate-gradient solver (3 steps per row and iteration) by default; `exact` solves each
    row's least squares exactly (Cholesky), as Spark's ALS does.
    """
    import implicit.als

    n_rows, n_items = matrix.shape
    # Cholesky fails when factors exceed the user rows; CG copes, but factors beyond either side's size
    # only memorise: keep them below the rows and half the items.
    factors = max(1, min(params.factors, n_rows - 1, n_items // 2))
    with blas_threads(1):
        model = implicit.als.AlternatingLeastSquares(
            factors=factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            use_cg=not exact,
            use_gpu=False,
            num_threads=max(1, threads),
            random_state=seed,
        )
        model.fit(sparse.csr_matrix(matrix, dtype=np.float32), show_progress=False)
    used = AlsParams(factors, params.regularization, params.alpha, params.iterations)
    return AlsModel(model.user_factors, model.item_factors, used)


def fit_item_factors(
    matrix: sparse.csr_matrix, params: AlsParams, *, seed: int, threads: int = 1, exact: bool = False
) -> tuple[F32, AlsParams]:
    """Item factors of an ALS fit (the community prior keeps no user factors) and the parameters used."""
    model = fit_als(matrix, params, seed=seed, threads=threads, exact=exact)
    return model.item_factors, model.params
