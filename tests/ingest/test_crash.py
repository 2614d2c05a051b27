"""The sync killed at 20 random points: rerunning converges to exactly the rows of an uninterrupted run."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recs.core.config import Settings
from recs.core.keys import Secrets
from recs.emulator import EmulatorServer
from recs.storage import Database, migrate
from recs.storage import schema as t
from recs.usecases import ingest

from .conftest import Household, emulator_instance, held_open


class Killed(BaseException):
    """The process died here: nothing after this point runs."""


class MortalDatabase(Database):
    """A database whose process dies at the n-th write: before it begins, or inside it before commit."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writes = 0
        self.kill_at: int | None = None
        self.inside = False
        self.dead = False

    def arm(self, kill_at: int, inside: bool) -> None:
        self.writes, self.kill_at, self.inside, self.dead = 0, kill_at, inside, False

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        self.writes += 1
        if self.dead or (self.writes == self.kill_at and not self.inside):
            self.dead = True
            raise Killed
        with super().write() as conn:
            yield conn
            if self.writes == self.kill_at:
                self.dead = True
                raise Killed  # mid-transaction: rolled back

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        if self.dead:
            raise Killed
        with super().read() as conn:
            yield conn


class AppClock:
    """The app's clock: the emulator's time plus whatever the app waited (lease expiry), so plays stay fixed."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.offset = 0.0

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.server.emulator.now_ms / 1000, tz=UTC) + timedelta(seconds=self.offset)

    def sleep(self, seconds: float) -> None:
        self.offset += seconds


def rows(db: Database) -> dict[str, Any]:
    """Everything a sync stores, by Spotify ids (row ids differ between databases)."""
    with db.read() as conn:
        member = {r.id: r.spotify_id for r in conn.execute(sa.select(t.members))}
        track = {r.id: r.spotify_id for r in conn.execute(sa.select(t.tracks))}
        artist = {r.id: r.spotify_id for r in conn.execute(sa.select(t.artists))}
        plays = sorted(
            (member[r.member_id], r.played_at.isoformat(), track[r.track_id], r.context_uri)
            for r in conn.execute(sa.select(t.plays))
        )
        saved = sorted(
            (member[r.member_id], track[r.track_id], r.added_at.isoformat())
            for r in conn.execute(sa.select(t.saved_tracks))
        )
        followed = sorted(
            (member[r.member_id], artist[r.artist_id]) for r in conn.execute(sa.select(t.followed_artists))
        )
        lists = {r.id: (member[r.member_id], r.spotify_id, r.snapshot_id) for r in conn.execute(sa.select(t.playlists))}
        items = sorted(
            (lists[r.playlist_id], r.position, track[r.track_id]) for r in conn.execute(sa.select(t.playlist_items))
        )
        top = sorted(
            (member[r.member_id], r.kind, r.time_range, r.rank, track.get(r.track_id), artist.get(r.artist_id))
            for r in conn.execute(sa.select(t.top_items))
        )
        gaps = conn.execute(sa.select(sa.func.count()).select_from(t.sync_gaps)).scalar_one()
    return {
        "plays": plays,
        "saved": saved,
        "followed": followed,
        "playlists": sorted(lists.values()),
        "items": items,
        # Snapshots taken at different app times hold the same lists: compare the lists.
        "top": sorted(set(top)),
        "gaps": gaps,
    }


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
def test_killed_twenty_times_then_rerun_gives_exactly_the_rows_of_a_clean_run(
    settings: Settings, secrets: Secrets, tmp_path: Path
) -> None:
    rng = random.Random(20)
    with EmulatorServer(seed=11, members=2, history_days=20, rate_limit_per_30s=None) as server:
        clock = AppClock(server)

        def open_db(name: str, cls: type[Database]) -> Database:
            db = cls(f"sqlite:///{tmp_path / name}")
            migrate.upgrade(db)
            return db

        mortal = open_db("mortal.sqlite3", MortalDatabase)
        clean = open_db("clean.sqlite3", Database)
        try:
            with held_open(mortal), held_open(clean):
                victim = emulator_instance(server, settings, mortal, secrets)
                reference = emulator_instance(server, settings, clean, secrets)
                for instance in (victim, reference):
                    Household(server, instance).join_all()
                assert isinstance(mortal, MortalDatabase)
                kills = 0
                for _ in range(20):
                    mortal.arm(rng.randint(1, 45), inside=rng.random() < 0.5)
                    try:
                        ingest.sync_all(victim, now=clock, sleep=clock.sleep, force=True)
                    except Killed:
                        kills += 1
                        # The dead run still holds its member's sync lease, and this "process" has the
                        # same pid, so the next run waits the lease out, as a restart on another host would.
                        clock.sleep(ingest.SYNC_LEASE.total_seconds() + 1)
                    mortal.dead = False
                    mortal.kill_at = None
                assert kills >= 15  # most random points fell inside a run
                for report in ingest.sync_all(victim, now=clock, sleep=clock.sleep, force=True):
                    assert not report.errors, report.errors
                for report in ingest.sync_all(reference, now=clock, sleep=clock.sleep, force=True):
                    assert not report.errors, report.errors
                got, want = rows(mortal), rows(clean)
                assert got["plays"] and got["saved"] and got["items"]
                for key in want:
                    assert got[key] == want[key], key
        finally:
            mortal.dispose()
            clean.dispose()
