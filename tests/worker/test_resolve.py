"""The daily resolve job looks up a few name-only tracks through the emulator's search, within its allowance."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from recs.core.config import Settings
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.storage.schema import tracks
from recs.usecases.imports import run_import
from recs.usecases.instance import Instance
from recs.usecases.jobs import execute
from tests.publishing.conftest import emulator_instance, sign_in


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    start = datetime.now(UTC).replace(microsecond=0)
    with EmulatorServer(seed=5, members=1, history_days=60, start=start) as server:
        yield server


@pytest.fixture
def instance(settings: Settings, db: Database, emulator: EmulatorServer) -> Instance:
    return emulator_instance(settings, db, emulator, imports=dataclasses.replace(settings.imports, resolve_per_day=4))


def _name_only(instance: Instance) -> int:
    with instance.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(tracks.c.spotify_id.is_(None))).scalar_one())


def test_resolve_job_folds_name_only_tracks_into_spotify_tracks(
    instance: Instance, emulator: EmulatorServer, tmp_path: Path
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, emulator.control.now)
    export = tmp_path / "account.zip"
    export.write_bytes(emulator.control.export_zip(user, package="account"))
    run_import(instance.db, instance.settings, member, [export])
    before = _name_only(instance)
    assert before > 4, "the account-data export should leave names the instance has never seen with an id"
    mark = len(emulator.control.requests())
    outcome = execute(instance, "resolve", "2026-11-25", in_process=True)
    assert outcome.status == "succeeded", outcome.error
    detail = outcome.detail or {}
    assert detail["searched"] == 4  # the daily allowance, never more
    assert detail["resolved"] >= 1
    searches = [r for r in emulator.control.requests(mark) if r["path"] == "/v1/search"]
    assert len(searches) == 4
    assert _name_only(instance) == before - detail["resolved"]
