"""Every implemented Web API endpoint, errors included, validated against the shared OpenAPI spec with openapi-core."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator

from recs.emulator import ControlClient, EmulatorServer
from recs.emulator.app import create_app

SPEC = (
    Path(os.environ.get("RECS_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / "spotify" / "openapi.yml"
)
REAL_BASE = "https://api.spotify.com/v1/"


def patched_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """The published spec, with the nullability the live API has and the spec forgot (nothing else is relaxed)."""
    spec = copy.deepcopy(raw)
    schemas = spec["components"]["schemas"]
    # the last page of a cursor-paged list has "next": null (spotipy's sp.next() reads the key), as offset paging does
    schemas["CursorPagingObject"]["properties"]["next"]["nullable"] = True
    # a play with no context (e.g. a play added by hand) has "context": null
    schemas["PlayHistoryObject"]["properties"]["context"]["nullable"] = True
    # discriminator on "type" without a mapping resolves "track" to #/components/schemas/track, which does not
    # exist: no real playlist item could validate; map the values to the schemas they name
    mapping = {"track": "#/components/schemas/TrackObject", "episode": "#/components/schemas/EpisodeObject"}
    for prop in ("item", "track"):
        schemas["PlaylistTrackObject"]["properties"][prop]["discriminator"]["mapping"] = mapping
        # an item Spotify no longer has (a track pulled from the catalogue) is sent as "item": null
        schemas["PlaylistTrackObject"]["properties"][prop]["nullable"] = True
    return spec


@pytest.fixture(scope="module")
def spec_dict() -> dict[str, Any]:
    if not SPEC.is_file():
        pytest.skip(f"shared OpenAPI spec not found at {SPEC} (set RECS_SHARED_DIR)")
    with SPEC.open() as fh:
        raw: dict[str, Any] = yaml.safe_load(fh)
    return patched_spec(raw)


@pytest.fixture(scope="module")
def openapi(spec_dict: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec_dict)


@pytest.fixture(scope="module")
def module_server() -> Iterator[EmulatorServer]:
    # generous limits: this test is about shapes; the limits get their own calls below
    with EmulatorServer(seed=11, members=6, quota_per_day=None, rate_limit_per_30s=None) as srv:
        yield srv


class Checker:
    """Calls the emulator and validates each answer: documented statuses by openapi-core, others as ErrorObject."""

    def __init__(self, server: EmulatorServer, openapi: OpenAPI, spec: dict[str, Any]) -> None:
        self.server = server
        self.openapi = openapi
        error_schema = {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"$ref": "#/components/schemas/ErrorObject"}},
            "components": spec["components"],
        }
        self.error_validator = OAS30Validator(error_schema)
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, token: str | None, expect: int, json: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, self.server.api_base_url + path, headers=headers, json=json, timeout=10)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
        # validate as if the call had gone to the real API: same path and query, the spec's server URL
        # (spotipy's me() asks for "me/": the trailing slash is the same operation)
        bare, _, query = path.partition("?")
        request = requests.Request(
            method, REAL_BASE + bare.rstrip("/") + (f"?{query}" if query else ""), headers=headers, json=json
        )
        try:
            self.openapi.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response))
        except ResponseNotFound:
            # statuses the spec does not list for this operation (400, 404): still the documented error shape
            assert response.status_code >= 400, f"{method} {path} answered an undocumented {response.status_code}"
            self.error_validator.validate(response.json())
        self.seen.add((method, path.split("?")[0], response.status_code))
        return response.json() if response.content else None


@pytest.fixture
def check(module_server: EmulatorServer, openapi: OpenAPI, spec_dict: dict[str, Any]) -> Checker:
    return Checker(module_server, openapi, spec_dict)


def test_every_endpoint_matches_the_spec(check: Checker, module_server: EmulatorServer) -> None:
    control: ControlClient = module_server.control
    members = control.members()
    me_id, other_id = members[0]["user_id"], members[1]["user_id"]
    token = control.sign_in(me_id)["access_token"]
    other_token = control.sign_in(other_id)["access_token"]
    truth = control.ground_truth(since=control.now() - timedelta(days=7))
    # a local file's track object (ids and album fields null) is outside the spec's TrackObject: the spec does not
    # describe local files at all, so the playlist validated here holds none (test_emulator_fidelity checks them)
    mine = next(
        p
        for p in truth["playlists"]
        if p["owner_id"] == me_id and not p["collaborators"] and all(it["kind"] != "local" for it in p["items"])
    )["id"]
    theirs = next(p for p in truth["playlists"] if p["owner_id"] == other_id and not p["collaborators"])["id"]

    check("GET", "me", token, 200)
    check("GET", "me/", token, 200)
    recent = check("GET", "me/player/recently-played?limit=10", token, 200)
    assert len(recent["items"]) == 10 and recent["next"].startswith(module_server.api_base_url)
    before = recent["cursors"]["before"]
    check("GET", f"me/player/recently-played?limit=50&before={before}", token, 200)
    check("GET", f"me/player/recently-played?limit=50&after={before}", token, 200)
    check("GET", "me/player/recently-played?limit=51", token, 400)
    check("GET", "me/player/recently-played?after=1&before=2", token, 400)
    check("GET", "me/tracks?limit=50", token, 200)
    check("GET", "me/tracks?limit=0", token, 400)
    for kind in ("tracks", "artists"):
        for time_range in ("short_term", "medium_term", "long_term"):
            check("GET", f"me/top/{kind}?time_range={time_range}&limit=50", token, 200)
    check("GET", "me/top/tracks?time_range=forever", token, 400)
    first = check("GET", "me/following?type=artist&limit=2", token, 200)
    assert first["artists"]["next"] and first["artists"]["cursors"]["after"]
    check("GET", "me/following?type=artist&limit=50", token, 200)
    check("GET", "me/following", token, 400)
    check("GET", "me/playlists?limit=50", token, 200)
    created = check("POST", "me/playlists", token, 201, json={"name": "recs", "public": False, "description": "d"})
    check("POST", "me/playlists", token, 400, json={"public": False})
    check("GET", f"playlists/{mine}", token, 200)
    full = check("GET", f"playlists/{theirs}", token, 200)
    assert "items" not in full, "contents only for playlists the member owns or collaborates on"
    check("PUT", f"playlists/{created['id']}", token, 200, json={"name": "recs: discover"})
    check("PUT", f"playlists/{theirs}", token, 403, json={"name": "mine now"})
    check("GET", f"playlists/{mine}/items?limit=50", token, 200)
    check("GET", f"playlists/{theirs}/items", token, 403)
    check("GET", "playlists/0000000000000000000000/items", token, 404)
    uris = [f"spotify:track:{p['track_id']}" for p in truth["plays"][:5]]
    check("POST", f"playlists/{created['id']}/items", token, 201, json={"uris": uris})
    check("PUT", f"playlists/{created['id']}/items", token, 200, json={"uris": uris[:3]})
    check("PUT", f"playlists/{created['id']}/items", token, 200, json={"range_start": 0, "insert_before": 3})
    check("DELETE", f"playlists/{created['id']}/items", token, 200, json={"items": [{"uri": uris[0]}]})
    check("PUT", f"playlists/{created['id']}/items", token, 400, json={"uris": uris[:1] * 101})
    check("POST", f"playlists/{created['id']}/items", token, 400, json={"uris": ["spotify:track:nope"]})
    check("POST", f"playlists/{theirs}/items", token, 403, json={"uris": uris[:1]})

    track_id = truth["plays"][0]["track_id"]
    track = check("GET", f"tracks/{track_id}", token, 200)
    album_id, artist_id = track["album"]["id"], track["artists"][0]["id"]
    assert track["external_ids"]["isrc"]
    check("GET", "tracks/not-an-id", token, 400)
    check("GET", "tracks/0000000000000000000000", token, 404)
    check("GET", f"artists/{artist_id}", token, 200)
    check("GET", f"albums/{album_id}", token, 200)
    check("GET", f"albums/{album_id}/tracks?limit=50", token, 200)
    check("GET", f"artists/{artist_id}/albums?limit=10", token, 200)
    check("GET", f"artists/{artist_id}/albums?limit=11", token, 400)
    name = track["name"].split()[0]
    found = check("GET", f"search?q={name}&type=track,artist,album,playlist&limit=10", token, 200)
    assert any(t["id"] == track_id for t in found["tracks"]["items"]) or found["tracks"]["total"] > 10
    check("GET", f"search?q={name}&type=track&limit=11", token, 400)
    check("GET", "search?type=track", token, 400)

    # removed for development-mode apps
    for path in (
        f"tracks?ids={track_id}",
        f"artists?ids={artist_id}",
        f"albums?ids={album_id}",
        f"audio-features?ids={track_id}",
        f"audio-features/{track_id}",
        f"audio-analysis/{track_id}",
        f"artists/{artist_id}/related-artists",
        f"artists/{artist_id}/top-tracks",
        f"users/{me_id}/playlists",
        f"playlists/{mine}/tracks",
        "browse/new-releases",
        f"users/{me_id}",
        f"shows?ids={track_id}",
        f"episodes?ids={track_id}",
        f"audiobooks?ids={track_id}",
        f"chapters?ids={track_id}",
        "markets",
        f"me/episodes/contains?ids={track_id}",
        f"me/shows/contains?ids={track_id}",
        f"me/audiobooks/contains?ids={track_id}",
        f"playlists/{theirs}/followers/contains",
    ):
        check("GET", path, token, 403)
    check("POST", f"users/{me_id}/playlists", token, 403, json={"name": "old way"})
    check("POST", f"playlists/{mine}/tracks", token, 403, json={"uris": uris[:1]})
    check("PUT", f"playlists/{mine}/tracks", token, 403, json={"uris": uris[:1]})
    check("DELETE", f"playlists/{mine}/tracks", token, 403, json={"tracks": [{"uri": uris[0]}]})
    # what 2026 clients report for /recommendations (docs/emulator.md, "Removed endpoints")
    check("GET", f"recommendations?seed_tracks={track_id}", token, 404)
    check("GET", "recommendations/available-genre-seeds", token, 404)
    # the type-specific library writes gave way to /me/library (February 2026)
    for kind in ("tracks", "albums", "episodes", "shows", "audiobooks", "following"):
        for method in ("PUT", "DELETE"):
            check(method, f"me/{kind}?ids={track_id}", token, 403)
    for path in (f"me/tracks/contains?ids={track_id}", f"me/albums/contains?ids={album_id}", "me/following/contains"):
        check("GET", path, token, 403)
    for method in ("PUT", "DELETE"):
        check(method, f"playlists/{theirs}/followers", token, 403)
    track_uri = f"spotify:track:{track_id}"
    check("PUT", f"me/library?uris={track_uri},spotify:artist:{artist_id}", token, 200)
    assert check("GET", f"me/library/contains?uris={track_uri},spotify:album:{album_id}", token, 200) == [True, False]
    check("DELETE", f"me/library?uris={track_uri}", token, 200)
    assert check("GET", f"me/library/contains?uris={track_uri}", token, 200) == [False]

    # playback is not modelled: no active device
    player = control.sign_in(me_id, scope="user-read-playback-state")["access_token"]
    check("GET", "me/player/devices", player, 200)
    check("GET", "me/player", player, 204)
    check("GET", "me/player/devices", token, 403)

    # auth and the allowlist
    check("GET", "me", None, 401)
    check("GET", "me", "not-a-token", 401)
    not_listed = members[5]["user_id"]
    assert members[5]["allowlisted"] is False, "a 6th member is past the 5-user dev-mode allowlist"
    outsider = control.sign_in(not_listed)["access_token"]
    check("GET", "me", outsider, 403)
    check("GET", "me/player/recently-played", outsider, 403)
    control.advance(seconds=3601)
    check("GET", "me", other_token, 401)

    # every Web API route and method of the app was called above (a new endpoint cannot skip validation)
    adapter = create_app(module_server.emulator).url_map.bind("127.0.0.1")
    called = {(adapter.match("/v1/" + path.strip("/"), method=method)[0], method) for method, path, _ in check.seen}
    routes = {
        (rule.endpoint, method)
        for rule in adapter.map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes - called == set(), f"endpoints without a validated call: {sorted(routes - called)}"


def test_limit_answers_match_the_spec(openapi: OpenAPI, spec_dict: dict[str, Any]) -> None:
    with EmulatorServer(seed=3, members=1, quota_per_day=4, rate_limit_per_30s=2) as srv:
        check = Checker(srv, openapi, spec_dict)
        token = srv.control.sign_in(srv.control.members()[0]["user_id"])["access_token"]
        check("GET", "me", token, 200)
        check("GET", "me", token, 200)
        check("GET", "me", token, 429)
        srv.control.advance(seconds=31)
        check("GET", "me", token, 200)
        check("GET", "me", token, 200)
        body = check("GET", "me", token, 429)
        assert body["error"]["reason"] == "QUOTA_EXCEEDED"
