"""'Save to my library' against the emulator over HTTP: PUT /me/library once, the scope it needs, the budget."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
import sqlalchemy as sa

from recs.core.config import Settings
from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.storage import schema as s
from recs.usecases.accounts import begin_sign_in, complete_sign_in
from recs.usecases.instance import Instance
from recs.usecases.saving import save_to_library
from tests.publishing.conftest import catalogue_tracks, emulator_instance, sign_in, store_run


def _calls(db: Database, purpose: str) -> list[str]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(s.api_calls.c.method, s.api_calls.c.endpoint).where(s.api_calls.c.purpose == purpose)
        )
        return [f"{m} {p}" for m, p in rows]


def _track_id(db: Database, spotify_id: str) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(s.tracks.c.id).where(s.tracks.c.spotify_id == spotify_id)).scalar_one())


def test_save_writes_the_library_once_and_records_it(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member_id = sign_in(instance, emulator, user, clock)
    spotify_ids = [t for t in catalogue_tracks(emulator, 60) if t not in emulator.emulator.household._saved_ids[user]]
    store_run(instance, [member_id], spotify_ids[:5])
    track_id = _track_id(instance.db, spotify_ids[0])

    result = save_to_library(instance, member_id, track_id, clock)
    assert (result.outcome, result.name) == ("saved", "Track 0")
    assert spotify_ids[0] in emulator.emulator.household._saved_ids[user]
    assert _calls(instance.db, "save") == ["PUT me/library"]
    with instance.db.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(s.saved_tracks)
                .where(s.saved_tracks.c.member_id == member_id, s.saved_tracks.c.track_id == track_id)
            ).scalar_one()
            == 1
        )
    # Saved already: said so, and no second call.
    assert save_to_library(instance, member_id, track_id, clock).outcome == "already"
    assert _calls(instance.db, "save") == ["PUT me/library"]


def _sign_in_without_library_write(
    instance: Instance, emulator: EmulatorServer, user: str, clock: Callable[[], datetime]
) -> int:
    """A member who signed in before recs asked for user-library-modify (the scope left out of the request)."""
    start = begin_sign_in(instance, clock)
    parts = urlsplit(start.authorize_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["scope"] = " ".join(x for x in query["scope"].split() if x != "user-library-modify")
    url = parts._replace(query=urlencode(query)).geturl()
    response = requests.get(url + f"&emulator_user={user}&auto=1", allow_redirects=False, timeout=10)
    back = parse_qs(urlsplit(response.headers["Location"]).query)
    return complete_sign_in(instance, state=back["state"][0], code=back["code"][0], error=None, now=clock).member.id


def test_a_member_without_the_scope_is_told_to_reconnect(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member_id = _sign_in_without_library_write(instance, emulator, user, clock)
    spotify_ids = catalogue_tracks(emulator, 3)
    store_run(instance, [member_id], spotify_ids)
    track_id = _track_id(instance.db, spotify_ids[0])
    assert save_to_library(instance, member_id, track_id, clock).outcome == "no-scope"
    assert _calls(instance.db, "save") == []  # known from the stored grant: no call spent
    # Should the stored grant claim it, Spotify's own refusal (403, insufficient scope) says the same.
    with instance.db.write() as conn:
        conn.execute(sa.update(s.tokens).values(scope=s.tokens.c.scope + " user-library-modify"))
    assert save_to_library(instance, member_id, track_id, clock).outcome == "no-scope"
    assert _calls(instance.db, "save") == ["PUT me/library"]


def test_a_spent_budget_saves_nothing_and_says_when(
    settings: Settings, db: Database, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    # 2 calls a day: "save" may bring the day's total to int(0.9 * 2) = 1 call, which signing in already used.
    instance = emulator_instance(settings, db, emulator, budget=dataclasses.replace(settings.budget, daily_calls=2))
    user = emulator.control.members()[0]["user_id"]
    member_id = sign_in(instance, emulator, user, clock)
    spotify_ids = [t for t in catalogue_tracks(emulator, 60) if t not in emulator.emulator.household._saved_ids[user]]
    store_run(instance, [member_id], spotify_ids[:3])
    result = save_to_library(instance, member_id, _track_id(db, spotify_ids[0]), clock)
    assert result.outcome == "budget"
    assert result.retry_at is not None and result.retry_at > clock()
    assert _calls(db, "save") == []
    assert spotify_ids[0] not in emulator.emulator.household._saved_ids[user]
