"""What members and the owner do on the dashboard: hide, block, publish, playlist settings, privacy, run now, invites."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from web_helpers import NOW, Household, csrf_token, post, sign_in

from recs.storage import Database
from recs.storage import schema as s
from recs.storage.members import create_member
from recs.usecases import feedback


def _follow(client: FlaskClient, response: object) -> str:
    location = response.headers["Location"]  # type: ignore[attr-defined]
    return client.get(location).get_data(as_text=True)


def test_not_for_me_hides_the_track_from_the_list(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    hidden = household.owner_tracks[7]
    response = post(owner_client, "/recommendations/hide", {"track_id": hidden}, page="/recommendations")
    assert response.status_code == 302  # type: ignore[attr-defined]
    page = _follow(owner_client, response)
    assert "Hidden: that song will not come back" in page
    cards = page.split('id="blocked"')[0]
    assert "Song 07" not in cards and "Song 08" in cards
    assert feedback.hidden_tracks(db, household.owner) == [hidden]
    assert "1 song hidden with" in page and "Bring back" in page
    # Hiding twice stores it once.
    post(owner_client, "/recommendations/hide", {"track_id": hidden}, page="/recommendations")
    assert feedback.hidden_tracks(db, household.owner) == [hidden]
    post(owner_client, "/recommendations/unhide", {"track_id": hidden}, page="/recommendations")
    assert feedback.hidden_tracks(db, household.owner) == []


def test_block_artist_until_a_date(owner_client: FlaskClient, db: Database, household: Household) -> None:
    until = (NOW + timedelta(days=30)).date()
    response = post(
        owner_client,
        "/recommendations/block",
        {"artist_id": household.owner_artist, "until": until.isoformat()},
        page="/recommendations",
    )
    page = _follow(owner_client, response)
    assert f"Artist 1 is blocked until {until:%d %b %Y} (that day included)" in page
    assert "Nothing here yet" in page  # every recommended song was by Artist 1
    (block,) = feedback.blocked_artists(db, household.owner, NOW.date())
    assert block.until == until
    # The block holds through its end date, and no longer the day after.
    assert len(feedback.blocked_artists(db, household.owner, until)) == 1
    assert feedback.my_recommendations(db, household.owner, "discover", until) == []
    after = until + timedelta(days=1)
    assert feedback.blocked_artists(db, household.owner, after) == []
    cards = feedback.my_recommendations(db, household.owner, "discover", after)
    assert [c.name for c in cards] == ["Song 07", "Song 08", "Song 09"]


def test_block_with_a_past_or_malformed_date_says_what_is_wrong(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    for value, message in [("2020-01-01", "has passed"), ("next week", "is not a date")]:
        response = post(
            owner_client,
            "/recommendations/block",
            {"artist_id": household.owner_artist, "until": value},
            "/recommendations",
        )
        assert message in _follow(owner_client, response)
    assert feedback.blocked_artists(db, household.owner) == []


def test_publish_now_queues_one_request_for_the_worker(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    for _ in range(2):
        response = post(owner_client, "/recommendations/publish", {}, page="/recommendations")
        assert "queued" in _follow(owner_client, response)
    (request,) = feedback.job_requests(db, household.owner)
    assert (request.job, request.member_id, request.status) == ("publish", household.owner, "queued")


def test_publish_is_offered_only_when_a_write_will_happen_and_says_what(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    page = owner_client.get("/recommendations").get_data(as_text=True)
    # The button says what the worker will write: three songs of one artist listed, two written (artist cap 2).
    assert page.count('<li class="rec') == 3
    assert "Publish to Spotify now" in page and "Writes your Discover playlist (2 songs)" in page
    response = post(owner_client, "/recommendations/publish", {}, page="/recommendations")
    assert "Publishing is queued: your Discover playlist (2 songs) will be written" in _follow(owner_client, response)
    # Playlist writing turned off: no button, the reason instead, and a forged POST queues nothing.
    with db.write() as conn:
        conn.execute(s.job_requests.delete())
    post(owner_client, "/settings/consent", {"store": "yes", "train": "yes"})
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert "Publish to Spotify now" not in page and "you have not agreed to it" in page
    response = post(owner_client, "/recommendations/publish", {}, page="/recommendations")
    assert "Nothing was published: writing playlists" in _follow(owner_client, response)
    assert feedback.job_requests(db, household.owner) == []
    # Writing on, but the Rediscover-only settings have an empty list: nothing to write, nothing offered.
    post(owner_client, "/settings/consent", {"store": "yes", "train": "yes", "publish": "yes"})
    settings = {"size": "25", "rediscover": "yes", "frequency": "weekly", "weekday": "0", "local_time": "07:00"}
    post(owner_client, "/recommendations/settings", settings, page="/recommendations")
    page = owner_client.get("/recommendations?mode=rediscover").get_data(as_text=True)
    assert "Publish to Spotify now" not in page and "Nothing to write to your Spotify yet" in page
    response = post(owner_client, "/recommendations/publish", {}, page="/recommendations")
    assert "Nothing was published: you have no recommendations yet." in _follow(owner_client, response)
    assert feedback.job_requests(db, household.owner) == []


def test_consent_with_nothing_ticked_says_nothing_is_collected(client: FlaskClient, db: Database) -> None:
    with db.write() as conn:
        me = create_member(conn, "nobody-spotify", "Nora", role="owner", timezone="UTC", now=NOW)
    sign_in(client, me.id)
    response = post(client, "/consent", {}, page="/consent")
    assert "you agreed to nothing, so recs stores none of your listening" in _follow(client, response)
    page = client.get("/listening").get_data(as_text=True)
    assert "recs is not collecting your plays" in page and "every few minutes from now on" not in page
    page = client.get("/recommendations").get_data(as_text=True)
    assert "Publish to Spotify now" not in page


def test_playlist_settings_are_validated_and_saved(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    good = {
        "size": "25",
        "discover": "yes",
        "rediscover": "yes",
        "frequency": "daily",
        "weekday": "4",
        "local_time": "18:30",
    }
    response = post(owner_client, "/recommendations/settings", good, page="/recommendations")
    assert "Playlist settings saved" in _follow(owner_client, response)
    saved = feedback.playlist_settings(db, household.owner, _defaults(owner_client))
    assert (saved.size, saved.discover, saved.rediscover, saved.frequency, saved.weekday, saved.local_time) == (
        25,
        True,
        True,
        "daily",
        4,
        "18:30",
    )
    for field, value, message in [
        ("size", "500", "between 1 and 100"),
        ("size", "many", "whole number"),
        ("local_time", "25:00", "HH:MM"),
        ("frequency", "hourly", "weekly or daily"),
    ]:
        response = post(owner_client, "/recommendations/settings", {**good, field: value}, page="/recommendations")
        assert message in _follow(owner_client, response)
    response = post(
        owner_client,
        "/recommendations/settings",
        {k: v for k, v in good.items() if k not in ("discover", "rediscover")},
        page="/recommendations",
    )
    assert "choose at least one playlist" in _follow(owner_client, response)
    assert feedback.playlist_settings(db, household.owner, _defaults(owner_client)).size == 25


def _defaults(client: FlaskClient):  # type: ignore[no-untyped-def]
    from web import instance_of

    return instance_of(client.application).settings.publish


def test_timezone_and_consent_settings(client: FlaskClient, db: Database, household: Household) -> None:
    sign_in(client, household.member)
    response = post(client, "/settings/timezone", {"timezone": "America/New_York"})
    assert "Your timezone is now America/New_York" in _follow(client, response)
    response = post(client, "/settings/timezone", {"timezone": "Narnia/Cair_Paravel"})
    assert "unknown timezone" in _follow(client, response)
    with db.read() as conn:
        tz = conn.execute(sa.select(s.members.c.timezone).where(s.members.c.id == household.member)).scalar_one()
    assert tz == "America/New_York"
    response = post(client, "/settings/consent", {"store": "yes"})
    assert "saved" in _follow(client, response)
    with db.read() as conn:
        rows = dict(
            conn.execute(
                sa.select(s.consents.c.purpose, s.consents.c.granted).where(s.consents.c.member_id == household.member)
            ).all()
        )
    assert rows == {"store": True, "train": False, "publish": False, "blend": False}
    response = post(client, "/settings/consent", {"train": "yes"})
    assert "needs it kept" in _follow(client, response)


def test_excluded_contexts_from_links_and_uris(client: FlaskClient, db: Database, household: Household) -> None:
    sign_in(client, household.member)
    link = "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M?si=abc"
    response = post(client, "/settings/contexts", {"context": link, "label": "Kids' songs"})
    assert "no longer count" in _follow(client, response)
    response = post(client, "/settings/contexts", {"context": "spotify:artist:0000000000000000000000"})
    assert "other kinds of context cannot be excluded" in _follow(client, response)
    (ctx,) = feedback.excluded_contexts(db, household.member)
    assert (ctx.context_uri, ctx.label) == ("spotify:playlist:37i9dQZF1DXcBWIGoYBM5M", "Kids' songs")
    assert "Kids&#39; songs" in client.get("/settings").get_data(as_text=True)
    post(client, "/settings/contexts/remove", {"context": ctx.context_uri})
    assert feedback.excluded_contexts(db, household.member) == []


def test_delete_my_data_needs_confirmation_then_removes_everything(
    client: FlaskClient, db: Database, household: Household
) -> None:
    sign_in(client, household.member)
    response = post(client, "/settings/delete", {"confirm": "yes please", "understand": "yes"})
    assert "Nothing was deleted" in _follow(client, response)
    with db.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(s.plays).where(s.plays.c.member_id == household.member)
            ).scalar_one()
            == 50
        )
    response = post(client, "/settings/delete", {"confirm": "delete", "understand": "yes"})
    assert response.headers["Location"].endswith("/signin")  # type: ignore[attr-defined]
    with db.read() as conn:
        for table in (s.members, s.plays, s.imports, s.recommendations, s.consents):
            column = table.c.id if table is s.members else table.c.member_id
            assert (
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(column == household.member)
                ).scalar_one()
                == 0
            )
        # The other member keeps everything.
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(s.plays).where(s.plays.c.member_id == household.owner)
            ).scalar_one()
            > 0
        )
    assert client.get("/listening").status_code == 302


def test_owner_queues_jobs_and_creates_invites(owner_client: FlaskClient, db: Database, household: Household) -> None:
    for job in ("sync", "train", "publish"):
        response = post(owner_client, "/admin/jobs", {"job": job}, page="/admin")
        assert "queued" in _follow(owner_client, response)
    response = post(owner_client, "/admin/jobs", {"job": "format-disk"}, page="/admin")
    assert "unknown job" in _follow(owner_client, response)
    assert sorted(r.job for r in feedback.job_requests(db)) == ["publish", "sync", "train"]
    page = owner_client.get("/admin").get_data(as_text=True)
    assert page.count("<td>queued</td>") == 3
    response = post(owner_client, "/admin/invites", {"spotify_id": ""}, page="/admin")
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "New invite code, shown only now" in html
    assert "/signin?invite=" in html
    response = post(owner_client, "/admin/invites", {"spotify_id": "friend-account"}, page="/admin")
    assert "friend-account may now sign in" in _follow(owner_client, response)


def test_member_blocks_only_artists_on_their_own_lists(db: Database, household: Household) -> None:
    today = date(2026, 11, 18)
    with pytest.raises(feedback.NotFound):
        feedback.block_artist(db, household.member, household.owner_artist, None, today, NOW)
    assert feedback.block_artist(db, household.member, household.member_artist, None, today, NOW) == "Artist 2"


def test_csrf_token_helper_reads_the_page(owner_client: FlaskClient) -> None:
    assert len(csrf_token(owner_client, "/recommendations")) > 20


def test_a_discovery_played_since_the_list_was_made_leaves_the_list(db: Database, household: Household) -> None:
    from recs.core.domain import PlayRow
    from recs.storage.listening import insert_plays

    before = [c.name for c in feedback.my_recommendations(db, household.owner, "discover", NOW.date())]
    with db.write() as conn:
        insert_plays(conn, household.owner, [PlayRow(NOW, household.owner_tracks[7], "api")])
    after = [c.name for c in feedback.my_recommendations(db, household.owner, "discover", NOW.date())]
    assert before == ["Song 07", "Song 08", "Song 09"] and after == ["Song 08", "Song 09"]


def test_cards_carry_this_requests_token_and_follow_the_list(owner_client: FlaskClient, household: Household) -> None:
    import re

    from web.recommendations import TOKEN_PLACEHOLDER

    for _ in range(2):  # drawn, then reused: each time with a token that works
        page = owner_client.get("/recommendations").get_data(as_text=True)
        assert TOKEN_PLACEHOLDER not in page
        card = page[page.index('<ol class="cards">') :]
        hide_form = re.search(
            r'action="/recommendations/hide">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', card
        )
        assert hide_form, card[:600]
    assert hide_form is not None
    hidden = household.owner_tracks[7]
    response = owner_client.post(
        "/recommendations/hide", data={"csrf_token": hide_form.group(1), "mode": "discover", "track_id": hidden}
    )
    assert response.status_code == 302
    cards = owner_client.get("/recommendations").get_data(as_text=True).split('id="blocked"')[0]
    assert "Song 07" not in cards and "Song 08" in cards


def test_the_page_names_the_published_playlist_links_it_and_says_when_it_is_old_and_next(
    owner_client: FlaskClient, db: Database, household: Household
) -> None:
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert "“recs · Discover”</strong>\n      is not in your Spotify yet." in page and "Next publish: " in page
    with db.write() as conn:
        older = conn.execute(
            s.model_runs.insert().values(started_at=NOW - timedelta(days=9), status="succeeded", is_current=False)
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            s.published_playlists.insert().values(
                member_id=household.owner,
                kind="discover",
                spotify_playlist_id="P" * 22,
                run_id=older,
                written_at=NOW - timedelta(days=8),
            )
        )
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert f'<a href="https://open.spotify.com/playlist/{"P" * 22}"' in page
    assert f"Spotify holds an older list (model run {older}) than this page shows." in page
    # Writing playlists off: no next publish is promised.
    post(owner_client, "/settings/consent", {"store": "yes", "train": "yes"})
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert "Next publish" not in page and "Not published on a schedule." in page


def test_playlist_settings_sit_above_the_list_and_open_after_saving(
    owner_client: FlaskClient, household: Household
) -> None:
    page = owner_client.get("/recommendations").get_data(as_text=True)
    assert page.index('id="playlist-settings"') < page.index('<li class="rec')
    assert "<details>" in page.split('id="playlist-settings"')[1][:80]  # folded until asked for
    good = {"size": "25", "discover": "yes", "frequency": "daily", "weekday": "0", "local_time": "07:00"}
    response = post(owner_client, "/recommendations/settings", good, page="/recommendations")
    assert response.headers["Location"].endswith("settings=open")  # type: ignore[attr-defined]
    page = _follow(owner_client, response)
    assert "<details open>" in page.split('id="playlist-settings"')[1][:80] and "Playlist settings saved." in page
    assert "25 songs, daily at 07:00" in page
