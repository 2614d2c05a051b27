"""Fetch ListenBrainz listen dumps from a mirror: resumable with HTTP ranges, checksum-verified, never half under its name.

The mirror layout (listenbrainz-server's admin/create-dumps.sh and dumps/manager.py): under the base URL,
`incremental/` and `fullexport/` hold one folder per dump, `listenbrainz-dump-<id>-<YYYYmmdd-HHMMSS>-<kind>/`,
with `listenbrainz-listens-dump-<id>-<YYYYmmdd-HHMMSS>-<kind>.tar.zst` and its `.sha256` and `.md5`
(the bare hex digest) beside other archives (the spark dump `.tar`, and in full folders the statistics
dump); `fullexport/` also has `-db` folders without listens. The mirror keeps the last 30 incrementals and
two full dumps (listenbrainz/dumps/cleanup.py). The public HTTP site is the one ListenBrainz's data page
names (frontend/js/src/about/data/Data.tsx); its folder pages are read for their `href`s, so any
listing format (nginx, Apache) works.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import requests

log = logging.getLogger(__name__)

DEFAULT_MIRROR = "https://data.musicbrainz.org/pub/musicbrainz/listenbrainz/"
FOLDERS = {"full": "fullexport/", "incremental": "incremental/"}
_DIR = re.compile(r"^listenbrainz-dump-(\d+)-(\d{8}-\d{6})-(full|incremental)/?$")
_HREF = re.compile(r'href="([^"?#]+)"', re.IGNORECASE)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
KEPT_INCREMENTALS = 30  # listenbrainz/dumps/cleanup.py NUMBER_OF_INCREMENTAL_DUMPS_TO_KEEP
CHUNK = 1 << 20  # for hashing
BLOCK = 64 << 10  # for transfers: at most this much is lost when a connection drops

Progress = Callable[[str, int, int | None], None]  # (file name, bytes done, total or None)


class DownloadError(Exception):
    """A dump could not be fetched or verified; the message names the file or URL and the problem in one line."""


@dataclass(frozen=True)
class MirrorDump:
    """One dump folder on the mirror."""

    dump_id: int
    end: datetime
    kind: str
    url: str  # the folder, ending with /

    @property
    def archive(self) -> str:
        """The listens archive's file name in the folder."""
        return f"listenbrainz-listens-dump-{self.dump_id}-{self.end:%Y%m%d-%H%M%S}-{self.kind}.tar.zst"


@dataclass(frozen=True)
class Downloaded:
    path: Path
    dump: MirrorDump
    size: int
    resumed_from: int  # bytes already there from an interrupted download (0: fetched whole)
    already_there: bool  # the verified file was there: nothing fetched


def _get(session: requests.Session, url: str, timeout: float) -> requests.Response:
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise DownloadError(f"{url}: HTTP {response.status_code}")
    return response


