"""Settings: typed, frozen, loaded from defaults < config.toml < RECS_<SECTION>__<KEY> variables."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting is unknown, has the wrong type, or a value is out of range."""


@dataclass(frozen=True)
class InstanceSettings:
    # Folder for the database, secrets, model artifacts, backups and uploads; a relative path starts at the config file's folder.
    data_dir: str = "data"
    # SQLAlchemy URL; empty means SQLite at <data_dir>/recs.sqlite3.
    database_url: str = ""
    # Where the dashboard is reached from a browser (used for links and the redirect URI).
    public_url: str = "http://127.0.0.1:8000"
    # Log level for recs itself (third-party loggers stay at WARNING).
    log_level: str = "INFO"
    # Secrets file (session key, token keys); empty means <data_dir>/secrets.toml; a relative path starts at the config file's folder.
    secrets_file: str = ""


@dataclass(frozen=True)
class SpotifySettings:
    # Client id of your Spotify app (Spotify Dashboard). Required to serve, sync or publish; `recs demo` tries recs without one.
    client_id: str = ""
    # Redirect URI registered in the Spotify Dashboard; empty means <public_url>/auth/callback.
    redirect_uri: str = ""
    # Web API base URL (tests and the demo point it at the emulator).
    api_base_url: str = "https://api.spotify.com/v1/"
    # Accounts service base URL (authorize and token endpoints).
    accounts_base_url: str = "https://accounts.spotify.com/"
    # Timeout in seconds for every HTTP call, the token endpoint's included.
    request_timeout_s: float = 10.0
    # Members allowed in development mode (Spotify's per-app cap).
    max_members: int = 5


@dataclass(frozen=True)
class BudgetSettings:
    # API calls per rolling 24 h for the whole instance, shared by all members.
    daily_calls: int = 800
    # A Retry-After longer than this (seconds) pauses every call until the stated time.
    max_retry_after_s: int = 60


@dataclass(frozen=True)
class SyncSettings:
    # Shortest time between two polls of one member's recently played (minutes).
    min_poll_minutes: int = 10
    # Longest time between two polls of an idle member (minutes); much longer risks passing Spotify's 50-play window.
    max_poll_minutes: int = 120
    # Top items are refreshed at most this often (hours).
    top_items_every_hours: int = 24
    # Saved tracks, followed artists and own playlists are refreshed this often (hours).
    library_every_hours: int = 24


@dataclass(frozen=True)
class ImportSettings:
    # A stream counts as a play from this many milliseconds played.
    min_play_ms: int = 30000
    # Largest accepted upload or file, in megabytes.
    max_file_mb: int = 200
    # Most files an archive may hold.
    max_archive_members: int = 2000
    # Largest uncompressed/compressed size ratio of an archive member (zip-bomb guard).
    max_compression_ratio: int = 100
    # An exported play and an API play of the same track within this many seconds are one play.
    dedupe_tolerance_s: int = 120
    # Tracks known only by name (account data) looked up through search per day, most played first (one API call each).
    resolve_per_day: int = 5


@dataclass(frozen=True)
class TrainingSettings:
    # Which plays feed training: "api", "export" or "both" (see the Terms note in the README).
    sources: str = "both"
    # Half-life of a play's weight, in days.
    half_life_days: float = 365.0
    # Plays further apart than this start a new listening session (minutes).
    session_gap_minutes: int = 30
    # How skips count: "exclude" or "negative".
    skips: str = "exclude"
    # Weight of plays that came from our own published playlists (0..1).
    own_playlist_weight: float = 0.3
    # Days of each member's history held out to choose hyper-parameters.
    holdout_days: int = 14
    # Time budget for the nightly hyper-parameter search (seconds).
    tuning_budget_s: float = 20.0
    # Random seed for training.
    seed: int = 42
    # Threads for fitting the model (implicit's solver; BLAS itself is held to one thread while fitting).
    threads: int = 1


@dataclass(frozen=True)
class RecommendSettings:
    # At most this many tracks by one artist in a list.
    artist_cap: int = 2
    # Share of a list drawn from further down the ranking, so it changes week to week (0..1).
    exploration: float = 0.2
    # Length of each stored recommendation list.
    list_size: int = 100
    # A track counts for "rediscover" when not played for this many days.
    rediscover_after_days: int = 90
    # A member with fewer distinct liked tracks than this gets cold-start lists (seeds, then popularity: the
    # household's, blended with the open data's when a prior is in use).
    cold_start_items: int = 10


