"""Syncing members' Spotify listening and library into storage: incremental, idempotent, within the API budget."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from recs import storage
from recs.core.domain import CursorRow, GapRow, PlayRecord, PlayRow, TrackInfo
from recs.core.payloads import (
    RecentlyPlayedPage,
    from_ms,
    to_ms,
)
from recs.core.processes import owner_id, owner_is_dead
from recs.spotify import ErrorKind, RefreshLocks, SpotifyApi, SpotifyError
from recs.spotify.auth import PROCESS_LOCKS
from recs.spotify.library import SpotifyLibrary
from recs.usecases.accounts import member_client
from recs.usecases.budget import Budget
from recs.usecases.instance import Instance

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

RECENT = "recently_played"
SAVED = "saved_tracks"
TOP = "top_items"
FOLLOWED = "followed_artists"
PLAYLISTS = "playlists"
LIBRARY_STREAMS = (SAVED, FOLLOWED, PLAYLISTS)
# When saved tracks were last read in full (removals show only then), and how often that happens.
SAVED_FULL = "saved_tracks_full"
SAVED_FULL_EVERY = timedelta(days=7)
PAGE = 50
# Spotify's recently-played keeps only the last 50 plays: poll so that fewer happen in between.
TARGET_PLAYS_BETWEEN_POLLS = 20
# Plays can reach Spotify late with their original played_at (offline sessions sync minutes to hours
# later): each poll looks back this far before the newest stored play. It costs no extra call (the
# API keeps only 50 plays anyway); re-read plays are dropped by their natural key.
LATE_PLAY_MARGIN = timedelta(hours=12)
# A played_at later than now by more than this is a device's wrong clock, not a play: it is neither
# stored nor allowed to move the cursor (one item dated a year ahead once stopped a member's polling).
CLOCK_SKEW = timedelta(minutes=5)
# A member counts as listening when their newest play is this recent.
LISTENING_WINDOW = timedelta(minutes=20)
# While listening, poll at least this often (the idle cap is the max_poll_minutes setting).
LISTENING_CAP = timedelta(minutes=75)
# A member missing from the Dashboard's user list is retried this rarely.
NOT_ALLOWLISTED_RETRY = timedelta(hours=6)
# Short Retry-After waits taken inside one sync, at most this many times per call.
RATE_LIMIT_RETRIES = 3
# One round waits out rate limits for at most this many times the Retry-After cap, in all.
ROUND_WAIT_FACTOR = 2
# How long one worker holds a member's sync lease without renewing it (it renews after each stream):
# longer than any stream takes, short enough that a dead worker's members are polled again soon.
SYNC_LEASE = timedelta(minutes=10)
# Share of the daily budget polling plans to use, leaving room for publishing and library refresh.
POLLING_SHARE = 0.6
TIME_RANGES = ("short_term", "medium_term", "long_term")


class StopSync(Exception):
    """Every call must stop now (quota pause or budget spent); the remaining members wait for the next round."""


@dataclass
class SyncReport:
    member_id: int
    new_plays: int = 0
    saved_tracks: int = 0
    gaps: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None
    next_poll_at: datetime | None = None
    streams: list[str] = field(default_factory=list)


class WaitAllowance:
    """Seconds of short rate-limit waits one round may still spend."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def take(self, seconds: float) -> bool:
        if seconds > self.left:
            return False
        self.left -= seconds
        return True


