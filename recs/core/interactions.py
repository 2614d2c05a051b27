"""The weighted user-item matrix: plays, skips, library and playlists turned into confidences (pure, numpy only).

Inputs are integer arrays (member ids, track ids, epoch seconds, flags) as storage reads them; the output
is an `Interactions` object: a CSR matrix whose first rows are the real members (in member-id order)
followed by pseudo-users (one per listening session and one per own playlist) that carry item-item
evidence a small household cannot get from overlap between members. Weighting, in order:

- plays from an excluded context (a kids' or sleep playlist), of a hidden track or by a blocked artist
  are dropped (storage passes those (member, track) pairs as `removed`);
- each play weighs 0.5 ** (age / half-life), times `own_playlist_weight` when it came from one of our
  own published playlists (so the model does not feed on itself);
- skipped plays, and short streams, are dropped (skips="exclude") or count against (skips="negative");
- repeats have diminishing returns: a cell is log2(1 + summed weight), minus log2(1 + summed skip weight);
- a saved track adds `saved_weight`, membership of an own playlist adds `playlist_weight`;
- "More like this" on a recommendation adds `liked_weight` (2.0, as much as three recent plays: a
  deliberate ask weighs more than a save or one play, yet a few likes do not outweigh a listening history);
- session pseudo-users hold the distinct tracks of plays less than `session_gap_minutes` apart (not
  skipped, not excluded, not from our own published playlists), when there are at least two; only for
  households of up to `sessions_up_to_members` members (beyond that, members overlap enough).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs.core.config import TrainingSettings

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAY_S = 86_400.0

# How a play's context relates to the member (computed by storage from excluded_contexts and published_playlists).
CONTEXT_NORMAL = 0
CONTEXT_EXCLUDED = 1
CONTEXT_OWN_PUBLISHED = 2


class Vocabulary:
    """A sorted set of integer ids and the contiguous matrix index of each (LensKit's Vocabulary idea)."""

    def __init__(self, ids: Iterable[int] | npt.NDArray[np.integer]) -> None:
        self.ids: IntArray = np.unique(
            np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        )

    @classmethod
    def from_unique(cls, ids: IntArray) -> Vocabulary:
        """A vocabulary over ids already sorted and distinct (as np.unique returns them): no second sort."""
        vocab = cls.__new__(cls)
        vocab.ids = np.asarray(ids, dtype=np.int64)
        return vocab

    def __len__(self) -> int:
        return int(self.ids.size)

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, int | np.integer):
            return False
        return self.index_of(int(item_id)) >= 0

    def indices(self, ids: npt.ArrayLike) -> IntArray:
        """Index of each id, -1 for ids not in the vocabulary."""
        arr = np.asarray(ids, dtype=np.int64)
        if self.ids.size == 0:
            return np.full(arr.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, arr)
        pos_clipped = np.minimum(pos, self.ids.size - 1)
        found = self.ids[pos_clipped] == arr
        return np.where(found, pos_clipped, -1).astype(np.int64)

    def index_of(self, item_id: int) -> int:
        return int(self.indices(np.array([item_id]))[0])

    def id_of(self, index: int) -> int:
        return int(self.ids[index])

    def ids_of(self, indices: npt.ArrayLike) -> IntArray:
        return self.ids[np.asarray(indices, dtype=np.int64)]


