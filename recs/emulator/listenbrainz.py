"""A ListenBrainz community over the emulated catalogue, written as listen dumps in ListenBrainz's own format."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import string
import tarfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import zstandard

from recs.emulator.catalog import GENRES, Catalog, Track, generate_catalog
from recs.emulator.household import Household, draw_track, make_taste, to_ms
from recs.emulator.state import DEFAULT_START

# the folder of ListenBrainz dumps on MetaBrainz's mirrors (FTP and HTTPS alike)
MIRROR_PATH = "pub/musicbrainz/listenbrainz"
SCHEMA_SEQUENCE = 1  # listenbrainz.listenstore.LISTENS_DUMP_SCHEMA_VERSION
_COPYING = (Path(__file__).parent / "CC0-1.0.txt").read_bytes()
# How community listeners submit, with the share of users: the first three can carry a Spotify track id
# (the LB Spotify importer always does; Web Scrobbler only on open.spotify.com track pages; multi-scrobbler
# as a URI), the rest never do. About a quarter of lines end up with an id, as in recent real dumps.
CLIENTS: tuple[tuple[str, float], ...] = (
    ("spotify", 0.17),
    ("web_scrobbler", 0.13),
    ("multi_scrobbler", 0.06),
    ("pano_scrobbler", 0.2),
    ("navidrome", 0.16),
    ("lastfm_import", 0.16),
    ("apple_music", 0.12),
)
_LANGS = ("de", "fr", "es", "ja", "pt", "it", "nl", "sv")
_HEX = "0123456789abcdef"
_YT = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class CommunityUser:
    """One ListenBrainz user of the community, with the ground truth of their taste."""

    user_id: int
    user_name: str
    cluster: int  # index into CommunityDumps.clusters
    genres: tuple[str, ...]
    client: str  # one of CLIENTS
    joined: datetime
    imported_history: bool  # joined during the incremental window and submitted their old listens at once


@dataclass(frozen=True, slots=True)
class Listen:
    """Ground truth of one listen as dumped: when it was played and submitted, and what a parser should find."""

    user_id: int
    timestamp: int  # listened_at, Unix seconds (the line's "timestamp")
    created_us: int  # when ListenBrainz received it, Unix microseconds (selects the incremental dump)
    track_id: str | None  # the catalogue track played (None: a track the catalogue does not have)
    spotify_id: str | None  # the Spotify track id the line carries in a usable form, or None


@dataclass(frozen=True)
class DumpFile:
    """One listens dump archive and its counts (lines include exact duplicate lines)."""

    path: Path
    kind: str  # "full" or "incremental"
    dump_id: int
    end: datetime
    start: datetime | None  # incremental only: listens submitted in (start, end]
    members: tuple[str, ...]  # listens files inside, as "<year>/<month>"
    lines: int
    lines_with_spotify_id: int
    duplicate_lines: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class CommunityDumps:
    """What write_community_dumps wrote under root (a mirror tree) and the ground truth behind it."""

    root: Path
    full: DumpFile
    incrementals: list[DumpFile]
    clusters: list[tuple[str, ...]]
    member_clusters: dict[str, int]  # household member user_id -> their cluster
    users: list[CommunityUser]
    listens: list[Listen] = field(repr=False)

    @property
    def files(self) -> list[DumpFile]:
        return [self.full, *self.incrementals]


def dump_name(dump_id: int, end: datetime, kind: str) -> str:
    """listenbrainz-listens-dump-<id>-<YYYYmmdd-HHMMSS>-<kind>, as ListenBrainz names the archive and its folder."""
    return f"listenbrainz-listens-dump-{dump_id}-{end:%Y%m%d-%H%M%S}-{kind}"


def mirror_dir_name(dump_id: int, end: datetime, kind: str) -> str:
    """The mirror folder holding one dump's archives: listenbrainz-dump-<id>-<YYYYmmdd-HHMMSS>-<kind>."""
    return f"listenbrainz-dump-{dump_id}-{end:%Y%m%d-%H%M%S}-{kind}"


