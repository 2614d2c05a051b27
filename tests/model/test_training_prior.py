"""Nightly training with a community prior: fold-in, discovery beyond the household, filters, refusal of bad priors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from recs.core.config import Settings
from recs.core.domain import ArtistInfo, PlayRow, TrackInfo
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent, update_member
from recs.storage.schema import model_runs, tracks
from recs.usecases.prior.artifact import write_prior
from recs.usecases.recommendations import current_recommendations
from tests.model import household as hh
from tests.model.test_training import make_settings, run

OPEN_PER_GENRE = 12


def open_id(genre: int, k: int) -> str:
    """Spotify ids of tracks only the open data holds (22 characters, as the prior's ids are)."""
    return f"open{genre}x{k:02d}".ljust(22, "Q")


def write_test_prior(path: Path, house: hh.Household, db: Database) -> Path:
    """A prior whose factors are each track's genre (one-hot): the household's tracks and open ones per genre."""
    with db.read() as conn:
        spotify = dict(conn.execute(sa.select(tracks.c.id, tracks.c.spotify_id)).all())
    ids, genres, names, artists, listeners = [], [], [], [], []
    for tid, g in house.genre_of.items():
        ids.append(spotify[tid])
        genres.append(g)
        names.append(f"household {tid}")
        artists.append("")
        listeners.append(50)
    for g in range(hh.GENRES):
        for k in range(OPEN_PER_GENRE):
            ids.append(open_id(g, k))
            genres.append(g)
            names.append(f"Open Song {g}-{k}")
            artists.append(f"Open Artist {g}-{k % 6}")
            listeners.append(1000 - 10 * k)
    rng = np.random.default_rng(0)
    factors = np.eye(hh.GENRES, dtype=np.float32)[genres] + rng.normal(0, 0.05, (len(ids), hh.GENRES))
    return write_prior(
        path,
        track_ids=ids,
        item_factors=factors.astype(np.float32),
        listeners=listeners,
        listens=[10 * n for n in listeners],
        track_names=names,
        artist_names=artists,
        manifest={
            "engine": "local",
            "sources": [{"name": "test-dump.tar.zst"}],
            "model": {"algorithm": "als", "factors": hh.GENRES, "regularization": 0.1, "alpha": 1.0},
        },
    )


@pytest.fixture
def house(db: Database) -> hh.Household:
    h = hh.build(db)
    # In her last days Ann played open-data tracks of her genre 0 the household had never heard: the hold-out
    # rewards whatever reaches beyond the household.
    with db.write() as conn:
        found = upsert_tracks(
            conn,
            [
                TrackInfo(open_id(0, k), f"Open Song 0-{k}", (ArtistInfo(None, f"Open Artist 0-{k % 6}"),))
                for k in (8, 9, 10, 11)
            ],
        )
        plays = [
            PlayRow(hh.NOW - timedelta(days=3 - i % 3, minutes=5 * i), tid, "api", ms_played=180_000)
            for i, tid in enumerate(found.values())
        ]
        insert_plays(conn, h.members["ann"], plays)
    return h


def with_prior(tmp_path: Path, prior: Path) -> Settings:
    return make_settings(tmp_path, RECS_PRIOR__PATH=str(prior))


def current_params(db: Database) -> dict[str, object]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(model_runs.c.params).where(model_runs.c.is_current)).scalar_one())


def test_discover_reaches_tracks_no_member_played_and_explains_them_privately(
    tmp_path: Path, db: Database, house: hh.Household
) -> None:
    path = write_test_prior(tmp_path / "test.prior.npz", house, db)
    before = path.read_bytes()
    summary = run(with_prior(tmp_path, path), db)
    record = summary.params["prior"]
    assert record["used"] and record["tracks"] == len(house.genre_of) + hh.GENRES * OPEN_PER_GENRE
    assert record["weight"] > 0, record["note"]
    assert "household" in record["holdout"] and "prior popular" in record["holdout"]
    assert "open data:" in summary.note and "prior w1 g0" in summary.baselines
    assert record["open_recommendations"] > 0
    assert path.read_bytes() == before, "folding in never changes the prior"
    everyone = set().union(*(house.played(m) for m in house.members.values()))
    names = {m.title() for m in house.members}
    for name, member_id in house.members.items():
        recs = current_recommendations(db, member_id, "discover")
        assert not {r.track_id for r in recs} & house.played(member_id), name
        opened = [r for r in recs if r.track_id not in everyone]
        assert opened, f"{name}: discover holds tracks no household member played"
        assert all(r.source == ("open" if r.track_id in {o.track_id for o in opened} else "household") for r in recs)
        for r in opened:
            assert r.track is not None
            if r.track.spotify_id and r.track.spotify_id.startswith("open"):
                assert r.track.name.startswith("Open Song"), "display names from the prior"
                genre = int(r.track.name.split()[-1].split("-")[0])
            else:  # a track the instance knew (Spotify's own data) that nobody here played
                genre = house.genre_of[r.track_id]
            text = r.explanation or ""
            assert "open listening data" in text, text
            assert not any(n in text for n in names), text
            assert r.because_track_id is None or r.because_track_id in house.played(member_id)
            if name == "ann":
                assert genre in (0, 1), (genre, text)
    ann_open = [r for r in current_recommendations(db, house.members["ann"], "discover") if r.track_id not in everyone]
    assert any(r.because_track_id in house.played(house.members["ann"]) for r in ann_open), "cites her own track"
    assert any(r.track and (r.track.spotify_id or "").startswith("open") for r in ann_open), (
        "tracks new to the instance"
    )


