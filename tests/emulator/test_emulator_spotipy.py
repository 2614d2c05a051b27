"""spotipy 2.26, with only its base URLs changed, signs in and reads and writes through the emulator."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyOauthError, SpotifyPKCE

from recs.emulator import ControlClient, EmulatorServer
from recs.emulator.control import ALL_SCOPES

REDIRECT = "http://127.0.0.1:8765/auth/callback"


def make_oauth(server: EmulatorServer) -> spotipy.SpotifyOAuth:
    oauth = spotipy.SpotifyOAuth(
        client_id=server.client_id,
        client_secret=server.client_secret,
        redirect_uri=REDIRECT,
        scope=ALL_SCOPES,
        cache_handler=MemoryCacheHandler(),
        open_browser=False,
        requests_timeout=5,
        requests_session=requests.Session(),
    )
    oauth.OAUTH_AUTHORIZE_URL = server.accounts_base_url + "authorize"
    oauth.OAUTH_TOKEN_URL = server.accounts_base_url + "api/token"
    return oauth


def sign_in(server: EmulatorServer, oauth: Any, user_id: str) -> None:
    url = oauth.get_authorize_url(state="xyz")
    # what the consent page does when the member clicks Agree, without the browser
    answer = requests.get(url + f"&auto=1&emulator_user={user_id}", allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT) and "state=xyz" in location
    code = oauth.parse_response_code(location)
    if isinstance(oauth, SpotifyPKCE):
        oauth.get_access_token(code, check_cache=False)
    else:
        # as_dict=True (the default) raises a DeprecationWarning attributed to the caller
        oauth.get_access_token(code, as_dict=False, check_cache=False)


def client(server: EmulatorServer, oauth: Any) -> spotipy.Spotify:
    sp = spotipy.Spotify(auth_manager=oauth, requests_session=requests.Session(), requests_timeout=5, retries=0)
    sp.prefix = server.api_base_url
    return sp


def test_spotipy_reads_and_writes(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    oauth = make_oauth(server)
    sign_in(server, oauth, member_id)
    sp = client(server, oauth)

    assert sp.me()["id"] == member_id
    recent = sp.current_user_recently_played(limit=50)
    truth = control.ground_truth(member_id)
    heard = [
        p
        for p in truth["plays"]
        if p["ms_played"] >= 30_000 and not p["incognito"] and p["visible_at_ms"] <= truth["now_ms"]
    ]
    assert [i["played_at"] for i in recent["items"]] == [p["played_at"] for p in reversed(heard[-50:])]
    assert all(i["track"]["id"] == p["track_id"] for i, p in zip(recent["items"], reversed(heard[-50:]), strict=True))

    saved = sp.current_user_saved_tracks(limit=20)
    pages = [saved]
    while pages[-1]["next"]:
        pages.append(sp.next(pages[-1]))
    ids = [i["track"]["id"] for page in pages for i in page["items"]]
    assert sorted(ids) == sorted(s["track_id"] for s in truth["saved_tracks"][member_id])
    assert len(pages) > 1, "paging through absolute next links was exercised"

    created = sp.current_user_playlist_create("recs: discover", public=False, description="made by recs")
    uris = [f"spotify:track:{p['track_id']}" for p in heard[:5]]
    sp.playlist_replace_items(created["id"], uris)
    sp.playlist_add_items(created["id"], uris[:2])  # spotipy posts a bare JSON array
    sp.playlist_remove_all_occurrences_of_items(created["id"], uris[4:5])
    items = sp.playlist_items(created["id"])
    assert [i["item"]["uri"] for i in items["items"]] == uris[:4] + uris[:2]
    own = sp.current_user_playlists(limit=50)
    assert created["id"] in [p["id"] for p in own["items"]]


def test_refresh_after_expiry_and_invalid_grant(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    oauth = make_oauth(server)
    sign_in(server, oauth, member_id)
    token = oauth.cache_handler.get_cached_token()
    sp = client(server, oauth)
    sp.me()
    control.advance(hours=2)
    with pytest.raises(spotipy.SpotifyException) as info:
        sp.me()  # spotipy trusts its own wall-clock expiry; the emulated hour has passed
    assert info.value.http_status == 401
    refreshed = oauth.refresh_access_token(token["refresh_token"])
    assert refreshed["refresh_token"] == token["refresh_token"], (
        "the refresh omitted refresh_token; spotipy keeps the old one"
    )
    assert sp.me()["id"] == member_id
    control.advance(days=200)
    with pytest.raises(SpotifyOauthError) as failed:
        oauth.refresh_access_token(token["refresh_token"])
    assert failed.value.error == "invalid_grant"


def test_pkce_sign_in(server: EmulatorServer, member_id: str) -> None:
    oauth = SpotifyPKCE(
        client_id=server.client_id,
        redirect_uri=REDIRECT,
        scope=ALL_SCOPES,
        cache_handler=MemoryCacheHandler(),
        open_browser=False,
        requests_timeout=5,
    )
    oauth.OAUTH_AUTHORIZE_URL = server.accounts_base_url + "authorize"
    oauth.OAUTH_TOKEN_URL = server.accounts_base_url + "api/token"
    sign_in(server, oauth, member_id)
    sp = client(server, oauth)
    assert sp.me()["id"] == member_id


def test_spotipy_pitfalls_under_faults(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    """What spotipy does with broken answers; callers must check for these themselves."""
    oauth = make_oauth(server)
    sign_in(server, oauth, member_id)
    sp = client(server, oauth)
    control.add_fault("GET", "/v1/me/player/recently-played", malformed=True)
    # a 200 with a body that is not JSON comes back as None, not as an exception
    assert sp.current_user_recently_played(limit=50) is None
    control.add_fault("GET", "/v1/me/player/recently-played", drop=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sp.current_user_recently_played(limit=50)
    control.add_fault(
        "GET", "/v1/me/player/recently-played", status=429, headers={"Retry-After": "50000"}, reason="QUOTA_EXCEEDED"
    )
    with pytest.raises(spotipy.SpotifyException) as info:
        sp.current_user_recently_played(limit=50)  # with retries=0 and a plain session: raised at once, no sleeping
    assert (info.value.http_status, info.value.reason, info.value.headers["Retry-After"]) == (
        429,
        "QUOTA_EXCEEDED",
        "50000",
    )
    control.add_fault("GET", "/v1/me/player/recently-played", html=True, status=502)
    with pytest.raises(spotipy.SpotifyException) as html:
        sp.current_user_recently_played(limit=50)
    assert html.value.http_status == 502
