"""Job bodies for the worker tests; module-level so a spawned job process can import them."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from recs.usecases.instance import Instance


def hang(_instance: Instance, _member_id: int | None, _now: datetime) -> dict[str, Any]:
    time.sleep(60)  # stands for a call that never returns; the deadline must stop it
    return {}


def crash(_instance: Instance, _member_id: int | None, _now: datetime) -> dict[str, Any]:
    raise RuntimeError("boom in the job")


def count_members(instance: Instance, _member_id: int | None, now: datetime) -> dict[str, Any]:
    from recs.storage.members import list_members

    with instance.db.read() as conn:
        return {"members": len(list_members(conn)), "now": now.isoformat()}
