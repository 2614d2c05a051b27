"""Publishing: each consenting member's recommendation playlists written to their Spotify, when due, only when changed."""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from recs import storage
from recs.core.domain import Mode, PublishSettingsRow, Rejection, TrackCheck
from recs.core.publish_failures import DETAIL_MAX, FailureWords, describe, failure_kind
from recs.core.ranking import apply_filters
from recs.storage import Database
from recs.storage.catalog import refresh_track
from recs.storage.members import get_member, members_with_consent
from recs.storage.publishing import (
    candidates,
    checked_tracks,
    current_run_id,
    get_playlist_state,
    instance_tag,
    log_publish,
    recent_rejections,
    record_rejected,
    record_track_check,
    rejected_track_ids,
    save_playlist_state,
)
from recs.usecases.feedback import playlist_settings
from recs.usecases.instance import Instance

log = logging.getLogger(__name__)

CHUNK = 100
NAMES: dict[str, str] = {
    "discover": "recs · Discover",
    "rediscover": "recs · Rediscover",
    "radar": "recs · Release Radar",
}


class PlaylistPort(Protocol):
    """What publishing needs from Spotify for one member (recs.spotify.playlists.SpotifyPlaylists)."""

    calls: int  # Web API calls made so far

    def owned_playlists(self) -> dict[str, str]:
        """Id to description of every playlist in the member's library."""
        ...

    def create(self, name: str, description: str, public: bool) -> str: ...

    def replace(self, playlist_id: str, uris: list[str]) -> None:
        """Set the items (at most 100); ItemsRejected when Spotify refuses one of them, changing nothing."""
        ...

    def append(self, playlist_id: str, uris: list[str]) -> None:
        """Add items at the end (at most 100); ItemsRejected as for replace."""
        ...

    def describe(self, playlist_id: str, description: str) -> None: ...

    def check_track(self, spotify_id: str) -> TrackCheck:
        """GET /tracks/{id} in the member's market; SpotifyError when no definite answer came (budget, outage)."""
        ...


TrackChecker = Callable[[str], TrackCheck]
PortFactory = Callable[[Instance, int, Callable[[], datetime]], PlaylistPort]


# ---- pure rules ---------------------------------------------------------------------------------


def last_slot(rule: PublishSettingsRow, timezone: str, now: datetime) -> datetime:
    """The latest scheduled publish time at or before *now*, computed in the member's timezone (DST-aware)."""
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    hour, minute = (int(p) for p in rule.local_time.split(":"))
    day: date = local_now.date()
    for _ in range(9):
        if rule.frequency == "daily" or day.weekday() == rule.weekday:
            slot = datetime.combine(day, time(hour, minute), tzinfo=tz)
            if slot <= local_now:
                return slot.astimezone(UTC)
        day -= timedelta(days=1)
    raise AssertionError("a weekly slot always exists within 8 days")


def next_slot(rule: PublishSettingsRow, timezone: str, now: datetime) -> datetime:
    """The first scheduled publish time after *now*, in the member's timezone (DST-aware)."""
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    hour, minute = (int(p) for p in rule.local_time.split(":"))
    day: date = local_now.date()
    for _ in range(9):
        if rule.frequency == "daily" or day.weekday() == rule.weekday:
            slot = datetime.combine(day, time(hour, minute), tzinfo=tz)
            if slot > local_now:
                return slot.astimezone(UTC)
        day += timedelta(days=1)
    raise AssertionError("a weekly slot always exists within 8 days")


def is_due(rule: PublishSettingsRow, timezone: str, last_written: datetime | None, now: datetime) -> bool:
    return last_written is None or last_written < last_slot(rule, timezone, now)


def content_hash(uris: list[str]) -> str:
    return hashlib.sha256("\n".join(uris).encode()).hexdigest()


def description_for(kind: str, run_id: int, now: datetime, mark: str) -> str:
    what = "new to you" if kind == "discover" else "favourites you have not played for a while"
    return (
        f"Made by recs from your own listening: {what}. Model run {run_id}, written {now:%Y-%m-%d %H:%M} UTC. [{mark}]"
    )


