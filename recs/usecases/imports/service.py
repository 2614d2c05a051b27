"""The import use case: validate an upload whole, then write its plays, skips, library and playlists in short batches."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recs import storage
from recs.core.config import Settings
from recs.core.domain import ArtistInfo, PlayRow, RunningImport, TrackInfo
from recs.core.names import track_key
from recs.core.processes import owner_id, owner_is_dead
from recs.storage import Database
from recs.storage.catalog import track_lookup_key, upsert_artists, upsert_tracks
from recs.storage.members import get_consents, get_member
from recs.usecases.imports.errors import ImportRejected
from recs.usecases.imports.reader import ITEM_PREFIXES, Entry, Upload, display_name, open_upload, validate
from recs.usecases.imports.reader import iter_items as _iter_items
from recs.usecases.imports.rows import (
    ExportPlaylist,
    Stream,
    parse_account_row,
    parse_extended_row,
    parse_library_artist,
    parse_library_track,
    parse_playlist,
)

log = logging.getLogger(__name__)

# Rows per write transaction: large enough to be fast (each opens a connection), small enough to keep
# SQLite's write lock short (about a tenth of a second each).
BATCH_ROWS = 5000

Progress = Callable[[int, int], None]
# A running import writes its progress to its record at most this often (any process can read it there).
PROGRESS_EVERY_S = 1.0
# A running import's record gets a sign of life this often from a thread of its process, whatever the
# import is doing (reading, writing or finishing). A record whose process is gone (same host, no such pid)
# is settled as 'interrupted' at once; one of another host, once silent for LEASE.
HEARTBEAT_S = 5.0
LEASE = timedelta(minutes=1)
PID_REUSE_AFTER = timedelta(hours=24)


@dataclass
class ImportReport:
    """What one import read, stored and left out; stored as JSON with the import record."""

    import_id: int
    member_id: int
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    rows_read: int = 0
    plays_read: int = 0
    plays_imported: int = 0
    duplicate_plays: int = 0
    short_streams_read: int = 0
    short_streams_imported: int = 0
    duplicate_short_streams: int = 0
    # Rows left out, by reason (incognito, podcast, audiobook, no_track_uri, invalid_ts, …).
    skipped: dict[str, int] = field(default_factory=dict)
    first_played_at: datetime | None = None
    last_played_at: datetime | None = None
    distinct_tracks: int = 0
    # Account-data tracks matched by name to a track with a Spotify id, and those kept by name only.
    names_matched: int = 0
    names_unmatched: int = 0
    # Name-only tracks folded into a track with a Spotify id that this import brought.
    tracks_merged: int = 0
    saved_tracks: int = 0
    followed_artists: int = 0
    playlists: int = 0
    playlist_items: int = 0
    gaps_filled: int = 0
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        return self.duplicate_plays + self.duplicate_short_streams

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("first_played_at", "last_played_at"):
            value = out[key]
            out[key] = value.isoformat() if value else None
        return out


class _Run:
    """State of one import while it writes."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        report: ImportReport,
        total: int,
        progress: Progress | None,
        now: datetime,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.limits = settings.imports
        self.report = report
        self.total = total
        self.done = 0
        self.progress = progress
        self.now = now
        self.clock = clock
        self.progress_written = time.monotonic()
        self.skipped: Counter[str] = Counter()
        self.track_ids: set[int] = set()
        # Name keys of account-data rows, and (artist, title) -> name key.
        self.account_keys: set[str] = set()
        self.name_keys: dict[tuple[str, str], str] = {}
        # (artist, title) of tracks with a Spotify id: name-only tracks with the same key are merged into them.
        self.id_track_names: set[tuple[str, str]] = set()
        self.candidate_plays = 0
        self.candidate_short = 0

    def tick(self, rows: int) -> None:
        self.done += rows
        done = min(self.done, self.total)
        if self.progress is not None:
            self.progress(done, self.total)
        if time.monotonic() - self.progress_written >= PROGRESS_EVERY_S or done >= self.total:
            _save_progress(self.db, self.report.import_id, self.clock(), done)
            self.progress_written = time.monotonic()

    def history(self, entry: Entry) -> None:
        parse = parse_extended_row if entry.kind == "extended" else parse_account_row
        minute_precision = entry.kind == "account"
        batch: list[Stream] = []
        pending = 0
        for item in _iter_items(entry, "item"):
            self.report.rows_read += 1
            pending += 1
            parsed = parse(item)
            if isinstance(parsed, str):
                self.skipped[parsed] += 1
            else:
                batch.append(parsed)
            if pending == BATCH_ROWS:
                self._write_streams(batch, minute_precision=minute_precision)
                self.tick(pending)
                batch, pending = [], 0
        self._write_streams(batch, minute_precision=minute_precision)
        self.tick(pending)

    def _write_streams(self, batch: Sequence[Stream], *, minute_precision: bool) -> None:
        if not batch:
            return
        min_ms = self.limits.min_play_ms
        import_id = self.report.import_id
        with self.db.write() as conn:
            if minute_precision:
                # Account-data names go to their canonical track (see storage.imports.canonical_tracks).
                wanted = {self._key(s.track): s.track for s in batch}
                self.account_keys.update(wanted)
                ids = storage.imports.name_track_ids(conn, wanted)
            else:
                ids = storage.imports.export_track_ids(conn, [s.track for s in batch])
            play_rows: list[PlayRow] = []
            short_rows: list[tuple[datetime, int, int, str | None]] = []
            for s in batch:
                tid = ids[self._key(s.track)]
                if s.is_play(min_ms):
                    play_rows.append(
                        PlayRow(
                            played_at=s.ended_at,
                            track_id=tid,
                            source="export",
                            ms_played=s.ms_played,
                            skipped=s.skipped,
                            reason_start=s.reason_start,
                            reason_end=s.reason_end,
                            shuffle=s.shuffle,
                            import_id=import_id,
                        )
                    )
                    self.track_ids.add(tid)
                else:
                    short_rows.append((s.ended_at, tid, s.ms_played, s.reason_end))
            # In time order the natural-key index is written in runs, not at random: about a third faster.
            play_rows.sort(key=_played_at)
            short_rows.sort(key=_first)
            storage.imports.insert_export_plays(
                conn,
                self.report.member_id,
                play_rows,
                tolerance_s=self.limits.dedupe_tolerance_s,
                minute_precision=minute_precision,
            )
            storage.imports.insert_export_short_streams(
                conn, self.report.member_id, short_rows, import_id, minute_precision=minute_precision
            )
        self.candidate_plays += len(play_rows)
        self.candidate_short += len(short_rows)
        if not minute_precision:
            self.id_track_names.update({(s.track.primary_artist, s.track.name) for s in batch})
        first = min(s.ended_at for s in batch)
        last = max(s.ended_at for s in batch)
        if self.report.first_played_at is None or first < self.report.first_played_at:
            self.report.first_played_at = first
        if self.report.last_played_at is None or last > self.report.last_played_at:
            self.report.last_played_at = last

    def _key(self, track: TrackInfo) -> str:
        """Spotify id, or the name key of a name-only track (cached: a history repeats its tracks)."""
        if track.spotify_id:
            return track.spotify_id
        pair = (track.primary_artist, track.name)
        key = self.name_keys.get(pair)
        if key is None:
            key = self.name_keys[pair] = track_key(*pair)
        return key

    def library(self, entry: Entry) -> None:
        tracks_prefix, artists_prefix = ITEM_PREFIXES["library"]
        for prefix, parse in ((tracks_prefix, parse_library_track), (artists_prefix, parse_library_artist)):
            batch: list[Any] = []
            pending = 0
            for item in _iter_items(entry, prefix):
                self.report.rows_read += 1
                pending += 1
                parsed = parse(item)
                if isinstance(parsed, str):
                    self.skipped[f"library_{parsed}"] += 1
                else:
                    batch.append(parsed)
                if pending == BATCH_ROWS:
                    self._write_library(batch)
                    self.tick(pending)
                    batch, pending = [], 0
            self._write_library(batch)
            self.tick(pending)

    def _write_library(self, batch: Sequence[Any]) -> None:
        if not batch:
            return
        with self.db.write() as conn:
            if isinstance(batch[0], ArtistInfo):
                artist_ids = upsert_artists(conn, batch)
                self.report.followed_artists += storage.imports.follow_artists(
                    conn, self.report.member_id, artist_ids.values(), self.now
                )
            else:
                ids = upsert_tracks(conn, batch)
                self.report.saved_tracks += storage.imports.save_tracks(conn, self.report.member_id, ids.values())
                self.id_track_names.update((t.primary_artist, t.name) for t in batch)

    def playlists(self, entry: Entry) -> None:
        for item in _iter_items(entry, ITEM_PREFIXES["playlists"][0]):
            self.report.rows_read += 1
            parsed = parse_playlist(item)
            if isinstance(parsed, str):
                self.skipped[f"playlist_{parsed}"] += 1
            else:
                self._write_playlist(parsed)
            self.tick(1)

    def _write_playlist(self, playlist: ExportPlaylist) -> None:
        if playlist.skipped_items:
            self.skipped["playlist_item_not_a_track"] += playlist.skipped_items
        with self.db.write() as conn:
            ids = upsert_tracks(conn, [t for t, _ in playlist.items])
            items = [(ids[track_lookup_key(t)], added) for t, added in playlist.items]
            written = storage.imports.replace_export_playlist(
                conn, self.report.member_id, playlist.name, playlist.modified_at or self.now, items
            )
        self.id_track_names.update((t.primary_artist, t.name) for t, _ in playlist.items)
        if written:
            self.report.playlists += 1
            self.report.playlist_items += len(items)

    def finish(self) -> None:
        report = self.report
        with self.db.write() as conn:
            moved = storage.imports.canonicalise_names(
                conn, {track_key(a, t) for a, t in self.id_track_names}, self.limits.dedupe_tolerance_s
            )
            report.tracks_merged = len(moved)
            self.track_ids = {moved.get(t, t) for t in self.track_ids}
            canonical = storage.imports.canonical_tracks(conn, self.account_keys)
            with_id = storage.imports.tracks_with_spotify_id(conn, canonical.values())
            report.plays_imported, report.short_streams_imported = storage.imports.count_import_rows(
                conn, report.import_id
            )
            if report.first_played_at and report.last_played_at:
                report.gaps_filled = storage.imports.fill_gaps(
                    conn, report.member_id, report.first_played_at, report.last_played_at, report.import_id, self.now
                )
        report.names_matched = sum(1 for tid in canonical.values() if tid in with_id)
        report.names_unmatched = len(canonical) - report.names_matched
        report.plays_read = self.candidate_plays
        report.short_streams_read = self.candidate_short
        report.duplicate_plays = self.candidate_plays - report.plays_imported
        report.duplicate_short_streams = self.candidate_short - report.short_streams_imported
        report.distinct_tracks = len(self.track_ids)
        report.skipped = dict(sorted(self.skipped.items()))


