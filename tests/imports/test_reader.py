"""The upload reader's guards (members, zip-bomb ratio, nesting, size, not JSON) and fuzzed files: only ImportRejected escapes, and a refused upload writes nothing."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recs.config import ImportSettings, Settings
from recs.imports import ImportRejected, run_import
from recs.imports.reader import iter_items, open_upload, validate
from recs.storage import Database
from recs.storage.imports import list_imports
from recs.storage.schema import followed_artists, playlists, plays, saved_tracks, short_streams, tracks
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
