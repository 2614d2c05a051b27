"""Download my data: the zip holds everything stored about the member, matches the database, and nothing of anyone else."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime

import sqlalchemy as sa
from flask.testing import FlaskClient
from web_helpers import NOW, Household, build_household, sign_in

from recs.storage import Database
from recs.storage import schema as s
from recs.usecases import takeout


def _download(client: FlaskClient) -> zipfile.ZipFile:
    response = client.get("/settings/download")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed  # written as it is sent, not built in memory first
    assert "attachment" in response.headers["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    with archive.open(f"{name}.csv") as f:
        return list(csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")))


def test_the_zip_matches_the_database_and_holds_nothing_of_another_member(
    client: FlaskClient, db: Database, household: Household
) -> None:
    with db.write() as conn:
        conn.execute(
            s.hidden_tracks.insert().values(
                member_id=household.member, track_id=household.member_tracks[1], created_at=sa.func.now()
            )
        )
    sign_in(client, household.member)
    archive = _download(client)
    assert archive.namelist() == takeout.file_names()
    meta = json.loads(archive.read("member.json"))
    assert meta["member"]["id"] == household.member and meta["member"]["display_name"] == "Milo Member"

    with db.read() as conn:
        plays = conn.execute(
            sa.select(s.plays.c.played_at, s.tracks.c.spotify_id, s.plays.c.source, s.plays.c.ms_played)
            .join(s.tracks, s.tracks.c.id == s.plays.c.track_id)
            .where(s.plays.c.member_id == household.member)
        ).all()
        recs = conn.execute(
            sa.select(s.recommendations.c.rank, s.recommendations.c.explanation, s.tracks.c.name)
            .join(s.tracks, s.tracks.c.id == s.recommendations.c.track_id)
            .where(s.recommendations.c.member_id == household.member)
        ).all()
        owner_ids = set(
            conn.execute(sa.select(s.tracks.c.spotify_id).where(s.tracks.c.id.in_(household.owner_tracks))).scalars()
        )
    stored = {(p.played_at.isoformat(), p.spotify_id, p.source, str(p.ms_played)) for p in plays}
    got = _csv(archive, "plays")
    assert len(got) == len(plays) == 50
    assert {
        (datetime.fromisoformat(r["played_at"]).isoformat(), r["track_spotify_id"], r["source"], r["ms_played"])
        for r in got
    } == stored
    assert {r["member_id"] for r in got} == {str(household.member)}
    got_recs = _csv(archive, "recommendations")
    assert sorted((int(r["rank"]), r["explanation"], r["track_name"]) for r in got_recs) == sorted(
        (r.rank, r.explanation, r.name) for r in recs
    )
    assert [r["track_id"] for r in _csv(archive, "hidden_tracks")] == [str(household.member_tracks[1])]
    assert {r["purpose"] for r in _csv(archive, "consents")} == {"store", "train", "publish", "blend"}
    assert [r["source_name"] for r in _csv(archive, "imports")] == ["member-secret-export.zip"]
    # Every file has its header, even when the member has no rows in it.
    assert _csv(archive, "blocked_artists") == [] and archive.read("blocked_artists.csv").startswith(b"member_id,")

    everything = b"".join(archive.read(n) for n in archive.namelist()).decode()
    for other in ("Olive Owner", "owner-spotify", *owner_ids):
        assert other not in everything, other

    # Signed in as the other member: their own data, none of the first member's.
    sign_in(client, household.owner)
    theirs = _download(client)
    everything = b"".join(theirs.read(n) for n in theirs.namelist()).decode()
    assert json.loads(theirs.read("member.json"))["member"]["id"] == household.owner
    assert "Milo Member" not in everything and "member-secret-export.zip" not in everything
    assert {r["member_id"] for r in _csv(theirs, "plays")} == {str(household.owner)}


def test_the_download_needs_a_signed_in_member(client: FlaskClient, household: Household) -> None:
    response = client.get("/settings/download")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_the_zip_streams_from_either_database(any_db: Database) -> None:
    """Rows are read with a streaming cursor (server-side on PostgreSQL), in chunks smaller than the history."""
    h = build_household(any_db)
    pieces = list(takeout.member_zip(any_db, h.member, NOW, chunk=7))
    assert len(pieces) > 50 // 7  # one piece per chunk of rows at least: sent while written
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert len(_csv(archive, "plays")) == 50 and {r["member_id"] for r in _csv(archive, "plays")} == {str(h.member)}