def playlist_mark(tag: str, member_id: int, kind: str) -> str:
    """The mark in a playlist's description that says this instance made it for this member and kind.

    Letters, digits and hyphens only: Spotify HTML-escapes some characters of descriptions.
    """
    return f"recs-{tag}-{member_id}-{kind}"


def marked_playlist(owned: dict[str, str], mark: str) -> str | None:
    """The first (newest) playlist whose description carries *mark*: one an interrupted create left behind."""
    return next((pid for pid, description in owned.items() if mark in html.unescape(description)), None)


# ---- use case -----------------------------------------------------------------------------------


@dataclass
class PublishResult:
    member_id: int
    kind: str
    status: str  # 'written', 'created', 'unchanged', 'dry-run', 'empty', 'not-due', 'skipped'
    playlist_id: str | None = None
    uris: list[str] = field(default_factory=list)
    calls: int = 0
    note: str = ""
    dropped: dict[str, str] = field(default_factory=dict)  # URI -> why Spotify refused it
    checks: Checks | None = None  # the playability checks of open-data tracks this publish made


@dataclass
class Checks:
    """What one plan did about open-data tracks: checked, found unplayable, or left out unchecked."""

    checked: int = 0  # GET /tracks/{id} answers received
    unplayable: dict[str, str] = field(default_factory=dict)  # Spotify id -> why (this plan's checks only)
    unchecked: int = 0  # tracks left out because they could not be checked
    stopped: str | None = None  # why checking stopped (the budget, an outage)

    def note(self) -> str:
        parts = []
        if self.unplayable:
            parts.append(f"{len(self.unplayable)} open-data track(s) not playable for you, replaced")
        if self.unchecked:
            parts.append(f"{self.unchecked} open-data track(s) left out unchecked ({self.stopped})")
        return "; ".join(parts)


def plan(
    instance: Instance,
    member_id: int,
    kind: Mode,
    now: datetime,
    db: Database | None = None,
    *,
    checker: TrackChecker | None = None,
    checks: Checks | None = None,
) -> tuple[int | None, list[str], int]:
    """(run id, URIs to publish, size asked) for a member's playlist of this kind, filters applied.

    *db* is where to read (a page's shared read connection); the instance's database by default.

    Open-data tracks (from the community prior, played by no member) go on a playlist only once checked
    playable: with a *checker*, each such track of the list not checked before is checked once (the answer
    and Spotify's data for the track are stored), an unplayable one is replaced by the next candidate, and
    when checking stops (the budget's lowest priority is spent, Spotify fails) the unchecked ones are left
    out and the list is filled from tracks that need no check. Without a checker (a dry run, the dashboard's
    counts), unchecked tracks stand in the list: no call is made. Tracks found unplayable are always left out.
    """
    db = db or instance.db
    rule = playlist_settings(db, member_id, instance.settings.publish)
    with db.read() as conn:
        run_id = current_run_id(conn)
        if run_id is None:
            return None, [], rule.size
        ranked = candidates(conn, run_id, member_id, kind)
        ids = [c.track_id for c in ranked]
        filters = storage.feedback.list_filters(conn, member_id, kind, now.date(), ids)
        # A track Spotify has no id for, or refused before, cannot go on a playlist (nor take an artist's place).
        exclude = {c.track_id for c in ranked if c.spotify_id is None} | rejected_track_ids(conn)
        open_ids = {c.track_id for c in ranked if c.source == "open"}
        checked = checked_tracks(conn, open_ids)
    spotify_ids = {c.track_id: c.spotify_id for c in ranked}
    artists = {c.track_id: c.artist_ids for c in ranked}
    exclude |= {t for t, ok in checked.items() if not ok}
    checks = checks if checks is not None else Checks()
    while True:
        chosen = apply_filters(
            ids, artists, filters, cap=instance.settings.recommend.artist_cap, exclude=exclude, limit=rule.size
        )
        pending = [t for t in chosen if t in open_ids and t not in checked]
        if not pending or checker is None:
            break
        for t in pending:
            result = _check(checker, spotify_ids[t] or "", checks) if checks.stopped is None else None
            if result is None:  # not checked: left out, the next candidate takes its place
                checks.unchecked += 1
                exclude.add(t)
                continue
            with instance.db.write() as conn:
                record_track_check(conn, t, result.playable, result.reason, member_id, now)
                if result.info is not None:
                    # Names and artists for display are Spotify's from now on, no longer the prior's.
                    refresh_track(conn, t, result.info)
            checked[t] = result.playable
            if not result.playable:
                checks.unplayable[result.spotify_id] = result.reason or "not playable"
                exclude.add(t)
    return run_id, [f"spotify:track:{spotify_ids[t]}" for t in chosen], rule.size


