"""The database schema for the whole domain, as SQLAlchemy Core tables (migrations are derived from it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.types import DateTime, TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive values; we restore the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # aggregates (MAX, MIN) on SQLite come back as text
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _member_fk(nullable: bool = False, ondelete: str = "CASCADE") -> Column[int]:
    return Column(
        "member_id",
        Integer,
        ForeignKey("members.id", ondelete=ondelete),
        nullable=nullable,
        index=True,
    )


members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("spotify_id", String(128), nullable=False, unique=True),
    Column("account_id", String(128), nullable=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("role", String(16), nullable=False, default="member"),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("created_at", UTCDateTime, nullable=False),
    # Set when the refresh token failed with invalid_grant: the member must sign in again.
    Column("reconnect_needed", Boolean, nullable=False, default=False),
    # A 403 from the Web API: the member is not on the app's Dashboard allowlist.
    Column("not_allowlisted", Boolean, nullable=False, default=False),
    # The member's discover list may hold tracks from open listening data (the community prior).
    Column("open_data", Boolean, nullable=False, default=True, server_default=true()),
    CheckConstraint("role IN ('owner', 'member')", name="role"),
    # One owner per instance, even when two first sign-ins race (PostgreSQL's default isolation allows it).
    Index(
        "uq_members_one_owner",
        "role",
        unique=True,
        sqlite_where=text("role = 'owner'"),
        postgresql_where=text("role = 'owner'"),
    ),
)

invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of the invite code; the code itself is shown once and never stored.
    Column("code_hash", String(64), nullable=True, unique=True),
    # An invite may name the Spotify account that may use it.
    Column("spotify_id", String(128), nullable=True),
    Column("created_by", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("used_by", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("used_at", UTCDateTime, nullable=True),
)

consents = Table(
    "consents",
    metadata,
    _member_fk(),
    # 'store' (keep my listening), 'train' (use it for the household model), 'publish' (write playlists),
    # 'blend' (take part in the household Blend)
    Column("purpose", String(16), nullable=False),
    Column("granted", Boolean, nullable=False, default=False),
    Column("granted_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("member_id", "purpose", name="uq_consents_member_purpose"),
    CheckConstraint("purpose IN ('store', 'train', 'publish', 'blend')", name="purpose"),
)

# Every interval in which a member had a purpose switched off after granting it: plays from an
# interval of 'store' are never kept, however late a poll or an import reaches back into it.
consent_intervals = Table(
    "consent_intervals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    Column("purpose", String(16), nullable=False),
    Column("off_from", UTCDateTime, nullable=False),
    # NULL while it is still off.
    Column("off_until", UTCDateTime, nullable=True),
    CheckConstraint("purpose IN ('store', 'train', 'publish', 'blend')", name="purpose"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    # MultiFernet ciphertext of the token bundle (access token, refresh token, expiry, scope).
    Column("ciphertext", LargeBinary, nullable=False),
    Column("scope", Text, nullable=False, default=""),
    Column("access_expires_at", UTCDateTime, nullable=True),
    # Spotify refresh tokens expire six months after the member authorised.
    Column("refresh_expires_at", UTCDateTime, nullable=True),
    Column("authorised_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Single-flight refresh: who holds the refresh lease and until when.
    Column("refresh_lease_owner", String(64), nullable=True),
    Column("refresh_lease_until", UTCDateTime, nullable=True),
)

oauth_states = Table(
    "oauth_states",
    metadata,
    # sha256 of the state value; compared in constant time on callback.
    Column("state_hash", String(64), primary_key=True),
    # Encrypted PKCE code verifier.
    Column("verifier_ciphertext", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("invite_code_hash", String(64), nullable=True),
    Column("used_at", UTCDateTime, nullable=True),
)

artists = Table(
    "artists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Null for artists known only by name (account-data history).
    Column("spotify_id", String(64), nullable=True, unique=True),
    Column("name", String(500), nullable=False),
    # Normalised name for matching exports that carry names only.
    Column("name_key", String(500), nullable=False, index=True),
    Column("image_url", Text, nullable=True),
    Column("genres", JSON, nullable=True),
)

albums = Table(
    "albums",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("spotify_id", String(64), nullable=True, unique=True),
    Column("name", String(500), nullable=False),
    Column("name_key", String(500), nullable=False, index=True),
    Column("release_date", String(10), nullable=True),
    Column("image_url", Text, nullable=True),
)

tracks = Table(
    "tracks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Null for tracks known only by name, until resolved through search.
    Column("spotify_id", String(64), nullable=True, unique=True),
    Column("name", String(500), nullable=False),
    # "<artist>|<track>", normalised, for name-only matching.
    Column("name_key", String(1000), nullable=False, index=True),
    Column("album_id", Integer, ForeignKey("albums.id", ondelete="SET NULL"), nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("isrc", String(20), nullable=True, index=True),
    Column("explicit", Boolean, nullable=True),
    Column("resolve_attempts", Integer, nullable=False, default=0),
)

track_artists = Table(
    "track_artists",
    metadata,
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column(
        "artist_id",
        Integer,
        ForeignKey("artists.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("source_name", String(500), nullable=False),
    # 'running', 'succeeded', 'rejected', 'failed', 'interrupted' (its process stopped before it finished)
    Column("status", String(16), nullable=False),
    Column("report", JSON, nullable=True),
    Column("error", Text, nullable=True),
    # Progress while running, readable from any process: rows written of rows to write, and the last sign
    # of life (an import whose progress_at stops moving was cut off with its process).
    Column("rows_done", Integer, nullable=True),
    Column("rows_total", Integer, nullable=True),
    Column("progress_at", UTCDateTime, nullable=True),
    # The process running it (host:pid, recs.core.processes.owner_id): a record whose owner is gone is settled as
    # 'interrupted' at once; another host's is settled when progress_at stops moving (the lease).
    Column("owner", String(300), nullable=True),
)

plays = Table(
    "plays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    Column("played_at", UTCDateTime, nullable=False),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False),
    # 'api' (recently played) or 'export' (data export; account data included)
    Column("source", String(16), nullable=False),
    Column("ms_played", Integer, nullable=True),
    Column("context_uri", String(200), nullable=True),
    Column("skipped", Boolean, nullable=True),
    Column("reason_start", String(32), nullable=True),
    Column("reason_end", String(32), nullable=True),
    Column("shuffle", Boolean, nullable=True),
    Column("import_id", Integer, ForeignKey("imports.id", ondelete="SET NULL"), nullable=True),
    # True when the track was matched by name (account data has no URIs): the play may move to a better match.
    Column("matched_by_name", Boolean, nullable=True),
    UniqueConstraint("member_id", "played_at", "track_id", name="uq_plays_natural"),
    Index("ix_plays_member_track", "member_id", "track_id"),
    CheckConstraint("source IN ('api', 'export')", name="source"),
)

# Streams shorter than the play threshold: not plays, but evidence of a skip.
short_streams = Table(
    "short_streams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    Column("ended_at", UTCDateTime, nullable=False),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False),
    Column("ms_played", Integer, nullable=False),
    Column("reason_end", String(32), nullable=True),
    Column("import_id", Integer, ForeignKey("imports.id", ondelete="SET NULL"), nullable=True),
    # True when the track was matched by name (account data has no URIs).
    Column("matched_by_name", Boolean, nullable=True),
    UniqueConstraint("member_id", "ended_at", "track_id", name="uq_short_streams_natural"),
)

saved_tracks = Table(
    "saved_tracks",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("added_at", UTCDateTime, nullable=True),
    Column("source", String(16), nullable=False, default="api"),
)

followed_artists = Table(
    "followed_artists",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("artist_id", Integer, ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(16), nullable=False, default="api"),
    Column("seen_at", UTCDateTime, nullable=False),
)

playlists = Table(
    "playlists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    # Null for playlists from a data export that carry no id.
    Column("spotify_id", String(64), nullable=True),
    Column("name", String(500), nullable=False),
    Column("snapshot_id", String(200), nullable=True),
    Column("owned", Boolean, nullable=False, default=True),
    Column("collaborative", Boolean, nullable=False, default=False),
    Column("source", String(16), nullable=False, default="api"),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("member_id", "spotify_id", name="uq_playlists_member_spotify"),
)

playlist_items = Table(
    "playlist_items",
    metadata,
    Column("playlist_id", Integer, ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False),
    Column("added_at", UTCDateTime, nullable=True),
)

top_items = Table(
    "top_items",
    metadata,
    _member_fk(),
    # 'tracks' or 'artists'
    Column("kind", String(8), nullable=False),
    # 'short_term', 'medium_term', 'long_term'
    Column("time_range", String(12), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), nullable=True),
    Column("artist_id", Integer, ForeignKey("artists.id", ondelete="CASCADE"), nullable=True),
    UniqueConstraint("member_id", "kind", "time_range", "taken_at", "rank", name="uq_top_items_snapshot"),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    # 'recently_played', 'saved_tracks', 'top_items', 'followed_artists', 'playlists'
    Column("stream", String(32), primary_key=True),
    Column("cursor", String(200), nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("next_due_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)

# Syncing a member is single-flight across processes: the worker syncing them holds this lease.
sync_leases = Table(
    "sync_leases",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    # host:pid/<random>: a worker on the same host can tell that the holder's process is gone.
    Column("owner", String(300), nullable=True),
    Column("until", UTCDateTime, nullable=True),
)

sync_gaps = Table(
    "sync_gaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    # Plays may be missing between these two times.
    Column("gap_start", UTCDateTime, nullable=False),
    Column("gap_end", UTCDateTime, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("filled_at", UTCDateTime, nullable=True),
    Column("filled_by_import", Integer, ForeignKey("imports.id", ondelete="SET NULL"), nullable=True),
)

api_calls = Table(
    "api_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    # The call still counts against the quota after its member leaves, so the row stays unnamed.
    Column(
        "member_id",
        Integer,
        ForeignKey("members.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    Column("purpose", String(32), nullable=False),
    Column("method", String(8), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
)

# Small instance-wide facts that must survive restarts (e.g. the quota pause).
instance_state = Table(
    "instance_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

model_runs = Table(
    "model_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # 'running', 'succeeded', 'failed'
    Column("status", String(16), nullable=False),
    # What serves: 'als', 'itemknn', 'popular' or 'blend'
    Column("model_kind", String(16), nullable=True),
    Column("params", JSON, nullable=True),
    Column("data_size", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("baselines", JSON, nullable=True),
    Column("timings", JSON, nullable=True),
    Column("artifact_path", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("is_current", Boolean, nullable=False, default=False),
)

recommendations = Table(
    "recommendations",
    metadata,
    Column("run_id", Integer, ForeignKey("model_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    # 'discover' or 'rediscover'
    Column("mode", String(12), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False),
    Column("score", Float, nullable=True),
    # Drawn only from this member's own history.
    Column("explanation", Text, nullable=True),
    Column("because_track_id", Integer, ForeignKey("tracks.id", ondelete="SET NULL"), nullable=True),
    # Where it came from: 'household' (someone here played it) or 'open' (only open listening data has it).
    Column("source", String(16), nullable=True),
    Index("ix_recommendations_member", "member_id", "run_id"),
)

hidden_tracks = Table(
    "hidden_tracks",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# "More like this": a track the member asked for more of (a positive signal for training).
liked_tracks = Table(
    "liked_tracks",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

blocked_artists = Table(
    "blocked_artists",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("artist_id", Integer, ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True),
    Column("until", Date, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

excluded_contexts = Table(
    "excluded_contexts",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    # A spotify:playlist:… or spotify:album:… URI that is not the member's taste.
    Column("context_uri", String(200), primary_key=True),
    Column("label", String(500), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

publish_settings = Table(
    "publish_settings",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("discover", Boolean, nullable=False, default=True),
    Column("rediscover", Boolean, nullable=False, default=False),
    Column("frequency", String(8), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("local_time", String(5), nullable=False),
)

published_playlists = Table(
    "published_playlists",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(12), primary_key=True),
    Column("spotify_playlist_id", String(64), nullable=True),
    Column("run_id", Integer, ForeignKey("model_runs.id", ondelete="SET NULL"), nullable=True),
    # sha256 of the URI list last written, so an unchanged list is not written again.
    Column("content_hash", String(64), nullable=True),
    Column("track_uris", JSON, nullable=True),
    Column("written_at", UTCDateTime, nullable=True),
    # Set before a write starts and cleared when it completes: a crash mid-write is redone.
    Column("pending_hash", String(64), nullable=True),
    # The last publish of this playlist that failed (cleared by the next one that writes): when, what kind
    # of failure (recs.core.publish_failures), and what Spotify or recs said, for the member's and owner's pages.
    Column("failed_at", UTCDateTime, nullable=True),
    Column("failure", String(24), nullable=True),
    Column("failure_detail", Text, nullable=True),
)

# Tracks Spotify refused in a playlist write ("Payload contains a non-existing ID"): left out of every
# later playlist, and listed on the admin page with the member whose playlist met them first.
rejected_tracks = Table(
    "rejected_tracks",
    metadata,
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("kind", String(12), nullable=False),
    Column("reason", Text, nullable=False),
    Column("rejected_at", UTCDateTime, nullable=False),
)

# Open-data tracks (from the community prior, played by no member) checked once with GET /tracks/{id} in the
# market of the member whose publish needed them, before they may go on a playlist. The first check is kept.
track_checks = Table(
    "track_checks",
    metadata,
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("playable", Boolean, nullable=False),
    # Why a track is not playable ("not found on Spotify", "not playable in the member's market: market").
    Column("reason", String(200), nullable=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("checked_at", UTCDateTime, nullable=False),
)

# Every write of a recs playlist, kept per model run so acceptance (played, saved, skipped) can be shown.
publish_log = Table(
    "publish_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _member_fk(),
    Column("kind", String(12), nullable=False),
    Column("run_id", Integer, ForeignKey("model_runs.id", ondelete="SET NULL"), nullable=True),
    Column("spotify_playlist_id", String(64), nullable=False),
    Column("written_at", UTCDateTime, nullable=False),
    Column("track_uris", JSON, nullable=False),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),
    # Identifies one firing (e.g. the scheduled time): unique with the job, so two workers cannot both take it.
    Column("trigger_key", String(128), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
    Column("worker", String(128), nullable=False),
    Column("lease_until", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # 'running', 'succeeded', 'failed', 'missed', 'timeout', 'interrupted' (its worker stopped or died)
    Column("status", String(16), nullable=False),
    Column("detail", JSON, nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("job", "trigger_key", name="uq_job_runs_trigger"),
)

# "Run now" requests from the dashboard, taken by the worker.
job_requests = Table(
    "job_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
    Column("requested_by", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("taken_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False, default="queued"),
)

# The household Blend (docs/blend.md). Training stores, per run, each Blend member's favourites (from the
# data of their Blend-on intervals only) and how much each Blend member is likely to enjoy those tracks;
# the weekly Blend job mixes them for whoever takes part that week, without a model.
blend_favourites = Table(
    "blend_favourites",
    metadata,
    Column("run_id", Integer, ForeignKey("model_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    # 1 = the member's strongest favourite.
    Column("rank", Integer, nullable=False),
)

# Percentile (0..1, 1 = the listener's best) of a favourite among every track the model scores for the listener.
blend_enjoyment = Table(
    "blend_enjoyment",
    metadata,
    Column("run_id", Integer, ForeignKey("model_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("score", Float, nullable=False),
)

# One made Blend per week; a week with fewer than two participants has a row with no tracks.
blends = Table(
    "blends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("made_at", UTCDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("model_runs.id", ondelete="SET NULL"), nullable=True),
    # Taste match per pair of participants: [[member a, member b, 0..1], ...].
    Column("matches", JSON, nullable=False),
)

blend_members = Table(
    "blend_members",
    metadata,
    Column("blend_id", Integer, ForeignKey("blends.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("tracks", Integer, nullable=False),
)

blend_tracks = Table(
    "blend_tracks",
    metadata,
    Column("blend_id", Integer, ForeignKey("blends.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False),
    # The participant whose taste brought it.
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    # Other participants who count it among their own favourites (a shared favourite), member ids.
    Column("shared_with", JSON, nullable=False),
)

# Release Radar (docs/release-radar.md). Household-wide: an artist loved by several members is checked once.
# When each artist's releases were last read, and which albums in the window were read then (not read again).
radar_artists = Table(
    "radar_artists",
    metadata,
    Column("artist_id", Integer, ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True),
    # The household's day (instance timezone) of the last check: a restart the same day checks it no more.
    Column("checked_on", Date, nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    # Spotify ids of the releases within the window already read: [[album id, release date], ...].
    Column("albums_read", JSON, nullable=True),
)

# New recordings the radar found: facts about releases, no one's listening. Which member's playlist takes
# one is decided when it is written (the member's loved artists, plays, hides and blocks on that day).
radar_finds = Table(
    "radar_finds",
    metadata,
    Column("track_id", Integer, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    # The loved artist credited on the track whose check found it.
    Column("artist_id", Integer, ForeignKey("artists.id", ondelete="CASCADE"), nullable=False, index=True),
    # As Spotify gives it: "2026-11-20", "2026-11" or "2026".
    Column("release_date", String(10), nullable=False),
    Column("found_on", Date, nullable=False),
)

# A member's Release Radar playlist: on or off, its length and its weekly day and time (member's timezone).
radar_settings = Table(
    "radar_settings",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("size", Integer, nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("local_time", String(5), nullable=False),
)
