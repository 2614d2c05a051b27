"""Domain objects shared across layers: frozen dataclasses with no behaviour beyond validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from recs.core.publish_failures import describe

Purpose = Literal["store", "train", "publish", "blend"]
PURPOSES: tuple[Purpose, ...] = ("store", "train", "publish", "blend")
Role = Literal["owner", "member"]
PlaySource = Literal["api", "export"]
Mode = Literal["discover", "rediscover"]


@dataclass(frozen=True)
class ArtistInfo:
    spotify_id: str | None
    name: str
    image_url: str | None = None


@dataclass(frozen=True)
class AlbumInfo:
    spotify_id: str | None
    name: str
    release_date: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class TrackInfo:
    """What we know of a track from a payload or an export row (no extra metadata calls)."""

    spotify_id: str | None
    name: str
    artists: tuple[ArtistInfo, ...] = ()
    album: AlbumInfo | None = None
    duration_ms: int | None = None
    isrc: str | None = None
    explicit: bool | None = None

    @property
    def primary_artist(self) -> str:
        return self.artists[0].name if self.artists else ""


@dataclass(frozen=True)
class TrackCheck:
    """What GET /tracks/{id} in a member's market said of a track: playable there or not, and Spotify's data."""

    spotify_id: str
    playable: bool
    reason: str | None = None  # why not playable
    info: TrackInfo | None = None  # Spotify's own data for the track (None when it was not found)


@dataclass(frozen=True)
class PlayRecord:
    """One play (>= the play threshold) of one track by one member."""

    played_at: datetime
    track: TrackInfo
    source: PlaySource
    ms_played: int | None = None
    context_uri: str | None = None
    skipped: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    shuffle: bool | None = None


@dataclass(frozen=True)
class PlayRow:
    """A play to store, its track already resolved to a row id."""

    played_at: datetime
    track_id: int
    source: PlaySource
    ms_played: int | None = None
    context_uri: str | None = None
    skipped: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    shuffle: bool | None = None
    import_id: int | None = None


@dataclass(frozen=True)
class Member:
    id: int
    spotify_id: str
    account_id: str | None
    display_name: str
    role: Role
    timezone: str
    created_at: datetime
    reconnect_needed: bool = False
    not_allowlisted: bool = False

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


@dataclass(frozen=True)
class Consent:
    purpose: Purpose
    granted: bool
    granted_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class MemberFilters:
    """What a member keeps out of their lists on a given day: hidden tracks, artists blocked that day and, for a
    stored "discover" list, the tracks of it they have played since it was made."""

    hidden: frozenset[int] = frozenset()
    blocked_artists: frozenset[int] = frozenset()
    played: frozenset[int] = frozenset()


@dataclass(frozen=True)
class TrackRow:
    """A stored track with what a list needs to show it (names, artists, album, image)."""

    id: int
    spotify_id: str | None
    name: str
    artist_names: tuple[str, ...]
    artist_ids: tuple[int, ...]
    album_name: str | None
    image_url: str | None
    duration_ms: int | None

    @property
    def uri(self) -> str | None:
        return f"spotify:track:{self.spotify_id}" if self.spotify_id else None


@dataclass(frozen=True)
class Recommendation:
    """One stored recommendation; `track` (display data) is filled in by the use case that shows it."""

    run_id: int
    rank: int
    track_id: int
    score: float | None
    explanation: str | None
    because_track_id: int | None
    track: TrackRow | None = None
    # 'household' (someone here played it), 'open' (only open listening data has it), or None (older runs).
    source: str | None = None


# ---- A member's say (hidden, blocked, excluded contexts, playlist settings, run-now requests)


@dataclass(frozen=True)
class BlockedArtist:
    artist_id: int
    name: str
    until: date | None
    created_at: datetime


@dataclass(frozen=True)
class ExcludedContext:
    context_uri: str
    label: str
    created_at: datetime


@dataclass(frozen=True)
class PublishSettingsRow:
    size: int
    discover: bool
    rediscover: bool
    frequency: str
    weekday: int
    local_time: str


@dataclass(frozen=True)
class JobRequestStatus:
    """A "run now" request as the dashboard lists it: what was asked, by whom, and how it went."""

    id: int
    job: str
    member_id: int | None
    requested_by: int | None
    requested_at: datetime
    taken_at: datetime | None
    finished_at: datetime | None
    status: str


@dataclass(frozen=True)
class ContextChoice:
    """A playlist or album the member listened from (or owns), offered for exclusion."""

    context_uri: str
    label: str
    plays: int


# ---- Statistics and the owner's overview


@dataclass(frozen=True)
class HourBucket:
    """Plays started within one UTC hour."""

    hour: datetime
    plays: int
    ms: int


@dataclass(frozen=True)
class TopEntry:
    """One line of a top list (a track, an artist or an album), or of the recent plays."""

    id: int
    name: str
    detail: str  # the (primary) artist, for a track or an album
    plays: int
    ms: int
    image_url: str | None = None  # the cover (an artist's picture), largest size as Spotify gave it
    spotify_id: str | None = None
    played_at: datetime | None = None  # recent plays only


@dataclass(frozen=True)
class Gap:
    id: int
    start: datetime
    end: datetime
    detected_at: datetime
    filled_at: datetime | None


@dataclass(frozen=True)
class ImportRecord:
    """One import of a member's data export: when, what file, how it went (its report or error)."""

    id: int
    member_id: int
    started_at: datetime
    finished_at: datetime | None
    source_name: str
    status: str
    report: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class PublishedRow:
    kind: str
    spotify_playlist_id: str | None
    track_uris: tuple[str, ...]
    written_at: datetime | None


