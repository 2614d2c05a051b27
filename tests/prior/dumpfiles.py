"""Small ListenBrainz listen dumps for tests, in the real layout (listenbrainz/dumps/exporter.py, dump_listenstore.py)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zstandard

COPYING = "Creative Commons CC0 1.0 Universal (public domain dedication)\n"


def listen(
    user_id: Any,
    timestamp: Any,
    *,
    spotify_id: Any = None,
    origin_url: Any = None,
    track_name: Any = "A Song",
    artist_name: Any = "An Artist",
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """One dump line as ListenBrainz writes it (compact JSON, as orjson does), without a trailing newline."""
    info: dict[str, Any] = {"recording_msid": "8f3471b5-7e6a-48da-86a9-c1c07a0f47ae", "submission_client": "test"}
    if spotify_id is not None:
        info["spotify_id"] = spotify_id
    if origin_url is not None:
        info["origin_url"] = origin_url
    info.update(extra or {})
    doc = {
        "user_id": user_id,
        "user_name": f"user{user_id}",
        "timestamp": timestamp,
        "track_metadata": {"artist_name": artist_name, "track_name": track_name, "additional_info": info},
        "recording_msid": "8f3471b5-7e6a-48da-86a9-c1c07a0f47ae",
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def archive_name(dump_id: int = 1, when: str = "20261201-000000", full: bool = True) -> str:
    return f"listenbrainz-listens-dump-{dump_id}-{when}-{'full' if full else 'incremental'}"


def write_dump(
    folder: Path,
    months: Mapping[tuple[int, int], list[bytes]],
    *,
    dump_id: int = 1,
    full: bool = True,
    extra_members: Mapping[str, bytes] | None = None,
    schema_sequence: bytes = b"1",
) -> Path:
    """A .tar.zst with metadata first, then listens/<year>/<month>.listens (month not zero-padded)."""
    top = archive_name(dump_id, full=full)
    members: list[tuple[str, bytes]] = [
        (f"{top}/COPYING", COPYING.encode()),
        (f"{top}/SCHEMA_SEQUENCE", schema_sequence),
    ]
    if full:
        members.append((f"{top}/TIMESTAMP", b"2026-12-01 00:00:00+00:00"))
    else:
        members += [
            (f"{top}/START_TIMESTAMP", b"2026-11-30 00:00:00+00:00"),
            (f"{top}/END_TIMESTAMP", b"2026-12-01 00:00:00+00:00"),
        ]
    for (year, month), lines in sorted(months.items()):
        members.append((f"{top}/listens/{year}/{month}.listens", b"".join(line + b"\n" for line in lines)))
    for name, data in (extra_members or {}).items():
        members.append((f"{top}/{name}", data))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w|") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1764547200
            tar.addfile(info, io.BytesIO(data))
    path = folder / f"{top}.tar.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(raw.getvalue()))
    return path
