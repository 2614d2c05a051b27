"""Alembic environment: runs migrations on the Database handed in by recs.storage.migrate."""

from __future__ import annotations

from alembic import context

from recs.storage import Database
from recs.storage.schema import metadata

config = context.config
db = config.attributes.get("database") or Database(config.get_main_option("sqlalchemy.url") or "")

with db.engine.connect() as connection:
    connection.execution_options(recs_write=True)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=db.is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
