"""Resolving tracks known only by name (account data) through search, a few per day, most played first."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from recs import storage
from recs.core.config import Settings
from recs.core.domain import TrackInfo
from recs.core.names import track_key
from recs.storage import Database

log = logging.getLogger(__name__)

# (artist, title) -> candidate tracks with Spotify ids, best first: one search call, counted by the caller's budget.
Search = Callable[[str, str], Sequence[TrackInfo]]
# After this many searches without a match a name is left alone: it is counted by name for good.
MAX_ATTEMPTS = 3


@dataclass
class ResolveReport:
    searched: int = 0
    resolved: int = 0
    not_found: int = 0
    # Name-only track id -> the track it became.
    resolved_ids: dict[int, int] = field(default_factory=dict)


def pick_match(candidates: Sequence[TrackInfo], name_key: str) -> TrackInfo | None:
    """The first candidate (search ranks the original release first) whose normalised artist and title equal
    the name's: a remaster, live take or other song of a similar name is refused."""
    return next((c for c in candidates if c.spotify_id and track_key(c.primary_artist, c.name) == name_key), None)


def resolve_names(db: Database, settings: Settings, search: Search, *, limit: int | None = None) -> ResolveReport:
    """Look up at most `imports.resolve_per_day` (or *limit*) name-only tracks and fold each found one into its track.

    Meant to run once a day from the scheduler with a *search* that goes through the API budget; it never
    runs in bulk. A candidate counts only when its normalised artist and title equal the name's (account
    data names come from Spotify's own catalogue), so a later import of the same name finds the track.
    No transaction is held while *search* runs.
    """
    count = settings.imports.resolve_per_day if limit is None else limit
    report = ResolveReport()
    if count <= 0:
        return report
    with db.read() as conn:
        pending = storage.imports.tracks_to_resolve(conn, count, MAX_ATTEMPTS)
    for item in pending:
        candidates = search(item.artist, item.title)
        report.searched += 1
        match = pick_match(candidates, item.name_key)
        with db.write() as conn:
            if match is None:
                storage.imports.count_failed_resolve(conn, item.id)
                report.not_found += 1
                continue
            target = storage.imports.resolve_track(conn, item.id, match, settings.imports.dedupe_tolerance_s)
        if target is not None:
            report.resolved += 1
            report.resolved_ids[item.id] = target
    log.info("name resolution: %s searched, %s resolved", report.searched, report.resolved)
    return report