class _Ctx:
    def __init__(
        self,
        instance: Instance,
        member_id: int,
        api: SpotifyApi,
        now: Clock,
        sleep: Callable[[float], None],
        report: SyncReport,
        waits: WaitAllowance,
    ) -> None:
        self.waits = waits
        self.instance = instance
        self.db = instance.db
        self.member_id = member_id
        self.api = api
        self.now = now
        self.sleep = sleep
        self.report = report
        self.cap_s = float(instance.settings.budget.max_retry_after_s)
        self.library = SpotifyLibrary(self.call)

    def call(self, purpose: str, endpoint: str, fn: Callable[[Any], Any]) -> Any:
        """A call with short 429 waits taken here (the worker), each within the cap, all within the round's allowance."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                return self.api.call(purpose, endpoint, fn)
            except SpotifyError as exc:
                if exc.kind is ErrorKind.RATE_LIMITED and attempt < RATE_LIMIT_RETRIES:
                    wait = min(self.cap_s, exc.retry_after_s or 1.0)
                    if not self.waits.take(wait):
                        # Rate limited again and again: leave the rest for the next round.
                        raise SpotifyError(
                            ErrorKind.BUDGET, "rate limited for too long in this round; the next round resumes"
                        ) from None
                    log.info("rate limited on %s: waiting %.0f s", endpoint, wait)
                    self.sleep(wait)
                    continue
                raise
        raise AssertionError("unreachable")


def _consents_store(conn: Any, member_id: int) -> bool:
    return storage.members.get_consents(conn, member_id)["store"].granted


# --- recently played ---------------------------------------------------------------------------


def _play_rows(conn: Any, plays: Sequence[PlayRecord]) -> list[PlayRow]:
    ids = storage.catalog.upsert_tracks(conn, [p.track for p in plays])
    return [
        PlayRow(
            played_at=p.played_at,
            track_id=ids[storage.catalog.track_lookup_key(p.track)],
            source="api",
            ms_played=p.ms_played,
            context_uri=p.context_uri,
        )
        for p in plays
    ]


def _not_from_the_future(member_id: int, page: RecentlyPlayedPage, moment: datetime) -> list[PlayRecord]:
    """The page's plays that are not dated beyond now plus the clock-skew allowance; the others are logged."""
    horizon = moment + CLOCK_SKEW
    future = [p for p in page.plays if p.played_at > horizon]
    if future:
        log.warning(
            "member %s: %d recently-played item(s) dated in the future (latest %s, now %s) not stored",
            member_id,
            len(future),
            max(p.played_at for p in future).isoformat(),
            moment.isoformat(),
        )
    return [p for p in page.plays if p.played_at <= horizon]


def _next_poll(ctx: _Ctx, conn: Any, moment: datetime, members: int) -> datetime:
    """Adaptive cadence: soon while listening (from the recent play rate), rarely while idle, within budget."""
    s = ctx.instance.settings
    floor = timedelta(minutes=s.sync.min_poll_minutes)
    budget_floor = timedelta(days=1) * max(1, members) / max(1.0, s.budget.daily_calls * POLLING_SHARE)
    floor = max(floor, budget_floor)
    idle_cap = timedelta(minutes=s.sync.max_poll_minutes)
    last = storage.listening.last_played_at(conn, ctx.member_id, "api", before=moment + CLOCK_SKEW)
    cursor = storage.sync.get_cursor(conn, ctx.member_id, RECENT)
    previous = (
        cursor.next_due_at - cursor.last_success_at
        if cursor and cursor.next_due_at and cursor.last_success_at
        else floor
    )
    if last is not None and moment - last <= LISTENING_WINDOW:
        recent = storage.sync.count_plays_since(conn, ctx.member_id, moment - timedelta(hours=1))
        rate_per_min = max(recent, 1) / 60.0
        interval = timedelta(minutes=TARGET_PLAYS_BETWEEN_POLLS / rate_per_min)
        interval = min(interval, LISTENING_CAP)
    else:
        interval = min(max(previous, floor) * 1.5, idle_cap)
    return moment + max(floor, min(interval, max(idle_cap, floor)))


def _gap_pieces(
    start: datetime, end: datetime, intervals: Sequence[storage.members.OffInterval], last_poll: datetime | None
) -> list[tuple[datetime, datetime]]:
    """The parts of a possible gap the member did not choose: a time with storing off is not a gap."""
    pieces = [(start, end)]
    for off, on in intervals:
        rest = []
        for a, b in pieces:
            if b <= off or (on is not None and a >= on):
                rest.append((a, b))
                continue
            # Before storing went off, plays could be missed only if the last poll came before the revocation.
            if a < off and (last_poll is None or last_poll < off):
                rest.append((a, off))
            if on is not None and b > on:
                rest.append((on, b))
        pieces = rest
    return pieces


