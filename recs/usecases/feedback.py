"""A member's say over their recommendations: hidden tracks, blocked artists, excluded contexts, playlist settings, "run now" requests."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recs import storage
from recs.core.config import PublishSettings
from recs.core.domain import BlockedArtist, ContextChoice, ExcludedContext, JobRequestStatus, PublishSettingsRow
from recs.storage import Database
from recs.storage.catalog import get_tracks
from recs.storage.members import open_data_members, update_member
from recs.usecases.recommendations import current_recommendations

__all__ = [
    "JOBS",
    "BlockedArtist",
    "ContextChoice",
    "ExcludedContext",
    "FeedbackError",
    "JobRequestStatus",
    "NotFound",
    "PublishSettingsRow",
]

# Jobs the dashboard may ask the worker to run now: job -> whether it is per member.
JOBS: dict[str, bool] = {"sync": True, "library": True, "train": False, "publish": True, "radar": False, "blend": False}
MAX_PLAYLIST_SIZE = 100  # one PUT /playlists/{id}/items replaces at most 100 items

_ID = r"[A-Za-z0-9]{22}"
_URI = re.compile(rf"^spotify:(playlist|album):({_ID})$")
_URL = re.compile(rf"^https://open\.spotify\.com/(?:intl-[a-z-]+/)?(playlist|album)/({_ID})(?:[/?#].*)?$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class FeedbackError(ValueError):
    """A request the member made cannot be applied; the message says what to change."""


class NotFound(LookupError):
    """The track, artist or item is not one of this member's (or does not exist): the same answer either way."""


def hide_track(db: Database, member_id: int, track_id: int, now: datetime) -> bool:
    """Keep a track out of this member's lists ("not for me"); False when it was hidden already."""
    with db.write() as conn:
        if not storage.feedback.track_known_to(conn, member_id, track_id):
            raise NotFound(f"track {track_id} is not on your lists")
        return storage.feedback.hide_track(conn, member_id, track_id, now)


def like_track(db: Database, member_id: int, track_id: int, now: datetime) -> bool:
    """ "More like this": a positive signal training weighs (`Weighting.liked_weight`); False when already liked."""
    with db.write() as conn:
        if not storage.feedback.track_known_to(conn, member_id, track_id):
            raise NotFound(f"track {track_id} is not on your lists")
        return storage.feedback.like_track(conn, member_id, track_id, now)


def unlike_track(db: Database, member_id: int, track_id: int) -> bool:
    with db.write() as conn:
        return storage.feedback.unlike_track(conn, member_id, track_id)


def unhide_track(db: Database, member_id: int, track_id: int) -> bool:
    with db.write() as conn:
        return storage.feedback.unhide_track(conn, member_id, track_id)


def hidden_tracks(db: Database, member_id: int) -> list[int]:
    with db.read() as conn:
        return storage.feedback.hidden_track_ids(conn, member_id)


@dataclass(frozen=True)
class HiddenTrack:
    track_id: int
    name: str
    artists: str


def hidden_track_list(db: Database, member_id: int, limit: int = 200) -> list[HiddenTrack]:
    """The songs this member hid ("not for me"), newest first, named so they can be brought back."""
    with db.read() as conn:
        ids = storage.feedback.hidden_track_ids(conn, member_id)[:limit]
        info = get_tracks(conn, ids)
    return [HiddenTrack(t, info[t].name, ", ".join(info[t].artist_names)) for t in ids if t in info]


def block_artist(db: Database, member_id: int, artist_id: int, until: date | None, today: date, now: datetime) -> str:
    """Block an artist from this member's lists, for good or until a date; returns the artist's name."""
    # The block holds through its end date (as training and publishing read it).
    if until is not None and until < today:
        raise FeedbackError(f"the end date {until:%d %b %Y} has passed; leave it empty to block for good")
    with db.write() as conn:
        name = storage.feedback.artist_known_to(conn, member_id, artist_id)
        if name is None:
            raise NotFound(f"artist {artist_id} is not on your lists")
        storage.feedback.block_artist(conn, member_id, artist_id, until, now)
    return name


def unblock_artist(db: Database, member_id: int, artist_id: int) -> bool:
    with db.write() as conn:
        return storage.feedback.unblock_artist(conn, member_id, artist_id)


