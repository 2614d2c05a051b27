"""The emulated ListenBrainz community: dumps in the real format, the real mess, ground truth, determinism, speed."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from recs.emulator.catalog import generate_catalog
from recs.emulator.listenbrainz import CommunityDumps, write_community_dumps
from recs.emulator.state import Emulator

ARCHIVE = re.compile(r"^listenbrainz-listens-dump-(\d+)-(\d{8}-\d{6})-(full|incremental)\.tar\.zst$")
MEMBER = re.compile(r"^listens/(\d{4})/([1-9]|1[0-2])\.listens$")
# an independent reading of "a Spotify track id in either field, URL or URI form"
TRACK_REF = re.compile(
    r"^(?:spotify:track:([0-9A-Za-z]{22})"
    r"|https?://open\.spotify\.com/(?:intl-[a-z]{2}/)?track/([0-9A-Za-z]{22})(?:[?#].*)?)$"
)


def spotify_id_of(line: dict[str, Any]) -> str | None:
    info = (line.get("track_metadata") or {}).get("additional_info") or {}
    for key in ("spotify_id", "origin_url"):
        value = info.get(key)
        if isinstance(value, str) and (m := TRACK_REF.match(value)):
            return m.group(1) or m.group(2)
    return None


def read_archive(path: Path) -> tuple[list[str], dict[str, bytes]]:
    """Member names in archive order and their contents, streamed as a reader of the real dumps would."""
    names: list[str] = []
    contents: dict[str, bytes] = {}
    with (
        path.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        for info in tar:
            names.append(info.name)
            handle = tar.extractfile(info)
            assert handle is not None
            contents[info.name] = handle.read()
    return names, contents


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> CommunityDumps:
    return write_community_dumps(tmp_path_factory.mktemp("lb"), seed=3, users=150, listens_per_user=80)


def test_archives_are_named_and_laid_out_like_the_mirror(dumps: CommunityDumps) -> None:
    assert dumps.full.kind == "full" and len(dumps.incrementals) == 7
    for dump in dumps.files:
        m = ARCHIVE.match(dump.name)
        assert m, dump.name
        assert int(m.group(1)) == dump.dump_id and m.group(2) == f"{dump.end:%Y%m%d-%H%M%S}"
        assert m.group(3) == dump.kind
        folder = dump.path.parent
        assert folder.name == f"listenbrainz-dump-{dump.dump_id}-{m.group(2)}-{dump.kind}"
        assert folder.parent == dumps.root / ("fullexport" if dump.kind == "full" else "incremental")
        data = dump.path.read_bytes()
        assert (folder / (dump.name + ".sha256")).read_text() == hashlib.sha256(data).hexdigest()
        assert (folder / (dump.name + ".md5")).read_text() == hashlib.md5(data).hexdigest()
        # beside it, the spark dump ListenBrainz publishes in the same folder (a downloader must skip it)
        assert any(p.name.startswith("listenbrainz-spark-dump-") for p in folder.iterdir())
    # dump ids follow the order the dumps were made: the full one right after incremental full_after
    ids = sorted(dumps.files, key=lambda d: d.dump_id)
    assert [d.kind for d in ids].index("full") == 3
    assert len({d.dump_id for d in dumps.files}) == len(dumps.files)
    assert any(p.name.endswith("-db") for p in (dumps.root / "fullexport").iterdir())


def test_archive_members_follow_listenbrainz_dump_code(dumps: CommunityDumps) -> None:
    cc0 = (Path(__file__).resolve().parents[2] / "recs/emulator/CC0-1.0.txt").read_text()
    assert "CC0 1.0 Universal" in cc0
    for dump in dumps.files:
        names, contents = read_archive(dump.path)
        top = dump.name.removesuffix(".tar.zst")
        assert all(n.startswith(top + "/") for n in names), "one top folder named after the archive"
        inner = [n.removeprefix(top + "/") for n in names]
        meta = ["TIMESTAMP"] if dump.kind == "full" else ["START_TIMESTAMP", "END_TIMESTAMP"]
        assert inner[: len(meta) + 2] == ["SCHEMA_SEQUENCE", *meta, "COPYING"]
        assert contents[f"{top}/SCHEMA_SEQUENCE"] == b"1"
        assert contents[f"{top}/COPYING"].decode() == cc0
        end = datetime.fromisoformat(contents[f"{top}/{meta[-1]}"].decode())
        assert end == dump.end and end.tzinfo is not None
        if dump.kind == "incremental":
            assert datetime.fromisoformat(contents[f"{top}/START_TIMESTAMP"].decode()) == dump.start
        listens = inner[len(meta) + 2 :]
        assert listens and all(MEMBER.match(n) for n in listens), listens
        assert tuple(n.removeprefix("listens/").removesuffix(".listens") for n in listens) == dump.members


def test_lines_have_the_listen_shape_and_the_counts_match_ground_truth(dumps: CommunityDumps) -> None:
    truth = {(x.user_id, x.timestamp, x.track_id): x for x in dumps.listens}
    for dump in dumps.files:
        _, contents = read_archive(dump.path)
        lines = with_id = 0
        keys: Counter[bytes] = Counter()
        for name, data in contents.items():
            if "/listens/" not in name:
                continue
            member = MEMBER.match(name.split("/", 1)[1])
            assert member
            year, month = int(member.group(1)), int(member.group(2))
            for raw in data.splitlines():
                lines += 1
                keys[raw] += 1
                line = json.loads(raw)
                assert list(line) == ["user_id", "user_name", "timestamp", "track_metadata", "recording_msid"]
                assert isinstance(line["user_id"], int) and isinstance(line["timestamp"], int)
                info = line["track_metadata"]["additional_info"]
                assert info["recording_msid"] == line["recording_msid"]
                found = spotify_id_of(line)
                with_id += found is not None
                # which month file: listened_at for a full dump, submission time for an incremental
                listened = datetime.fromtimestamp(line["timestamp"], tz=UTC)
                if dump.kind == "full":
                    assert (listened.year, listened.month) == (year, month)
        assert lines == dump.lines and with_id == dump.lines_with_spotify_id
        assert sum(n - 1 for n in keys.values()) == dump.duplicate_lines
    # the ground truth's spotify_id is what an independent reading of the line finds
    assert sum(1 for x in dumps.listens if x.spotify_id) > 0
    assert all(x.spotify_id is None or x.track_id == x.spotify_id for x in truth.values())


def test_the_real_mess_is_there(dumps: CommunityDumps) -> None:
    text = b"".join(
        data for dump in dumps.files for name, data in read_archive(dump.path)[1].items() if "/listens/" in name
    ).decode()
    for needle in (
        '"spotify_id":"https://open.spotify.com/track/',  # URL form (LB Spotify importer)
        '"spotify_id":"spotify:track:',  # URI form
        '"spotify_id":"spotify:local:',  # a local file: no track id
        "/track/",
        "?si=",  # query string
        "open.spotify.com/intl-",  # localised URL
        "open.spotify.com/episode/",  # a podcast, not a track
        '"origin_url":"https://open.spotify.com/"',  # the player page, no id
        '"spotify_id":null',
        '"release_name":null',
        '"isrc":null',
        '"spotify_id":0',  # wrong type
        '"duration_ms":"',  # wrong type
        '"listening_from":',  # unknown key
        "youtube.com/watch?v=",
        "music.apple.com",
        "Navidrome",
    ):
        assert needle in text, needle
    lines = [json.loads(raw) for raw in text.splitlines()]
    share = sum(spotify_id_of(line) is not None for line in lines) / len(lines)
    assert 0.15 < share < 0.45, share  # recent real dumps: 19-25 %; the emulator gives a prior a bit more


def test_incrementals_select_by_submission_and_hold_old_listens(dumps: CommunityDumps) -> None:
    old = 0
    for dump in dumps.incrementals:
        assert dump.start is not None
        for name, data in read_archive(dump.path)[1].items():
            if "/listens/" not in name:
                continue
            for raw in data.splitlines():
                ts = json.loads(raw)["timestamp"]
                old += ts < dump.start.timestamp() - 30 * 86_400
    assert old > 0, "an import submits months-old listens: windows go by timestamp, not by file"
    # incrementals up to the one the full dump followed overlap it; later ones do not
    full = {(x.user_id, x.timestamp, x.track_id) for x in dumps.listens if x.created_us <= _us(dumps.full.end)}
    for dump in dumps.incrementals:
        assert dump.start is not None
        inside = [x for x in dumps.listens if _us(dump.start) < x.created_us <= _us(dump.end)]
        assert inside and len(inside) + dump.duplicate_lines == dump.lines
        overlap = sum((x.user_id, x.timestamp, x.track_id) in full for x in inside)
        assert overlap == (len(inside) if dump.end <= dumps.full.end else 0)


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def test_listeners_taste_comes_from_clusters_the_household_shares(dumps: CommunityDumps) -> None:
    household = Emulator(3, 5).household
    for user_id, cluster in dumps.member_clusters.items():
        assert set(dumps.clusters[cluster]) == set(household.members[user_id].genres)
    assert len(dumps.clusters) >= 10 and len(set(dumps.clusters)) == len(dumps.clusters)
    assert {u.cluster for u in dumps.users} >= set(dumps.member_clusters.values())
    catalog = generate_catalog(3)
    by_user: dict[int, list[str]] = {}
    for x in dumps.listens:
        if x.track_id:
            by_user.setdefault(x.user_id, []).append(catalog.primary_artist(x.track_id).genre)
    inside = total = 0
    for user in dumps.users:
        genres = by_user.get(user.user_id, [])
        inside += sum(g in user.genres for g in genres)
        total += len(genres)
    assert inside / total > 0.97  # every listen comes from the cluster's genres (exploring stays inside them)
    assert len({u.user_id for u in dumps.users}) == len(dumps.users)
    assert sum(u.imported_history for u in dumps.users) > 0


def test_same_arguments_same_bytes_other_seed_other_dump(tmp_path: Path) -> None:
    a = write_community_dumps(tmp_path / "a", seed=1, users=30, listens_per_user=40)
    b = write_community_dumps(tmp_path / "b", seed=1, users=30, listens_per_user=40)
    c = write_community_dumps(tmp_path / "c", seed=2, users=30, listens_per_user=40)

    def digests(d: CommunityDumps) -> list[str]:
        return [hashlib.sha256(f.path.read_bytes()).hexdigest() for f in d.files]

    assert digests(a) == digests(b)
    assert set(digests(a)).isdisjoint(digests(c))


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full_after"):
        write_community_dumps(tmp_path, incremental_days=3, full_after=3)
    with pytest.raises(ValueError, match="naive"):
        write_community_dumps(tmp_path, end=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="at least 1"):
        write_community_dumps(tmp_path, users=0)


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
def test_the_default_community_is_written_in_seconds(tmp_path: Path) -> None:
    started = time.perf_counter()
    dumps = write_community_dumps(tmp_path)
    elapsed = time.perf_counter() - started
    assert sum(d.lines for d in dumps.files) > 40_000
    assert elapsed < 20, f"{elapsed:.1f} s"  # ~1.3 s on an idle 2-core machine
