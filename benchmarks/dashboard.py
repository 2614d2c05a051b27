"""Benchmark of the dashboard: 5 members with a year of history, 20 concurrent clients against waitress, p95 per page."""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import random
import resource
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask

from recs.core.config import load_settings
from recs.core.domain import AlbumInfo, ArtistInfo, PlayRow, TrackInfo
from recs.core.keys import Secrets
from recs.storage import Database, migrate
from recs.storage import schema as s
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent
from recs.usecases.instance import Instance
from web import create_app
from web.serving import default_processes, listen, serve

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
MEMBER_PAGES = ["/listening", "/listening?range=all", "/recommendations", "/import", "/settings"]


def build(db: Database, members: int, plays_per_day: int, seed: int) -> list[int]:
    """A household: a shared catalogue of 6,000 tracks by 900 artists, each member with a year of plays."""
    rng = random.Random(seed)
    tracks = [
        TrackInfo(
            spotify_id=f"t{n:021d}",
            name=f"Track {n}",
            artists=(ArtistInfo(f"a{n % 900:021d}", f"Artist {n % 900}"),),
            album=AlbumInfo(f"b{n // 10:021d}", f"Album {n // 10}", image_url=f"https://i.scdn.co/image/{n // 10}"),
            duration_ms=150_000 + (n % 120) * 1000,
        )
        for n in range(6000)
    ]
    ids: list[int] = []
    with db.write() as conn:
        keys = upsert_tracks(conn, tracks)
        track_ids = [keys[t.spotify_id or ""] for t in tracks]
        run_id = int(
            conn.execute(
                s.model_runs.insert().values(
                    started_at=NOW - timedelta(hours=9),
                    finished_at=NOW - timedelta(hours=8),
                    status="succeeded",
                    model_kind="als",
                    metrics={"ndcg@10": 0.2, "recall@10": 0.3},
                    baselines={"popular": {"ndcg@10": 0.1, "recall@10": 0.2}},
                    is_current=True,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    for m in range(members):
        with db.write() as conn:
            member = create_member(
                conn, f"user{m}", f"Member {m}", role="owner" if m == 0 else "member", timezone="Europe/Paris", now=NOW
            )
            for purpose in ("store", "train", "publish"):
                set_consent(conn, member.id, purpose, True, NOW)  # type: ignore[arg-type]
        ids.append(member.id)
        favourites = rng.sample(track_ids, 600)
        plays = []
        for day in range(365):
            for _ in range(rng.randint(plays_per_day // 2, plays_per_day * 3 // 2)):
                pick = rng.choice(favourites) if rng.random() < 0.8 else rng.choice(track_ids)
                at = NOW - timedelta(days=day, seconds=rng.randint(0, 86_399))
                plays.append(PlayRow(at, pick, "export", ms_played=rng.randint(30_000, 240_000)))
        with db.write() as conn:
            insert_plays(conn, member.id, plays)
            for rank, tid in enumerate(rng.sample(track_ids, 100)):
                conn.execute(
                    s.recommendations.insert().values(
                        run_id=run_id,
                        member_id=member.id,
                        mode="discover",
                        rank=rank,
                        track_id=tid,
                        score=1.0,
                        explanation="Because you played Track 1",
                    )
                )
    return ids


def cookie_for(app: object, member_id: int) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return "recs_session=" + str(serializer.dumps({"member_id": member_id}))


def timed_get(conn: http.client.HTTPConnection, page: str, cookie: str) -> tuple[float, str]:
    """(milliseconds, answering server process) of one GET that must answer 200."""
    started = time.perf_counter()
    conn.request("GET", page, headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"{page} answered {response.status}")
    return elapsed, response.getheader("X-Recs-Worker", "?")


def client_loop(
    port: int,
    cookie: str,
    pages: list[str],
    rounds: int,
    out: dict[str, list[float]],
    lock: threading.Lock,
    think_s: float = 0.0,
    seed: int = 0,
    workers: Counter[str] | None = None,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    rng = random.Random(seed)
    if think_s:
        time.sleep(rng.uniform(0, think_s))  # people do not all click at the same instant
    mine: dict[str, list[float]] = defaultdict(list)
    answered_by: Counter[str] = Counter()
    for _ in range(rounds):
        for page in pages:
            elapsed, worker = timed_get(conn, page, cookie)
            mine[page].append(elapsed)
            answered_by[worker] += 1
            if think_s:
                # A person reads the page before the next click (exponential, mean think_s).
                time.sleep(rng.expovariate(1 / think_s))
    conn.close()
    with lock:
        for page, values in mine.items():
            out[page].extend(values)
        if workers is not None:
            workers.update(answered_by)


def serve_child(
    data_dir: str, threads: int, processes: int, session_key: str, token_key: str, sock: socket.socket
) -> None:
    """The dashboard in its own process(es), as `recs serve` runs it (the load generator stays outside)."""
    settings = load_settings(None, {"RECS_INSTANCE__DATA_DIR": data_dir})

    def make_app() -> Flask:
        db = Database(settings.database_url)  # in each server process, after the fork
        return create_app(
            overrides={
                "RECS_INSTANCE": Instance(settings, Secrets(session_key, (token_key,)), db),
                "RECS_CLOCK": lambda: NOW,
            }
        )

    serve(make_app, sock, processes=processes, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--plays-per-day", type=int, default=40)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads per process (recs serve's default)")
    parser.add_argument(
        "--processes", type=int, default=default_processes(), help="server processes (recs serve's default)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-admin", action="store_true", help="leave the owner's /admin out (to measure the member pages alone)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed runs against the same server (figures pooled)")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between a client's requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, {"RECS_INSTANCE__DATA_DIR": str(Path(tmp) / "data")})
        db = Database(settings.database_url)
        migrate.upgrade(db)
        t0 = time.perf_counter()
        members = build(db, args.members, args.plays_per_day, args.seed)
        with db.read() as conn:
            n_plays = conn.execute(s.plays.select().with_only_columns(s.plays.c.id)).all()
        print(f"built {len(members)} members, {len(n_plays):,} plays in {time.perf_counter() - t0:.1f} s")
        secrets = Secrets(session_key="bench-" + "k" * 40, token_keys=(Fernet.generate_key().decode(),))
        db.dispose()
        # The app here only signs session cookies; the one answering runs in the child process.
        app = create_app(overrides={"RECS_INSTANCE": Instance(settings, secrets, db), "RECS_CLOCK": lambda: NOW})
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        children_before = usage.ru_utime + usage.ru_stime
        sock = listen("127.0.0.1", 0)
        port = int(sock.getsockname()[1])
        server = multiprocessing.get_context("fork").Process(
            target=serve_child,
            args=(
                str(Path(tmp) / "data"),
                args.threads,
                args.processes,
                secrets.session_key,
                secrets.token_keys[0],
                sock,
            ),
        )
        server.start()
        sock.close()
        try:
            cold: dict[str, list[float]] = defaultdict(list)
            lock = threading.Lock()
            # Cold: each member's first visit computes their stats, once in every server process (each
            # has its own cache): connections held open land on different processes.
            for i, mid in enumerate(members):
                pages = MEMBER_PAGES + (["/admin"] if i == 0 and not args.no_admin else [])
                held = []
                for _ in range(args.processes):
                    held.append(http.client.HTTPConnection("127.0.0.1", port, timeout=60))
                    for page in pages:
                        cold[page].append(timed_get(held[-1], page, cookie_for(app, mid))[0])
                for opened in held:
                    opened.close()
            results: dict[str, list[float]] = defaultdict(list)
            answered: Counter[str] = Counter()
            runs: list[tuple[int, float]] = []
            own = resource.getrusage(resource.RUSAGE_SELF)
            for _ in range(args.repeat):
                workers: list[threading.Thread] = []
                before = sum(len(v) for v in results.values())
                started = time.perf_counter()
                for c in range(args.clients):
                    mid = members[c % len(members)]
                    pages = MEMBER_PAGES + (["/admin"] if c % len(members) == 0 and not args.no_admin else [])
                    workers.append(
                        threading.Thread(
                            target=client_loop,
                            args=(
                                port,
                                cookie_for(app, mid),
                                pages,
                                args.rounds,
                                results,
                                lock,
                                args.think_ms / 1000,
                                c,
                                answered,
                            ),
                        )
                    )
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                runs.append((sum(len(v) for v in results.values()) - before, time.perf_counter() - started))
            mine = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu_s = mine.ru_utime + mine.ru_stime - own.ru_utime - own.ru_stime
        finally:
            server.terminate()
            server.join()
            db.dispose()
    # CPU time of the server processes (the benchmark's own process and its clients excluded): what a
    # request costs the machine, whatever else was running.
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_s = used.ru_utime + used.ru_stime - children_before
    served = sum(len(v) for v in results.values()) + sum(len(v) for v in cold.values())
    print(f"think time {args.think_ms:.0f} ms, {args.processes} server processes × {args.threads} waitress threads")
    for total, wall in runs:
        print(
            f"{args.clients} clients × {args.rounds} rounds: {total} requests in {wall:.1f} s ({total / wall:.0f} req/s)"
        )
    print("requests per server process:", ", ".join(f"{n}" for _, n in answered.most_common()))
    print(f"server CPU: {1000 * server_cpu_s / served:.2f} ms a request ({served} requests, cold ones included)")
    timed = sum(total for total, _ in runs)
    print(f"load generator CPU (same machine): {1000 * client_cpu_s / timed:.2f} ms a request")
    print(f"{'page':28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cold ms':>8}")
    for page in [p for p in [*MEMBER_PAGES, "/admin"] if results[p]]:
        values = sorted(results[page])
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        cold_ms = statistics.mean(cold[page]) if cold[page] else float("nan")
        print(
            f"{page:28} {len(values):5d} {statistics.median(values):8.1f} {p95:8.1f} {values[-1]:8.1f} {cold_ms:8.1f}"
        )


if __name__ == "__main__":
    main()