def blocked_artists(db: Database, member_id: int, today: date | None = None) -> list[BlockedArtist]:
    with db.read() as conn:
        return storage.feedback.blocked_artist_list(conn, member_id, today)


def parse_context(text: str) -> str:
    """A playlist or album as a spotify: URI, from a URI or an open.spotify.com link."""
    value = text.strip()
    for pattern in (_URI, _URL):
        match = pattern.match(value)
        if match:
            return f"spotify:{match.group(1)}:{match.group(2)}"
    raise FeedbackError(
        "give a playlist or album as a Spotify link (https://open.spotify.com/playlist/…) "
        "or URI (spotify:playlist:…); other kinds of context cannot be excluded"
    )


def exclude_context(db: Database, member_id: int, text: str, label: str, now: datetime) -> str:
    """Stop counting plays from a playlist or album as this member's taste; returns its URI."""
    uri = parse_context(text)
    label = label.strip()[:200]
    with db.write() as conn:
        if not label and uri.startswith("spotify:playlist:"):
            label = storage.feedback.playlist_name(conn, member_id, uri.rsplit(":", 1)[-1]) or ""
        storage.feedback.add_excluded_context(conn, member_id, uri, label, now)
    return uri


def include_context(db: Database, member_id: int, uri: str) -> bool:
    with db.write() as conn:
        return storage.feedback.remove_excluded_context(conn, member_id, uri)


def excluded_contexts(db: Database, member_id: int) -> list[ExcludedContext]:
    with db.read() as conn:
        return storage.feedback.excluded_context_list(conn, member_id)


def context_choices(db: Database, member_id: int) -> list[ContextChoice]:
    with db.read() as conn:
        return storage.feedback.context_choices(conn, member_id)


def playlist_settings(db: Database, member_id: int, defaults: PublishSettings) -> PublishSettingsRow:
    """The member's playlist settings, or the instance defaults when they never chose."""
    with db.read() as conn:
        row = storage.feedback.get_publish_settings(conn, member_id)
    if row is not None:
        return row
    return PublishSettingsRow(
        size=defaults.size,
        discover=True,
        rediscover=False,
        frequency=defaults.frequency,
        weekday=defaults.weekday,
        local_time=defaults.local_time,
    )


def validate_playlist_settings(
    size: str, discover: bool, rediscover: bool, frequency: str, weekday: str, local_time: str
) -> PublishSettingsRow:
    """Form values -> settings, or a FeedbackError naming the field that is wrong."""
    try:
        n = int(size)
    except ValueError:
        raise FeedbackError(f"playlist size must be a whole number, got {size!r}") from None
    if not 1 <= n <= MAX_PLAYLIST_SIZE:
        raise FeedbackError(f"playlist size must be between 1 and {MAX_PLAYLIST_SIZE}, got {n}")
    if frequency not in ("weekly", "daily"):
        raise FeedbackError(f"frequency must be weekly or daily, got {frequency!r}")
    try:
        day = int(weekday)
    except ValueError:
        raise FeedbackError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}") from None
    if not 0 <= day <= 6:
        raise FeedbackError(f"weekday must be 0 (Monday) to 6 (Sunday), got {day}")
    if not _TIME.match(local_time):
        raise FeedbackError(f"time must be HH:MM (24-hour), got {local_time!r}")
    if not (discover or rediscover):
        raise FeedbackError("choose at least one playlist: discover or rediscover")
    return PublishSettingsRow(n, discover, rediscover, frequency, day, local_time)


def save_playlist_settings(db: Database, member_id: int, values: PublishSettingsRow) -> None:
    with db.write() as conn:
        storage.feedback.save_publish_settings(conn, member_id, values)


def set_timezone(db: Database, member_id: int, name: str) -> str:
    """Set the timezone the member's charts and publishing time use (an IANA name such as Europe/Paris)."""
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FeedbackError(f"unknown timezone {name!r}: use a name such as Europe/Paris or America/New_York") from None
    with db.write() as conn:
        update_member(conn, member_id, timezone=name)
    return name


def set_open_data(db: Database, member_id: int, on: bool) -> None:
    """Whether the member's discover list may hold tracks from open listening data (from the next training)."""
    with db.write() as conn:
        update_member(conn, member_id, open_data=on)


