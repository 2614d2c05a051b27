"""Folding users into fixed item factors (the community prior) with implicit's own user recalculation."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.model.als import AlsModel, AlsParams
from recs.model.threads import blas_threads

F32 = npt.NDArray[np.float32]


class FoldedModel(AlsModel):
    """Users folded into a prior's item factors: scored and explained as ALS, over the prior's items.

    The item factors are the prior's own (never written to); only the user factors are this model's.
    """

    kind = "prior"

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        # The prior's factors live in the prior's file: a run stores only its members' folded factors.
        return {"user_factors": self.user_factors}


def fold_in(
    item_factors: npt.NDArray[Any],
    user_items: sparse.csr_matrix,
    *,
    regularization: float,
    alpha: float,
    threads: int = 1,
) -> FoldedModel:
    """Solve each row of *user_items* (users x the prior's items, weighted signals) against fixed item factors.

    This is implicit's `AlternatingLeastSquares.recalculate_user`: for each user the exact (Cholesky)
    least-squares solution of the objective the prior was fitted with,
    x_u = (YᵀY + Yᵀ(C_u − I)Y + λI)⁻¹ Yᵀ C_u p_u, with implicit's confidence C_ui = alpha · weight
    (negative weights are dislikes: confidence |alpha · weight|, preference 0). The item factors
    are read, never modified; float16 factors are widened to float32 first.
    """
    import implicit.cpu.als

    y = np.ascontiguousarray(item_factors, dtype=np.float32)
    if not y.flags.writeable:
        # implicit's solver takes writable buffers (it only reads them): a read-only array is copied.
        y = y.copy()
    if y.ndim != 2:
        raise ValueError(f"item factors must be a 2-d array, got shape {y.shape}")
    m = sparse.csr_matrix(user_items, dtype=np.float32)
    if m.shape[1] != y.shape[0]:
        raise ValueError(f"user_items has {m.shape[1]} item columns but the prior has {y.shape[0]} items")
    n_users, k = m.shape[0], y.shape[1]
    params = AlsParams(factors=k, regularization=float(regularization), alpha=float(alpha), iterations=0)
    if n_users == 0:
        return FoldedModel(np.zeros((0, k), dtype=np.float32), y, params)
    solver = implicit.cpu.als.AlternatingLeastSquares(
        factors=k, regularization=float(regularization), alpha=float(alpha), num_threads=max(1, threads)
    )
    solver.item_factors = y
    with blas_threads(1):
        users = solver.recalculate_user(np.arange(n_users), m)
    return FoldedModel(np.asarray(users, dtype=np.float32).reshape(n_users, k), y, params)
