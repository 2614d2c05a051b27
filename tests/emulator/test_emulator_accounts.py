"""The emulated accounts service: redirect-URI rules, consent, PKCE, code reuse, token lifetimes, refresh and revocation."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from recs.emulator import ControlClient, EmulatorServer
from recs.emulator.control import ALL_SCOPES

REDIRECT = "http://127.0.0.1:8000/auth/callback"


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token_call(server: EmulatorServer, data: dict[str, str], basic: bool = True) -> requests.Response:
    auth = (server.client_id, server.client_secret) if basic else None
    return requests.post(server.accounts_base_url + "api/token", data=data, auth=auth, timeout=5)


def authorize_params(server: EmulatorServer, **extra: str) -> dict[str, str]:
    return {
        "client_id": server.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "state": "s1",
        "scope": ALL_SCOPES,
        **extra,
    }


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("http://localhost:8000/cb", False),
        ("http://example.org/cb", False),
        ("http://127.0.0.1/cb", False),
        ("ftp://127.0.0.1:21/cb", False),
        ("http://127.0.0.1:8000/cb", True),
        ("http://[::1]:8000/cb", True),
        ("https://recs.example.org/auth/callback", True),
    ],
)
def test_redirect_uri_rules(server: EmulatorServer, uri: str, accepted: bool) -> None:
    params = {**authorize_params(server), "redirect_uri": uri}
    answer = requests.get(server.accounts_base_url + "authorize", params=params, allow_redirects=False, timeout=5)
    if accepted:
        assert answer.status_code == 200 and "Who is signing in?" in answer.text
    else:
        assert answer.status_code == 400 and "Invalid redirect URI" in answer.text


def test_unknown_client_is_refused_on_the_page(server: EmulatorServer) -> None:
    params = {**authorize_params(server), "client_id": "0" * 32}
    answer = requests.get(server.accounts_base_url + "authorize", params=params, allow_redirects=False, timeout=5)
    assert answer.status_code == 400 and "Invalid client" in answer.text


def test_consent_page_lets_a_person_pick_the_member(server: EmulatorServer, control: ControlClient) -> None:
    members = control.members()
    page = requests.get(server.accounts_base_url + "authorize", params=authorize_params(server), timeout=5)
    for m in members:
        assert m["display_name"] in page.text and m["user_id"] in page.text
    chosen = members[2]["user_id"]
    form = {**authorize_params(server), "user_id": chosen, "action": "agree"}
    answer = requests.post(server.accounts_base_url + "authorize/decide", data=form, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    q = query_of(answer.headers["Location"])
    assert q["state"] == "s1"
    token = token_call(server, {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT}).json()
    me = requests.get(
        server.api_base_url + "me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    )
    assert me.json()["id"] == chosen
    cancelled = requests.post(
        server.accounts_base_url + "authorize/decide",
        data={**form, "action": "cancel"},
        allow_redirects=False,
        timeout=5,
    )
    assert query_of(cancelled.headers["Location"]) == {"error": "access_denied", "state": "s1"}


def test_code_is_single_use_and_bound_to_redirect_uri(
    server: EmulatorServer, control: ControlClient, member_id: str
) -> None:
    location = control.authorize(server.client_id, REDIRECT, ALL_SCOPES, "st", user_id=member_id)
    code = query_of(location)["code"]
    wrong = token_call(server, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT + "x"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    location = control.authorize(server.client_id, REDIRECT, ALL_SCOPES, "st", user_id=member_id)
    code = query_of(location)["code"]
    first = token_call(server, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert first.status_code == 200
    body = first.json()
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer" and body["refresh_token"]
    again = token_call(server, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_client_secret_is_checked(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    code = query_of(control.authorize(server.client_id, REDIRECT, ALL_SCOPES, "st", user_id=member_id))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    bad = requests.post(server.accounts_base_url + "api/token", data=data, auth=(server.client_id, "nope"), timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    # no secret and no PKCE verifier: a confidential flow without the secret is refused
    public = token_call(server, {**data, "client_id": server.client_id}, basic=False)
    assert public.status_code == 400 and public.json()["error"] == "invalid_client"


def test_pkce_verifier_is_checked_and_rotates_refresh_tokens(
    server: EmulatorServer, control: ControlClient, member_id: str
) -> None:
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = query_of(control.authorize(server.client_id, REDIRECT, ALL_SCOPES, "st", challenge, member_id))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": server.client_id}
    wrong = token_call(server, {**data, "code_verifier": "w" * 64}, basic=False)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = query_of(control.authorize(server.client_id, REDIRECT, ALL_SCOPES, "st", challenge, member_id))["code"]
    ok = token_call(server, {**data, "code": code, "code_verifier": verifier}, basic=False)
    assert ok.status_code == 200
    refresh = ok.json()["refresh_token"]
    again = token_call(
        server, {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": server.client_id}, basic=False
    )
    assert again.status_code == 200 and again.json()["refresh_token"] != refresh


def test_plain_challenge_method_is_refused(server: EmulatorServer, member_id: str) -> None:
    params = authorize_params(
        server, code_challenge="abc", code_challenge_method="plain", auto="1", emulator_user=member_id
    )
    answer = requests.get(server.accounts_base_url + "authorize?" + urlencode(params), allow_redirects=False, timeout=5)
    assert query_of(answer.headers["Location"])["error"] == "invalid_request"


def test_token_lifetimes_in_emulated_time(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    token = control.sign_in(member_id)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    control.advance(seconds=3599)
    assert requests.get(server.api_base_url + "me", headers=headers, timeout=5).status_code == 200
    control.advance(seconds=2)
    expired = requests.get(server.api_base_url + "me", headers=headers, timeout=5)
    assert expired.status_code == 401 and expired.json()["error"]["message"] == "The access token expired"

    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    fresh = token_call(server, refresh)
    assert fresh.status_code == 200 and "refresh_token" not in fresh.json(), "a refresh may omit refresh_token"
    # six months after the member authorised, refreshing no longer works, however often it was refreshed
    control.advance(days=180)
    assert token_call(server, refresh).status_code == 200
    control.advance(days=5)
    dead = token_call(server, refresh)
    assert dead.status_code == 400 and dead.json() == {
        "error": "invalid_grant",
        "error_description": "Refresh token expired",
    }


def test_revoked_grant_answers_invalid_grant(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    token = control.sign_in(member_id)
    assert control.revoke(member_id) == 1
    answer = token_call(server, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert answer.json()["error"] == "invalid_grant"
    me = requests.get(
        server.api_base_url + "me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    )
    assert me.status_code == 401


def test_unsupported_grant_type(server: EmulatorServer) -> None:
    answer = token_call(server, {"grant_type": "password"})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
