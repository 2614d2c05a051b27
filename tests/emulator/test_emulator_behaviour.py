"""Web API behaviour the product must live with: faults, limits, allowlist, the 50-play window, playlists, the request log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from recs.emulator import ControlClient, ControlError, Emulator, EmulatorError, EmulatorServer
from recs.emulator.household import iso_ms


def get(server: EmulatorServer, path: str, token: str, **kw: Any) -> requests.Response:
    return requests.get(
        server.api_base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=kw.pop("timeout", 5), **kw
    )


@pytest.fixture
def token(control: ControlClient, member_id: str) -> str:
    value: str = control.sign_in(member_id)["access_token"]
    return value


def test_fault_rules_answer_the_next_n_matching_requests(
    server: EmulatorServer, control: ControlClient, token: str
) -> None:
    control.add_fault("GET", "/v1/me/player/*", status=503, times=2)
    assert get(server, "me", token).status_code == 200, "other paths are untouched"
    assert [get(server, "me/player/recently-played", token).status_code for _ in range(3)] == [503, 503, 200]
    control.add_fault("*", "/v1/me", status=429, headers={"Retry-After": "49000"}, reason="QUOTA_EXCEEDED")
    limited = get(server, "me", token)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "49000"
    assert limited.json()["error"] == {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
    control.add_fault("GET", "/v1/me", status=429, headers={"Retry-After": "3"})
    short = get(server, "me", token)
    assert short.headers["Retry-After"] == "3" and "reason" not in short.json()["error"]
    control.add_fault(
        "GET", "/v1/me", status=401, body={"error": {"status": 401, "message": "The access token expired"}}
    )
    assert get(server, "me", token).status_code == 401
    log = control.requests()
    assert [e["fault"] is not None for e in log[-4:]] == [False, True, True, True]


def test_malformed_html_dropped_and_slow_answers(server: EmulatorServer, control: ControlClient, token: str) -> None:
    control.add_fault("GET", "/v1/me/tracks", malformed=True)
    broken = get(server, "me/tracks", token)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    control.add_fault("GET", "/v1/me/tracks", html=True, status=502)
    page = get(server, "me/tracks", token)
    assert page.status_code == 502 and page.headers["Content-Type"].startswith("text/html")
    control.add_fault("GET", "/v1/me/tracks", drop=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(server, "me/tracks", token)
    control.add_fault("GET", "/v1/me/tracks", delay_s=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(server, "me/tracks", token, timeout=0.1)
    assert get(server, "me/tracks", token).status_code == 200, "the rules were used up"


def test_token_endpoint_faults(server: EmulatorServer, control: ControlClient, member_id: str) -> None:
    token = control.sign_in(member_id)
    control.add_fault("POST", "/api/token", status=400)
    answer = requests.post(
        server.accounts_base_url + "api/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # A 5xx is the service failing, not a verdict on the grant: the real service never says invalid_grant then.
    for status, error in [(500, "server_error"), (502, "server_error"), (503, "temporarily_unavailable")]:
        control.add_fault("POST", "/api/token", status=status)
        answer = requests.post(
            server.accounts_base_url + "api/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(server.client_id, server.client_secret),
            timeout=5,
        )
        assert answer.status_code == status and answer.json()["error"] == error
    # The grant survived the outage.
    answer = requests.post(
        server.accounts_base_url + "api/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["access_token"]


def test_fault_specs_are_checked(control: ControlClient) -> None:
    with pytest.raises(ControlError, match="path_pattern"):
        control.add_fault("GET", "", status=500)
    with pytest.raises(ControlError, match="times"):
        control.add_fault("GET", "/v1/me", status=500, times=0)
    control.add_fault("GET", "/v1/me", status=500, times=None)
    assert control.faults()[0]["times"] is None
    control.clear_faults()
    assert control.faults() == []


def test_rate_limit_and_quota_in_emulated_time(control: ControlClient) -> None:
    with EmulatorServer(seed=2, members=1, quota_per_day=10, rate_limit_per_30s=4) as srv:
        token = srv.control.sign_in(srv.control.members()[0]["user_id"])["access_token"]
        codes = [get(srv, "me", token).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 200, 429]
        burst = get(srv, "me", token)
        assert burst.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}
        assert 1 <= int(burst.headers["Retry-After"]) <= 30
        srv.control.advance(seconds=30)
        assert [get(srv, "me", token).status_code for _ in range(4)] == [200] * 4
        srv.control.advance(seconds=30)
        assert [get(srv, "me", token).status_code for _ in range(3)] == [200, 200, 429]
        quota = get(srv, "me", token)
        # what the live API sent on 2026-08-23 (docs/emulator.md, "Limits")
        assert quota.json() == {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}}
        assert quota.headers["Content-Type"].startswith("application/json")
        assert int(quota.headers["Retry-After"]) > 3600 * 23, "a quota 429 says come back in hours"
        assert srv.control.usage()["used_24h"] == 10
        srv.control.advance(hours=24)
        token = srv.control.sign_in(srv.control.members()[0]["user_id"])["access_token"]  # the old one expired
        assert get(srv, "me", token).status_code == 200


def test_member_off_the_allowlist_gets_403_everywhere(
    server: EmulatorServer, control: ControlClient, member_id: str, token: str
) -> None:
    control.set_allowlisted(member_id, False)
    for path in ("me", "me/player/recently-played", "me/tracks", "me/playlists"):
        answer = get(server, path, token)
        assert answer.status_code == 403 and "may not be registered" in answer.json()["error"]["message"]
    control.set_allowlisted(member_id, True)
    assert get(server, "me", token).status_code == 200


def test_recently_played_window_cursors_and_new_plays(
    server: EmulatorServer, control: ControlClient, member_id: str, token: str
) -> None:
    first = get(server, "me/player/recently-played?limit=30", token).json()
    second = requests.get(first["next"], headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert first["next"].startswith(server.api_base_url)
    seen = first["items"] + second["items"]
    assert len(seen) == 50, "only the last 50 plays exist"
    assert second["next"] is None
    stamps = [i["played_at"] for i in seen]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 50
    newest_ms = int(first["cursors"]["after"])
    assert get(server, f"me/player/recently-played?after={newest_ms}", token).json()["items"] == []

    control.advance(days=2)
    token = control.sign_in(member_id)["access_token"]  # the old one expired meanwhile
    state = control.ground_truth(member_id)
    truth = state["plays"]
    eligible = [
        p for p in truth if p["ms_played"] >= 30_000 and not p["incognito"] and p["visible_at_ms"] <= state["now_ms"]
    ]
    fresh = [p for p in eligible[-50:] if p["played_at_ms"] > newest_ms]
    assert len(fresh) > 0, "members kept listening while the clock moved"
    newer = get(server, f"me/player/recently-played?limit=50&after={newest_ms}", token).json()["items"]
    # only what is still in the 50-play window comes back: a poller that waits too long loses plays
    assert [i["played_at"] for i in reversed(newer)] == [p["played_at"] for p in fresh]
    assert all(i["track"]["id"] for i in newer)
    short = [p for p in truth if p["ms_played"] < 30_000]
    window = {i["played_at"] for i in get(server, "me/player/recently-played?limit=50", token).json()["items"]}
    assert short and not window & {p["played_at"] for p in short}, "plays under 30 s never appear"


def test_added_plays_appear_once(server: EmulatorServer, control: ControlClient, member_id: str, token: str) -> None:
    track_id = control.ground_truth(member_id)["plays"][0]["track_id"]
    now = control.now()
    play = {"track_id": track_id, "played_at": now.isoformat(), "ms_played": 200_000, "context_uri": None}
    assert control.add_plays(member_id, [play]) == 1
    assert control.add_plays(member_id, [play]) == 0, "same (user, played_at, track): nothing duplicated"
    top = get(server, "me/player/recently-played?limit=1", token).json()["items"][0]
    assert top["track"]["id"] == track_id and top["context"] is None
    with pytest.raises(ControlError, match="unknown track"):
        control.add_plays(member_id, [{"track_id": "x" * 22}])
    with pytest.raises(ControlError, match="played_at"):
        control.add_plays(member_id, [{"track_id": track_id, "played_at": "yesterday"}])


def test_playlist_writes_show_in_ground_truth(
    server: EmulatorServer, control: ControlClient, member_id: str, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        server.api_base_url + "me/playlists", json={"name": "recs"}, headers=headers, timeout=5
    ).json()
    tracks = [p["track_id"] for p in control.ground_truth(member_id, since=control.now() - timedelta(days=14))["plays"]]
    uris = [f"spotify:track:{t}" for t in dict.fromkeys(tracks)][:100]
    put = requests.put(
        server.api_base_url + f"playlists/{created['id']}/items", json={"uris": uris}, headers=headers, timeout=5
    )
    assert put.status_code == 200 and put.json()["snapshot_id"] != created["snapshot_id"]
    truth = next(p for p in control.ground_truth(member_id)["playlists"] if p["id"] == created["id"])
    assert [f"spotify:track:{i['track_id']}" for i in truth["items"]] == uris
    assert {i["added_by"] for i in truth["items"]} == {member_id}


def test_collaborator_may_edit_shared_playlist(server: EmulatorServer, control: ControlClient) -> None:
    shared = next(p for p in control.ground_truth(since=control.now())["playlists"] if p["collaborators"])
    collaborator = shared["collaborators"][0]
    token = control.sign_in(collaborator)["access_token"]
    items = get(server, f"playlists/{shared['id']}/items", token)
    assert items.status_code == 200 and items.json()["total"] == len(shared["items"])
    outsider = next(m["user_id"] for m in control.members() if m["user_id"] not in (shared["owner_id"], collaborator))
    assert get(server, f"playlists/{shared['id']}/items", control.sign_in(outsider)["access_token"]).status_code == 403


def test_request_log_names_member_query_and_status(
    server: EmulatorServer, control: ControlClient, member_id: str, token: str
) -> None:
    control.clear_requests()
    get(server, "me/tracks?limit=7&offset=3", token)
    get(server, "me/top/tracks?time_range=bogus", token)
    log = control.requests()
    assert [(e["method"], e["path"], e["query"], e["status"], e["member"]) for e in log] == [
        ("GET", "/v1/me/tracks", {"limit": "7", "offset": "3"}, 200, member_id),
        ("GET", "/v1/me/top/tracks", {"time_range": "bogus"}, 400, member_id),
    ]
    assert control.requests(since=1)[0]["path"] == "/v1/me/top/tracks"


def test_cover_images_are_served(server: EmulatorServer, token: str) -> None:
    track = get(server, "me/tracks?limit=1", token).json()["items"][0]["track"]
    image = track["album"]["images"][-1]
    assert image["url"].startswith(server.base_url)
    answer = requests.get(image["url"], timeout=5)
    assert (
        answer.status_code == 200
        and answer.content.startswith(b"\x89PNG")
        and answer.headers["Content-Type"] == "image/png"
    )


def test_offline_plays_arrive_late_behind_the_after_cursor(server: EmulatorServer, control: ControlClient) -> None:
    """A poller that only asks for plays after its newest one misses plays that sync late."""
    world = server.emulator
    now = world.now_ms
    world.household.generate_until(now + 30 * 86_400_000)  # the same days the clock would generate later
    play = next(
        p
        for u in world.household.members
        for p in world.household.plays[u]
        if p.at_ms > now and p.visible_ms - p.at_ms > 600_000 and p.ms_played >= 30_000 and not p.incognito
    )
    control.advance(seconds=(play.at_ms - now) / 1000 + 1)
    token = control.sign_in(play.user_id)["access_token"]
    window = get(server, "me/player/recently-played?limit=50", token).json()["items"]
    assert all(i["played_at"] != iso_ms(play.at_ms) for i in window), "played, but the platform does not know yet"
    control.advance(seconds=(play.visible_ms - play.at_ms) / 1000)
    token = control.sign_in(play.user_id)["access_token"]
    window = get(server, "me/player/recently-played?limit=50", token).json()["items"]
    assert iso_ms(play.at_ms) in [i["played_at"] for i in window]


def test_unknown_paths_and_methods_answer_in_the_error_shape(server: EmulatorServer, token: str) -> None:
    missing = get(server, "no/such/endpoint", token)
    assert missing.status_code == 404 and missing.json() == {"error": {"status": 404, "message": "Service not found"}}
    wrong = requests.patch(server.api_base_url + "me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert wrong.status_code == 405 and wrong.json()["error"]["status"] == 405


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"members": 0}, "members must be between 1 and 50"),
        ({"quota_per_day": 0}, "quota_per_day must be at least 1"),
        ({"history_days": -1}, "history_days must not be negative"),
        ({"start": datetime(2026, 1, 1)}, "start must be timezone-aware"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EmulatorError, match=message):
        Emulator(**kwargs)


def test_bad_plays_are_named(control: ControlClient, member_id: str) -> None:
    track_id = next(iter(control.ground_truth(member_id, since=control.now())["saved_tracks"][member_id]))["track_id"]
    with pytest.raises(ControlError, match="ms_played"):
        control.add_plays(member_id, [{"track_id": track_id, "ms_played": -5}])
    with pytest.raises(ControlError, match="context_uri"):
        control.add_plays(member_id, [{"track_id": track_id, "context_uri": "album 5"}])
    with pytest.raises(ControlError, match="no emulated member"):
        control.add_plays("nobody", [{"track_id": track_id}])
