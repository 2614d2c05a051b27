"""Release Radar: the daily checks of the household's loved artists within the budget, and each member's weekly playlist."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recs import storage
from recs.core.config import RadarSettings
from recs.core.domain import PublishSettingsRow
from recs.core.radar import (
    KnownTracks,
    Loved,
    NewTrack,
    RadarPlan,
    checks_today,
    collect_signals,
    due_today,
    find_new_tracks,
    household_order,
    plan,
    rank_loved,
)
from recs.core.ranking import apply_filters
from recs.spotify import ErrorKind, SpotifyError
from recs.storage import Connection, Database
from recs.storage.radar import Found, RadarSettingsRow, found_track
from recs.usecases.budget import CEILINGS, WINDOW, Budget
from recs.usecases.instance import Instance

log = logging.getLogger(__name__)

KIND = "radar"  # the playlist kind (published_playlists, publish_log)
MAX_SIZE = 100  # one PUT replaces at most 100 items
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# Errors that end the day's checks: no call may go out now (budget, pause, rate), or the member's token is gone.
_STOP = frozenset(
    {
        ErrorKind.BUDGET,
        ErrorKind.QUOTA_EXCEEDED,
        ErrorKind.RATE_LIMITED,
        ErrorKind.INVALID_GRANT,
        ErrorKind.NO_TOKEN,
        ErrorKind.NOT_ALLOWLISTED,
    }
)
# Errors about one artist that a retry will not mend: the check is recorded so it is not paid for again today.
_SETTLED = frozenset({ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST, ErrorKind.FORBIDDEN})


class RadarError(ValueError):
    """A Release Radar setting cannot be saved; the message names the field."""


# ---- settings ----------------------------------------------------------------------------------------


def radar_settings(db: Database, member_id: int, defaults: RadarSettings) -> RadarSettingsRow:
    """The member's Release Radar settings, or the instance defaults when they never chose."""
    with db.read() as conn:
        row = storage.radar.get_settings(conn, member_id)
    return row or _defaults(defaults)


def _defaults(defaults: RadarSettings) -> RadarSettingsRow:
    return RadarSettingsRow(defaults.default_on, defaults.size, defaults.weekday, defaults.local_time)


def validate_settings(enabled: bool, size: str, weekday: str, local_time: str) -> RadarSettingsRow:
    """Form values -> settings, or a RadarError saying which field is wrong and how."""
    try:
        n = int(size)
    except ValueError:
        raise RadarError(f"Release Radar size must be a whole number, got {size!r}") from None
    if not 1 <= n <= MAX_SIZE:
        raise RadarError(f"Release Radar size must be between 1 and {MAX_SIZE}, got {n}")
    try:
        day = int(weekday)
    except ValueError:
        raise RadarError(f"Release Radar day must be 0 (Monday) to 6 (Sunday), got {weekday!r}") from None
    if not 0 <= day <= 6:
        raise RadarError(f"Release Radar day must be 0 (Monday) to 6 (Sunday), got {day}")
    if not _TIME.match(local_time):
        raise RadarError(f"Release Radar time must be HH:MM (24-hour), got {local_time!r}")
    return RadarSettingsRow(enabled, n, day, local_time)


def save_settings(db: Database, member_id: int, values: RadarSettingsRow) -> None:
    with db.write() as conn:
        storage.radar.save_settings(conn, member_id, values)


def weekly_rule(rule: RadarSettingsRow) -> PublishSettingsRow:
    """The member's Release Radar day and time as a weekly publishing rule (playlists.last_slot reads it)."""
    return PublishSettingsRow(rule.size, False, False, "weekly", rule.weekday, rule.local_time)


# ---- who, and which artists --------------------------------------------------------------------------


