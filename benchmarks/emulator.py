"""Benchmark of the Spotify emulator: world generation, advancing the clock, and Web API throughput over HTTP.

Run: .venv/bin/python benchmarks/emulator.py [--members 5] [--history-days 365] [--requests 500]
"""

from __future__ import annotations

import argparse
import statistics
import time

import requests

from recs.emulator import Emulator, EmulatorServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--history-days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    started = time.perf_counter()
    world = Emulator(0, args.members, history_days=args.history_days)
    plays = sum(len(p) for p in world.household.plays.values())
    print(
        f"generate {args.members} members x {args.history_days} days: {time.perf_counter() - started:.3f} s, {plays} plays"
    )
    for days in (30, 365):
        started = time.perf_counter()
        added = world.advance(days * 86_400)
        print(f"advance {days} days: {time.perf_counter() - started:.3f} s, {added} new visible plays")

    with EmulatorServer(seed=0, members=args.members, quota_per_day=None, rate_limit_per_30s=None) as server:
        user = server.control.members()[0]["user_id"]
        headers = {"Authorization": f"Bearer {server.control.sign_in(user)['access_token']}"}
        with requests.Session() as http:
            for path in (
                "me",
                "me/player/recently-played?limit=50",
                "me/tracks?limit=50",
                "me/top/tracks?time_range=long_term&limit=50",
            ):
                timings = []
                for _ in range(args.requests // 4):
                    t0 = time.perf_counter()
                    http.get(server.api_base_url + path, headers=headers, timeout=10).raise_for_status()
                    timings.append(time.perf_counter() - t0)
                timings.sort()
                p95 = timings[int(len(timings) * 0.95) - 1]
                print(f"GET /v1/{path}: median {statistics.median(timings) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
        started = time.perf_counter()
        truth = server.control.ground_truth()
        print(f"ground truth ({len(truth['plays'])} plays): {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
