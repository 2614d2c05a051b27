"""From kept listens to the training matrix (pure numpy): de-duplication, (user, track) counts, weighting, filters.

Weighting: a (user, track) cell is log2(1 + min(listens, cap)), cap 20 by default. ListenBrainz's own
recording CF (listenbrainz_spark/recommendations/recording/create_dataframes.py) counts listens per
(user, recording) and, when asked, transforms them with a cap of 20 (MAX_PLAYCOUNT) so that one user's
track on repeat cannot outweigh many users' single listens; their default trains on the raw counts. We
cap at the same 20 and then take log2(1 + x), the same diminishing return the household matrix uses
(recs/core/interactions.py), so a member folded into the prior has confidences on the same scale. Confidence
in implicit's ALS is then 1 + alpha * weight.

Filters, applied alternately until nothing changes (at most 10 rounds): a track needs `min_listeners`
distinct users, a user needs `min_user_tracks` distinct tracks. Rare tracks give factors fitted to one
or two people's taste (noise for everyone else); users with a handful of tracks add little
co-occurrence and slow the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

WEIGHTING_SCHEME = "log2(1 + min(listens, cap))"
MAX_FILTER_ROUNDS = 10


TRACK_BITS = 32
TRACK_MASK = (1 << TRACK_BITS) - 1


def listen_keys(timestamps: I64, tracks: I32, earliest: int) -> I64:
    """(timestamp, track) packed in one int64: seconds since *earliest* in the high bits, the track below."""
    return ((timestamps - earliest) << TRACK_BITS) | tracks.astype(np.int64)


def dedupe(users: I64, keys: I64) -> tuple[I64, I32, int]:
    """Drop exact duplicates of (user, listen_keys); returns the kept users and tracks and how many were dropped.

    Pass arrays nobody else holds (e.g. straight from a function call): each is replaced by its sorted
    copy as soon as it is made, so the peak stays near three int64 columns.
    """
    n = int(users.shape[0])
    if n == 0:
        return users, np.zeros(0, dtype=np.int32), 0
    order = np.lexsort((keys, users))
    users = users[order]
    keys = keys[order]
    del order
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(users[1:], users[:-1], out=first[1:])
    first[1:] |= keys[1:] != keys[:-1]
    kept = int(first.sum())
    users = users[first]
    tracks = (keys[first] & TRACK_MASK).astype(np.int32)
    return users, tracks, n - kept


@dataclass(frozen=True)
class Pairs:
    """Distinct (user, track) cells with their listen counts; `user_ids[i]` is the dump's id of row index i."""

    user_idx: I64
    track_idx: I64
    counts: I64
    user_ids: I64
    n_tracks: int


def pair_counts(users: I64, tracks: I32, n_tracks: int) -> Pairs:
    """Count listens per (user, track)."""
    user_ids, user_idx = np.unique(users, return_inverse=True)
    key = user_idx.astype(np.int64) * max(n_tracks, 1) + tracks.astype(np.int64)
    cells, counts = np.unique(key, return_counts=True)
    return Pairs(
        user_idx=cells // max(n_tracks, 1),
        track_idx=cells % max(n_tracks, 1),
        counts=counts.astype(np.int64),
        user_ids=user_ids.astype(np.int64),
        n_tracks=n_tracks,
    )


def weights(counts: I64, cap: int) -> npt.NDArray[np.float32]:
    """The documented weighting: log2(1 + min(count, cap))."""
    return np.log2(1.0 + np.minimum(counts, cap)).astype(np.float32)


def filter_pairs(pairs: Pairs, min_listeners: int, min_user_tracks: int) -> npt.NDArray[np.bool_]:
    """Which cells survive the track and user filters, applied alternately until stable."""
    keep = np.ones(pairs.counts.shape[0], dtype=bool)
    n_users = int(pairs.user_ids.shape[0])
    for _ in range(MAX_FILTER_ROUNDS):
        before = int(keep.sum())
        listeners = np.bincount(pairs.track_idx[keep], minlength=pairs.n_tracks)
        keep &= listeners[pairs.track_idx] >= min_listeners
        user_tracks = np.bincount(pairs.user_idx[keep], minlength=n_users)
        keep &= user_tracks[pairs.user_idx] >= min_user_tracks
        if int(keep.sum()) == before:
            break
    return keep


@dataclass(frozen=True)
class Matrix:
    """The users x tracks weight matrix of the kept cells; `tracks[j]` is the vocabulary index of column j."""

    matrix: sparse.csr_matrix
    tracks: I64
    users: int


def training_matrix(pairs: Pairs, keep: npt.NDArray[np.bool_], cap: int) -> Matrix:
    """Compact the kept cells into a CSR matrix (columns in vocabulary order, rows in user-id order)."""
    rows_used, rows = np.unique(pairs.user_idx[keep], return_inverse=True)
    cols_used, cols = np.unique(pairs.track_idx[keep], return_inverse=True)
    data = weights(pairs.counts[keep], cap)
    matrix = sparse.csr_matrix(
        (data, (rows.astype(np.int64), cols.astype(np.int64))), shape=(rows_used.shape[0], cols_used.shape[0])
    )
    return Matrix(matrix=matrix, tracks=cols_used.astype(np.int64), users=int(rows_used.shape[0]))


def track_totals(pairs: Pairs) -> tuple[I64, I64]:
    """Distinct listeners and (de-duplicated) listens per track, over every kept listen before the filters."""
    listeners = np.bincount(pairs.track_idx, minlength=pairs.n_tracks).astype(np.int64)
    listens = np.bincount(pairs.track_idx, weights=pairs.counts, minlength=pairs.n_tracks).astype(np.int64)
    return listeners, listens