def _radar_members(conn: Connection, defaults: RadarSettings) -> list[int]:
    """Members who get a Release Radar: they keep their listening and allow playlists, it is on, and their
    Spotify authorisation works."""
    storing = set(storage.members.members_with_consent(conn, "store"))
    writing = set(storage.members.members_with_consent(conn, "publish"))
    chosen = storage.radar.members_with_settings(conn)
    out = []
    for m in storage.members.list_members(conn):
        rule = chosen.get(m.id)
        on = rule.enabled if rule is not None else defaults.default_on
        if m.id in storing and m.id in writing and on and not m.reconnect_needed and not m.not_allowlisted:
            out.append(m.id)
    return out


def _loved_artists(conn: Connection, member_id: int, now: datetime, limit: int) -> list[Loved]:
    """The member's most loved artists from what recs stores of them (plays, liked songs, follows, top artists).

    Consent is honoured for every interval it was off: a play or a liked song dated in an interval when the
    member had storing switched off does not count (liked songs are read whole, whatever date they carry)."""
    off = storage.members.off_intervals(conn, member_id, "store")

    def allowed(at: datetime | None) -> bool:
        return at is None or storage.members.may_store(off, at)

    plays = ((at, artists) for at, artists in storage.radar.member_plays(conn, member_id) if allowed(at))
    saved = [artists for at, artists in storage.radar.member_saves(conn, member_id) if allowed(at)]
    followed = [a for a, _seen in storage.radar.member_follows(conn, member_id)]
    taken, top = storage.radar.member_top_artists(conn, member_id)
    blocked = storage.feedback.member_filters(conn, member_id, now.date()).blocked_artists
    signals = collect_signals(plays, saved, followed, top if allowed(taken) else [], now)
    return rank_loved(signals, blocked, limit)


def radar_members(db: Database, defaults: RadarSettings) -> list[int]:
    """Members who get a Release Radar (see _radar_members)."""
    with db.read() as conn:
        return _radar_members(conn, defaults)


def loved_artists(db: Database, member_id: int, now: datetime, limit: int) -> list[Loved]:
    """The member's most loved artists, most loved first (see _loved_artists)."""
    with db.read() as conn:
        return _loved_artists(conn, member_id, now, limit)


@dataclass(frozen=True)
class Household:
    """The household's check list and its plan."""

    members: list[int]
    loved: dict[int, list[Loved]]  # member -> their loved artists, most loved first
    order: list[int]  # artist row ids to check, household love order (only those with a Spotify id)
    spotify: dict[int, str]  # artist row id -> Spotify id
    plan: RadarPlan
    other_calls: int  # Web API calls of everything else in the last 24 h
    radar_calls: int  # the radar's own calls in the last 24 h
    daily_calls: int


def household(instance: Instance, now: datetime, db: Database | None = None) -> Household:
    """Whose radar, which artists in which order, and whether checking them all fits in the budget (read from *db*,
    the instance's database by default)."""
    conf = instance.settings.radar
    with (db or instance.db).read() as conn:
        members = _radar_members(conn, conf)
        loved = {m: _loved_artists(conn, m, now, conf.loved_per_member) for m in members}
        spotify = storage.radar.artist_spotify_ids(conn, {x.artist_id for v in loved.values() for x in v})
        used = storage.sync.count_calls(conn, now - WINDOW, exclude_purpose="token")
        radar_calls = storage.sync.count_calls(conn, now - WINDOW, purpose="radar")
    order = [a for a in household_order(loved) if a in spotify]
    daily = instance.settings.budget.daily_calls
    other = used - radar_calls
    return Household(
        members,
        loved,
        order,
        spotify,
        plan(len(order), daily, CEILINGS["radar"], other, conf.window_days),
        other,
        radar_calls,
        daily,
    )