@dataclass(frozen=True)
class PublishSettings:
    # Default playlist length.
    size: int = 30
    # Default frequency: "weekly" or "daily".
    frequency: str = "weekly"
    # Default weekday for weekly publishing (0 = Monday).
    weekday: int = 0
    # Default local time of day to publish (HH:MM, member's timezone).
    local_time: str = "07:00"
    # Playlists are created private unless this is true.
    public: bool = False
    # Length of the household Blend (docs/blend.md), shared equally among its participants.
    blend_size: int = 30
    # Weekday the Blend is made and written (0 = Monday), at half past the hour two hours after the nightly training.
    blend_weekday: int = 0


@dataclass(frozen=True)
class RadarSettings:
    # Release Radar takes tracks released within this many days (each loved artist is checked every window - 7 days).
    window_days: int = 14
    # The most loved artists of each member that are checked.
    loved_per_member: int = 200
    # Whether a member who never chose has a Release Radar playlist (they need to allow writing playlists).
    default_on: bool = True
    # Default length of the Release Radar playlist.
    size: int = 30
    # Default weekday of the weekly Release Radar (0 = Monday; 4 = Friday, when most music comes out).
    weekday: int = 4
    # Default local time of day the Release Radar is written (HH:MM, member's timezone).
    local_time: str = "08:00"
    # Seconds between two radar calls, so a day's checks never crowd Spotify's rate window.
    pace_s: float = 0.5


@dataclass(frozen=True)
class SchedulerSettings:
    # Local time (instance timezone) of the nightly training.
    train_time: str = "03:00"
    # Timezone of the instance's own jobs.
    timezone: str = "UTC"
    # Backups kept (daily SQLite backups in <data_dir>/backups).
    backups_keep: int = 7
    # Hours a missed job may still run late.
    misfire_grace_hours: int = 6


@dataclass(frozen=True)
class WebSettings:
    # Address the dashboard listens on.
    host: str = "127.0.0.1"
    # Port the dashboard listens on.
    port: int = 8000
    # Largest upload accepted by the import page, in megabytes.
    max_upload_mb: int = 200


@dataclass(frozen=True)
class PriorSettings:
    # The community prior (`recs prior build`'s .prior.npz) nightly training folds members into; empty: household only.
    path: str = ""
    # ListenBrainz dump mirror that `recs prior download` fetches from (the folder with incremental/ and fullexport/).
    mirror_url: str = "https://data.musicbrainz.org/pub/musicbrainz/listenbrainz/"
    # Where downloaded dumps go; empty means <data_dir>/listenbrainz; a relative path starts at the config file's folder.
    download_dir: str = ""
    # `recs prior download` fetches the daily incrementals of this many days (about 200 MB each).
    download_days: int = 7


