"""A member's "download my data": everything stored about them as a zip of CSV and JSON, written as it streams."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, cast

from recs import storage
from recs.storage import Database

CHUNK = 5_000  # rows read, turned into CSV and sent at a time: memory stays bounded whatever the history holds
FORMAT_VERSION = 1


class _Sink:
    """A write-only, unseekable file for zipfile: what it was given is taken out after each piece."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def file_names() -> list[str]:
    """The files of the zip, in order (docs/download.md describes each)."""
    return ["README.txt", "member.json", *(f"{name}.csv" for name in storage.takeout.TABLES)]


def member_zip(db: Database, member_id: int, now: datetime, chunk: int = CHUNK) -> Iterator[bytes]:
    """The zip's bytes, piece by piece; only rows of *member_id* (one read transaction: a consistent copy)."""
    import pandas as pd  # here: only a download pays for importing pandas, not every server start

    sink = _Sink()
    with zipfile.ZipFile(cast(IO[bytes], sink), "w", zipfile.ZIP_DEFLATED) as archive, db.read() as conn:
        profile = storage.takeout.member_profile(conn, member_id)
        if profile is None:
            raise LookupError(f"no member with id {member_id}")
        archive.writestr("README.txt", _readme(now))
        meta: dict[str, Any] = {"format_version": FORMAT_VERSION, "exported_at": now.isoformat(), "member": profile}
        archive.writestr("member.json", json.dumps(meta, default=_json_value, indent=2, ensure_ascii=False))
        yield sink.take()
        for name in storage.takeout.TABLES:
            header = storage.takeout.columns(name)
            with archive.open(f"{name}.csv", "w", force_zip64=True) as out:
                out.write(pd.DataFrame(columns=header).to_csv(index=False).encode())
                for rows in storage.takeout.member_rows(conn, name, member_id, chunk):
                    frame = pd.DataFrame.from_records([tuple(map(_cell, row)) for row in rows], columns=header)
                    out.write(frame.to_csv(index=False, header=False).encode())
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def _cell(value: Any) -> Any:
    """A JSON column (lists, reports) as JSON text; datetimes as ISO 8601; everything else unchanged."""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _readme(now: datetime) -> str:
    return (
        f"Everything recs stores about you, exported {now.isoformat()}.\n"
        "member.json: your profile and settings. Each .csv: one table of the database, your rows only,\n"
        "UTF-8, comma-separated, a header line, times in UTC (ISO 8601). The format is described in\n"
        "docs/download.md of recs.\n"
    )
