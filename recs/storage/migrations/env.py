"""Alembic environment: runs migrations on the Database handed in by recs.storage.migrate."""

from __future__ import annotations

from alembic import context

from recs.storage import Database
from recs.storage.schema import metadata

config = context.config
db = config.attributes.get("database") or Database(config.get_main_option("sqlalchemy.url") or "")

with db.engine.connect() as connection:
    # SQLite alters a table by rebuilding it (batch mode): with foreign keys on, dropping the old copy
    # of `members` cascades to every row that references it, every member's plays and tokens included.
    # So they are off while migrating (the PRAGMA is set outside any transaction, on the driver's
    # connection) and checked before the commit.
    raw = connection.connection.dbapi_connection if db.is_sqlite else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        connection.execution_options(recs_write=True)
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=db.is_sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if raw is not None:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows pointing at nothing: {broken[:5]}")
        connection.commit()
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")
