"""The training use case on a stored household: lists, filters, cap, explanation privacy, cold start, atomic swap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from recs.core.config import Settings, load_settings
from recs.core.domain import PlayRow
from recs.storage import Database, migrate
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent
from recs.storage.schema import model_runs, recommendations, track_artists
from recs.usecases import training
from recs.usecases.recommendations import MODES, current_recommendations
from tests.model import household as hh

REPO = Path(__file__).resolve().parents[2]


def make_settings(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"),
        "RECS_RECOMMEND__LIST_SIZE": "12",
        "RECS_TRAINING__TUNING_BUDGET_S": "2",
        **extra,
    }
    return load_settings(None, env)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def house(db: Database) -> hh.Household:
    return hh.build(db)


def run(settings: Settings, db: Database, **kw: object) -> training.RunSummary:
    return training.train(SimpleNamespace(settings=settings, db=db), now=hh.NOW, **kw)  # type: ignore[arg-type]


def artist_of(db: Database) -> dict[int, int]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(track_artists.c.track_id, track_artists.c.artist_id).where(track_artists.c.position == 0)
        )
        return {t: a for t, a in rows}


def test_a_run_stores_lists_and_its_record(settings: Settings, db: Database, house: hh.Household) -> None:
    ann = house.members["ann"]
    # Old favourites for "rediscover": a genre ann otherwise never plays, last heard 200 days ago.
    old = house.tracks[3][0][:2] + house.tracks[3][1][:1]  # the artist cap allows two per artist
    with db.write() as conn:
        insert_plays(
            conn,
            ann,
            [
                PlayRow(hh.NOW - timedelta(days=200, minutes=10 * i + j), t, "export")
                for i, t in enumerate(old)
                for j in range(3)
            ],
        )
    summary = run(settings, db)
    assert summary.members == 3 and summary.recommendations > 0
    assert summary.metrics["ndcg@10"] >= 0 and "popular" in summary.baselines
    assert {"read_s", "tuning_s", "fit_s", "recommend_s", "total_s"} <= set(summary.timings)
    assert summary.data_size["sessions"] > 0 and summary.data_size["plays"] > 0
    with db.read() as conn:
        row = conn.execute(sa.select(model_runs)).one()._mapping
    assert row["is_current"] and row["status"] == "succeeded" and row["model_kind"] == summary.model_kind
    assert row["params"]["spec"]["kind"] == summary.model_kind and row["metrics"] and row["timings"]
    assert Path(row["artifact_path"]).exists() and Path(row["artifact_path"]).with_suffix(".json").exists()
    for name, member_id in house.members.items():
        recs = current_recommendations(db, member_id, "discover")
        assert len(recs) >= 8, name
        played = house.played(member_id)
        assert not {r.track_id for r in recs} & played, "discover holds only tracks never played"
        assert all(r.run_id == summary.run_id and r.track is not None and r.explanation for r in recs)
    redis = current_recommendations(db, ann, "rediscover")
    assert {r.track_id for r in redis} == set(old)
    assert all("You played this 3 times" in (r.explanation or "") for r in redis)
    # Ann shares genre 1 with Bob, who also plays genre 2; nobody links her to genre 3.
    genres = [house.genre_of[r.track_id] for r in current_recommendations(db, ann, "discover")]
    assert genres[:4].count(2) >= 3, genres


def test_hidden_tracks_and_blocked_artists_are_filtered(settings: Settings, db: Database, house: hh.Household) -> None:
    ann = house.members["ann"]
    first = run(settings, db)
    top = [r.track_id for r in current_recommendations(db, ann, "discover")]
    artists = artist_of(db)
    hh.hide(db, ann, top[0])
    hh.block(db, ann, artists[top[1]])
    expired = artists[top[2]] if artists[top[2]] != artists[top[1]] else artists[top[3]]
    hh.block(db, ann, expired, until=(hh.NOW - timedelta(days=1)).date())
    second = run(settings, db)
    assert second.run_id != first.run_id
    now_top = [r.track_id for r in current_recommendations(db, ann, "discover")]
    assert top[0] not in now_top
    assert artists[top[1]] not in {artists[t] for t in now_top}
    assert expired in {artists[t] for t in now_top}, "a block that ended no longer filters"


@pytest.mark.parametrize("cap", [1, 2])
def test_artist_cap(tmp_path: Path, db: Database, house: hh.Household, cap: int) -> None:
    settings = make_settings(tmp_path, RECS_RECOMMEND__ARTIST_CAP=str(cap))
    run(settings, db)
    artists = artist_of(db)
    for member_id in house.members.values():
        for mode in MODES:
            counts: dict[int, int] = {}
            for r in current_recommendations(db, member_id, mode):
                counts[artists[r.track_id]] = counts.get(artists[r.track_id], 0) + 1
            assert max(counts.values(), default=0) <= cap


def test_explanations_name_only_the_members_own_history(settings: Settings, db: Database, house: hh.Household) -> None:
    run(settings, db)
    names = {m.title() for m in house.members}
    for name, member_id in house.members.items():
        own = house.played(member_id)
        others_only = set().union(*(house.played(o) for o in house.members.values() if o != member_id)) - own
        with db.read() as conn:
            from recs.storage.catalog import get_tracks

            other_names = {t.name for t in get_tracks(conn, others_only).values()}
        recs = current_recommendations(db, member_id, "discover")
        assert any(r.because_track_id for r in recs)
        for r in recs:
            assert r.because_track_id is None or r.because_track_id in own, name
            text = r.explanation or ""
            assert not any(n in text for n in names), text
            assert not any(f"like {t} " in text or text.endswith(f"like {t}") for t in other_names), text


def test_cold_start_member_gets_a_full_list_from_seeds_then_popularity(
    settings: Settings, db: Database, house: hh.Household
) -> None:
    with db.write() as conn:
        dan = create_member(conn, "sp-dan", "Dan", now=hh.NOW).id
        eve = create_member(conn, "sp-eve", "Eve", now=hh.NOW).id
        set_consent(conn, dan, "train", True, now=hh.NOW)
        set_consent(conn, eve, "train", True, now=hh.NOW)
    seeds = house.tracks[3][0][:2]
    hh.top_tracks(db, dan, seeds)
    hh.save(db, dan, [house.tracks[3][1][0]])
    run(settings, db)
    dan_recs = current_recommendations(db, dan, "discover")
    assert len(dan_recs) == settings.recommend.list_size
    seeded = [r for r in dan_recs if r.score is not None]
    assert seeded and all(r.score > 0 for r in seeded)  # type: ignore[operator]
    assert all(house.genre_of[r.because_track_id] == 3 for r in seeded if r.because_track_id)
    assert sum(house.genre_of[r.track_id] == 3 for r in dan_recs[:4]) >= 3, "seeds lead"
    eve_recs = current_recommendations(db, eve, "discover")
    assert len(eve_recs) == settings.recommend.list_size, "never an empty list"
    assert all(r.score is None and r.because_track_id is None for r in eve_recs), "no zero scores passed off as real"
    assert current_recommendations(db, eve, "rediscover") == []


def test_a_failed_run_changes_nothing_visible(settings: Settings, db: Database, house: hh.Household) -> None:
    ann = house.members["ann"]
    first = run(settings, db)
    before = current_recommendations(db, ann, "discover")

    def boom(stage: str) -> None:
        if stage == "committing":  # inside the final transaction, after the rows are written
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        run(settings, db, progress=boom)
    assert current_recommendations(db, ann, "discover") == before
    with db.read() as conn:
        runs = {r.id: r for r in conn.execute(sa.select(model_runs))}
        stored_runs = {r[0] for r in conn.execute(sa.select(recommendations.c.run_id).distinct())}
    assert runs[first.run_id].is_current and stored_runs == {first.run_id}
    failed = next(r for r in runs.values() if r.id != first.run_id)
    assert failed.status == "failed" and "power cut" in failed.note and not failed.is_current
    models = settings.data_path / "models"
    assert sorted(p.name for p in models.iterdir()) == [f"run-{first.run_id}.json", f"run-{first.run_id}.npz"]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from types import SimpleNamespace
    sys.path.insert(0, {repo!r})
    from recs.usecases import training
    from recs.core.config import load_settings
    from recs.storage import Database
    from tests.model.household import NOW
    settings = load_settings(None, {env!r})
    db = Database(settings.database_url)
    def die(stage):
        if stage == {stage!r}:
            os.kill(os.getpid(), signal.SIGKILL)
    training.train(SimpleNamespace(settings=settings, db=db), now=NOW, progress=die)
    """
)


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
@pytest.mark.parametrize("stage", ["fitting", "committing"])
def test_a_training_killed_midway_changes_nothing_visible(
    tmp_path: Path, db: Database, house: hh.Household, stage: str
) -> None:
    env = {
        "RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"),
        "RECS_RECOMMEND__LIST_SIZE": "12",
        "RECS_TRAINING__TUNING_BUDGET_S": "2",
    }
    settings = load_settings(None, env)
    ann = house.members["ann"]
    first = run(settings, db)
    before = current_recommendations(db, ann, "discover")
    script = KILLER.format(repo=str(REPO), env=env, stage=stage)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert proc.returncode == -9, proc.stderr.decode()
    assert current_recommendations(db, ann, "discover") == before
    with db.read() as conn:
        statuses = dict(conn.execute(sa.select(model_runs.c.id, model_runs.c.status)).all())
    killed = max(statuses)
    assert statuses == {first.run_id: "succeeded", killed: "running"}
    third = run(settings, db)  # the next run notices the killed one and takes over
    with db.read() as conn:
        statuses = dict(conn.execute(sa.select(model_runs.c.id, model_runs.c.status)).all())
    assert statuses[killed] == "failed" and statuses[third.run_id] == "succeeded"
    assert current_recommendations(db, ann, "discover")[0].run_id == third.run_id
    leftovers = {p.name for p in (settings.data_path / "models").iterdir()}
    assert not any(f"run-{killed}" in n for n in leftovers)


