"""Model quality for the owner in words: which model serves and why, from the model runs' records, and runs over time."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from recs.core.domain import ModelRunRow
from web import charts

METRIC = "ndcg@10"  # the metric the hold-out chooses on
SECOND = "recall@50"  # the tie-breaker of the hold-out
# Candidates that are baselines: simple models ALS has to beat. Other ALS settings, blends and the prior's
# entries are recorded beside them in a run's baselines, but they are not baselines.
BASELINE_PREFIXES = ("popular", "itemknn", "ease")
METRIC_WORDS = {
    "ndcg@10": "NDCG@10 (how high the songs members really played next sit in their top 10; 0 to 1)",
    "recall@50": "recall@50 (the share of those songs found in the top 50)",
}


def candidate_words(name: str | None, kind: str | None = None) -> str:
    """A candidate's name from the run's record in words: "ALS (64 factors)", "item-kNN (50 neighbours)"."""
    if not name:
        return {"als": "ALS", "itemknn": "item-kNN", "popular": "most played", "ease": "EASE", "blend": "a blend"}.get(
            kind or "", kind or "an unnamed model"
        )
    if name == "als (defaults)":
        return "ALS with default settings (untuned)"
    if name.startswith("blend "):
        parts = re.fullmatch(r"blend (.+) \+ ([\d.]+) (.+)", name)
        if parts:
            weight = float(parts.group(2))
            return (
                f"a blend of {candidate_words(parts.group(1))} ({1 - weight:.0%}) "
                f"and {candidate_words(parts.group(3))} ({weight:.0%})"
            )
        return "a blend"
    if name.startswith("household ("):
        return f"the household's own model, {candidate_words(name[len('household (') : -1])}"
    if name == "popular":
        return "most played (the household's most played songs)"
    if m := re.fullmatch(r"itemknn k(\d+)", name):
        return f"item-kNN (songs played together, {m.group(1)} neighbours)"
    if m := re.fullmatch(r"ease l(\S+)", name):
        return f"EASE (λ {m.group(1)})"
    if m := re.fullmatch(r"als f(\d+) r(\S+) a(\S+)", name):
        return f"ALS ({m.group(1)} factors)"
    if name.startswith("prior"):
        return f"open listening data ({name})"
    return name


def _value(metrics: object, metric: str) -> float | None:
    value = metrics.get(metric) if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def best_baseline(run: ModelRunRow, metric: str = METRIC) -> tuple[str, float] | None:
    """The run's best baseline on *metric* (most played, item-kNN or EASE), by name: never another ALS or a blend."""
    found = [
        (name, v)
        for name, m in run.baselines.items()
        if name.startswith(BASELINE_PREFIXES) and (v := _value(m, metric)) is not None
    ]
    return max(found, key=lambda c: c[1]) if found else None


def best_als(run: ModelRunRow, metric: str = METRIC) -> tuple[str, float] | None:
    """The best ALS setting on *metric* when ALS itself does not serve (it is then recorded beside the baselines)."""
    found = [
        (name, v)
        for name, m in run.baselines.items()
        if name.startswith("als") and (v := _value(m, metric)) is not None
    ]
    return max(found, key=lambda c: c[1]) if found else None


def _figure(v: float) -> str:
    return f"{v:.3f}"


def _compare(a: float, b: float) -> str:
    if b <= 0:
        return "the baseline scored 0" if a > 0 else "both scored 0"
    change = a / b - 1
    return f"{abs(change):.0%} {'better' if change >= 0 else 'worse'}"


@dataclass(frozen=True)
class Quality:
    """The current model in sentences for the admin page."""

    serving: str  # which model serves, since when
    why: str  # why it was chosen, with the figures
    data: str  # what it learnt from
    note: str | None  # training's own note, verbatim


