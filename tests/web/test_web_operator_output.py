"""The admin page prints counts as counts (`users 4`), and cards link to a page that has the track (issue 16, item 8)."""

from __future__ import annotations

import dataclasses

from flask.testing import FlaskClient
from sqlalchemy import update
from web_helpers import NOW, Household, sign_in

from recs.emulator import EmulatorServer
from recs.storage import Database
from recs.storage import schema as s
from recs.usecases.instance import Instance
from web import create_app


def test_admin_page_prints_users_as_a_whole_number(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    with db.write() as conn:
        conn.execute(
            update(s.model_runs)
            .where(s.model_runs.c.id == household.run_id)
            .values(metrics={"ndcg@10": 0.21, "users": 4.0})
        )
    page = owner_client.get("/admin").get_data(as_text=True)
    assert "Measured on 4 members with held-out listening." in page
    assert "4.000" not in page
    assert "NDCG@10 (how high the songs members really played next sit in their top 10; 0 to 1) 0.210" in page


def test_emulator_has_a_page_for_each_of_its_tracks() -> None:
    import requests

    with EmulatorServer(seed=3, members=1) as server:
        track_id = next(iter(server.emulator.catalog.tracks))
        name = server.emulator.catalog.tracks[track_id].name
        page = requests.get(f"{server.base_url}/track/{track_id}", timeout=10)
        missing = requests.get(f"{server.base_url}/track/nope", timeout=10)
    assert page.status_code == 200 and "only in the recs Spotify emulator" in page.text
    assert name.replace("&", "&amp;") in page.text or name in page.text
    assert missing.status_code == 404


def test_cards_link_to_spotify_or_say_they_open_the_emulator(instance: Instance, household: Household) -> None:
    def page(inst: Instance) -> str:
        client = create_app(overrides={"RECS_INSTANCE": inst, "TESTING": True, "RECS_CLOCK": lambda: NOW}).test_client()
        sign_in(client, household.owner)
        return client.get("/recommendations").get_data(as_text=True)

    real = page(instance)
    assert 'href="https://open.spotify.com/track/' in real and "Open in Spotify" in real
    spotify = dataclasses.replace(instance.settings.spotify, api_base_url="http://127.0.0.1:5555/v1/")
    emulated = page(dataclasses.replace(instance, settings=dataclasses.replace(instance.settings, spotify=spotify)))
    assert 'href="http://127.0.0.1:5555/track/' in emulated and "Open in the emulator" in emulated
    assert "open.spotify.com" not in emulated and "Open in Spotify" not in emulated
