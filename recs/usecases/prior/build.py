"""`recs prior build`, local engine: stream dumps through the line parser (several processes), count, filter, train, write.

Stages and what each holds in memory:
- parse: the main process reads sources (zstd + tar in stream mode) into ~1 MiB whole-line chunks and
  hands them to `processes` worker processes (at most two chunks each in flight); each returns the kept
  listens of its chunk as int64 columns plus chunk-local track ids and name counts. The main process
  keeps one growing vocabulary of track ids and the columns: 16 bytes per kept listen.
- count: exact duplicates of (user, timestamp, track) dropped with one lexsort; (user, track) counts.
- filter and train: see recs/usecases/prior/counting.py; implicit's ALS on the CPU through recs.model.
- write: recs/usecases/prior/artifact.py, atomically.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from recs.model import AlsParams, fit_item_factors
from recs.usecases.prior import counting
from recs.usecases.prior.artifact import load_prior, write_prior
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
from recs.usecases.prior.listens import (
    EARLIEST_TIMESTAMP,
    REASONS,
    ChunkResult,
    Window,
    parse_chunk,
    parse_chunks,
    unpack_spelling,
)

log = logging.getLogger("recs.usecases.prior")

LICENCE = {
    "name": "CC0-1.0",
    "source": "ListenBrainz listen dumps, MetaBrainz Foundation",
    "url": "https://listenbrainz.org/data/",
}
MAX_SPELLINGS = 8  # per track: names are for display, memory stays bounded
MAX_PROBLEMS_LISTED = 100
LOG_EVERY_S = 10.0
TICK_EVERY_S = 0.5
# an archive up to this size is decompressed and parsed whole by one worker (a daily incremental: ~200 MB)
WHOLE_ARCHIVE_BYTES = 1 << 30
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


SOLVERS = {
    "exact": "implicit (CPU, exact least squares per row)",
    "cg": "implicit (CPU, conjugate gradient, 3 steps)",
}


class PriorBuildError(Exception):
    """The build cannot produce a prior; the message says why in a sentence."""


@dataclass(frozen=True)
class BuildOptions:
    since: datetime | None = None
    until: datetime | None = None
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    seed: int = 42
    min_listeners: int = 3
    min_user_tracks: int = 5
    cap: int = 20
    processes: int = 0  # 0: one per CPU
    solver: str = "exact"  # exact (Cholesky, as Spark's ALS) or cg (implicit's conjugate gradient, 3 steps)


class Tick(NamedTuple):
    """Progress of the build: the stage, lines read so far, source bytes read of the total, seconds since start."""

    stage: str
    lines: int
    bytes_done: int
    bytes_total: int
    elapsed: float
    peak_mib: float = 0.0

    def line(self) -> str:
        rate = self.lines / self.elapsed if self.elapsed > 0 else 0.0
        done = f"{self.bytes_done / 2**20:,.0f}/{self.bytes_total / 2**20:,.0f} MiB"
        if self.bytes_total:
            done += f" ({100 * self.bytes_done / self.bytes_total:.0f} %)"
        return (
            f"{self.stage}: {self.lines:,} lines, {rate:,.0f} lines/s, {done}, {self.elapsed:.0f} s, "
            f"peak memory {self.peak_mib:,.0f} MiB"
        )


@dataclass
class BuildSummary:
    path: Path
    manifest: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


class _Collector:
    """Merges chunk results: one track vocabulary, kept-listen columns, name spellings, counts."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.users: list[npt.NDArray[np.int64]] = []
        self.keys: list[npt.NDArray[np.int64]] = []  # counting.listen_keys: (timestamp, track) in one int64
        # per track: the first spelling seen and its listens; further spellings only where they occur
        self.first: list[str | None] = []
        self.first_n = array("q")
        self.others: dict[int, dict[str, int]] = {}
        self.lines = 0
        self.rejected: Counter[str] = Counter()

    def add(self, r: ChunkResult) -> None:
        self.lines += r.lines
        self.rejected.update(r.rejected)
        if not r.track_ids:
            return
        vocab = self.vocab
        before = len(vocab)
        glob = [vocab.setdefault(t, len(vocab)) for t in r.track_ids]
        if len(vocab) > before:
            self.first.extend([None] * (len(vocab) - before))
            self.first_n.extend([0] * (len(vocab) - before))
        self.users.append(r.users)
        self.keys.append(
            counting.listen_keys(r.timestamps, np.array(glob, dtype=np.int32)[r.tracks], EARLIEST_TIMESTAMP)
        )
        first, first_n, others = self.first, self.first_n, self.others
        for (code, spelling), n in r.names.items():
            g = glob[code]
            seen = first[g]
            if seen is None:
                first[g] = spelling
                first_n[g] = n
            elif seen == spelling:
                first_n[g] += n
            else:
                more = others.get(g)
                if more is None:
                    others[g] = {spelling: n}
                elif spelling in more or len(more) < MAX_SPELLINGS - 1:
                    more[spelling] = more.get(spelling, 0) + n

    def columns(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Users and listen keys of every kept listen; the collector lets go of its parts."""
        users = np.concatenate(self.users) if self.users else np.zeros(0, dtype=np.int64)
        self.users.clear()
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0, dtype=np.int64)
        self.keys.clear()
        return users, keys

    def name_of(self, g: int) -> tuple[str, str]:
        """The spelling seen most often (ties: the smallest, so the result does not depend on chunk order)."""
        seen = self.first[g]
        if seen is None:
            return "", ""
        candidates = [(seen, self.first_n[g]), *self.others.get(g, {}).items()]
        best = min(candidates, key=lambda kv: (-kv[1], unpack_spelling(kv[0])))
        return unpack_spelling(best[0])


class _Progress:
    def __init__(self, total: int, tick: Callable[[Tick], None] | None, clock: Callable[[], float]) -> None:
        self.total = total
        self.done = 0
        self.tick = tick
        self.clock = clock
        self.start = clock()
        self.last_tick = self.last_log = self.start

    def bytes(self, n: int) -> None:
        self.done += n

    def report(self, stage: str, lines: int, force: bool = False) -> None:
        now = self.clock()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        t = Tick(stage, lines, self.done, self.total, now - self.start, peak)
        if self.tick is not None and (force or now - self.last_tick >= TICK_EVERY_S):
            self.last_tick = now
            self.tick(t)
        if force or now - self.last_log >= LOG_EVERY_S:
            self.last_log = now
            log.info("prior build %s", t.line())


def _epoch(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


@dataclass
class UnitResult:
    """What a worker gave for one whole source or one byte range of a .listens file."""

    index: int
    whole: bool
    bytes: int
    result: ChunkResult
    sha256: str | None
    metadata: dict[str, str]
    problems: list[Problem]


def parse_unit(unit: Unit, window: Window) -> UnitResult:
    """In a worker: read (decompressing it there) and parse one source, or one byte range of a .listens file."""
    index, path, name, kind, start, end = unit
    problems: list[Problem] = []
    if end < 0:
        source = Source(path=Path(path), name=name, kind=kind, size=0)
        result = parse_chunks(read_chunks(source, problems), window)
        return UnitResult(index, True, source.bytes_read, result, source.sha256, source.metadata, problems)
    try:
        result = parse_chunks(range_chunks(path, start, end), window)
    except OSError as exc:
        problems.append(Problem(name, "unreadable", exc.strerror or str(exc)))
        result = ChunkResult()
    return UnitResult(index, False, end - start, result, None, {}, problems)


def plan_local(sources: list[Source], processes: int, split_bytes: int = SPLIT_BYTES) -> tuple[list[Unit], set[int]]:
    """The units for worker processes, and the indices of the sources the main process streams to them in chunks.

    Workers decompress and parse whole archives themselves when there are at least as many archives
    as workers and each is small enough that its kept listens fit a worker's memory (daily
    incrementals); a larger archive, or a lone one (a full dump), is decompressed by the main process
    and handed out in chunks so that every worker parses a share of it. Extracted .listens files are
    read by the workers in byte ranges.
    """
    archives = [i for i, s in enumerate(sources) if s.kind == "tar.zst" and s.size <= WHOLE_ARCHIVE_BYTES]
    whole = set(archives) if len(archives) >= processes else set()
    streamed = {i for i, s in enumerate(sources) if s.kind == "tar.zst" and i not in whole}
    units = [u for u in plan_units(sources, split_bytes) if u[0] not in streamed]
    return units, streamed


def _parse(
    sources: list[Source],
    problems: list[Problem],
    window: Window,
    processes: int,
    progress: _Progress,
    split_bytes: int = SPLIT_BYTES,
) -> _Collector:
    collector = _Collector()
    keep_large_blocks()
    if processes <= 1:
        for source in sources:
            log.info("reading %s (%s, %d bytes)", source.name, source.kind, source.size)
            for chunk in read_chunks(source, problems, progress.bytes):
                collector.add(parse_chunk(chunk, window))
                progress.report("parse", collector.lines)
        return collector
    units, streamed = plan_local(sources, processes, split_bytes)
    unit_problems: dict[int, list[Problem]] = {}
    # split .listens files are hashed by a thread of this process while the workers parse them
    split = [s for i, s in enumerate(sources) if s.kind == "listens" and i not in streamed]
    hasher = threading.Thread(target=_hash_all, args=(split,), name="hash-listens", daemon=True)
    hasher.start()
    with ProcessPoolExecutor(
        max_workers=processes, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(os.getpid(),)
    ) as pool:
        in_flight: deque[Future[Any]] = deque()

        def take(future: Future[Any]) -> None:
            got = future.result()
            if isinstance(got, UnitResult):
                source = sources[got.index]
                unit_problems.setdefault(got.index, []).extend(got.problems)
                if got.whole:
                    source.sha256, source.bytes_read = got.sha256, got.bytes
                    source.metadata.update(got.metadata)
                else:
                    source.bytes_read += got.bytes
                progress.bytes(got.bytes)
                got = got.result
            collector.add(got)
            progress.report("parse", collector.lines)

        def submit(future: Future[Any]) -> None:
            in_flight.append(future)
            while len(in_flight) >= 2 * processes or (in_flight and in_flight[0].done()):
                take(in_flight.popleft())

        for unit in units:
            log.info("parsing %s (%s) in a worker", unit[2], "whole" if unit[5] < 0 else f"bytes {unit[4]}-{unit[5]}")
            submit(pool.submit(parse_unit, unit, window))
        for i in sorted(streamed):
            source = sources[i]
            log.info("reading %s (%s, %d bytes)", source.name, source.kind, source.size)
            for chunk in read_chunks(source, problems, progress.bytes):
                submit(pool.submit(parse_chunk, chunk, window))
        while in_flight:
            take(in_flight.popleft())
    hasher.join()
    for i in sorted(unit_problems):
        problems.extend(unit_problems[i])
    return collector


def _hash_all(sources: list[Source]) -> None:
    for source in sources:
        try:
            source.sha256 = sha256_of(source.path)
        except OSError:
            source.sha256 = None


def keep_large_blocks() -> None:
    """Ask glibc to serve the 1 MiB chunk buffers from the heap and keep freed ones for reuse.

    By default each one is a fresh mmap, unmapped when freed, and the page faults of touching it again
    cost more system time than decompressing it (measured: 2.0 s against 0.06 s of system time for 4M
    dump lines). Elsewhere than glibc this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 128 << 20)
    except (OSError, AttributeError):
        pass