def _gap_below(
    conn: Any, member_id: int, stored: int, edge: PlayRow, consented: list[PlayRow], kept: list[PlayRow]
) -> datetime | None:
    """Where a gap starts below a full page whose oldest play is *edge*, or None when there is none.

    Plays older than a full page are out of sight. If the page's oldest play was already stored (or
    is an export's copy), this read joins up with an earlier one and nothing in between is hidden.
    If it is new, plays between it and the newest play stored before it may never be seen: the page
    was all newer than the cursor (the member played more than 50 since the last poll), or its oldest
    play is a late one (an offline session uploaded when 50 newer plays were already ahead of part
    of it), which is older than the cursor and so cannot be judged from the page alone.
    """
    if storage.listening.has_play(conn, member_id, edge.played_at, edge.track_id) or (
        edge in consented and edge not in kept
    ):
        return None
    if to_ms(edge.played_at) > stored:
        return from_ms(stored)
    # Nothing stored before it: it is older than the first read, history rather than a gap.
    return storage.listening.newest_play_before(conn, member_id, edge.played_at)


def _sync_recent(ctx: _Ctx, members: int, cursor: CursorRow | None) -> None:
    stored = int(cursor.cursor) if cursor and cursor.cursor else None
    if stored is not None and from_ms(stored) > ctx.now() + CLOCK_SKEW:
        # A cursor a future-dated play moved before such plays were refused: back to the newest real play.
        with ctx.db.read() as conn:
            real = storage.listening.last_played_at(conn, ctx.member_id, "api", before=ctx.now() + CLOCK_SKEW)
        log.warning("member %s: recently-played cursor %s was in the future; reset", ctx.member_id, from_ms(stored))
        stored = to_ms(real) if real is not None else None
    after = max(0, stored - int(LATE_PLAY_MARGIN.total_seconds() * 1000)) if stored is not None else None
    page = ctx.library.recently_played(limit=PAGE, after_ms=after)
    moment = ctx.now()
    plays = _not_from_the_future(ctx.member_id, page, moment)
    with ctx.db.write() as conn:
        # Consent is read in the same transaction as the insert: a revocation stops storing at once.
        if not _consents_store(conn, ctx.member_id):
            ctx.report.skipped = "no consent to store listening"
            return
        # Every interval the member had storing off, however long ago: a poll re-reads the last 12 h.
        paused = storage.members.off_intervals(conn, ctx.member_id, "store")
        every = _play_rows(conn, plays)
        consented = [r for r in every if storage.members.may_store(paused, r.played_at)]
        # A play the member's data export already holds comes back from the API seconds apart: keep one.
        rows = storage.imports.without_export_copies(
            conn, ctx.member_id, consented, ctx.instance.settings.imports.dedupe_tolerance_s
        )
        gap_start = None
        if stored is not None and page.item_count >= PAGE and every:
            gap_start = _gap_below(conn, ctx.member_id, stored, min(every, key=lambda r: r.played_at), consented, rows)
        added = storage.listening.insert_plays(conn, ctx.member_id, rows)
        ctx.report.new_plays += added
        newest = max((to_ms(p.played_at) for p in plays), default=None)
        if gap_start is not None:
            # A full page whose oldest play we had never seen: older plays may be lost for good.
            oldest = min(r.played_at for r in every)
            last_poll = cursor.last_success_at if cursor else None
            for start, end in _gap_pieces(gap_start, oldest, paused, last_poll):
                storage.sync.add_gap(conn, ctx.member_id, start, end, moment)
                ctx.report.gaps += 1
        new_cursor = max(newest, stored) if newest is not None and stored is not None else (newest or stored)
        due = _next_poll(ctx, conn, moment, members)
        storage.sync.save_cursor(
            conn,
            ctx.member_id,
            RECENT,
            now=moment,
            cursor=str(new_cursor) if new_cursor is not None else None,
            success=True,
            next_due_at=due,
        )
        ctx.report.next_poll_at = due


