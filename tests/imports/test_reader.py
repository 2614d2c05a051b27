"""The upload reader's guards (members, zip-bomb ratio, nesting, size, not JSON) and fuzzed files: only ImportRejected escapes, and a refused upload writes nothing."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recs.core.config import ImportSettings, Settings
from recs.storage import Database
from recs.storage.imports import list_imports
from recs.storage.members import create_member, set_consent
from recs.storage.schema import followed_artists, playlists, plays, saved_tracks, short_streams, tracks
from recs.usecases.imports import ImportRejected, run_import
from recs.usecases.imports.reader import iter_items, open_upload, validate
from tests.imports.conftest import ext_row

LIMITS = ImportSettings()


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _history(n: int = 3) -> bytes:
    return json.dumps([ext_row(ts=f"2024-03-01T12:{i:02d}:42Z") for i in range(n)]).encode()


def test_zip_folder_and_file_are_classified(tmp_path: Path, write_json: Callable[[str, Any], Path]) -> None:
    archive = _zip(
        tmp_path / "my_spotify_data.zip",
        {
            "Spotify Extended Streaming History/Streaming_History_Audio_2024.json": _history(),
            "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF-1.4",
            "MyData/Userdata.json": b'{"username": null}',
            "MyData/endsong_0.json": _history(2),
        },
    )
    renamed = write_json("history-from-my-old-laptop.json", [ext_row()])
    with open_upload([archive, renamed], LIMITS) as upload:
        kinds = sorted((e.name.rsplit("/", 1)[-1], e.kind) for e in upload.entries)
        assert kinds == [
            ("Streaming_History_Audio_2024.json", "extended"),
            ("endsong_0.json", "extended"),
            ("history-from-my-old-laptop.json", "extended"),
        ]
        assert len(upload.ignored) == 2
        assert sum(validate(e) for e in upload.entries) == 6
        first = next(e for e in upload.entries if e.name.endswith("2024.json"))
        assert [r["ts"] for r in iter_items(first, "item")][:2] == ["2024-03-01T12:00:42Z", "2024-03-01T12:01:42Z"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _zip(p / "a.zip", {f"f{i}.json": b"[]" for i in range(5)}), "more than the 4 allowed"),
        (lambda p: _zip(p / "a.zip", {"Streaming_History_Audio_2024.json": b"[" + b" " * 400_000 + b"]"}), "zip-bomb"),
        (lambda p: _zip(p / "a.zip", {"inner.zip": b"PK"}), "nested archives"),
        (lambda p: _zip(p / "a.zip", {"Streaming_History_Audio_2024.json": b"[{]"}), "not valid JSON"),
        (lambda p: _zip(p / "a.zip", {"Streaming_History_Audio_2024.json": b'{"a": 1}'}), "expected an array"),
        (lambda p: _zip(p / "a.zip", {"YourLibrary.json": b"[]"}), "expected an object"),
        (lambda p: (p / "big.json").write_bytes(b"[" + b" " * (1024 * 1024 + 10) + b"]") and p / "big.json", "MB cap"),
        (lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt", "not a JSON file"),
        (lambda p: (p / "bad.json").write_bytes(b'[{"ts": "\xff\xfe"}]') and p / "bad.json", "not valid JSON"),
        (lambda p: p / "missing.json", "no such file"),
        (lambda p: _zip(p / "a.zip", {"Userdata.json": b"{}"}), "no streaming history"),
    ],
)
def test_guards_refuse_with_a_reason(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    limits = ImportSettings(max_file_mb=1, max_archive_members=4, max_compression_ratio=100)
    path = make(tmp_path)
    with pytest.raises(ImportRejected, match=message), open_upload([path], limits) as upload:
        for entry in upload.entries:
            validate(entry)


def test_a_member_that_lies_about_its_size_is_cut_off(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"Streaming_History_Audio_2024.json": _history(50)}, zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    # Shrink the declared size in the central directory: the reader must not trust it.
    with zipfile.ZipFile(archive) as zf:
        info = zf.infolist()[0]
    declared = info.file_size.to_bytes(4, "little")
    index = raw.rfind(declared)
    raw[index : index + 4] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with pytest.raises(ImportRejected), open_upload([archive], LIMITS) as upload:
        for entry in upload.entries:
            validate(entry)


def _stored_rows(db: Database) -> dict[str, int]:
    with db.read() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (plays, short_streams, tracks, saved_tracks, followed_artists, playlists)
        }


NAMES = ["Streaming_History_Audio_2024_1.json", "StreamingHistory_music_0.json", "YourLibrary.json", "Playlist1.json"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    name=st.sampled_from(NAMES),
    content=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda b: _history(2)[: len(b) % 200] + b, st.binary(max_size=20)),
        st.sampled_from(
            [b"[NaN]", b'[{"ts": 1e999}]', b"[" * 5000, b'{"tracks": [1, 2', b"\xef\xbb\xbf[]", b'[{"a": "\xc3\x28"}]']
        ),
    ),
    zipped=st.booleans(),
)
def test_fuzzed_files_are_refused_cleanly_and_write_nothing(
    db: Database,
    member_id: int,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    content: bytes,
    zipped: bool,
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "Streaming_History_Audio_2023_0.json"
    good.write_bytes(_history(3))
    path = folder / name
    if zipped:
        path = _zip(folder / "upload.zip", {name: content})
    else:
        path.write_bytes(content)
    before = _stored_rows(db)
    try:
        run_import(db, settings, member_id, [good, path])
    except ImportRejected:
        # The good file came first and was still not written: the upload is checked whole before any write.
        assert _stored_rows(db) == before
        with db.read() as conn:
            assert list_imports(conn, member_id, limit=1)[0].status == "rejected"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "endsong_0.json"
    path.write_bytes(b"\xef\xbb\xbf" + _history(2))
    with open_upload([path], LIMITS) as upload:
        (entry,) = upload.entries
        assert validate(entry) == 2
        assert len(list(iter_items(entry, "item"))) == 2


def _nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    ("name", "content"),
    [
        # 5,000 levels here (about 70 MB without the guard); 100,000 only in capped processes (test_web_serve, below).
        ("Streaming_History_Audio_2024.json", _nested(5_000)),
        ("StreamingHistory_music_0.json", _nested(33)),
        ("YourLibrary.json", b'{"tracks": ' + _nested(32) + b"}"),
        ("Playlist1.json", b'{"playlists": [{"items": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}]}"),
        ("renamed.json", _nested(5_000)),  # an unfamiliar name is sniffed: the sniffing reads guarded too
        ("Streaming_History_Audio_2024.json", b"[" * 5_000),  # never closed
    ],
)
def test_nesting_deeper_than_any_export_is_refused(tmp_path: Path, name: str, content: bytes) -> None:
    for path in (
        tmp_path / name,
        _zip(tmp_path / "export.zip", {f"Spotify Extended Streaming History/{name}": content}, zipfile.ZIP_STORED),
    ):
        if path.suffix == ".json":
            path.write_bytes(content)
        with (
            pytest.raises(
                ImportRejected,
                match=rf"{re.escape(name)} is not a file of a Spotify data export: its data is nested more than 32 levels",
            ),
            open_upload([path], LIMITS) as upload,
        ):
            for entry in upload.entries:
                validate(entry)


def test_depth_up_to_the_bound_and_real_shapes_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_bytes(_nested(32))
    with open_upload([path], LIMITS) as upload:
        assert validate(upload.entries[0]) == 1
    playlist = {"playlists": [{"name": "p", "items": [{"track": {"trackName": "t", "artistName": "a"}}] * 3}]}
    library = {"tracks": [{"track": "t", "uri": "spotify:track:" + "A" * 22}] * 4, "artists": [{"name": "a"}] * 2}
    (tmp_path / "Playlist1.json").write_text(json.dumps(playlist))
    (tmp_path / "YourLibrary.json").write_text(json.dumps(library))
    with open_upload([tmp_path / "Playlist1.json", tmp_path / "YourLibrary.json"], LIMITS) as upload:
        assert [validate(e) for e in upload.entries] == [1, 6]


def test_a_giant_field_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_bytes(b'[{"' + b"k" * 5000 + b'": 1}]')
    with pytest.raises(ImportRejected, match="field name of 5000 characters"), open_upload([path], LIMITS) as upload:
        validate(upload.entries[0])


def test_refusing_deep_nesting_takes_no_memory(tmp_path: Path) -> None:
    # 8,000 levels cost ijson's prefixes 150 MB before the guard; the refusal must cost about one read buffer.
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_bytes(_nested(8_000))
    tracemalloc.start()
    try:
        with pytest.raises(ImportRejected, match="nested more than"), open_upload([path], LIMITS) as upload:
            validate(upload.entries[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MB"


@pytest.mark.slow
def test_recs_import_refuses_a_deep_file_with_bounded_memory(tmp_path: Path) -> None:
    """The CLI path, in a real process under an address-space cap: its peak memory is that of a small valid import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    env["RECS_INSTANCE__DATA_DIR"] = str(tmp_path / "data")
    recs = str(Path(sys.executable).with_name("recs"))
    subprocess.run([recs, "init"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    db = Database(f"sqlite:///{tmp_path / 'data' / 'recs.sqlite3'}")
    with db.write() as conn:
        member = create_member(conn, "dee", "Dee", now=datetime(2026, 1, 1, tzinfo=UTC))
        set_consent(conn, member.id, "store", True)
    db.dispose()
    small = tmp_path / "small" / "Streaming_History_Audio_2023.json"
    small.parent.mkdir()
    small.write_bytes(_history(3))
    deep = tmp_path / "deep" / "Streaming_History_Audio_2024.json"
    deep.parent.mkdir()
    deep.write_bytes(_nested(100_000))

    def run(path: Path) -> tuple[int, str, float]:
        cap = 3 * 1024**3

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

        with subprocess.Popen(
            [recs, "import", str(path), "--member", str(member.id)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=limit,
        ) as process:
            assert process.stdout is not None
            output = process.stdout.read().decode()
            # wait4 gives this child's own peak resident set (ru_maxrss, kB).
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        return process.returncode, output, usage.ru_maxrss / 1024

    code, output, small_mb = run(small)
    assert code == 0, output
    code, output, deep_mb = run(deep)
    assert code == 1, output
    assert "Streaming_History_Audio_2024.json is not a file of a Spotify data export" in output, output
    assert deep_mb - small_mb < 50, f"peak {deep_mb:.0f} MB against {small_mb:.0f} MB for a small import"
    with db.read() as conn:
        record = list_imports(conn, member.id, limit=1)[0]
    db.dispose()
    # The record (what the dashboard shows) names the file without the folders above it.
    assert record.status == "rejected" and record.error is not None
    assert record.error.startswith("Streaming_History_Audio_2024.json is not") and str(tmp_path) not in record.error


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("Streaming_History_Audio_2024.json", b'[{"ts": "2024-01-01T00:00:00Z", "x": [' + b"1," * 5000 + b"1]}]"),
        ("YourLibrary.json", b'{"tracks": [{"artist": "a"}, ' + b'{"a": [' + b"1," * 5000 + b"1]}]}"),
    ],
)
def test_an_item_too_large_to_build_is_refused(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    limit = "one of its items holds more than 2,000 values"
    with pytest.raises(ImportRejected, match=limit), open_upload([path], LIMITS) as upload:
        validate(upload.entries[0])


def test_large_parts_outside_the_items_are_not_counted_against_an_item(tmp_path: Path) -> None:
    # YourLibrary.json has more lists than recs imports (albums, shows, …): their size is no item's.
    path = tmp_path / "YourLibrary.json"
    library = {"tracks": [{"track": "t"}], "albums": [{"album": str(i)} for i in range(3000)], "artists": []}
    path.write_text(json.dumps(library))
    with open_upload([path], LIMITS) as upload:
        assert validate(upload.entries[0]) == 1