@dataclass(frozen=True)
class SyncHealth:
    member_id: int
    display_name: str
    role: str
    reconnect_needed: bool
    not_allowlisted: bool
    last_poll: datetime | None
    last_error: str | None
    open_gaps: int
    refresh_expires_at: datetime | None
    keeps_listening: bool = True  # the member's 'store' consent: without it nothing is polled
    library_error: str | None = None  # the last failure of a library stream (saved tracks, playlists, ...)
    refused_tracks: int = 0  # tracks Spotify refused in the member's playlist writes since their last publish
    last_published: datetime | None = None
    # The member's last failed publish not yet followed by a write (recs.core.publish_failures kinds).
    publish_failed_at: datetime | None = None
    publish_failure: str | None = None
    publish_failure_detail: str | None = None

    @property
    def state(self) -> tuple[str, str, str]:
        """(badge class, state in words, what to do): the most pressing of the member's problems, or ok."""
        return self.problems[0] if self.problems else ("ok", "ok", "")

    @property
    def problems(self) -> list[tuple[str, str, str]]:
        """Every (badge class, words, what to do) from the last sync, library and publish outcomes, worst first.

        Lost access (revoked grant, off the allow-list) explains every other failure, so it stands alone.
        """
        if self.reconnect_needed:
            return [("bad", "Spotify access revoked or expired", "Ask them to sign in again to reconnect.")]
        if self.not_allowlisted:
            return [("bad", "not on the app's Spotify allow-list", "Add their Spotify account under the app's users.")]
        out: list[tuple[str, str, str]] = []
        if self.publish_failed_at is not None:
            words = describe(self.publish_failure or "error", self.publish_failure_detail)
            out.append(("bad", words.owner, words.owner_todo))
        if not self.keeps_listening:
            out.append(("warn", "not collecting: no consent to keep listening", "Nothing to do unless they change it."))
        elif self.last_error:
            out.append(
                ("warn", f"last poll failed: {self.last_error}", "It is retried; reconnect if it keeps failing.")
            )
        elif self.last_poll is None:
            out.append(("warn", "never polled yet", "The next sync polls them; “Sync listening now” starts it sooner."))
        if self.library_error:
            out.append(("warn", f"library refresh failed: {self.library_error}", "It is retried on the next refresh."))
        if self.refused_tracks:
            n = self.refused_tracks
            out.append(
                (
                    "warn",
                    f"Spotify refused {n} track{'s' if n != 1 else ''} of the last playlist",
                    "The rest was published; refused tracks are listed below.",
                )
            )
        return out