@dataclass(frozen=True)
class Weighting:
    """How signals become confidences; built from Settings.training by `Weighting.from_settings`."""

    half_life_days: float = 365.0
    skips: str = "exclude"
    own_playlist_weight: float = 0.3
    saved_weight: float = 1.0
    playlist_weight: float = 0.5
    # "More like this" (see the module docstring).
    liked_weight: float = 2.0
    session_gap_minutes: float = 30.0
    # Weight of a track's cell in a session or playlist pseudo-row.
    pseudo_weight: float = 1.0
    # Sessions with fewer distinct tracks than this carry no co-occurrence and are left out.
    min_pseudo_items: int = 2
    sessions: bool = True
    playlists: bool = True
    # Session rows are item-item evidence for households with little overlap between members; with more
    # members than this, overlap is plentiful and session rows would only double the fit.
    sessions_up_to_members: int = 100

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days}")
        if self.skips not in ("exclude", "negative"):
            raise ValueError(f"skips must be 'exclude' or 'negative', got {self.skips!r}")
        if not 0 <= self.own_playlist_weight <= 1:
            raise ValueError(f"own_playlist_weight must be within 0..1, got {self.own_playlist_weight}")

    @classmethod
    def from_settings(cls, training: TrainingSettings) -> Weighting:
        return cls(
            half_life_days=training.half_life_days,
            skips=training.skips,
            own_playlist_weight=training.own_playlist_weight,
            session_gap_minutes=float(training.session_gap_minutes),
        )


def _i64(a: npt.ArrayLike | None, n: int = 0) -> IntArray:
    return np.zeros(n, dtype=np.int64) if a is None else np.asarray(a, dtype=np.int64)


@dataclass
class Signals:
    """Everything training reads, as parallel integer/float arrays (one element per row read)."""

    # Plays: member id, track id, epoch seconds, skipped flag, CONTEXT_* code.
    play_member: IntArray
    play_track: IntArray
    play_at: FloatArray
    play_skipped: BoolArray
    play_context: npt.NDArray[np.int8]
    # Short streams (skip evidence): member, track, epoch seconds.
    short_member: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    short_track: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    short_at: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    # Saved tracks: member, track, epoch seconds added (NaN when unknown).
    saved_member: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    saved_track: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    saved_at: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    # Own playlist items: playlist id, its member, track.
    playlist_id: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    playlist_member: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    playlist_track: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # "More like this": member, track.
    liked_member: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    liked_track: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # (member, track) pairs left out of the taste profile: hidden tracks, tracks by blocked artists.
    removed_member: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    removed_track: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def from_plays(
        cls,
        member: npt.ArrayLike,
        track: npt.ArrayLike,
        at: npt.ArrayLike,
        skipped: npt.ArrayLike | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Signals:
        m = _i64(member)
        return cls(
            play_member=m,
            play_track=_i64(track),
            play_at=np.asarray(at, dtype=np.float64),
            play_skipped=np.zeros(m.size, bool) if skipped is None else np.asarray(skipped, dtype=bool),
            play_context=np.zeros(m.size, np.int8) if context is None else np.asarray(context, dtype=np.int8),
        )

    @property
    def n_plays(self) -> int:
        return int(self.play_member.size)


@dataclass
class Interactions:
    """The weighted matrix: rows [0, n_members) are members (ids in `members`), the rest pseudo-users."""

    matrix: sparse.csr_matrix
    members: Vocabulary
    items: Vocabulary
    n_sessions: int
    n_playlists: int

    @property
    def n_members(self) -> int:
        return len(self.members)

    def member_rows(self) -> sparse.csr_matrix:
        return self.matrix[: self.n_members]

    def row_of(self, member_id: int) -> int:
        row = self.members.index_of(member_id)
        if row < 0:
            raise KeyError(f"member {member_id} is not in the training data")
        return row

    def history(self, member_id: int) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """The member's own positive items (indices) and their confidences."""
        row = self.matrix[self.row_of(member_id)]
        keep = row.data > 0
        return row.indices[keep].astype(np.int64), row.data[keep]

    def size(self) -> dict[str, int]:
        return {
            "members": self.n_members,
            "sessions": self.n_sessions,
            "playlists": self.n_playlists,
            "rows": int(self.matrix.shape[0]),
            "items": int(self.matrix.shape[1]),
            "nnz": int(self.matrix.nnz),
        }


def _pair_key(member: IntArray, track: IntArray) -> IntArray:
    # Track ids and member ids are database ids, far below 2**31.
    return (member << 32) | track


def _keep_mask(member: IntArray, track: IntArray, signals: Signals) -> BoolArray:
    if signals.removed_member.size == 0 or member.size == 0:
        return np.ones(member.size, dtype=bool)
    removed = np.unique(_pair_key(signals.removed_member, signals.removed_track))
    return ~np.isin(_pair_key(member, track), removed, assume_unique=False)


def decay(age_s: FloatArray, half_life_days: float) -> FloatArray:
    """0.5 ** (age / half-life); future timestamps count as now."""
    return np.power(0.5, np.maximum(age_s, 0.0) / (half_life_days * DAY_S))


def diminishing(total: FloatArray) -> FloatArray:
    """Repeats count less and less: 1 play -> 1, 3 plays -> 2, 7 plays -> 3."""
    return np.log2(1.0 + np.maximum(total, 0.0))


def _aggregate(rows: IntArray, cols: IntArray, values: FloatArray, shape: tuple[int, int]) -> sparse.csr_matrix:
    m = sparse.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float64)
    m.sum_duplicates()
    return m