def plan_words(h: Household) -> list[str]:
    """The plan for the admin page and `recs radar plan`, in sentences."""
    p = h.plan
    if not h.members:
        return ["No member has a Release Radar: it needs listening kept, playlists allowed and the radar on."]
    lines = [
        f"{len(h.members)} member{'s' if len(h.members) != 1 else ''} with a Release Radar love "
        f"{p.artists} distinct artist{'s' if p.artists != 1 else ''} between them.",
        f"Each artist is checked once every {p.cycle_days} day{'s' if p.cycle_days != 1 else ''}: "
        f"{p.per_day} a day, about {p.calls_per_day:.0f} Spotify calls a day.",
        f"The radar may use {p.headroom} calls a day: its ceiling of {int(h.daily_calls * CEILINGS['radar'])} "
        f"(half of the {h.daily_calls} a day) less the {h.other_calls} everything else used in the last 24 hours. "
        f"It used {h.radar_calls} itself.",
    ]
    if p.fits:
        lines.append("It fits: every loved artist is checked in time for the next weekly playlist.")
    else:
        lines.append(
            f"It does not fit: only the {p.coverable} most loved artists are checked each cycle; "
            "raise budget.daily_calls or lower radar.loved_per_member."
        )
    return lines


PLAN_KEY = "radar_plan"  # the plan in words as the last daily check made it (the admin page shows it)


def stored_plan(instance: Instance, db: Database, now: datetime) -> tuple[list[str], datetime]:
    """The plan in words as of the last daily check, and when; the plan made now before the first check."""
    with db.read() as conn:
        value = storage.sync.get_state(conn, PLAN_KEY)
    if isinstance(value, dict) and isinstance(value.get("lines"), list) and value.get("at"):
        return [str(x) for x in value["lines"]], datetime.fromisoformat(str(value["at"]))
    # Before the first check the plan is made from every member's plays: that read took 0.2-0.6 s of CPU,
    # so a web process makes it once per PLAN_PREVIEW_TTL rather than on every admin view.
    key = db.url
    cached = _plan_previews.get(key)
    if cached is not None and timedelta(0) <= now - cached[1] < PLAN_PREVIEW_TTL:
        return cached
    made = (plan_words(household(instance, now, db)), now)
    _plan_previews[key] = made
    return made


PLAN_PREVIEW_TTL = timedelta(minutes=10)
_plan_previews: dict[str, tuple[list[str], datetime]] = {}


# ---- the daily check ---------------------------------------------------------------------------------

ClientFactory = Callable[[Instance, int, Callable[[], datetime]], Any]


def _member_api(instance: Instance, member_id: int, clock: Callable[[], datetime]) -> Any:
    from recs.usecases.accounts import member_client

    return member_client(instance, member_id, clock)


@dataclass
class CheckReport:
    due: int = 0
    checked: int = 0
    found: int = 0  # new finds stored
    calls: int = 0
    stopped: str = ""  # why the day's checks ended early
    errors: list[str] = field(default_factory=list)


def household_today(instance: Instance, now: datetime) -> date:
    return now.astimezone(ZoneInfo(instance.settings.scheduler.timezone)).date()


