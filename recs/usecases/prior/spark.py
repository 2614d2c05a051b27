"""`recs prior build --engine spark`: the same pipeline on Apache Spark (the only module that imports pyspark).

Stages:
- parse: one Spark task per source file, running the local engine's reader and line parser
  (recs.usecases.prior.dumps.read_chunks, recs.usecases.prior.listens.parse_chunk) where the task runs, so both engines
  keep and reject exactly the same lines. A .tar.zst cannot be split (zstd stream, then tar), so a
  task reads a whole archive; extracted `.listens` files are split into byte ranges of `split_bytes`
  (a range owns the lines that start in it, as Hadoop's line reader does), which is what spreads a
  full dump over a cluster. Tasks return kept listens as rows and one report per source (lines,
  rejects, problems, checksum, dump metadata).
- count and filter (Spark SQL): exact (user, timestamp, track) duplicates dropped, (user, track)
  counts, tracks with fewer than min_listeners distinct users and users with fewer than
  min_user_tracks tracks removed alternately until stable, weight log2(1 + min(count, cap)): the
  rules of recs/usecases/prior/counting.py.
- train: Spark MLlib's ALS with implicitPrefs=True (confidence 1 + alpha * rating, the rating being
  weight - 1/alpha so that the confidence is implicit's alpha * weight), as ListenBrainz's
  listenbrainz_spark/recommendations/recording/train_models.py does. Spark scales the regularization of
  each user or item by its number of cells (ALS-WR); implicit does not, so regParam is the requested
  regularization divided by the mean cells per user, which puts the two objectives on the same scale
  for a typical user (the manifest keeps both).
- write: item factors, counts and names are collected to the driver and written by
  recs.usecases.prior.artifact.write_prior, the same format as the local engine's (engine "spark").
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recs.usecases.prior import counting
from recs.usecases.prior.artifact import load_prior, write_prior
from recs.usecases.prior.build import BuildOptions, BuildSummary, PriorBuildError, Tick, _epoch, build_manifest
from recs.usecases.prior.dumps import (
    SPLIT_BYTES,
    Problem,
    Source,
    Unit,
    discover,
    plan_units,
    range_chunks,
    read_chunks,
    sha256_of,
)
from recs.usecases.prior.listens import REASONS, Window, parse_chunk, unpack_spelling

log = logging.getLogger("recs.usecases.prior")


class SparkUnavailable(PriorBuildError):
    """pyspark or Java is missing; the message says what to install."""


def spark_problem() -> str | None:
    """Why the Spark engine cannot run here (None when it can): pyspark not installed or no Java."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install 'recs[spark]'"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and shutil.which("java") is None:
        return "no Java runtime: install Java 17 (Debian: apt-get install openjdk-17-jre-headless)"
    return None


def parse_unit(unit: Unit, window: Window) -> Iterator[tuple[Any, ...]]:
    """Run on an executor: kept listens ("L", user, timestamp, track_id), spellings ("N", track_id, name, artist,
    listens) and one report ("S", json) of the unit."""
    index, path, name, kind, start, end = unit
    problems: list[Problem] = []
    lines = 0
    rejected: Counter[str] = Counter()
    source = Source(path=Path(path), name=name, kind=kind, size=0)
    chunks = read_chunks(source, problems) if end < 0 else range_chunks(path, start, end)
    for chunk in chunks:
        result = parse_chunk(chunk, window)
        lines += result.lines
        rejected.update(result.rejected)
        ids = result.track_ids
        for user, ts, code in zip(
            result.users.tolist(), result.timestamps.tolist(), result.tracks.tolist(), strict=True
        ):
            yield ("L", user, ts, ids[code])
        for (code, spelling), n in result.names.items():
            yield ("N", ids[code], *unpack_spelling(spelling), n)
    report = {
        "index": index,
        "whole": end < 0,
        "lines": lines,
        "rejected": dict(rejected),
        "problems": [asdict(p) for p in problems],
        "sha256": source.sha256,
        "metadata": source.metadata,
    }
    yield ("S", json.dumps(report))


def _session(master: str, parallelism: int) -> Any:
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("recs prior build")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, parallelism)))
        .config("spark.default.parallelism", str(max(2, parallelism)))
    )
    if master.startswith("local") and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        # local mode runs everything in the driver's JVM: Spark's 1g default is too small for a month of dumps
        builder = builder.config("spark.driver.memory", "2g")
    if master.startswith("local"):
        # local workers run this interpreter (with recs installed); on a cluster PYSPARK_PYTHON names theirs
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return builder.getOrCreate()


