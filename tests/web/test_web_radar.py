"""Release Radar on the dashboard: the member's settings (on/off, size, day, time) and the owner's view of the plan."""

from __future__ import annotations

from flask.testing import FlaskClient
from web_helpers import Household, post, sign_in

from recs.storage import Database
from recs.usecases import release_radar
from recs.usecases.instance import Instance


def test_a_member_sets_their_release_radar_on_the_settings_page(
    client: FlaskClient, db: Database, instance: Instance, household: Household
) -> None:
    sign_in(client, household.member)
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="radar"' in page and "Release Radar is a weekly playlist of songs that the artists you love" in page
    # the instance defaults until the member chooses: on, 30 songs, Friday 08:00
    assert 'id="radar_enabled" name="enabled" value="yes" checked' in page
    assert '<option value="4" selected>Friday</option>' in page
    response = post(client, "/settings/radar", {"enabled": "yes", "size": "12", "weekday": "0", "local_time": "18:30"})
    assert response.headers["Location"].endswith("/settings#radar")  # type: ignore[attr-defined]
    page = client.get("/settings").get_data(as_text=True)
    assert "Your Release Radar holds up to 12 songs, written each Monday at 18:30." in page
    rule = release_radar.radar_settings(db, household.member, instance.settings.radar)
    assert (rule.enabled, rule.size, rule.weekday, rule.local_time) == (True, 12, 0, "18:30")
    # a wrong value saves nothing and says which field
    post(client, "/settings/radar", {"enabled": "yes", "size": "500", "weekday": "0", "local_time": "18:30"})
    page = client.get("/settings").get_data(as_text=True)
    assert "Nothing was saved: Release Radar size must be between 1 and 100, got 500." in page
    assert release_radar.radar_settings(db, household.member, instance.settings.radar).size == 12
    post(client, "/settings/radar", {"size": "12", "weekday": "0", "local_time": "7pm"})
    assert "Release Radar time must be HH:MM (24-hour), got &#39;7pm&#39;" in client.get("/settings").get_data(
        as_text=True
    )
    # off: unticked box
    post(client, "/settings/radar", {"size": "12", "weekday": "0", "local_time": "18:30"})
    assert "Release Radar is off" in client.get("/settings").get_data(as_text=True)
    assert not release_radar.radar_settings(db, household.member, instance.settings.radar).enabled
    # the owner's settings are their own
    assert release_radar.radar_settings(db, household.owner, instance.settings.radar).enabled


def test_the_admin_page_states_the_radar_plan_in_words(client: FlaskClient, household: Household) -> None:
    sign_in(client, household.owner)
    page = client.get("/admin").get_data(as_text=True)
    assert "Release Radar plan" in page
    # both members keep their listening, allow playlists and have the radar on by default
    assert "2 members with a Release Radar love" in page
    assert "Each artist is checked once every 7 days" in page and "calls a day" in page
    assert "It fits: every loved artist is checked in time for the next weekly playlist." in page
