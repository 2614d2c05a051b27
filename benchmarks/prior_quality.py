"""Quality of a prior on the emulated household: the local and the Spark engine on one emulator dump, NDCG@10.

The protocol (the household protocol of benchmarks/quality.py, on the emulator instead of HetRec): the
emulator writes a ListenBrainz community over its catalogue whose listeners share the household's taste
clusters (recs/emulator/listenbrainz.py); each engine builds a prior from the same dump; each member's
plays of 30 s or more, not skipped, on the prior's tracks are weighted log2(1 + min(count, 20)); 20 % of
each member's distinct tracks (members with 5 or more) are held out at random; the rest is folded into
the prior (recs.model.fold_in, the prior's own regularization and alpha) and the member's top 10 of the
prior's tracks, their training tracks left out, is scored with NDCG@10 against the held-out ones.
A prior's quality depends on its seed about as much as on its engine on data this small, so each
engine is run with several seeds and the means are compared.

    python benchmarks/prior_quality.py [--members 50] [--users 800] [--seeds 3] [--engines local,spark]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recs.core import metrics as M  # noqa: E402
from recs.emulator.state import Emulator  # noqa: E402
from recs.model.foldin import fold_in  # noqa: E402
from recs.usecases.prior.artifact import Prior  # noqa: E402

K = 10


def household_ndcg(prior: Prior, emulator: Emulator, *, seed: int = 0, frac: float = 0.2) -> float:
    """Mean NDCG@10 of the household's members folded into *prior* (the protocol in the module docstring)."""
    position = {t: i for i, t in enumerate(prior.track_ids.tolist())}
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    relevant: dict[int, set[int]] = {}
    members = sorted(emulator.household.plays)
    for r, user_id in enumerate(members):
        counts: dict[str, int] = {}
        for p in emulator.household.plays_until(user_id, emulator.now_ms):
            if p.ms_played >= 30_000 and not p.skipped and p.track_id in position:
                counts[p.track_id] = counts.get(p.track_id, 0) + 1
        tracks = sorted(counts)
        held: set[int] = set()
        if len(tracks) >= 5:
            held = set(rng.choice(len(tracks), size=round(frac * len(tracks)), replace=False).tolist())
        relevant[r] = {position[tracks[i]] for i in held}
        for i, t in enumerate(tracks):
            if i not in held:
                rows.append(r)
                cols.append(position[t])
                vals.append(float(np.log2(1 + min(counts[t], 20))))
    factors = prior.factors32()
    train = sparse.csr_matrix((vals, (rows, cols)), shape=(len(members), factors.shape[0]), dtype=np.float32)
    folded = fold_in(factors, train, regularization=prior.regularization, alpha=prior.alpha)
    scores = folded.user_factors @ factors.T
    results = []
    for r in range(len(members)):
        if not relevant[r]:
            continue
        s = scores[r].copy()
        s[train[r].indices] = -np.inf
        top = np.argsort(-s, kind="stable")[:K].tolist()
        results.append(M.ndcg_at_k(top, relevant[r], K))
    return float(np.mean(results)) if results else 0.0


def run(
    members: int,
    users: int,
    seeds: int,
    engines: list[str],
    work: Path,
    master: str,
    regularization: float = 1.0,
    solver: str = "exact",
) -> dict[str, Any]:
    from recs.emulator.listenbrainz import write_community_dumps
    from recs.usecases.prior.artifact import load_prior
    from recs.usecases.prior.build import BuildOptions, build_prior

    dumps = write_community_dumps(work / "mirror", seed=0, members=members, users=users)
    emulator = Emulator(0, members)
    paths = [f.path for f in dumps.files]
    out: dict[str, Any] = {
        "members": members,
        "community_users": users,
        "lines": sum(f.lines for f in dumps.files),
        "regularization": regularization,
        "local_solver": solver,
    }
    for engine in engines:
        scores = []
        seconds = []
        for s in range(seeds):
            options = BuildOptions(
                factors=16, iterations=20, regularization=regularization, seed=42 + s, processes=2, solver=solver
            )
            started = time.perf_counter()
            if engine == "spark":
                from recs.usecases.prior.spark import build_prior_spark

                summary = build_prior_spark(paths, work / f"{engine}{s}.prior.npz", options, master=master)
            else:
                summary = build_prior(paths, work / f"{engine}{s}.prior.npz", options)
            seconds.append(time.perf_counter() - started)
            scores.append(household_ndcg(load_prior(summary.path), emulator))
        out[engine] = {
            "ndcg@10": [round(x, 4) for x in scores],
            "mean": round(statistics.fmean(scores), 4),
            "seconds": [round(x, 1) for x in seconds],
            "tracks": summary.manifest["counts"]["tracks"],
        }
    if "local" in out and "spark" in out:
        out["spark_minus_local"] = round(out["spark"]["mean"] - out["local"]["mean"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--users", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--engines", default="local,spark")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--regularization", type=float, default=1.0)
    parser.add_argument("--solver", default="exact", help="the local engine's: exact or cg")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prior-quality-"))
    try:
        print(
            json.dumps(
                run(
                    args.members,
                    args.users,
                    args.seeds,
                    args.engines.split(","),
                    work,
                    args.master,
                    args.regularization,
                    args.solver,
                ),
                indent=2,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
