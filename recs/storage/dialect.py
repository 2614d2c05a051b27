"""Dialect-aware statements that SQLite and PostgreSQL spell differently (insert-or-ignore, upsert)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping those that clash with a unique key; returns how many were inserted."""
    if not rows:
        return 0
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    # rowcount of an executemany is unreliable across drivers: count the rows RETURNING gives back.
    stmt = stmt.returning(next(iter(table.primary_key.columns)))
    inserted = 0
    for start in range(0, len(rows), 500):
        result = conn.execute(stmt, list(rows[start : start + 500]))
        inserted += len(result.all())
    return inserted


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows; on a clash of *keys*, overwrite the *update* columns."""
    if not rows:
        return
    stmt: Any
    stmt = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    for start in range(0, len(rows), 500):
        conn.execute(stmt, list(rows[start : start + 500]))
