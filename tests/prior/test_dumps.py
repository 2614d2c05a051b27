"""Reading dumps: the real archive layout, folders and .listens files in any mix, and damage reported, not raised."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from recs.usecases.prior.dumps import Problem, discover, read_chunks
from tests.prior.dumpfiles import listen, write_dump

A = "4uLU6hMCjMI75M1A2tKUQC"
TS = 1_767_225_600


def _lines(n: int, user: int = 1) -> list[bytes]:
    return [listen(user, TS + i, spotify_id=A, track_name=f"song {i}") for i in range(n)]


def _read_all(paths: list[Path], chunk_bytes: int = 1 << 20) -> tuple[bytes, list[Problem], list[dict[str, object]]]:
    sources, problems = discover(paths)
    data = b"".join(c for s in sources for c in read_chunks(s, problems, chunk_bytes=chunk_bytes))
    return data, problems, [s.manifest() for s in sources]


def test_an_archive_in_the_real_layout_yields_every_line_and_its_metadata(tmp_path: Path) -> None:
    jan, feb = _lines(30, 1), _lines(20, 2)
    dump = write_dump(tmp_path, {(2026, 1): jan, (2026, 2): feb}, full=False)
    sources, problems = discover([dump])
    chunks = list(read_chunks(sources[0], problems, chunk_bytes=1000))
    assert problems == []
    assert all(c.endswith(b"\n") for c in chunks) and len(chunks) > 5  # small chunks still end on whole lines
    assert b"".join(chunks).splitlines() == jan + feb
    entry = sources[0].manifest()
    assert entry["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert entry["bytes"] == dump.stat().st_size and entry["kind"] == "tar.zst"
    assert entry["metadata"] == {
        "SCHEMA_SEQUENCE": "1",
        "START_TIMESTAMP": "2026-11-30 00:00:00+00:00",
        "END_TIMESTAMP": "2026-12-01 00:00:00+00:00",
    }


def test_folders_archives_and_listens_files_mix(tmp_path: Path) -> None:
    archive = write_dump(tmp_path, {(2026, 3): _lines(3, 1)})
    folder = tmp_path / "extracted" / "listens" / "2026"
    folder.mkdir(parents=True)
    (folder / "4.listens").write_bytes(b"\n".join(_lines(4, 2)) + b"\n")
    (folder / "README").write_text("not read")
    single = tmp_path / "x.listens"
    single.write_bytes(b"\n".join(_lines(2, 3)))  # no final newline
    data, problems, sources = _read_all([archive, tmp_path / "extracted", single])
    assert problems == []
    assert data.count(b'"user_id":1,') == 3 and data.count(b'"user_id":2,') == 4 and data.count(b'"user_id":3,') == 2
    assert [s["name"] for s in sources] == [archive.name, "extracted/listens/2026/4.listens", "x.listens"]


def test_a_truncated_archive_keeps_what_was_read_and_says_so(tmp_path: Path) -> None:
    lines = [listen(1, TS + i, spotify_id=A, track_name=os.urandom(40).hex()) for i in range(3000)]
    dump = write_dump(tmp_path, {(2026, 1): lines})
    whole = dump.read_bytes()
    dump.write_bytes(whole[: len(whole) // 2])
    data, problems, _ = _read_all([dump], chunk_bytes=4096)
    got = data.splitlines()
    assert 0 < len(got) < len(lines) and got == lines[: len(got)]  # whole lines only, in order
    assert [p.kind for p in problems if p.kind == "truncated"] == ["truncated"]
    assert all(dump.name in p.source for p in problems)


def test_garbage_that_is_not_zstd_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "listenbrainz-listens-dump-9-20261201-000000-full.tar.zst"
    bad.write_bytes(b"this is not zstd at all" * 10)
    data, problems, _ = _read_all([bad])
    assert data == b"" and [p.kind for p in problems] == ["truncated"]


def test_foreign_members_are_reported_and_skipped(tmp_path: Path) -> None:
    dump = write_dump(
        tmp_path,
        {(2026, 1): _lines(2)},
        extra_members={"listens/2026/notes.txt": b"spotify hello", "index.json": b"{}", "listens/20x6/1.listens": b""},
    )
    data, problems, _ = _read_all([dump])
    assert len(data.splitlines()) == 2
    assert sorted(p.detail.split("/")[-1] for p in problems if p.kind == "foreign_member") == [
        "1.listens is not a listens file",
        "index.json is not a listens file",
        "notes.txt is not a listens file",
    ]


def test_missing_and_unreadable_inputs_are_reported(tmp_path: Path) -> None:
    vanishing = tmp_path / "gone.listens"
    vanishing.write_bytes(listen(1, TS, spotify_id=A) + b"\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "dangling.listens").symlink_to(tmp_path / "nowhere")
    sources, problems = discover([tmp_path / "nope.tar.zst", empty, tmp_path / "dangling.listens", vanishing])
    vanishing.unlink()  # deleted between discovery and reading
    data = b"".join(c for s in sources for c in read_chunks(s, problems))
    assert data == b""
    assert [p.kind for p in problems] == ["unreadable"] * 4
    assert [p.source for p in problems] == [
        str(tmp_path / "nope.tar.zst"),
        str(empty),
        str(tmp_path / "dangling.listens"),
        "gone.listens",
    ]


def test_a_line_longer_than_the_limit_is_skipped_not_held(tmp_path: Path) -> None:
    path = tmp_path / "long.listens"
    good = listen(1, TS, spotify_id=A)
    path.write_bytes(good + b"\n" + b"x" * (5 << 20) + b"\n" + good + b"\n")
    data, problems, _ = _read_all([path], chunk_bytes=1 << 20)
    assert data.splitlines() == [good, good]
    assert [p.kind for p in problems] == ["long_line"]


def test_an_unknown_schema_sequence_is_reported_and_read_anyway(tmp_path: Path) -> None:
    dump = write_dump(tmp_path, {(2026, 1): _lines(2)}, schema_sequence=b"2\n")
    data, problems, sources = _read_all([dump])
    assert len(data.splitlines()) == 2
    assert [(p.kind, p.source) for p in problems] == [("unknown_schema", dump.name)]
    assert sources[0]["metadata"] == {"SCHEMA_SEQUENCE": "2", "TIMESTAMP": "2026-12-01 00:00:00+00:00"}


def test_a_split_listens_file_is_read_once_whatever_the_split(tmp_path: Path) -> None:
    from recs.usecases.prior.dumps import discover, plan_units, range_chunks

    lines = [b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 37)) for i in range(500)]
    path = tmp_path / "a.listens"
    path.write_bytes(b"".join(lines))
    sources, _ = discover([path])
    for split in (1, 7, 64, 1000, 10**6):
        units = plan_units(sources, split)
        got = b"".join(b"".join(range_chunks(u[1], u[4], u[5] if u[5] >= 0 else sources[0].size)) for u in units)
        assert got == b"".join(lines), split
