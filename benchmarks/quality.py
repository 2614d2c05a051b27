"""Offline quality on HetRec 2011 Last.fm 2K with recs' own weighting, tuning and models, beside baselines.

Protocol (issue 6): every user with at least 5 artists has 20% of their artists held out at random
(seeded) as the test set; hyper-parameters are tuned only on a validation split carved the same way
out of the training part; each user's ranking covers all artists except their training artists.
Reported: Precision@10, Recall@20 (hits / min(20, |test|)), NDCG@10 (binary gains, ideal over
min(10, |test|)), MAP@10 and catalogue coverage@10, for recs (recs.model.selection.select_model: the ALS grid,
item-kNN, popularity, EASE and blends, chosen on validation, refitted on the whole training part; EASE's
catalogue cap raised from the nightly 2,500 to 6,000 items) and
for baselines run here: most popular, item-kNN cosine (tuned), implicit ALS with default parameters
on raw counts, implicit ALS tuned on the same grid, EASE (lambda tuned).

    .venv/bin/python benchmarks/quality.py --hetrec ../shared/data/hetrec2011-lastfm-2k [--seed 42] [--json]

The data is read from the given folder (user_artists.dat); nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recs import metrics as M  # noqa: E402
from recs.interactions import count_interactions  # noqa: E402
from recs.model import AlsParams, Model, fit_als, recommend_top  # noqa: E402
from recs.model.selection import fit_spec, select_model  # noqa: E402

IntArray = npt.NDArray[np.int64]
REPORTED = ("precision@10", "recall@20", "ndcg@10", "map@10", "coverage@10")
# implicit's own defaults, on raw play counts: the untuned reference point.
ALS_DEFAULTS = AlsParams(factors=100, regularization=0.01, alpha=1.0, iterations=15)


@dataclass
class Data:
    users: IntArray  # contiguous user index
    items: IntArray  # contiguous artist index
    counts: npt.NDArray[np.float64]
    n_users: int
    n_items: int


def load_hetrec(folder: Path) -> Data:
    """user_artists.dat (userID, artistID, weight) with ids mapped to contiguous indices."""
    path = Path(folder) / "user_artists.dat"
    if not path.exists():
        raise SystemExit(f"{path} not found: --hetrec must name the hetrec2011-lastfm-2k folder")
    raw = np.loadtxt(path, skiprows=1, dtype=np.int64, ndmin=2)
    if raw.shape[1] != 3:
        raise SystemExit(f"{path}: expected 3 tab-separated columns (userID, artistID, weight)")
    user_ids, users = np.unique(raw[:, 0], return_inverse=True)
    item_ids, items = np.unique(raw[:, 1], return_inverse=True)
    return Data(
        users.astype(np.int64), items.astype(np.int64), raw[:, 2].astype(np.float64), user_ids.size, item_ids.size
    )


def holdout(users: IntArray, rng: np.random.Generator, frac: float = 0.2, min_items: int = 5) -> npt.NDArray[np.bool_]:
    """Mask of rows held out: for each user with >= min_items rows, round(frac * n) of them at random."""
    held = np.zeros(users.size, dtype=bool)
    order = np.argsort(users, kind="stable")
    bounds = np.r_[0, np.nonzero(np.diff(users[order]))[0] + 1, users.size]
    for s, e in itertools.pairwise(bounds):
        n = int(e - s)
        if n >= min_items:
            pick = rng.choice(n, size=round(frac * n), replace=False)
            held[order[s + pick]] = True
    return held


def relevant_sets(users: IntArray, items: IntArray) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        out.setdefault(u, set()).add(i)
    return out


def score_model(
    model: Model, train: sparse.csr_matrix, relevant: dict[int, set[int]], batch: int = 512
) -> dict[str, float]:
    rows = np.array(sorted(relevant), dtype=np.int64)
    ranked: dict[int, list[int]] = {}
    for start in range(0, rows.size, batch):
        part = rows[start : start + batch]
        tops = recommend_top(model, part, train, 20, train[part], threads=2)
        ranked.update({int(r): [i for i in t.tolist() if i >= 0] for r, t in zip(part, tops, strict=True)})
    out = M.mean_metrics(ranked, relevant, n_items=train.shape[1])
    return {k: round(out[k], 4) for k in REPORTED}


def run(folder: Path, seed: int, budget_s: float = 900.0, log: Any = None) -> dict[str, Any]:
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    d = load_hetrec(folder)
    rng = np.random.default_rng(seed)
    test = holdout(d.users, rng)
    tr_u, tr_i, tr_c = d.users[~test], d.items[~test], d.counts[~test]
    val = holdout(tr_u, rng)
    fit_m = count_interactions(tr_u[~val], tr_i[~val], tr_c[~val], d.n_users, d.n_items)
    train_m = count_interactions(tr_u, tr_i, tr_c, d.n_users, d.n_items)
    val_rel = relevant_sets(tr_u[val], tr_i[val])
    test_rel = relevant_sets(d.users[test], d.items[test])
    say(
        f"data: {d.n_users} users, {d.n_items} artists, {d.users.size} pairs; test {int(test.sum())}, validation {int(val.sum())}"
    )

    t = time.perf_counter()
    sel = select_model(
        fit_m,
        np.array(sorted(val_rel), dtype=np.int64),
        val_rel,
        seed=seed,
        threads=2,
        budget_s=budget_s,
        # The nightly default (2,500) is sized for a 20 s budget; here EASE's 5,957 items fit the minutes allowed.
        ease_max_items=6000,
    )
    tuning_s = time.perf_counter() - t
    say(f"tuning on validation: {len(sel.metrics)} candidates in {tuning_s:.0f} s; chosen {sel.chosen.name}")

    def best(prefix: str) -> str:
        names = [n for n in sel.metrics if n.startswith(prefix)]
        return max(names, key=lambda n: sel.metrics[n]["ndcg@10"])

    def spec_of(name: str) -> dict[str, Any]:
        if name == sel.chosen.name:
            return sel.chosen.spec
        return _spec_by_name(sel, name)

    cache: dict[str, Model] = {}

    def fitted(spec: dict[str, Any]) -> Model:
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            if spec["kind"] == "blend":
                parts = [(fitted(p["spec"]), float(p["weight"])) for p in spec["parts"]]
                from recs.model import BlendModel

                cache[key] = BlendModel(parts)
            else:
                cache[key] = fit_spec(spec, train_m, seed=seed, threads=2)
        return cache[key]

    t = time.perf_counter()
    results: dict[str, dict[str, float]] = {}
    results["recs"] = score_model(fitted(sel.chosen.spec), train_m, test_rel)
    named = {
        "most_popular": "popular",
        "itemknn_cosine": best("itemknn"),
        "als_tuned": best("als"),
    }
    if any(n.startswith("ease") for n in sel.metrics):
        named["ease"] = best("ease")
    for label, name in named.items():
        results[label] = score_model(fitted(spec_of(name)), train_m, test_rel)
    raw = sparse.csr_matrix((d.counts[~test], (tr_u, tr_i)), shape=(d.n_users, d.n_items), dtype=np.float32)
    raw.sum_duplicates()
    results["als_default"] = score_model(fit_als(raw, ALS_DEFAULTS, seed=seed, threads=2), raw, test_rel)
    final_s = time.perf_counter() - t
    chosen_params = {label: name for label, name in named.items()}
    say(f"final fits and test scoring in {final_s:.0f} s; total {time.perf_counter() - t0:.0f} s")
    return {
        "recs": results.pop("recs"),
        "baselines": results,
        "seed": seed,
        "_chosen": sel.chosen.name,
        "_baseline_params": chosen_params,
        "_timings": {
            "tuning_s": round(tuning_s, 1),
            "final_s": round(final_s, 1),
            "total_s": round(time.perf_counter() - t0, 1),
        },
        "_validation_ndcg": {n: round(m["ndcg@10"], 4) for n, m in sel.metrics.items()},
    }


def _spec_by_name(sel: Any, name: str) -> dict[str, Any]:
    """Rebuild a candidate's spec from its name (select_model keeps specs only for the winner)."""
    from recs.model.selection import als_spec, knn_spec

    if name == "popular":
        return {"kind": "popular"}
    if name.startswith("itemknn k"):
        return knn_spec(int(name.removeprefix("itemknn k")))
    if name.startswith("ease l"):
        return {"kind": "ease", "params": {"lambda": float(name.removeprefix("ease l"))}}
    if name.startswith("als "):
        f, r, a = (p[1:] for p in name.removeprefix("als ").split())
        return als_spec(AlsParams(int(f), float(r), float(a), 15))
    raise ValueError(f"cannot rebuild {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hetrec", required=True, type=Path, help="folder holding user_artists.dat")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object on a single line")
    parser.add_argument(
        "--budget", type=float, default=900.0, help="tuning budget in seconds (default: the whole grid)"
    )
    args = parser.parse_args(argv)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    out = run(args.hetrec, args.seed, args.budget, log=log)
    if args.json:
        print(json.dumps({"recs": out["recs"], "baselines": out["baselines"], "seed": out["seed"]}))
        return 0
    print(f"\nseed {out['seed']}; recs chose {out['_chosen']}; baselines tuned to {out['_baseline_params']}")
    print(f"{'model':<16}" + "".join(f"{k:>14}" for k in REPORTED))
    for name, values in [("recs", out["recs"]), *out["baselines"].items()]:
        print(f"{name:<16}" + "".join(f"{values[k]:>14.4f}" for k in REPORTED))
    print(f"timings: {out['_timings']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