def check_day(
    instance: Instance,
    clock: Callable[[], datetime],
    *,
    sleep: Callable[[float], None] = time.sleep,
    client_factory: ClientFactory = _member_api,
) -> CheckReport:
    """Check the artists due today, in household love order, within the radar's share of the daily budget.

    Each artist's check is stored as soon as it is done (its finds, the releases read, the day), so a
    restart checks only those still due and nothing is found twice. Calls are spaced by radar.pace_s."""
    from recs.spotify.client import CountingApi
    from recs.spotify.releases import SpotifyReleases

    conf = instance.settings.radar
    now = clock()
    h = household(instance, now)
    today = household_today(instance, now)
    since = (today - timedelta(days=conf.window_days)).isoformat()
    with instance.db.write() as conn:
        storage.sync.set_state(conn, PLAN_KEY, {"lines": plan_words(h), "at": now.isoformat()}, now)
        storage.radar.prune_finds(conn, since)
    report = CheckReport()
    if not h.order:
        return report
    order = h.order if h.plan.fits else h.order[: h.plan.coverable]
    with instance.db.read() as conn:
        done = storage.radar.checks(conn)
    last = {a: c.checked_on for a, c in done.items()}
    overdue = sum(1 for a in order if a in last and (today - last[a]).days > h.plan.cycle_days)
    # Checks already made today count: a restarted worker carries on with the day's share, not a new one.
    done_today = sum(1 for on in last.values() if on == today)
    budget = Budget(instance.db, instance.settings.budget, clock)
    quota = min(checks_today(budget.remaining("radar")), max(h.plan.per_day, overdue) - done_today)
    due = due_today(order, last, today, quota, h.plan.cycle_days)
    report.due = len(due)
    # Each artist is read with the token of the member who loves it most (the calls are theirs in the ledger).
    lover: dict[int, int] = {}
    for depth in range(max((len(v) for v in h.loved.values()), default=0)):
        for m in sorted(h.loved):
            if depth < len(h.loved[m]):
                lover.setdefault(h.loved[m][depth].artist_id, m)
    clients: dict[int, CountingApi] = {}
    for artist in due:
        member = lover[artist]
        if member not in clients:
            clients[member] = CountingApi(client_factory(instance, member, clock))
        api = clients[member]
        before = api.total
        sid = h.spotify[artist]
        with instance.db.read() as conn:
            known = KnownTracks()
            for track in storage.radar.known_recordings(conn, artist, sid, since):
                known.add(track)
        prior = done.get(artist)
        read = {a: d for a, d in (prior.albums_read if prior else ()) if d >= since}
        try:
            new = find_new_tracks(SpotifyReleases(api), sid, since, known, read)
        except SpotifyError as exc:
            report.calls += api.total - before
            if exc.kind in _STOP:
                report.stopped = str(exc)
                log.info("release radar stopped for today after %d checks: %s", report.checked, exc)
                break
            report.errors.append(f"artist {sid}: {exc}")
            if exc.kind not in _SETTLED:
                continue
            new = []
        with instance.db.write() as conn:
            report.found += storage.radar.record_check(
                conn, artist, today, clock(), [_found(n) for n in new], sorted(read.items())
            )
        report.checked += 1
        spent = api.total - before
        report.calls += spent
        if conf.pace_s > 0 and spent:
            sleep(conf.pace_s * spent)
    return report


def _found(n: NewTrack) -> Found:
    t = n.track
    names = t.artist_names if len(t.artist_names) == len(t.artist_ids) else ("",) * len(t.artist_ids)
    album = (n.album.spotify_id, n.album.name, n.album.release_date)
    return Found(
        found_track(t.spotify_id, t.name, list(zip(t.artist_ids, names, strict=True)), t.isrc, album),
        n.album.release_date,
    )


# ---- the playlist ------------------------------------------------------------------------------------


def playlist_uris(instance: Instance, member_id: int, now: datetime, db: Database | None = None) -> list[str]:
    """The member's Release Radar: what their loved artists released within the window, most loved artist first
    and newest first within one, less what they played, hid or blocked, at most artist_cap per artist."""
    db = db or instance.db
    conf = instance.settings.radar
    rule = radar_settings(db, member_id, conf)
    today = household_today(instance, now)
    since = (today - timedelta(days=conf.window_days)).isoformat()
    with db.read() as conn:
        loved = _loved_artists(conn, member_id, now, conf.loved_per_member)
        place = {x.artist_id: i for i, x in enumerate(loved)}
        finds = storage.radar.finds_of(conn, place, since)
        ids = [f.track_id for f in finds]
        filters = storage.feedback.list_filters(conn, member_id, "discover", now.date(), ids)
        refused = storage.publishing.rejected_track_ids(conn)
    best = {f.track_id: min(place[a] for a in f.credited if a in place) for f in finds}
    # finds come newest first; a stable sort by love keeps that order within one artist
    ranked = sorted(finds, key=lambda f: best[f.track_id])
    chosen = apply_filters(
        [f.track_id for f in ranked],
        {f.track_id: f.credited for f in finds},
        filters,
        cap=instance.settings.recommend.artist_cap,
        exclude=refused,
        limit=rule.size,
    )
    spotify = {f.track_id: f.spotify_id for f in finds}
    return [f"spotify:track:{spotify[t]}" for t in chosen]