def _check(checker: TrackChecker, spotify_id: str, checks: Checks) -> TrackCheck | None:
    """One check, or None when it could not be made (then *checks* says why, and no more are tried)."""
    from recs.spotify import SpotifyError  # here: web imports this module, and never spotipy

    try:
        result = checker(spotify_id)
    except SpotifyError as exc:
        checks.stopped = str(exc)
        log.info("playability checks stopped: %s", exc)
        return None
    checks.checked += 1
    return result


def publish_playlist(
    instance: Instance,
    member_id: int,
    kind: Mode,
    port: PlaylistPort | None,
    now: datetime,
    *,
    dry_run: bool = False,
) -> PublishResult:
    """Write one recommendation playlist: create it if missing (or deleted/unfollowed), replace its items, skip if
    unchanged (write_playlist). Open-data tracks are checked first (plan)."""
    checks = Checks()
    checker = port.check_track if port is not None and not dry_run else None
    run_id, uris, _size = plan(instance, member_id, kind, now, checker=checker, checks=checks)
    if checks.unplayable or checks.unchecked:
        log.info("member %s, %s playlist: %s", member_id, kind, checks.note())
    if run_id is None or not uris:
        result = PublishResult(member_id, kind, "dry-run" if dry_run else "written", uris=uris, checks=checks)
        result.status, result.note = "empty", "no recommendations yet: run training first"
        if run_id is not None:
            result.note = "nothing to publish" + (f": {checks.note()}" if checks.note() else "")
        return result
    result = write_playlist(
        instance,
        member_id,
        kind,
        uris,
        port,
        now,
        name=NAMES[kind],
        describe=lambda mark: description_for(kind, run_id, now, mark),
        run_id=run_id,
        dry_run=dry_run,
    )
    result.checks = checks
    if checks.note():  # the operator's line says what the checks left out
        result.note = "; ".join(part for part in (result.note, checks.note()) if part)
    return result


