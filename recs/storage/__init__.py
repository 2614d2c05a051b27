"""Storage adapter: the only module that talks SQLAlchemy; engine set-up, transactions and migrations."""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from recs.storage.schema import metadata

# Connection is re-exported so use cases can name the type of a connection they pass on.
__all__ = [
    "Connection",
    "Database",
    "SharedReads",
    "StorageError",
    "accounts",
    "blends",
    "catalog",
    "describe_failure",
    "feedback",
    "imports",
    "jobs",
    "listening",
    "members",
    "metadata",
    "publishing",
    "radar",
    "stats",
    "sync",
    "takeout",
    "training",
]

SUPPORTED_URLS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


class StorageError(RuntimeError):
    """The database cannot be used; the message is one line saying what is wrong and what to do."""


def _parse_url(url: str) -> URL:
    """The URL, with plain `postgresql://` meaning psycopg 3 (the driver recs ships); anything else unsupported."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Never echo the string: it may hold a password.
        raise StorageError(f"instance.database_url is not a database URL: use {SUPPORTED_URLS}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StorageError(
            f"instance.database_url: unsupported database {parsed.drivername!r}; recs supports {SUPPORTED_URLS}"
        )
    return parsed


BUSY_TIMEOUT_MS = 15_000

# Every engine of this process, so a forked child can forget the connections it inherited.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork() -> None:
    # The parent's pooled connections must never be used (or closed) by the child: start empty.
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork)


class Database:
    """An engine plus the house rules: SQLite in WAL with foreign keys, writes in BEGIN IMMEDIATE."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        parsed = _parse_url(url)
        normalised = parsed.drivername != make_url(url).drivername
        self.url = parsed.render_as_string(hide_password=False) if normalised else url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                folder = Path(parsed.database).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(
                        f"cannot create the database's folder {folder.absolute()}: {exc.strerror}; "
                        "check instance.data_dir (or instance.database_url)"
                    ) from None
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
            # Pooled connections: closing the last connection to a WAL database checkpoints and deletes
            # the WAL (3-5 ms a transaction). A forked child drops the inherited pool (see _after_fork).
            kwargs["poolclass"] = QueuePool
            kwargs["pool_size"] = 5
            kwargs["max_overflow"] = 20
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        _ENGINES.add(self.engine)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        with self.engine.connect() as conn:
            conn.execution_options(recs_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (deferred on SQLite: takes no write lock)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def shared_reads(self) -> SharedReads:
        """This database for one unit of reading (a web GET): see SharedReads."""
        return SharedReads(self)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden (and a SQLite file's path made absolute), for messages."""
        url = make_url(self.url)
        if self.is_sqlite and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            url = url.set(database=str(Path(url.database).absolute()))
        return url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    def check(self) -> None:
        """Connect once, so a database that cannot be used fails now with a StorageError saying what to do."""
        path = self.sqlite_path
        if path is not None and path.is_dir():
            raise StorageError(
                f"the database {path.absolute()} is a folder, not a SQLite file: move it away or set instance.data_dir"
            )
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            raise StorageError(describe_failure(exc, self) or str(exc).splitlines()[0]) from None

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None (PostgreSQL, in-memory)."""
        database = make_url(self.url).database
        if not self.is_sqlite or not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)


def describe_failure(exc: BaseException, db: Database) -> str | None:
    """One line for an operator about a database error (what is wrong, what to do); None if it is not one we know."""
    if not isinstance(exc, DBAPIError):
        return None
    message = str(exc.orig).strip()
    low = message.lower()
    if db.is_sqlite:
        path = db.sqlite_path.absolute() if db.sqlite_path is not None else db.display_url
        if "database is locked" in low or "database table is locked" in low:
            return (
                f"the database {path} is locked by another process (waited {BUSY_TIMEOUT_MS // 1000} s): "
                "let it finish or stop it (a sqlite3 shell, a copy in progress), then try again"
            )
        if "file is not a database" in low or "malformed" in low:
            return f"{path} is not a SQLite database (or is damaged): restore it from a backup or set instance.data_dir"
        if "readonly" in low or "read-only" in low:
            return f"the database {path} is read-only for this user: give the user running recs write access to it"
        if "unable to open database file" in low:
            return f"cannot open the database {path}: check that its folder exists and is writable by this user"
        return f"the database {path} failed: {message.splitlines()[0]}"
    url = make_url(db.url)
    where = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}"
    if "password authentication failed" in low or "no password supplied" in low:
        return f"{where} refused the password for user {url.username!r}: check the password in instance.database_url"
    if "does not exist" in low and "database" in low:
        return f"{where} has no database {url.database!r}: create it (createdb {url.database}) or fix instance.database_url"
    if any(
        s in low
        for s in ("connection refused", "could not connect", "could not translate host", "timeout", "timed out")
    ):
        return f"cannot reach {where}: is the server running and accepting TCP connections? (instance.database_url)"
    return f"{where} failed: {message.splitlines()[0] if message else type(exc.orig).__name__}"


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event decide how transactions start.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("recs_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class SharedReads(Database):
    """A database whose reads all share one connection and one snapshot until `release()`; it refuses writes.

    Opening a SQLite connection (with its pragmas) costs about a millisecond and a web page makes several
    reads: sharing one halves a page's time. It uses its base's engine (no second pool).
    """

    def __init__(self, base: Database) -> None:  # no super().__init__: no engine of its own
        self.url = base.url
        self.is_sqlite = base.is_sqlite
        self.engine = base.engine
        self._base = base
        self._shared: ExitStack | None = None
        self._conn: Connection | None = None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        if self._conn is None:
            self._shared = ExitStack()
            self._conn = self._shared.enter_context(self._base.read())
        yield self._conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        raise RuntimeError("shared reads must not write (a GET request writes through the instance's database)")
        yield  # pragma: no cover

    def release(self) -> None:
        """End the shared read transaction; the next read starts a new snapshot."""
        if self._shared is not None:
            self._shared.close()
        self._shared, self._conn = None, None


# The query modules, one per area, so that use cases name them in full: `from recs import storage`, then
# `storage.members.get_member(conn, ...)` (after Database above: jobs and migrate import it back).
from recs.storage import (  # noqa: E402
    accounts,
    blends,
    catalog,
    feedback,
    imports,
    jobs,
    listening,
    members,
    publishing,
    radar,
    stats,
    sync,
    takeout,
    training,
)
