"""Fixtures for publishing: the emulator over HTTP, an instance pointed at it, signed-in members and a model run."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from recs.core.config import Settings
from recs.core.domain import TrackInfo
from recs.core.keys import Secrets
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.storage.catalog import upsert_tracks
from recs.storage.members import set_consent
from recs.storage.schema import model_runs, recommendations
from recs.usecases.accounts import begin_sign_in, complete_sign_in, create_invite
from recs.usecases.instance import Instance

REDIRECT = "http://127.0.0.1:8000/auth/callback"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=11, members=3, history_days=30) as server:
        yield server


def emulator_instance(settings: Settings, db: Database, emulator: EmulatorServer, **sections: object) -> Instance:
    """An instance on *db* whose Spotify is the emulator (its URLs, app id and secret); *sections* replace settings."""
    spotify = dataclasses.replace(
        settings.spotify,
        client_id=emulator.client_id,
        redirect_uri=REDIRECT,
        api_base_url=emulator.api_base_url,
        accounts_base_url=emulator.accounts_base_url,
    )
    secrets = Secrets("s" * 40, (Fernet.generate_key().decode(),), client_secret=emulator.client_secret)
    return Instance(settings=dataclasses.replace(settings, spotify=spotify, **sections), secrets=secrets, db=db)  # type: ignore[arg-type]


@pytest.fixture
def instance(settings: Settings, db: Database, emulator: EmulatorServer) -> Iterator[Instance]:
    yield emulator_instance(settings, db, emulator)


@pytest.fixture
def clock(emulator: EmulatorServer) -> Callable[[], datetime]:
    return emulator.control.now


def sign_in(instance: Instance, emulator: EmulatorServer, user_id: str, clock: Callable[[], datetime]) -> int:
    """The real code flow: our authorize URL, the emulator's non-interactive consent, our callback."""
    from recs.storage.members import count_members

    with instance.db.read() as conn:
        first = count_members(conn) == 0
    if not first:
        create_invite(instance, by_member_id=None, now=clock, spotify_id=user_id)
    start = begin_sign_in(instance, clock)
    response = requests.get(start.authorize_url + f"&emulator_user={user_id}&auto=1", allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    result = complete_sign_in(instance, state=query["state"][0], code=query["code"][0], error=None, now=clock)
    with instance.db.write() as conn:
        for purpose in ("store", "train", "publish"):
            set_consent(conn, result.member.id, purpose, True, now=clock())
    return result.member.id


def catalogue_tracks(emulator: EmulatorServer, n: int) -> list[str]:
    """Spotify ids of *n* tracks of the emulator's catalogue, the ones its members played first."""
    truth = emulator.control.ground_truth()
    ids: list[str] = list(dict.fromkeys(play["track_id"] for play in truth["plays"]))
    ids += [t for t in emulator.emulator.catalog.tracks if t not in set(ids)]
    assert len(ids) >= n, f"the emulator's catalogue holds only {len(ids)} tracks"
    return ids[:n]


def store_run(
    instance: Instance,
    member_ids: list[int],
    spotify_ids: list[str],
    *,
    artists_per: int = 1,
    source: str | None = None,
    names: str = "Track",
) -> int:
    """A current model run recommending *spotify_ids* in order (artist k = index // artists_per).

    *source* 'open' marks every entry as a track from the community prior that no member played.
    """
    from recs.core.domain import ArtistInfo

    infos = [
        TrackInfo(sid, f"{names} {i}", (ArtistInfo(f"artist{i // artists_per:016d}", f"Artist {i // artists_per}"),))
        for i, sid in enumerate(spotify_ids)
    ]
    now = datetime.now(UTC)
    with instance.db.write() as conn:
        ids = upsert_tracks(conn, infos)
        conn.execute(model_runs.update().values(is_current=False))
        run_id = int(
            conn.execute(
                model_runs.insert().values(started_at=now, finished_at=now, status="succeeded", is_current=True)
            ).inserted_primary_key[0]
        )
        for member_id in member_ids:
            conn.execute(
                recommendations.insert(),
                [
                    {
                        "run_id": run_id,
                        "member_id": member_id,
                        "mode": "discover",
                        "rank": rank,
                        "track_id": ids[sid],
                        "score": 1.0 / (rank + 1),
                        "source": source,
                    }
                    for rank, sid in enumerate(spotify_ids)
                ],
            )
    return run_id


def instance_env(instance: Instance) -> dict[str, str]:
    """The environment a `recs` subprocess needs to open this test's instance."""
    s, k = instance.settings, instance.secrets
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECS_")}
    env.update(
        {
            "RECS_INSTANCE__DATA_DIR": s.instance.data_dir,
            "RECS_SPOTIFY__CLIENT_ID": s.spotify.client_id,
            "RECS_SPOTIFY__REDIRECT_URI": s.spotify.redirect_uri,
            "RECS_SPOTIFY__API_BASE_URL": s.spotify.api_base_url,
            "RECS_SPOTIFY__ACCOUNTS_BASE_URL": s.spotify.accounts_base_url,
            "RECS_SECRETS__SESSION_KEY": k.session_key,
            "RECS_SECRETS__TOKEN_KEYS": ",".join(k.token_keys),
            "RECS_SECRETS__CLIENT_SECRET": k.client_secret,
        }
    )
    return env