@dataclass(frozen=True)
class ModelRunRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    model_kind: str | None
    metrics: dict[str, Any]
    baselines: dict[str, Any]
    data_size: dict[str, Any]
    is_current: bool
    note: str | None
    # The community prior this run used or refused (recs.usecases.prior_fold.PriorStatus plus the hold-out's blend), or None.
    prior: dict[str, Any] | None = None
    chosen: str | None = None  # the candidate the hold-out chose ("als f64 r0.01 a10", "itemknn k50", ...)


@dataclass(frozen=True)
class InviteOverview:
    """An invite as the owner's page lists it (never its code or hash)."""

    id: int
    spotify_id: str | None
    created_at: datetime
    expires_at: datetime | None
    used_by: int | None
    used_at: datetime | None
    for_name: str | None = None  # the display name of the member with that Spotify account, if they joined
    used_by_name: str | None = None


# ---- Imports


@dataclass(frozen=True)
class ImportProgress:
    """Where one import stands, as any process reads it from its record."""

    id: int
    status: str
    started_at: datetime
    rows_done: int
    rows_total: int | None
    progress_at: datetime
    error: str | None

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.rows_done / self.rows_total)) if self.rows_total else 0

    def silent_since(self, moment: datetime) -> bool:
        """Still 'running' but without a sign of life since *moment*: its process stopped."""
        return self.status == "running" and self.progress_at < moment


@dataclass(frozen=True)
class RunningImport:
    """An import record still 'running': the process running it (host:pid, if known) and its last sign of life."""

    id: int
    member_id: int
    owner: str | None
    last_sign: datetime


# ---- Training runs


@dataclass(frozen=True)
class RecommendationRow:
    member_id: int
    mode: str
    rank: int
    track_id: int
    score: float | None
    explanation: str | None
    because_track_id: int | None
    source: str | None = None


# ---- The job ledger and run-now requests


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    trigger_key: str
    member_id: int | None
    worker: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    detail: dict[str, Any] | None
    error: str | None
    lease_until: datetime


@dataclass(frozen=True)
class JobRequest:
    id: int
    job: str
    member_id: int | None
    requested_by: int | None
    requested_at: datetime


@dataclass(frozen=True)
class BlendTrack:
    """One track of a made Blend: whose taste brought it, and the other participants who share it as a favourite."""

    position: int
    track_id: int
    member_id: int
    shared_with: tuple[int, ...]


@dataclass(frozen=True)
class StoredBlend:
    """A made Blend (docs/blend.md): its participants with their share, the tracks, and taste match per pair."""

    id: int
    made_at: datetime
    run_id: int | None
    shares: dict[int, int]  # participant -> tracks their taste brought
    tracks: tuple[BlendTrack, ...]
    matches: tuple[tuple[int, int, float], ...]  # (member a, member b, 0..1)


@dataclass(frozen=True)
class TokenRow:
    """A member's stored Spotify grant: the encrypted token and its lifetimes."""

    member_id: int
    ciphertext: bytes
    scope: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    authorised_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StateRow:
    """A pending OAuth sign-in: the state's hash, the encrypted PKCE verifier and the invite it carries."""

    state_hash: str
    verifier_ciphertext: bytes
    created_at: datetime
    invite_code_hash: str | None
    used_at: datetime | None


@dataclass(frozen=True)
class InviteRow:
    """An invite as stored: who made it, for which Spotify account, and whether it was used."""

    id: int
    code_hash: str | None
    spotify_id: str | None
    created_by: int | None
    created_at: datetime
    expires_at: datetime | None
    used_by: int | None
    used_at: datetime | None


@dataclass(frozen=True)
class CursorRow:
    """Where one member's sync stream stands: its cursor, last success and attempt, and next due time."""

    member_id: int
    stream: str
    cursor: str | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    next_due_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class GapRow:
    """A stretch of a member's listening the sync could not collect, and whether it was filled."""

    id: int
    member_id: int
    gap_start: datetime
    gap_end: datetime
    detected_at: datetime
    filled_at: datetime | None


@dataclass(frozen=True)
class Rejection:
    """A track Spotify refused in a playlist write, with who it was for and why (admin page)."""

    spotify_id: str | None
    name: str
    member: str | None
    kind: str
    reason: str
    rejected_at: datetime
