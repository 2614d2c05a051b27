"""Listening statistics of one member for the dashboard's charts, and the owner's overview of the instance."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recs import storage
from recs.core.domain import (
    Gap,
    ImportProgress,
    ImportRecord,
    InviteOverview,
    JobRun,
    ModelRunRow,
    SyncHealth,
    TopEntry,
)
from recs.storage import Database
from recs.usecases.budget import PAUSE_KEY

# The windows of the top lists: key -> (label, days back; None = all time).
RANGES: dict[str, tuple[str, int | None]] = {
    "4w": ("Last 4 weeks", 28),
    "6m": ("Last 6 months", 182),
    "all": ("All time", None),
}
WEEKS_SHOWN = 52
MONTHS_SHOWN = 12
RECENT_SHOWN = 20


@dataclass(frozen=True)
class WeekPoint:
    start: date  # the Monday the week starts on, in the member's timezone
    plays: int
    hours: float
    new_plays: int


@dataclass(frozen=True)
class MonthShare:
    month: date  # first day of the month
    new_plays: int
    familiar_plays: int

    @property
    def new_share(self) -> float:
        total = self.new_plays + self.familiar_plays
        return self.new_plays / total if total else 0.0


@dataclass(frozen=True)
class ListeningStats:
    member_id: int
    timezone: str
    computed_at: datetime
    total_plays: int
    total_hours: float
    distinct_tracks: int
    distinct_artists: int
    first_play: datetime | None
    last_play: datetime | None
    weeks: tuple[WeekPoint, ...]
    # heat[weekday][hour] = plays, Monday = 0, in the member's timezone.
    heat: tuple[tuple[int, ...], ...]
    months: tuple[MonthShare, ...]
    top_tracks: dict[str, tuple[TopEntry, ...]] = field(default_factory=dict)
    top_artists: dict[str, tuple[TopEntry, ...]] = field(default_factory=dict)
    top_albums: dict[str, tuple[TopEntry, ...]] = field(default_factory=dict)
    recent: tuple[TopEntry, ...] = ()  # the latest plays, newest first
    # Every week and month from the first play's to now's (the charts' periods are cut from these), and the
    # heat map of each calendar year and of the last 52 weeks.
    all_weeks: tuple[WeekPoint, ...] = ()
    all_months: tuple[MonthShare, ...] = ()
    heat_years: dict[int, tuple[tuple[int, ...], ...]] = field(default_factory=dict)
    heat_52w: tuple[tuple[int, ...], ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.total_plays == 0

    @property
    def years(self) -> tuple[int, ...]:
        """The calendar years (member's timezone) holding plays, oldest first."""
        return tuple(sorted(self.heat_years))

    @property
    def new_share_4w(self) -> float:
        recent = self.weeks[-4:]
        total = sum(w.plays for w in recent)
        return sum(w.new_plays for w in recent) / total if total else 0.0


def zone(name: str) -> ZoneInfo:
    """The member's timezone; an unknown name falls back to UTC rather than breaking their page."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def compute_listening_stats(db: Database, member_id: int, timezone: str, now: datetime) -> ListeningStats:
    """Everything the "My listening" page draws, computed from hourly aggregates so a year of plays stays cheap."""
    tz = zone(timezone)
    with db.read() as conn:
        buckets = storage.stats.hourly_plays(conn, member_id)
        firsts = storage.stats.hourly_first_plays(conn, member_id)
        tops_t: dict[str, tuple[TopEntry, ...]] = {}
        tops_a: dict[str, tuple[TopEntry, ...]] = {}
        tops_b: dict[str, tuple[TopEntry, ...]] = {}
        for key, (_label, days) in RANGES.items():
            since = now - timedelta(days=days) if days is not None else None
            tops_t[key] = tuple(storage.stats.top_tracks(conn, member_id, since))
            tops_a[key] = tuple(storage.stats.top_artists(conn, member_id, since))
            tops_b[key] = tuple(storage.stats.top_albums(conn, member_id, since))
        recent = tuple(storage.stats.recent_plays(conn, member_id, RECENT_SHOWN))
        n_tracks, n_artists = storage.stats.distinct_counts(conn, member_id)
        first, last = storage.stats.play_span(conn, member_id)

    heat = [[0] * 24 for _ in range(7)]
    heat_52 = [[0] * 24 for _ in range(7)]
    heat_years: dict[int, list[list[int]]] = {}
    every_week: dict[date, list[int]] = {}  # Monday -> plays, ms, new
    every_month: dict[date, list[int]] = {}  # first day -> plays, new
    this_monday = _monday(now.astimezone(tz).date())
    start_52 = this_monday - timedelta(weeks=WEEKS_SHOWN - 1)
    week_starts = [this_monday - timedelta(weeks=i) for i in range(WEEKS_SHOWN - 1, -1, -1)]
    weekly: dict[date, list[int]] = {d: [0, 0, 0] for d in week_starts}  # plays, ms, new
    local_month = now.astimezone(tz).date().replace(day=1)
    month_starts = []
    m = local_month
    for _ in range(MONTHS_SHOWN):
        month_starts.append(m)
        m = (m - timedelta(days=1)).replace(day=1)
    month_starts.reverse()
    monthly: dict[date, list[int]] = {d: [0, 0] for d in month_starts}  # plays, new
    total_ms = 0
    for b in buckets:
        local = b.hour.astimezone(tz)
        heat[local.weekday()][local.hour] += b.plays
        year = heat_years.get(local.year)
        if year is None:
            year = heat_years[local.year] = [[0] * 24 for _ in range(7)]
        year[local.weekday()][local.hour] += b.plays
        if local.date() >= start_52:
            heat_52[local.weekday()][local.hour] += b.plays
        total_ms += b.ms
        new = firsts.get(b.hour, 0)
        ew = every_week.setdefault(_monday(local.date()), [0, 0, 0])
        ew[0] += b.plays
        ew[1] += b.ms
        ew[2] += new
        em = every_month.setdefault(local.date().replace(day=1), [0, 0])
        em[0] += b.plays
        em[1] += new
        w = weekly.get(_monday(local.date()))
        if w is not None:
            w[0] += b.plays
            w[1] += b.ms
            w[2] += new
        mo = monthly.get(local.date().replace(day=1))
        if mo is not None:
            mo[0] += b.plays
            mo[1] += new
    return ListeningStats(
        member_id=member_id,
        timezone=tz.key,
        computed_at=now,
        total_plays=sum(b.plays for b in buckets),
        total_hours=total_ms / 3_600_000,
        distinct_tracks=n_tracks,
        distinct_artists=n_artists,
        first_play=first,
        last_play=last,
        weeks=tuple(WeekPoint(d, v[0], v[1] / 3_600_000, v[2]) for d, v in weekly.items()),
        heat=tuple(tuple(row) for row in heat),
        months=tuple(MonthShare(d, v[1], v[0] - v[1]) for d, v in monthly.items()),
        top_tracks=tops_t,
        top_artists=tops_a,
        top_albums=tops_b,
        recent=recent,
        all_weeks=_week_series(every_week, this_monday),
        all_months=_month_series(every_month, local_month),
        heat_years={y: tuple(tuple(row) for row in grid) for y, grid in heat_years.items()},
        heat_52w=tuple(tuple(row) for row in heat_52),
    )


def _week_series(weeks: dict[date, list[int]], last: date) -> tuple[WeekPoint, ...]:
    """Every week from the first with plays to *last*, empty weeks included."""
    if not weeks:
        return ()
    out = []
    d = min(min(weeks), last)
    while d <= last:
        v = weeks.get(d, [0, 0, 0])
        out.append(WeekPoint(d, v[0], v[1] / 3_600_000, v[2]))
        d += timedelta(weeks=1)
    return tuple(out)


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def _month_series(months: dict[date, list[int]], last: date) -> tuple[MonthShare, ...]:
    """Every month from the first with plays to *last*, empty months included."""
    if not months:
        return ()
    out = []
    d = min(min(months), last)
    while d <= last:
        v = months.get(d, [0, 0])
        out.append(MonthShare(d, v[1], v[0] - v[1]))
        d = _next_month(d)
    return tuple(out)


# The periods the listening charts can show: the last 52 weeks, all time, or one calendar year ("2024").
DEFAULT_PERIOD = "52w"
MIN_WEEKS = 8  # a new member's week axis still spans two months
MIN_MONTHS = 3
MONTHLY_BARS_AFTER = 104  # weeks: past two years, "all time" draws a bar per month


@dataclass(frozen=True)
class ChartPeriod:
    """What the listening charts draw for one period: bars (weeks or months), new versus familiar, heat map."""

    key: str
    label: str  # "the last 52 weeks", "all time", "2024"
    weekly: bool  # bars are weeks (else months)
    bars: tuple[WeekPoint, ...]  # for monthly bars, start is the month's first day
    months: tuple[MonthShare, ...]
    heat: tuple[tuple[int, ...], ...]


def periods(stats: ListeningStats) -> list[tuple[str, str]]:
    """The period choices offered: (key, label), the last 52 weeks first, then all time, then each year."""
    return [(DEFAULT_PERIOD, "Last 52 weeks"), ("all", "All time"), *((str(y), str(y)) for y in reversed(stats.years))]


def chart_period(stats: ListeningStats, key: str) -> ChartPeriod:
    """The charts' data for period *key* (an unknown key is the last 52 weeks)."""
    weeks, months = stats.all_weeks, stats.all_months
    empty_heat = tuple(tuple(0 for _ in range(24)) for _ in range(7))
    if key == "all" and weeks:
        if len(weeks) > MONTHLY_BARS_AFTER:
            by_month: dict[date, list[float]] = {}
            for w in weeks:  # a week counts in the month its Monday falls in
                v = by_month.setdefault(w.start.replace(day=1), [0, 0.0, 0])
                v[0] += w.plays
                v[1] += w.hours
                v[2] += w.new_plays
            bars = tuple(WeekPoint(m, int(v[0]), v[1], int(v[2])) for m, v in sorted(by_month.items()))
            return ChartPeriod("all", "all time", False, bars, months, stats.heat)
        return ChartPeriod("all", "all time", True, _at_least(weeks, MIN_WEEKS), months, stats.heat)
    if key.isdigit() and int(key) in stats.heat_years:
        year = int(key)
        first, last = date(year, 1, 1), date(year, 12, 31)
        in_year = tuple(w for w in weeks if _monday(first) <= w.start <= last)
        return ChartPeriod(
            key,
            key,
            True,
            in_year,
            tuple(m for m in months if m.month.year == year),
            stats.heat_years[year],
        )
    # The last 52 weeks; a member with less history sees their weeks (at least MIN_WEEKS), not a year of nothing.
    recent = stats.weeks
    if weeks and weeks[0].start > recent[0].start:
        recent = recent[-max(MIN_WEEKS, len(weeks)) :]
    shown_months = stats.months
    if months and months[0].month > shown_months[0].month:
        shown_months = shown_months[-max(MIN_MONTHS, len(months)) :]
    return ChartPeriod(DEFAULT_PERIOD, "the last 52 weeks", True, recent, shown_months, stats.heat_52w or empty_heat)


def _at_least(weeks: tuple[WeekPoint, ...], n: int) -> tuple[WeekPoint, ...]:
    """*weeks* with empty weeks put before them until there are *n*."""
    if len(weeks) >= n:
        return weeks
    pad = tuple(WeekPoint(weeks[0].start - timedelta(weeks=k), 0, 0.0, 0) for k in range(n - len(weeks), 0, -1))
    return pad + weeks


class StatsCache:
    """Recently computed stats, reused while the member's plays are unchanged (checked with one cheap query)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], ListeningStats] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, db: Database, member_id: int, timezone: str, now: datetime) -> ListeningStats:
        with db.read() as conn:
            fingerprint = storage.stats.play_fingerprint(conn, member_id)
        # The hour is part of the key: the 4-week window and the week axis move with time.
        key = (member_id, timezone, fingerprint, now.astimezone(UTC).strftime("%Y-%m-%d %H"))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        result = compute_listening_stats(db, member_id, timezone, now)
        with self._lock:
            self._items[key] = result
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return result

    def forget(self, member_id: int) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == member_id]:
                del self._items[key]


# --- the member's other pages --------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    """How many tracks of the member's last published list they played since it was written."""

    kind: str
    written_at: datetime
    published: int
    played: int

    @property
    def share(self) -> float:
        return self.played / self.published if self.published else 0.0


def last_acceptance(db: Database, member_id: int) -> list[Acceptance]:
    with db.read() as conn:
        out = []
        for row in storage.stats.published_lists(conn, member_id):
            if row.written_at is None or not row.track_uris:
                continue
            played = storage.stats.played_track_uris_since(conn, member_id, row.track_uris, row.written_at)
            out.append(Acceptance(row.kind, row.written_at, len(set(row.track_uris)), len(played)))
    return out


@dataclass(frozen=True)
class HistoryCoverage:
    """What the member's stored history covers, and what is missing, for the import page."""

    api_first: datetime | None
    api_last: datetime | None
    export_first: datetime | None
    export_last: datetime | None
    gaps: tuple[Gap, ...]
    imports: tuple[ImportRecord, ...]
    api_plays: int = 0
    export_plays: int = 0
    last_poll: datetime | None = None  # recs last read the recently played list

    @property
    def has_export(self) -> bool:
        return self.export_first is not None

    @property
    def between(self) -> tuple[datetime, datetime] | None:
        """The hole between the export's last play and live collection's first (a gap too), when over a week."""
        if self.export_last is None:
            return None
        if self.api_first is not None:
            if self.api_first <= self.export_last:  # live collection reaches over the export's end
                return None
            live_start: datetime | None = self.api_first
        else:  # every play polled so far was in the export already, or none came
            live_start = self.last_poll
        if live_start is None or live_start - self.export_last < BETWEEN_SOURCES_GAP:
            return None
        return self.export_last, live_start


BETWEEN_SOURCES_GAP = timedelta(days=7)


def _coverage(
    spans: dict[str, tuple[datetime, datetime, int]],
    gaps: list[Gap],
    imps: list[ImportRecord],
    last_poll: datetime | None,
) -> HistoryCoverage:
    api = spans.get("api", (None, None, 0))
    exp = spans.get("export", (None, None, 0))
    return HistoryCoverage(api[0], api[1], exp[0], exp[1], tuple(gaps), tuple(imps), api[2], exp[2], last_poll)


def history_coverage(db: Database, member_id: int) -> HistoryCoverage:
    with db.read() as conn:
        spans = storage.stats.play_spans_by_source(conn, member_id)
        gaps = storage.stats.member_gaps(conn, member_id)
        imps = storage.stats.member_imports(conn, member_id)
        last_poll = storage.stats.last_recent_poll(conn, member_id)
    return _coverage(spans, gaps, imps, last_poll)


class CoverageCache:
    """What each member's history covers (first and last play per source), kept while their plays are unchanged.

    Finding the spans reads every play of the member: 4 ms for a year of history, two thirds of the import
    page. One indexed count/max(id) query tells whether the plays changed, as for the listening statistics
    (each server process keeps its own). Gaps and imports are read fresh: they change on their own.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._spans: OrderedDict[tuple[int, tuple[int, int, int]], dict[str, tuple[datetime, datetime, int]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def coverage(self, db: Database, member_id: int) -> HistoryCoverage:
        with db.read() as conn:
            key = (member_id, storage.stats.play_fingerprint(conn, member_id))
            with self._lock:
                spans = self._spans.get(key)
                if spans is not None:
                    self._spans.move_to_end(key)
            if spans is None:
                spans = storage.stats.play_spans_by_source(conn, member_id)
                with self._lock:
                    self._spans[key] = spans
                    while len(self._spans) > self._size:
                        self._spans.popitem(last=False)
            gaps = storage.stats.member_gaps(conn, member_id)
            imps = storage.stats.member_imports(conn, member_id)
            last_poll = storage.stats.last_recent_poll(conn, member_id)
        return _coverage(spans, gaps, imps, last_poll)

    def forget(self, member_id: int) -> None:
        with self._lock:
            for key in [k for k in self._spans if k[0] == member_id]:
                del self._spans[key]


def member_import(db: Database, member_id: int, import_id: int) -> ImportRecord | None:
    with db.read() as conn:
        return storage.stats.member_import(conn, member_id, import_id)


def import_progress(db: Database, member_id: int, import_id: int) -> ImportProgress | None:
    """Where one of the member's imports stands (None when it is not theirs)."""
    with db.read() as conn:
        return storage.imports.member_import_progress(conn, member_id, import_id)


def authorisation(db: Database, member_id: int) -> tuple[datetime | None, datetime | None]:
    """(authorised_at, refresh_expires_at) of the member's Spotify sign-in."""
    with db.read() as conn:
        return storage.stats.token_expiry(conn, member_id)


# --- the owner's overview ------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetUsage:
    """The API call budget as the owner's page shows it: calls in the rolling day, its ceiling, any pause."""

    used_24h: int
    daily_calls: int
    # When the oldest call of the window leaves it (the rolling budget frees up), or a quota pause ends.
    resets_at: datetime | None
    paused_until: datetime | None
    pause_reason: str | None = None

    @property
    def share(self) -> float:
        return self.used_24h / self.daily_calls if self.daily_calls else 0.0


@dataclass(frozen=True)
class Overview:
    health: tuple[SyncHealth, ...]
    budget: BudgetUsage
    runs: tuple[ModelRunRow, ...]
    jobs: tuple[JobRun, ...]
    invites: tuple[InviteOverview, ...]


def _pause(values: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """The instance-wide pause the budget stored after a quota 429: (until, reason)."""
    value = values.get(PAUSE_KEY)
    if not isinstance(value, dict) or not isinstance(value.get("until"), str):
        return None, None
    try:
        until = datetime.fromisoformat(value["until"])
    except ValueError:
        return None, None
    reason = value.get("reason")
    return (until if until.tzinfo else until.replace(tzinfo=UTC)), (str(reason) if reason else None)


def instance_overview(db: Database, daily_calls: int, now: datetime) -> Overview:
    since = now - timedelta(hours=24)
    with db.read() as conn:
        health = storage.stats.sync_health(conn)
        used = storage.stats.api_calls_since(conn, since)
        oldest = storage.stats.oldest_api_call_since(conn, since)
        values = storage.stats.instance_values(conn)
        runs = storage.stats.model_run_list(conn)
        jobs = storage.jobs.recent_job_runs(conn, limit=30)
        invites = storage.stats.invite_list(conn)
    paused, reason = _pause(values)
    if paused is not None and paused <= now:
        paused, reason = None, None
    resets = paused or (oldest + timedelta(hours=24) if oldest is not None else None)
    return Overview(
        tuple(health), BudgetUsage(used, daily_calls, resets, paused, reason), tuple(runs), tuple(jobs), tuple(invites)
    )