def write_playlist(
    instance: Instance,
    member_id: int,
    kind: str,
    uris: list[str],
    port: PlaylistPort | None,
    now: datetime,
    *,
    name: str,
    describe: Callable[[str], str],
    run_id: int | None = None,
    dry_run: bool = False,
) -> PublishResult:
    """Make the member's playlist of *kind* hold *uris*, in place (every kind of recs playlist is written so).

    *describe* turns this instance's mark into the playlist's description. Crash safety: the playlist id is
    stored as soon as it exists, and its description carries the mark, so a create whose answer was lost is
    found and adopted on retry; a list of up to 100 tracks is one PUT (the playlist is old or new, never
    half); longer lists are marked pending before writing, so the next round redoes a write cut short.
    """
    result = PublishResult(member_id, kind, "dry-run" if dry_run else "written", uris=uris)
    digest = content_hash(uris)
    with instance.db.read() as conn:
        state = get_playlist_state(conn, member_id, kind)
    result.playlist_id = state.spotify_playlist_id
    if dry_run:
        result.note = "unchanged" if digest == state.content_hash and state.pending_hash is None else "would write"
        return result
    assert port is not None
    playlist_id = state.spotify_playlist_id
    with instance.db.write() as conn:
        mark = playlist_mark(instance_tag(conn, secrets.token_hex(4), now), member_id, kind)
    owned = port.owned_playlists()
    if playlist_id is not None and playlist_id not in owned:
        log.info("member %s deleted or unfollowed their %s playlist; creating it again", member_id, kind)
        playlist_id = None
    description = describe(mark)
    if playlist_id is not None and digest == state.content_hash and state.pending_hash is None:
        if state.run_id != run_id:
            # A retrain that picked the same songs: the items stay, the description names the new run.
            port.describe(playlist_id, description)
        with instance.db.write() as conn:
            save_playlist_state(conn, member_id, kind, written_at=now, run_id=run_id)
        result.status, result.playlist_id = "unchanged", playlist_id
        return result
    if playlist_id is None and (adopted := marked_playlist(owned, mark)) is not None:
        # A create whose answer was lost (a timeout, a killed process): Spotify made it, we never stored its id.
        log.info("member %s: adopting %s playlist %s left by an interrupted create", member_id, kind, adopted)
        playlist_id = adopted
        result.note = "adopted a playlist an interrupted publish had created"
        with instance.db.write() as conn:
            save_playlist_state(conn, member_id, kind, spotify_playlist_id=playlist_id, content_hash=None)
    if playlist_id is None:
        playlist_id = port.create(name, description, instance.settings.publish.public)
        result.status = "created"
        with instance.db.write() as conn:
            save_playlist_state(conn, member_id, kind, spotify_playlist_id=playlist_id, content_hash=None)
    else:
        port.describe(playlist_id, description)
    with instance.db.write() as conn:
        save_playlist_state(conn, member_id, kind, pending_hash=digest)
    dropped = write_items(port, playlist_id, uris)
    if dropped:
        reasons = sorted(set(dropped.values()))
        log.warning(
            "member %s: Spotify refused %d track(s) of their %s playlist (%s); published the other %d",
            member_id,
            len(dropped),
            kind,
            "; ".join(reasons),
            len(uris) - len(dropped),
        )
        result.dropped = dropped
        result.note = f"Spotify refused {len(dropped)} track(s): {'; '.join(reasons)}"
        uris = [u for u in uris if u not in dropped]
        result.uris = uris
    with instance.db.write() as conn:
        for reason in set(dropped.values()):
            ids = [u.rsplit(":", 1)[-1] for u, r in dropped.items() if r == reason]
            record_rejected(conn, ids, member_id, kind, reason, now)
        save_playlist_state(
            conn,
            member_id,
            kind,
            spotify_playlist_id=playlist_id,
            run_id=run_id,
            content_hash=content_hash(uris),
            track_uris=uris,
            written_at=now,
            pending_hash=None,
        )
        log_publish(conn, member_id, kind, run_id, playlist_id, now, uris)
    result.playlist_id = playlist_id
    return result


def write_items(port: PlaylistPort, playlist_id: str, uris: list[str]) -> dict[str, str]:
    """Make the playlist hold *uris*, in order, less any track Spotify refuses; returns refused URI -> reason.

    Writes of up to 100 (one replace, then appends). Spotify refuses a whole write for one bad track
    without naming it, and a refused write changes nothing, so a refused batch is halved until the bad
    track stands alone: about 2·log2(100) = 14 more calls for one bad track in a hundred.
    """
    from recs.spotify.playlists import ItemsRejected  # here: web imports this module, and never spotipy

    dropped: dict[str, str] = {}
    replaced = False

    def put(batch: list[str]) -> None:
        nonlocal replaced
        try:
            (port.append if replaced else port.replace)(playlist_id, batch)
        except ItemsRejected as exc:
            if len(batch) == 1:
                dropped[batch[0]] = str(exc)
                return
            half = len(batch) // 2
            put(batch[:half])
            put(batch[half:])
            return
        replaced = True

    for start in range(0, len(uris), CHUNK):
        put(uris[start : start + CHUNK])
    if not replaced:  # every track refused: the playlist must not keep the old list
        port.replace(playlist_id, [])
    return dropped


def refused_tracks(db: Database, limit: int = 20) -> list[Rejection]:
    """The tracks Spotify refused in playlist writes, newest first (the admin page lists them)."""
    with db.read() as conn:
        return recent_rejections(conn, limit)


def default_port(instance: Instance, member_id: int, clock: Callable[[], datetime]) -> PlaylistPort:
    """SpotifyPlaylists over the member's API client (tokens, budget and ledger from the accounts use case)."""
    from recs.spotify.playlists import SpotifyPlaylists
    from recs.usecases.accounts import member_client

    return SpotifyPlaylists(member_client(instance, member_id, clock))


