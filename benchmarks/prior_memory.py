"""Peak memory and wall time of a nightly training that folds a family into a large synthetic prior.

A child process prepares the instance (benchmarks/training.py's family: 5 members, 200,000 plays of 20,000
tracks in SQLite) and writes a synthetic format-1 prior of `--tracks` tracks x `--factors` float16 factors
holding the family's tracks and random others; then one process per variant runs `recs.usecases.training.train`
as the nightly run does (hold-out tuning included), so each peak RSS (ru_maxrss) is that training's own:
- `no prior`: the same instance without `prior.path`;
- `prior`: with it (the hold-out chooses the weight; on this synthetic family it keeps the household's model);
- `prior, weight 0.9 forced`: with it, serving weight 0.9 whatever the hold-out chose, so the serving path runs.

    .venv/bin/python benchmarks/prior_memory.py [--tracks 1000000] [--factors 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import sparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.training import NOW, THREADS, _family_db, synthetic_plays  # noqa: E402
from recs.model import AlsParams, fit_item_factors  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prepare(folder: Path, tracks: int, factors: int, seed: int) -> dict[str, Any]:
    """The family instance under *folder* and a prior at folder/big.prior.npz (in this child process)."""
    from recs.usecases.prior.artifact import write_prior

    t = time.perf_counter()
    _settings, db, data = _family_db(folder, seed)
    db.dispose()
    setup_s = time.perf_counter() - t
    rng = np.random.default_rng(seed)
    n_household = int(data["tracks"])
    household = [f"t{k:06d}" for k in range(n_household)]
    others = [f"p{k:021d}" for k in range(tracks - n_household)]
    ids = household + others
    t = time.perf_counter()
    # The family's tracks get factors from a community of 2,000 users with the same taste clusters
    # (benchmarks/training.py synthetic_plays), so the prior has something to say; the rest are random and small.
    u, i, _at = synthetic_plays(2_000, n_household, 400_000, seed + 1)
    cells = sparse.csr_matrix((np.ones(u.size, dtype=np.float32), (u, i)), shape=(2_000, n_household), dtype=np.float32)
    cells.sum_duplicates()
    cells.data = np.log2(1.0 + cells.data)
    known, _params = fit_item_factors(cells, AlsParams(factors, 0.05, 10.0, 15), seed=seed, threads=THREADS)
    item_factors = np.empty((len(ids), factors), dtype=np.float16)
    item_factors[:n_household] = known
    item_factors[n_household:] = rng.standard_normal((len(others), factors), dtype=np.float32) * 0.05
    community_s = time.perf_counter() - t
    t = time.perf_counter()
    path = write_prior(
        folder / "big.prior.npz",
        track_ids=ids,
        item_factors=item_factors,
        listeners=rng.zipf(1.6, len(ids)).clip(1, 1_000_000),
        listens=rng.zipf(1.4, len(ids)).clip(1, 10_000_000),
        track_names=[f"Track {k}" for k in range(len(ids))],
        artist_names=[f"Artist {k // 10}" for k in range(len(ids))],
        manifest={
            "engine": "local",
            "sources": [{"name": "synthetic"}],
            "model": {"algorithm": "als", "factors": factors, "regularization": 0.05, "alpha": 10.0},
        },
    )
    return {
        **data,
        "setup_s": round(setup_s, 1),
        "community_fit_s": round(community_s, 1),
        "prior_write_s": round(time.perf_counter() - t, 1),
        "prior_bytes": path.stat().st_size,
        "prior_tracks": len(ids),
        "factors": factors,
    }


def train_once(folder: Path, with_prior: bool, force: float | None = None) -> dict[str, Any]:
    """One nightly training of the prepared instance (this process's peak RSS is the training's).

    *force* serves that prior weight (guard 0.25) whatever the hold-out chose, after the hold-out's own choice
    has run: the synthetic family's own model beats any prior on its hold-out, and the serving path (the
    members folded in on all their signals, the prior's candidates stored as tracks) must be measured too.
    """
    from recs.core.config import load_settings
    from recs.storage import Database
    from recs.usecases import training
    from recs.usecases.discovery import BlendChoice

    if force is not None:
        real = training.__dict__["choose_blend"]

        def forced(*args: Any, **kwargs: Any) -> BlendChoice:
            chosen = real(*args, **kwargs)
            return BlendChoice(force, 0.25, chosen.metrics, f"forced by the benchmark (chose {chosen.name})")

        training.__dict__["choose_blend"] = forced

    env = {"RECS_INSTANCE__DATA_DIR": str(folder)}
    if with_prior:
        env["RECS_PRIOR__PATH"] = str(folder / "big.prior.npz")
    settings = load_settings(None, env)
    settings = replace(settings, training=replace(settings.training, threads=THREADS))
    db = Database(settings.database_url)
    before = rss_mib()
    t = time.perf_counter()
    summary = training.train(SimpleNamespace(settings=settings, db=db), now=NOW)
    wall = time.perf_counter() - t
    db.dispose()
    prior = summary.params.get("prior") or {}
    return {
        "variant": ("prior" if with_prior else "no prior")
        + (f", weight {force:g} forced" if force is not None else ""),
        "wall_s": round(wall, 1),
        "timings": summary.timings,
        "rss_before_mib": round(before),
        "peak_mib": round(peak_mib()),
        "prior_weight": prior.get("weight"),
        "prior_error": prior.get("error"),
        "open_recommendations": prior.get("open_recommendations"),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memory of a nightly training with a large prior")
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--prepare", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--train", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--with-prior", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--force", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare(Path(args.prepare), args.tracks, args.factors, args.seed)))
        return 0
    if args.train:
        print(json.dumps(train_once(Path(args.train), args.with_prior, args.force)))
        return 0

    def child(*extra: str) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=True)
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    with tempfile.TemporaryDirectory() as tmp:
        seed = ["--seed", str(args.seed)]
        data = child("--prepare", tmp, "--tracks", str(args.tracks), "--factors", str(args.factors), *seed)
        runs = [
            child("--train", tmp, *seed),
            child("--train", tmp, "--with-prior", *seed),
            child("--train", tmp, "--with-prior", "--force", "0.9", *seed),
        ]
    out = {"data": data, "runs": runs}
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
