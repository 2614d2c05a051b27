"""Streaming reader of a data-export upload (zip, folder or JSON files) with the guards that refuse unsafe input."""

from __future__ import annotations

import logging
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import ijson

from recs.core.config import ImportSettings
from recs.usecases.imports.errors import ImportRejected

log = logging.getLogger(__name__)

Kind = Literal["extended", "account", "library", "playlists"]

# Where each kind keeps its items, as ijson prefixes.
ITEM_PREFIXES: dict[Kind, tuple[str, ...]] = {
    "extended": ("item",),
    "account": ("item",),
    "library": ("tracks.item", "artists.item"),
    "playlists": ("playlists.item",),
}
_BY_NAME: tuple[tuple[re.Pattern[str], Kind], ...] = (
    (re.compile(r"streaming_history_(audio|video)_.*\.json", re.I), "extended"),
    (re.compile(r"endsong(_\d+)?\.json", re.I), "extended"),
    (re.compile(r"streaminghistory.*\.json", re.I), "account"),
    (re.compile(r"yourlibrary\.json", re.I), "library"),
    (re.compile(r"playlist\d*\.json", re.I), "playlists"),
)
_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar", ".zst")
# The deepest export nests 6 levels (Playlist1.json: {"playlists": [{"items": [{"track": {…}}]}]}) and
# its longest key has 33 characters. ijson's prefix bookkeeping costs memory in the square of the depth
# (a 200 KB file of brackets took 8 GB), so every read counts the depth on the raw events and refuses a
# file nested deeper than this the moment it goes past, before any prefix or item is built.
MAX_DEPTH = 32
MAX_KEY_CHARS = 1000
# Values (JSON events) in one item, which the import pass builds whole: a history row has about 50, a
# library entry a dozen, a playlist up to 10,000 tracks of about 20 each.
MAX_ITEM_EVENTS: dict[Kind, int] = {"extended": 2000, "account": 2000, "library": 2000, "playlists": 1_000_000}
_MB = 1024 * 1024
# Errors of the JSON parser, the zip module and decompression: all mean the file is not what it claims to be.
_READ_ERRORS = (
    ijson.JSONError,
    ValueError,
    UnicodeDecodeError,
    RecursionError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
)


@dataclass(frozen=True)
class Entry:
    """One JSON file of the upload, classified, not yet read."""

    name: str
    kind: Kind
    size: int
    opener: Callable[[], LimitedStream] = field(repr=False, compare=False)


class LimitedStream:
    """A read-only stream that refuses to yield more than *limit* bytes (a zip's declared size can lie)."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        self._raw = raw
        self._left = limit
        self._name = name
        self._started = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size if size >= 0 else self._left + 1)
        self._left -= len(chunk)
        if self._left < 0:
            raise ImportRejected(f"{self._name}: larger than it claims or than the size cap allows")
        if not self._started and chunk:
            self._started = True
            # A file saved again by a Windows editor may start with a UTF-8 byte-order mark.
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        return chunk

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> LimitedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Upload:
    """The classified JSON files of an upload; holds the archives open until closed."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        # Files that are not a kind we import (other account-data JSON, PDFs, images), by name.
        self.ignored: list[str] = []
        self._stack = ExitStack()

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kind_by_name(name: str) -> Kind | None:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for pattern, kind in _BY_NAME:
        if pattern.fullmatch(base):
            return kind
    return None


def open_upload(paths: Sequence[Path], limits: ImportSettings) -> Upload:
    """Look at every path (zip, folder of files and zips, or JSON file) and classify its JSON files.

    Nothing is parsed yet beyond the first bytes of unknown JSON files; every guard on sizes, counts,
    compression ratios and nesting is applied here, so a refused upload is refused before any write.
    """
    upload = Upload()
    try:
        for path in paths:
            _add_path(upload, Path(path), limits)
        if not upload.entries:
            raise ImportRejected(
                "no streaming history, library or playlist file found in " + ", ".join(map(str, paths))
            )
    except BaseException:
        upload.close()
        raise
    return upload


def _add_path(upload: Upload, path: Path, limits: ImportSettings) -> None:
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and not p.is_symlink()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if len(files) > limits.max_archive_members:
            raise ImportRejected(
                f"{path.name}: holds {len(files)} files, more than the {limits.max_archive_members} allowed"
            )
        for file in files:
            if file.suffix.lower() == ".zip":
                _add_zip(upload, file, limits)
            elif file.suffix.lower() == ".json":
                _add_file(upload, file, limits, explicit=False)
            else:
                upload.ignored.append(str(file))
    elif path.is_file():
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            _add_zip(upload, path, limits)
        else:
            _add_file(upload, path, limits, explicit=True)
    else:
        raise ImportRejected(f"{path}: no such file or folder")