def test_hidden_blocked_and_played_open_tracks_never_appear(tmp_path: Path, db: Database, house: hh.Household) -> None:
    settings = with_prior(tmp_path, write_test_prior(tmp_path / "test.prior.npz", house, db))
    ann = house.members["ann"]
    run(settings, db)
    everyone = set().union(*(house.played(m) for m in house.members.values()))
    opened = [r for r in current_recommendations(db, ann, "discover") if r.track_id not in everyone]
    assert len(opened) >= 3
    with db.read() as conn:
        from recs.storage.schema import track_artists

        artist = dict(conn.execute(sa.select(track_artists.c.track_id, track_artists.c.artist_id)).all())
    hidden, blocked_artist, played = opened[0].track_id, artist[opened[1].track_id], opened[2].track_id
    hh.hide(db, ann, hidden)
    hh.block(db, ann, blocked_artist)
    with db.write() as conn:
        insert_plays(conn, ann, [PlayRow(hh.NOW - timedelta(hours=1), played, "api", ms_played=180_000)])
    run(settings, db)
    now = current_recommendations(db, ann, "discover")
    assert hidden not in {r.track_id for r in now} and played not in {r.track_id for r in now}
    assert blocked_artist not in {artist.get(r.track_id) for r in now}
    assert any(r.track_id not in everyone | {played} for r in now), "still open-data tracks"


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_a_bad_prior_is_refused_and_training_goes_on_household_only(
    tmp_path: Path, db: Database, house: hh.Household, problem: str
) -> None:
    plain = run(make_settings(tmp_path), db)
    before = {m: [r.track_id for r in current_recommendations(db, m, "discover")] for m in house.members.values()}
    path = tmp_path / f"{problem}.prior.npz"
    if problem == "corrupt":
        path.write_bytes(b"PK\x03\x04" + bytes(200))
    summary = run(with_prior(tmp_path, path), db)
    record = summary.params["prior"]
    assert record["used"] is False and str(path) in record["error"]
    assert "prior refused, household only" in summary.note
    assert summary.chosen == plain.chosen
    after = {m: [r.track_id for r in current_recommendations(db, m, "discover")] for m in house.members.values()}
    assert after == before, "household-only lists, nothing lost"
    assert current_params(db)["prior"] == record


def test_a_member_who_turns_open_data_off_gets_household_tracks_only(
    tmp_path: Path, db: Database, house: hh.Household
) -> None:
    settings = with_prior(tmp_path, write_test_prior(tmp_path / "test.prior.npz", house, db))
    ann, bob = house.members["ann"], house.members["bob"]
    with db.write() as conn:
        update_member(conn, ann, open_data=False)
    run(settings, db)
    everyone = set().union(*(house.played(m) for m in house.members.values()))
    ann_recs = current_recommendations(db, ann, "discover")
    assert ann_recs and all(r.track_id in everyone and r.source == "household" for r in ann_recs)
    assert all("open listening data" not in (r.explanation or "") for r in ann_recs)
    assert any(r.source == "open" for r in current_recommendations(db, bob, "discover")), "others keep it"


def test_members_the_prior_knows_nothing_of_get_its_popular_tracks(
    tmp_path: Path, db: Database, house: hh.Household
) -> None:
    """Cold start: too few tracks for the model (dan), or none the prior holds (eve): popular-from-the-prior."""
    settings = with_prior(tmp_path, write_test_prior(tmp_path / "test.prior.npz", house, db))
    with db.write() as conn:
        dan = create_member(conn, "sp-dan", "Dan", now=hh.NOW - timedelta(days=30)).id
        eve = create_member(conn, "sp-eve", "Eve", now=hh.NOW - timedelta(days=30)).id
        for m in (dan, eve):
            set_consent(conn, m, "train", True, now=hh.NOW - timedelta(days=29))
        # Dan: three household tracks, far below recommend.cold_start_items.
        dan_tracks = house.genre_tracks(3)[:3]
        # Eve: twelve tracks of her own that the prior does not hold.
        own = upsert_tracks(conn, [TrackInfo(f"eveonly{k:02d}".ljust(22, "E"), f"Eve Song {k}") for k in range(12)])
        for m, ids in ((dan, dan_tracks), (eve, list(own.values()))):
            insert_plays(
                conn,
                m,
                [
                    PlayRow(hh.NOW - timedelta(days=20 - k % 20, minutes=k), t, "api", ms_played=180_000)
                    for k, t in enumerate(ids * 3)
                ],
            )
    summary = run(settings, db)
    assert summary.params["prior"]["weight"] > 0
    everyone = set().union(*(house.played(m) for m in house.members.values()))
    for name, member in (("dan", dan), ("eve", eve)):
        recs = current_recommendations(db, member, "discover")
        opened = [r for r in recs if r.source == "open"]
        assert opened, f"{name}: popular tracks from the open data"
        assert not {r.track_id for r in recs} & house.played(member)
        assert all(r.track_id not in everyone for r in opened)
        assert all(r.explanation == "Popular in open listening data, while recs learns your taste" for r in opened)
        assert all(r.because_track_id is None for r in opened), "nothing of anyone's history is cited"
        # The crowd's favourites first: within the open tracks, listeners never rise down the list.
        ks = [int((r.track.name if r.track else "").rsplit("-", 1)[1]) for r in opened if r.track]
        assert ks[:3] == sorted(ks[:3]), ks
