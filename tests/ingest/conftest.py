"""Fixtures for members and ingestion: an instance on a migrated SQLite database, and a controllable clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from recs.config import Settings
from recs.instance import Instance
from recs.keys import Secrets
from recs.storage import Database


class Clock:
    """A clock the test moves by hand (never sleeps)."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(session_key="s" * 40, token_keys=(Fernet.generate_key().decode(),), client_secret="")


@pytest.fixture
def instance(settings: Settings, db: Database, secrets: Secrets) -> Iterator[Instance]:
    spotify = dataclasses.replace(settings.spotify, redirect_uri="http://127.0.0.1:8000/auth/callback")
    yield Instance(settings=dataclasses.replace(settings, spotify=spotify), secrets=secrets, db=db)
