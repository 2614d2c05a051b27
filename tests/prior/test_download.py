"""`recs prior download` against the emulator's ListenBrainz mirror over real HTTP: ranges, resume, checksums, faults."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from recs.emulator import EmulatorServer
from recs.emulator.listenbrainz import CommunityDumps, write_community_dumps
from recs.emulator.state import DEFAULT_START
from recs.usecases.prior.download import DownloadError, download, list_dumps

NOW = DEFAULT_START


def no_sleep(_: float) -> None:
    pass


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory) -> CommunityDumps:
    return write_community_dumps(tmp_path_factory.mktemp("mirror"), seed=5, users=60, listens_per_user=60)


@pytest.fixture
def mirror(community: CommunityDumps, tmp_path: Path) -> Iterator[tuple[EmulatorServer, Path]]:
    """A private copy of the mirror tree (tests may damage it) served by the emulator."""
    root = tmp_path / "mirror"
    shutil.copytree(community.root, root)
    with EmulatorServer(seed=5, listenbrainz_dir=root) as server:
        yield server, root


def file_requests(server: EmulatorServer, suffix: str) -> list[dict[str, object]]:
    return [r for r in server.control.requests() if str(r["path"]).endswith(suffix)]


def test_the_last_days_incrementals_arrive_whole_and_verified(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    server, _ = mirror
    got = download(server.listenbrainz_mirror_url, tmp_path / "dl", days=3, now=NOW, sleep=no_sleep)
    expected = [d for d in community.incrementals if d.end > NOW - timedelta(days=3)]
    assert len(expected) == 3
    assert [g.path.name for g in got] == [d.name for d in expected]
    for g, d in zip(got, expected, strict=True):
        assert g.path.read_bytes() == d.path.read_bytes()
        assert not g.already_there and g.resumed_from == 0
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(d.name for d in expected)
    # the spark dumps and checksum files beside them are not fetched as dumps
    assert not file_requests(server, ".tar")
    # a second run finds them verified and fetches no archive again
    server.control.clear_requests()
    again = download(server.listenbrainz_mirror_url, tmp_path / "dl", days=3, now=NOW, sleep=no_sleep)
    assert all(g.already_there for g in again)
    assert not file_requests(server, ".tar.zst")


def test_a_named_full_dump(community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path) -> None:
    server, _ = mirror
    listed = list_dumps(requests.Session(), server.listenbrainz_mirror_url, "full")
    assert [d.archive for d in listed] == [community.full.name]  # the -db folder is not a listens dump
    for which in ("latest", str(community.full.dump_id), community.full.name):
        (got,) = download(server.listenbrainz_mirror_url, tmp_path / which, full=which, sleep=no_sleep)
        assert got.path.read_bytes() == community.full.path.read_bytes()
    with pytest.raises(DownloadError, match=r"no full dump '1' on the mirror"):
        download(server.listenbrainz_mirror_url, tmp_path / "x", full="1", sleep=no_sleep)


def test_a_dropped_connection_is_resumed_with_a_range_request(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    server, _ = mirror
    server.control.add_fault("GET", "*-full.tar.zst", drop=True, times=1)
    (got,) = download(server.listenbrainz_mirror_url, tmp_path, full="latest", sleep=no_sleep, block_size=1024)
    assert got.path.read_bytes() == community.full.path.read_bytes()
    fetched = file_requests(server, "-full.tar.zst")
    assert [r["status"] for r in fetched] == [200, 206]
    half = community.full.path.stat().st_size // 2
    resumed = int(str(fetched[1]["range"]).removeprefix("bytes=").removesuffix("-"))
    assert half - 1024 < resumed <= half  # where the drop cut it (less what was in flight), not from zero
    assert not list(tmp_path.glob("*.part"))


def test_an_interrupted_run_leaves_only_a_part_file_and_the_next_run_resumes_it(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    server, _ = mirror
    server.control.add_fault("GET", "*-full.tar.zst", drop=True, times=1)
    with pytest.raises(DownloadError, match=r"interrupted at .* run again to resume"):
        download(server.listenbrainz_mirror_url, tmp_path, full="latest", retries=0, sleep=no_sleep, block_size=1024)
    name = community.full.name
    assert not (tmp_path / name).exists(), "never a half file under the final name"
    part = tmp_path / (name + ".part")
    assert 0 < part.stat().st_size < community.full.path.stat().st_size
    assert part.read_bytes() == community.full.path.read_bytes()[: part.stat().st_size]
    (got,) = download(server.listenbrainz_mirror_url, tmp_path, full="latest", sleep=no_sleep)
    assert got.resumed_from > 0 and got.path.read_bytes() == community.full.path.read_bytes()
    assert not part.exists()
    assert file_requests(server, "-full.tar.zst")[-1]["range"] == f"bytes={got.resumed_from}-"


def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    server, root = mirror
    (sha,) = root.glob(f"fullexport/*/{community.full.name}.sha256")
    sha.write_text(hashlib.sha256(b"another file").hexdigest())
    with pytest.raises(DownloadError, match=r"sha256 mismatch \(published [0-9a-f]{64}, downloaded [0-9a-f]{64}\)"):
        download(server.listenbrainz_mirror_url, tmp_path / "dl", full="latest", sleep=no_sleep)
    assert list((tmp_path / "dl").iterdir()) == []


def test_md5_when_no_sha256_and_refusal_when_no_checksum(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    server, root = mirror
    (sha,) = root.glob(f"fullexport/*/{community.full.name}.sha256")
    sha.unlink()
    (got,) = download(server.listenbrainz_mirror_url, tmp_path / "a", full="latest", sleep=no_sleep)
    assert got.path.read_bytes() == community.full.path.read_bytes()
    (md5,) = root.glob(f"fullexport/*/{community.full.name}.md5")
    md5.write_text("not a checksum\n")
    with pytest.raises(DownloadError, match=r"\.md5: not a md5 checksum file"):
        download(server.listenbrainz_mirror_url, tmp_path / "b", full="latest", sleep=no_sleep)
    md5.unlink()
    with pytest.raises(DownloadError, match=r"publishes no \.sha256 or \.md5 for it; refusing to trust it"):
        download(server.listenbrainz_mirror_url, tmp_path / "c", full="latest", sleep=no_sleep)


def test_mirror_errors_and_empty_windows_are_one_line_errors(
    mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    server, _ = mirror
    server.control.add_fault("GET", "/pub/musicbrainz/listenbrainz/incremental/", status=503, times=1)
    with pytest.raises(DownloadError, match=r"incremental/: HTTP 503"):
        download(server.listenbrainz_mirror_url, tmp_path, now=NOW, sleep=no_sleep)
    with pytest.raises(DownloadError, match=r"no incremental dump in the last 7 days \(newest listed: 2026-11-01"):
        download(server.listenbrainz_mirror_url, tmp_path, now=NOW + timedelta(days=30), sleep=no_sleep)


def test_the_mirror_answers_ranges_like_a_web_server(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path]
) -> None:
    server, _ = mirror
    data = community.full.path.read_bytes()
    folder = community.full.path.parent.name
    url = f"{server.listenbrainz_mirror_url}fullexport/{folder}/{community.full.name}"
    with requests.Session() as http:
        whole = http.get(url, timeout=10)
        assert whole.status_code == 200 and whole.content == data and whole.headers["Accept-Ranges"] == "bytes"
        tail = http.get(url, headers={"Range": "bytes=10-"}, timeout=10)
        assert tail.status_code == 206 and tail.content == data[10:]
        assert tail.headers["Content-Range"] == f"bytes 10-{len(data) - 1}/{len(data)}"
        past = http.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=10)
        assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
        moved = http.get(url.rsplit("/", 1)[0], allow_redirects=False, timeout=10)
        assert moved.status_code == 301 and moved.headers["Location"].endswith(folder + "/")
        assert http.get(server.listenbrainz_mirror_url + "../../etc/passwd", timeout=10).status_code == 404


def test_the_command_fetches_into_the_download_folder_and_says_what_it_did(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from recs.cli.main import main

    server, _ = mirror
    env = {
        "RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"),
        "RECS_PRIOR__MIRROR_URL": server.listenbrainz_mirror_url,
    }
    result = CliRunner().invoke(main, ["prior", "download", "--full", "latest"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    fetched = tmp_path / "data" / "listenbrainz" / community.full.name
    assert fetched.read_bytes() == community.full.path.read_bytes()
    assert f"{fetched} (" in result.output and "verified" in result.output
    failed = CliRunner().invoke(main, ["prior", "download", "--full", "999"], env=env)
    assert failed.exit_code == 1 and "Error: no full dump '999' on the mirror" in failed.output


def _listed(url: str) -> list[str]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, url
    return sorted(h for h in re.findall(r'href="([^"?]+)"', response.text) if h != "../")


def test_the_mirror_lays_out_what_listenbrainz_publishes(
    community: CommunityDumps, mirror: tuple[EmulatorServer, Path]
) -> None:
    """The names of admin/create-dumps.sh's rsync include rules, each archive with a bare-hex .md5 and .sha256."""
    server, _ = mirror
    base = server.listenbrainz_mirror_url
    assert _listed(base) == ["fullexport/", "incremental/"]
    full = community.full
    stamp = f"{full.end:%Y%m%d-%H%M%S}"
    folders = _listed(base + "fullexport/")
    assert f"listenbrainz-dump-{full.dump_id}-{stamp}-full/" in folders
    (db,) = [f for f in folders if f.endswith("-db/")]
    db_stamp = "-".join(db.rstrip("/").split("-")[3:5])
    archives = [
        f"listenbrainz-listens-dump-{full.dump_id}-{stamp}-full.tar.zst",
        f"listenbrainz-spark-dump-{full.dump_id}-{stamp}-full.tar",
        f"listenbrainz-statistics-dump-{stamp}.tar.zst",
    ]
    with_sums = sorted(a + ext for a in archives for ext in ("", ".md5", ".sha256"))
    assert _listed(f"{base}fullexport/listenbrainz-dump-{full.dump_id}-{stamp}-full/") == with_sums
    db_archives = [
        f"listenbrainz-public-dump-{db_stamp}.tar.zst",
        f"listenbrainz-public-timescale-dump-{db_stamp}.tar.zst",
    ]
    assert _listed(f"{base}fullexport/{db}") == sorted(a + e for a in db_archives for e in ("", ".md5", ".sha256"))
    inc = community.incrementals[-1]
    inc_stamp = f"{inc.end:%Y%m%d-%H%M%S}"
    assert _listed(f"{base}incremental/listenbrainz-dump-{inc.dump_id}-{inc_stamp}-incremental/") == sorted(
        a + e
        for a in (
            f"listenbrainz-listens-dump-{inc.dump_id}-{inc_stamp}-incremental.tar.zst",
            f"listenbrainz-spark-dump-{inc.dump_id}-{inc_stamp}-incremental.tar",
        )
        for e in ("", ".md5", ".sha256")
    )
    # write_hashes writes the bare digest: no file name, no newline
    url = f"{base}fullexport/listenbrainz-dump-{full.dump_id}-{stamp}-full/{archives[0]}"
    assert requests.get(url + ".sha256", timeout=10).text == hashlib.sha256(full.path.read_bytes()).hexdigest()
    assert requests.get(url + ".md5", timeout=10).text == hashlib.md5(full.path.read_bytes()).hexdigest()