def description(now: datetime, window_days: int, mark: str) -> str:
    return (
        f"New from artists you love: what they released in the last {window_days} days that you have not heard. "
        f"Made by recs, written {now:%Y-%m-%d %H:%M} UTC. [{mark}]"
    )


def publish_due(
    instance: Instance,
    now: datetime,
    *,
    member_id: int | None = None,
    port_factory: Callable[[Instance, int, Callable[[], datetime]], Any] | None = None,
) -> dict[str, Any]:
    """Write the Release Radar of every member whose weekly time has come (or of one member, now)."""
    from recs.usecases import playlists

    factory = port_factory or playlists.default_port
    conf = instance.settings.radar
    with instance.db.read() as conn:
        members = _radar_members(conn, conf)
        states = {m: storage.publishing.get_playlist_state(conn, m, KIND) for m in members}
        zones = {m: storage.members.get_member(conn, m) for m in members}
    summary: dict[str, Any] = {"radar_written": 0, "radar_unchanged": 0, "calls": 0, "errors": []}
    for mid in members if member_id is None else [m for m in members if m == member_id]:
        rule = radar_settings(instance.db, mid, conf)
        who = zones[mid]
        tz = who.timezone if who is not None else "UTC"
        if member_id is None and not playlists.is_due(weekly_rule(rule), tz, states[mid].written_at, now):
            continue
        try:
            uris = playlist_uris(instance, mid, now)
            if not uris and states[mid].spotify_playlist_id is None:
                continue  # nothing new yet: no empty playlist is created
            port = factory(instance, mid, lambda: now)
            before = port.calls
            result = playlists.write_playlist(
                instance,
                mid,
                KIND,
                uris,
                port,
                now,
                name=playlists.NAMES[KIND],
                describe=lambda mark: description(now, conf.window_days, mark),
            )
            summary["calls"] += port.calls - before
            summary["radar_unchanged" if result.status == "unchanged" else "radar_written"] += 1
        except Exception as exc:  # one member's failure must not stop the others
            log.warning("release radar for member %s failed: %s", mid, exc)
            summary["errors"].append(f"member {mid}: {exc}")
    return summary


def run_job(instance: Instance, _member_id: int | None, _now: datetime) -> dict[str, Any]:
    """The worker's daily radar job: check the artists due today (the playlists are written by the publish job)."""
    from datetime import UTC

    report = check_day(instance, lambda: datetime.now(UTC))
    detail: dict[str, Any] = {
        "artists_checked": report.checked,
        "tracks_found": report.found,
        "calls": report.calls,
        "errors": report.errors,
    }
    if report.stopped:
        detail["stopped"] = report.stopped
    return detail


def member_view(instance: Instance, db: Database, member_id: int, now: datetime) -> Mapping[str, Any]:
    """What the member's settings page says of their Release Radar: the settings, and when it is next written."""
    from recs.usecases import playlists

    rule = radar_settings(db, member_id, instance.settings.radar)
    with db.read() as conn:
        member = storage.members.get_member(conn, member_id)
        state = storage.publishing.get_playlist_state(conn, member_id, KIND)
    tz = ZoneInfo(member.timezone if member is not None else "UTC")
    next_at = playlists.next_slot(weekly_rule(rule), str(tz), now).astimezone(tz) if rule.enabled else None
    return {
        "rule": rule,
        "written_at": state.written_at.astimezone(tz) if state.written_at else None,
        "next_at": next_at,
        "window_days": instance.settings.radar.window_days,
    }
