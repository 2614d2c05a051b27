"""Training's side of the community prior: load it for a run (refusing a bad one) and fold the household into it.

`load_for_training(path)` never raises for a bad prior: it returns no prior and a status whose message
says, in one line, why it was refused (docs/prior.md, "Loading"); training logs it, records it on the
run for the admin page and goes on household-only. `fold_household` lays the household's tracks over the
prior's catalogue (recs.usecases.discovery's union) and folds each member row in with the household's own
weighting of their signals on the prior's tracks. Tracks the prior lacks still count through the household
model. The prior is only read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.core.interactions import Vocabulary
from recs.model import FoldedModel, fold_in
from recs.usecases.discovery import Catalogue, blend_scores, spread, union_catalogue
from recs.usecases.prior.artifact import Prior, PriorError, load_prior

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


def item_spotify_ids(track_ids: npt.ArrayLike, spotify: Mapping[int, str]) -> npt.NDArray[np.str_]:
    """The Spotify id of each household item ("" for a track known only by name)."""
    return np.array([spotify.get(int(t), "") for t in np.asarray(track_ids).tolist()], dtype="<U64")


def union_relevant(
    fh: FoldedHousehold,
    items: Vocabulary,
    spotify: Mapping[int, str],
    relevant: Mapping[int, set[int]],
    rows: Sequence[int],
) -> dict[int, set[int]]:
    """Held-out track ids (per member row) as union positions, keyed 0..len(rows)-1 in *rows* order.

    A track neither side holds gets its own negative position: it counts against recall, never hit.
    """
    out: dict[int, set[int]] = {}
    unknown: dict[int, int] = {}
    for k, row in enumerate(rows):
        for t in sorted(relevant.get(row, ())):
            pos = items.index_of(t)
            if pos < 0:
                p = fh.prior.index(spotify.get(t, "")) if spotify.get(t) else None
                pos = int(fh.catalogue.prior[p]) if p is not None else -1 - unknown.setdefault(t, len(unknown))
            out.setdefault(k, set()).add(pos)
    return out


def union_known(fh: FoldedHousehold, matrix: sparse.csr_matrix, rows: Sequence[int]) -> sparse.csr_matrix:
    """The household items each of *rows* has any signal on, over the union (what a list leaves out)."""
    sub = sparse.csr_matrix(matrix[np.asarray(rows, dtype=np.int64)])
    return sparse.csr_matrix(
        (np.ones(sub.nnz, dtype=np.float32), sub.indices, sub.indptr), shape=(len(rows), fh.catalogue.size)
    )


@dataclass(frozen=True)
class Candidates:
    """One member's blended scores: every household item, and the best tracks only the prior holds."""

    household: npt.NDArray[np.float64]  # per household item
    prior_rows: IntArray  # prior rows of the best prior-only tracks, best first
    prior_scores: npt.NDArray[np.float64]


def knows_nothing(fh: FoldedHousehold, row: int) -> bool:
    """Whether the member has no signal on any of the prior's tracks (folded in as all zeros: no taste to go on)."""
    return not bool(np.any(fh.folded.user_factors[row]))


def popular_side(fh: FoldedHousehold) -> F32:
    """Popular-from-the-prior as a prior side: standardised log(1 + listeners) on the prior's tracks, 0 elsewhere."""
    cat = fh.catalogue
    return np.where(cat.in_prior, cat.popularity, np.float32(0.0)).astype(np.float32)[None, :]


def blended_candidates(
    fh: FoldedHousehold, household_scores: npt.ArrayLike, row: int, weight: float, guard: float, n: int
) -> Candidates:
    """Blend one member's household scores (over household items) with their prior scores; keep *n* prior-only.

    A member with no signal on the prior's tracks (`knows_nothing`) gets popular-from-the-prior as their prior
    side; the guard then pulls it down as it pulls the crowd's favourites down for everyone:
    (1 - w) * household + w * (1 - guard) * popularity, so the household's own evidence keeps its place.
    """
    cat = fh.catalogue
    h = spread(np.asarray(household_scores, dtype=np.float32)[None, :], cat.household, cat.size)
    prior = popular_side(fh) if knows_nothing(fh, row) else fh.prior_scores([row])
    return _candidates(fh, blend_scores(cat, h, prior, weight, guard)[0], n)


def popular_candidates(
    fh: FoldedHousehold, household_popularity: npt.ArrayLike, weight: float, guard: float, n: int
) -> Candidates:
    """The popularity fill of an open-data member: household popularity blended with popular-from-the-prior.

    The same blend and guard as the members' scores, (1 - w) * household + w * (1 - guard) * popularity in
    the open data, each side standardised: a cold-start member (too few tracks for the model) gets the
    crowd's favourites beside the household's, and a lone member, whose household has nothing new, gets them.
    """
    cat = fh.catalogue
    h = spread(np.asarray(household_popularity, dtype=np.float32)[None, :], cat.household, cat.size)
    return _candidates(fh, blend_scores(cat, h, popular_side(fh), weight, guard)[0], n)


def _candidates(fh: FoldedHousehold, scores: F32, n: int) -> Candidates:
    s = scores.astype(np.float64)
    n_h = fh.catalogue.n_household
    rest = s[n_h:]
    n = min(n, rest.size)
    top = np.argpartition(-rest, n - 1)[:n] if n > 0 else np.zeros(0, dtype=np.int64)
    top = top[np.argsort(-rest[top], kind="stable")]
    top = top[np.isfinite(rest[top])]
    return Candidates(s[:n_h], fh.prior_row[n_h + top], rest[top])
