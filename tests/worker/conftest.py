"""Fixtures for worker tests against the emulator: the emulator over HTTP and an instance pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from recs.core.config import Settings
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.usecases.instance import Instance
from tests.publishing.conftest import emulator_instance


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=11, members=3, history_days=30) as server:
        yield server


@pytest.fixture
def instance(settings: Settings, db: Database, emulator: EmulatorServer) -> Instance:
    """An instance whose Spotify is the emulator (test modules needing a plain instance define their own)."""
    return emulator_instance(settings, db, emulator)


@pytest.fixture
def clock(emulator: EmulatorServer) -> Callable[[], datetime]:
    return emulator.control.now
