"""Fixtures for the import tests: a member, and builders of export rows and files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recs.storage import Database
from recs.storage.members import create_member, set_consent

URI_A = "spotify:track:" + "A" * 22
URI_B = "spotify:track:" + "B" * 22


def new_member(db: Database, spotify_id: str = "alice") -> int:
    """A member who allows their listening to be kept (the import refuses others)."""
    with db.write() as conn:
        member = create_member(conn, spotify_id, spotify_id.title())
        set_consent(conn, member.id, "store", True)
    return member.id


@pytest.fixture
def member_id(db: Database) -> int:
    return new_member(db)


def ext_row(**overrides: Any) -> dict[str, Any]:
    """One extended-history row (current format) with sane values; override any field."""
    row: dict[str, Any] = {
        "ts": "2024-03-01T12:00:42Z",
        "platform": "android",
        "ms_played": 180000,
        "conn_country": "DE",
        "ip_addr": None,
        "master_metadata_track_name": "Song A",
        "master_metadata_album_artist_name": "Artist A",
        "master_metadata_album_album_name": "Album A",
        "spotify_track_uri": URI_A,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 1709294442,
        "incognito_mode": False,
    }
    row.update(overrides)
    return row


def acct_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "endTime": "2024-03-01 12:00",
        "artistName": "Artist A",
        "trackName": "Song A",
        "msPlayed": 180000,
    }
    row.update(overrides)
    return row


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, Any], Path]:
    def write(name: str, data: Any) -> Path:
        path = tmp_path / "upload" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write
