"""A failed publish is kept per member with its reason, and both the member's page and the owner's health say so."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import pytest
from flask.testing import FlaskClient

from recs.emulator import EmulatorServer
from recs.spotify.errors import SpotifyError
from recs.storage.members import get_member
from recs.storage.publishing import get_playlist_state
from recs.usecases import ingest
from recs.usecases.instance import Instance
from recs.usecases.playlists import publish_member
from tests.publishing.conftest import catalogue_tracks, sign_in, store_run
from web import create_app


def _client(instance: Instance, clock: Callable[[], datetime], member_id: int) -> FlaskClient:
    app = create_app(overrides={"RECS_INSTANCE": instance, "TESTING": True, "RECS_CLOCK": clock})
    client = app.test_client()
    with client.session_transaction() as session:
        session["member_id"] = member_id
    return client


def _health_row(html: str, name: str) -> str:
    row = re.search(rf"<tr>\s*<th scope=\"row\">{re.escape(name)}</th>.*?</tr>", html, re.S)
    assert row, f"no health row for {name}"
    return row.group(0)


def test_a_403_on_the_playlist_is_recorded_shown_to_the_member_and_the_owner_then_cleared(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)  # the first to sign in owns the instance
    store_run(instance, [member], catalogue_tracks(emulator, 20))
    emulator.control.add_fault(
        "PUT",
        "/v1/playlists/*/items",
        403,
        body={"error": {"status": 403, "message": "You cannot edit this playlist"}},
    )
    with pytest.raises(SpotifyError):
        publish_member(instance, member, clock())
    with instance.db.read() as conn:
        state = get_playlist_state(conn, member, "discover")
    assert state.failure == "forbidden" and state.failed_at is not None
    assert state.failure_detail == "You cannot edit this playlist"

    client = _client(instance, clock, member)
    page = client.get("/recommendations").get_data(as_text=True)
    assert "failed: Spotify refused to let recs change the playlist" in page
    assert "You cannot edit this playlist" in page and "Reconnect Spotify" in page
    assert "No playlist published yet" not in page
    row = _health_row(client.get("/admin").get_data(as_text=True), str(_name(instance, member)))
    assert 'badge bad">last publish refused by Spotify (403 on the playlist)' in row
    assert "delete the playlist" in row and 'badge ok">ok<' not in row

    # The next publish writes: the failure is over on both pages.
    assert publish_member(instance, member, clock())[0].status in ("written", "created")
    with instance.db.read() as conn:
        assert get_playlist_state(conn, member, "discover").failed_at is None
    page = client.get("/recommendations").get_data(as_text=True)
    assert "publish-failed" not in page and "in your Spotify, written" in page
    assert "last publish" not in _health_row(client.get("/admin").get_data(as_text=True), _name(instance, member))


def test_a_member_off_the_allow_list_is_flagged_by_a_refused_publish(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    users = [m["user_id"] for m in emulator.control.members()[:2]]
    owner, member = (sign_in(instance, emulator, u, clock) for u in users)
    store_run(instance, [member], catalogue_tracks(emulator, 10))
    emulator.control.set_allowlisted(users[1], False)
    with pytest.raises(SpotifyError):
        publish_member(instance, member, clock())
    with instance.db.read() as conn:
        assert get_playlist_state(conn, member, "discover").failure == "not_allowlisted"
        flagged = get_member(conn, member)
    assert flagged is not None and flagged.not_allowlisted
    page = _client(instance, clock, member).get("/recommendations").get_data(as_text=True)
    assert "your account is not on this app&#39;s list of users" in page
    row = _health_row(_client(instance, clock, owner).get("/admin").get_data(as_text=True), _name(instance, member))
    assert 'badge bad">not on the app&#39;s Spotify allow-list' in row


def test_revoked_grants_and_removal_from_the_allow_list_are_not_ok_after_a_sync(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    users = [m["user_id"] for m in emulator.control.members()[:3]]
    owner, revoked, removed = (sign_in(instance, emulator, u, clock) for u in users)

    def sleep(seconds: float) -> None:
        emulator.control.advance(seconds)

    for report in ingest.sync_all(instance, now=clock, sleep=sleep, force=True):
        assert not report.errors, report.errors
    admin = _client(instance, clock, owner)
    html = admin.get("/admin").get_data(as_text=True)
    for mid in (owner, revoked, removed):
        assert 'badge ok">ok<' in _health_row(html, _name(instance, mid))

    emulator.control.revoke(users[1])
    emulator.control.set_allowlisted(users[2], False)
    emulator.control.advance(hours=2)  # access tokens expired: each member refreshes
    ingest.sync_all(instance, now=clock, sleep=sleep, force=True)
    html = admin.get("/admin").get_data(as_text=True)
    assert 'badge ok">ok<' in _health_row(html, _name(instance, owner))
    row = _health_row(html, _name(instance, revoked))
    assert 'badge bad">Spotify access revoked or expired' in row and "sign in again" in row
    row = _health_row(html, _name(instance, removed))
    assert 'badge bad">not on the app&#39;s Spotify allow-list' in row
    assert 'badge ok">ok<' not in row


def _name(instance: Instance, member_id: int) -> str:
    with instance.db.read() as conn:
        m = get_member(conn, member_id)
    assert m is not None
    return m.display_name


def test_a_refused_track_is_told_to_the_member_beside_the_published_rest(
    instance: Instance, emulator: EmulatorServer, clock: Callable[[], datetime]
) -> None:
    user = emulator.control.members()[0]["user_id"]
    member = sign_in(instance, emulator, user, clock)
    store_run(instance, [member], [*catalogue_tracks(emulator, 9), "000000000000000000Gone"])
    result = publish_member(instance, member, clock())[0]
    assert result.status == "created" and len(result.dropped) == 1
    client = _client(instance, clock, member)
    page = client.get("/recommendations").get_data(as_text=True)
    assert "Spotify refused 1 song of it; the rest was published." in page and "publish-failed" not in page
    row = _health_row(client.get("/admin").get_data(as_text=True), _name(instance, member))
    assert "Spotify refused 1 track of the last playlist" in row