# --- library -----------------------------------------------------------------------------------


def _store_tracks(conn: Any, tracks: list[TrackInfo]) -> dict[str, int]:
    return storage.catalog.upsert_tracks(conn, tracks)


def _sync_saved(ctx: _Ctx) -> None:
    """Newest first; stop at the first added_at not newer than the last complete read."""
    with ctx.db.read() as conn:
        cursor = storage.sync.get_cursor(conn, ctx.member_id, SAVED)
        last_full = storage.sync.get_cursor(conn, ctx.member_id, SAVED_FULL)
    known = datetime.fromisoformat(cursor.cursor) if cursor and cursor.cursor else None
    # Removals never show in an incremental read: now and then read everything and drop what is gone.
    full = (
        known is None
        or last_full is None
        or last_full.last_success_at is None
        or ctx.now() - last_full.last_success_at >= SAVED_FULL_EVERY
    )
    if full:
        known = None
    newest: datetime | None = None
    counted: set[int] = set()
    seen: set[int] = set()
    offset = 0
    while True:
        page, items = ctx.library.saved_tracks(limit=PAGE, offset=offset)
        fresh = [s for s in items if known is None or s.added_at > known]
        with ctx.db.write() as conn:
            if not _consents_store(conn, ctx.member_id):
                return
            ids = _store_tracks(conn, [s.track for s in fresh])
            before = storage.sync.saved_added_at(conn, ctx.member_id, list(ids.values()))
            rows = [(ids[storage.catalog.track_lookup_key(s.track)], s.added_at) for s in fresh]
            seen.update(t for t, _ in rows)
            added = {t for t, _ in rows if t not in before} - counted
            counted |= added
            ctx.report.saved_tracks += len(added)
            storage.sync.upsert_saved_tracks(conn, ctx.member_id, rows)
        for s in items:
            newest = s.added_at if newest is None or s.added_at > newest else newest
        reached_known = len(fresh) < len(items)
        offset += len(page.items)
        if reached_known or not page.next_url or not page.items:
            break
    moment = ctx.now()
    with ctx.db.write() as conn:
        if not _consents_store(conn, ctx.member_id):  # revoked, or the member deleted meanwhile
            return
        if full:
            storage.sync.delete_saved_tracks_except(conn, ctx.member_id, sorted(seen))
            storage.sync.save_cursor(conn, ctx.member_id, SAVED_FULL, now=moment, success=True)
        # The cursor moves only after a complete read down to it, so a crash re-reads rather than skips.
        latest = max(filter(None, [newest, known]), default=None)
        storage.sync.save_cursor(
            conn,
            ctx.member_id,
            SAVED,
            now=moment,
            cursor=latest.isoformat() if latest else None,
            success=True,
            next_due_at=moment + timedelta(hours=ctx.instance.settings.sync.library_every_hours),
        )


def _sync_followed(ctx: _Ctx) -> None:
    artists = []
    after: str | None = None
    while True:
        page, found = ctx.library.followed_artists(limit=PAGE, after=after)
        artists.extend(found)
        after = page.cursor_after
        if not page.next_url or not after or not page.items:
            break
    moment = ctx.now()
    with ctx.db.write() as conn:
        if not _consents_store(conn, ctx.member_id):
            return
        ids = storage.catalog.upsert_artists(conn, artists)
        storage.sync.replace_followed_artists(
            conn, ctx.member_id, [ids[a.spotify_id] for a in artists if a.spotify_id], moment
        )
        storage.sync.save_cursor(
            conn,
            ctx.member_id,
            FOLLOWED,
            now=moment,
            success=True,
            next_due_at=moment + timedelta(hours=ctx.instance.settings.sync.library_every_hours),
        )


