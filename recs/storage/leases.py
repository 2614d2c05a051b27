"""Row leases: one owner at a time across processes, taken and given back with one conditional UPDATE each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, or_, update


def take_lease(
    conn: Connection,
    table: Table,
    where: ColumnElement[bool],
    owner_column: Column[Any],
    until_column: Column[Any],
    *,
    owner: str,
    until: datetime,
    now: datetime,
) -> bool:
    """Take the lease of the row *where* selects if it is free, expired or already *owner*'s (which extends it).

    Atomic in one UPDATE, so two processes racing for it cannot both win; False when another owner
    holds an unexpired lease (or the row does not exist).
    """
    result = conn.execute(
        update(table)
        .where(where, or_(owner_column.is_(None), owner_column == owner, until_column < now))
        .values({owner_column.name: owner, until_column.name: until})
    )
    return result.rowcount == 1


def give_back_lease(
    conn: Connection,
    table: Table,
    where: ColumnElement[bool],
    owner_column: Column[Any],
    until_column: Column[Any],
    owner: str,
) -> None:
    """Free the lease if *owner* still holds it (a lease taken over after expiry stays with its new owner)."""
    conn.execute(
        update(table).where(where, owner_column == owner).values({owner_column.name: None, until_column.name: None})
    )
