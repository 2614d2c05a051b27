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

`--protocol household` (issue 13) holds out households of 1, 3 and 5 users instead; see `run_household`.

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

from recs.core import metrics as M  # noqa: E402
from recs.core.interactions import count_interactions  # noqa: E402
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


# The prior's ALS: the best of the grid on this data set (the protocol above), fitted on everyone else.
PRIOR_ALS = AlsParams(factors=256, regularization=100.0, alpha=4.0, iterations=15)
HOUSEHOLD_SIZES = (1, 3, 5)
HOUSEHOLD_METHODS = ("household_only", "prior_foldin", "chosen_blend", "prior_popular")


def _prior_track_ids(items: IntArray) -> npt.NDArray[np.str_]:
    """Stand-in Spotify ids for artist indices (22 characters, sorted as the indices are)."""
    return np.array([f"{i:022d}" for i in items.tolist()], dtype="<U22")


def build_prior(matrix: sparse.csr_matrix, seed: int, folder: Path) -> tuple[IntArray, Any]:
    """Fit the prior on *matrix* (other users' training part), write it as a format-1 artifact, load it back.

    Returns the artist index of each prior row and the loaded `Prior` (float16 factors, as training sees them).
    """
    from recs.usecases.prior.artifact import load_prior, write_prior

    listeners = np.diff(sparse.csc_matrix(matrix > 0).indptr)
    items = np.nonzero(listeners)[0].astype(np.int64)
    sub = sparse.csr_matrix(matrix[:, items])
    model = fit_als(sub, PRIOR_ALS, seed=seed, threads=2)
    listens = np.asarray(sub.sum(axis=0)).ravel()
    path = write_prior(
        folder / "hetrec.prior.npz",
        track_ids=_prior_track_ids(items),
        item_factors=model.item_factors,
        listeners=listeners[items],
        listens=np.round(listens).astype(np.int64),
        track_names=[""] * items.size,
        artist_names=[""] * items.size,
        manifest={
            "engine": "benchmark",
            "sources": [{"name": "hetrec2011-lastfm-2k user_artists.dat", "kind": "dat"}],
            "model": {**model.params.as_dict(), "seed": seed},
        },
    )
    return items, load_prior(path)


