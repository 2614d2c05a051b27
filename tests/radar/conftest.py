"""Fixtures for Release Radar: a small household signed in to the emulator, its library synced into recs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from recs.core.config import Settings
from recs.core.keys import Secrets
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.usecases import ingest
from tests.ingest.conftest import Household, emulator_instance, held_open


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(session_key="s" * 40, token_keys=(Fernet.generate_key().decode(),), client_secret="")


@pytest.fixture
def home(settings: Settings, db: Database, secrets: Secrets) -> Iterator[Household]:
    """Two members of the emulator (seed 5, 60 days of history) signed in, consenting, their library synced."""
    with held_open(db), EmulatorServer(seed=5, members=2, history_days=60) as server:
        h = Household(server, emulator_instance(server, settings, db, secrets))
        h.join_all()
        ingest.sync_all(h.instance, now=h.now, sleep=h.sleep, force=True)
        yield h
