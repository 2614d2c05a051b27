"""Shared fixtures: settings in a temporary folder, a migrated database, PostgreSQL, and the shared data folder."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from recs.core.config import Settings, load_settings
from recs.storage import Database, migrate

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RECS_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with every folder inside tmp_path, no config file, and a (made-up) Spotify app's client id."""
    return load_settings(
        None, {"RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"), "RECS_SPOTIFY__CLIENT_ID": "test-client-id"}
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A SQLite database migrated to the newest revision."""
    database = Database(settings.database_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


def postgres_admin_url() -> str | None:
    return os.environ.get("RECS_TEST_POSTGRES_URL")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the server named by RECS_TEST_POSTGRES_URL (.ci/run starts one)."""
    admin = postgres_admin_url()
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("RECS_TEST_POSTGRES_URL is not set in CI: .ci/run should have started PostgreSQL")
        pytest.skip("no PostgreSQL server: set RECS_TEST_POSTGRES_URL (bash .ci/run starts one)")
    import sqlalchemy as sa  # tests may use SQLAlchemy directly

    name = f"recs_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        # An autovacuum worker in the database can make the forced drop fail for a role that may not end
        # it (.ci/postgres.sh grants pg_signal_backend; a server set up by hand may not): try again.
        for attempt in range(10):
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except sa.exc.DBAPIError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Database]:
    """The same test on SQLite and on PostgreSQL, migrated to head."""
    url = settings.database_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url)
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip that says why."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data folder not found at {data} (set RECS_SHARED_DIR); realdata tests need it")
    return data
