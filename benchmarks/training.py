"""Wall time and peak memory of a whole training at three scales, each beside the raw implicit fit on the same matrix.

Scales (synthetic data with realistic skew: Zipf item popularity, log-normal user activity, sessions):
- family: 5 members, ~200k plays stored in a real SQLite database; `recs.usecases.training.train` end to end
  (read as integer arrays, weighting with session pseudo-users, fit, both lists for every member,
  artifact, one transaction), once without tuning (holdout_days = 0) and once as the nightly run
  with its hold-out tuning;
- community: 5,000 users, ~5M plays as arrays: weighting (sessions included), ALS fit, top-100 for all
  5,000 users;
- large: 360,000 users x 300,000 items, ~17M distinct (user, item, count) interactions: weighting, ALS fit,
  top-100 for 5,000 members (scoring every one of the 360,000 rows is not what a household runs).

`--scale large-sql` loads 17M plays of 360,000 members into a real SQLite file (untimed, in a child
process) and times the whole pipeline from there: the read as integer arrays, the weighting with
session pseudo-users, the fit and top 100 for 5,000 members; `all` runs the three scales of the issue.

Each scale runs in its own process so its peak RSS (ru_maxrss) is its own. At community and large scale
the raw implicit fit (same matrix, parameters and threads) runs once before and once after the
pipeline, and the ratio uses their mean: the machine is shared and a single fit's time wanders.

    .venv/bin/python benchmarks/training.py [--scale family|community|large|all] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import sparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recs.core.interactions import DAY_S, Signals, Weighting, build_interactions, count_interactions  # noqa: E402
from recs.model import AlsParams, fit_als, recommend_top  # noqa: E402

FACTORS, ITERATIONS, THREADS = 64, 15, 2
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


PARAMS = AlsParams(FACTORS, 1.0, 4.0, ITERATIONS)


def raw_fit_s(matrix: sparse.csr_matrix, seed: int = 42) -> float:
    """implicit on its own: the same matrix, parameters, iterations and threads as the pipeline's fit."""
    import implicit.als
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = implicit.als.AlternatingLeastSquares(
            factors=PARAMS.factors,
            regularization=PARAMS.regularization,
            alpha=PARAMS.alpha,
            iterations=PARAMS.iterations,
            use_gpu=False,
            use_cg=True,
            num_threads=THREADS,
            random_state=seed,
        )
        t = time.perf_counter()
        model.fit(matrix, show_progress=False)
        return time.perf_counter() - t


