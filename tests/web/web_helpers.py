"""Dashboard test helpers: an app on the test database, a household of two members with history, signing in and CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from recs.core.config import Settings
from recs.core.domain import AlbumInfo, ArtistInfo, PlayRow, TrackInfo
from recs.core.keys import Secrets
from recs.storage import Database
from recs.storage import schema as s
from recs.storage.catalog import upsert_tracks
from recs.storage.listening import insert_plays
from recs.storage.members import create_member, set_consent
from recs.usecases.instance import Instance
from web import create_app

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def instance(settings: Settings, db: Database) -> Instance:
    secrets = Secrets(session_key="test-session-key-" + "x" * 32, token_keys=(Fernet.generate_key().decode(),))
    return Instance(settings=settings, secrets=secrets, db=db)


@pytest.fixture
def app(instance: Instance) -> Flask:
    return create_app(overrides={"RECS_INSTANCE": instance, "TESTING": True, "RECS_CLOCK": lambda: NOW})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign_in(client: FlaskClient, member_id: int) -> None:
    """Sign the client in as *member_id* the way the callback does: the member id in the signed session."""
    with client.session_transaction() as sess:
        sess.clear()
        sess["member_id"] = member_id


def csrf_token(client: FlaskClient, page: str = "/settings") -> str:
    html = client.get(page).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def export_rows(n: int, uri: str = "spotify:track:" + "A" * 22) -> list[dict[str, object]]:
    """*n* extended-history rows (a data export's Streaming_History_Audio_*.json), one play a day of one song."""
    return [
        {
            "ts": f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}T12:00:42Z",
            "ms_played": 180000,
            "master_metadata_track_name": "Song A",
            "master_metadata_album_artist_name": "Artist A",
            "master_metadata_album_album_name": "Album A",
            "spotify_track_uri": uri,
            "reason_start": "trackdone",
            "reason_end": "trackdone",
            "shuffle": False,
            "skipped": False,
            "incognito_mode": False,
        }
        for day in range(n)
    ]


def post(client: FlaskClient, path: str, data: dict[str, object] | None = None, page: str = "/settings") -> object:
    """POST with a valid CSRF token taken from *page*, as a browser would."""
    body = dict(data or {})
    body["csrf_token"] = csrf_token(client, page)
    return client.post(path, data=body)


def track(n: int, artist: int) -> TrackInfo:
    return TrackInfo(
        spotify_id=f"t{n:021d}",
        name=f"Song {n:02d}",
        artists=(ArtistInfo(f"a{artist:021d}", f"Artist {artist}"),),
        album=AlbumInfo(f"b{n:021d}", f"Album {n}", image_url=f"https://i.scdn.co/image/{n}"),
        duration_ms=180_000,
    )


@dataclass
class Household:
    owner: int
    member: int
    # Tracks only the owner played (and the owner's recommendations), tracks only the member played.
    owner_tracks: list[int]
    member_tracks: list[int]
    owner_artist: int
    member_artist: int
    member_import: int
    run_id: int


def build_household(db: Database, now: datetime = NOW) -> Household:
    """Two members with separate history, each with a current recommendation list and an import."""
    with db.write() as conn:
        owner = create_member(conn, "owner-spotify", "Olive Owner", role="owner", timezone="Europe/Paris", now=now)
        member = create_member(conn, "member-spotify", "Milo Member", timezone="UTC", now=now)
        for m in (owner.id, member.id):
            for p in ("store", "train", "publish"):
                set_consent(conn, m, p, True, now)  # type: ignore[arg-type]
        ids = upsert_tracks(conn, [track(n, 1 if n < 10 else 2) for n in range(20)])
        owner_tracks = [ids[f"t{n:021d}"] for n in range(10)]
        member_tracks = [ids[f"t{n:021d}"] for n in range(10, 20)]
        plays = []
        for day in range(400):
            for k in range(3):
                t = owner_tracks[(day + k) % 7]
                plays.append(PlayRow(now - timedelta(days=day, hours=k * 5), t, "api", ms_played=120_000))
        insert_plays(conn, owner.id, plays)
        insert_plays(
            conn,
            member.id,
            [PlayRow(now - timedelta(days=d, hours=3), member_tracks[d % 10], "export", 200_000) for d in range(50)],
        )
        run_id = int(
            conn.execute(
                s.model_runs.insert().values(
                    started_at=now - timedelta(hours=5),
                    finished_at=now - timedelta(hours=4),
                    status="succeeded",
                    model_kind="als",
                    metrics={"ndcg@10": 0.21, "recall@10": 0.3},
                    baselines={"popular": {"ndcg@10": 0.12, "recall@10": 0.2}},
                    is_current=True,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        recs = [(owner.id, t, "discover", r) for r, t in enumerate(owner_tracks[7:])]
        recs += [(member.id, t, "discover", r) for r, t in enumerate(member_tracks[5:])]
        for mid, t, mode, rank in recs:
            conn.execute(
                s.recommendations.insert().values(
                    run_id=run_id,
                    member_id=mid,
                    mode=mode,
                    rank=rank,
                    track_id=t,
                    score=1.0 - rank / 10,
                    explanation=f"Because you played Song {rank}",
                )
            )
        member_import = int(
            conn.execute(
                s.imports.insert().values(
                    member_id=member.id,
                    started_at=now,
                    finished_at=now,
                    source_name="member-secret-export.zip",
                    status="succeeded",
                    report={"plays_imported": 50, "files": ["Streaming_History_Audio_2025_0.json"]},
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        artist_of = dict(
            conn.execute(
                s.track_artists.select().with_only_columns(s.track_artists.c.track_id, s.track_artists.c.artist_id)
            ).all()
        )
    return Household(
        owner=owner.id,
        member=member.id,
        owner_tracks=owner_tracks,
        member_tracks=member_tracks,
        owner_artist=int(artist_of[owner_tracks[0]]),
        member_artist=int(artist_of[member_tracks[0]]),
        member_import=member_import,
        run_id=run_id,
    )


@pytest.fixture
def household(db: Database) -> Household:
    return build_household(db)


@pytest.fixture
def owner_client(client: FlaskClient, household: Household) -> Iterator[FlaskClient]:
    sign_in(client, household.owner)
    yield client