def _worker_init(parent: int) -> None:
    keep_large_blocks()
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """In a worker: leave when the build process is gone (killed), rather than wait forever for work."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def build_manifest(
    engine: str,
    started: datetime,
    options: BuildOptions,
    sources: list[Source],
    counts: dict[str, Any],
    problems: list[Problem],
    timings: dict[str, float],
    model: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of docs/prior.md for a build by either engine (the artifact adds format and checksum)."""
    return {
        "engine": engine,
        "created_at": started.isoformat(timespec="seconds"),
        "licence": LICENCE,
        "sources": [s.manifest() for s in sources],
        "window": {
            "since": options.since.isoformat() if options.since else None,
            "until": options.until.isoformat() if options.until else None,
        },
        "counts": {**counts, "problems": dict(Counter(p.kind for p in problems))},
        "filters": {"min_listeners": options.min_listeners, "min_user_tracks": options.min_user_tracks},
        "weighting": {"scheme": counting.WEIGHTING_SCHEME, "cap": options.cap},
        "model": model,
        "problems": [p.line() for p in problems[:MAX_PROBLEMS_LISTED]],
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }


def build_prior(
    paths: list[Path],
    out: Path,
    options: BuildOptions = BuildOptions(),
    *,
    tick: Callable[[Tick], None] | None = None,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    split_bytes: int = SPLIT_BYTES,
) -> BuildSummary:
    """Build a prior from the dumps at *paths* and write it at *out*; PriorBuildError when nothing usable is found.

    With several processes, extracted .listens files are parsed in byte ranges of `split_bytes`.
    """
    started = now or datetime.now(UTC)
    processes = options.processes or (os.cpu_count() or 1)
    if options.solver not in SOLVERS:
        raise PriorBuildError(f"unknown solver {options.solver!r}: use one of {', '.join(SOLVERS)}")
    sources, problems = discover([Path(p) for p in paths])
    if not sources:
        raise PriorBuildError(
            "no dump to read: " + "; ".join(p.line() for p in problems) if problems else "no dump given"
        )
    progress = _Progress(sum(s.size for s in sources), tick, clock)
    window = Window(since=_epoch(options.since), until=_epoch(options.until), latest=int(started.timestamp()) + 86_400)
    timings: dict[str, float] = {}

    t0 = clock()
    collector = _parse(sources, problems, window, processes, progress, split_bytes)
    progress.report("parse", collector.lines, force=True)
    timings["parse"] = clock() - t0
    for p in problems:
        log.warning("prior build: %s", p.line())

    t0 = clock()
    n_vocab = len(collector.vocab)
    users, tracks, duplicates = counting.dedupe(*collector.columns())
    counts: dict[str, Any] = {
        "lines_read": collector.lines,
        "lines_kept": int(users.shape[0]),
        "duplicates": duplicates,
        "rejected": {r: int(collector.rejected.get(r, 0)) for r in REASONS},
    }
    if users.shape[0] == 0:
        raise PriorBuildError(_nothing_usable(collector, problems))
    pairs = counting.pair_counts(users, tracks, n_vocab)
    del users, tracks
    listeners_all, listens_all = counting.track_totals(pairs)
    keep = counting.filter_pairs(pairs, options.min_listeners, options.min_user_tracks)
    if not keep.any():
        raise PriorBuildError(
            f"no track keeps {options.min_listeners} listener(s) among users with {options.min_user_tracks} "
            f"track(s) or more ({counts['lines_kept']:,} listens of {n_vocab:,} tracks by "
            f"{pairs.user_ids.shape[0]:,} users were usable): lower --min-listeners or --min-user-tracks, "
            "or give more dumps"
        )
    # Columns in track-id order and rows in user-id order: the same dump gives the same matrix whatever
    # the order in which worker processes returned their chunks.
    ids_by_vocab = np.array(list(collector.vocab), dtype="<U22")
    trained = counting.training_matrix(pairs, keep, options.cap)
    order = np.argsort(ids_by_vocab[trained.tracks], kind="stable")
    columns = trained.tracks[order]
    matrix = trained.matrix[:, order].tocsr()
    counts.update(users=trained.users, tracks=int(columns.shape[0]), pairs=int(matrix.nnz))
    timings["count"] = clock() - t0
    log.info(
        "prior build: %d users x %d tracks, %d cells (of %d users, %d tracks before filters)",
        trained.users,
        columns.shape[0],
        matrix.nnz,
        pairs.user_ids.shape[0],
        n_vocab,
    )

    t0 = clock()
    progress.report("train", collector.lines, force=True)
    params = AlsParams(
        factors=options.factors,
        regularization=options.regularization,
        alpha=options.alpha,
        iterations=options.iterations,
    )
    item_factors, used = fit_item_factors(
        matrix, params, seed=options.seed, threads=processes, exact=options.solver == "exact"
    )
    timings["train"] = clock() - t0

    t0 = clock()
    progress.report("write", collector.lines, force=True)
    names = [collector.name_of(int(g)) for g in columns]
    model = {
        "algorithm": "als",
        "factors": used.factors,
        "regularization": used.regularization,
        "alpha": used.alpha,
        "iterations": used.iterations,
        "seed": options.seed,
        "implementation": SOLVERS[options.solver],
    }
    manifest = build_manifest("local", started, options, sources, counts, problems, timings, model)
    path = write_prior(
        out,
        track_ids=ids_by_vocab[columns],
        item_factors=item_factors,
        listeners=listeners_all[columns],
        listens=listens_all[columns],
        track_names=[n[0] for n in names],
        artist_names=[n[1] for n in names],
        manifest=manifest,
    )
    manifest = load_prior(path).manifest  # as written, and proof that it loads
    timings["write"] = clock() - t0
    manifest["timings_s"]["write"] = round(timings["write"], 3)
    log.info("prior build: wrote %s (%d tracks, %d factors)", path, columns.shape[0], item_factors.shape[1])
    return BuildSummary(path=path, manifest=manifest, problems=problems)


def _nothing_usable(collector: _Collector, problems: list[Problem]) -> str:
    if collector.lines == 0:
        why = "; ".join(p.line() for p in problems[:3]) if problems else "the dumps hold no listens file or lines"
        return f"no listen line could be read ({why})"
    reasons = ", ".join(f"{r} {n:,}" for r, n in collector.rejected.most_common() if n)
    return f"none of {collector.lines:,} lines is a usable listen with a Spotify track id ({reasons})"