def synthetic_plays(
    n_users: int, n_items: int, n_plays: int, seed: int, skew: float | None = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(user, item, epoch seconds) with skewed activity and taste clusters, in sessions of a few tracks.

    Popularity inside a cluster is Zipf(1.2) (many repeats, like one household's listening), or with
    *skew* the rank n_items * u**skew (few repeats: most plays are distinct cells).
    """
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    activity /= activity.sum()
    users = rng.choice(n_users, size=n_plays, p=activity)
    # Popularity inside one of 50 taste clusters per user.
    if skew is None:
        ranks = np.minimum(rng.zipf(1.2, size=n_plays), n_items) - 1
    else:
        ranks = (n_items * rng.random(n_plays) ** skew).astype(np.int64)
    cluster = (users * 2654435761 % 50) * (n_items // 50)
    items = (cluster + ranks) % n_items
    # Sessions: runs of ~5 plays 4 minutes apart, sessions days apart.
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    session_start = rng.uniform(0, 365, size=n_plays // 5 + 1) * DAY_S
    at = NOW.timestamp() - session_start[np.arange(n_plays) // 5] + (np.arange(n_plays) % 5) * 240.0
    return users.astype(np.int64), items.astype(np.int64), at


def recommend_all(model: Any, matrix: sparse.csr_matrix, rows: np.ndarray[Any, Any], n: int = 100) -> int:
    count = 0
    for start in range(0, rows.size, 1000):
        part = rows[start : start + 1000]
        count += recommend_top(model, part, matrix, n, matrix[part], threads=THREADS).size
    return count


def community(seed: int = 42) -> dict[str, Any]:
    # 5.5M plays with mild skew: about 5M distinct (user, item) cells, the "~5M interactions".
    n_users, n_items, n_plays = 5000, 200_000, 5_500_000
    u, i, at = synthetic_plays(n_users, n_items, n_plays, seed, skew=2.0)
    # The raw fit runs before and after the pipeline (the machine is shared): the ratio uses their mean.
    raw_before = raw_fit_s(
        build_interactions(Signals.from_plays(u, i, at), Weighting(), NOW.timestamp(), range(n_users)).matrix, seed
    )
    t0 = time.perf_counter()
    signals = Signals.from_plays(u, i, at)
    inter = build_interactions(signals, Weighting(), NOW.timestamp(), range(n_users))
    t_matrix = time.perf_counter() - t0
    t = time.perf_counter()
    model = fit_als(inter.matrix, PARAMS, seed=seed, threads=THREADS)
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    recommend_all(model, inter.matrix, np.arange(n_users))
    t_rec = time.perf_counter() - t
    total = time.perf_counter() - t0
    raw_after = raw_fit_s(inter.matrix, seed)
    raw = (raw_before + raw_after) / 2
    return {
        "scale": "community",
        "data": {**inter.size(), "plays": n_plays},
        "matrix_s": round(t_matrix, 2),
        "fit_s": round(t_fit, 2),
        "recommend_s": round(t_rec, 2),
        "total_s": round(total, 2),
        "raw_implicit_fit_s": [round(raw_before, 2), round(raw_after, 2)],
        "ratio_to_raw": round(total / raw, 2),
        "peak_mib": round(peak_mib()),
    }


def large(seed: int = 42) -> dict[str, Any]:
    # 17.8M draws give ~17M distinct (user, item) pairs: log-normal user activity, and item popularity
    # skewed as u**4 (the top 1% of items take about a third of all draws).
    n_users, n_items, n_pairs = 360_000, 300_000, 17_800_000
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    activity /= activity.sum()
    users = rng.choice(n_users, size=n_pairs, p=activity).astype(np.int64)
    items = (n_items * rng.random(n_pairs) ** 4).astype(np.int64)
    counts = rng.zipf(1.8, size=n_pairs).astype(np.float64)
    raw_before = raw_fit_s(count_interactions(users, items, counts, n_users, n_items), seed)
    t0 = time.perf_counter()
    matrix = count_interactions(users, items, counts, n_users, n_items)
    del users, items, counts
    t_matrix = time.perf_counter() - t0
    t = time.perf_counter()
    model = fit_als(matrix, PARAMS, seed=seed, threads=THREADS)
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    members = np.random.default_rng(seed).choice(n_users, size=5000, replace=False)
    recommend_all(model, matrix, np.sort(members))
    t_rec = time.perf_counter() - t
    total = time.perf_counter() - t0
    raw_after = raw_fit_s(matrix, seed)
    raw = (raw_before + raw_after) / 2
    return {
        "scale": "large",
        "data": {"rows": n_users, "items": n_items, "pairs_generated": n_pairs, "nnz": int(matrix.nnz)},
        "matrix_s": round(t_matrix, 2),
        "fit_s": round(t_fit, 2),
        "recommend_5000_s": round(t_rec, 2),
        "total_s": round(total, 2),
        "raw_implicit_fit_s": [round(raw_before, 2), round(raw_after, 2)],
        "ratio_to_raw": round(total / raw, 2),
        "peak_mib": round(peak_mib()),
    }


def _family_db(folder: Path, seed: int) -> tuple[Any, Any, dict[str, int]]:
    """A real SQLite instance with 5 consenting members and ~200k plays, stored through recs.storage."""
    from recs.core.config import load_settings
    from recs.core.domain import AlbumInfo, ArtistInfo, PlayRow, TrackInfo
    from recs.storage import Database, migrate
    from recs.storage.catalog import upsert_tracks
    from recs.storage.listening import insert_plays
    from recs.storage.members import create_member, set_consent

    settings = load_settings(None, {"RECS_INSTANCE__DATA_DIR": str(folder)})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    n_members, n_tracks, n_plays = 5, 20_000, 200_000
    u, i, at = synthetic_plays(n_members, n_tracks, n_plays, seed)
    infos = [
        TrackInfo(
            f"t{k:06d}",
            f"Track {k}",
            (ArtistInfo(f"a{k // 8:05d}", f"Artist {k // 8}"),),
            AlbumInfo(f"b{k // 8:05d}", "Album"),
        )
        for k in range(n_tracks)
    ]
    with db.write() as conn:
        ids = upsert_tracks(conn, infos)
        track_ids = np.array([ids[t.spotify_id or ""] for t in infos], dtype=np.int64)
        member_ids = []
        for m in range(n_members):
            member = create_member(conn, f"member{m}", f"Member {m}", now=NOW - timedelta(days=400))
            set_consent(conn, member.id, "train", True, now=NOW - timedelta(days=400))
            member_ids.append(member.id)
    for m in range(n_members):
        mask = u == m
        rows = [
            PlayRow(datetime.fromtimestamp(float(t), UTC), int(track_ids[k]), "api", ms_played=200_000)
            for k, t in zip(i[mask], at[mask], strict=True)
        ]
        with db.write() as conn:
            insert_plays(conn, member_ids[m], rows)
    return settings, db, {"members": n_members, "tracks": n_tracks, "plays_generated": n_plays}


def family(seed: int = 42) -> dict[str, Any]:
    from dataclasses import replace

    from recs.usecases import training

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        settings, db, data = _family_db(Path(tmp), seed)
        setup_s = time.perf_counter() - t
        threads = replace(settings.training, threads=THREADS)
        plain = replace(settings, training=replace(threads, holdout_days=0))
        nightly = replace(settings, training=threads)
        t = time.perf_counter()
        one = training.train(SimpleNamespace(settings=plain, db=db), now=NOW)
        one_s = time.perf_counter() - t
        t = time.perf_counter()
        night = training.train(SimpleNamespace(settings=nightly, db=db), now=NOW)
        night_s = time.perf_counter() - t
        from recs.model import load_model

        _model, extra, _meta = load_model(Path(one.artifact_path or ""))
        n_members = int(extra["n_members"][0])
        # The raw fit on the same weighted matrix the plain run used.
        from recs.storage import training as store

        with db.read() as conn:
            signals = store.read_signals(conn, [int(m) for m in extra["member_ids"]], "both", NOW.date())
        inter = build_interactions(
            signals, Weighting.from_settings(settings.training), NOW.timestamp(), extra["member_ids"].tolist()
        )
        raw = raw_fit_s(inter.matrix, seed)
        db.dispose()
    return {
        "scale": "family",
        "data": {**data, **one.data_size, "members_in_model": n_members},
        "setup_s": round(setup_s, 1),
        "one_training_s": round(one_s, 2),
        "one_training_timings": one.timings,
        "one_training_model": one.chosen,
        "nightly_with_tuning_s": round(night_s, 2),
        "nightly_timings": night.timings,
        "nightly_model": night.chosen,
        "nightly_note": night.note,
        "raw_implicit_fit_s": round(raw, 2),
        "peak_mib": round(peak_mib()),
    }


def large_sql(seed: int = 42) -> dict[str, Any]:
    """The large scale's read: 17M plays of 360,000 members from a real SQLite file, then the weighting.

    The plays are bulk-loaded with the sqlite3 module (untimed, foreign keys off for the load only);
    the timed part is `read_signals` (integer ids and epoch seconds into numpy, chunk by chunk) and
    `build_interactions` with session pseudo-users.
    """
    import sqlite3

    from recs.core.config import load_settings
    from recs.storage import Database, migrate
    from recs.storage import training as store

    n_users = 360_000
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, {"RECS_INSTANCE__DATA_DIR": tmp})
        db = Database(settings.database_url)
        migrate.upgrade(db)
        t = time.perf_counter()
        # The load runs in a child process, so this process's peak memory is the read's and the weighting's.
        subprocess.run(
            [sys.executable, __file__, "--load-sqlite", str(Path(tmp) / "recs.sqlite3"), "--seed", str(seed)],
            check=True,
        )
        load_s = time.perf_counter() - t
        raw = sqlite3.connect(Path(tmp) / "recs.sqlite3")
        stored = raw.execute("SELECT COUNT(*) FROM plays").fetchone()[0]
        raw.close()
        members = list(range(1, n_users + 1))
        t = time.perf_counter()
        with db.read() as conn:
            signals = store.read_signals(conn, members, "both", NOW.date())
        read_s = time.perf_counter() - t
        read_peak = peak_mib()
        t = time.perf_counter()
        inter = build_interactions(signals, Weighting(), NOW.timestamp(), members)
        matrix_s = time.perf_counter() - t
        del signals
        matrix_peak = peak_mib()
        t = time.perf_counter()
        model = fit_als(inter.matrix, PARAMS, seed=seed, threads=THREADS)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        chosen = np.sort(np.random.default_rng(seed).choice(n_users, size=5000, replace=False))
        recommend_all(model, inter.matrix, chosen)
        rec_s = time.perf_counter() - t
        db.dispose()
    return {
        "scale": "large-sql",
        "data": {"plays_stored": int(stored), **inter.size()},
        "bulk_load_s": round(load_s, 1),
        "read_s": round(read_s, 2),
        "peak_mib_after_read": round(read_peak),
        "matrix_s": round(matrix_s, 2),
        "peak_mib_after_matrix": round(matrix_peak),
        "fit_s": round(fit_s, 2),
        "recommend_5000_s": round(rec_s, 2),
        "total_s": round(read_s + matrix_s + fit_s + rec_s, 2),
        "peak_mib": round(peak_mib()),
    }


def load_sqlite(path: str, seed: int) -> None:
    """Bulk-load the large-sql plays into an already migrated SQLite file (foreign keys off for the load)."""
    import sqlite3

    n_users, n_items, n_plays = 360_000, 300_000, 17_000_000
    u, i, at = synthetic_plays(n_users, n_items, n_plays, seed)
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("PRAGMA synchronous=OFF")
    for start in range(0, n_plays, 500_000):
        end = start + 500_000
        stamps = np.char.replace(
            np.datetime_as_string((at[start:end] * 1e6).astype("datetime64[us]"), unit="us"), "T", " "
        )
        raw.executemany(
            "INSERT OR IGNORE INTO plays (member_id, played_at, track_id, source, ms_played) VALUES (?, ?, ?, 'api', 200000)",
            zip((u[start:end] + 1).tolist(), stamps.tolist(), (i[start:end] + 1).tolist(), strict=True),
        )
        raw.commit()
    raw.close()


SCALES = {"family": family, "community": community, "large": large, "large-sql": large_sql}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="training wall time and peak memory at three scales")
    parser.add_argument("--scale", choices=[*SCALES, "all"], default="all")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--load-sqlite", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_sqlite:
        load_sqlite(args.load_sqlite, args.seed)
        return 0
    if args.scale == "all":
        results = []
        for name in ("family", "community", "large"):
            proc = subprocess.run(
                [sys.executable, __file__, "--scale", name, "--json", "--seed", str(args.seed)],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    else:
        results = [SCALES[args.scale](args.seed)]
    for r in results:
        print(json.dumps(r) if args.json else json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