def _sync_top(ctx: _Ctx) -> None:
    pages: list[tuple[str, str, Any]] = []
    for kind in ("tracks", "artists"):
        for time_range in TIME_RANGES:
            if kind == "tracks":
                items: list[Any] = ctx.library.top_tracks(limit=PAGE, time_range=time_range)
            else:
                items = ctx.library.top_artists(limit=PAGE, time_range=time_range)
            pages.append((kind, time_range, items))
    moment = ctx.now()
    with ctx.db.write() as conn:
        if not _consents_store(conn, ctx.member_id):
            return
        for kind, time_range, items in pages:
            if kind == "tracks":
                tids = storage.catalog.upsert_tracks(conn, items)
                ids = [tids[storage.catalog.track_lookup_key(t)] for t in items]
            else:
                aids = storage.catalog.upsert_artists(conn, items)
                ids = [aids[a.spotify_id] for a in items if a.spotify_id]
            storage.sync.add_top_items(conn, ctx.member_id, kind, time_range, moment, ids)
        storage.sync.save_cursor(
            conn,
            ctx.member_id,
            TOP,
            now=moment,
            success=True,
            next_due_at=moment + timedelta(hours=ctx.instance.settings.sync.top_items_every_hours),
        )


def _sync_playlists(ctx: _Ctx, spotify_id: str) -> None:
    summaries = []
    offset = 0
    while True:
        page, found_playlists = ctx.library.playlists(limit=PAGE, offset=offset)
        summaries.extend(found_playlists)
        offset += len(page.items)
        if not page.next_url or not page.items:
            break
    with ctx.db.read() as conn:
        stored = storage.sync.get_playlists(conn, ctx.member_id)
    mine = [p for p in summaries if p.owner_id == spotify_id or p.collaborative]
    for pl in mine:
        known = stored.get(pl.spotify_id)
        if known is not None and pl.snapshot_id is not None and known.snapshot_id == pl.snapshot_id:
            continue  # unchanged since the last read: no calls
        entries = []
        offset = 0
        unreadable = False
        while True:
            try:
                page, found_entries = ctx.library.playlist_items(pl.spotify_id, limit=PAGE, offset=offset)
            except SpotifyError as exc:
                if exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND):
                    # Deleted since the listing, or no longer shared: skip it, keep the others.
                    log.info("playlist %s of member %s skipped: %s", pl.spotify_id, ctx.member_id, exc)
                    unreadable = True
                    break
                raise
            entries.extend(found_entries)
            offset += len(page.items)
            if not page.next_url or not page.items:
                break
        if unreadable:
            continue
        with ctx.db.write() as conn:
            if not _consents_store(conn, ctx.member_id):
                return
            ids = storage.catalog.upsert_tracks(conn, [e.track for e in entries])
            storage.sync.save_playlist(
                conn,
                ctx.member_id,
                pl.spotify_id,
                name=pl.name,
                snapshot_id=pl.snapshot_id,
                owned=pl.owner_id == spotify_id,
                collaborative=pl.collaborative,
                items=[(e.position, ids[storage.catalog.track_lookup_key(e.track)], e.added_at) for e in entries],
                now=ctx.now(),
            )
    moment = ctx.now()
    with ctx.db.write() as conn:
        if not _consents_store(conn, ctx.member_id):
            return
        storage.sync.delete_playlists_except(conn, ctx.member_id, [p.spotify_id for p in mine])
        storage.sync.save_cursor(
            conn,
            ctx.member_id,
            PLAYLISTS,
            now=moment,
            success=True,
            next_due_at=moment + timedelta(hours=ctx.instance.settings.sync.library_every_hours),
        )


# --- orchestration -----------------------------------------------------------------------------


ALL_STREAMS = (RECENT, TOP, *LIBRARY_STREAMS)


def _due_streams(conn: Any, member_id: int, moment: datetime) -> list[str]:
    times = storage.sync.due_times(conn, [member_id])[member_id]
    return [s for s in ALL_STREAMS if times.get(s) is None or times[s] <= moment]  # type: ignore[operator]


