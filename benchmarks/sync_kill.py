"""Benchmark: `recs sync` killed with SIGKILL at random moments, then rerun; checks it converges to a clean run's rows.

Run: .venv/bin/python benchmarks/sync_kill.py [--kills 20] [--members 5] [--seed 1]
Real processes and real kills (the test suite simulates kills in-process, in tests/ingest/test_crash.py).
Prints each kill's moment, the rows of both databases, and exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from recs.emulator import EmulatorServer
from recs.storage import schema as t
from recs.usecases import accounts
from recs.usecases.instance import Instance, init_instance, load, open_instance


def write_config(folder: Path, server: EmulatorServer) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[instance]\ndata_dir = "{folder / "data"}"\n'
        f'[spotify]\nclient_id = "{server.client_id}"\napi_base_url = "{server.api_base_url}"\n'
        f'accounts_base_url = "{server.accounts_base_url}"\nredirect_uri = "http://127.0.0.1:8000/auth/callback"\n'
    )
    return config


def join_household(instance: Instance, server: EmulatorServer) -> None:
    control = server.control
    users = [m["user_id"] for m in control.members() if m["allowlisted"]]

    def now() -> datetime:
        return datetime.now(UTC)

    owner: int | None = None
    for user in users:
        if owner is not None:
            accounts.create_invite(instance, by_member_id=owner, now=now, spotify_id=user)
        start = accounts.begin_sign_in(instance, now)
        q = {k: v[0] for k, v in parse_qs(urlsplit(start.authorize_url).query).items()}
        location = control.authorize(
            q["client_id"], q["redirect_uri"], q["scope"], q["state"], code_challenge=q["code_challenge"], user_id=user
        )
        back = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        result = accounts.complete_sign_in(instance, state=back["state"], code=back["code"], error=None, now=now)
        owner = owner or result.member.id
        accounts.set_consent(instance, result.member.id, "store", True, now)


def rows(instance: Instance) -> dict[str, Any]:
    with instance.db.read() as conn:
        member = {r.id: r.spotify_id for r in conn.execute(sa.select(t.members))}
        track = {r.id: r.spotify_id for r in conn.execute(sa.select(t.tracks))}
        artist = {r.id: r.spotify_id for r in conn.execute(sa.select(t.artists))}
        lists = {r.id: (member[r.member_id], r.spotify_id, r.snapshot_id) for r in conn.execute(sa.select(t.playlists))}
        return {
            "plays": sorted(
                (member[r.member_id], r.played_at.isoformat(), track[r.track_id])
                for r in conn.execute(sa.select(t.plays))
            ),
            "saved": sorted(
                (member[r.member_id], track[r.track_id], str(r.added_at))
                for r in conn.execute(sa.select(t.saved_tracks))
            ),
            "followed": sorted(
                (member[r.member_id], artist[r.artist_id]) for r in conn.execute(sa.select(t.followed_artists))
            ),
            "playlist_items": sorted(
                (lists[r.playlist_id], r.position, track[r.track_id]) for r in conn.execute(sa.select(t.playlist_items))
            ),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    recs = str(Path(sys.executable).with_name("recs"))
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorServer(
            seed=args.seed,
            members=args.members,
            history_days=30,
            start=datetime.now(UTC).replace(microsecond=0),
            # The emulated clock stands still here: its 30 s and 24 h windows would never reopen.
            quota_per_day=None,
            rate_limit_per_30s=None,
        ) as server,
    ):
        instances = {}
        envs = {}
        for name in ("killed", "clean"):
            folder = Path(tmp) / name
            folder.mkdir()
            config = write_config(folder, server)
            env = {**os.environ, "RECS_CONFIG": str(config), "RECS_SECRETS__CLIENT_SECRET": server.client_secret}
            init_instance(load(str(config), env), env)
            instances[name] = open_instance(load(str(config), env), env)
            envs[name] = env
            join_household(instances[name], server)
        # Time one clean run to place the kills inside a run.
        started = time.monotonic()
        subprocess.run([recs, "sync", "--force"], env=envs["clean"], check=True, capture_output=True)
        full = time.monotonic() - started
        print(f"a full sync of {args.members} members takes {full:.2f} s in a fresh process")
        killed = 0
        for i in range(args.kills):
            proc = subprocess.Popen(
                [recs, "sync", "--force"], env=envs["killed"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            delay = rng.uniform(0.1, full)
            try:
                proc.wait(timeout=delay)
                outcome = "finished first"
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
                outcome = "killed"
            print(f"run {i + 1:2d}: {outcome} at {delay:.2f} s")
        final = subprocess.run(
            [recs, "sync", "--force"], env=envs["killed"], capture_output=True, text=True, timeout=300
        )
        print(final.stdout.strip())
        got, want = rows(instances["killed"]), rows(instances["clean"])
        for instance in instances.values():
            instance.close()
    same = True
    for key in want:
        ok = got[key] == want[key]
        same &= ok
        print(
            f"{key:15s} killed run {len(got[key]):6d} rows, clean run {len(want[key]):6d} rows: {'same' if ok else 'DIFFERENT'}"
        )
    print(f"{killed} of {args.kills} runs killed; converged: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