def publish_member(
    instance: Instance,
    member_id: int,
    now: datetime,
    *,
    dry_run: bool = False,
    only_due: bool = False,
    port_factory: PortFactory = default_port,
    clock: Callable[[], datetime] | None = None,
) -> list[PublishResult]:
    """Publish every playlist kind the member wants (all, or only those due at *now*)."""
    with instance.db.read() as conn:
        member = get_member(conn, member_id)
        consenting = member_id in members_with_consent(conn, "publish")
        states = {k: get_playlist_state(conn, member_id, k) for k in ("discover", "rediscover")}
    if member is None:
        raise LookupError(f"no member with id {member_id}")
    rule = playlist_settings(instance.db, member_id, instance.settings.publish)
    wanted: tuple[tuple[Mode, bool], ...] = (("discover", rule.discover), ("rediscover", rule.rediscover))
    kinds: list[Mode] = [k for k, on in wanted if on]
    if not consenting:
        return [PublishResult(member_id, k, "skipped", note="no consent to write playlists") for k in kinds]
    if member.reconnect_needed:
        return [PublishResult(member_id, k, "skipped", note="Spotify authorisation expired: reconnect") for k in kinds]
    results: list[PublishResult] = []
    port: PlaylistPort | None = None
    for kind in kinds:
        if only_due and not is_due(rule, member.timezone, states[kind].written_at, now):
            results.append(PublishResult(member_id, kind, "not-due"))
            continue
        if port is None and not dry_run:
            port = port_factory(instance, member_id, clock or (lambda: now))
        before = port.calls if port is not None else 0
        try:
            results.append(publish_playlist(instance, member_id, kind, port, now, dry_run=dry_run))
        except Exception as exc:
            if not dry_run:
                record_failure(instance, member_id, kind, exc, now)
            raise
        results[-1].calls = (port.calls if port is not None else 0) - before
        if not dry_run and states[kind].failed_at is not None and results[-1].status in WROTE:
            with instance.db.write() as conn:
                save_playlist_state(conn, member_id, kind, failed_at=None, failure=None, failure_detail=None)
    return results


WROTE = frozenset({"written", "created", "unchanged"})  # a publish that reached Spotify: any failure is over


def record_failure(instance: Instance, member_id: int, kind: str, exc: BaseException, now: datetime) -> None:
    """Keep a failed publish on the member's playlist row (kind and Spotify's words) for their page and the owner's.

    A write refused because the member is not on the app's allow-list flags them, as a failed sync does.
    """
    error_kind = getattr(getattr(exc, "kind", None), "value", None)
    failure = failure_kind(error_kind if isinstance(error_kind, str) else None)
    message = getattr(exc, "message", None)
    detail = str(message)[:DETAIL_MAX] if failure in ("forbidden", "not_found", "refused") and message else None
    with instance.db.write() as conn:
        if get_member(conn, member_id) is None:
            return
        save_playlist_state(conn, member_id, kind, failed_at=now, failure=failure, failure_detail=detail)
        if failure == "not_allowlisted":
            storage.members.update_member(conn, member_id, not_allowlisted=True)
    log.debug("recorded the failed publish of member %s's %s playlist as %s: %s", member_id, kind, failure, exc)


@dataclass(frozen=True)
class PublishOffer:
    """What "Publish now" would do for a member: the playlists it would write, or why it would write none."""

    kinds: tuple[tuple[str, int], ...]  # (kind, songs) that a publish would write now
    reason: str  # why nothing would be written ("" when kinds is not empty)


def publish_offer(
    instance: Instance, db: Database, member_id: int, consents_publish: bool, now: datetime
) -> PublishOffer:
    """The playlists a publish requested now would write, by the same rules as publish_member (reads from *db*)."""
    if not consents_publish:
        return PublishOffer((), "no-consent")
    with db.read() as conn:
        member = get_member(conn, member_id)
    if member is None or member.reconnect_needed:
        return PublishOffer((), "reconnect")
    rule = playlist_settings(db, member_id, instance.settings.publish)
    choices: tuple[tuple[Mode, bool], ...] = (("discover", rule.discover), ("rediscover", rule.rediscover))
    wanted: list[Mode] = [k for k, on in choices if on]
    if not wanted:
        return PublishOffer((), "no-kinds")
    kinds = tuple(
        (k, len(uris)) for k in wanted for _run, uris, _size in [plan(instance, member_id, k, now, db)] if uris
    )
    return PublishOffer(kinds, "" if kinds else "empty")


