"""The prior artifact: round trip, and refusal of damaged, foreign, other-version and missing files."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recs.usecases.prior.artifact import (
    FORMAT_VERSION,
    PriorError,
    arrays_sha256,
    load_prior,
    remove_stale_temporaries,
    temporary_path,
    write_prior,
)

IDS = ["7ouMYWpwJ422jRcDASZB7P", "0VjIjW4GlUZAMYd2vXMi3b", "4uLU6hMCjMI75M1A2tKUQC"]


def _write(path: Path, **overrides: Any) -> Path:
    rng = np.random.default_rng(7)
    args: dict[str, Any] = {
        "track_ids": IDS,
        "item_factors": rng.normal(size=(3, 4)).astype(np.float32),
        "listeners": [5, 2, 9],
        "listens": [50, 3, 12],
        "track_names": ["Bohemian Rhapsody", "Blinding Lights", "Ça plane pour moi"],
        "artist_names": ["Queen", "The Weeknd", ""],
        "manifest": {
            "engine": "local",
            "model": {"algorithm": "als", "factors": 4, "alpha": 2.0, "regularization": 0.1},
        },
    }
    args.update(overrides)
    return write_prior(path, **args)


def test_round_trip_sorts_rows_by_id_and_keeps_each_row_together(tmp_path: Path) -> None:
    factors = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
    path = _write(tmp_path / "c.prior.npz", item_factors=factors)
    prior = load_prior(path)
    assert list(prior.track_ids) == sorted(IDS)
    i = prior.index("7ouMYWpwJ422jRcDASZB7P")
    assert i == 2
    assert prior.track_name(i) == "Bohemian Rhapsody" and prior.artist_name(i) == "Queen"
    assert prior.listeners[i] == 5 and prior.listens[i] == 50
    np.testing.assert_array_equal(prior.factors32()[i], factors[0])
    j = prior.index("4uLU6hMCjMI75M1A2tKUQC")
    assert j is not None and prior.track_name(j) == "Ça plane pour moi" and prior.artist_name(j) == ""
    assert prior.item_factors.dtype == np.float16 and prior.factors32().dtype == np.float32
    assert prior.index("0000000000000000000000") is None and prior.index("zzzzzzzzzzzzzzzzzzzzzz") is None
    assert list(prior.indices(["4uLU6hMCjMI75M1A2tKUQC", "nope", "0VjIjW4GlUZAMYd2vXMi3b"])) == [1, -1, 0]
    assert prior.manifest["format"] == "recs-prior" and prior.manifest["format_version"] == FORMAT_VERSION
    assert prior.manifest["engine"] == "local" and "created_at" in prior.manifest
    assert prior.alpha == 2.0 and prior.regularization == 0.1 and prior.n_factors == 4 and prior.n_tracks == 3
    assert not [p for p in tmp_path.iterdir() if p.name != "c.prior.npz"]


def test_checksum_follows_the_documented_recipe(tmp_path: Path) -> None:
    prior = load_prior(_write(tmp_path / "c.prior.npz"))
    import hashlib

    digest = hashlib.sha256()
    with np.load(prior.path) as data:
        for name in sorted(data.files):
            if name != "manifest":
                a = data[name]
                digest.update(name.encode() + a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes())
    assert prior.manifest["arrays_sha256"] == digest.hexdigest()


def test_an_empty_prior_round_trips(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "e.prior.npz",
        track_ids=[],
        item_factors=np.zeros((0, 4)),
        listeners=[],
        listens=[],
        track_names=[],
        artist_names=[],
    )
    prior = load_prior(path)
    assert prior.n_tracks == 0 and prior.index("7ouMYWpwJ422jRcDASZB7P") is None
    assert prior.indices(["7ouMYWpwJ422jRcDASZB7P"]).tolist() == [-1]


def test_duplicate_ids_are_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        _write(tmp_path / "d.prior.npz", track_ids=[IDS[0], IDS[1], IDS[0]])
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.prior.npz")
    good = path.read_bytes()
    # Every single flipped byte in the payload is caught (zip CRC, zlib, or the checksum).
    for offset in range(0, len(good), max(1, len(good) // 60)):
        damaged = bytearray(good)
        damaged[offset] ^= 0x55
        path.write_bytes(bytes(damaged))
        try:
            load_prior(path)
        except PriorError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
        else:  # only bytes no reader looks at (e.g. the zip's timestamps) may change unnoticed
            with zipfile.ZipFile(path) as zf:
                assert zf.testzip() is None


def test_a_changed_array_with_a_valid_archive_fails_the_checksum(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.prior.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["listeners"] = arrays["listeners"] + 1
    np.savez(path, **arrays)
    with pytest.raises(PriorError, match="checksum mismatch") as err:
        load_prior(path)
    assert str(path) in str(err.value)


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.prior.npz")
    good = path.read_bytes()
    for keep in (0, 10, len(good) // 2, len(good) - 1):
        path.write_bytes(good[:keep])
        with pytest.raises(PriorError) as err:
            load_prior(path)
        assert str(path) in str(err.value)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.npz"
    np.savez(other, user_factors=np.zeros((2, 2)))
    with pytest.raises(PriorError, match="no manifest"):
        load_prior(other)
    single = tmp_path / "one.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(PriorError, match=r"single \.npy"):
        load_prior(single)
    text = tmp_path / "notes.prior.npz"
    text.write_text("hello")
    with pytest.raises(PriorError, match="not an npz archive"):
        load_prior(text)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, manifest=np.array([{"a": 1}], dtype=object))
    with pytest.raises(PriorError, match="pickled Python objects"):
        load_prior(pickled)
    alien = tmp_path / "alien.npz"
    np.savez(alien, manifest=np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8))
    with pytest.raises(PriorError, match="another format"):
        load_prior(alien)
    with pytest.raises(PriorError, match="not a file"):
        load_prior(tmp_path)


def _rewrite(path: Path, change: Any) -> None:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    manifest = json.loads(arrays["manifest"].tobytes())
    change(arrays, manifest)
    manifest["arrays_sha256"] = arrays_sha256(arrays)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_another_version_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.prior.npz")
    _rewrite(path, lambda arrays, m: m.update(format_version=2))
    with pytest.raises(PriorError, match="format_version 2"):
        load_prior(path)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda a, m: a.pop("listens"), "missing member listens"),
        (lambda a, m: a.update(item_factors=a["item_factors"].astype(np.float32)), "member item_factors is <f4"),
        (lambda a, m: a.update(listeners=a["listeners"][:2]), "listeners has 2 rows"),
        (lambda a, m: a.update(track_name_offsets=a["track_name_offsets"][:3]), "track_name_offsets has 3 entries"),
        (lambda a, m: a.update(artist_name_offsets=a["artist_name_offsets"][::-1].copy()), "does not cut"),
        (lambda a, m: a.update(track_ids=a["track_ids"][::-1].copy()), "not unique and sorted"),
    ],
)
def test_mistyped_or_inconsistent_members_are_refused(tmp_path: Path, change: Any, problem: str) -> None:
    path = _write(tmp_path / "c.prior.npz")
    _rewrite(path, change)
    with pytest.raises(PriorError, match=problem):
        load_prior(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PriorError, match=r"missing\.prior\.npz: no such file"):
        load_prior(tmp_path / "missing.prior.npz")


def test_stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "c.prior.npz"
    dead = os.fork()
    if dead == 0:  # a child that exits at once: its pid then names no live process
        os._exit(0)
    os.waitpid(dead, 0)
    stale = temporary_path(target, dead)
    stale.write_bytes(b"half")
    live = temporary_path(target, os.getppid())
    live.write_bytes(b"someone else's")
    unrelated = tmp_path / ".other.npz.tmp-1"
    unrelated.write_bytes(b"")
    assert remove_stale_temporaries(target) == [stale]
    assert live.exists() and unrelated.exists() and not stale.exists()
    _write(target)
    assert load_prior(target).n_tracks == 3
