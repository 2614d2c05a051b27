"""`recs prior build`, local engine: counts a test works out on its own, filters, names, clusters, errors."""

from __future__ import annotations

import dataclasses
import random
import string
import tarfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zstandard
from click.testing import CliRunner

from recs.cli.main import main
from recs.usecases.prior import load_prior
from recs.usecases.prior.build import BuildOptions, PriorBuildError, build_prior
from tests.prior.dumpfiles import listen, write_dump

TS = 1_767_225_600  # 2026-01-01
B62 = string.digits + string.ascii_letters


def _track_id(rng: random.Random) -> str:
    return "".join(rng.choice(B62) for _ in range(22))


class Dump:
    """A two-cluster dump and, beside it, everything the test expects, worked out without the parser."""

    def __init__(self, folder: Path, seed: int = 3) -> None:
        rng = random.Random(seed)
        self.tracks = [_track_id(rng) for _ in range(40)]
        self.rare = _track_id(rng)  # one listener: filtered out
        lines: dict[tuple[int, int], list[bytes]] = {(2026, 1): [], (2026, 2): []}
        self.kept: set[tuple[int, int, str]] = set()
        self.kept_lines: list[tuple[int, int, str]] = []  # every line with a usable id, duplicates included
        self.reasons: Counter[str] = Counter()
        self.duplicates = 0
        self.spellings: dict[str, Counter[tuple[str, str]]] = {}
        self.lines = 0
        forms = [
            lambda t: {
                "spotify_id": f"https://open.spotify.com/track/{t}",
                "origin_url": f"https://open.spotify.com/track/{t}",
            },
            lambda t: {"origin_url": f"https://open.spotify.com/track/{t}?si=deadbeef"},
            lambda t: {"spotify_id": f"spotify:track:{t}"},
        ]

        def add(month: tuple[int, int], line: bytes) -> None:
            lines[month].append(line)
            self.lines += 1

        def keep(month: tuple[int, int], user: int, ts: int, track: str, name: str = "", artist: str = "") -> None:
            name = name or f"Song {self.tracks.index(track) if track in self.tracks else 'rare'}"
            artist = artist or f"Band {user % 2}"
            key = (user, ts, track)
            if key in self.kept:
                self.duplicates += 1
            self.kept.add(key)
            self.kept_lines.append(key)
            self.spellings.setdefault(track, Counter())[(name, artist)] += 1
            form = forms[ts % 3](track)
            add(
                month,
                listen(
                    user,
                    ts,
                    spotify_id=form.get("spotify_id"),
                    origin_url=form.get("origin_url"),
                    track_name=name,
                    artist_name=artist,
                ),
            )

        for user in range(1, 81):
            cluster = self.tracks[:20] if user <= 40 else self.tracks[20:]
            for i, track in enumerate(rng.sample(cluster, 12)):
                for j in range(rng.randint(1, 4)):
                    keep((2026, 1 + (i + j) % 2), user, TS + 1000 * i + j, track)
        keep((2026, 1), 1, TS + 999_999, self.rare)
        # a user with two tracks: filtered out by min_user_tracks
        keep((2026, 1), 500, TS + 5, self.tracks[0])
        keep((2026, 1), 500, TS + 6, self.tracks[1])
        # a misspelling seen once: the common spelling wins
        keep((2026, 2), 7, TS + 77_777, self.tracks[3], name="song three (live)", artist="band")
        # exact duplicates (the same listen in two files)
        for user, ts, track in sorted(self.kept)[:15]:
            keep((2026, 2), user, ts, track, *self.spellings[track].most_common(1)[0][0])
        # lines of other services and broken lines
        for k in range(30):
            add((2026, 1), listen(900 + k, TS + k, origin_url="https://www.youtube.com/watch?v=abc"))
            self.reasons["no_spotify_id"] += 1
        add((2026, 2), b'{"user_id": 3, "spotify')
        self.reasons["not_json"] += 1
        add((2026, 2), listen("x", TS, spotify_id=self.tracks[0]))
        self.reasons["bad_user_id"] += 1
        add((2026, 2), listen(3, 12, spotify_id=self.tracks[0]))
        self.reasons["timestamp_out_of_range"] += 1
        self.path = write_dump(folder, lines)

    def expected_filtered(self, min_listeners: int, min_user_tracks: int) -> tuple[set[str], set[int]]:
        """The tracks and users that survive the filters, applied alternately until stable."""
        pairs = {(u, t) for u, _, t in self.kept}
        while True:
            listeners = Counter(t for _, t in pairs)
            pairs2 = {(u, t) for u, t in pairs if listeners[t] >= min_listeners}
            per_user = Counter(u for u, _ in pairs2)
            pairs2 = {(u, t) for u, t in pairs2 if per_user[u] >= min_user_tracks}
            if pairs2 == pairs:
                return {t for _, t in pairs}, {u for u, _ in pairs}
            pairs = pairs2