def list_dumps(session: requests.Session, base_url: str, kind: str, *, timeout: float = 30.0) -> list[MirrorDump]:
    """The dumps of one kind ("full" or "incremental") the mirror lists, oldest first."""
    if kind not in FOLDERS:
        raise ValueError(f"kind must be one of {', '.join(FOLDERS)}, got {kind!r}")
    folder = urljoin(_slash(base_url), FOLDERS[kind])
    found: dict[str, MirrorDump] = {}
    for href in _HREF.findall(_get(session, folder, timeout).text):
        name = href.rstrip("/").rsplit("/", 1)[-1]
        m = _DIR.match(name)
        if m and m.group(3) == kind:
            end = datetime.strptime(m.group(2), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
            found[name] = MirrorDump(int(m.group(1)), end, kind, urljoin(folder, name + "/"))
    return sorted(found.values(), key=lambda d: (d.end, d.dump_id))


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def pick_full(dumps: list[MirrorDump], which: str) -> MirrorDump:
    """ "latest", a dump id, or a folder/archive name among the listed full dumps."""
    if not dumps:
        raise DownloadError("the mirror lists no full dumps")
    if which == "latest":
        return dumps[-1]
    for dump in dumps:
        folder = dump.url.rstrip("/").rsplit("/", 1)[-1]
        if which in (str(dump.dump_id), folder, dump.archive, dump.archive.removesuffix(".tar.zst")):
            return dump
    raise DownloadError(f"no full dump {which!r} on the mirror (newest: {dumps[-1].dump_id}, {dumps[-1].archive})")


def published_checksum(session: requests.Session, dump: MirrorDump, *, timeout: float = 30.0) -> tuple[str, str]:
    """("sha256" or "md5", hex digest) as published beside the archive; sha256 preferred."""
    for algorithm, length in (("sha256", 64), ("md5", 32)):
        url = dump.url + dump.archive + "." + algorithm
        try:
            response = session.get(url, timeout=timeout)
        except requests.RequestException as exc:
            raise DownloadError(f"{url}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 404:
            continue
        if response.status_code != 200:
            raise DownloadError(f"{url}: HTTP {response.status_code}")
        words = response.text.split()
        digest = words[0].lower() if words else ""
        if len(digest) != length or not _HEX.match(digest):
            raise DownloadError(f"{url}: not a {algorithm} checksum file (starts {response.text[:40]!r})")
        return algorithm, digest
    raise DownloadError(
        f"{dump.url}{dump.archive}: the mirror publishes no .sha256 or .md5 for it; refusing to trust it"
    )


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def fetch_dump(
    session: requests.Session,
    dump: MirrorDump,
    dest: Path,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    block_size: int = BLOCK,
) -> Downloaded:
    """Download one listens archive into dest, resuming a `.part` left by an interrupted run.

    The bytes go to `<name>.part`; only a file whose checksum matches the published one is moved to
    `<name>` (os.replace), so a file under the final name is always whole and verified. A connection
    that drops midway is resumed with a Range request, up to `retries` times.
    """
    dest.mkdir(parents=True, exist_ok=True)
    algorithm, expected = published_checksum(session, dump, timeout=timeout)
    final = dest / dump.archive
    if final.exists() and _digest(final, algorithm) == expected:
        return Downloaded(final, dump, final.stat().st_size, 0, True)
    part = dest / (dump.archive + ".part")
    url = dump.url + dump.archive
    resumed_from = part.stat().st_size if part.exists() else 0
    failures = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            done = _transfer(session, url, part, offset, headers, timeout, progress, dump.archive, block_size)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            failures += 1
            have = part.stat().st_size if part.exists() else 0
            if failures > retries:
                raise DownloadError(
                    f"{url}: interrupted at {have:,} bytes after {failures} attempts ({type(exc).__name__}); "
                    "run again to resume"
                ) from None
            log.warning("%s: connection lost at %d bytes (%s); resuming", dump.archive, have, type(exc).__name__)
            sleep(min(30.0, 2.0**failures))
            continue
        if done:
            break
    got = _digest(part, algorithm)
    if got != expected:
        part.unlink()
        raise DownloadError(
            f"{dump.archive}: {algorithm} mismatch (published {expected}, downloaded {got}); "
            "the partial file was removed, run again"
        )
    size = part.stat().st_size
    os.replace(part, final)
    _fsync_dir(dest)
    return Downloaded(final, dump, size, resumed_from, False)


def _transfer(
    session: requests.Session,
    url: str,
    part: Path,
    offset: int,
    headers: dict[str, str],
    timeout: float,
    progress: Progress | None,
    name: str,
    block_size: int,
) -> bool:
    """One GET appending to part; True when the file is whole (or the server says there is nothing past it)."""
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and offset:
            return True  # the part already holds every byte: the checksum decides
        if response.status_code == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                raise DownloadError(f"{url}: asked for bytes from {offset}, got Content-Range {content_range!r}")
            total = _total(content_range)
            mode = "ab"
        elif response.status_code == 200:
            offset, mode = 0, "wb"  # the server ignored the range: start over
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise DownloadError(f"{url}: HTTP {response.status_code}")
        done = offset
        with part.open(mode) as out:
            for block in response.iter_content(block_size):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(name, done, total)
            out.flush()
            os.fsync(out.fileno())
    return True


def _total(content_range: str) -> int | None:
    tail = content_range.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def download(
    base_url: str,
    dest: Path,
    *,
    days: int = 7,
    full: str | None = None,
    now: datetime | None = None,
    session: requests.Session | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    block_size: int = BLOCK,
) -> list[Downloaded]:
    """The daily incrementals made in the last `days` days (default), or the full dump named by `full`."""
    if days < 1 and full is None:
        raise DownloadError(f"days must be at least 1, got {days}")
    own = session is None
    http = session or requests.Session()
    try:
        if full is not None:
            chosen = [pick_full(list_dumps(http, base_url, "full", timeout=timeout), full)]
        else:
            moment = now or datetime.now(UTC)
            if moment.tzinfo is None:
                raise DownloadError(f"naive datetime {moment!r}: give now in UTC")
            listed = list_dumps(http, base_url, "incremental", timeout=timeout)
            chosen = [d for d in listed if moment - timedelta(days=days) < d.end <= moment]
            if chosen and chosen[0] is listed[0] and days > KEPT_INCREMENTALS:
                log.warning(
                    "%s keeps incrementals only back to %s (ListenBrainz keeps the last %d): fetching the %d listed",
                    base_url,
                    f"{listed[0].end:%Y-%m-%d}",
                    KEPT_INCREMENTALS,
                    len(chosen),
                )
            if not chosen:
                newest = f"newest listed: {listed[-1].end:%Y-%m-%d %H:%M}" if listed else "none listed"
                raise DownloadError(f"{base_url}: no incremental dump in the last {days} days ({newest})")
        return [
            fetch_dump(
                http, d, dest, timeout=timeout, retries=retries, progress=progress, sleep=sleep, block_size=block_size
            )
            for d in chosen
        ]
    finally:
        if own:
            http.close()
