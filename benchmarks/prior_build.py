"""Benchmark of `recs prior build`: a synthetic ListenBrainz dump in the real format, each engine timed on it.

The dump (default 20M lines, a fifth with a Spotify track id, as in recent real dumps) is written once
into --dump-dir as `.tar.zst` archives in ListenBrainz's layout (top folder, listens/<year>/<month>.listens,
COPYING, SCHEMA_SEQUENCE, TIMESTAMP) and reused by later runs with the same parameters. Lines look
like real ones: Spotify-importer listens carry `spotify_id` and `origin_url` URLs (some with `?si=`,
some `/intl-xx/`, some URIs) and Spotify's extra keys; other clients' listens carry none. Users have
log-normal activity, tracks Zipf popularity, and a few lines are exact duplicates.

Each engine runs in its own process (`--run-one`), so its peak memory (ru_maxrss, itself and the largest
of its worker processes) and CPU time (itself plus its workers) are its own. Printed: lines/s end to
end, wall per stage (from the artifact's manifest), CPU, peak memory.

    .venv/bin/python benchmarks/prior_build.py [--lines 20000000] [--files 1] [--processes 2]
        [--engines local,spark] [--dump-dir /tmp/recs-prior-bench] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
START_TS = 1_761_955_200  # 2025-11-01
MONTH_S = 30 * 86_400


def _strings(rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray) -> list[str]:
    codes = alphabet[rng.integers(0, alphabet.size, size=(n, length))]
    return [bytes(row).decode("ascii") for row in codes]


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}" for h in _strings(rng, n, 32, HEX)]


WORDS = [
    "love",
    "night",
    "heart",
    "time",
    "light",
    "away",
    "dream",
    "fire",
    "rain",
    "blue",
    "gold",
    "song",
    "road",
    "home",
    "world",
    "dance",
    "wild",
    "city",
    "girl",
    "baby",
    "river",
    "summer",
    "shadow",
    "stone",
    "ghost",
    "electric",
    "golden",
    "silver",
    "broken",
    "midnight",
    "morning",
    "paradise",
    "echo",
]


def _names(rng: np.random.Generator, n: int, words: int) -> list[str]:
    picks = rng.integers(0, len(WORDS), size=(n, words))
    return [" ".join(WORDS[i].capitalize() for i in row[: 1 + int(row[0]) % words]) for row in picks]


def write_dump(folder: Path, lines: int, files: int, seed: int = 7) -> list[Path]:
    """Write the synthetic dump (in `files` archives, listens split between them) and return the paths."""
    rng = np.random.default_rng(seed)
    n_users = max(50, lines // 2_000)
    n_tracks = max(1_000, lines // 40)
    track_ids = _strings(rng, n_tracks, 22, B62)
    msids = _uuids(rng, n_tracks)
    titles = _names(rng, n_tracks, 4)
    n_artists = max(100, n_tracks // 8)
    artists = _names(rng, n_artists, 3)
    artist_of = rng.integers(0, n_artists, size=n_tracks)
    album_ids = _strings(rng, n_artists, 22, B62)
    activity = rng.lognormal(0.0, 1.2, size=n_users)
    activity /= activity.sum()
    spotify_user = rng.random(n_users) < 0.2  # ids come with the client a user submits from
    popularity = 1.0 / np.arange(1, n_tracks + 1) ** 0.9
    popularity /= popularity.sum()
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    per_file = -(-lines // files)
    for f in range(files):
        count = min(per_file, lines - f * per_file)
        top = f"listenbrainz-listens-dump-{2000 + f}-20251201-000000-{'full' if files == 1 else 'incremental'}"
        path = folder / f"{top}.tar.zst"
        users = rng.choice(n_users, size=count, p=activity)
        tracks = rng.choice(n_tracks, size=count, p=popularity)
        stamps = np.sort(START_TS + rng.integers(0, MONTH_S, size=count))
        form = rng.integers(0, 20, size=count)
        dup = rng.random(count) < 0.002
        import zstandard

        cctx = zstandard.ZstdCompressor(level=3, threads=-1)
        with open(path, "wb") as raw, cctx.stream_writer(raw) as zst, tarfile.open(fileobj=zst, mode="w|") as tar:
            for name, data in (
                ("COPYING", b"CC0 1.0 Universal\n"),
                ("SCHEMA_SEQUENCE", b"1"),
                ("TIMESTAMP", b"2025-12-01 00:00:00+00:00"),
            ):
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            months = (stamps - START_TS) // (MONTH_S // 2)  # two listens files, as a month boundary would give
            for m in np.unique(months):
                rows = np.flatnonzero(months == m)
                # a tar member's size comes before its bytes: the lines go to a scratch file first, so a
                # 5 GB listens file never sits in memory
                with tempfile.TemporaryFile(dir=folder) as scratch:
                    for part in np.array_split(rows, max(1, rows.size // 200_000)):
                        buf = io.BytesIO()
                        _write_lines(buf, part, users, tracks, stamps, form, dup, spotify_user, track_ids, msids,
                                     titles, artists, artist_of, album_ids)  # fmt: skip
                        scratch.write(buf.getbuffer())
                    info = tarfile.TarInfo(f"{top}/listens/2025/{11 + int(m)}.listens")
                    info.size = scratch.tell()
                    scratch.seek(0)
                    tar.addfile(info, scratch)
        paths.append(path)
    return paths


def _write_lines(
    out: io.BytesIO, rows: np.ndarray, users: np.ndarray, tracks: np.ndarray, stamps: np.ndarray,
    form: np.ndarray, dup: np.ndarray, spotify_user: np.ndarray, track_ids: list[str], msids: list[str],
    titles: list[str], artists: list[str], artist_of: np.ndarray, album_ids: list[str],
) -> None:  # fmt: skip
    write = out.write
    for r in rows.tolist():
        u, t, ts, k = int(users[r]), int(tracks[r]), int(stamps[r]), int(form[r])
        a = int(artist_of[t])
        head = (
            f'{{"user_id":{u},"user_name":"user_{u}","timestamp":{ts},"track_metadata":{{"artist_name":"{artists[a]}",'
            f'"track_name":"{titles[t]}","release_name":"{titles[(t * 7) % len(titles)]}","additional_info":{{'
        )
        if spotify_user[u]:
            sid = track_ids[t]
            url = (
                f"spotify:track:{sid}"
                if k == 0
                else f"https://open.spotify.com/intl-de/track/{sid}"
                if k == 1
                else f"https://open.spotify.com/track/{sid}?si=9f0c1d2e3b4a5968"
                if k == 2
                else f"https://open.spotify.com/track/{sid}"
            )
            info = (
                f'"duration_ms":{180000 + t % 90000},"music_service":"spotify.com","origin_url":"{url}",'
                f'"recording_msid":"{msids[t]}","release_artist_name":"{artists[a]}","spotify_album_artist_ids":'
                f'["https://open.spotify.com/artist/{album_ids[a]}"],"spotify_album_id":"https://open.spotify.com/album/'
                f'{album_ids[a]}","spotify_artist_ids":["https://open.spotify.com/artist/{album_ids[a]}"],'
                f'"spotify_id":"{url}","submission_client":"listenbrainz","tracknumber":{1 + t % 12}'
            )
        elif k < 8:
            info = (
                f'"duration_ms":{180000 + t % 90000},"media_player":"Navidrome","recording_msid":"{msids[t]}",'
                f'"submission_client":"Navidrome","submission_client_version":"0.53.3"'
            )
        else:
            info = (
                f'"origin_url":"https://www.youtube.com/watch?v={msids[t][:11]}","recording_msid":"{msids[t]}",'
                f'"submission_client":"Web Scrobbler","submission_client_version":"3.9.0","music_service":"youtube.com"'
            )
        line = f'{head}{info}}}}},"recording_msid":"{msids[t]}"}}\n'.encode()
        write(line)
        if dup[r]:
            write(line)


def cached_dump(folder: Path, lines: int, files: int) -> list[Path]:
    """The dump for these parameters, written once (a marker file records it is whole)."""
    where = folder / f"lines{lines}-files{files}"
    done = where / "COMPLETE"
    if done.exists():
        return sorted(where.glob("*.tar.zst"))
    t0 = time.monotonic()
    paths = write_dump(where, lines, files)
    done.write_text("ok\n")
    print(
        f"wrote the dump in {time.monotonic() - t0:.0f} s: {sum(p.stat().st_size for p in paths) / 2**20:,.0f} MiB",
        file=sys.stderr,
    )
    return paths


class _Descendants:
    """Samples this process's descendants in /proc (Spark's JVM and its Python workers are never waited for,
    so getrusage(RUSAGE_CHILDREN) misses them): the largest summed RSS and each one's last CPU time."""

    def __init__(self, every_s: float = 0.5) -> None:
        import threading

        self.peak_kib = 0
        self.cpu_s: dict[int, float] = {}
        self._stop = threading.Event()
        self._every = every_s
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def sample(self) -> None:
        parent: dict[int, int] = {}
        stats: dict[int, list[str]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent[int(entry.name)] = int(fields[1])
            stats[int(entry.name)] = fields
        me = os.getpid()
        rss = 0
        for pid, fields in stats.items():
            p = parent.get(pid)
            while p not in (None, 0, 1, me):
                p = parent.get(p)
            if p != me:
                continue
            self.cpu_s[pid] = (int(fields[11]) + int(fields[12])) / self._tick
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        self.peak_kib = max(self.peak_kib, rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_one(engine: str, dumps: list[Path], out: Path, processes: int) -> dict[str, Any]:
    """One build, in this process; CPU and peak memory are this process's and its workers'.

    The Spark engine runs in local mode with `processes` cores (`local[N]`); its JVM and Python workers
    are sampled from /proc (their peak is the largest sum of their resident sizes at one moment).
    CPU per stage comes from the build's progress ticks (for the local engine, workers count once they
    have exited, at the end of parsing; for Spark, the sampled JVM and workers are not split by stage).
    """
    from recs.usecases.prior.build import BuildOptions, Tick, build_prior

    def cpu_now() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    marks: dict[str, float] = {}

    def tick(t: Tick) -> None:
        marks.setdefault(t.stage, cpu_now())

    options = BuildOptions(processes=processes, min_listeners=3, min_user_tracks=5)
    sampler = _Descendants() if engine == "spark" else None
    start_cpu = cpu_now()
    t0 = time.monotonic()
    if engine == "spark":
        from recs.usecases.prior.spark import build_prior_spark

        summary = build_prior_spark(dumps, out, options, master=f"local[{processes}]", tick=tick)
    else:
        summary = build_prior(dumps, out, options, tick=tick)
    wall = time.monotonic() - t0
    end_cpu = cpu_now()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the first tick of each stage: parse (and count) run until "train", train until "write"
    stage_cpu = {
        "parse_and_count": marks.get("train", end_cpu) - start_cpu,
        "train": marks.get("write", end_cpu) - marks.get("train", end_cpu),
        "write": end_cpu - marks.get("write", end_cpu),
    }
    kids_cpu = kids.ru_utime + kids.ru_stime
    kids_peak = kids.ru_maxrss / 1024
    if sampler is not None:
        sampler.stop()
        kids_cpu = max(kids_cpu, sum(sampler.cpu_s.values()))
        kids_peak = max(kids_peak, sampler.peak_kib / 1024)
    m = summary.manifest
    return {
        "engine": engine,
        "processes": processes,
        "wall_s": wall,
        "cpu_s": me.ru_utime + me.ru_stime + kids_cpu,
        "main_cpu_s": me.ru_utime + me.ru_stime,
        "stage_cpu_s": stage_cpu,
        "peak_mib": me.ru_maxrss / 1024,
        "worker_peak_mib": kids_peak,
        "lines": m["counts"]["lines_read"],
        "kept": m["counts"]["lines_kept"],
        "tracks": m["counts"]["tracks"],
        "users": m["counts"]["users"],
        "stages_s": m["timings_s"],
        "artifact_mib": out.stat().st_size / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=1, help="archives to split the dump into (1: like a full dump)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--engines", default="local", help="comma-separated: local, spark")
    parser.add_argument("--dump-dir", type=Path, default=Path("/tmp/recs-prior-bench"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--run-one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    common = [sys.executable, __file__, "--lines", str(args.lines), "--files", str(args.files),
              "--processes", str(args.processes), "--dump-dir", str(args.dump_dir)]  # fmt: skip
    if not (args.run_one or args.write_only):
        # written by a child: a process started from this one inherits its peak memory (ru_maxrss)
        subprocess.run([*common, "--write-only"], check=True)
    dumps = cached_dump(args.dump_dir, args.lines, args.files)
    if args.write_only:
        return
    if args.run_one:
        print(json.dumps(run_one(args.run_one, dumps, args.out, args.processes)))
        return
    results = []
    for engine in args.engines.split(","):
        out = args.dump_dir / f"bench-{engine}.prior.npz"
        done = subprocess.run(
            [*common, "--run-one", engine, "--out", str(out)], capture_output=True, text=True, check=True
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"results": results, "load": load}, indent=2))
        return
    size = sum(p.stat().st_size for p in dumps)
    print(
        f"dump: {args.lines:,} lines in {args.files} archive(s), {size / 2**20:,.0f} MiB; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for r in results:
        st = r["stages_s"]
        print(
            f"{r['engine']:<6} {r['processes']} proc: {r['lines'] / r['wall_s']:,.0f} lines/s end to end, wall {r['wall_s']:.1f} s "
            f"(parse {st.get('parse', 0):.1f}, count {st.get('count', 0):.1f}, train {st.get('train', 0):.1f}, "
            f"write {st.get('write', 0):.1f}), CPU {r['cpu_s']:.1f} s (main process {r['main_cpu_s']:.1f}; parse and count "
            f"{r['stage_cpu_s']['parse_and_count']:.1f}, {r['lines'] / max(r['stage_cpu_s']['parse_and_count'], 1e-9):,.0f} lines "
            f"per CPU-second; train {r['stage_cpu_s']['train']:.1f}), peak {r['peak_mib']:,.0f} MiB "
            f"(workers {r['worker_peak_mib']:,.0f} MiB); kept {r['kept']:,}, trained {r['users']:,} users x "
            f"{r['tracks']:,} tracks; artifact {r['artifact_mib']:.1f} MiB"
        )


if __name__ == "__main__":
    main()