def _options(**overrides: object) -> BuildOptions:
    base: dict[str, object] = {"factors": 8, "iterations": 10, "processes": 1, "alpha": 10.0, "regularization": 0.05}
    base.update(overrides)
    return BuildOptions(**base)  # type: ignore[arg-type]


def test_counts_filters_names_and_clusters(tmp_path: Path) -> None:
    dump = Dump(tmp_path)
    out = tmp_path / "out" / "c.prior.npz"
    summary = build_prior([dump.path], out, _options(), now=datetime(2026, 12, 2, tzinfo=UTC))
    prior = load_prior(out)
    counts = prior.manifest["counts"]
    assert counts["lines_read"] == dump.lines
    assert counts["duplicates"] == dump.duplicates == 15
    assert counts["lines_kept"] == len(dump.kept)
    assert {k: v for k, v in counts["rejected"].items() if v} == dump.reasons
    tracks, users = dump.expected_filtered(3, 5)
    assert set(prior.track_ids) == tracks and dump.rare not in tracks
    assert counts["users"] == len(users) == 80 and counts["tracks"] == 40
    listeners = Counter(t for _, t in {(u, t) for u, _, t in dump.kept})
    listens = Counter(t for _, _, t in dump.kept)
    for track in tracks:
        i = prior.index(track)
        assert i is not None
        assert prior.listeners[i] == listeners[track] and prior.listens[i] == listens[track]
        assert (prior.track_name(i), prior.artist_name(i)) == dump.spellings[track].most_common(1)[0][0]
    assert prior.manifest["sources"][0]["name"] == dump.path.name
    assert prior.manifest["engine"] == "local" and prior.manifest["licence"]["name"] == "CC0-1.0"
    assert prior.manifest["filters"] == {"min_listeners": 3, "min_user_tracks": 5}
    assert prior.manifest["model"]["factors"] == 8 and prior.manifest["weighting"]["cap"] == 20
    assert summary.problems == []
    # known answer: the two taste clusters come apart in the factors
    f = prior.factors32()
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    rows = prior.indices(dump.tracks)
    sim = f[rows] @ f[rows].T
    same = np.add.outer(np.arange(40) < 20, np.arange(40) < 20) != 1
    np.fill_diagonal(same, False)
    across = np.add.outer(np.arange(40) < 20, np.arange(40) < 20) == 1
    assert sim[same].mean() > sim[across].mean() + 0.3


def test_window_and_tighter_filters(tmp_path: Path) -> None:
    dump = Dump(tmp_path)
    since, until = TS + 2000, TS + 9000
    out = tmp_path / "w.prior.npz"
    build_prior(
        [dump.path],
        out,
        _options(since=datetime.fromtimestamp(since, UTC), until=datetime.fromtimestamp(until, UTC), min_listeners=10),
    )
    prior = load_prior(out)
    inside = {k for k in dump.kept if since <= k[1] < until}
    c = prior.manifest["counts"]
    assert c["lines_kept"] == len(inside)
    assert c["rejected"]["outside_window"] == sum(1 for _, ts, _ in dump.kept_lines if not since <= ts < until)
    pairs = {(u, t) for u, _, t in inside}
    listeners = Counter(t for _, t in pairs)
    assert all(listeners[t] >= 10 for t in prior.track_ids)
    assert prior.manifest["window"] == {"since": "2026-01-01T00:33:20+00:00", "until": "2026-01-01T02:30:00+00:00"}


def test_a_dump_with_nothing_usable_says_why(tmp_path: Path) -> None:
    path = tmp_path / "other.listens"
    path.write_bytes(b"\n".join(listen(u, TS + u, origin_url="https://youtu.be/x") for u in range(1, 6)) + b"\n")
    with pytest.raises(PriorBuildError, match=r"none of 5 lines .*no_spotify_id 5"):
        build_prior([path], tmp_path / "x.prior.npz", _options())
    (tmp_path / "empty.listens").write_bytes(b"")
    with pytest.raises(PriorBuildError, match=r"no listen line could be read .*missing\.listens: unreadable"):
        build_prior([tmp_path / "missing.listens", tmp_path / "empty.listens"], tmp_path / "x.prior.npz", _options())
    with pytest.raises(PriorBuildError, match=r"no dump to read: .*missing\.listens: unreadable: no such file"):
        build_prior([tmp_path / "missing.listens"], tmp_path / "x.prior.npz", _options())
    assert not (tmp_path / "x.prior.npz").exists()


def test_filters_that_leave_nothing_say_which_option_to_lower(tmp_path: Path) -> None:
    dump = Dump(tmp_path)
    with pytest.raises(PriorBuildError, match="lower --min-listeners or --min-user-tracks"):
        build_prior([dump.path], tmp_path / "x.prior.npz", _options(min_listeners=1000))