@dataclass(frozen=True)
class Settings:
    instance: InstanceSettings = field(default_factory=InstanceSettings)
    spotify: SpotifySettings = field(default_factory=SpotifySettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    imports: ImportSettings = field(default_factory=ImportSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    recommend: RecommendSettings = field(default_factory=RecommendSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    radar: RadarSettings = field(default_factory=RadarSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    prior: PriorSettings = field(default_factory=PriorSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.instance.data_dir)

    @property
    def database_url(self) -> str:
        if self.instance.database_url:
            return self.instance.database_url
        return f"sqlite:///{self.data_path / 'recs.sqlite3'}"

    @property
    def prior_download_path(self) -> Path:
        return Path(self.prior.download_dir) if self.prior.download_dir else self.data_path / "listenbrainz"

    @property
    def secrets_path(self) -> Path:
        if self.instance.secrets_file:
            return Path(self.instance.secrets_file)
        return self.data_path / "secrets.toml"

    def track_page(self, spotify_id: str) -> str:
        """Where "Open in Spotify" goes: open.spotify.com, or the emulator's own page for its invented ids."""
        api = self.spotify.api_base_url
        if urlsplit(api).hostname == "api.spotify.com":
            return f"https://open.spotify.com/track/{spotify_id}"
        return api.rstrip("/").removesuffix("/v1") + f"/track/{spotify_id}"

    def spotify_page(self, kind: str, spotify_id: str | None) -> str | None:
        """A track's, artist's or album's page: on open.spotify.com, or (tracks only) the emulator's own page."""
        if not spotify_id:
            return None
        if kind == "track":
            return self.track_page(spotify_id)
        if urlsplit(self.spotify.api_base_url).hostname == "api.spotify.com":
            return f"https://open.spotify.com/{kind}/{spotify_id}"
        return None  # the emulator has pages for tracks only

    @property
    def redirect_uri(self) -> str:
        if self.spotify.redirect_uri:
            return self.spotify.redirect_uri
        return self.instance.public_url.rstrip("/") + "/auth/callback"


ENV_PREFIX = "RECS_"


def require_spotify_app(settings: Settings) -> None:
    """Refuse to talk to Spotify without a client id, saying what to set.

    An empty client id once meant "the emulator", but the emulator lives inside `recs demo` and the
    tests: a real instance that quietly used it would fill the household's database with invented
    listening. So an empty one is an error for every command that calls Spotify, and the demo stays
    the way to try recs without an app.
    """
    if not settings.spotify.client_id.strip():
        raise SettingsError(
            "spotify.client_id is empty: set it (or RECS_SPOTIFY__CLIENT_ID) to your Spotify app's client id "
            "from the Developer Dashboard; to try recs without one, run `recs demo`"
        )


# Settings that name a file or folder. A relative one is resolved against the config file's folder
# (from the file or the environment alike), so `recs --config /opt/recs/config.toml` finds the same
# instance from any working directory. Without a config file they stay relative to the current folder.
PATH_SETTINGS: frozenset[tuple[str, str]] = frozenset(
    {("instance", "data_dir"), ("instance", "secrets_file"), ("prior", "download_dir"), ("prior", "path")}
)

# Values checked beyond their type: setting -> allowed values.
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("training", "sources"): ("api", "export", "both"),
    ("training", "skips"): ("exclude", "negative"),
    ("publish", "frequency"): ("weekly", "daily"),
    ("instance", "log_level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
}


def sections() -> dict[str, type[Any]]:
    """Section name -> dataclass type, in declaration order."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def setting_fields() -> dict[str, dict[str, type[Any]]]:
    """Every setting: section -> key -> declared type."""
    out: dict[str, dict[str, type[Any]]] = {}
    for name, cls in sections().items():
        hints = typing.get_type_hints(cls)
        out[name] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return out


def _convert(value: Any, typ: type[Any], where: str, from_env: bool) -> Any:
    origin = typing.get_origin(typ)
    if origin in (types.UnionType, typing.Union):  # pragma: no cover - no optional settings yet
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        typ = args[0]
    if from_env:
        assert isinstance(value, str)
        try:
            if typ is bool:
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if typ is int:
                return int(value)
            if typ is float:
                return float(value)
            return value
        except ValueError:
            raise SettingsError(f"{where}: expected {typ.__name__}, got {value!r}") from None
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is int and isinstance(value, bool):
        raise SettingsError(f"{where}: expected int, got {value!r}")
    if not isinstance(value, typ):
        raise SettingsError(f"{where}: expected {typ.__name__}, got {type(value).__name__} {value!r}")
    return value


def load_settings(path: Path | str | None, environ: Mapping[str, str]) -> Settings:
    """Build Settings from defaults, then the TOML file at *path* (if given), then the environment."""
    raw: dict[str, dict[str, tuple[Any, str, bool]]] = {}
    fields = setting_fields()
    base: Path | None = None
    if path is not None:
        p = Path(path)
        base = p.absolute().parent
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{p}: configuration file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{p}: not valid TOML: {exc}") from None
        for section, values in data.items():
            if section not in fields:
                raise SettingsError(f"{p}: unknown section [{section}]")
            if not isinstance(values, dict):
                raise SettingsError(f"{p}: [{section}] must be a table")
            for key, value in values.items():
                if key not in fields[section]:
                    raise SettingsError(f"{p}: unknown setting {section}.{key}")
                raw.setdefault(section, {})[key] = (value, f"{p}: {section}.{key}", False)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if section == "secrets":
            continue  # read by recs.secrets, not a setting
        if section not in fields or key not in fields[section]:
            raise SettingsError(f"environment: unknown setting {name}")
        raw.setdefault(section, {})[key] = (value, f"environment: {name}", True)
    built: dict[str, Any] = {}
    for section, cls in sections().items():
        kwargs: dict[str, Any] = {}
        for key, (value, where, from_env) in raw.get(section, {}).items():
            converted = _convert(value, fields[section][key], where, from_env)
            allowed = _CHOICES.get((section, key))
            if allowed is not None and converted not in allowed:
                raise SettingsError(f"{where}: must be one of {', '.join(allowed)}, got {converted!r}")
            if base is not None and (section, key) in PATH_SETTINGS:
                converted = _anchor_path(converted, base)
            elif base is not None and (section, key) == ("instance", "database_url"):
                converted = _anchor_sqlite_url(converted, base)
            kwargs[key] = converted
        if base is not None and section == "instance":
            # The default data_dir is relative too: anchor it like a configured one.
            kwargs.setdefault("data_dir", _anchor_path(InstanceSettings.data_dir, base))
        built[section] = cls(**kwargs)
    return Settings(**built)


def _anchor_path(value: str, base: Path) -> str:
    """A relative path made absolute against *base*; empty (meaning "the default") and absolute stay."""
    if not value or Path(value).expanduser().is_absolute():
        return str(Path(value).expanduser()) if value else value
    return str(base / value)


def _anchor_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL with a relative file path made absolute against *base* (other URLs unchanged)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix) :]
    if not rest or rest.startswith(("/", ":memory:")) or rest.startswith("file:"):
        return url
    return prefix + str(base / rest)
