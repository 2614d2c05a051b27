"""recs' name resolution (its search and match rule) against the emulator's ranked fuzzy search and near-duplicates."""

from __future__ import annotations

from benchmarks.resolve_quality import measure
from recs.emulator import EmulatorServer


def test_resolution_finds_the_played_track_among_remasters_live_takes_and_compilations() -> None:
    with EmulatorServer(seed=4, members=5, quota_per_day=None, rate_limit_per_30s=None) as server:
        quality = measure(server, names=80, seed=4)
    assert quality.names == 80
    # wrong answers come only from names several recordings share (docs/benchmarks/resolve.md)
    assert quality.resolved - quality.correct <= quality.ambiguous
    assert quality.precision >= 0.95 and quality.recall >= 0.95
