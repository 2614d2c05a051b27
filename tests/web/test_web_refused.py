"""The admin page lists the tracks Spotify refused in playlist writes, with whose playlist and why."""

from __future__ import annotations

from flask.testing import FlaskClient
from web_helpers import NOW, Household

from recs.storage import Database
from recs.storage import schema as s


def test_admin_lists_tracks_spotify_refused(owner_client: FlaskClient, db: Database, household: Household) -> None:
    assert 'id="refused"' not in owner_client.get("/admin").get_data(as_text=True)
    with db.write() as conn:
        track = conn.execute(
            s.tracks.insert().values(spotify_id="000000000000000000Gone", name="Vanished Song", name_key="x|vanished")
        ).inserted_primary_key[0]
        conn.execute(
            s.rejected_tracks.insert().values(
                track_id=track,
                member_id=household.member,
                kind="discover",
                reason="Payload contains a non-existing ID",
                rejected_at=NOW,
            )
        )
    html = owner_client.get("/admin").get_data(as_text=True)
    assert 'id="refused"' in html and "Vanished Song" in html and "000000000000000000Gone" in html
    assert "Payload contains a non-existing ID" in html and "discover" in html