def draw_households(eligible: IntArray, rng: np.random.Generator, users_per_size: int) -> dict[int, list[IntArray]]:
    """Disjoint households of each size, about *users_per_size* users per size, drawn at random."""
    order = rng.permutation(eligible)
    out: dict[int, list[IntArray]] = {}
    at = 0
    for size in HOUSEHOLD_SIZES:
        count = -(-users_per_size // size)
        if at + count * size > order.size:
            raise SystemExit(f"not enough users for {users_per_size} per household size")
        out[size] = [np.sort(order[at + i * size : at + (i + 1) * size]) for i in range(count)]
        at += count * size
    return out


def _household_matrix(
    users: IntArray, items: IntArray, counts: npt.NDArray[np.float64], members: IntArray
) -> tuple[sparse.csr_matrix, IntArray]:
    """The household's own matrix (members x their items, recs' weighting) and the artist of each column."""
    keep = np.isin(users, members)
    vocab = np.unique(items[keep])
    rows = np.searchsorted(members, users[keep])
    cols = np.searchsorted(vocab, items[keep])
    return count_interactions(rows, cols, counts[keep], members.size, vocab.size), vocab


def _union_positions(cat: Any, vocab: IntArray, prior_items: IntArray) -> dict[int, int]:
    """Artist index -> union position."""
    out = {int(a): int(p) for a, p in zip(prior_items.tolist(), cat.prior.tolist(), strict=True)}
    out.update({int(a): i for i, a in enumerate(vocab.tolist())})
    return out


def household_stage(
    d: Data,
    users: IntArray,
    items: IntArray,
    counts: npt.NDArray[np.float64],
    members: IntArray,
    prior: Any,
    prior_items: IntArray,
    *,
    seed: int,
    spec: dict[str, Any] | None,
    held_users: IntArray | None = None,
    held_items: IntArray | None = None,
) -> dict[str, Any]:
    """One household, one stage: the household model (selected when *spec* is None) and the prior over the union.

    Returns the catalogue, the union scores of both sides, what to exclude, the relevant union positions of
    the held-out pairs given, and the chosen household spec.
    """
    from recs.model import fold_in
    from recs.usecases.discovery import spread, union_catalogue

    matrix, vocab = _household_matrix(users, items, counts, members)
    in_household = np.searchsorted(vocab, prior_items)
    in_household = np.where(
        (in_household < vocab.size) & (vocab[np.minimum(in_household, vocab.size - 1)] == prior_items), in_household, -1
    )
    cat = union_catalogue(vocab.size, in_household, prior.listeners)
    where = _union_positions(cat, vocab, prior_items)
    relevant: dict[int, set[int]] = {}
    if held_users is not None and held_items is not None:
        # Artists neither side holds get distinct negative positions below the union: never hit.
        unknown = itertools.count(cat.size + 1)
        ours = np.isin(held_users, members)
        for u, i in zip(held_users[ours].tolist(), held_items[ours].tolist(), strict=True):
            row = int(np.searchsorted(members, u))
            relevant.setdefault(row, set()).add(where.get(int(i), -next(unknown)))
    chosen = spec
    if chosen is None:
        rows = np.array(sorted(relevant), dtype=np.int64)
        sel = select_model(matrix, rows, _vocab_relevant(relevant, vocab.size), seed=seed, threads=2, budget_s=20.0)
        chosen = sel.chosen.spec
    model = fit_spec(chosen, matrix, seed=seed, threads=2)
    household = spread(model.scores(np.arange(members.size), matrix), cat.household, cat.size)
    # Each member's signals on the prior's tracks: the same weighting, the prior's columns.
    pos_in_prior = np.searchsorted(prior_items, items)
    on_prior = (pos_in_prior < prior_items.size) & (
        prior_items[np.minimum(pos_in_prior, prior_items.size - 1)] == items
    )
    keep = np.isin(users, members) & on_prior
    signals = count_interactions(
        np.searchsorted(members, users[keep]), pos_in_prior[keep], counts[keep], members.size, prior_items.size
    )
    folded = fold_in(prior.factors32(), signals, regularization=prior.regularization, alpha=prior.alpha, threads=2)
    prior_scores = spread(folded.scores(np.arange(members.size)), cat.prior, cat.size)
    exclude = sparse.csr_matrix(
        (np.ones(matrix.nnz, dtype=np.float32), matrix.indices, matrix.indptr), shape=(members.size, cat.size)
    )
    return {
        "catalogue": cat,
        "household": household,
        "prior": prior_scores,
        "exclude": exclude,
        "relevant": relevant,
        "spec": chosen,
        "artist_of": np.concatenate([vocab, prior_items[cat.prior >= vocab.size]])[
            np.argsort(np.concatenate([np.arange(vocab.size), cat.prior[cat.prior >= vocab.size]]))
        ],
    }


def _vocab_relevant(relevant: dict[int, set[int]], n_household: int) -> dict[int, set[int]]:
    """Relevant union positions as household item indices (tracks the household lacks: negative, never hit)."""
    return {r: {i if 0 <= i < n_household else min(i, -1 - i) for i in s} for r, s in relevant.items()}


# The finer grid the --dump records per household (hold-out and test), to study the selection rule offline.
DUMP_WEIGHTS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
DUMP_GUARDS = (0.0, 0.25, 0.5, 0.75)


def _per_member(
    cat: Any, fit: dict[str, Any], relevant: dict[int, set[int]], members: int
) -> dict[str, dict[str, list[float]]]:
    """Per member row, NDCG@10 and recall@50 of every (weight, guard) of the dump grid, *relevant* by row."""
    from recs.usecases.discovery import EVAL_DEPTH, blend_scores, candidate_name, ranked_lists

    out: dict[str, dict[str, list[float]]] = {}
    for w in DUMP_WEIGHTS:
        for g in DUMP_GUARDS if w > 0 else (0.0,):
            lists = ranked_lists(blend_scores(cat, fit["household"], fit["prior"], w, g), fit["exclude"], EVAL_DEPTH)
            rel = [relevant.get(r, set()) for r in range(members)]
            out[candidate_name(w, g)] = {
                "ndcg@10": [round(M.ndcg_at_k(lists.get(r, []), rel[r], 10), 5) for r in range(members)],
                "recall@50": [
                    round(len(set(lists.get(r, [])[:50]) & rel[r]) / min(50, len(rel[r])), 5) if rel[r] else 0.0
                    for r in range(members)
                ],
            }
    return out


def run_household(
    folder: Path,
    seed: int,
    users_per_size: int = 100,
    log: Any = None,
    sizes: tuple[int, ...] = (1, 3, 5),
    dump: Path | None = None,
) -> dict[str, Any]:
    """Issue 13's protocol: held-out households against a prior trained on everyone else.

    The 20% per-user test split is the protocol above's (same seed, same draw). Households of 1, 3 and 5
    users are drawn (seeded) among users with test pairs. The prior is ALS (PRIOR_ALS) on every other
    user's training part, over the artists they play, written and read back as a format-1 prior artifact
    (float16 factors). For each household, as the nightly run does: a hold-out carved out of the members'
    training part (20% per user, seeded) selects the household model (recs' select_model) and then the
    prior weight and popularity guard (recs.usecases.discovery.choose_blend); the chosen ones are refitted on the
    whole training part and scored on the test part. Reported per size: household-only, prior + fold-in
    (weight 1, no guard), the chosen blend, and popular-from-the-prior (listeners), each ranking the union
    of the household's artists and the prior's minus the member's training artists.
    """
    import tempfile

    from recs.usecases.discovery import GUARDS, PRIOR_WEIGHTS, blend_scores, candidate_name, choose_blend, ranked_lists

    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    d = load_hetrec(folder)
    rng = np.random.default_rng(seed)
    test = holdout(d.users, rng)
    eligible = np.unique(d.users[test])
    households = draw_households(eligible, rng, users_per_size)
    held = np.concatenate([m for hs in households.values() for m in hs])
    is_held = np.isin(d.users, held)
    tr = ~test
    others = tr & ~is_held
    prior_matrix = count_interactions(d.users[others], d.items[others], d.counts[others], d.n_users, d.n_items)
    with tempfile.TemporaryDirectory() as tmp:
        prior_items, prior = build_prior(prior_matrix, seed, Path(tmp))
    say(
        f"data: {d.n_users} users, {d.n_items} artists; held out {held.size} users in "
        + ", ".join(f"{len(h)} households of {s}" for s, h in households.items())
        + f"; prior: {prior.n_tracks} artists from {int((np.diff(prior_matrix.indptr) > 0).sum())} users"
        + f" in {time.perf_counter() - t0:.0f} s"
    )
    # The members' training part, and a hold-out carved out of it (as the nightly run's temporal one).
    mine = tr & is_held
    h_u, h_i, h_c = d.users[mine], d.items[mine], d.counts[mine]
    val = holdout(h_u, rng)
    results: dict[str, Any] = {}
    chosen_blends: dict[str, dict[str, int]] = {}
    fixed: dict[str, dict[str, float]] = {}
    dumped: list[dict[str, Any]] = []
    for size, hs in households.items():
        if size not in sizes:
            continue
        ranked: dict[str, dict[int, list[int]]] = {m: {} for m in HOUSEHOLD_METHODS}
        relevant: dict[int, set[int]] = {}
        picks: dict[str, int] = {}
        for members in hs:
            fit = household_stage(
                d, h_u[~val], h_i[~val], h_c[~val], members, prior, prior_items,
                seed=seed, spec=None, held_users=h_u[val], held_items=h_i[val],
            )  # fmt: skip
            choice = choose_blend(fit["catalogue"], fit["household"], fit["prior"], fit["exclude"], fit["relevant"])
            picks[choice.name] = picks.get(choice.name, 0) + 1
            full = household_stage(d, h_u, h_i, h_c, members, prior, prior_items, seed=seed, spec=fit["spec"])
            cat, artist_of = full["catalogue"], full["artist_of"]
            pop = np.full((members.size, cat.size), -np.inf, dtype=np.float32)
            pop[:, cat.prior] = prior.listeners.astype(np.float32)
            scores = {
                "household_only": blend_scores(cat, full["household"], full["prior"], 0.0, 0.0),
                "prior_foldin": blend_scores(cat, full["household"], full["prior"], 1.0, 0.0),
                "chosen_blend": blend_scores(cat, full["household"], full["prior"], choice.weight, choice.guard),
                "prior_popular": pop,
            }
            for w in PRIOR_WEIGHTS[1:-1]:  # what each fixed blend would reach on the test (not a choice)
                for g in GUARDS:
                    scores[candidate_name(w, g)] = blend_scores(cat, full["household"], full["prior"], w, g)
            for method, s in scores.items():
                lists = ranked_lists(s, full["exclude"], 20)
                ranked.setdefault(method, {})
                for r, u in enumerate(members.tolist()):
                    ranked[method][u] = artist_of[lists[r]].tolist() if lists[r] else []
            for u in members.tolist():
                relevant[u] = set(d.items[test & (d.users == u)].tolist())
            if dump is not None:
                # The test's relevant artists as union positions (those neither side holds: never hit).
                where = _union_positions(cat, *_household_matrix(h_u, h_i, h_c, members)[1:], prior_items)
                test_rel = {
                    r: {where.get(a, -1 - k) for k, a in enumerate(sorted(relevant[u]))}
                    for r, u in enumerate(members.tolist())
                }
                dumped.append(
                    {
                        "size": size,
                        "members": members.tolist(),
                        "chosen": choice.name,
                        "holdout": _per_member(fit["catalogue"], fit, fit["relevant"], members.size),
                        "test": _per_member(cat, full, test_rel, members.size),
                    }
                )
        results[str(size)] = {
            m: {
                k: round(v, 4)
                for k, v in M.mean_metrics(ranked[m], relevant, n_items=d.n_items).items()
                if k in REPORTED
            }
            for m in HOUSEHOLD_METHODS
        }
        fixed[str(size)] = {
            m: round(M.mean_metrics(ranked[m], relevant, n_items=d.n_items)["ndcg@10"], 4)
            for m in ranked
            if m not in HOUSEHOLD_METHODS
        }
        chosen_blends[str(size)] = dict(sorted(picks.items(), key=lambda kv: -kv[1]))
        say(
            f"households of {size}: {results[str(size)]['chosen_blend']['ndcg@10']} NDCG@10 chosen blend; picks {picks}"
        )
    if dump is not None:
        dump.write_text(json.dumps({"seed": seed, "households": dumped}))
    return {
        "protocol": "household",
        "seed": seed,
        "households": {str(s): len(h) for s, h in households.items()},
        "users": int(held.size),
        "results": results,
        "chosen_blends": chosen_blends,
        "_fixed_blends_ndcg@10": fixed,
        "_timings": {"total_s": round(time.perf_counter() - t0, 1)},
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
    parser.add_argument(
        "--protocol",
        choices=("users", "household"),
        default="users",
        help="users: 20%% of every user held out (issue 6); household: held-out households against a prior (issue 13)",
    )
    parser.add_argument(
        "--household-users", type=int, default=100, help="household protocol: users per household size (default 100)"
    )
    parser.add_argument(
        "--sizes", default="1,3,5", help="household protocol: the household sizes to run (default 1,3,5; same draw)"
    )
    parser.add_argument(
        "--dump",
        type=Path,
        default=None,
        help="household protocol: write per-member hold-out and test metrics of a finer blend grid to this JSON file",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on a single line")
    parser.add_argument(
        "--budget", type=float, default=900.0, help="tuning budget in seconds (default: the whole grid)"
    )
    args = parser.parse_args(argv)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    if args.protocol == "household":
        sizes = tuple(int(x) for x in args.sizes.split(","))
        out_h = run_household(args.hetrec, args.seed, args.household_users, log=log, sizes=sizes, dump=args.dump)
        return _print_household(out_h, args.json)
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


def _print_household(out: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps({k: v for k, v in out.items() if not k.startswith("_")}))
        return 0
    print(f"\nseed {out['seed']}; {out['users']} held-out users in households {out['households']}")
    keys = ("ndcg@10", "recall@20", "coverage@10")
    for size, by_method in out["results"].items():
        print(f"households of {size} (chosen: {out['chosen_blends'][size]})")
        print(f"  {'method':<16}" + "".join(f"{k:>14}" for k in keys))
        for method, values in by_method.items():
            print(f"  {method:<16}" + "".join(f"{values[k]:>14.4f}" for k in keys))
        print(f"  fixed blends, NDCG@10 on the test (not chosen): {out['_fixed_blends_ndcg@10'][size]}")
    print(f"timings: {out['_timings']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
