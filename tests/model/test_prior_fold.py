"""Training's use of the prior: refusing a bad file with a clear status, and folding the household into it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from scipy import sparse

from recs.model import AlsParams, fit_als
from recs.usecases.prior.artifact import write_prior
from recs.usecases.prior_fold import fold_household, load_for_training

from .test_models import GROUP_ITEMS, checkerboard


def _ids(n: int) -> list[str]:
    return [f"{i:04d}".rjust(22, "A") for i in range(n)]


def _prior(tmp_path: Path) -> Path:
    """A prior over the checkerboard's 20 items (two groups of 10), as the prior build writes it."""
    m, _ = checkerboard()
    als = fit_als(m, AlsParams(factors=2, regularization=0.1, alpha=5.0, iterations=15), seed=1)
    return write_prior(
        tmp_path / "test.prior.npz",
        track_ids=_ids(m.shape[1]),
        item_factors=als.item_factors,
        listeners=np.diff(sparse.csc_matrix(m).indptr),
        listens=np.diff(sparse.csc_matrix(m).indptr) * 3,
        track_names=[f"Song {i}" for i in range(m.shape[1])],
        artist_names=[f"Band {i // GROUP_ITEMS}" for i in range(m.shape[1])],
        manifest={
            "engine": "local",
            "sources": [{"name": "listenbrainz-dump-1.tar.zst"}],
            "window": {"since": "2026-01-01T00:00:00+00:00", "until": None},
            "model": {"algorithm": "als", "factors": 2, "regularization": 0.1, "alpha": 5.0},
        },
    )


def test_a_good_prior_is_used_and_described(tmp_path: Path) -> None:
    prior, status = load_for_training(_prior(tmp_path))
    assert prior is not None and status.used and status.error is None
    assert status.tracks == 20 and status.factors == 2 and status.format_version == 1
    assert status.sources == ("listenbrainz-dump-1.tar.zst",)
    assert status.window == {"since": "2026-01-01T00:00:00+00:00", "until": None}
    assert json.loads(json.dumps(status.as_dict()))["sources"] == ["listenbrainz-dump-1.tar.zst"]


def test_missing_corrupt_and_other_version_priors_are_refused_with_a_one_line_reason(tmp_path: Path) -> None:
    prior, status = load_for_training(tmp_path / "none.prior.npz")
    assert prior is None and not status.used and status.error is not None
    assert "none.prior.npz" in status.error and "no such file" in status.error
    corrupt = tmp_path / "corrupt.prior.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    prior, status = load_for_training(corrupt)
    assert prior is None and status.error is not None and "corrupt.prior.npz" in status.error
    other = _prior(tmp_path)
    with np.load(other) as data:
        arrays = {k: data[k] for k in data.files}
    manifest = json.loads(arrays["manifest"].tobytes())
    manifest["format_version"] = 2
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(other, **arrays)  # type: ignore[arg-type]
    prior, status = load_for_training(other)
    assert prior is None and status.error is not None and "format_version 2" in status.error
    assert status.path == str(other) and status.as_dict()["used"] is False


def test_members_fold_in_on_the_prior_tracks_they_have_and_others_stay_in_the_household(tmp_path: Path) -> None:
    path = _prior(tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    prior, _ = load_for_training(path)
    assert prior is not None
    ids = _ids(20)
    # Household columns: four group-0 tracks the prior holds, then one track the prior lacks.
    household_ids = [ids[0], ids[1], ids[2], ids[3], "5c6mYlTIrcy1sV0OWb1TZk"]
    matrix = sparse.csr_matrix(np.array([[1, 1, 1, 1, 2], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]], dtype=np.float32))
    folded = fold_household(prior, household_ids, matrix, rows=2)
    cat = folded.catalogue
    assert cat.size == 5 + 16 and cat.n_household == 5
    assert folded.prior_row[:5].tolist() == [0, 1, 2, 3, -1] and sorted(folded.prior_row[5:].tolist()) == list(
        range(4, 20)
    )
    scores = folded.prior_scores([0, 1])
    # Member 0 played group-0 tracks: the prior's best unplayed tracks for them are the rest of group 0.
    unplayed = np.nonzero(folded.prior_row >= 4)[0]
    best = unplayed[np.argsort(-scores[0, unplayed])][:6]
    assert set(folded.prior_row[best].tolist()) == set(range(4, GROUP_ITEMS))
    # Member 1 played only a track the prior lacks: nothing to fold, the household model carries it.
    assert not scores[1].any()
    assert folded.folded.user_factors.shape == (2, 2)  # only the rows asked for
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