def sync_member(
    instance: Instance,
    member_id: int,
    *,
    now: Clock,
    sleep: Callable[[float], None] = time.sleep,
    budget: Budget | None = None,
    force: bool = False,
    locks: RefreshLocks = PROCESS_LOCKS,
    members: int | None = None,
    waits: WaitAllowance | None = None,
) -> SyncReport:
    """Sync one member's due streams (all of them with *force*); errors are reported, never raised, except StopSync.

    Single-flight across processes: while another worker (or thread) syncs this member, this call
    makes no request and reports the member as skipped.
    """
    # host:pid/<random>: unique per call (threads too), and a killed worker's lease is taken over at once.
    owner = f"{owner_id()}/{uuid.uuid4().hex[:12]}"
    moment = now()
    with instance.db.write() as conn:
        if storage.members.get_member(conn, member_id) is None:
            raise LookupError(f"no member with id {member_id}")
        held = storage.sync.acquire_sync_lease(conn, member_id, owner, moment + SYNC_LEASE, moment, _holder_dead)
    if not held:
        log.info("member %s is being synced by another worker: skipped", member_id)
        return SyncReport(member_id, skipped="being synced by another worker")

    def renew() -> bool:
        moment = now()
        with instance.db.write() as conn:
            return storage.sync.acquire_sync_lease(conn, member_id, owner, moment + SYNC_LEASE, moment)

    try:
        return _sync_member(
            instance,
            member_id,
            now=now,
            sleep=sleep,
            budget=budget,
            force=force,
            locks=locks,
            members=members,
            waits=waits,
            renew=renew,
        )
    finally:
        with instance.db.write() as conn:
            storage.sync.release_sync_lease(conn, member_id, owner)


def _holder_dead(owner: str) -> bool:
    return owner_is_dead(owner.rpartition("/")[0])


def _sync_member(
    instance: Instance,
    member_id: int,
    *,
    now: Clock,
    sleep: Callable[[float], None],
    budget: Budget | None,
    force: bool,
    locks: RefreshLocks,
    members: int | None,
    waits: WaitAllowance | None,
    renew: Callable[[], bool],
) -> SyncReport:
    report = SyncReport(member_id)
    budget = budget or Budget(instance.db, instance.settings.budget, now)
    with instance.db.read() as conn:
        member = storage.members.get_member(conn, member_id)
        if member is None:
            raise LookupError(f"no member with id {member_id}")
        consented = _consents_store(conn, member_id)
        moment = now()
        due = list(ALL_STREAMS) if force else _due_streams(conn, member_id, moment)
        n_members = members if members is not None else len(storage.members.members_with_consent(conn, "store"))
        recent_cursor = storage.sync.get_cursor(conn, member_id, RECENT)
    if not consented:
        report.skipped = "no consent to store listening"
        return report
    if member.reconnect_needed:
        report.skipped = "reconnect needed: the member must sign in again"
        return report
    if not due:
        return report
    api = member_client(instance, member_id, now, budget=budget, locks=locks, wait=sleep)
    observer = api.observer
    waits = waits or WaitAllowance(ROUND_WAIT_FACTOR * instance.settings.budget.max_retry_after_s)
    ctx = _Ctx(instance, member_id, api, now, sleep, report, waits)
    spotify_id, flagged = member.spotify_id, member.not_allowlisted
    runners: dict[str, Callable[[], None]] = {
        RECENT: lambda: _sync_recent(ctx, n_members, recent_cursor),
        SAVED: lambda: _sync_saved(ctx),
        FOLLOWED: lambda: _sync_followed(ctx),
        TOP: lambda: _sync_top(ctx),
        PLAYLISTS: lambda: _sync_playlists(ctx, spotify_id),
    }
    try:
        for stream in due:
            try:
                runners[stream]()
                report.streams.append(stream)
                if flagged:
                    # A call went through: the owner has added them to the Dashboard's user list.
                    with instance.db.write() as conn:
                        storage.members.update_member(conn, member_id, not_allowlisted=False)
                    flagged = False
                if report.skipped:
                    break
                if not renew():
                    # Our lease ran out and another worker took the member over: leave the rest to it.
                    report.errors.append("sync lease lost to another worker")
                    break
            except SpotifyError as exc:
                _record_failure(instance, member_id, stream, exc, now, report)
                if exc.kind in (ErrorKind.QUOTA_EXCEEDED, ErrorKind.BUDGET):
                    raise StopSync(exc.message) from None
                if exc.kind in (ErrorKind.INVALID_GRANT, ErrorKind.NO_TOKEN, ErrorKind.NOT_ALLOWLISTED):
                    break
    finally:
        report.calls = getattr(observer, "calls", 0)
    return report