def _played_at(row: PlayRow) -> datetime:
    return row.played_at


def _first(row: tuple[datetime, int, int, str | None]) -> datetime:
    return row[0]


def without_folders(message: str, paths: Iterable[Path]) -> str:
    """*message* with the folders that hold each given path left out (the zip or file name, and the
    folders inside a given folder, stay)."""
    folders = {str(p if p.is_dir() else p.parent).rstrip(os.sep) + os.sep for p in paths}
    for folder in sorted(folders, key=len, reverse=True):
        if folder != os.sep:
            message = message.replace(folder, "")
    return message


def _source_name(paths: Iterable[Path]) -> str:
    return ", ".join(Path(p).name for p in paths)


def run_import(
    db: Database,
    settings: Settings,
    member_id: int,
    paths: Sequence[Path | str],
    *,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_record: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a member's data export (zip, folder or JSON files, in any mix) and return the stored report.

    The whole upload is checked first (archive guards, every file parsed once as JSON of the right
    shape) so a refused upload writes nothing but its import record; rows are then streamed and
    written in short batches. Raises ImportRejected with a message naming the file and the reason.
    `progress(done, total)` is called as rows are written; the import record holds the same counts
    (updated about once a second, readable from any process). `on_record(import_id)` is called once the
    record exists.
    """
    started = time.perf_counter()
    path_list = [Path(p) for p in paths]
    if not path_list:
        raise ImportRejected("nothing to import: give a zip, a folder or JSON files")
    with db.read() as conn:
        if get_member(conn, member_id) is None:
            raise ImportRejected(f"no member with id {member_id}")
        if not get_consents(conn, member_id)["store"].granted:
            raise ImportRejected(
                f"member {member_id} has not allowed their listening to be kept (consent 'store'): nothing imported"
            )
    now = clock()
    settle_interrupted(db, now)  # records of killed imports, whoever's, are closed on the next start
    with db.write() as conn:
        import_id = storage.imports.create_import(conn, member_id, _source_name(path_list), now, owner=owner_id())
    if on_record is not None:
        on_record(import_id)
    report = ImportReport(import_id=import_id, member_id=member_id)
    alive = threading.Event()
    threading.Thread(
        target=_heartbeat, args=(db, import_id, clock, alive), name=f"import-{import_id}-alive", daemon=True
    ).start()
    try:
        with open_upload(path_list, settings.imports) as upload:
            total = _validate_all(upload, db, import_id, clock)
            _save_progress(db, import_id, clock(), 0, total)
            report.files = [display_name(e.name) for e in upload.entries]
            report.ignored_files = [display_name(n) for n in upload.ignored]
            run = _Run(db, settings, report, total, progress, clock(), clock)
            for entry in upload.entries:
                if entry.kind in ("extended", "account"):
                    run.history(entry)
                elif entry.kind == "library":
                    run.library(entry)
                else:
                    run.playlists(entry)
            run.finish()
    except ImportRejected as exc:
        # The record is what a member reads (the dashboard shows it): their file names, not the server's folders.
        _close_record(db, import_id, "rejected", clock(), error=without_folders(str(exc), path_list))
        log.warning("import %s for member %s refused: %s", import_id, member_id, exc)
        raise
    except Exception as exc:
        _close_record(db, import_id, "failed", clock(), error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        alive.set()
    report.seconds = round(time.perf_counter() - started, 3)
    _close_record(db, import_id, "succeeded", clock(), report=report.to_json())
    log.info(
        "import %s for member %s: %s plays added, %s duplicates, %s rows read",
        import_id,
        member_id,
        report.plays_imported,
        report.duplicate_plays,
        report.rows_read,
    )
    return report


def settle_interrupted(
    db: Database,
    now: datetime,
    member_id: int | None = None,
    is_dead: Callable[[str], bool] = owner_is_dead,
    reads: Database | None = None,
) -> int:
    """Close the records of imports whose process is gone (of one member, or of everyone) as 'interrupted'.

    Called when an import starts and when a member looks at their imports: a killed `recs import` or
    server leaves its record 'running', and nobody else would ever close it. Reads first, so a look at
    the page writes nothing unless there is something to settle (*reads*, when given, serves that read:
    a web request's shared snapshot). Returns how many were settled.
    """
    with (reads or db).read() as conn:
        running = storage.imports.running_imports(conn, member_id)
    gone = [r.id for r in running if _gone(r, now, is_dead)]
    if not gone:
        return 0
    settled = 0
    with db.write() as conn:
        for import_id in gone:
            settled += storage.imports.settle_interrupted_import(conn, import_id, now)
    if settled:
        log.warning("settled %s import(s) whose process stopped before finishing as interrupted", settled)
    return settled


def _gone(record: RunningImport, now: datetime, is_dead: Callable[[str], bool]) -> bool:
    if record.owner and is_dead(record.owner):
        return True
    if record.owner and record.owner.rpartition(":")[0] == socket.gethostname():
        # Its process lives on this host: only a reused pid would keep a dead one looking alive this long.
        return record.last_sign < now - PID_REUSE_AFTER
    return record.last_sign < now - LEASE  # another host's, or a record from before owners were kept


def _heartbeat(db: Database, import_id: int, clock: Callable[[], datetime], stop: threading.Event) -> None:
    """Mark the record alive while the import runs (its own progress writes pause while it reads or finishes)."""
    while not stop.wait(HEARTBEAT_S):
        try:
            with db.write() as conn:
                storage.imports.record_progress(conn, import_id, clock())
        except Exception:  # a busy database: the next beat will do
            log.warning("import %s: could not mark it alive", import_id, exc_info=True)


def _validate_all(upload: Upload, db: Database, import_id: int, clock: Callable[[], datetime]) -> int:
    """Parse every file once without writing; returns the number of items to import (for the progress bar)."""
    total = 0
    written = time.monotonic()
    for entry in upload.entries:
        total += validate(entry)
        if time.monotonic() - written >= PROGRESS_EVERY_S:  # a sign of life while reading a large upload
            _save_progress(db, import_id, clock())
            written = time.monotonic()
    return total


def _save_progress(
    db: Database, import_id: int, now: datetime, done: int | None = None, total: int | None = None
) -> None:
    with db.write() as conn:
        storage.imports.record_progress(conn, import_id, now, done, total)


def _close_record(
    db: Database,
    import_id: int,
    status: str,
    now: datetime,
    *,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    with db.write() as conn:
        storage.imports.finish_import(conn, import_id, status, now, report=report, error=error)
