"""Training queries on SQLite and PostgreSQL: signals as integer arrays with context codes, runs and lists."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from recs.core.domain import PlayRow
from recs.core.interactions import CONTEXT_EXCLUDED, CONTEXT_NORMAL, CONTEXT_OWN_PUBLISHED
from recs.storage import Database
from recs.storage import training as store
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays, insert_short_streams
from recs.storage.members import create_member
from tests.model import household as hh


def test_read_signals_codes_contexts_skips_sources_and_removals(any_db: Database) -> None:
    db = any_db
    now = hh.NOW
    with db.write() as conn:
        ids = upsert_tracks(conn, [hh.track_info(0, a, n) for a in range(3) for n in range(2)])
        t = sorted(ids.values())
        m = create_member(conn, "sp-m", "M", now=now).id
        other = create_member(conn, "sp-o", "O", now=now).id
        insert_plays(
            conn,
            m,
            [
                PlayRow(now - timedelta(days=1), t[0], "api"),
                PlayRow(now - timedelta(days=2), t[1], "api", context_uri="spotify:playlist:kids"),
                PlayRow(now - timedelta(days=3), t[2], "api", context_uri="spotify:playlist:ours"),
                PlayRow(now - timedelta(days=4), t[3], "export", skipped=True),
                PlayRow(now - timedelta(days=5), t[4], "export", reason_end="fwdbtn"),
            ],
        )
        insert_plays(conn, other, [PlayRow(now, t[5], "api")])
        insert_short_streams(conn, m, [(now - timedelta(hours=1), t[5], 5000, "fwdbtn")])
    hh.exclude_context(db, m, "spotify:playlist:kids")
    hh.publish(db, m, "ours")
    hh.hide(db, m, t[0])
    artists = {}
    with db.read() as conn:
        artists = store.track_artist_sets(conn, t)
    hh.block(db, m, artists[t[4]][0])  # artist of t[4] (and t[5]: two tracks per artist)
    hh.block(db, m, artists[t[0]][0], until=(now - timedelta(days=1)).date())  # ended
    hh.save(db, m, [t[1]])
    hh.own_playlist(db, m, "mine", [t[0], t[1]])
    hh.own_playlist(db, m, "ours", [t[2]])  # our published list, mirrored as an owned playlist

    with db.read() as conn:
        both = store.read_signals(conn, [m], "both", now.date())
        api = store.read_signals(conn, [m], "api", now.date())
    order = np.argsort(both.play_track)
    assert both.play_track[order].tolist() == t[:5]
    assert both.play_context[order].tolist() == [CONTEXT_NORMAL, CONTEXT_EXCLUDED, CONTEXT_OWN_PUBLISHED, 0, 0]
    assert both.play_skipped[order].tolist() == [False, False, False, True, True]
    assert abs(both.play_at[order][0] - (now - timedelta(days=1)).timestamp()) < 1e-3
    assert sorted(api.play_track.tolist()) == t[:3] and api.short_member.size == 0
    assert both.short_track.tolist() == [t[5]]
    removed = set(zip(both.removed_member.tolist(), both.removed_track.tolist(), strict=True))
    assert removed == {(m, t[0]), (m, t[4]), (m, t[5])}
    assert both.saved_track.tolist() == [t[1]] and not np.isnan(both.saved_at[0])
    assert sorted(both.playlist_track.tolist()) == [t[0], t[1]], "our own published list is not taste"
    with pytest.raises(ValueError, match="sources"), db.read() as conn:
        store.read_signals(conn, [m], "radio", now.date())


def test_runs_flip_current_and_lists_follow(any_db: Database) -> None:
    db = any_db
    now = hh.NOW
    with db.write() as conn:
        t = sorted(upsert_tracks(conn, [hh.track_info(1, 0, n) for n in range(3)]).values())
        m = create_member(conn, "sp-m", "M", now=now).id
        first = store.start_run(conn, now)
    with db.read() as conn:
        assert store.read_recommendations(conn, m, "discover") == []

    def finish(run_id: int, tracks: list[int]) -> None:
        rows = [store.RecommendationRow(m, "discover", r, tid, 1.0 / r, "why", None) for r, tid in enumerate(tracks, 1)]
        with db.write() as conn:
            store.finish_run(
                conn,
                run_id,
                now,
                model_kind="als",
                params={},
                data_size={},
                metrics={},
                baselines={},
                timings={},
                artifact_path=None,
                note="",
                rows=rows,
            )

    finish(first, t[:2])
    with db.write() as conn:
        second = store.start_run(conn, now)
    with db.read() as conn:
        assert [r.track_id for r in store.read_recommendations(conn, m, "discover")] == t[:2]
    finish(second, [t[2]])
    with db.read() as conn:
        assert [r.track_id for r in store.read_recommendations(conn, m, "discover")] == [t[2]]
        assert store.current_run(conn).id == second  # type: ignore[union-attr]
        assert [r.is_current for r in store.list_runs(conn)] == [True, False]
    with db.write() as conn:
        third = store.start_run(conn, now)
        assert store.fail_stale_runs(conn, now) == 1
    with pytest.raises(RuntimeError, match="no longer running"):
        finish(third, [t[0]])


def test_a_whole_training_on_either_database(any_db: Database, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from recs.core.config import load_settings
    from recs.usecases import recommendations, training

    settings = load_settings(
        None,
        {
            "RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"),
            "RECS_RECOMMEND__LIST_SIZE": "8",
            "RECS_TRAINING__TUNING_BUDGET_S": "1",
        },
    )
    house = hh.build(any_db, days=45)
    summary = training.train(SimpleNamespace(settings=settings, db=any_db), now=hh.NOW)
    assert summary.recommendations > 0
    with any_db.read() as conn:
        run = store.current_run(conn)
    assert run is not None and run.id == summary.run_id and run.metrics == summary.metrics
    assert run.params is not None and run.params["spec"]["kind"] == summary.model_kind
    for member_id in house.members.values():
        assert len(recommendations.current_recommendations(any_db, member_id, "discover")) == 8


def test_many_members_are_filtered_after_reading_not_as_bound_parameters(
    any_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    house = hh.build(any_db, days=20)
    ann, bob = house.members["ann"], house.members["bob"]
    with any_db.read() as conn:
        direct = store.read_signals(conn, [ann, bob], "both", hh.NOW.date())
    monkeypatch.setattr(store, "MAX_IN_LIST", 1)
    with any_db.read() as conn:
        filtered = store.read_signals(conn, [ann, bob], "both", hh.NOW.date())
    assert set(filtered.play_member.tolist()) == {ann, bob}
    assert sorted(filtered.play_track.tolist()) == sorted(direct.play_track.tolist())
