"""Training use case: one run's life cycle (read, tune, fit, build the lists, store them, clean up).

The tuning is `recs.model.selection`, the hold-out `recs.holdout`, the list building `recs.lists`.

Public API:
- `train(instance, now=None, progress=None) -> RunSummary`: one whole run. It records a model_runs row
  (params, data size, hold-out metrics of the chosen model and of the baselines, timings), writes the
  artifact (temporary name, then os.replace) and stores every member's "discover" and "rediscover" lists
  and flips the current run in ONE transaction: until that commits, the previous run serves; a failed
  run is marked failed and a killed one (its process gone) is marked failed by the next run. Nothing
  else changes. Two runs at once are harmless: the later commit becomes current.

A member with fewer than `recommend.cold_start_items` liked tracks gets "discover" seeded from their top
tracks, saved tracks and plays (item-item evidence), filled up with household popularity (stored with
no score, never a zero passed off as one): the list is empty only when the household's data holds no
track the member has not played. "rediscover" may be empty (nothing played twice and then left alone).

Only members who consented to training are in the model and receive lists. Session and own-playlist
pseudo-rows never receive recommendations and are never named in explanations.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recs import holdout
from recs.config import Settings
from recs.interactions import Interactions, Signals, Weighting, build_interactions
from recs.lists import ListBuilder, Pool, explanation
from recs.model import Model, fit_itemknn, fit_popular, save_model
from recs.model.selection import DEFAULT_ALS, Selection, als_spec, fit_spec, select_model
from recs.storage import Database
from recs.storage import feedback as feedback_store
from recs.storage import members as member_store
from recs.storage import training as store
from recs.storage.catalog import get_tracks

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    model_kind: str
    chosen: str
    params: dict[str, Any]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    timings: dict[str, float]
    data_size: dict[str, int]
    note: str
    members: int
    recommendations: int
    artifact_path: str | None


class TrainingError(RuntimeError):
    """Training cannot run (e.g. no member has consented or there is no data); nothing was changed."""


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


class TrainingInstance(Protocol):
    """What train needs of an instance (recs.instance.Instance has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...


def _no_progress(_stage: str) -> None:
    return None


def train(instance: TrainingInstance, now: datetime | None = None, progress: Progress | None = None) -> RunSummary:
    """Run one training; see the module docstring. Raises TrainingError when there is nothing to train on."""
    settings = instance.settings
    db: Database = instance.db
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("train(now=...) needs a timezone-aware datetime")
    report = progress or _no_progress
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with db.write() as conn:
        stale = store.fail_stale_runs(
            conn, now, [r for r, started, owner in store.running_runs(conn) if _is_stale(owner, started, now)]
        )
        run_id = store.start_run(conn, now, _owner())
    if stale:
        log.warning("marked %d interrupted training run(s) as failed", stale)
    try:
        return _train(instance, run_id, now, report, timings, t0)
    except BaseException as exc:
        with db.write() as conn:
            store.fail_run(
                conn, run_id, now + timedelta(seconds=time.perf_counter() - t0), f"{type(exc).__name__}: {exc}"
            )
        artifact = artifact_path(settings, run_id)
        artifact.unlink(missing_ok=True)
        artifact.with_suffix(".json").unlink(missing_ok=True)
        raise


STALE_ELSEWHERE = timedelta(hours=12)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_stale(owner: str, started: datetime, now: datetime) -> bool:
    """A running run whose process is gone: same host and no such pid, or another host and long ago."""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, under another user
            return False
        return False
    return now - started > STALE_ELSEWHERE


def artifact_path(settings: Settings, run_id: int) -> Path:
    """Where a run's model artifact lives: <data_dir>/models/run-<id>.npz (and .json beside it)."""
    return Path(settings.data_path) / "models" / f"run-{run_id}.npz"


def _train(
    instance: TrainingInstance, run_id: int, now: datetime, report: Progress, timings: dict[str, float], t0: float
) -> RunSummary:
    settings = instance.settings
    db: Database = instance.db
    tcfg = settings.training
    weighting = Weighting.from_settings(tcfg)

    report("reading")
    t = time.perf_counter()
    with db.read() as conn:
        member_ids = member_store.members_with_consent(conn, "train")
        if not member_ids:
            raise TrainingError("no member has consented to training: nothing to train on")
        signals = store.read_signals(conn, member_ids, tcfg.sources, now.date())
        top_tracks = {m: store.read_top_tracks(conn, m) for m in member_ids}
    timings["read_s"] = time.perf_counter() - t

    t = time.perf_counter()
    inter = build_interactions(signals, weighting, _epoch(now), member_ids)
    timings["matrix_s"] = time.perf_counter() - t
    if inter.matrix.nnz == 0:
        raise TrainingError(
            f"no usable listening for the {len(member_ids)} consenting member(s) (sources={tcfg.sources})"
        )

    report("tuning")
    t = time.perf_counter()
    # Each member's own last days: a member whose listening stopped months ago (an export) still has some.
    split = holdout.split(signals, tcfg.holdout_days)
    selection: Selection | None = None
    if split.train.n_plays and tcfg.holdout_days > 0:
        train_inter = build_interactions(split.train, weighting, _epoch(now), member_ids)
        rows, relevant = holdout.relevant(signals, train_inter, split.cutoffs)
        if rows.size and train_inter.matrix.nnz:
            selection = select_model(
                train_inter.matrix,
                rows,
                relevant,
                seed=tcfg.seed,
                threads=tcfg.threads,
                budget_s=tcfg.tuning_budget_s,
                n_members=train_inter.n_members,
            )
    timings["tuning_s"] = time.perf_counter() - t

    if selection is not None:
        spec = selection.chosen.spec
        chosen = selection.chosen.name
        note = selection.note
        chosen_metrics = selection.metrics[chosen]
        baselines = {
            n: m
            for n, m in selection.metrics.items()
            if n != chosen and (n == "popular" or n.startswith("itemknn") or n == selection.best_als)
        }
    else:
        spec = als_spec(DEFAULT_ALS)
        chosen = "als (defaults)"
        note = f"no member has new tracks in their last {tcfg.holdout_days} days of listening: default ALS parameters, untuned"
        chosen_metrics = {}
        baselines = {}

    report("fitting")
    t = time.perf_counter()
    model = fit_spec(spec, inter.matrix, seed=tcfg.seed, threads=tcfg.threads, n_members=inter.n_members)
    timings["fit_s"] = time.perf_counter() - t

    report("recommending")
    t = time.perf_counter()
    rows_out = _recommend(db, settings, inter, model, signals, member_ids, top_tracks, now)
    timings["recommend_s"] = time.perf_counter() - t

    report("saving")
    t = time.perf_counter()
    artifact = artifact_path(settings, run_id)
    params = {"chosen": chosen, "spec": spec, "seed": tcfg.seed, "weighting": weighting.__dict__.copy()}
    save_model(
        artifact,
        model,
        {"item_ids": inter.items.ids, "member_ids": inter.members.ids, "n_members": np.array([inter.n_members])},
        {"run_id": run_id, "created_at": now.isoformat(), "params": params},
    )
    timings["save_s"] = time.perf_counter() - t
    data_size = {**inter.size(), "plays": signals.n_plays}
    timings["total_s"] = time.perf_counter() - t0
    timings = {k: round(v, 3) for k, v in timings.items()}
    with db.write() as conn:
        store.finish_run(
            conn,
            run_id,
            now + timedelta(seconds=timings["total_s"]),
            model_kind=str(spec["kind"]),
            params=params,
            data_size=data_size,
            metrics=chosen_metrics,
            baselines=baselines,
            timings=timings,
            artifact_path=str(artifact),
            note=note,
            rows=rows_out,
        )
        report("committing")
    _cleanup_artifacts(db, artifact.parent)
    summary = RunSummary(
        run_id=run_id,
        model_kind=str(spec["kind"]),
        chosen=chosen,
        params=params,
        metrics=chosen_metrics,
        baselines=baselines,
        timings=timings,
        data_size=data_size,
        note=note,
        members=len(member_ids),
        recommendations=len(rows_out),
        artifact_path=str(artifact),
    )
    return summary


def _recommend(
    db: Database,
    settings: Settings,
    inter: Interactions,
    model: Model,
    signals: Signals,
    member_ids: Sequence[int],
    top_tracks: Mapping[int, Sequence[int]],
    now: datetime,
) -> list[store.RecommendationRow]:
    """Every member's lists: score all (no I/O), read filters and artists once, then cut and explain the lists."""
    builder = ListBuilder(
        inter,
        model,
        signals,
        settings.recommend,
        seed=settings.training.seed,
        now=now,
        popularity=fit_popular(inter.member_rows()).popularity,
        knn=lambda: fit_itemknn(inter.matrix, 200),
    )
    pools: list[Pool] = []
    for member_id in member_ids:
        pools.append(builder.discover(member_id, top_tracks.get(member_id, [])))
        pools.append(builder.rediscover(member_id))
    with db.read() as conn:
        filters = {m: feedback_store.member_filters(conn, m, now.date()) for m in member_ids}
        artists = store.track_artist_sets(conn, {d.track_id for p in pools for d in p.drafts})
    lists = [(p, builder.finish(p, filters[p.member_id], artists)) for p in pools]
    needed = {d.because for _, drafts in lists for d in drafts if d.because is not None}
    with db.read() as conn:
        names = get_tracks(conn, needed)
    now_s = _epoch(now)
    rows_out: list[store.RecommendationRow] = []
    for pool, drafts in lists:
        view = builder.views[pool.member_id]
        for rank, d in enumerate(drafts, start=1):
            rows_out.append(
                store.RecommendationRow(
                    member_id=pool.member_id,
                    mode=pool.mode,
                    rank=rank,
                    track_id=d.track_id,
                    score=d.score,
                    explanation=explanation(d, names, view, now_s),
                    because_track_id=d.because if d.because in names else None,
                )
            )
    return rows_out


def _cleanup_artifacts(db: Database, folder: Path) -> None:
    """Keep the artifacts of the two newest succeeded runs; remove the rest (killed runs' temporary files too)."""
    with db.read() as conn:
        keep = {Path(p).name for p in store.artifact_paths(conn, newest=2)}
        # A run still going (another process) may have written its artifact but not committed yet.
        keep |= {f"run-{run_id}.npz" for run_id, _, _ in store.running_runs(conn)}
    for path in folder.glob("*run-*"):
        stem = path.name.removeprefix(".").split(".")[0]
        if f"{stem}.npz" not in keep:
            path.unlink(missing_ok=True)
