"""The running instance: settings, database and secrets opened together, and first-run set-up (`recs init`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from recs.core.config import Settings, load_settings
from recs.core.keys import Secrets
from recs.storage import Database, StorageError, migrate
from recs.usecases.secrets_file import load_secrets

CONFIG_ENV = "RECS_CONFIG"


class InstanceError(RuntimeError):
    """The instance's folder cannot be used; the message is one line saying what to do."""


def check_data_dir(settings: Settings, *, create: bool) -> Path:
    """The data folder, made if *create*; a file in its place, or a folder this user cannot write, is an InstanceError."""
    path = settings.data_path
    shown = path.absolute()
    if path.exists() and not path.is_dir():
        raise InstanceError(f"the data folder {shown} is a file: move it away or set instance.data_dir to a folder")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InstanceError(
                f"cannot create the data folder {shown}: {exc.strerror}; "
                "create it for the user running recs, or set instance.data_dir"
            ) from None
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise InstanceError(
            f"the data folder {shown} is not writable by this user: chown it to the user running recs, "
            "or set instance.data_dir"
        )
    return path


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
    """What `recs init` did; paths are absolute so the operator sees exactly which instance it touched."""

    data_dir: Path
    database_url: str
    secrets_path: Path
    secrets_created: bool
    revision_before: str | None
    revision_after: str


def init_instance(settings: Settings, environ: Mapping[str, str]) -> InitReport:
    """Create the data folder and secrets file, and migrate the database to the newest revision. Idempotent."""
    data_dir = check_data_dir(settings, create=True)
    secrets_path = settings.secrets_path
    existed = secrets_path.exists()
    load_secrets(secrets_path, environ, create=True)
    created = not existed and secrets_path.exists()
    if secrets_path.exists():
        os.chmod(secrets_path, 0o600)
    db = Database(settings.database_url)
    try:
        db.check()
        before = migrate.current_revision(db)
        migrate.upgrade(db)
        after = migrate.current_revision(db)
    finally:
        db.dispose()
    assert after is not None
    return InitReport(data_dir.absolute(), db.display_url, secrets_path.absolute(), created, before, after)


def open_instance(settings: Settings, environ: Mapping[str, str]) -> Instance:
    """Open an initialised instance; a database behind the newest migration is an error that says what to run."""
    check_data_dir(settings, create=False)
    secrets = load_secrets(settings.secrets_path, environ, create=False)
    db = Database(settings.database_url)
    try:
        db.check()
    except StorageError:
        db.dispose()
        raise
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
