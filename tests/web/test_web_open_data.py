"""The dashboard's open-data pieces: each card's source, a member's switch, and the prior on the admin page."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient
from web_helpers import Household, csrf_token, sign_in

from recs.storage import Database
from recs.storage import schema as s
from recs.storage.members import open_data_members

PRIOR = {
    "path": "/srv/recs/lb.prior.npz",
    "used": True,
    "error": None,
    "sources": ["listenbrainz-listens-dump-2043-20261201-000003-full.tar.zst"],
    "window": {"since": "2026-06-01T00:00:00+00:00", "until": None},
    "tracks": 123456,
    "factors": 64,
    "created_at": "2026-12-01T03:00:00+00:00",
    "format_version": 1,
    "weight": 0.75,
    "guard": 0.25,
    "chosen": "prior w0.75 g0.25",
    "note": "prior w0.75 g0.25 won the hold-out",
    "holdout": {"household": {"ndcg@10": 0.0123}, "prior w0.75 g0.25": {"ndcg@10": 0.2345}},
    "open_recommendations": 17,
}


def _set_run(db: Database, household: Household, prior: dict[str, object]) -> None:
    with db.write() as conn:
        conn.execute(
            sa.update(s.model_runs).where(s.model_runs.c.id == household.run_id).values(params={"prior": prior})
        )


def test_each_card_says_where_it_came_from(client: FlaskClient, db: Database, household: Household) -> None:
    with db.write() as conn:
        rows = s.recommendations.c
        conn.execute(
            sa.update(s.recommendations)
            .where(rows.member_id == household.owner, rows.rank == 0)
            .values(
                source="open",
                explanation="Listeners of Song 1 (a track you play) also play this, in open listening data",
            )
        )
        conn.execute(
            sa.update(s.recommendations)
            .where(rows.member_id == household.owner, rows.rank == 1)
            .values(source="household")
        )
    sign_in(client, household.owner)
    html = client.get("/recommendations").get_data(as_text=True)
    assert html.count("From open listening data: nobody here has played it") == 1
    assert html.count("From your household's listening") == 1


def test_a_member_turns_open_data_recommendations_off_and_on(
    client: FlaskClient, db: Database, household: Household
) -> None:
    sign_in(client, household.member)
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="open_data" name="open_data" value="yes" checked' in page, "on by default"
    token = csrf_token(client)
    reply = client.post("/settings/open-data", data={"csrf_token": token}, follow_redirects=True)
    assert "only your household" in reply.get_data(as_text=True)
    with db.read() as conn:
        assert open_data_members(conn, [household.member, household.owner]) == {household.owner}
    assert 'value="yes" checked' not in client.get("/settings").get_data(as_text=True).split('id="open-data"')[1][:800]
    client.post("/settings/open-data", data={"csrf_token": token, "open_data": "yes"})
    with db.read() as conn:
        assert open_data_members(conn, [household.member]) == {household.member}
    assert client.post("/settings/open-data", data={"open_data": "yes"}).status_code == 400, "CSRF checked"


def test_the_admin_page_shows_the_prior_in_use_and_its_last_hold_out(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    assert "No prior in use" in owner_client.get("/admin").get_data(as_text=True)
    _set_run(db, household, PRIOR)
    html = owner_client.get("/admin").get_data(as_text=True)
    for shown in (
        "listenbrainz-listens-dump-2043",
        "2026-06-01",
        "123,456 tracks",
        "2026-12-01T03:00",
        "prior weight 0.75",
    ):
        assert shown in html, shown
    assert (
        "with it 0.234" in html
        and "household only 0.012" in html
        and "17 entries no household member ever played" in html
    )
    _set_run(
        db,
        household,
        {"path": "/srv/recs/lb.prior.npz", "used": False, "error": "prior /srv/recs/lb.prior.npz: no such file"},
    )
    html = owner_client.get("/admin").get_data(as_text=True)
    assert "The prior was refused" in html and "prior /srv/recs/lb.prior.npz: no such file" in html
