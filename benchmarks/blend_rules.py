"""How blend-selection rules would have done: replays them on `benchmarks/quality.py --protocol household --dump` files.

Each dump holds, per held-out household, every member's hold-out and test NDCG@10 and recall@50 for each
(weight, guard) of a fine grid (`DUMP_WEIGHTS` x `DUMP_GUARDS`). A rule sees only the hold-out and picks one
candidate per household; its figure is the test NDCG@10 of its picks, averaged over members, as the household
protocol reports. Fixed candidates are shown for reference (they are not rules: nobody knows them in advance).

    .venv/bin/python benchmarks/blend_rules.py DUMP.json [DUMP.json ...]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Household = dict[str, Any]
Rule = Callable[[Household], str]
W6 = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)  # recs.usecases.discovery.PRIOR_WEIGHTS
G3 = (0.0, 0.25, 0.5)  # GUARDS
WF = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
G4 = (0.0, 0.25, 0.5, 0.75)
PARTS = ("household", "prior w1 g0")


def wg(name: str) -> tuple[float, float]:
    if name == "household":
        return 0.0, 0.0
    w, g = name.removeprefix("prior ").split()
    return float(w[1:]), float(g[1:])


def _se(d: np.ndarray[Any, Any]) -> float:
    return float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("inf")


def rule(
    weights: Sequence[float],
    guards: Sequence[float],
    *,
    metric: str = "ndcg@10",
    k_se: float | None = 1.0,
    default: str = "pure",
) -> Rule:
    """Best *metric* on the hold-out over the grid; a challenger must beat the default by k_se standard errors.

    default "pure": only a blend (0 < w < 1) is challenged, against the best pure candidate (recs' rule);
    "parts": everything but the better of the two parts (household-only, prior w1 g0; by recall@50) is
    challenged, and must not lose recall@50 either.
    """

    def pick(h: Household) -> str:
        ho = h["holdout"]
        names: list[str] = [str(n) for n in ho if wg(n)[0] in weights and (wg(n)[0] == 0 or wg(n)[1] in guards)]

        def key(n: str) -> tuple[float, float, float, float]:
            return (round(float(np.mean(ho[n][metric])), 6), round(float(np.mean(ho[n]["recall@50"])), 6),
                    -wg(n)[0], -wg(n)[1])  # fmt: skip

        win = max(names, key=key)
        if k_se is None:
            return win
        if default == "pure":
            base = max((n for n in names if wg(n)[0] in (0.0, 1.0)), key=key)
            if not 0 < wg(win)[0] < 1:
                return win
        else:
            base = max(PARTS, key=lambda n: (float(np.mean(ho[n]["recall@50"])), float(np.mean(ho[n]["ndcg@10"]))))
            if win == base:
                return win
        d = np.array(ho[win][metric]) - np.array(ho[base][metric])
        recall_ok = default == "pure" or bool(np.mean(ho[win]["recall@50"]) >= np.mean(ho[base]["recall@50"]))
        return win if bool(d.mean() > k_se * _se(d)) and recall_ok else base

    return pick


RULES: dict[str, Rule] = {
    "recs' rule (6 weights x 3 guards, NDCG@10, blend needs 1 SE)": rule(W6, G3),
    "  the same, no SE": rule(W6, G3, k_se=None),
    "  the same, 2 SE": rule(W6, G3, k_se=2.0),
    "  fine grid (15 x 4), 1 SE": rule(WF, G4),
    "  fine grid, no SE": rule(WF, G4, k_se=None),
    "  near 1 only (0, 0.8..1), 1 SE": rule((0.0, 0.8, 0.85, 0.9, 0.95, 1.0), G3),
    "  judged by recall@50, 1 SE": rule(W6, G3, metric="recall@50"),
    "  fine grid by recall@50, 1 SE": rule(WF, G4, metric="recall@50"),
    "better part (by recall@50) unless beaten by 1 SE": rule(W6, G3, default="parts"),
    "  the same, 2 SE ": rule(W6, G3, default="parts", k_se=2.0),
    "  the same, fine grid": rule(WF, G4, default="parts"),
}


def _fixed(name: str) -> Rule:
    return lambda _h: name


def agreement(households: list[Household], metric: str) -> float:
    """Mean over households of the Spearman correlation, across the grid, of a hold-out metric with test NDCG@10."""
    from scipy.stats import spearmanr

    out = []
    for h in households:
        names = list(h["holdout"])
        a = [float(np.mean(h["holdout"][n][metric])) for n in names]
        b = [float(np.mean(h["test"][n]["ndcg@10"])) for n in names]
        if np.std(a) > 0 and np.std(b) > 0:
            out.append(float(spearmanr(a, b).statistic))
    return float(np.mean(out))


def test_ndcg(households: list[Household], pick: Rule) -> float:
    return float(np.mean([v for h in households for v in h["test"][pick(h)]["ndcg@10"]]))


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        raise SystemExit(__doc__)
    dumps = [json.loads(p.read_text()) for p in paths]
    seeds = [d["seed"] for d in dumps]
    print(f"{'rule (picks per household on its hold-out)':<58}" + "".join(f"{s:>9}" for s in seeds) + "     mean")
    fixed = {f"fixed: {n}": _fixed(n) for n in ("household", "prior w1 g0", "prior w0.9 g0.5", "prior w0.95 g0.25")}
    for name, pick in {**RULES, **fixed}.items():
        per = [test_ndcg(d["households"], pick) for d in dumps]
        print(f"{name:<58}" + "".join(f"{v:>9.4f}" for v in per) + f"{np.mean(per):>9.4f}")
    print("how well the hold-out predicts the test (Spearman over the grid, mean over households):")
    for metric in ("ndcg@10", "recall@50"):
        per = [agreement(d["households"], metric) for d in dumps]
        print(f"  hold-out {metric:<48}" + "".join(f"{v:>9.3f}" for v in per) + f"{np.mean(per):>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