def build_interactions(
    signals: Signals,
    weighting: Weighting,
    now: float,
    members: Iterable[int],
) -> Interactions:
    """Turn signals into the weighted matrix for *members* (every one gets a row, even with no data)."""
    member_vocab = Vocabulary(members)
    s = signals
    # Row of each play, computed once: lookups over millions of plays are the costly part here.
    play_row = member_vocab.indices(s.play_member)
    keep = (play_row >= 0) & (s.play_context != CONTEXT_EXCLUDED) & _keep_mask(s.play_member, s.play_track, s)
    if weighting.skips == "exclude":
        positive = keep & ~s.play_skipped
        negative = np.zeros_like(keep)
    else:
        positive = keep & ~s.play_skipped
        negative = keep & s.play_skipped
    w = decay(now - s.play_at, weighting.half_life_days)
    w = np.where(s.play_context == CONTEXT_OWN_PUBLISHED, w * weighting.own_playlist_weight, w)

    sv_keep = (member_vocab.indices(s.saved_member) >= 0) & _keep_mask(s.saved_member, s.saved_track, s)
    pl_keep = (member_vocab.indices(s.playlist_member) >= 0) & _keep_mask(s.playlist_member, s.playlist_track, s)
    sh_keep = (member_vocab.indices(s.short_member) >= 0) & _keep_mask(s.short_member, s.short_track, s)
    lk_keep = (member_vocab.indices(s.liked_member) >= 0) & _keep_mask(s.liked_member, s.liked_track, s)
    if weighting.skips == "exclude":
        sh_keep = np.zeros_like(sh_keep)

    # One sort gives the item vocabulary and every column index at once.
    used = positive | negative
    parts = [
        s.play_track[used],
        s.saved_track[sv_keep],
        s.playlist_track[pl_keep],
        s.short_track[sh_keep],
        s.liked_track[lk_keep],
    ]
    item_ids, inverse = np.unique(np.concatenate(parts), return_inverse=True)
    item_vocab = Vocabulary.from_unique(item_ids)
    bounds = np.cumsum([p.size for p in parts])[:-1]
    play_used_col, saved_cols, playlist_cols, short_cols, liked_cols = np.split(inverse.astype(np.int64), bounds)
    play_col = np.full(s.play_member.size, -1, dtype=np.int64)
    play_col[used] = play_used_col
    n_items = len(item_vocab)
    n_members = len(member_vocab)
    shape = (n_members, n_items)

    pos = _aggregate(play_row[positive], play_col[positive], w[positive], shape)
    neg_rows = np.concatenate([play_row[negative], member_vocab.indices(s.short_member[sh_keep])])
    neg_cols = np.concatenate([play_col[negative], short_cols])
    neg_w = np.concatenate([w[negative], decay(now - s.short_at[sh_keep], weighting.half_life_days)])
    neg = _aggregate(neg_rows, neg_cols, neg_w, shape)
    pos.data = diminishing(pos.data)
    neg.data = diminishing(neg.data)

    saved_rows = member_vocab.indices(s.saved_member[sv_keep])
    saved = _aggregate(saved_rows, saved_cols, np.ones(saved_rows.size), shape)
    saved.data[:] = weighting.saved_weight  # saved twice is still saved once
    in_list = _aggregate(
        member_vocab.indices(s.playlist_member[pl_keep]),
        playlist_cols,
        np.ones(int(pl_keep.sum())),
        shape,
    )
    in_list.data[:] = weighting.playlist_weight
    liked_rows = member_vocab.indices(s.liked_member[lk_keep])
    liked = _aggregate(liked_rows, liked_cols, np.ones(liked_rows.size), shape)
    liked.data[:] = weighting.liked_weight
    # Sparse sums cost a pass over every cell: skip the empty ones (most big installs have no skips kept).
    member_matrix = pos
    for part, sign in ((neg, -1.0), (saved, 1.0), (in_list, 1.0), (liked, 1.0)):
        if part.nnz:
            member_matrix = member_matrix - part if sign < 0 else member_matrix + part
    member_matrix = member_matrix.tocsr()

    blocks = [member_matrix]
    n_sessions = 0
    if weighting.sessions and n_members <= weighting.sessions_up_to_members:
        # Listening to our own published lists says nothing about which tracks belong together.
        in_session = positive & (s.play_context != CONTEXT_OWN_PUBLISHED)
        session_matrix = _session_rows(s, in_session, play_col, n_items, weighting)
        n_sessions = session_matrix.shape[0]
        blocks.append(session_matrix)
    n_playlists = 0
    if weighting.playlists and pl_keep.any():
        plist = s.playlist_id[pl_keep]
        pvocab = Vocabulary(plist)
        pm = _aggregate(
            pvocab.indices(plist),
            playlist_cols,
            np.ones(plist.size),
            (len(pvocab), n_items),
        )
        pm = _enough_items(pm, weighting)
        pm.data[:] = weighting.pseudo_weight
        n_playlists = pm.shape[0]
        blocks.append(pm)
    matrix = (
        sparse.vstack(blocks, format="csr", dtype=np.float32) if len(blocks) > 1 else member_matrix.astype(np.float32)
    )
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return Interactions(
        matrix=matrix, members=member_vocab, items=item_vocab, n_sessions=n_sessions, n_playlists=n_playlists
    )


