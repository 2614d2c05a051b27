"""Acceptance (issue 13): a one-member instance with a prior publishes Discover of unplayed tracks and beats household-only."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from benchmarks.emulator_prior import discover_ids, hit_rates, played_ids, set_up
from recs.usecases.playlists import publish_member


@pytest.mark.slow
def test_a_lone_member_gets_a_discover_playlist_of_new_tracks_that_beats_household_only() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proof = set_up(Path(tmp), seed=2026)
        try:
            before = played_ids(proof)
            household = discover_ids(proof, with_prior=False)
            blended = discover_ids(proof, with_prior=True)
            clock = proof.emulator.control.now
            results = publish_member(proof.instance, proof.member_id, clock(), clock=clock)
            assert any(r.status in ("created", "written") for r in results), results
            playlists = proof.emulator.control.ground_truth(proof.user_id)["playlists"]
            discover = [p for p in playlists if p["owner_id"] == proof.user_id and p["name"].startswith("recs")]
            assert len(discover) == 1
            items = [str(it["track_id"]) for it in discover[0]["items"]]
            assert len(items) == 30 and not set(items) & before, "30 tracks, none the member played"
            truth = proof.emulator.control.availability(proof.user_id, items)["tracks"]
            assert all(truth[t]["playable"] for t in items), "every track plays in the member's market"
            trained_at = clock()
            proof.emulator.control.advance(days=90)
            future = played_ids(proof, since=trained_at) - before
        finally:
            proof.emulator.stop()
    assert not set(blended) & before and not set(household) & before
    ours, theirs = hit_rates(blended, future), hit_rates(household, future)
    # benchmarks/emulator_prior.py: hit@100 0.03 with the prior and 0 household-only (seed 2026, 90 days, fixed start);
    # 90 days rather than 28 so the margin is three hits, not one.
    assert ours["hit@100"] >= 0.01 > theirs["hit@100"], (ours, theirs)