def build_prior_spark(
    paths: list[Path],
    out: Path,
    options: BuildOptions = BuildOptions(),
    *,
    master: str = "local[*]",
    tick: Callable[[Tick], None] | None = None,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    split_bytes: int = SPLIT_BYTES,
    checkpoint_dir: str | None = None,
) -> BuildSummary:
    """Build a prior on Spark from the dumps at *paths* and write it at *out* (same artifact as the local engine).

    ALS checkpoints its factors every 10 iterations (without, the lineage of 15+ iterations overflows the
    JVM's stack); `checkpoint_dir` must be storage every executor reaches (HDFS, a shared mount) on a
    cluster; by default a temporary folder, which is right for local mode only.
    """
    problem = spark_problem()
    if problem is not None:
        raise SparkUnavailable(f"the Spark engine cannot run: {problem}")
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import Row
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.window import Window as W

    started = now or datetime.now(UTC)
    start_clock = clock()
    sources, problems = discover([Path(p) for p in paths])
    if not sources:
        raise PriorBuildError(
            "no dump to read: " + "; ".join(p.line() for p in problems) if problems else "no dump given"
        )
    window = Window(since=_epoch(options.since), until=_epoch(options.until), latest=int(started.timestamp()) + 86_400)
    total_bytes = sum(s.size for s in sources)
    units = plan_units(sources, split_bytes)
    timings: dict[str, float] = {}

    def report(stage: str, lines: int) -> None:
        t = Tick(stage, lines, total_bytes if stage != "parse" else 0, total_bytes, clock() - start_clock)
        if tick is not None:
            tick(t)
        log.info("prior build (spark) %s", t.line())

    spark = _session(master, len(units))
    scratch = tempfile.TemporaryDirectory(prefix="recs-spark-") if checkpoint_dir is None else None
    try:
        sc = spark.sparkContext
        sc.setCheckpointDir(checkpoint_dir if scratch is None else scratch.name)
        t0 = clock()
        report("parse", 0)
        parsed = sc.parallelize(units, numSlices=len(units)).flatMap(lambda u: parse_unit(u, window)).cache()
        reports = [json.loads(r[1]) for r in parsed.filter(lambda r: r[0] == "S").collect()]
        schema = T.StructType(
            [
                T.StructField("user", T.LongType(), False),
                T.StructField("ts", T.LongType(), False),
                T.StructField("track", T.StringType(), False),
            ]
        )
        listens = spark.createDataFrame(parsed.filter(lambda r: r[0] == "L").map(lambda r: r[1:]), schema)
        spellings = spark.createDataFrame(
            parsed.filter(lambda r: r[0] == "N").map(lambda r: r[1:]),
            "track string, name string, artist string, n long",
        )
        lines = sum(r["lines"] for r in reports)
        rejected: Counter[str] = Counter()
        for r in reports:
            rejected.update(r["rejected"])
            problems.extend(Problem(**p) for p in r["problems"])
            if r["whole"]:
                sources[r["index"]].sha256 = r["sha256"]
                sources[r["index"]].metadata.update(r["metadata"])
                sources[r["index"]].bytes_read = sources[r["index"]].size
        for s in sources:
            if s.sha256 is None:  # a split .listens file: hashed here, as the local engine's manifest lists it
                s.sha256 = sha256_of(s.path)
        timings["parse"] = clock() - t0
        report("count", lines)

        t0 = clock()
        raw_kept = listens.count()
        deduped = listens.dropDuplicates(["user", "ts", "track"]).cache()
        kept = deduped.count()
        counts: dict[str, Any] = {
            "lines_read": lines,
            "lines_kept": kept,
            "duplicates": raw_kept - kept,
            "rejected": {r: int(rejected.get(r, 0)) for r in REASONS},
        }
        if kept == 0:
            reasons = ", ".join(f"{r} {n:,}" for r, n in rejected.most_common() if n)
            raise PriorBuildError(
                f"none of {lines:,} lines is a usable listen with a Spotify track id ({reasons})"
                if lines
                else "no listen line could be read"
            )
        pairs = deduped.groupBy("user", "track").agg(F.count(F.lit(1)).alias("n")).cache()
        totals = pairs.groupBy("track").agg(F.count(F.lit(1)).alias("listeners"), F.sum("n").alias("listens"))
        n_users_all = pairs.select("user").distinct().count()
        n_tracks_all = pairs.select("track").distinct().count()
        keep = pairs
        size = keep.count()
        for _ in range(counting.MAX_FILTER_ROUNDS):
            good_tracks = keep.groupBy("track").count().where(F.col("count") >= options.min_listeners).select("track")
            keep = keep.join(good_tracks, "track")
            good_users = keep.groupBy("user").count().where(F.col("count") >= options.min_user_tracks).select("user")
            keep = keep.join(good_users, "user").localCheckpoint()
            now_size = keep.count()
            if now_size == size:
                break
            size = now_size
        if size == 0:
            raise PriorBuildError(
                f"no track keeps {options.min_listeners} listener(s) among users with {options.min_user_tracks} "
                f"track(s) or more ({kept:,} listens of {n_tracks_all:,} tracks by {n_users_all:,} users were "
                "usable): lower --min-listeners or --min-user-tracks, or give more dumps"
            )
        track_index = _dense_index(spark, keep.select("track").distinct(), "track", "item", Row)
        user_index = _dense_index(spark, keep.select("user").distinct(), "user", "uid", Row)
        cells = (
            keep.join(track_index, "track")
            .join(user_index, "user")
            .select(
                "uid",
                "item",
                F.log2(1.0 + F.least(F.col("n"), F.lit(options.cap)).cast("double")).cast("float").alias("w"),
            )
            .cache()
        )
        n_cells = cells.count()
        n_users = user_index.count()
        n_tracks = track_index.count()
        timings["count"] = clock() - t0
        log.info("prior build (spark): %d users x %d tracks, %d cells", n_users, n_tracks, n_cells)

        t0 = clock()
        report("train", lines)
        factors = max(1, min(options.factors, n_users - 1, n_tracks // 2))
        reg_param = options.regularization / (n_cells / n_users)
        # Spark's confidence is 1 + alpha * rating, implicit's (the local engine's and the fold-in's) is
        # alpha * weight: rating = weight - 1 / alpha gives the same confidence. Weights are >= 1, so the
        # rating stays positive (preference 1) whenever alpha > 1.
        shift = 1.0 / options.alpha if options.alpha > 1.0 else 0.0
        cells = cells.withColumn("r", (F.col("w") - F.lit(shift)).cast("float"))
        als = ALS(
            rank=factors,
            maxIter=options.iterations,
            regParam=reg_param,
            alpha=options.alpha,
            implicitPrefs=True,
            userCol="uid",
            itemCol="item",
            ratingCol="r",
            seed=options.seed,
            nonnegative=False,
            coldStartStrategy="drop",
            numUserBlocks=max(1, min(10, len(units))),
            numItemBlocks=max(1, min(10, len(units))),
            checkpointInterval=10,
        )
        model = als.fit(cells)
        item_rows = model.itemFactors.collect()
        timings["train"] = clock() - t0

        t0 = clock()
        report("write", lines)
        index_rows = track_index.collect()
        track_of = {int(r["item"]): str(r["track"]) for r in index_rows}
        wanted = spark.createDataFrame([(t,) for t in track_of.values()], "track string")
        total_rows = {
            str(r["track"]): (int(r["listeners"]), int(r["listens"])) for r in totals.join(wanted, "track").collect()
        }
        spelled = (
            spellings.join(wanted, "track")
            .groupBy("track", "name", "artist")
            .agg(F.sum("n").alias("count"))
            .withColumn(
                "rank",
                F.row_number().over(W.partitionBy("track").orderBy(F.desc("count"), F.asc("name"), F.asc("artist"))),
            )
            .where(F.col("rank") == 1)
            .collect()
        )
        names = {str(r["track"]): (str(r["name"]), str(r["artist"])) for r in spelled}
        vectors = {track_of[int(r["id"])]: r["features"] for r in item_rows}
        ids = np.array(sorted(vectors), dtype="<U22")
        item_factors = np.array([vectors[t] for t in ids.tolist()], dtype=np.float32).reshape(len(ids), factors)
        counts.update(users=n_users, tracks=int(ids.shape[0]), pairs=n_cells)
        model_info = {
            "algorithm": "als",
            "factors": factors,
            "regularization": options.regularization,
            "alpha": options.alpha,
            "iterations": options.iterations,
            "seed": options.seed,
            "implementation": "Spark MLlib ALS (implicitPrefs=True; regParam scaled per row by its cells; "
            "rating = weight - 1/alpha, so confidence = alpha * weight as implicit's)",
            "spark_reg_param": reg_param,
        }
        manifest = build_manifest("spark", started, options, sources, counts, problems, timings, model_info)
        manifest["spark"] = {"master": master, "version": spark.version, "parse_tasks": len(units)}
        path = write_prior(
            out,
            track_ids=ids,
            item_factors=item_factors,
            listeners=np.array([total_rows[t][0] for t in ids.tolist()], dtype=np.int64),
            listens=np.array([total_rows[t][1] for t in ids.tolist()], dtype=np.int64),
            track_names=[names.get(t, ("", ""))[0] for t in ids.tolist()],
            artist_names=[names.get(t, ("", ""))[1] for t in ids.tolist()],
            manifest=manifest,
        )
        manifest = load_prior(path).manifest
        timings["write"] = clock() - t0
        manifest["timings_s"]["write"] = round(timings["write"], 3)
        log.info("prior build (spark): wrote %s (%d tracks, %d factors)", path, ids.shape[0], factors)
        return BuildSummary(path=path, manifest=manifest, problems=problems)
    finally:
        spark.stop()
        if scratch is not None:
            scratch.cleanup()


def _dense_index(spark: Any, frame: Any, column: str, index: str, row: Any) -> Any:
    """0..n-1 in sorted order of column (zipWithIndex: no single-partition window)."""
    indexed = frame.orderBy(column).rdd.zipWithIndex().map(lambda p: row(**{column: p[0][column], index: int(p[1])}))
    return spark.createDataFrame(indexed).cache()