def _enough_items(m: sparse.csr_matrix, weighting: Weighting) -> sparse.csr_matrix:
    counts = np.diff(m.indptr)
    return m[counts >= weighting.min_pseudo_items].tocsr()


def _session_rows(
    s: Signals, positive: BoolArray, play_col: IntArray, n_items: int, weighting: Weighting
) -> sparse.csr_matrix:
    """One row per listening session (plays less than the gap apart) holding its distinct tracks."""
    if not positive.any():
        return sparse.csr_matrix((0, n_items), dtype=np.float64)
    member = s.play_member[positive]
    at = s.play_at[positive]
    col = play_col[positive]
    order = np.lexsort((at, member))
    member, at, col = member[order], at[order], col[order]
    gap = weighting.session_gap_minutes * 60.0
    starts = np.ones(member.size, dtype=bool)
    starts[1:] = (member[1:] != member[:-1]) | (np.diff(at) > gap)
    session = np.cumsum(starts) - 1
    m = _aggregate(session, col, np.ones(session.size), (int(session[-1]) + 1, n_items))
    m = _enough_items(m, weighting)
    m.data[:] = weighting.pseudo_weight
    return m


def count_interactions(
    user: npt.ArrayLike, item: npt.ArrayLike, count: npt.ArrayLike, n_users: int, n_items: int
) -> sparse.csr_matrix:
    """A matrix of already-aggregated play counts (HetRec-style data), with the same diminishing returns."""
    m = _aggregate(_i64(user), _i64(item), np.asarray(count, dtype=np.float64), (n_users, n_items))
    m.data = diminishing(m.data)
    m.eliminate_zeros()
    return m.astype(np.float32).tocsr()
