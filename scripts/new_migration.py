"""Generate an Alembic migration by comparing recs.storage.schema with a database migrated to head."""

import sys
import tempfile
from pathlib import Path

from alembic import command

from recs.storage import Database, migrate

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/new_migration.py MESSAGE REV_ID   (e.g. 'add imports index' 0002)")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'gen.sqlite3'}")
        migrate.upgrade(db)
        command.revision(migrate.alembic_config(db), message=sys.argv[1], autogenerate=True, rev_id=sys.argv[2])
        print("Review the file: replace recs.storage.schema.UTCDateTime with sa.DateTime(timezone=True).")
