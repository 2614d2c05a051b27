"""Where the emulator meets what real Spotify does and tests used not to: scopes, markets, fields, library, removals."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import requests

from recs.emulator import ControlClient, EmulatorServer


def call(server: EmulatorServer, token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, server.api_base_url + path, headers=headers, timeout=10, **kwargs)


def all_pages(server: EmulatorServer, token: str, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = call(server, token, "GET", f"{path}?limit=50&offset={offset}").json()
        out.extend(page["items"])
        offset += 50
        if not page["next"]:
            return out


def test_liked_tracks_are_unique_in_the_api_and_the_export() -> None:
    # seed 4 used to list 5-9 tracks twice per member (liked again after enough plays)
    with EmulatorServer(seed=4, members=5) as server:
        for member in server.control.members():
            token = server.control.sign_in(member["user_id"])["access_token"]
            ids = [it["track"]["id"] for it in all_pages(server, token, "me/tracks")]
            assert len(ids) == len(set(ids)) > 0
            archive = zipfile.ZipFile(io.BytesIO(server.control.export_zip(member["user_id"], package="account")))
            name = next(n for n in archive.namelist() if n.endswith("YourLibrary.json"))
            uris = [t["uri"] for t in json.loads(archive.read(name))["tracks"]]
            assert len(uris) == len(set(uris)) == len(ids)


def test_private_and_collaborative_playlists_need_their_read_scopes(
    server: EmulatorServer, control: ControlClient
) -> None:
    user = control.members()[0]["user_id"]
    truth = control.ground_truth(user, since=control.now())
    private = [p["id"] for p in truth["playlists"] if not p["public"] and not p["collaborative"]]
    public = [p["id"] for p in truth["playlists"] if p["public"]]
    assert private and public
    full = control.sign_in(user)["access_token"]
    bare = control.sign_in(user, scope="user-read-recently-played")["access_token"]
    listed_full = {p["id"] for p in all_pages(server, full, "me/playlists")}
    listed_bare = {p["id"] for p in all_pages(server, bare, "me/playlists")}
    assert set(private) <= listed_full and not set(private) & listed_bare
    assert set(public) & listed_bare
    assert call(server, bare, "GET", f"playlists/{private[0]}/items").status_code == 403
    # writing needs the modify scope of the playlist's visibility
    public_only = control.sign_in(user, scope="playlist-modify-public playlist-read-private")["access_token"]
    refused = call(server, public_only, "PUT", f"playlists/{private[0]}", json={"name": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "Insufficient client scope"
    assert call(server, full, "GET", "me/tracks").ok
    assert call(server, bare, "GET", "me/tracks").status_code == 403


def test_spotify_owned_playlists_are_listed_but_not_readable(server: EmulatorServer, control: ControlClient) -> None:
    for member in control.members()[:5]:
        token = control.sign_in(member["user_id"])["access_token"]
        listed = all_pages(server, token, "me/playlists")
        spotify = [p for p in listed if p["owner"]["id"] == "spotify"]
        assert spotify, "every member follows at least one of Spotify's playlists"
        assert spotify[0]["owner"]["display_name"] == "Spotify"
        assert call(server, token, "GET", f"playlists/{spotify[0]['id']}/items").status_code == 404
        assert call(server, token, "GET", f"playlists/{spotify[0]['id']}").status_code == 404


def test_playlist_items_hold_episodes_local_files_and_nulls(server: EmulatorServer, control: ControlClient) -> None:
    items: list[dict[str, Any]] = []
    for member in control.members()[:5]:
        user = member["user_id"]
        token = control.sign_in(user)["access_token"]
        for p in control.ground_truth(user, since=control.now())["playlists"]:
            if p["owner_id"] != user or all(it["kind"] == "track" for it in p["items"]):
                continue
            page = all_pages(server, token, f"playlists/{p['id']}/items")
            assert [(it["item"] or {}).get("type") for it in page] == [
                {"track": "track", "episode": "episode", "local": "track", "null": None}[it["kind"]]
                for it in p["items"]
            ]
            items += page
    assert any(it["item"] is None for it in items)
    local = next(it for it in items if it["is_local"])
    assert local["item"]["id"] is None and local["item"]["uri"].startswith("spotify:local:")
    episode = next(it["item"] for it in items if it["item"] and it["item"]["type"] == "episode")
    assert episode["show"]["type"] == "show"


def test_fields_market_and_the_delete_body(server: EmulatorServer, control: ControlClient) -> None:
    user = control.members()[0]["user_id"]
    token = control.sign_in(user)["access_token"]
    pid = next(p["id"] for p in control.ground_truth(user, since=control.now())["playlists"] if p["owner_id"] == user)
    slim = call(server, token, "GET", f"playlists/{pid}", params={"fields": "name,snapshot_id,items(total)"}).json()
    assert set(slim) == {"name", "snapshot_id", "items"} and set(slim["items"]) == {"total"}
    page = call(server, token, "GET", f"playlists/{pid}/items", params={"fields": "items(item(id,name)),next"})
    assert set(page.json()) == {"items", "next"}
    assert call(server, token, "GET", f"playlists/{pid}", params={"fields": "items(total"}).status_code == 400

    assert call(server, token, "GET", "me/tracks", params={"market": "XX"}).status_code == 400
    assert call(server, token, "GET", "me/tracks", params={"market": "gb"}).status_code == 400
    tracks = all_pages(server, token, "me/tracks")
    ids = [it["track"]["id"] for it in tracks]
    playable = {
        it["track"]["is_playable"]
        for market in ("GB", "SE", "DE", "US")
        for it in call(server, token, "GET", "me/tracks", params={"market": market, "limit": 50}).json()["items"]
    }
    assert playable == {True, False}
    assert call(server, token, "GET", f"tracks/{ids[0]}", params={"market": "from_token"}).ok

    created = call(server, token, "POST", "me/playlists", json={"name": "t", "public": False}).json()
    uri = tracks[0]["track"]["uri"]
    first = call(server, token, "POST", f"playlists/{created['id']}/items", json={"uris": [uri, uri]}).json()
    old_key = call(server, token, "DELETE", f"playlists/{created['id']}/items", json={"tracks": [{"uri": uri}]})
    assert old_key.status_code == 400
    call(server, token, "POST", f"playlists/{created['id']}/items", json={"uris": [uri]})
    stale = {"items": [{"uri": uri, "positions": [0]}], "snapshot_id": first["snapshot_id"]}
    assert call(server, token, "DELETE", f"playlists/{created['id']}/items", json=stale).status_code == 400
    current = call(server, token, "GET", f"playlists/{created['id']}", params={"fields": "snapshot_id"}).json()
    fresh = {"items": [{"uri": uri, "positions": [0]}], "snapshot_id": current["snapshot_id"]}
    assert call(server, token, "DELETE", f"playlists/{created['id']}/items", json=fresh).ok


def test_library_endpoints_of_2026_and_removed_ones(server: EmulatorServer, control: ControlClient) -> None:
    user = control.members()[0]["user_id"]
    token = control.sign_in(user)["access_token"]
    truth = control.ground_truth(user, since=control.now())
    saved = {s["track_id"] for s in truth["saved_tracks"][user]}
    new = next(p["track_id"] for p in control.ground_truth(user)["plays"] if p["track_id"] not in saved)
    assert call(server, token, "PUT", f"me/tracks?ids={new}").status_code == 403
    assert call(server, token, "PUT", "me/library", params={"uris": f"spotify:track:{new}"}).status_code == 200
    assert call(server, token, "PUT", "me/library", params={"uris": f"spotify:track:{new}"}).status_code == 200
    ids = [it["track"]["id"] for it in all_pages(server, token, "me/tracks")]
    assert ids.count(new) == 1 and ids[0] == new
    assert call(server, token, "GET", "me/library/contains", params={"uris": f"spotify:track:{new}"}).json() == [True]
    assert call(server, token, "DELETE", "me/library", params={"uris": f"spotify:track:{new}"}).ok
    assert new not in {it["track"]["id"] for it in all_pages(server, token, "me/tracks")}
    too_many = ",".join([f"spotify:track:{new}"] * 41)
    assert call(server, token, "PUT", "me/library", params={"uris": too_many}).status_code == 400
    assert call(server, token, "PUT", "me/library", params={"uris": "spotify:track:x!"}).status_code == 400
    no_follow = control.sign_in(user, scope="user-library-modify")["access_token"]
    artist = call(server, token, "GET", f"tracks/{new}").json()["artists"][0]["uri"]
    assert call(server, no_follow, "PUT", "me/library", params={"uris": artist}).status_code == 403
    assert call(server, token, "GET", "recommendations", params={"seed_tracks": new}).status_code == 404
    assert call(server, token, "GET", "audio-features/" + new).status_code == 403


def test_search_is_ranked_fuzzy_and_meets_near_duplicates(server: EmulatorServer, control: ControlClient) -> None:
    token = control.sign_in(control.members()[0]["user_id"])["access_token"]
    catalog = server.emulator.catalog
    live = next(t for t in catalog.tracks.values() if catalog.albums[t.album_id].version == "live")
    original = catalog.tracks[live.original_id or ""]
    artist = catalog.artists[original.artist_ids[0]].name

    def search(q: str, kind: str = "track") -> dict[str, Any]:
        answer: dict[str, Any] = call(server, token, "GET", "search", params={"q": q, "type": kind, "limit": 10}).json()
        return answer

    exact = search(f'track:"{original.name}" artist:"{artist}"')["tracks"]["items"]
    assert exact[0]["id"] == original.id  # the original ranks first
    assert live.id in {t["id"] for t in search(f"{original.name} live {artist}")["tracks"]["items"]}
    # misspelt and reordered words still find it
    words = f"{artist} {original.name}".split()
    typo = " ".join(w[:-2] + w[-1] + w[-2] if len(w) >= 5 else w for w in reversed(words))
    assert original.id in {t["id"] for t in search(typo)["tracks"]["items"]}
    # track: looks at track names only, never at album names
    album = catalog.albums[original.album_id].name
    found = search(f'track:"{album}"')["tracks"]["items"]
    assert all(
        set(album.lower().split()) <= set(t["name"].lower().replace("-", " ").split()) or t["name"] != album
        for t in found
    )
    assert not any(t["album"]["name"] == album and album.lower() not in t["name"].lower() for t in found)
    episodes = search("Crate Diggers", "episode")
    assert set(episodes) == {"episodes"} and episodes["episodes"]["items"][0]["type"] == "episode"


def test_client_credentials_grant_reaches_the_catalogue_only(server: EmulatorServer, control: ControlClient) -> None:
    token_url = server.accounts_base_url + "api/token"
    form = {"grant_type": "client_credentials"}
    refused = requests.post(token_url, data={**form, "client_id": server.client_id}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
    answer = requests.post(token_url, data=form, auth=(server.client_id, server.client_secret), timeout=10).json()
    assert set(answer) == {"access_token", "token_type", "expires_in"}
    token = answer["access_token"]
    user = control.members()[0]["user_id"]
    track_id = control.ground_truth(user, since=control.now())["saved_tracks"][user][0]["track_id"]
    assert call(server, token, "GET", f"tracks/{track_id}").json()["id"] == track_id
    assert call(server, token, "GET", "search", params={"q": "love", "type": "track"}).ok
    assert call(server, token, "GET", "me").status_code == 401
    assert call(server, token, "GET", "me/playlists").status_code == 401


def test_artist_album_and_playlist_search_is_ranked_fuzzy_and_meets_lookalikes(
    server: EmulatorServer, control: ControlClient
) -> None:
    token = control.sign_in(control.members()[0]["user_id"])["access_token"]
    cat = server.emulator.catalog

    def names(q: str, kind: str) -> list[str]:
        answer = call(server, token, "GET", "search", params={"q": q, "type": kind, "limit": 10})
        assert answer.status_code == 200, answer.text
        return [item["name"] for item in answer.json()[f"{kind}s"]["items"]]

    twin = next(a for a in cat.artists.values() if a.lookalike_of and not a.name.endswith(("Band", "Experience")))
    real = cat.artists[twin.lookalike_of or ""]
    tributes = [a.name for a in cat.artists.values() if a.lookalike_of == real.id]
    plain = real.name.removeprefix("The ")
    # the artist asked for first, then its look-alikes ("The X" beside "X", tribute acts); a typo still finds it
    assert names(real.name, "artist")[0] == real.name and set(tributes) <= set(names(real.name, "artist"))
    typo = plain[:-3] + plain[-2] + plain[-3] + plain[-1]
    assert real.name in names(typo, "artist")[:3]
    # an article a name leaves out does not hide it
    assert {real.name, twin.name} <= set(names(f"the {plain}", "artist"))
    # albums: the original ranks before its remaster and deluxe edition, and year: picks one of them
    deluxe = next(al for al in cat.albums.values() if al.version == "deluxe")
    base = deluxe.name.removesuffix(" (Deluxe Edition)")
    found = names(base, "album")
    assert found[0] == base and deluxe.name in found
    owner = cat.artists[deluxe.artist_id].name
    assert names(f'{base} artist:"{owner}" year:{deluxe.release_date[:4]}', "album") == [deluxe.name]
    assert names(f"{base} year:1800-1801", "album") == []
    # a filter applies only to the types Spotify documents: track: is no artist filter
    assert names(f'track:"{base}"', "artist") == []
    genre_artists = names("genre:jazz", "artist")
    assert genre_artists and all(a.genre == "jazz" for a in cat.artists.values() if a.name in genre_artists)
    # isrc: the recording, its original first, then the copies that share its ISRC
    copy = next(t for t in cat.tracks.values() if cat.albums[t.album_id].version == "deluxe" and t.original_id)
    by_isrc = call(server, token, "GET", "search", params={"q": f"isrc:{copy.isrc}", "type": "track"}).json()
    assert by_isrc["tracks"]["items"][0]["id"] == copy.original_id
    assert copy.id in {t["id"] for t in by_isrc["tracks"]["items"]}
    # playlists: public ones, by name, misspelt or not; private ones never
    truth = control.ground_truth(since=control.now())["playlists"]
    public = next(p for p in truth if p["public"] and p["owner_id"] != "spotify" and len(p["name"]) >= 6)
    private = next(p for p in truth if not p["public"] and not p["collaborative"])
    first = public["name"].split()[0]
    assert public["name"] in names(public["name"], "playlist")[:3]
    if len(first) >= 5:
        assert public["name"] in names(first[:-2] + first[-1] + first[-2], "playlist")
    assert private["name"] not in names(private["name"], "playlist") or any(
        p["public"] and p["name"] == private["name"] for p in truth
    )


# Every endpoint docs/emulator.md lists under "Removed endpoints", with the status it answers there.
REMOVED = [
    ("GET", "recommendations?seed_genres=jazz", 404),
    ("GET", "recommendations/available-genre-seeds", 404),
    ("GET", "tracks?ids={track}", 403),
    ("GET", "artists?ids={artist}", 403),
    ("GET", "albums?ids={album}", 403),
    ("GET", "shows?ids={track}", 403),
    ("GET", "episodes?ids={track}", 403),
    ("GET", "audiobooks?ids={track}", 403),
    ("GET", "chapters?ids={track}", 403),
    ("GET", "audio-features?ids={track}", 403),
    ("GET", "audio-features/{track}", 403),
    ("GET", "audio-analysis/{track}", 403),
    ("GET", "artists/{artist}/related-artists", 403),
    ("GET", "artists/{artist}/top-tracks?market=GB", 403),
    ("GET", "browse/new-releases", 403),
    ("GET", "browse/featured-playlists", 403),
    ("GET", "browse/categories", 403),
    ("GET", "browse/categories/pop/playlists", 403),
    ("GET", "markets", 403),
    ("GET", "users/{user}", 403),
    ("GET", "users/{user}/playlists", 403),
    ("POST", "users/{user}/playlists", 403),
    ("GET", "playlists/{playlist}/tracks", 403),
    ("POST", "playlists/{playlist}/tracks", 403),
    ("PUT", "playlists/{playlist}/tracks", 403),
    ("DELETE", "playlists/{playlist}/tracks", 403),
    ("PUT", "me/tracks?ids={track}", 403),
    ("DELETE", "me/tracks?ids={track}", 403),
    ("PUT", "me/albums?ids={album}", 403),
    ("DELETE", "me/albums?ids={album}", 403),
    ("PUT", "me/episodes?ids={track}", 403),
    ("PUT", "me/shows?ids={track}", 403),
    ("PUT", "me/audiobooks?ids={track}", 403),
    ("PUT", "me/following?type=artist&ids={artist}", 403),
    ("DELETE", "me/following?type=artist&ids={artist}", 403),
    ("PUT", "playlists/{playlist}/followers", 403),
    ("DELETE", "playlists/{playlist}/followers", 403),
    ("GET", "me/tracks/contains?ids={track}", 403),
    ("GET", "me/albums/contains?ids={album}", 403),
    ("GET", "me/episodes/contains?ids={track}", 403),
    ("GET", "me/shows/contains?ids={track}", 403),
    ("GET", "me/audiobooks/contains?ids={track}", 403),
    ("GET", "me/following/contains?type=artist&ids={artist}", 403),
    ("GET", "playlists/{playlist}/followers/contains", 403),
]


def test_every_removed_endpoint_answers_the_status_real_clients_see(
    server: EmulatorServer, control: ControlClient
) -> None:
    user = control.members()[0]["user_id"]
    token = control.sign_in(user)["access_token"]
    truth = control.ground_truth(user, since=control.now())
    track = truth["saved_tracks"][user][0]["track_id"]
    cat = server.emulator.catalog
    ids = {
        "track": track,
        "artist": cat.tracks[track].artist_ids[0],
        "album": cat.tracks[track].album_id,
        "user": user,
        "playlist": next(p["id"] for p in truth["playlists"] if p["owner_id"] == user),
    }
    for method, path, status in REMOVED:
        answer = call(server, token, method, path.format(**ids), json={"uris": [f"spotify:track:{track}"]})
        assert answer.status_code == status, (method, path, answer.status_code)
        assert answer.json()["error"]["status"] == status
    # nothing was changed on the way: the liked songs are as they were
    assert call(server, token, "GET", "me/library/contains", params={"uris": f"spotify:track:{track}"}).json() == [True]
    # the 2026 replacement wants its URIs in the query, with the live API's words when they come in a body
    body_only = call(server, token, "PUT", "me/library", json={"uris": [f"spotify:track:{track}"]})
    assert body_only.status_code == 400 and body_only.json()["error"]["message"] == "Missing required field: uris"
    # playback is not modelled: no device the app can see, nothing playing
    player = control.sign_in(user, scope="user-read-playback-state")["access_token"]
    assert call(server, player, "GET", "me/player/devices").json() == {"devices": []}
    assert call(server, player, "GET", "me/player").status_code == 204
    bare = control.sign_in(user, scope="user-read-recently-played")["access_token"]
    assert call(server, bare, "GET", "me/player/devices").status_code == 403
