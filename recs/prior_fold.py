"""Training's side of the community prior: load it for a run (refusing a bad one) and fold the household into it.

`load_for_training(path)` never raises for a bad prior: it returns no prior and a status whose message
says, in one line, why it was refused (docs/prior.md, "Loading"); training logs it, records it on the
run for the admin page and goes on household-only. `fold_household` lays the household's tracks over the
prior's catalogue (recs.discovery's union) and folds each member row in with the household's own
weighting of their signals on the prior's tracks. Tracks the prior lacks still count through the household
model. The prior is only read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.discovery import Catalogue, spread, union_catalogue
from recs.model import FoldedModel, fold_in
from recs.prior.artifact import Prior, PriorError, load_prior

F32 = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PriorStatus:
    """What a run knew of its prior, for the run's record and the admin page."""

    path: str
    used: bool
    error: str | None = None
    sources: tuple[str, ...] = ()
    window: dict[str, str | None] | None = None
    tracks: int = 0
    factors: int = 0
    created_at: str | None = None
    format_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sources"] = list(self.sources)
        return out


def load_for_training(path: str | Path) -> tuple[Prior | None, PriorStatus]:
    """The prior at *path*, or None and a status naming why it was refused (never raises for a bad file)."""
    try:
        prior = load_prior(path)
    except PriorError as exc:
        return None, PriorStatus(path=str(path), used=False, error=str(exc))
    m = prior.manifest
    window = m.get("window") if isinstance(m.get("window"), dict) else None
    sources = tuple(str(s.get("name", "")) for s in m.get("sources", []) if isinstance(s, dict))
    status = PriorStatus(
        path=str(path),
        used=True,
        sources=sources,
        window={"since": window.get("since"), "until": window.get("until")} if window else None,
        tracks=prior.n_tracks,
        factors=prior.n_factors,
        created_at=str(m["created_at"]) if m.get("created_at") else None,
        format_version=int(m.get("format_version", 0)),
    )
    return prior, status


@dataclass(frozen=True)
class FoldedHousehold:
    """The household over the union of its tracks and the prior's, with its members folded into the prior."""

    prior: Prior
    catalogue: Catalogue
    folded: FoldedModel  # row r = household matrix row r, for the rows folded in
    prior_row: IntArray  # union position -> the prior's row (-1 where the prior lacks the track)

    def prior_scores(self, rows: npt.ArrayLike) -> F32:
        """The folded members' prior scores laid over the union (0 where the prior lacks a track)."""
        return spread(self.folded.scores(rows), self.catalogue.prior, self.catalogue.size)


def fold_household(
    prior: Prior,
    item_spotify_ids: npt.ArrayLike,
    matrix: sparse.csr_matrix,
    rows: int,
    *,
    threads: int = 1,
) -> FoldedHousehold:
    """Fold the first *rows* rows of the household *matrix* into *prior*.

    *item_spotify_ids* gives the Spotify id of each household column ("" when it has none); a column the
    prior holds contributes its weight on that prior track; the others only count in the household model.
    """
    ids = np.asarray(item_spotify_ids, dtype=str)
    if ids.shape[0] != matrix.shape[1]:
        raise ValueError(f"{ids.shape[0]} Spotify ids for {matrix.shape[1]} household items")
    in_prior = prior.indices(ids) if ids.size else np.zeros(0, dtype=np.int64)
    where = np.full(prior.n_tracks, -1, dtype=np.int64)
    where[in_prior[in_prior >= 0]] = np.nonzero(in_prior >= 0)[0]
    catalogue = union_catalogue(int(matrix.shape[1]), where, prior.listeners)
    members = sparse.csr_matrix(matrix[:rows]).tocoo()
    cols = in_prior[members.col] if members.nnz else np.zeros(0, dtype=np.int64)
    keep = cols >= 0
    signals = sparse.csr_matrix(
        (members.data[keep], (members.row[keep], cols[keep])), shape=(rows, prior.n_tracks), dtype=np.float32
    )
    folded = fold_in(
        prior.factors32(), signals, regularization=prior.regularization, alpha=prior.alpha, threads=threads
    )
    prior_row = np.full(catalogue.size, -1, dtype=np.int64)
    prior_row[catalogue.prior] = np.arange(prior.n_tracks, dtype=np.int64)
    return FoldedHousehold(prior, catalogue, folded, prior_row)
