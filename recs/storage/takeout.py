"""Everything stored about one member, table by table, read in bounded chunks (the "download my data" zip)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Select, Table, select

from recs.storage.schema import (
    api_calls,
    artists,
    blend_enjoyment,
    blend_favourites,
    blend_members,
    blend_tracks,
    blocked_artists,
    consent_intervals,
    consents,
    excluded_contexts,
    followed_artists,
    hidden_tracks,
    imports,
    liked_tracks,
    members,
    playlist_items,
    playlists,
    plays,
    publish_log,
    publish_settings,
    published_playlists,
    radar_settings,
    recommendations,
    rejected_tracks,
    saved_tracks,
    short_streams,
    sync_cursors,
    sync_gaps,
    top_items,
    tracks,
)

# Member tables in the download, by file name. Left out on purpose: tokens (the encrypted Spotify key),
# sync leases, job runs and requests (the worker's own bookkeeping), OAuth states (minutes-long).
TABLES: dict[str, Table] = {
    "plays": plays,
    "short_streams": short_streams,
    "saved_tracks": saved_tracks,
    "followed_artists": followed_artists,
    "playlists": playlists,
    "playlist_items": playlist_items,
    "top_items": top_items,
    "hidden_tracks": hidden_tracks,
    "liked_tracks": liked_tracks,
    "blocked_artists": blocked_artists,
    "excluded_contexts": excluded_contexts,
    "publish_settings": publish_settings,
    "radar_settings": radar_settings,
    "published_playlists": published_playlists,
    "publish_log": publish_log,
    "rejected_tracks": rejected_tracks,
    "recommendations": recommendations,
    "blend_favourites": blend_favourites,
    "blend_enjoyment": blend_enjoyment,
    "blend_members": blend_members,
    "blend_tracks": blend_tracks,
    "consents": consents,
    "consent_intervals": consent_intervals,
    "imports": imports,
    "sync_cursors": sync_cursors,
    "sync_gaps": sync_gaps,
    "api_calls": api_calls,
}
PROFILE_COLUMNS = ("id", "spotify_id", "display_name", "role", "timezone", "created_at", "open_data")


def _query(name: str, member_id: int) -> Select[Any]:
    table = TABLES[name]
    if name == "playlist_items":  # no member column: the items of the member's own playlists
        stmt = select(*table.c).join(playlists, playlists.c.id == table.c.playlist_id)
        stmt = stmt.where(playlists.c.member_id == member_id)
    else:
        stmt = select(*table.c).where(table.c.member_id == member_id)
    # Names beside ids, so the file reads on its own.
    if "track_id" in table.c:
        stmt = stmt.outerjoin(tracks, tracks.c.id == table.c.track_id).add_columns(
            tracks.c.spotify_id.label("track_spotify_id"), tracks.c.name.label("track_name")
        )
    if "artist_id" in table.c:
        stmt = stmt.outerjoin(artists, artists.c.id == table.c.artist_id).add_columns(
            artists.c.spotify_id.label("artist_spotify_id"), artists.c.name.label("artist_name")
        )
    return stmt.order_by(*table.primary_key.columns)


def columns(name: str) -> list[str]:
    """The CSV header of a table's file (also for a member with no rows in it)."""
    return [c.name for c in _query(name, 0).selected_columns]


def member_rows(conn: Connection, name: str, member_id: int, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    """The member's rows of one table, *chunk* at a time (streamed from the database, never all at once)."""
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(_query(name, member_id))
    for part in result.partitions(chunk):
        yield [tuple(row) for row in part]


def member_profile(conn: Connection, member_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(*(members.c[c] for c in PROFILE_COLUMNS)).where(members.c.id == member_id)).first()
    return dict(row._mapping) if row else None