def explain(run: ModelRunRow | None, holdout_days: int) -> Quality | None:
    """Which model serves and why, from the current run's record (None without a current run)."""
    if run is None:
        return None
    model = candidate_words(run.chosen, run.model_kind)
    weight = _value(run.prior, "weight") if run.prior and run.prior.get("used") else None
    if weight:
        model += ", with open listening data blended in"
    serving = f"Run {run.id} (trained {run.started_at:%d %b %Y %H:%M} UTC) serves {model}."
    mine = _value(run.metrics, METRIC)
    base = best_baseline(run)
    als = best_als(run)
    hold = f"each member's last {holdout_days} days of listening, hidden while the models were trained"
    if mine is None:
        why = (
            "It was not measured: there was no held-out listening to compare models on, so ALS serves with its "
            "default settings."
        )
    elif base is None:
        why = f"On the hold-out ({hold}) it scored {METRIC_WORDS[METRIC]} {_figure(mine)}; no baseline was measured."
    else:
        b_name, b_value = base
        b_words = candidate_words(b_name)
        if run.chosen and run.chosen.startswith(BASELINE_PREFIXES):
            why = (
                f"It is a baseline: ALS did not beat it on the hold-out ({hold}). {METRIC_WORDS[METRIC]}: "
                f"{_figure(mine)}"
                + (f", against {_figure(als[1])} for the best ALS ({candidate_words(als[0])})." if als else ".")
            )
        else:
            if mine >= b_value:
                verdict = f"It beat the best baseline, {b_words}"
            else:
                verdict = f"It did not beat the best baseline, {b_words}, but serves as training's default"
            why = (
                f"{verdict}, on the hold-out ({hold}): {METRIC_WORDS[METRIC]} {_figure(mine)} against "
                f"{_figure(b_value)}, {_compare(mine, b_value)}."
            )
    users = _value(run.metrics, "users")
    if users is not None and mine is not None:
        why += f" Measured on {int(users):,} member{'s' if users != 1 else ''} with held-out listening."
    size = run.data_size
    bits = []
    for key, word in (("members", "member"), ("items", "song"), ("plays", "play")):
        v = _value(size, key)
        if v is not None:
            bits.append(f"{int(v):,} {word}{'s' if v != 1 else ''}")
    data = f"It learnt from {', '.join(bits)}." if bits else ""
    return Quality(serving, why, data, run.note)


@dataclass(frozen=True)
class RunPoint:
    """One finished run as the chart and its table show it."""

    run: ModelRunRow
    label: str  # "Run 3, 2 Dec 14:05"
    model: float | None
    baseline: tuple[str, float] | None
    second: float | None
    second_baseline: tuple[str, float] | None


def run_points(runs: Sequence[ModelRunRow]) -> list[RunPoint]:
    return [
        RunPoint(
            r,
            f"Run {r.id}, {r.started_at:%d %b %Y %H:%M} UTC",
            _value(r.metrics, METRIC),
            best_baseline(r),
            _value(r.metrics, SECOND),
            best_baseline(r, SECOND),
        )
        for r in runs
        if r.status == "succeeded"
    ]


def runs_chart(points: Sequence[RunPoint]) -> Markup | None:
    """The model against the best baseline of the same run, per run, on NDCG@10 and recall@50."""
    if not points or all(p.model is None for p in points):
        return None
    series = [
        charts.Series("model, NDCG@10", [p.model for p in points]),
        charts.Series("best baseline, NDCG@10", [p.baseline[1] if p.baseline else None for p in points], dashed=True),
    ]
    if any(p.second is not None for p in points):
        series += [
            charts.Series("model, recall@50", [p.second for p in points]),
            charts.Series(
                "best baseline, recall@50",
                [p.second_baseline[1] if p.second_baseline else None for p in points],
                dashed=True,
            ),
        ]
    n = len(points)
    every = max(1, -(-n // 6))
    ticks = [
        (i, f"Run {p.run.id}\n{p.run.started_at:%d %b}") for i, p in enumerate(points) if i % every == 0 or i == n - 1
    ]
    if len(ticks) > 1 and ticks[-1][0] - ticks[-2][0] < every:
        del ticks[-2]  # the last run is always named; the one before it would crowd it
    last = points[-1]
    summary = f"{n} run{'s' if n != 1 else ''}; the latest, run {last.run.id}, scored NDCG@10 " + (
        f"{_figure(last.model)}" if last.model is not None else "not measured"
    )
    if last.baseline:
        summary += f" against {_figure(last.baseline[1])} for the best baseline, {candidate_words(last.baseline[0])}"
    return charts.line_chart(
        [p.label for p in points],
        series,
        title="Model quality per run, against the best baseline of the same run",
        ticks=ticks,
        summary=summary + ".",
    )
