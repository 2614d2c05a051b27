"""Benchmark: import a synthetic 10-year extended streaming history (~150,000 rows in 15 files); prints time and peak RSS.

Run: .venv/bin/python benchmarks/import_export.py [--rows 150000] [--files 15] [--twice]
Each run happens in a fresh child process so its peak RSS is the import's alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import string
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261125


def _track_uri(rng: random.Random) -> str:
    return "spotify:track:" + "".join(rng.choices(string.ascii_letters + string.digits, k=22))


def generate(folder: Path, rows: int, files: int, seed: int = SEED) -> None:
    """Write *rows* extended-history rows over ten years into *files* JSON files, shuffled within each file."""
    rng = random.Random(seed)
    n_tracks = max(rows // 6, 10)
    catalogue = [
        (_track_uri(rng), f"Track {i}", f"Artist {rng.randrange(n_tracks // 8 + 1)}", f"Album {i // 10}")
        for i in range(n_tracks)
    ]
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(n_tracks)]  # Zipf-like taste
    start = datetime(2016, 1, 1, tzinfo=UTC)
    span = timedelta(days=3652).total_seconds()
    times = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(rows))
    picks = rng.choices(catalogue, weights=weights, k=rows)
    per_file = -(-rows // files)
    for index in range(files):
        chunk = []
        for ts, (uri, name, artist, album) in zip(
            times[index * per_file : (index + 1) * per_file],
            picks[index * per_file : (index + 1) * per_file],
            strict=True,
        ):
            ms = rng.randrange(1000, 29000) if rng.random() < 0.3 else rng.randrange(30000, 300000)
            skipped = ms < 30000 or rng.random() < 0.05
            chunk.append(
                {
                    "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "platform": "android",
                    "ms_played": ms,
                    "conn_country": "DE",
                    "ip_addr": None,
                    "master_metadata_track_name": name,
                    "master_metadata_album_artist_name": artist,
                    "master_metadata_album_album_name": album,
                    "spotify_track_uri": uri,
                    "episode_name": None,
                    "episode_show_name": None,
                    "spotify_episode_uri": None,
                    "audiobook_title": None,
                    "audiobook_uri": None,
                    "audiobook_chapter_uri": None,
                    "audiobook_chapter_title": None,
                    "reason_start": "trackdone",
                    "reason_end": "fwdbtn" if skipped else "trackdone",
                    "shuffle": rng.random() < 0.4,
                    "skipped": skipped,
                    "offline": False,
                    "offline_timestamp": int(ts.timestamp()),
                    "incognito_mode": rng.random() < 0.01,
                }
            )
        rng.shuffle(chunk)  # Spotify's files are not sorted by ts
        year = chunk[0]["ts"][:4] if chunk else "2016"
        name = f"Streaming_History_Audio_{year}_{index}.json"
        (folder / "Spotify Extended Streaming History").mkdir(exist_ok=True)
        (folder / "Spotify Extended Streaming History" / name).write_text(json.dumps(chunk), encoding="utf-8")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(folder: str, data_dir: str, runs: int, out: Any) -> None:
    from recs.core.config import load_settings
    from recs.storage import Database, migrate
    from recs.storage.members import create_member, set_consent
    from recs.usecases.imports import run_import

    settings = load_settings(None, {"RECS_INSTANCE__DATA_DIR": data_dir})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    with db.write() as conn:
        member = create_member(conn, "bench", "Bench")
        set_consent(conn, member.id, "store", True)
    results = []
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), _cpu()
        report = run_import(db, settings, member.id, [Path(folder)])
        wall, cpu = time.perf_counter() - started, _cpu() - cpu_before
        results.append(
            (
                wall,
                cpu,
                report.rows_read,
                report.plays_imported,
                report.duplicate_plays,
                report.short_streams_imported,
                report.skipped,
            )
        )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    db.dispose()
    out.send((results, peak_kb))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--files", type=int, default=15)
    parser.add_argument("--twice", action="store_true", help="import the same folder again (the idempotent path)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        t0 = time.perf_counter()
        generate(folder, args.rows, args.files)
        size = sum(p.stat().st_size for p in folder.rglob("*.json"))
        print(
            f"generated {args.rows} rows in {args.files} files, {size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s"
        )
        ctx = multiprocessing.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(str(folder), str(Path(tmp) / "data"), 2 if args.twice else 1, sender))
        proc.start()
        results, peak_kb = receiver.recv()
        proc.join()
        for i, (wall, cpu, rows, plays, dups, short, skipped) in enumerate(results, 1):
            print(
                f"import {i}: {wall:.2f} s wall, {cpu:.2f} s CPU, {rows} rows read, {plays} plays added, "
                f"{dups} duplicates, {short} short streams added, skipped {skipped}"
            )
        # The machine is shared: CPU time is the steadier figure when others are busy.
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"peak RSS of the importing process: {peak_kb / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