def write_community_dumps(
    root: Path | str,
    *,
    seed: int = 0,
    members: int = 5,
    users: int = 400,
    listens_per_user: int = 120,
    clusters: int = 10,
    history_days: int = 730,
    incremental_days: int = 7,
    full_after: int = 2,
    end: datetime = DEFAULT_START,
    duplicate_rate: float = 0.005,
) -> CommunityDumps:
    """Write one full dump and `incremental_days` daily incrementals under root, laid out like the mirror.

    root gets `fullexport/listenbrainz-dump-…-full/` and `incremental/listenbrainz-dump-…-incremental/`
    folders with the listens archive, its `.md5` and `.sha256`, and the other archives ListenBrainz
    publishes beside it (small stand-ins). The full dump is made right after incremental number
    `full_after` (0-based), so incrementals up to that one overlap it. The same arguments give the same
    bytes. Community users draw their taste from the clusters of the emulated household of the same
    seed and member count (`Emulator(seed, members)`), plus other clusters.
    """
    if users < 1 or listens_per_user < 1 or clusters < 1:
        raise ValueError("users, listens_per_user and clusters must be at least 1")
    if incremental_days < 1 or not 0 <= full_after < incremental_days:
        raise ValueError(f"full_after must be in 0..{incremental_days - 1} (an incremental the full dump follows)")
    if end.tzinfo is None:
        raise ValueError(f"naive datetime {end!r}: give end in UTC")
    root = Path(root)
    catalog = generate_catalog(seed)
    household = Household(catalog, seed, members, to_ms(end), 365, min(members, 5))
    rng = random.Random(f"listenbrainz/{seed}")

    cluster_list: list[tuple[str, ...]] = []
    member_clusters: dict[str, int] = {}
    for m in household.members.values():
        key = tuple(sorted(m.genres))
        if key not in cluster_list:
            cluster_list.append(key)
        member_clusters[m.user_id] = cluster_list.index(key)
    while len(cluster_list) < max(clusters, len(cluster_list)):
        key = tuple(sorted(rng.sample(GENRES, k=rng.randint(2, 3))))
        if key not in cluster_list:
            cluster_list.append(key)

    midnight = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last_end = midnight + timedelta(seconds=3, microseconds=rng.randrange(1_000_000))
    if last_end > end:
        last_end -= timedelta(days=1)
    inc_ends = [last_end - timedelta(days=incremental_days - 1 - j) for j in range(incremental_days)]
    inc_starts = [inc_ends[0] - timedelta(days=1, seconds=-1), *inc_ends[:-1]]
    full_end = inc_ends[full_after]
    window_start = inc_starts[0]

    community: list[CommunityUser] = []
    listens: list[Listen] = []
    lines: list[bytes] = []
    user_ids = rng.sample(range(1, 40 * users + 1000), users)
    for i in range(users):
        user, made = _make_user(
            random.Random(f"listenbrainz/{seed}/user/{i}"),
            catalog,
            user_ids[i],
            cluster_list,
            end,
            last_end,
            window_start,
            history_days,
            listens_per_user,
        )
        community.append(user)
        for listen, line in made:
            listens.append(listen)
            lines.append(line)

    base_id = 2000 + seed % 1000
    fullexport = root / "fullexport"
    incremental = root / "incremental"
    full_id = base_id + full_after + 1
    order = sorted(range(len(listens)), key=lambda k: (listens[k].timestamp, listens[k].created_us, k))
    full_rows = [k for k in order if listens[k].created_us <= _us(full_end)]
    full = _write_dump(
        fullexport, full_id, full_end, None, "full", full_rows, listens, lines, by_created=False, rng=rng,
        duplicate_rate=duplicate_rate,
    )  # fmt: skip
    _write_stand_ins(fullexport, full_id, full_end, "full")
    _write_stand_ins(fullexport, full_id - 1, full_end - timedelta(hours=2), "db")
    by_created = sorted(range(len(listens)), key=lambda k: (listens[k].created_us, k))
    incs: list[DumpFile] = []
    for j in range(incremental_days):
        dump_id = base_id + j + (1 if j > full_after else 0)
        lo, hi = _us(inc_starts[j]), _us(inc_ends[j])
        rows = [k for k in by_created if lo < listens[k].created_us <= hi]
        inc = _write_dump(
            incremental, dump_id, inc_ends[j], inc_starts[j], "incremental", rows, listens, lines, by_created=True,
            rng=rng, duplicate_rate=duplicate_rate,
        )  # fmt: skip
        _write_stand_ins(incremental, dump_id, inc_ends[j], "incremental")
        incs.append(inc)
    return CommunityDumps(root, full, incs, cluster_list, member_clusters, community, listens)


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _make_user(
    rng: random.Random,
    catalog: Catalog,
    user_id: int,
    clusters: list[tuple[str, ...]],
    end: datetime,
    last_end: datetime,
    window_start: datetime,
    history_days: int,
    listens_per_user: int,
) -> tuple[CommunityUser, list[tuple[Listen, bytes]]]:
    cluster = rng.randrange(len(clusters))
    genres = clusters[cluster]
    taste = make_taste(rng, catalog, list(genres))
    p_explore = rng.uniform(0.05, 0.2)
    client = rng.choices([c for c, _ in CLIENTS], weights=[w for _, w in CLIENTS])[0]
    name = _user_name(rng, user_id)
    end_s = int(end.timestamp())
    start_s = end_s - history_days * 86_400
    importer = rng.random() < 0.1
    if importer:
        joined_s = rng.randint(int(window_start.timestamp()) + 60, int(last_end.timestamp()) - 60)
    else:
        joined_s = end_s - rng.randint(30, history_days) * 86_400
    first_s = start_s if importer else joined_s
    # heavy-tailed activity (Pareto, mean 1 after scaling): a few users make most of the listens
    n = max(5, min(15 * listens_per_user, int(rng.paretovariate(1.6) * listens_per_user * 0.375)))
    played: list[tuple[int, str | None]] = []
    while len(played) < n:
        at = rng.randint(first_s, end_s - 3_600)
        if rng.random() < 0.3:
            artist = catalog.artists[taste.fav_artists[rng.randrange(min(5, len(taste.fav_artists)))]]
            album = catalog.albums[rng.choice(artist.album_ids)]
            sequence: list[str | None] = list(album.track_ids[: 1 + int(rng.expovariate(1 / 6))])
        else:
            sequence = [
                None
                if client != "spotify" and rng.random() < 0.04
                else draw_track(
                    rng,
                    catalog,
                    taste.fav_artists,
                    taste.fav_cum,
                    taste.explore_artists,
                    taste.explore_cum,
                    p_explore,
                )
                for _ in range(1 + int(rng.expovariate(1 / 8)))
            ]
        for track_id in sequence:
            if at >= end_s:
                break
            played.append((at, track_id))
            at += (catalog.tracks[track_id].duration_ms // 1000 if track_id else 200) + rng.randint(0, 5)
    played = played[:n]
    played.sort()
    user = CommunityUser(
        user_id, name, cluster, genres, client, datetime.fromtimestamp(joined_s, tz=UTC), importer and bool(played)
    )
    out: list[tuple[Listen, bytes]] = []
    seen: set[tuple[int, str | None]] = set()
    import_seq = 0
    last_end_us = _us(last_end)
    for at, track_id in played:
        if (at, track_id) in seen:
            continue  # ListenBrainz keeps one listen per (user, listened_at, recording)
        seen.add((at, track_id))
        if at < joined_s:
            import_seq += 1
            created_us = joined_s * 1_000_000 + import_seq * 1_000  # an import submits old listens at once
        elif rng.random() < 0.03:
            created_us = (at + rng.randint(3_600, 4 * 86_400)) * 1_000_000 + rng.randrange(1_000_000)  # offline
        else:
            created_us = (at + rng.randint(5, 600)) * 1_000_000 + rng.randrange(1_000_000)
        if created_us > last_end_us:
            continue  # submitted after the newest dump: not dumped yet
        track = catalog.tracks[track_id] if track_id else None
        metadata, spotify_id = _track_metadata(rng, catalog, track, client)
        line = _line(user_id, name, at, metadata)
        out.append((Listen(user_id, at, created_us, track_id, spotify_id), line))
    return user, out


def _user_name(rng: random.Random, user_id: int) -> str:
    style = rng.random()
    word = rng.choice(("mara", "theo", "noor", "kai", "zoë", "sami", "otto", "vera", "hugo", "iris", "björn", "ana"))
    if style < 0.4:
        return f"{word}{user_id % 997}"
    if style < 0.7:
        return f"{word}_{rng.choice(('listens', 'music', 'beats', 'fm', 'audio'))}"[:20] + str(user_id)
    return f"{word.capitalize()}{rng.choice(('-', '.', ''))}{user_id}"


@lru_cache(maxsize=65_536)
def _uuid(*parts: str | None) -> str:
    """A stable UUID per name: the same recording always gets the same msid (or MBID)."""
    digest = hashlib.blake2b("\x00".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _spotify_url(kind: str, spotify_id: str) -> str:
    return f"https://open.spotify.com/{kind}/{spotify_id}"


def _track_metadata(
    rng: random.Random, catalog: Catalog, track: Track | None, client: str
) -> tuple[dict[str, Any], str | None]:
    """track_metadata as the client submitted it (mess included), and the Spotify track id it carries."""
    if track is None:
        artist, title, release = (
            f"{rng.choice(('DJ', 'MC', 'The'))} {rng.choice(('Nobody', 'Tapes', 'Basement'))}",
            f"{rng.choice(('untitled', 'demo', 'live'))} {rng.randint(1, 40)}",
            None,
        )
        duration: int | None = rng.randint(90, 400) * 1000
        artist_ids: list[str] = []
    else:
        artist = ", ".join(catalog.artists[a].name for a in track.artist_ids)
        title, release = track.name, catalog.albums[track.album_id].name
        duration = track.duration_ms
        artist_ids = list(track.artist_ids)
    info: dict[str, Any] = {}
    spotify_id: str | None = None
    r = rng.random()
    if client == "spotify" and track is not None:
        # listenbrainz.listens_importer.spotify: the track URL in both fields
        album = catalog.albums[track.album_id]
        url = _spotify_url("track", track.id)
        info = {
            "tracknumber": track.track_number,
            "spotify_artist_ids": [_spotify_url("artist", a) for a in artist_ids],
            "artist_names": [catalog.artists[a].name for a in artist_ids],
            "discnumber": track.disc_number,
            "duration_ms": duration,
            "spotify_album_id": _spotify_url("album", album.id),
            "release_artist_name": catalog.artists[album.artist_id].name,
            "release_artist_names": [catalog.artists[album.artist_id].name],
            "spotify_album_artist_ids": [_spotify_url("artist", album.artist_id)],
            "submission_client": "listenbrainz",
            "music_service": "spotify.com",
            "isrc": track.isrc,
            "spotify_id": url,
            "origin_url": url,
        }
        spotify_id = track.id
        if r < 0.02:
            info["spotify_id"] = None  # a null id; origin_url still names the track
    elif client == "web_scrobbler":
        info = {
            "submission_client": "Web Scrobbler",
            "submission_client_version": rng.choice(("3.8.0", "3.9.0", "3.10.1")),
            "duration_ms": duration,
        }
        if rng.random() < 0.55:
            info.update(music_service="spotify.com", music_service_name="Spotify")
            if track is None or r < 0.2:
                info["origin_url"] = "https://open.spotify.com/"  # the player page: no track in it
            elif r < 0.55:
                info["origin_url"] = _spotify_url("track", track.id) + "?si=" + "".join(rng.choices(_HEX, k=16))
                spotify_id = track.id
            elif r < 0.7:
                info["origin_url"] = f"https://open.spotify.com/intl-{rng.choice(_LANGS)}/track/{track.id}"
                spotify_id = track.id
            elif r < 0.75:
                info["origin_url"] = (
                    f"http://open.spotify.com/track/{track.id}?context=spotify%3Aalbum%3A{track.album_id}"
                )
                spotify_id = track.id
            elif r < 0.8:
                info["origin_url"] = _spotify_url("episode", track.id)  # a podcast: not a track
            else:
                info["origin_url"] = _spotify_url("track", track.id)
                spotify_id = track.id
        else:
            info.update(
                music_service="youtube.com",
                music_service_name="YouTube",
                origin_url="https://www.youtube.com/watch?v=" + "".join(rng.choices(_YT, k=11)),
            )
    elif client == "multi_scrobbler":
        info = {
            "submission_client": "multi-scrobbler",
            "submission_client_version": "0.9.2",
            "media_player": "Spotify",
            "music_service": "spotify.com",
            "duration": (duration or 0) // 1000,
        }
        if track is None or r < 0.08:
            info["spotify_id"] = f"spotify:local:{artist.replace(' ', '+')}::{title.replace(' ', '+')}:200"
        elif r < 0.12:
            info["spotify_id"] = 0  # wrong type: not an id
        else:
            info["spotify_id"] = f"spotify:track:{track.id}"
            spotify_id = track.id
    elif client == "pano_scrobbler":
        info = {
            "submission_client": "Pano Scrobbler",
            "submission_client_version": "3.6",
            "media_player": rng.choice(("com.spotify.music", "com.google.android.apps.youtube.music", "Poweramp")),
            "duration_ms": duration,
        }
    elif client == "navidrome":
        info = {
            "submission_client": "Navidrome",
            "submission_client_version": "0.53.3",
            "tracknumber": track.track_number if track else None,
            "duration_ms": duration,
            "artist_mbids": [_uuid("artist", artist)],
            "recording_mbid": _uuid("recording", artist, title),
        }
    elif client == "apple_music":
        info = {
            "music_service": "music.apple.com",
            "submission_client": "Web Scrobbler",
            "origin_url": f"https://music.apple.com/{rng.choice(('us', 'gb', 'de'))}/album/{rng.randint(10**8, 10**9)}",
        }
    else:  # lastfm_import and anything else: names only
        info = {"submission_client": "ListenBrainz Last.fm importer"} if r < 0.5 else {}
    # the mess every client adds now and then: nulls, wrong types, unknown keys
    if rng.random() < 0.03:
        info["isrc"] = None
    if rng.random() < 0.02 and "duration_ms" in info:
        info["duration_ms"] = str(info["duration_ms"])  # wrong type
    if rng.random() < 0.02:
        info["tracknumber"] = f"{rng.randint(1, 12)}/12"  # wrong type
    if rng.random() < 0.03:
        info["listening_from"] = rng.choice(("spotify", "iPhone", "desktop"))  # an unknown key
    if rng.random() < 0.01:
        info["spotify_id"] = ["not", "an", "id"] if spotify_id is None else info.get("spotify_id")
    metadata: dict[str, Any] = {"track_name": title, "artist_name": artist}
    if rng.random() < 0.04:
        metadata["release_name"] = None
    elif release is not None:
        metadata["release_name"] = release
    info = {k: info[k] for k in _jsonb_order(tuple(info))}
    # ListenBrainz's recording_msid: one id per distinct (artist, title, release) submitted
    info["recording_msid"] = _uuid("msid", artist, title, metadata.get("release_name"))
    metadata["additional_info"] = info
    return metadata, spotify_id


@lru_cache(maxsize=1024)
def _jsonb_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    """PostgreSQL's jsonb keeps object keys shortest first, then by bytes: the order the dump lines show."""
    return tuple(sorted(keys, key=lambda k: (len(k), k.encode())))


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _line(user_id: int, user_name: str, at: int, metadata: dict[str, Any]) -> bytes:
    # Listen.to_json() serialised by orjson: compact, UTF-8, these keys in this order
    msid = metadata["additional_info"]["recording_msid"]
    obj = {
        "user_id": user_id,
        "user_name": user_name,
        "timestamp": at,
        "track_metadata": metadata,
        "recording_msid": msid,
    }
    return _ENCODER.encode(obj).encode() + b"\n"


def _write_dump(
    folder: Path,
    dump_id: int,
    end: datetime,
    start: datetime | None,
    kind: str,
    rows: list[int],
    listens: list[Listen],
    lines: list[bytes],
    *,
    by_created: bool,
    rng: random.Random,
    duplicate_rate: float,
) -> DumpFile:
    name = dump_name(dump_id, end, kind)
    target = folder / mirror_dir_name(dump_id, end, kind) / f"{name}.tar.zst"
    months: dict[tuple[int, int], list[bytes]] = {}
    with_id = dups = 0
    for k in rows:
        listen = listens[k]
        moment = datetime.fromtimestamp(listen.created_us // 1_000_000 if by_created else listen.timestamp, tz=UTC)
        bucket = months.setdefault((moment.year, moment.month), [])
        copies = 2 if rng.random() < duplicate_rate else 1
        dups += copies - 1
        with_id += copies if listen.spotify_id else 0
        bucket.extend([lines[k]] * copies)
    metadata: dict[str, str] = {"SCHEMA_SEQUENCE": str(SCHEMA_SEQUENCE)}
    if start is None:
        metadata["TIMESTAMP"] = end.isoformat(" ")
    else:
        metadata["START_TIMESTAMP"] = start.isoformat(" ")
        metadata["END_TIMESTAMP"] = end.isoformat(" ")
    files = [(k, v.encode()) for k, v in metadata.items()]
    files.append(("COPYING", _COPYING))
    files.extend((f"listens/{y}/{m}.listens", b"".join(months[y, m])) for y, m in sorted(months))
    _write_tar_zst(target, name, files, int(end.timestamp()))
    return DumpFile(
        target,
        kind,
        dump_id,
        end,
        start,
        tuple(f"{y}/{m}" for y, m in sorted(months)),
        sum(len(v) for v in months.values()),
        with_id,
        dups,
    )


def _write_stand_ins(folder: Path, dump_id: int, end: datetime, kind: str) -> None:
    """The other archives published beside a listens dump, small and without listens: a downloader skips them.

    What ListenBrainz publishes (admin/create-dumps.sh's rsync include rules, dumps/manager.py): a `-db`
    folder has the public database dumps; a `-full` folder the listens dump, the spark dump (`.tar`) and
    the statistics dump; an `-incremental` folder the listens and spark dumps. Each archive has a `.md5`
    and a `.sha256` beside it; DUMP_ID.txt and .rsync-filter stay on ListenBrainz's side.
    """
    directory = folder / mirror_dir_name(dump_id, end, kind)
    stamp = f"{end:%Y%m%d-%H%M%S}"
    meta = [("SCHEMA_SEQUENCE", b"1"), ("TIMESTAMP", end.isoformat(" ").encode()), ("COPYING", _COPYING)]
    others = {
        "db": ["listenbrainz-public-dump", "listenbrainz-public-timescale-dump"],
        "full": ["listenbrainz-statistics-dump"],
    }
    for stem in others.get(kind, []):
        _write_tar_zst(directory / f"{stem}-{stamp}.tar.zst", f"{stem}-{stamp}", meta, int(end.timestamp()))
    if kind == "db":
        return
    spark = f"listenbrainz-spark-dump-{dump_id}-{stamp}-{kind}"
    buffer = io.BytesIO()
    _tar_into(buffer, spark, meta, int(end.timestamp()))
    _publish(directory / f"{spark}.tar", buffer.getvalue())


def _tar_into(out: Any, top: str, files: list[tuple[str, bytes]], mtime: int) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def _write_tar_zst(target: Path, top: str, files: list[tuple[str, bytes]], mtime: int) -> None:
    buffer = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(buffer, closefd=False) as writer:
        _tar_into(writer, top, files, mtime)
    _publish(target, buffer.getvalue())


def _publish(target: Path, data: bytes) -> None:
    """Write a file and its .md5 and .sha256 (the bare hex digest, as ListenBrainz's write_hashes does)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for path, content in (
        (target, data),
        (target.with_name(target.name + ".md5"), hashlib.md5(data).hexdigest().encode()),
        (target.with_name(target.name + ".sha256"), hashlib.sha256(data).hexdigest().encode()),
    ):
        part = path.with_name(path.name + ".part")
        part.write_bytes(content)
        os.replace(part, path)
