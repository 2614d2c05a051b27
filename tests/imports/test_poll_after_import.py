"""An import followed by a poll of recently played stores each play once, though the two clocks differ by a second."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from recs.core.config import Settings
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.storage.schema import plays
from recs.usecases.imports import run_import
from recs.usecases.ingest import sync_member
from recs.usecases.instance import Instance
from tests.publishing.conftest import emulator_instance, sign_in


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    start = datetime.now(UTC).replace(microsecond=0)
    with EmulatorServer(seed=3, members=1, history_days=20, start=start, rate_limit_per_30s=None) as server:
        yield server


@pytest.fixture
def instance(settings: Settings, db: Database, emulator: EmulatorServer) -> Instance:
    return emulator_instance(settings, db, emulator)


def test_polled_plays_already_in_the_export_are_not_stored_twice(
    instance: Instance, emulator: EmulatorServer, tmp_path: Path
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, emulator.control.now)
    export = tmp_path / "export.zip"
    export.write_bytes(emulator.control.export_zip(user))
    report = run_import(instance.db, instance.settings, member, [export])
    assert report.plays_imported > 50
    sync = sync_member(instance, member, now=emulator.control.now, force=True)
    assert not sync.errors, sync.errors
    with instance.db.read() as conn:
        rows = conn.execute(
            sa.select(plays.c.track_id, plays.c.played_at, plays.c.source)
            .where(plays.c.member_id == member)
            .order_by(plays.c.track_id, plays.c.played_at)
        ).all()
    tolerance = timedelta(seconds=instance.settings.imports.dedupe_tolerance_s)
    doubles = [
        (a, b)
        for a, b in itertools.pairwise(rows)
        if a.track_id == b.track_id and b.played_at - a.played_at <= tolerance and a.source != b.source
    ]
    assert doubles == [], f"{len(doubles)} plays stored from both the export and the API"
    assert len(rows) == report.plays_imported + sync.new_plays