def _add_file(upload: Upload, path: Path, limits: ImportSettings, *, explicit: bool) -> None:
    size = path.stat().st_size
    cap = limits.max_file_mb * _MB
    if size > cap:
        raise ImportRejected(f"{path.name}: {size / _MB:.1f} MB is over the {limits.max_file_mb} MB cap")
    if explicit and path.suffix.lower() != ".json":
        raise ImportRejected(f"{path.name}: not a JSON file or zip archive")

    def opener() -> IO[bytes]:
        return path.open("rb")

    _classify(upload, path.name, path.name, size, opener, cap)


def _add_zip(upload: Upload, path: Path, limits: ImportSettings) -> None:
    cap = limits.max_file_mb * _MB
    size = path.stat().st_size
    if size > cap:
        raise ImportRejected(f"{path.name}: {size / _MB:.1f} MB is over the {limits.max_file_mb} MB cap")
    try:
        archive = upload._stack.enter_context(zipfile.ZipFile(path))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        log.warning("upload %s: not a readable zip archive (%s)", path, _reason(exc))
        raise ImportRejected(
            f"{path.name}: not a readable zip archive; download the export from Spotify again and upload it unchanged"
        ) from None
    if len(infos) > limits.max_archive_members:
        raise ImportRejected(
            f"{path.name}: holds {len(infos)} files, more than the {limits.max_archive_members} allowed"
        )
    for info in infos:
        name = f"{path.name}:{info.filename}"
        base = info.filename.rsplit("/", 1)[-1]
        if info.is_dir() or info.filename.startswith("__MACOSX/") or base.startswith("._"):
            continue
        if base.lower().endswith(_ARCHIVE_SUFFIXES):
            raise ImportRejected(f"{name}: nested archives are not accepted; unpack it and upload its files")
        if info.file_size > cap:
            raise ImportRejected(
                f"{name}: {info.file_size / _MB:.1f} MB unpacked is over the {limits.max_file_mb} MB cap"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise ImportRejected(
                f"{name}: expands {ratio:.0f} times, more than the {limits.max_compression_ratio} allowed (zip-bomb guard)"
            )
        if info.flag_bits & 0x1:
            raise ImportRejected(f"{name}: encrypted archive members are not accepted")
        if not base.lower().endswith(".json"):
            upload.ignored.append(name)
            continue

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            return archive.open(info)

        _classify(upload, name, base, info.file_size, opener, min(cap, info.file_size))


def _classify(upload: Upload, name: str, base: str, size: int, opener: Callable[[], IO[bytes]], limit: int) -> None:
    def limited() -> LimitedStream:
        return LimitedStream(opener(), limit, name)

    kind = kind_by_name(base) or _sniff(name, limited)
    if kind is None:
        upload.ignored.append(name)
    else:
        upload.entries.append(Entry(name=name, kind=kind, size=size, opener=limited))


def _sniff(name: str, opener: Callable[[], LimitedStream]) -> Kind | None:
    """Guess the kind of a JSON file with an unfamiliar name from its first item's keys (renamed files)."""
    keys: set[str] = set()
    try:
        with opener() as stream:
            for count, (prefix, event, value) in enumerate(ijson.parse(guarded_events(stream, name))):
                if count > 200:  # the first item's keys come early; do not read a large file to the end
                    break
                if event == "map_key" and prefix in ("item", ""):
                    keys.add(str(value))
                if event == "end_map" and prefix in ("item", ""):
                    break
    except ImportRejected:
        raise
    except _READ_ERRORS as exc:
        raise _not_json(name, exc) from None
    if "ts" in keys and ("ms_played" in keys or "spotify_track_uri" in keys):
        return "extended"
    if "endTime" in keys and "msPlayed" in keys:
        return "account"
    if "playlists" in keys:
        return "playlists"
    if "tracks" in keys and "artists" in keys:
        return "library"
    return None


def _not_json(name: str, exc: BaseException) -> ImportRejected:
    """A sentence for the member (the parser's own words, which may quote raw bytes, go to the log)."""
    log.warning("upload %s: not valid JSON (%s)", name, _reason(exc))
    text = str(exc).lower()
    if isinstance(exc, UnicodeError) or any(m in text for m in ("utf", "codec", "\\xff\\xfe", "\\xfe\\xff", "\\x00")):
        why = "it is not UTF-8 text (was it saved again in another encoding?)"
    else:
        why = "it is cut short or was edited"
    return ImportRejected(f"{name}: not valid JSON: {why}; upload the file as Spotify sent it")


def _unreadable(name: str, exc: BaseException) -> ImportRejected:
    log.warning("upload %s: cannot be read (%s)", name, _reason(exc))
    return ImportRejected(f"{name}: cannot be read; download the export from Spotify again and upload it unchanged")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def guarded_events(stream: IO[bytes] | LimitedStream, name: str) -> Iterator[tuple[str, Any]]:
    """ijson's basic events of *stream*, refused (ImportRejected) once nesting or a key goes past what an export has.

    The basic events carry no prefix, so reading them costs memory in the size of one buffer whatever
    the nesting; the refusal comes at depth MAX_DEPTH + 1, a few dozen bytes into a hostile file.
    """
    depth = 0
    for event, value in ijson.basic_parse(stream):
        if event == "start_map" or event == "start_array":
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(name)
        elif event == "end_map" or event == "end_array":
            depth -= 1
        elif event == "map_key" and len(value) > MAX_KEY_CHARS:
            raise _long_key(name, len(value))
        yield event, value


def _too_deep(name: str) -> ImportRejected:
    return ImportRejected(
        f"{name} is not a file of a Spotify data export: its data is nested more than {MAX_DEPTH} levels deep "
        "(an export nests at most 6)"
    )


def _long_key(name: str, chars: int) -> ImportRejected:
    return ImportRejected(f"{name} is not a file of a Spotify data export: it has a field name of {chars} characters")


def validate(entry: Entry) -> int:
    """Read the whole file once without keeping it: it must be JSON of the shape its kind needs. Returns its item count.

    One pass over the basic events (depth and key length checked as they stream), counting the values
    under the kind's item prefixes as ijson.items would find them. The import pass (iter_items) builds
    items with ijson's C code; it runs only on files that passed here.
    """
    expected = "start_array" if entry.kind in ("extended", "account") else "start_map"
    targets = {tuple(prefix.split(".")) for prefix in ITEM_PREFIXES[entry.kind]}
    lengths = {len(t) for t in targets}
    count = 0
    # The prefix of the next value, as ijson names it: "item" in an array, the key in an object.
    path: list[str] = []
    first = True
    # The import pass builds each item whole: its size is bounded too (events in it, and where it started).
    item_limit = MAX_ITEM_EVENTS[entry.kind]
    item_events = 0
    item_depth = -1
    try:
        with entry.opener() as stream:
            # The guards of guarded_events, inline: this loop reads every event of the upload (depth is len(path)).
            for event, value in ijson.basic_parse(stream):
                if first:
                    first = False
                    if event != expected:
                        shape = "an array" if expected == "start_array" else "an object"
                        raise ImportRejected(f"{entry.name}: expected {shape} at the top of a {entry.kind} file")
                if item_depth >= 0:
                    item_events += 1
                    if item_events > item_limit:
                        raise ImportRejected(
                            f"{entry.name} is not a file of a Spotify data export: one of its items holds more than "
                            f"{item_limit:,} values"
                        )
                if event == "map_key":
                    if len(value) > MAX_KEY_CHARS:
                        raise _long_key(entry.name, len(value))
                    path[-1] = value
                    continue
                if event == "end_map" or event == "end_array":
                    path.pop()
                    if len(path) == item_depth:
                        item_depth = -1
                    continue
                if len(path) in lengths and tuple(path) in targets:
                    count += 1  # every other event starts a value
                    if event == "start_map" or event == "start_array":
                        item_depth, item_events = len(path), 0
                if event == "start_map":
                    path.append("")
                elif event == "start_array":
                    path.append("item")
                else:
                    continue
                if len(path) > MAX_DEPTH:
                    raise _too_deep(entry.name)
        if first:
            raise ImportRejected(f"{entry.name}: empty file")
    except ImportRejected:
        raise
    except _READ_ERRORS as exc:
        raise _not_json(entry.name, exc) from None
    except OSError as exc:
        raise _unreadable(entry.name, exc) from None
    return count


def iter_items(entry: Entry, prefix: str) -> Iterator[Any]:
    """Stream the items under *prefix* one at a time (ijson), never the whole file.

    Only for an entry that passed `validate` (its nesting is bounded): ijson's C items builder is several
    times faster than any walk over events in Python.
    """
    try:
        with entry.opener() as stream:
            yield from ijson.items(stream, prefix)
    except ImportRejected:
        raise
    except _READ_ERRORS as exc:
        raise _not_json(entry.name, exc) from None
    except OSError as exc:
        raise _unreadable(entry.name, exc) from None


def display_name(name: str) -> str:
    """A file's name without the folders above it, for reports."""
    return name.rsplit(os.sep, 1)[-1].rsplit(":", 1)[-1]