def open_data_on(db: Database, member_id: int) -> bool:
    with db.read() as conn:
        return member_id in open_data_members(conn, [member_id])


@dataclass(frozen=True)
class Queued:
    request: JobRequestStatus
    new: bool


def request_job(db: Database, job: str, member_id: int | None, requested_by: int, now: datetime) -> Queued:
    """Queue a job for the worker ("run now"); the web process never runs it itself.

    A per-member job needs *member_id*; an instance job (train) ignores it.
    """
    if job not in JOBS:
        raise FeedbackError(f"unknown job {job!r}: choose one of {', '.join(JOBS)}")
    target = member_id if JOBS[job] else None
    with db.write() as conn:
        request, new = storage.feedback.queue_job_request(conn, job, target, requested_by, now)
    return Queued(request, new)


def job_requests(db: Database, member_id: int | None = None, limit: int = 50) -> list[JobRequestStatus]:
    with db.read() as conn:
        return storage.feedback.job_request_list(conn, member_id, limit)


OPEN_SPOTIFY = "https://open.spotify.com/track/"


@dataclass(frozen=True)
class Card:
    """One recommendation as the page shows it."""

    rank: int
    track_id: int
    name: str
    artists: tuple[tuple[int, str], ...]  # (artist row id, name) in credit order
    album: str | None
    image_url: str | None
    spotify_url: str | None
    explanation: str | None
    run_id: int
    source: str | None = None  # 'household', 'open' (open listening data) or None (runs before sources)
    liked: bool = False  # "more like this" was asked
    saved: bool = False  # in the member's saved songs (as recs last read or wrote them)


def my_recommendations(
    db: Database,
    member_id: int,
    mode: str,
    today: date,
    limit: int = 30,
    track_page: Callable[[str], str] = lambda spotify_id: OPEN_SPOTIFY + spotify_id,
) -> list[Card]:
    """The member's current list (hidden tracks and blocked artists left out), with what the page needs to draw it.

    *track_page* makes a track's link (Settings.track_page: the emulator's own page when it stands in for Spotify).
    """
    if mode not in ("discover", "rediscover"):
        raise FeedbackError(f"unknown list {mode!r}: discover or rediscover")
    cards = []
    recs = current_recommendations(db, member_id, mode, today=today, limit=limit)
    ids = [r.track_id for r in recs]
    with db.read() as conn:
        liked = storage.feedback.liked_track_ids(conn, member_id, ids) if ids else set()
        saved = set(storage.sync.saved_added_at(conn, member_id, ids))
    for r in recs:
        t = r.track
        if t is None:  # pragma: no cover - foreign keys keep tracks
            continue
        cards.append(
            Card(
                rank=r.rank,
                track_id=r.track_id,
                name=t.name,
                artists=tuple(zip(t.artist_ids, t.artist_names, strict=True)),
                album=t.album_name,
                image_url=t.image_url,
                spotify_url=track_page(t.spotify_id) if t.spotify_id else None,
                explanation=r.explanation,
                run_id=r.run_id,
                source=r.source,
                liked=r.track_id in liked,
                saved=r.track_id in saved,
            )
        )
    return cards


def lists_fingerprint(db: Database, member_id: int) -> tuple[object, ...]:
    """One query that changes whenever the member's current lists or publish offer may (`storage.feedback`)."""
    with db.read() as conn:
        return storage.feedback.lists_fingerprint(conn, member_id)


class ListCache:
    """A member's cards, built once and reused while `lists_fingerprint` and the day are unchanged.

    Building them takes about eight queries (the list, its artists, the member's filters, plays since, track
    data, likes, saved songs); the fingerprint is one, read by the caller and shared with the offer's cache.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[object, ...], list[Card]] = OrderedDict()
        self._lock = threading.Lock()

    def cards(
        self,
        db: Database,
        member_id: int,
        mode: str,
        today: date,
        limit: int,
        track_page: Callable[[str], str],
        fingerprint: tuple[object, ...],
    ) -> list[Card]:
        key = (member_id, mode, today, limit, fingerprint)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        result = my_recommendations(db, member_id, mode, today, limit=limit, track_page=track_page)
        with self._lock:
            self._items[key] = result
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return result