def _record_failure(
    instance: Instance, member_id: int, stream: str, exc: SpotifyError, now: Clock, report: SyncReport
) -> None:
    report.errors.append(f"{stream}: {exc}")
    moment = now()
    retry = timedelta(minutes=instance.settings.sync.min_poll_minutes)
    with instance.db.write() as conn:
        if storage.members.get_member(conn, member_id) is None:
            return
        if exc.kind is ErrorKind.NOT_ALLOWLISTED:
            storage.members.update_member(conn, member_id, not_allowlisted=True)
            # Every call would be refused until the owner adds them on the Dashboard: try rarely.
            retry = NOT_ALLOWLISTED_RETRY
        # The cursor is kept: the same range is asked for again on the next round.
        storage.sync.save_cursor(
            conn, member_id, stream, now=moment, success=False, error=str(exc), next_due_at=moment + retry
        )
    log.warning("sync of member %s, %s failed: %s", member_id, stream, exc)


def sync_all(
    instance: Instance,
    *,
    now: Clock,
    sleep: Callable[[float], None] = time.sleep,
    force: bool = False,
    member_ids: list[int] | None = None,
    locks: RefreshLocks = PROCESS_LOCKS,
) -> list[SyncReport]:
    """One round over every consenting member (or *member_ids*); a quota pause stops the round for everyone."""
    budget = Budget(instance.db, instance.settings.budget, now)
    waits = WaitAllowance(ROUND_WAIT_FACTOR * instance.settings.budget.max_retry_after_s)
    moment = now()
    with instance.db.read() as conn:
        consenting = storage.members.members_with_consent(conn, "store")
        ids = member_ids if member_ids is not None else consenting
        due = storage.sync.due_times(conn, ids)
    reports = []
    for member_id in ids:
        if not force and all(due[member_id].get(s) is not None and due[member_id][s] > moment for s in ALL_STREAMS):  # type: ignore[operator]
            reports.append(SyncReport(member_id, skipped="nothing due"))
            continue
        try:
            reports.append(
                sync_member(
                    instance,
                    member_id,
                    now=now,
                    sleep=sleep,
                    budget=budget,
                    force=force,
                    locks=locks,
                    members=len(consenting),
                    waits=waits,
                )
            )
        except StopSync as exc:
            reports.append(SyncReport(member_id, errors=[f"stopped: {exc}"], skipped="paused"))
            break
    return reports


def next_due(instance: Instance) -> datetime | None:
    """The earliest time any consenting member has a stream due (None: something is due now)."""
    with instance.db.read() as conn:
        waiting = {m.id for m in storage.members.list_members(conn) if m.reconnect_needed}
        ids = [m for m in storage.members.members_with_consent(conn, "store") if m not in waiting]
        due = storage.sync.due_times(conn, ids)
    times = []
    for member_id in ids:
        for stream in ALL_STREAMS:
            at = due[member_id].get(stream)
            if at is None:
                return None
            times.append(at)
    return min(times) if times else None


def member_gaps(instance: Instance, member_id: int, *, open_only: bool = True) -> list[GapRow]:
    """Time ranges in which plays may be missing (the member's data export fills them)."""
    with instance.db.read() as conn:
        return storage.sync.list_gaps(conn, member_id, open_only=open_only)
