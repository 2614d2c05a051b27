"""Saving a recommended song to the member's Spotify library ("Save to my library"): one budgeted call, then stored.

The call is `PUT /me/library` (the 2026 endpoint; the type-specific `PUT /me/tracks` is gone for
development-mode apps) and needs the `user-library-modify` scope, which members who signed in before
recs asked for it do not hold: they are told to reconnect, and no call is spent. The call counts against
the daily budget as "save" (the ceiling of publishing: 90 % of `budget.daily_calls`); when that is spent,
or Spotify paused the instance, nothing goes out and the member is told when to try again. A saved
song is recorded in `saved_tracks` at once, so training counts it before the next library sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from recs import storage
from recs.spotify import ErrorKind, SpotifyError
from recs.spotify.saving import SCOPE, save_tracks
from recs.storage.accounts import get_token
from recs.storage.members import get_member
from recs.usecases.accounts import member_client
from recs.usecases.budget import WINDOW
from recs.usecases.feedback import NotFound
from recs.usecases.instance import Instance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaveResult:
    """What became of a save: `outcome` is one of OUTCOMES; `name` the song's title."""

    outcome: str
    name: str
    retry_at: datetime | None = None


OUTCOMES = ("saved", "already", "no-scope", "budget", "reconnect", "not-allowlisted", "failed")


def save_to_library(instance: Instance, member_id: int, track_id: int, clock: Callable[[], datetime]) -> SaveResult:
    """Save one of the member's recommended (or played) tracks to their Spotify library, within the budget."""
    now = clock()
    with instance.db.read() as conn:
        if not storage.feedback.track_known_to(conn, member_id, track_id):
            raise NotFound(f"track {track_id} is not on your lists")
        track = storage.catalog.get_tracks(conn, [track_id])[track_id]
        member = get_member(conn, member_id)
        token = get_token(conn, member_id)
        already = track_id in storage.sync.saved_added_at(conn, member_id, [track_id])
    if already:
        return SaveResult("already", track.name)
    if member is None or token is None or member.reconnect_needed:
        return SaveResult("reconnect", track.name)
    if track.spotify_id is None:
        return SaveResult("failed", track.name)
    if SCOPE not in token.scope.split():
        return SaveResult("no-scope", track.name)
    try:
        save_tracks(member_client(instance, member_id, clock), [f"spotify:track:{track.spotify_id}"])
    except SpotifyError as exc:
        if exc.kind is ErrorKind.BUDGET or exc.kind is ErrorKind.QUOTA_EXCEEDED:
            return SaveResult("budget", track.name, _retry_at(instance, now, exc.retry_after_s))
        if exc.kind is ErrorKind.FORBIDDEN and exc.reason == "scope":
            return SaveResult("no-scope", track.name)
        if exc.kind in (ErrorKind.INVALID_GRANT, ErrorKind.NO_TOKEN):
            return SaveResult("reconnect", track.name)
        if exc.kind is ErrorKind.NOT_ALLOWLISTED:
            return SaveResult("not-allowlisted", track.name)
        log.warning("saving track %s for member %s failed: %s", track_id, member_id, exc)
        return SaveResult("failed", track.name)
    with instance.db.write() as conn:
        storage.sync.upsert_saved_tracks(conn, member_id, [(track_id, now)])
    return SaveResult("saved", track.name)


def _retry_at(instance: Instance, now: datetime, retry_after_s: float | None) -> datetime | None:
    """When a call may go out again: the pause's end, else when the oldest call of the window leaves it."""
    if retry_after_s is not None:
        return now + timedelta(seconds=max(0.0, retry_after_s))
    with instance.db.read() as conn:
        oldest = storage.stats.oldest_api_call_since(conn, now - WINDOW)
    return oldest + WINDOW if oldest is not None else None
