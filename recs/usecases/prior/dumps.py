"""Reading ListenBrainz listen dumps as streams of whole-line chunks: .tar.zst archives, extracted folders, .listens files.

A dump archive (listenbrainz/listenstore/dump_listenstore.py) is a zstd-compressed tar holding one top
folder with `listens/<year>/<month>.listens` (month not zero-padded), `COPYING`, `SCHEMA_SEQUENCE` and
`TIMESTAMP` or `START_TIMESTAMP`/`END_TIMESTAMP`. It is read in tar stream mode (`r|`) through zstandard's
stream reader, so nothing is extracted to disk and memory stays at a few chunks. Damage (a truncated or
corrupt stream, a tar member that is not a listens file, an unreadable file) is recorded as a `Problem`
and reading goes on with the next source.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

CHUNK_BYTES = 1 << 20  # tarfile streams fastest when asked for what it buffers (measured)
SPLIT_BYTES = 64 << 20  # an extracted .listens file is parsed in byte ranges of this size
MAX_LINE_BYTES = 4 << 20  # real lines are a few kB
LISTENS_MEMBER = re.compile(r"(?:^|/)listens/\d{4}/\d{1,2}\.listens$")
SCHEMA_SEQUENCE = "1"  # listenbrainz.listenstore.LISTENS_DUMP_SCHEMA_VERSION
METADATA_MEMBERS = frozenset({"COPYING", "SCHEMA_SEQUENCE", "TIMESTAMP", "START_TIMESTAMP", "END_TIMESTAMP"})


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Problem:
    """Something wrong with a source that the build reports and goes past."""

    source: str
    kind: str  # unreadable, truncated, foreign_member, partial_line
    detail: str

    def line(self) -> str:
        return f"{self.source}: {self.kind}: {self.detail}"


@dataclass
class Source:
    """One input as the manifest lists it; `sha256` and `bytes_read` fill in as it is read."""

    path: Path
    name: str
    kind: str  # tar.zst | listens
    size: int
    bytes_read: int = 0
    sha256: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, object]:
        entry: dict[str, object] = {"name": self.name, "kind": self.kind, "bytes": self.size, "sha256": self.sha256}
        if self.metadata:
            entry["metadata"] = dict(self.metadata)
        return entry


def discover(paths: list[Path]) -> tuple[list[Source], list[Problem]]:
    """The sources behind *paths*: archives and .listens files as given, folders searched for both."""
    sources: list[Source] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and (p.name.endswith(".listens") or p.name.endswith(".tar.zst"))
            )
            if not found:
                problems.append(Problem(str(path), "unreadable", "folder holds no .listens or .tar.zst file"))
            for p in found:
                sources.append(_source(p, f"{path.name}/{p.relative_to(path).as_posix()}"))
        elif path.is_file():
            sources.append(_source(path, path.name))
        else:
            problems.append(Problem(str(path), "unreadable", "no such file or folder"))
    return sources, problems


def _source(path: Path, name: str) -> Source:
    kind = "tar.zst" if path.name.endswith(".tar.zst") or path.name.endswith(".tar.zstd") else "listens"
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return Source(path=path, name=name, kind=kind, size=size)


class _HashingReader:
    """A read-only file wrapper that hashes and counts the bytes as they pass (no second pass over the file)."""

    def __init__(self, fh: BinaryIO, source: Source, on_bytes: Callable[[int], None]) -> None:
        self._fh = fh
        self._source = source
        self._hash = hashlib.sha256()
        self._on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if data:
            self._hash.update(data)
            self._source.bytes_read += len(data)
            self._on_bytes(len(data))
        return data

    def finish(self) -> None:
        """Hash what is left unread (e.g. padding after the tar's end marker) so the checksum covers the file."""
        while self.read(1 << 20):
            pass
        self._source.sha256 = self._hash.hexdigest()


def read_chunks(
    source: Source,
    problems: list[Problem],
    on_bytes: Callable[[int], None] = lambda n: None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[bytes]:
    """Whole-line chunks of every listens file in *source*; problems are appended, never raised."""
    try:
        fh = open(source.path, "rb")  # noqa: SIM115 (closed in finally; the generator may pause in between)
    except OSError as exc:
        problems.append(Problem(source.name, "unreadable", exc.strerror or type(exc).__name__))
        return
    reader = _HashingReader(fh, source, on_bytes)
    try:
        if source.kind == "tar.zst":
            yield from _tar_chunks(reader, source, problems, chunk_bytes)
        else:
            yield from _line_chunks(reader, source.name, problems, chunk_bytes)
        reader.finish()
    except OSError as exc:
        problems.append(Problem(source.name, "unreadable", exc.strerror or str(exc)))
    finally:
        fh.close()


def _tar_chunks(reader: _HashingReader, source: Source, problems: list[Problem], chunk_bytes: int) -> Iterator[bytes]:
    stream = zstandard.ZstdDecompressor().stream_reader(reader, read_across_frames=True)  # type: ignore[arg-type]
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK_BYTES) as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isdir():
                    continue
                if member.isfile() and LISTENS_MEMBER.search(member.name):
                    fileobj = tar.extractfile(member)
                    if fileobj is not None:
                        yield from _line_chunks(fileobj, f"{source.name}:{member.name}", problems, chunk_bytes)
                elif member.isfile() and base in METADATA_MEMBERS:
                    fileobj = tar.extractfile(member)
                    if fileobj is not None and base != "COPYING":
                        value = fileobj.read(200).decode("utf-8", "replace").strip()
                        source.metadata[base] = value
                        if base == "SCHEMA_SEQUENCE" and value != SCHEMA_SEQUENCE:
                            detail = f"SCHEMA_SEQUENCE is {value!r}, this recs knows {SCHEMA_SEQUENCE}: lines read as if it were"
                            problems.append(Problem(source.name, "unknown_schema", detail))
                else:
                    problems.append(Problem(source.name, "foreign_member", f"{member.name} is not a listens file"))
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        problems.append(
            Problem(source.name, "truncated", f"archive ends or breaks after {source.bytes_read} bytes ({detail})")
        )


def _line_chunks(fh: Readable, name: str, problems: list[Problem], chunk_bytes: int) -> Iterator[bytes]:
    """Chunks of about CHUNK_BYTES that end on a newline; a last line without one is still a line.

    A line longer than MAX_LINE_BYTES is skipped (and reported) rather than held: memory stays bounded
    whatever a file holds.
    """
    tail = b""
    skipping = False
    try:
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                break
            if skipping:
                nl = block.find(b"\n")
                if nl == -1:
                    continue
                block = block[nl + 1 :]
                skipping = False
            cut = block.rfind(b"\n")
            if cut == -1:
                tail += block
                if len(tail) > MAX_LINE_BYTES:
                    problems.append(Problem(name, "long_line", f"a line over {MAX_LINE_BYTES} bytes is skipped"))
                    tail, skipping = b"", True
                continue
            chunk = tail + block[: cut + 1] if tail else block[: cut + 1]
            tail = block[cut + 1 :]
            yield chunk
    except (zstandard.ZstdError, tarfile.TarError, EOFError):
        if tail:
            problems.append(
                Problem(name, "partial_line", f"a line cut short by the damage ({len(tail)} bytes) is skipped")
            )
        raise
    if tail and not skipping:
        yield tail


# A unit of parsing work: (source index, path, manifest name, kind, first byte, end byte or -1 for the whole file).
Unit = tuple[int, str, str, str, int, int]


def plan_units(sources: list[Source], split_bytes: int = SPLIT_BYTES) -> list[Unit]:
    """One unit per archive; .listens files cut into byte ranges of split_bytes."""
    units: list[Unit] = []
    for i, s in enumerate(sources):
        if s.kind == "listens" and s.size > split_bytes:
            units.extend(
                (i, str(s.path), s.name, s.kind, start, min(start + split_bytes, s.size))
                for start in range(0, s.size, split_bytes)
            )
        else:
            units.append((i, str(s.path), s.name, s.kind, 0, -1))
    return units


def range_chunks(path: str, start: int, end: int, chunk_bytes: int = 8 << 20) -> Iterator[bytes]:
    """Whole lines that start in [start, end) of a .listens file (the line under way at `end` is finished).

    A range owns the lines that start in it, as Hadoop's line reader does: the ranges of one file give
    each line exactly once, whatever the split.
    """
    with open(path, "rb") as fh:
        if start > 0:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                fh.readline(MAX_LINE_BYTES)  # the line under way belongs to the previous range
        while fh.tell() < end:
            block = fh.read(min(chunk_bytes, end - fh.tell()))
            if not block:
                break
            if not block.endswith(b"\n"):
                block += fh.readline(MAX_LINE_BYTES)
            yield block


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read 1 MiB at a time (hashlib lets other threads run meanwhile)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