class OfferCache:
    """Publish offers computed once and reused while nothing they depend on changed.

    The offer runs the publish plan for each playlist kind (about ten queries); the page shows it on every
    view. The caller passes `feedback.lists_fingerprint` (one query, shared with the list's own cache), so a
    change made through any server process (a hide, a play, a new model run) is seen at the next view.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[object, ...], PublishOffer] = OrderedDict()
        self._lock = threading.Lock()

    def offer(
        self,
        instance: Instance,
        db: Database,
        member_id: int,
        consents_publish: bool,
        now: datetime,
        fingerprint: tuple[object, ...],
    ) -> PublishOffer:
        if not consents_publish:
            return PublishOffer((), "no-consent")
        # The date: blocks end and "played since" is read per day.
        key = (member_id, now.date(), fingerprint)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        result = publish_offer(instance, db, member_id, consents_publish, now)
        with self._lock:
            self._items[key] = result
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return result


@dataclass(frozen=True)
class PlaylistStatus:
    """A member's playlist of one kind as Spotify holds it, for the recommendations page."""

    kind: str
    name: str
    url: str | None  # open.spotify.com's page (None off real Spotify: the emulator has no playlist page)
    written_at: datetime | None  # None: never published
    run_id: int | None  # the model run Spotify's copy was made from
    behind: bool  # Spotify holds an older list than the page shows
    next_at: datetime | None  # the next scheduled publish (None: nothing will be written)
    failed_at: datetime | None = None  # the last publish failed (and none has written since)
    failure: FailureWords | None = None  # why, in words, and what to do
    refused: int = 0  # songs Spotify refused at the last write (the rest was published)


def playlist_status(
    instance: Instance, db: Database, member_id: int, consents_publish: bool, now: datetime
) -> list[PlaylistStatus]:
    """Each playlist kind the member chose: its name and link, when it was written, and when it is next."""
    rule = playlist_settings(db, member_id, instance.settings.publish)
    with db.read() as conn:
        member = get_member(conn, member_id)
        current = current_run_id(conn)
        states = {k: get_playlist_state(conn, member_id, k) for k in ("discover", "rediscover")}
        refused = {
            k: storage.publishing.refused_since(conn, member_id, k, states[k].written_at)
            for k in ("discover", "rediscover")
            if states[k].written_at is not None
        }
    real = "api.spotify.com" in instance.settings.spotify.api_base_url
    writing = consents_publish and member is not None and not member.reconnect_needed
    out = []
    for kind, on in (("discover", rule.discover), ("rediscover", rule.rediscover)):
        state = states[kind]
        if not on and state.spotify_playlist_id is None:
            continue
        pid = state.spotify_playlist_id
        out.append(
            PlaylistStatus(
                kind=kind,
                name=NAMES[kind],
                url=f"https://open.spotify.com/playlist/{pid}" if pid and real else None,
                written_at=state.written_at,
                run_id=state.run_id,
                behind=state.written_at is not None and current is not None and state.run_id != current,
                next_at=next_slot(rule, member.timezone, now) if writing and on and member is not None else None,
                failed_at=state.failed_at,
                failure=describe(state.failure, state.failure_detail) if state.failed_at and state.failure else None,
                refused=refused.get(kind, 0),
            )
        )
    return out


def run_job(
    instance: Instance, member_id: int | None, now: datetime, port_factory: PortFactory = default_port
) -> dict[str, Any]:
    """The worker's publish job: every consenting member whose publish time has come (or one member, now)."""
    with instance.db.read() as conn:
        ids = [member_id] if member_id is not None else members_with_consent(conn, "publish")
    summary: dict[str, Any] = {"calls": 0, "written": 0, "unchanged": 0, "errors": []}
    for mid in ids:
        try:
            for r in publish_member(instance, mid, now, only_due=member_id is None, port_factory=port_factory):
                summary["calls"] += r.calls
                if r.status in ("written", "created"):
                    summary["written"] += 1
                elif r.status == "unchanged":
                    summary["unchanged"] += 1
        except Exception as exc:  # one member's failure must not stop the others
            log.warning("publishing for member %s failed: %s", mid, exc)
            summary["errors"].append(f"member {mid}: {exc}")
    if summary["errors"]:
        raise RuntimeError("; ".join(summary["errors"]))
    return summary
