"""The running instance: settings, database and secrets opened together, and first-run set-up (`recs init`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from recs.config import Settings, load_settings
from recs.keys import Secrets, load_secrets
from recs.storage import Database, migrate

CONFIG_ENV = "RECS_CONFIG"


def find_config(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, else $RECS_CONFIG, else ./config.toml if it exists."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path("config.toml")
    return default if default.exists() else None


@dataclass
class Instance:
    settings: Settings
    secrets: Secrets
    db: Database = field(repr=False)

    def close(self) -> None:
        self.db.dispose()


@dataclass(frozen=True)
class InitReport:
    data_dir: Path
    database_url: str
    secrets_created: bool
    revision_before: str | None
    revision_after: str


def init_instance(settings: Settings, environ: Mapping[str, str]) -> InitReport:
    """Create the data folder and secrets file, and migrate the database to the newest revision. Idempotent."""
    data_dir = settings.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    secrets_path = settings.secrets_path
    existed = secrets_path.exists()
    load_secrets(secrets_path, environ, create=True)
    created = not existed and secrets_path.exists()
    if secrets_path.exists():
        os.chmod(secrets_path, 0o600)
    db = Database(settings.database_url)
    try:
        before = migrate.current_revision(db)
        migrate.upgrade(db)
        after = migrate.current_revision(db)
    finally:
        db.dispose()
    assert after is not None
    return InitReport(data_dir, db.display_url, created, before, after)


def open_instance(settings: Settings, environ: Mapping[str, str]) -> Instance:
    """Open an initialised instance; a database behind the newest migration is an error that says what to run."""
    secrets = load_secrets(settings.secrets_path, environ, create=False)
    db = Database(settings.database_url)
    current = migrate.current_revision(db)
    head = migrate.head_revision()
    if current != head:
        db.dispose()
        raise RuntimeError(
            f"the database is at revision {current or 'empty'}, this version needs {head}: run `recs init`"
        )
    return Instance(settings=settings, secrets=secrets, db=db)


def load(config: str | None, environ: Mapping[str, str]) -> Settings:
    return load_settings(find_config(config, environ), environ)
