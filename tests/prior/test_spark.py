"""The Spark engine in local mode: the same dump gives the same counts, tracks and format as the local engine."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmarks.prior_quality import household_ndcg
from recs.emulator.listenbrainz import CommunityDumps, write_community_dumps
from recs.emulator.state import Emulator
from recs.usecases.prior.artifact import Prior, load_prior
from recs.usecases.prior.build import BuildOptions, BuildSummary, PriorBuildError, build_prior
from recs.usecases.prior.spark import spark_problem

# Spark's start and its many small jobs take minutes on a loaded 2-core machine, whatever the data size.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

MEMBERS = 30
OPTIONS = BuildOptions(factors=16, iterations=20, regularization=1.0, processes=2)


@pytest.fixture(scope="module")
def spark_ready() -> None:
    problem = spark_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the Spark engine must be tested in CI: {problem} (scripts/test.sh installs both)")
        pytest.skip(f"Spark engine not testable here: {problem}")


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory) -> CommunityDumps:
    return write_community_dumps(tmp_path_factory.mktemp("dumps"), seed=0, members=MEMBERS, users=400)


@pytest.fixture(scope="module")
def built(
    spark_ready: None, community: CommunityDumps, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BuildSummary, BuildSummary]]:
    from recs.usecases.prior.spark import build_prior_spark

    folder = tmp_path_factory.mktemp("priors")
    paths = [f.path for f in community.files]
    local = build_prior(paths, folder / "local.prior.npz", OPTIONS)
    # an extracted .listens file among the archives, split into byte ranges: several tasks read one file
    extracted = folder / "extracted.listens"
    extracted.write_bytes(b"".join(_listens_of(community.incrementals[-1].path)))
    spark = build_prior_spark(
        [*paths[:-1], extracted], folder / "spark.prior.npz", OPTIONS, master="local[2]", split_bytes=100_000
    )
    yield local, spark


def _listens_of(path: Path) -> list[bytes]:
    import tarfile

    import zstandard

    out = []
    with (
        path.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None and member.name.endswith(".listens"):
                out.append(handle.read())
    return out


def test_both_engines_count_the_same_lines_and_keep_the_same_tracks(built: tuple[BuildSummary, BuildSummary]) -> None:
    local, spark = built
    assert local.manifest["engine"] == "local" and spark.manifest["engine"] == "spark"
    assert spark.manifest["spark"]["parse_tasks"] > len(local.manifest["sources"])  # the .listens file was split
    a, b = load_prior(local.path), load_prior(spark.path)
    for key in ("lines_read", "lines_kept", "duplicates", "rejected", "users", "tracks", "pairs"):
        assert spark.manifest["counts"][key] == local.manifest["counts"][key], key
    assert a.track_ids.tolist() == b.track_ids.tolist()
    assert a.listeners.tolist() == b.listeners.tolist() and a.listens.tolist() == b.listens.tolist()
    assert [a.track_name(i) for i in range(a.n_tracks)] == [b.track_name(i) for i in range(b.n_tracks)]
    assert [a.artist_name(i) for i in range(a.n_tracks)] == [b.artist_name(i) for i in range(b.n_tracks)]
    assert a.item_factors.dtype == b.item_factors.dtype == np.float16
    assert a.item_factors.shape == b.item_factors.shape
    assert set(a.manifest) == set(b.manifest) - {"spark"}
    for key in ("window", "filters", "weighting", "licence"):
        assert a.manifest[key] == b.manifest[key], key
    assert np.isfinite(b.factors32()).all() and np.abs(b.factors32()).max() > 0


def test_spark_prior_serves_the_household_as_well_as_the_local_one(built: tuple[BuildSummary, BuildSummary]) -> None:
    local, spark = built
    emulator = Emulator(0, MEMBERS)
    ndcg = {name: household_ndcg(load_prior(s.path), emulator) for name, s in (("local", local), ("spark", spark))}
    popular = _popularity_ndcg(load_prior(local.path), emulator)
    assert ndcg["local"] > popular + 0.1 and ndcg["spark"] > popular + 0.1, (ndcg, popular)
    # Within 0.01 on average, not build by build: with the exact solver (the local default) and Spark's
    # ratings shifted to implicit's confidence, the means over 3 seeds of benchmarks/prior_quality.py are
    # 0.748 (local) and 0.747 (Spark), but one Spark build varies from run to run and seed to seed by more
    # than 0.01 (0.73-0.78 over seeds; docs/benchmarks/prior.md), so one pair of builds is held to 0.05.
    # Before, with conjugate gradient, the means were 0.041 apart.
    assert abs(ndcg["spark"] - ndcg["local"]) < 0.05, ndcg


def _popularity_ndcg(prior: Prior, emulator: Emulator) -> float:
    """The same protocol with one factor per track, its listener share: everyone gets the most popular tracks."""
    share = (prior.listeners / prior.listeners.max()).astype(np.float16)[:, None]
    return household_ndcg(dataclasses.replace(prior, item_factors=share), emulator)


def test_nothing_usable_is_an_error_that_says_why(tmp_path: Path, spark_ready: None) -> None:
    from recs.usecases.prior.spark import build_prior_spark

    path = tmp_path / "x.listens"
    path.write_bytes(b'{"user_id": 1, "timestamp": 1700000000, "track_metadata": {"artist_name": "a"}}\n' * 3)
    with pytest.raises(PriorBuildError, match=r"none of 3 lines is a usable listen with a Spotify track id"):
        build_prior_spark([path], tmp_path / "out.prior.npz", OPTIONS, master="local[1]")
    assert not (tmp_path / "out.prior.npz").exists()