def test_a_run_still_alive_elsewhere_is_left_alone(settings: Settings, db: Database, house: hh.Household) -> None:
    from recs import storage
    from recs.core.processes import owner_id

    with db.write() as conn:  # a run owned by this very (live) process, e.g. the worker's nightly run
        live = storage.training.start_run(conn, hh.NOW, owner_id())
        dead = storage.training.start_run(conn, hh.NOW, f"{training.socket.gethostname()}:{2**22 + 12345}")
        far = storage.training.start_run(conn, hh.NOW - timedelta(days=2), "otherhost:1")
    run(settings, db)
    with db.read() as conn:
        statuses = dict(conn.execute(sa.select(model_runs.c.id, model_runs.c.status)).all())
    assert statuses[live] == "running" and statuses[dead] == "failed" and statuses[far] == "failed"


def test_no_consent_is_a_clear_error_and_changes_nothing(settings: Settings, db: Database) -> None:
    with db.write() as conn:
        create_member(conn, "sp-x", "X", now=hh.NOW)
    with pytest.raises(training.TrainingError, match="consented"):
        run(settings, db)
    with db.read() as conn:
        assert conn.execute(sa.select(model_runs.c.status)).scalars().all() == ["failed"]


def test_sources_setting_selects_api_or_export_plays(tmp_path: Path, db: Database, house: hh.Household) -> None:
    settings = make_settings(tmp_path, RECS_TRAINING__SOURCES="export")
    with pytest.raises(training.TrainingError, match="sources=export"):
        run(settings, db)


def test_recommend_mode_is_checked(db: Database) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        current_recommendations(db, 1, "shuffle")


def test_cli_train_and_recommend(tmp_path: Path) -> None:
    env = {
        "RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"),
        "RECS_RECOMMEND__LIST_SIZE": "10",
        "RECS_TRAINING__TUNING_BUDGET_S": "1",
    }
    runner = CliRunner()
    from recs.cli.main import main

    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    settings = load_settings(None, env)
    database = Database(settings.database_url)
    migrate.upgrade(database)
    house = hh.build(database, days=60, now=datetime.now(UTC))
    database.dispose()
    result = runner.invoke(main, ["train"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "serving" in result.output and "ndcg@10" in result.output and "timings:" in result.output
    assert "popular" in result.output
    ann = house.members["ann"]
    result = runner.invoke(main, ["recommend", "--member", str(ann)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "discover for Ann" in result.output and "   1. Song" in result.output and "Because you like" in result.output
    result = runner.invoke(main, ["recommend", "--member", "999"], env=env)
    assert result.exit_code != 0 and "no member with id 999" in result.output