def test_the_command_line_builds_and_reports(tmp_path: Path) -> None:
    dump = Dump(tmp_path)
    extra = tmp_path / "more.listens"
    extra.write_bytes(b'{"broken\n')
    out = tmp_path / "cli.prior.npz"
    result = CliRunner().invoke(
        main,
        [
            "prior",
            "build",
            str(dump.path),
            str(extra),
            str(tmp_path / "missing.listens"),
            "--out",
            str(out),
            "--factors",
            "4",
            "--iterations",
            "3",
            "--processes",
            "1",
            "--since",
            "2025-12-31",
        ],
        env={"RECS_INSTANCE__DATA_DIR": str(tmp_path / "data")},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and f"lines read:   {dump.lines + 1:,}" in result.output
    assert load_prior(out).manifest["window"]["since"] == "2025-12-31T00:00:00+00:00"
    assert f"problem:      {tmp_path / 'missing.listens'}: unreadable: no such file or folder" in result.output
    failed = CliRunner().invoke(main, ["prior", "build", str(extra), "--out", str(tmp_path / "no.prior.npz")])
    assert failed.exit_code == 1 and "none of 1 lines" in failed.output


@pytest.mark.slow
def test_two_processes_give_the_same_artifact_as_one(tmp_path: Path) -> None:
    dump = Dump(tmp_path)
    one = build_prior([dump.path], tmp_path / "1.prior.npz", _options(processes=1))
    two = build_prior([dump.path], tmp_path / "2.prior.npz", _options(processes=2))
    assert one.manifest["arrays_sha256"] == two.manifest["arrays_sha256"]
    assert one.manifest["counts"] == two.manifest["counts"]


@pytest.mark.slow
def test_an_emulator_community_dump_gives_the_counts_of_its_ground_truth(tmp_path: Path) -> None:
    from recs.emulator.listenbrainz import write_community_dumps

    dumps = write_community_dumps(tmp_path / "mirror", seed=5, users=120, listens_per_user=60, incremental_days=3)
    out = tmp_path / "emu.prior.npz"
    summary = build_prior([f.path for f in dumps.files], out, _options(min_listeners=2, min_user_tracks=3))
    counts = load_prior(out).manifest["counts"]
    assert counts["lines_read"] == sum(f.lines for f in dumps.files)
    truth = {(x.user_id, x.timestamp, x.spotify_id) for x in dumps.listens if x.spotify_id}
    assert counts["lines_kept"] == len(truth)
    # every line the full dump and the overlapping incrementals hold more than once is a duplicate
    with_id = sum(counts["rejected"].values()) + counts["lines_kept"] + counts["duplicates"]
    assert with_id == counts["lines_read"]
    assert summary.problems == []


@pytest.mark.slow
def test_workers_reading_whole_archives_and_byte_ranges_give_the_same_artifact(tmp_path: Path) -> None:
    """Several archives are each read by a worker, an extracted .listens file in byte ranges: as one process reads."""
    from recs.emulator.listenbrainz import write_community_dumps
    from recs.usecases.prior.build import plan_local
    from recs.usecases.prior.dumps import discover

    dumps = write_community_dumps(tmp_path / "mirror", seed=3, users=120, listens_per_user=60, incremental_days=3)
    extracted = tmp_path / "extracted.listens"
    (tmp_path / "hostile").mkdir()
    hostile = Dump(tmp_path / "hostile").path
    with zstandard.open(hostile, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        parts = []
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None and member.name.endswith(".listens"):
                parts.append(handle.read())
    extracted.write_bytes(b"".join(parts))
    paths = [*(f.path for f in dumps.files), extracted]
    sources, _ = discover(paths)
    units, streamed = plan_local(sources, 2, split_bytes=2_000)
    assert not streamed and sum(1 for u in units if u[5] >= 0) > 2  # archives whole, the .listens file split
    options = _options(min_listeners=2, min_user_tracks=3)
    one = build_prior(paths, tmp_path / "1.prior.npz", options)
    two = build_prior(paths, tmp_path / "2.prior.npz", dataclasses.replace(options, processes=2), split_bytes=2_000)
    assert one.manifest["arrays_sha256"] == two.manifest["arrays_sha256"]
    assert one.manifest["counts"] == two.manifest["counts"]
    assert one.manifest["sources"] == two.manifest["sources"]  # checksums and dump metadata from the workers
    assert sorted(one.manifest["problems"]) == sorted(two.manifest["problems"])


def test_the_solver_is_a_choice_recorded_in_the_manifest(tmp_path: Path) -> None:
    dump = Dump(tmp_path)
    exact = build_prior([dump.path], tmp_path / "e.prior.npz", _options(min_listeners=1, min_user_tracks=1))
    cg = build_prior([dump.path], tmp_path / "c.prior.npz", _options(min_listeners=1, min_user_tracks=1, solver="cg"))
    assert "exact" in exact.manifest["model"]["implementation"]
    assert "conjugate gradient" in cg.manifest["model"]["implementation"]
    assert exact.manifest["arrays_sha256"] != cg.manifest["arrays_sha256"]
    with pytest.raises(PriorBuildError, match="unknown solver 'newton'"):
        build_prior([dump.path], tmp_path / "n.prior.npz", _options(solver="newton"))
