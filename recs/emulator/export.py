"""A member's Spotify data exports (extended streaming history, account data) consistent with their listening before now."""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from recs.emulator.household import Play, from_ms, iso_s

if TYPE_CHECKING:
    from recs.emulator.state import Emulator

FOLDER = "Spotify Extended Streaming History"
ACCOUNT_FOLDER = "Spotify Account Data"
ROWS_PER_FILE = 15_000
ACCOUNT_ROWS_PER_FILE = 10_000
PACKAGES = ("extended", "account")
_FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same seed gives the same bytes


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


def export_zip(emulator: Emulator, user_id: str, package: str = "extended") -> bytes:
    """The zip a member downloads: extended history (Streaming_History_Audio_<years>_<n>.json) or account data."""
    if package not in PACKAGES:
        raise ValueError(f"unknown export package {package!r}: use one of {', '.join(PACKAGES)}")
    if package == "account":
        return account_zip(emulator, user_id)
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


def _minute(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%d %H:%M")


def account_zip(emulator: Emulator, user_id: str) -> bytes:
    """The account-data package: last year of streams (minute precision, no URIs), library and playlists."""
    with emulator.lock:
        member = emulator.member(user_id)
        cat = emulator.catalog
        h = emulator.household
        now = emulator.now_ms
        year_ago = now - 365 * 86_400_000
        history = [
            {
                "endTime": _minute(p.at_ms),
                "artistName": cat.artists[cat.tracks[p.track_id].artist_ids[0]].name,
                "trackName": cat.tracks[p.track_id].name,
                "msPlayed": p.ms_played,
            }
            for p in h.plays_until(user_id, now)
            if p.at_ms >= year_ago and not p.incognito
        ]
        library = {
            "tracks": [
                {
                    "artist": cat.primary_artist(t).name,
                    "album": cat.albums[cat.tracks[t].album_id].name,
                    "track": cat.tracks[t].name,
                    "uri": cat.tracks[t].uri,
                }
                for _, t in h.saved_until(user_id, now)
            ],
            "albums": [],
            "shows": [],
            "episodes": [],
            "bannedTracks": [],
            "artists": [{"name": cat.artists[a].name, "uri": cat.artists[a].uri} for a in member.followed],
            "bannedArtists": [],
            "other": [],
        }
        playlists = []
        for pl in h.playlists.values():
            if pl.owner_id != user_id and user_id not in pl.collaborators:
                continue
            items = [
                {
                    "track": {
                        "trackName": cat.tracks[it.track_id].name,
                        "artistName": cat.primary_artist(it.track_id).name,
                        "albumName": cat.albums[cat.tracks[it.track_id].album_id].name,
                        "trackUri": cat.tracks[it.track_id].uri,
                    }
                    if it.kind == "track"
                    else None,
                    "episode": {
                        "episodeName": h.episodes[it.track_id].name,
                        "showName": h.episodes[it.track_id].show_name,
                        "episodeUri": f"spotify:episode:{it.track_id}",
                    }
                    if it.kind == "episode"
                    else None,
                    "audiobook": None,
                    "localTrack": {"uri": f"spotify:local:{':'.join(map(str, it.local))}"}
                    if it.kind == "local" and it.local
                    else None,
                    "addedDate": iso_s(it.added_at_ms)[:10],
                }
                for it in pl.items
                if it.added_at_ms <= now and it.kind != "null"
            ]
            modified = max((it.added_at_ms for it in pl.items if it.added_at_ms <= now), default=now)
            playlists.append(
                {
                    "name": pl.name,
                    "lastModifiedDate": iso_s(modified)[:10],
                    "items": items,
                    "description": pl.description or None,
                    "numberOfFollowers": 0,
                }
            )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:

        def put(name: str, value: Any) -> None:
            info = zipfile.ZipInfo(f"{ACCOUNT_FOLDER}/{name}", date_time=_FIXED_TIME)
            zf.writestr(info, json.dumps(value, ensure_ascii=False, indent=2), compress_type=zipfile.ZIP_DEFLATED)

        for n in range(max(1, -(-len(history) // ACCOUNT_ROWS_PER_FILE))):
            put(
                f"StreamingHistory_music_{n}.json", history[n * ACCOUNT_ROWS_PER_FILE : (n + 1) * ACCOUNT_ROWS_PER_FILE]
            )
        put("YourLibrary.json", library)
        put("Playlist1.json", {"playlists": playlists})
    return buffer.getvalue()
