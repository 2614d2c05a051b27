"""A member's Spotify data export (extended streaming history zip) consistent with their plays before now."""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from recs.emulator.household import Play, from_ms, iso_s

if TYPE_CHECKING:
    from recs.emulator.state import Emulator

FOLDER = "Spotify Extended Streaming History"
ROWS_PER_FILE = 15_000


def export_rows(emulator: Emulator, user_id: str) -> list[dict[str, Any]]:
    """Every stream before the emulated now, in the 2024+ extended-history format (short and private ones too)."""
    with emulator.lock:
        member = emulator.member(user_id)
        # in the order the platform logged them: offline plays come after later online ones, so files are
        # not sorted by ts, as in real exports
        plays = sorted(emulator.household.plays_until(user_id, emulator.now_ms), key=lambda p: (p.visible_ms, p.at_ms))
        cat = emulator.catalog
        rows = []
        for p in plays:
            t = cat.tracks[p.track_id]
            rows.append(
                _row(
                    p,
                    t.name,
                    cat.artists[t.artist_ids[0]].name,
                    cat.albums[t.album_id].name,
                    member.platform,
                    member.country,
                )
            )
        return rows


def _row(p: Play, track: str, artist: str, album: str, platform: str, country: str) -> dict[str, Any]:
    return {
        "ts": iso_s(p.at_ms),
        "platform": platform,
        "ms_played": p.ms_played,
        "conn_country": country,
        "ip_addr": None,
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": album,
        "spotify_track_uri": f"spotify:track:{p.track_id}",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": p.reason_start,
        "reason_end": p.reason_end,
        "shuffle": p.shuffle,
        "skipped": p.skipped,
        "offline": p.offline,
        # seconds at stream start, as in current exports (older ones used ms)
        "offline_timestamp": (p.at_ms - p.ms_played) // 1000,
        "incognito_mode": p.incognito,
    }


def export_zip(emulator: Emulator, user_id: str) -> bytes:
    """The zip a member downloads: Streaming_History_Audio_<years>_<n>.json files of at most 15,000 rows."""
    rows = export_rows(emulator, user_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        chunks = [rows[i : i + ROWS_PER_FILE] for i in range(0, len(rows), ROWS_PER_FILE)] or [[]]
        for n, chunk in enumerate(chunks):
            if chunk:
                first, last = min(r["ts"] for r in chunk)[:4], max(r["ts"] for r in chunk)[:4]
                years = first if first == last else f"{first}-{last}"
            else:
                years = str(from_ms(emulator.now_ms).year)
            info = zipfile.ZipInfo(
                f"{FOLDER}/Streaming_History_Audio_{years}_{n}.json", date_time=(2026, 1, 1, 0, 0, 0)
            )
            zf.writestr(info, json.dumps(chunk, ensure_ascii=False, indent=2), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
