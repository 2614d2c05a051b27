"""Every dashboard page as a signed-in member or owner: content, guards, headers, cookies and friendly errors."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import NOW, Household, csrf_token, sign_in

from recs.storage import Database
from recs.storage import schema as s
from recs.storage.members import create_member, set_consent, update_member
from recs.usecases.instance import Instance
from web import create_app

MEMBER_PAGES = [
    "/listening",
    "/listening?range=6m",
    "/listening?range=all",
    "/recommendations",
    "/recommendations?mode=rediscover",
    "/import",
    "/settings",
]


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient, household: Household) -> None:
    for page in [*MEMBER_PAGES, "/admin", "/consent"]:
        response = client.get(page)
        assert response.status_code == 302, page
        assert "/signin" in response.headers["Location"]
    page = client.get("/signin")
    assert page.status_code == 200
    assert b"Sign in with Spotify" in page.data
    assert b"<title>Sign in \xc2\xb7 recs</title>" in page.data


@pytest.mark.parametrize("page", MEMBER_PAGES)
def test_member_pages_render_for_a_member(client: FlaskClient, household: Household, page: str) -> None:
    sign_in(client, household.member)
    response = client.get(page)
    assert response.status_code == 200, page
    html = response.get_data(as_text=True)
    assert "<main" in html and 'lang="en"' in html and "favicon.svg" in html
    assert "Milo Member" in html
    assert 'href="/admin"' not in html  # members get no admin link


def test_listening_page_draws_the_members_charts(owner_client: FlaskClient) -> None:
    html = owner_client.get("/listening").get_data(as_text=True)
    assert html.count('<svg class="chart') == 4  # the bars twice: drawn for the page and for a phone
    assert "Hours per week" in html and "When you listen" in html and "New or familiar?" in html
    assert "Europe/Paris" in html  # the owner's timezone is named
    assert "Song 00" in html and "Artist 1" in html
    plays = owner_client.get("/listening?unit=plays").get_data(as_text=True)
    assert "Plays per week" in plays and 'aria-current="page">Plays' in plays
    recent = owner_client.get("/listening?range=4w").get_data(as_text=True)
    assert 'aria-current="page">Last 4 weeks' in recent


def test_listening_page_explains_an_empty_history(client: FlaskClient, db: Database, household: Household) -> None:
    with db.write() as conn:
        new = create_member(conn, "newbie", "New Person", now=NOW)
    from recs.storage.members import set_consent

    with db.write() as conn:
        set_consent(conn, new.id, "store", True, NOW)
    sign_in(client, new.id)
    html = client.get("/listening").get_data(as_text=True)
    assert "No plays yet" in html and "import your Spotify data export" in html


def test_recommendations_show_cover_explanation_and_spotify_link(owner_client: FlaskClient) -> None:
    html = owner_client.get("/recommendations").get_data(as_text=True)
    assert "Song 07" in html and "Song 09" in html
    assert "https://i.scdn.co/image/7" in html
    assert "Because you played Song 0" in html
    assert "https://open.spotify.com/track/t000000000000000000007" in html
    assert "Not for me" in html and "Block artist" in html and "Publish to Spotify now" in html
    assert 'id="playlist-settings"' in html


def test_admin_is_for_the_owner_only(client: FlaskClient, household: Household) -> None:
    sign_in(client, household.member)
    assert client.get("/admin").status_code == 403
    token = csrf_token(client)
    assert client.post("/admin/jobs", data={"job": "train", "csrf_token": token}).status_code == 403
    sign_in(client, household.owner)
    html = client.get("/admin").get_data(as_text=True)
    assert "Milo Member" in html and "Olive Owner" in html
    assert "calls used in the last 24 hours" in html
    assert "Model quality per run" in html  # the metrics chart
    assert "Train the model now" in html
    # The owner sees whether syncing works, never what the member listened to or imported.
    for private in ("member-secret-export.zip", "Artist 2", *(f"Song {n}" for n in range(10, 20))):
        assert private not in html


def test_consent_is_asked_before_member_pages(client: FlaskClient, db: Database) -> None:
    with db.write() as conn:
        new = create_member(conn, "undecided", "Una Decided", now=NOW)
    sign_in(client, new.id)
    response = client.get("/listening")
    assert response.status_code == 302 and response.headers["Location"].endswith("/consent")
    page = client.get("/consent").get_data(as_text=True)
    assert "What is stored" in page and "Who sees what" in page and "How to leave" in page


def test_security_headers_on_every_answer(owner_client: FlaskClient) -> None:
    for path in ["/listening", "/does-not-exist", "/static/style.css"]:
        with owner_client.get(path) as response:
            headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert csp.startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert owner_client.get("/listening").headers["Cache-Control"] == "no-store"
    # Plain HTTP (the test instance's public URL): no HSTS, a browser must not pin a local instance to https.
    assert "Strict-Transport-Security" not in owner_client.get("/listening").headers


def test_hsts_behind_https(instance: Instance, household: Household) -> None:
    https = dataclasses.replace(
        instance,
        settings=dataclasses.replace(
            instance.settings,
            instance=dataclasses.replace(instance.settings.instance, public_url="https://music.example.org"),
        ),
    )
    client = create_app(overrides={"RECS_INSTANCE": https, "TESTING": True}).test_client()
    for path in ["/signin", "/does-not-exist", "/static/style.css"]:
        with client.get(path) as response:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000", path
    sign_in(client, household.owner)
    assert client.get("/listening").headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_flags(instance: Instance, household: Household) -> None:
    http_app = create_app(overrides={"RECS_INSTANCE": instance, "TESTING": True})
    cookie = _session_cookie(http_app, household.owner)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = dataclasses.replace(
        instance,
        settings=dataclasses.replace(
            instance.settings,
            instance=dataclasses.replace(instance.settings.instance, public_url="https://music.example.org"),
        ),
    )
    cookie = _session_cookie(create_app(overrides={"RECS_INSTANCE": https, "TESTING": True}), household.owner)
    assert "Secure" in cookie and "HttpOnly" in cookie


def _session_cookie(app: Flask, member_id: int) -> str:
    client = app.test_client()
    sign_in(client, member_id)
    response = client.get("/listening")
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("recs_session="))


def test_errors_are_friendly_pages_without_stack_traces(instance: Instance, household: Household) -> None:
    app = create_app(overrides={"RECS_INSTANCE": instance, "TESTING": True, "RECS_FRIENDLY_ERRORS": True})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals /home/x/recs.py line 42")

    client = app.test_client()
    sign_in(client, household.owner)
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something broke on our side" in html
    assert "Traceback" not in html and "secret internals" not in html
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and "Nothing here" in missing.get_data(as_text=True)
    assert client.get("/signout").status_code == 405  # sign out is a POST only


def test_sign_out_ends_the_session(owner_client: FlaskClient) -> None:
    token = csrf_token(owner_client)
    response = owner_client.post("/signout", data={"csrf_token": token})
    assert response.status_code == 302
    assert owner_client.get("/listening").status_code == 302


def test_a_deleted_members_cookie_signs_nobody_in(client: FlaskClient, db: Database, household: Household) -> None:
    sign_in(client, household.member)
    from recs.storage.members import delete_member

    with db.write() as conn:
        delete_member(conn, household.member)
    assert client.get("/listening").status_code == 302


def test_favicon_and_root(owner_client: FlaskClient) -> None:
    assert owner_client.get("/").headers["Location"].endswith("/listening")
    assert owner_client.get("/favicon.ico").headers["Location"].endswith("/static/favicon.svg")
    with owner_client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"


def _health_row(html: str, name: str) -> str:
    row = html.split(f'<th scope="row">{name}</th>')[1].split("</tr>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))


def test_admin_health_follows_consent_sync_and_publish_outcomes(
    client: FlaskClient, db: Database, household: Household
) -> None:
    sign_in(client, household.owner)
    with db.write() as conn:
        for mid in (household.owner, household.member):
            conn.execute(s.sync_cursors.insert().values(member_id=mid, stream="recently_played", last_success_at=NOW))
    html = client.get("/admin").get_data(as_text=True)
    assert " ok " in _health_row(html, "Milo Member")
    # No consent to keep listening: not "ok", and not a poll that never happened.
    with db.write() as conn:
        set_consent(conn, household.member, "store", False, NOW)
    assert "not collecting: no consent to keep listening" in _health_row(
        client.get("/admin").get_data(as_text=True), "Milo Member"
    )
    with db.write() as conn:
        set_consent(conn, household.member, "store", True, NOW)
        # A publish in which Spotify refused a track.
        conn.execute(
            s.published_playlists.insert().values(
                member_id=household.member, kind="discover", spotify_playlist_id="p" * 22, written_at=NOW
            )
        )
        conn.execute(
            s.rejected_tracks.insert().values(
                track_id=household.member_tracks[0],
                member_id=household.member,
                kind="discover",
                reason="Spotify said the track id is invalid",
                rejected_at=NOW,
            )
        )
        conn.execute(
            s.sync_cursors.update()
            .where(s.sync_cursors.c.member_id == household.owner)
            .values(last_error="HTTP 403 from /me/player/recently-played")
        )
    html = client.get("/admin").get_data(as_text=True)
    assert "Spotify refused 1 track of the last playlist" in _health_row(html, "Milo Member")
    assert "last poll failed: HTTP 403" in _health_row(html, "Olive Owner")
    with db.write() as conn:
        update_member(conn, household.member, reconnect_needed=True)
    row = _health_row(client.get("/admin").get_data(as_text=True), "Milo Member")
    assert "Spotify access revoked or expired" in row and "sign in again" in row


def test_the_footer_privacy_link_on_the_sign_in_page_leads_to_privacy_words(client: FlaskClient) -> None:
    html = client.get("/signin").get_data(as_text=True)
    # Not to the page itself (issue 15 item 16): to a page of its own, which anyone may open.
    footer = html.split('<footer class="bottom">')[1]
    assert 'href="/privacy">Privacy</a>' in footer and "/signin" not in footer
    privacy = client.get("/privacy")
    assert privacy.status_code == 200
    assert "Who sees what" in privacy.get_data(as_text=True)


def test_one_play_is_one_play(client: FlaskClient, db: Database, household: Household) -> None:
    from recs.core.domain import PlayRow
    from recs.storage.listening import insert_plays

    with db.write() as conn:
        me = create_member(conn, "once-spotify", "Onni Once", timezone="UTC", now=NOW)
        for p in ("store", "train", "publish"):
            set_consent(conn, me.id, p, True, NOW)  # type: ignore[arg-type]
        insert_plays(conn, me.id, [PlayRow(NOW - timedelta(days=1), household.member_tracks[0], "api", 200_000)])
    sign_in(client, me.id)
    html = client.get("/listening").get_data(as_text=True)
    assert '<span class="count">1 play</span>' in html and "1 plays" not in html


def test_top_lists_rank_link_and_picture_and_recent_plays(owner_client: FlaskClient, db: Database) -> None:
    """Item 10: ranks, covers asked at the size shown, links to Spotify, top albums and the latest plays."""
    from recs.storage.schema import albums, tracks

    with db.write() as conn:
        conn.execute(albums.update().values(image_url="https://i.scdn.co/image/ab67616d0000b273" + "ab" * 12))
        album_ids = conn.execute(sa.select(tracks.c.album_id).where(tracks.c.album_id.is_not(None))).scalars().all()
    assert album_ids, "the household's tracks have albums"
    html = owner_client.get("/listening?range=all").get_data(as_text=True)
    top = html.split('id="top"')[1].split("</section>")[0]
    assert "<h3>Albums</h3>" in top
    assert '<span class="rank" aria-hidden="true">1</span>' in top
    # Shown at 40 px: the 64 px cover by default, the three sizes for the browser to choose from.
    assert 'src="https://i.scdn.co/image/ab67616d00004851' in top
    assert "ab67616d00001e02" + "ab" * 12 + " 300w" in top and 'sizes="40px"' in top
    # The test instance's Spotify is the real one: tracks link to open.spotify.com.
    assert 'href="https://open.spotify.com/track/' in top
    assert '<svg class="bar"' in top and "<meter" not in top
    recent = html.split('id="recent"')[1].split("</section>")[0]
    assert "Recently played" in recent and recent.count("<li>") >= 1
