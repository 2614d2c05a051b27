"""Fixtures for members and ingestion: an instance on a migrated SQLite database, and a controllable clock."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet

from recs.core.config import Settings
from recs.core.domain import Member
from recs.core.keys import Secrets
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.usecases import accounts
from recs.usecases.instance import Instance


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


# --- the emulator ------------------------------------------------------------------------------


class Household:
    """An emulator served over HTTP, an instance pointed at it, and helpers to sign members in."""

    def __init__(self, server: EmulatorServer, instance: Instance) -> None:
        self.server = server
        self.control = server.control
        self.instance = instance
        self.users = [m["user_id"] for m in self.control.members()]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.server.emulator.now_ms / 1000, tz=UTC)

    def sleep(self, seconds: float) -> None:
        """The worker's waits move the emulated clock instead of sleeping."""
        self.server.emulator.advance(seconds)

    def callback(self, user_id: str, invite_code: str | None = None) -> dict[str, str]:
        """Begin sign-in, let the emulator approve it for *user_id*; returns the callback's query."""
        start = accounts.begin_sign_in(self.instance, self.now, invite_code=invite_code)
        query = {k: v[0] for k, v in parse_qs(urlsplit(start.authorize_url).query).items()}
        location = self.control.authorize(
            query["client_id"],
            query["redirect_uri"],
            query["scope"],
            query["state"],
            code_challenge=query["code_challenge"],
            user_id=user_id,
        )
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def sign_in(self, user_id: str, invite_code: str | None = None, consent: bool = True) -> Member:
        q = self.callback(user_id, invite_code)
        result = accounts.complete_sign_in(
            self.instance, state=q.get("state"), code=q.get("code"), error=q.get("error"), now=self.now
        )
        if consent:
            for purpose in ("store", "train", "publish"):
                accounts.set_consent(self.instance, result.member.id, purpose, True, self.now)  # type: ignore[arg-type]
        return result.member

    def join_all(self, n: int | None = None) -> list[Member]:
        """The first user becomes owner; the others join by invites naming their account."""
        users = self.users[: n or len(self.users)]
        owner = self.sign_in(users[0])
        out = [owner]
        for user in users[1:]:
            accounts.create_invite(self.instance, by_member_id=owner.id, now=self.now, spotify_id=user)
            out.append(self.sign_in(user))
        return out


def emulator_instance(server: EmulatorServer, settings: Settings, db: Database, secrets: Secrets) -> Instance:
    spotify = dataclasses.replace(
        settings.spotify,
        client_id=server.client_id,
        api_base_url=server.api_base_url,
        accounts_base_url=server.accounts_base_url,
        redirect_uri="http://127.0.0.1:8000/auth/callback",
        # Generous: a 2 s limit timed out now and then when the machine ran at load 20 (tests that test
        # timeouts set their own short limit).
        request_timeout_s=10.0,
    )
    return Instance(
        settings=dataclasses.replace(settings, spotify=spotify),
        secrets=dataclasses.replace(secrets, client_secret=server.client_secret),
        db=db,
    )


@contextmanager
def held_open(db: Database) -> Iterator[None]:
    """One idle connection held open: otherwise every short transaction closes the last connection,
    and SQLite checkpoints (fsync) and deletes the WAL each time, which dominates long simulations."""
    keeper = sqlite3.connect(str(db.engine.url.database))
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # attaches it to the WAL
    try:
        yield
    finally:
        keeper.close()


@pytest.fixture
def household(settings: Settings, db: Database, secrets: Secrets) -> Iterator[Household]:
    with held_open(db), EmulatorServer(seed=7, members=5, history_days=30) as server:
        yield Household(server, emulator_instance(server, settings, db, secrets))


@pytest.fixture
def any_household(settings: Settings, any_db: Database, secrets: Secrets) -> Iterator[Household]:
    """The household on SQLite and on PostgreSQL."""
    with EmulatorServer(seed=7, members=5, history_days=30) as server:
        if any_db.is_sqlite:
            with held_open(any_db):
                yield Household(server, emulator_instance(server, settings, any_db, secrets))
        else:
            yield Household(server, emulator_instance(server, settings, any_db, secrets))
