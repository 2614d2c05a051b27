"""The community prior artifact on disk (docs/prior.md, format 1): write it atomically, load and verify it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from recs import __version__

FORMAT = "recs-prior"
FORMAT_VERSION = 1
TRACK_ID_DTYPE = np.dtype("<U22")

# member -> (dtype, number of dimensions)
MEMBERS: dict[str, tuple[np.dtype[Any], int]] = {
    "manifest": (np.dtype(np.uint8), 1),
    "track_ids": (TRACK_ID_DTYPE, 1),
    "item_factors": (np.dtype(np.float16), 2),
    "listeners": (np.dtype(np.int32), 1),
    "listens": (np.dtype(np.int64), 1),
    "track_name_bytes": (np.dtype(np.uint8), 1),
    "track_name_offsets": (np.dtype(np.int64), 1),
    "artist_name_bytes": (np.dtype(np.uint8), 1),
    "artist_name_offsets": (np.dtype(np.int64), 1),
}


# What reading a damaged archive raises, from zipfile, zlib and numpy's .npy reader.
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, RuntimeError)


class PriorError(Exception):
    """A prior file that cannot be used; the message names the file and the problem in one line."""


def arrays_sha256(arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    """SHA-256 over every member but the manifest, in sorted name order: name, dtype.str, repr(shape), bytes."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "manifest":
            continue
        array = np.ascontiguousarray(arrays[name])
        digest.update(name.encode("utf-8"))
        digest.update(array.dtype.str.encode("ascii"))
        digest.update(repr(tuple(int(d) for d in array.shape)).encode("ascii"))
        digest.update(array.reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


def encode_strings(values: Sequence[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Concatenated UTF-8 bytes and the n+1 offsets that cut them back into *values*."""
    encoded = [v.encode("utf-8", "replace") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return data, offsets


@dataclass(frozen=True)
class Prior:
    """A loaded, verified prior: item factors over Spotify track ids, with counts, names and the manifest."""

    path: Path
    manifest: dict[str, Any]
    track_ids: npt.NDArray[np.str_]
    item_factors: npt.NDArray[np.float16]
    listeners: npt.NDArray[np.int32]
    listens: npt.NDArray[np.int64]
    track_name_bytes: npt.NDArray[np.uint8]
    track_name_offsets: npt.NDArray[np.int64]
    artist_name_bytes: npt.NDArray[np.uint8]
    artist_name_offsets: npt.NDArray[np.int64]

    @property
    def n_tracks(self) -> int:
        return int(self.track_ids.shape[0])

    @property
    def n_factors(self) -> int:
        return int(self.item_factors.shape[1])

    @property
    def regularization(self) -> float:
        return float(self.manifest.get("model", {}).get("regularization", 0.0))

    @property
    def alpha(self) -> float:
        return float(self.manifest.get("model", {}).get("alpha", 1.0))

    def index(self, track_id: str) -> int | None:
        """The row of *track_id*, or None when the prior does not hold it (binary search over the sorted ids)."""
        i = int(np.searchsorted(self.track_ids, track_id))
        if i < self.n_tracks and self.track_ids[i] == track_id:
            return i
        return None

    def indices(self, track_ids: Sequence[str] | npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
        """The row of each id, -1 where the prior does not hold it."""
        wanted = np.asarray(track_ids, dtype=TRACK_ID_DTYPE)
        if self.n_tracks == 0 or wanted.size == 0:
            return np.full(wanted.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.track_ids, wanted)
        clipped = np.minimum(pos, self.n_tracks - 1)
        found = self.track_ids[clipped] == wanted
        return np.where(found, clipped, -1).astype(np.int64)

    def track_name(self, i: int) -> str:
        return _cut(self.track_name_bytes, self.track_name_offsets, i)

    def artist_name(self, i: int) -> str:
        return _cut(self.artist_name_bytes, self.artist_name_offsets, i)

    def factors32(self) -> npt.NDArray[np.float32]:
        """The item factors as a new float32 array (the file stores float16 to halve its size)."""
        return self.item_factors.astype(np.float32)


def _cut(data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], i: int) -> str:
    return bytes(data[int(offsets[i]) : int(offsets[i + 1])]).decode("utf-8", "replace")


def write_prior(
    path: Path,
    *,
    track_ids: Sequence[str] | npt.NDArray[np.str_],
    item_factors: npt.NDArray[Any],
    listeners: npt.ArrayLike,
    listens: npt.ArrayLike,
    track_names: Sequence[str],
    artist_names: Sequence[str],
    manifest: Mapping[str, Any],
) -> Path:
    """Write a format-1 prior at *path*, atomically; rows are sorted by track id here.

    The manifest given is completed with `format`, `format_version`, `arrays_sha256`, and `created_at`
    and `recs_version` when absent. Stale temporary files of dead writers beside *path* are removed.
    """
    ids = np.asarray(track_ids, dtype=TRACK_ID_DTYPE)
    n = int(ids.shape[0])
    factors = np.asarray(item_factors)
    if factors.ndim != 2 or factors.shape[0] != n:
        raise ValueError(f"item_factors has shape {factors.shape}, expected ({n}, k)")
    counts = np.asarray(listeners, dtype=np.int32)
    totals = np.asarray(listens, dtype=np.int64)
    if counts.shape != (n,) or totals.shape != (n,) or len(track_names) != n or len(artist_names) != n:
        raise ValueError(f"listeners, listens and names must each have {n} entries")
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        raise ValueError("track_ids are not unique")
    track_bytes, track_offsets = encode_strings([track_names[int(i)] for i in order])
    artist_bytes, artist_offsets = encode_strings([artist_names[int(i)] for i in order])
    arrays: dict[str, npt.NDArray[Any]] = {
        "track_ids": ids,
        "item_factors": np.ascontiguousarray(factors[order], dtype=np.float16),
        "listeners": counts[order],
        "listens": totals[order],
        "track_name_bytes": track_bytes,
        "track_name_offsets": track_offsets,
        "artist_name_bytes": artist_bytes,
        "artist_name_offsets": artist_offsets,
    }
    document = dict(manifest)
    document.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    document.setdefault("recs_version", __version__)
    document["format"] = FORMAT
    document["format_version"] = FORMAT_VERSION
    document["arrays_sha256"] = arrays_sha256(arrays)
    arrays["manifest"] = np.frombuffer(json.dumps(document, sort_keys=True).encode("utf-8"), dtype=np.uint8)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def temporary_path(path: Path, pid: int | None = None) -> Path:
    """Where a writer of *path* with process id *pid* (default: this one) puts its unfinished file."""
    return path.with_name(f".{path.name}.tmp-{os.getpid() if pid is None else pid}")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove temporary files beside *path* left by writers that no longer run (a killed build)."""
    removed: list[Path] = []
    prefix = f".{path.name}.tmp-"
    try:
        entries = list(path.parent.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name.removeprefix(prefix)
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; some filesystems refuse to open a folder, which only costs durability."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_prior(path: Path | str) -> Prior:
    """Read and verify a prior; any problem raises PriorError naming the file and the problem."""
    path = Path(path)

    def fail(problem: str) -> PriorError:
        return PriorError(f"prior {path}: {' '.join(problem.split())}")

    if not path.exists():
        raise fail("no such file")
    if not path.is_file():
        raise fail("not a file")
    try:
        with open(path, "rb") as fh:
            arrays = _read_members(fh, fail)
    except PriorError:
        raise
    except _READ_ERRORS as exc:
        raise fail(f"unreadable archive ({type(exc).__name__}: {exc})") from None

    manifest = _manifest(arrays["manifest"], fail)
    if manifest.get("format") != FORMAT:
        raise fail(f"another format ({manifest.get('format')!r}, expected {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise fail(f"format_version {version!r}; this recs reads version {FORMAT_VERSION}")
    for name, (dtype, ndim) in MEMBERS.items():
        if name not in arrays:
            raise fail(f"missing member {name}")
        array = arrays[name]
        if array.dtype != dtype or array.ndim != ndim:
            raise fail(f"member {name} is {array.dtype.str} {array.ndim}-D, expected {dtype.str} {ndim}-D")
    n = int(arrays["track_ids"].shape[0])
    for name in ("item_factors", "listeners", "listens"):
        if arrays[name].shape[0] != n:
            raise fail(f"member {name} has {arrays[name].shape[0]} rows for {n} track ids")
    for kind in ("track", "artist"):
        data_name, off_name = f"{kind}_name_bytes", f"{kind}_name_offsets"
        offsets = arrays[off_name]
        if offsets.shape[0] != n + 1:
            raise fail(f"member {off_name} has {offsets.shape[0]} entries for {n} track ids (expected n+1)")
        if offsets[0] != 0 or offsets[-1] != arrays[data_name].shape[0] or bool(np.any(np.diff(offsets) < 0)):
            raise fail(f"member {off_name} does not cut {data_name} into names")
    expected = manifest.get("arrays_sha256")
    actual = arrays_sha256(arrays)
    if expected != actual:
        raise fail(f"checksum mismatch (manifest says {expected}, arrays give {actual})")
    ids = arrays["track_ids"]
    if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        raise fail("track_ids are not unique and sorted")
    return Prior(
        path=path,
        manifest=manifest,
        track_ids=ids,
        item_factors=arrays["item_factors"],
        listeners=arrays["listeners"],
        listens=arrays["listens"],
        track_name_bytes=arrays["track_name_bytes"],
        track_name_offsets=arrays["track_name_offsets"],
        artist_name_bytes=arrays["artist_name_bytes"],
        artist_name_offsets=arrays["artist_name_offsets"],
    )


def _read_members(fh: BinaryIO, fail: Any) -> dict[str, npt.NDArray[Any]]:
    """Every member of the archive open in *fh*, read whole (the file handle stays ours to close)."""
    try:
        loaded = np.load(fh, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy's word for "neither .npy nor .npz"
            raise fail("not an npz archive") from None
        raise
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise fail("not an npz archive (a single .npy array)")
    with loaded as data:
        if "manifest" not in data.files:
            raise fail("not a recs prior (no manifest member)")
        try:
            return {name: data[name] for name in sorted(data.files)}
        except ValueError as exc:
            if "pickle" in str(exc):
                raise fail("a member holds pickled Python objects") from None
            raise


def _manifest(raw: npt.NDArray[Any], fail: Any) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise fail(f"member manifest is {raw.dtype.str} {raw.ndim}-D, expected |u1 1-D")
    try:
        document = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise fail("manifest is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise fail("manifest is not a JSON object")
    return document
