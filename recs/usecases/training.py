"""Training use case: one run's life cycle (read, tune, fit, build the lists, store them, clean up).

The tuning is `recs.model.selection`, the hold-out `recs.core.holdout`, the list building `recs.usecases.lists`.

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

Only members who consented to training are in the model and receive lists. For those of them who also
take part in the household Blend, the run stores their favourites and how much each of them is likely to
enjoy every one of those favourites (docs/blend.md), in the same transaction as the lists. Session and own-playlist
pseudo-rows never receive recommendations and are never named in explanations.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import sparse

from recs import storage
from recs.core import holdout
from recs.core import household_blend as hb
from recs.core.config import Settings
from recs.core.domain import ArtistInfo, RecommendationRow, TrackInfo
from recs.core.interactions import Interactions, Signals, Weighting, build_interactions
from recs.core.processes import owner_id, owner_is_dead
from recs.model import Model, fit_itemknn, fit_popular, save_model
from recs.model.selection import DEFAULT_ALS, Selection, als_spec, fit_spec, select_model
from recs.storage import Database
from recs.storage.catalog import get_tracks, spotify_ids_of, upsert_tracks
from recs.usecases import prior_fold as pf
from recs.usecases.discovery import DEFAULT_GUARD, DEFAULT_WEIGHT, BlendChoice, choose_blend, spread
from recs.usecases.lists import (
    POOL_FACTOR,
    REASONS_PER_CARD,
    Draft,
    ListBuilder,
    Pool,
    Scorer,
    TrackScores,
    assign_reasons,
    explanation,
    household_scorer,
)
from recs.usecases.prior.artifact import Prior

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
    """What train needs of an instance (recs.usecases.instance.Instance has it)."""

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
        stale = storage.training.fail_stale_runs(
            conn,
            now,
            [r for r, started, owner in storage.training.running_runs(conn) if _is_stale(owner, started, now)],
        )
        run_id = storage.training.start_run(conn, now, owner_id())
    if stale:
        log.warning("marked %d interrupted training run(s) as failed", stale)
    try:
        return _train(instance, run_id, now, report, timings, t0)
    except BaseException as exc:
        with db.write() as conn:
            storage.training.fail_run(
                conn, run_id, now + timedelta(seconds=time.perf_counter() - t0), f"{type(exc).__name__}: {exc}"
            )
        artifact = artifact_path(settings, run_id)
        artifact.unlink(missing_ok=True)
        artifact.with_suffix(".json").unlink(missing_ok=True)
        raise


STALE_ELSEWHERE = timedelta(hours=12)


def _is_stale(owner: str, started: datetime, now: datetime) -> bool:
    """A running run whose process is gone: same host and no such pid, or another host and long ago."""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return owner_is_dead(owner)
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
        member_ids = storage.members.members_with_consent(conn, "train")
        if not member_ids:
            raise TrainingError("no member has consented to training: nothing to train on")
        signals = storage.training.read_signals(conn, member_ids, tcfg.sources, now.date())
        top_tracks = {m: storage.training.read_top_tracks(conn, m) for m in member_ids}
        open_members = storage.members.open_data_members(conn, member_ids)
        # The household Blend (docs/blend.md): members in the model who opted in, and when they had it off.
        blend_ids = sorted(set(storage.members.members_with_consent(conn, "blend")) & set(member_ids))
        blend_off = {m: storage.members.off_intervals(conn, m, "blend") for m in blend_ids}
    timings["read_s"] = time.perf_counter() - t

    t = time.perf_counter()
    inter = build_interactions(signals, weighting, _epoch(now), member_ids)
    timings["matrix_s"] = time.perf_counter() - t
    if inter.matrix.nnz == 0:
        raise TrainingError(
            f"no usable listening for the {len(member_ids)} consenting member(s) (sources={tcfg.sources})"
        )

    prior, prior_status = _load_prior(settings)
    spotify: dict[int, str] = {}
    if prior is not None:
        with db.read() as conn:
            spotify = spotify_ids_of(conn, inter.items.ids.tolist())

    report("tuning")
    t = time.perf_counter()
    # Each member's own last days: a member whose listening stopped months ago (an export) still has some.
    split = holdout.split(signals, tcfg.holdout_days)
    selection: Selection | None = None
    choice: BlendChoice | None = None
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
                keep_models=prior is not None,
            )
            if prior is not None:
                choice = _choose_blend(
                    prior, train_inter, selection.models[selection.chosen.name], signals, split, spotify, tcfg.threads
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

    prior_record: dict[str, Any] | None = prior_status.as_dict() if prior_status is not None else None
    if prior_status is not None and prior_status.error:
        note += f"; prior refused, household only: {prior_status.error}"
    if prior is not None and prior_record is not None:
        if choice is None:
            choice = BlendChoice(
                DEFAULT_WEIGHT, DEFAULT_GUARD, {}, "no hold-out to choose the blend on: the default weight and guard"
            )
        prior_record.update(weight=choice.weight, guard=choice.guard, chosen=choice.name, note=choice.note)
        prior_record["holdout"] = {n: m for n, m in choice.metrics.items()}
        note += f"; open data: {choice.note}"
        if choice.metrics and choice.name in choice.metrics:
            # The run's figures are what serves: the blend; the household's own choice becomes a baseline.
            if chosen_metrics:
                baselines = {**baselines, f"household ({chosen})": chosen_metrics}
            baselines.update({n: m for n, m in choice.metrics.items() if n in ("prior w1 g0", "prior popular")})
            chosen_metrics = choice.metrics[choice.name]

    report("fitting")
    t = time.perf_counter()
    model = fit_spec(spec, inter.matrix, seed=tcfg.seed, threads=tcfg.threads, n_members=inter.n_members)
    folded: pf.FoldedHousehold | None = None
    if prior is not None and choice is not None and choice.weight > 0:
        folded = pf.fold_household(
            prior, pf.item_spotify_ids(inter.items.ids, spotify), inter.matrix, inter.n_members, threads=tcfg.threads
        )
    timings["fit_s"] = time.perf_counter() - t

    report("recommending")
    t = time.perf_counter()
    blend = (folded, choice.weight, choice.guard) if folded is not None and choice is not None else None
    rows_out, open_count = _recommend(
        db, settings, inter, model, signals, member_ids, top_tracks, now, blend, open_members
    )
    timings["recommend_s"] = time.perf_counter() - t
    t = time.perf_counter()
    blend_favs, blend_enjoyment = _household_blend(
        inter, model, signals, weighting, now, blend_ids, blend_off, blend, open_members
    )
    timings["blend_s"] = time.perf_counter() - t
    if prior_record is not None:
        prior_record["open_recommendations"] = open_count

    report("saving")
    t = time.perf_counter()
    artifact = artifact_path(settings, run_id)
    params = {"chosen": chosen, "spec": spec, "seed": tcfg.seed, "weighting": weighting.__dict__.copy()}
    if prior_record is not None:
        params["prior"] = prior_record
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
        storage.training.finish_run(
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
        storage.blends.save_run_rows(conn, run_id, blend_favs, blend_enjoyment)
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


def _household_blend(
    inter: Interactions,
    model: Model,
    signals: Signals,
    weighting: Weighting,
    now: datetime,
    blend_ids: Sequence[int],
    blend_off: Mapping[int, Sequence[storage.members.OffInterval]],
    prior_blend: Blend | None,
    open_members: Collection[int],
) -> tuple[dict[int, list[int]], dict[tuple[int, int], float]]:
    """Each Blend member's favourites (from their Blend-on intervals only) and how much each of them is likely to
    enjoy every one of those favourites: the model's percentile, blended with the prior's for open-data members."""
    if not blend_ids:
        return {}, {}
    off = {m: [(a.timestamp(), b.timestamp() if b else math.inf) for a, b in iv] for m, iv in blend_off.items()}
    own = build_interactions(hb.blend_signals(signals, off), weighting, _epoch(now), blend_ids)
    favs = {m: f for m in blend_ids if (f := hb.favourites(own.matrix[own.row_of(m)], own.items.ids))}
    wanted = sorted({t for f in favs.values() for t in f})
    idx = inter.items.indices(np.asarray(wanted, dtype=np.int64))
    enjoyment: dict[tuple[int, int], float] = {}
    for m in favs:
        row = inter.row_of(m)
        scores = model.scores(np.array([row]), inter.matrix)[0]
        if prior_blend is not None and m in open_members:
            fh, weight, guard = prior_blend
            scores = pf.blended_candidates(fh, scores, row, weight, guard, 0).household
        pct = hb.percentiles(scores)
        enjoyment.update({(m, t): float(pct[i]) for t, i in zip(wanted, idx.tolist(), strict=True) if i >= 0})
    return favs, enjoyment


def _load_prior(settings: Settings) -> tuple[Prior | None, pf.PriorStatus | None]:
    """The prior named by `prior.path`, or None; a refused one is logged (and recorded by the caller)."""
    if not settings.prior.path:
        return None, None
    prior, status = pf.load_for_training(settings.prior.path)
    if prior is None:
        log.warning("prior refused, training household only: %s", status.error)
    return prior, status


def _choose_blend(
    prior: Prior,
    train_inter: Interactions,
    model: Model,
    signals: Signals,
    split: holdout.Split,
    spotify: Mapping[int, str],
    threads: int,
) -> BlendChoice:
    """The prior weight and popularity guard that do best on the temporal hold-out (recs.usecases.discovery)."""
    relevant = holdout.relevant_tracks(signals, train_inter, split.cutoffs)
    rows = sorted(relevant)
    fh = pf.fold_household(
        prior,
        pf.item_spotify_ids(train_inter.items.ids, spotify),
        train_inter.matrix,
        train_inter.n_members,
        threads=threads,
    )
    idx = np.asarray(rows, dtype=np.int64)
    household = spread(model.scores(idx, train_inter.matrix), fh.catalogue.household, fh.catalogue.size)
    prior_scores = fh.prior_scores(idx)
    # As when serving: a member with no signal on the prior's tracks gets popular-from-the-prior as their prior side.
    prior_scores[[pf.knows_nothing(fh, int(r)) for r in idx]] = pf.popular_side(fh)[0]
    return choose_blend(
        fh.catalogue,
        household,
        prior_scores,
        pf.union_known(fh, train_inter.matrix, rows),
        pf.union_relevant(fh, train_inter.items, spotify, relevant, rows),
    )


Blend = tuple[pf.FoldedHousehold, float, float]


def _prior_scorer(
    db: Database,
    inter: Interactions,
    model: Model,
    blend: Blend,
    views: Sequence[Any],
    pool: int,
    popularity: npt.NDArray[np.float32],
) -> tuple[Scorer, Callable[[int], TrackScores | None], dict[int, int]]:
    """The blended candidates of the members in *views*, the prior-only ones stored as tracks (names from the prior).

    Returns the scorer for the list builder (household-only for the other members), the popularity fill
    (household *popularity* blended with popular-from-the-prior for those members, None for the others)
    and the tracks no household member played (-> their prior row).
    """
    fh, weight, guard = blend
    prior = fh.prior
    per_row: dict[int, pf.Candidates] = {}
    for view in views:
        household = model.scores(np.array([view.row]), inter.matrix)[0]
        per_row[view.row] = pf.blended_candidates(fh, household, view.row, weight, guard, pool + len(view.known))
    most_known = max((len(v.known) for v in views), default=0)
    popular = pf.popular_candidates(fh, popularity, weight, guard, pool + most_known)
    wanted = sorted({int(r) for c in [*per_row.values(), popular] for r in c.prior_rows.tolist()})
    infos = [
        TrackInfo(
            spotify_id=str(prior.track_ids[r]),
            name=prior.track_name(r) or str(prior.track_ids[r]),
            artists=(ArtistInfo(None, prior.artist_name(r)),) if prior.artist_name(r) else (),
        )
        for r in wanted
    ]
    with db.write() as conn:
        stored = upsert_tracks(conn, infos)
    track_of = {r: stored[str(prior.track_ids[r])] for r in wanted}
    household = set(inter.items.ids.tolist())
    open_tracks = {t: r for r, t in track_of.items() if t not in household}

    household_only = household_scorer(inter, model)

    def over_tracks(c: pf.Candidates) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        ids = np.concatenate([inter.items.ids, np.array([track_of[int(r)] for r in c.prior_rows], dtype=np.int64)])
        return ids, np.concatenate([c.household, c.prior_scores])

    def score(row: int) -> TrackScores:
        c = per_row.get(row)
        if c is None:  # the member turned open-data recommendations off
            return household_only(row)
        return TrackScores(*over_tracks(c), "model")

    fill_ids, fill_scores = over_tracks(popular)

    def fill(row: int) -> TrackScores | None:
        return TrackScores(fill_ids, fill_scores, "popular") if row in per_row else None

    return score, fill, open_tracks


def _recommend(
    db: Database,
    settings: Settings,
    inter: Interactions,
    model: Model,
    signals: Signals,
    member_ids: Sequence[int],
    top_tracks: Mapping[int, Sequence[int]],
    now: datetime,
    blend: Blend | None = None,
    open_members: Collection[int] = (),
) -> tuple[list[RecommendationRow], int]:
    """Every member's lists: score all (no I/O), read filters and artists once, then cut and explain the lists.

    With *blend* (a folded household, the prior weight and guard), the discover list of each member in
    *open_members* draws on the prior's whole catalogue too. Returns the rows and how many discover entries hold a track no household member played.
    """
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
    open_tracks: dict[int, int] = {}
    if blend is not None:
        pool_size = settings.recommend.list_size * POOL_FACTOR
        views = [v for m, v in builder.views.items() if m in open_members]
        builder.scorer, builder.fill, open_tracks = _prior_scorer(
            db, inter, model, blend, views, pool_size, builder.popularity
        )
    pools: list[Pool] = []
    for member_id in member_ids:
        pools.append(builder.discover(member_id, top_tracks.get(member_id, [])))
        pools.append(builder.rediscover(member_id))
    with db.read() as conn:
        filters = {m: storage.feedback.member_filters(conn, m, now.date()) for m in member_ids}
        artists = storage.training.track_artist_sets(conn, {d.track_id for p in pools for d in p.drafts})
    lists = [(p, builder.finish(p, filters[p.member_id], artists)) for p in pools]
    if blend is not None:
        _explain_open(blend[0], inter, builder.views, lists, open_tracks)
    needed = {d.because for _, drafts in lists for d in drafts if d.because is not None}
    with db.read() as conn:
        names = get_tracks(conn, needed)
    now_s = _epoch(now)
    rows_out: list[RecommendationRow] = []
    for pool, drafts in lists:
        view = builder.views[pool.member_id]
        for rank, d in enumerate(drafts, start=1):
            rows_out.append(
                RecommendationRow(
                    member_id=pool.member_id,
                    mode=pool.mode,
                    rank=rank,
                    track_id=d.track_id,
                    score=d.score,
                    explanation=explanation(d, names, view, now_s),
                    because_track_id=d.because if d.because in names else None,
                    source="open" if d.track_id in open_tracks else "household",
                )
            )
    opened = sum(1 for p, drafts in lists if p.mode == "discover" for d in drafts if d.track_id in open_tracks)
    return rows_out, opened


def _explain_open(
    fh: pf.FoldedHousehold,
    inter: Interactions,
    views: Mapping[int, Any],
    lists: Sequence[tuple[Pool, list[Draft]]],
    open_tracks: Mapping[int, int],
) -> None:
    """Mark discover entries no household member played as open data, explained by the member's own track.

    The track cited is the member's own track (on the prior) contributing most to the fold-in's score, or none.
    """
    for pool, drafts in lists:
        if pool.mode != "discover":
            continue
        row = views[pool.member_id].row
        history = inter.matrix[row]
        mine = history.data > 0
        cols = fh.prior_row[history.indices[mine]]
        on_prior = cols >= 0
        # The member's own row over the prior's tracks, as the fold-in saw it.
        own_of = dict(
            zip(cols[on_prior].tolist(), inter.items.ids[history.indices[mine][on_prior]].tolist(), strict=True)
        )
        signals = sparse.csr_matrix(
            (history.data[mine][on_prior], (np.zeros(int(on_prior.sum()), dtype=np.int64), cols[on_prior])),
            shape=(1, fh.prior.n_tracks),
            dtype=np.float32,
        )
        for d in drafts:
            if d.track_id not in open_tracks:
                continue
            if d.kind == "popular" or not signals.nnz:
                # The crowd's favourites (a popularity fill, or a member the prior knows nothing of): no own track to cite.
                d.kind, d.reasons = "open popular", []
                continue
            d.kind = "open"
            found = fh.folded.explain_ranked(0, signals, open_tracks[d.track_id], REASONS_PER_CARD)
            d.reasons = [own_of[f] for f in found if f in own_of]
        # The open cards' reasons joined the list's: spread them all again.
        assign_reasons(drafts)


def _cleanup_artifacts(db: Database, folder: Path) -> None:
    """Keep the artifacts of the two newest succeeded runs; remove the rest (killed runs' temporary files too)."""
    with db.read() as conn:
        keep = {Path(p).name for p in storage.training.artifact_paths(conn, newest=2)}
        # A run still going (another process) may have written its artifact but not committed yet.
        keep |= {f"run-{run_id}.npz" for run_id, _, _ in storage.training.running_runs(conn)}
    for path in folder.glob("*run-*"):
        stem = path.name.removeprefix(".").split(".")[0]
        if f"{stem}.npz" not in keep:
            path.unlink(missing_ok=True)
