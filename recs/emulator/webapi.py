"""Emulated Web API v1 for a development-mode app: auth, allowlist, limits, and the endpoints that still work."""

from __future__ import annotations

import json
import random
import re
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from recs.emulator.catalog import is_base62_id
from recs.emulator.household import (
    DAY_MS,
    SPOTIFY_USER,
    Listener,
    Play,
    Playlist,
    PlaylistItem,
    from_ms,
    iso_ms,
    iso_s,
)
from recs.emulator.releases import GROUPS
from recs.emulator.search import index_for, rank_named, tokens
from recs.emulator.shapes import Shapes
from recs.emulator.state import Emulator

bp = Blueprint("webapi", __name__, url_prefix="/v1")

RECENT_WINDOW = 50
MIN_PLAY_MS = 30_000
TIME_RANGES = {"short_term": 28, "medium_term": 182, "long_term": 365}
NOT_REGISTERED = "Check settings on developer.spotify.com/dashboard, the user may not be registered."
REMOVED = "This endpoint is not available to apps in development mode"
# The live API's 429 bodies (docs/emulator.md, "Limits", has the reports): the daily quota says "Too many
# requests" with reason QUOTA_EXCEEDED and a Retry-After of hours; the 30-second limit has no reason.
QUOTA_MESSAGE = "Too many requests"
RATE_MESSAGE = "API rate limit exceeded"
_URI = re.compile(r"^spotify:track:([0-9A-Za-z]{22})$")
# what a client-credentials (app) token may call
APP_TOKEN_PATHS = (
    "/v1/tracks",
    "/v1/artists",
    "/v1/albums",
    "/v1/search",
    "/v1/recommendations",
    "/v1/audio-",
    "/v1/browse/",
    "/v1/users/",
    "/v1/markets",
    "/v1/shows",
    "/v1/episodes",
    "/v1/audiobooks",
    "/v1/chapters",
)
_ANY_URI = re.compile(r"^spotify:(track|album|episode|show|audiobook|artist|user|playlist):([0-9A-Za-z]{1,64})$")
# ISO 3166-1 alpha-2: what `market` accepts (plus from_token)
MARKETS = frozenset(
    {
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "XK",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    }
)


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, reason: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}


def error_response(
    status: int, message: str, reason: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    error: dict[str, Any] = {"status": status, "message": message}
    if reason:
        error["reason"] = reason
    return Response(json.dumps({"error": error}), status=status, mimetype="application/json", headers=headers or {})


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.reason, exc.headers)


def ok(payload: Any, status: int = 200) -> Response:
    market = g.get("market")
    if market:
        # with a market, tracks say whether they can be played there (without one Spotify assumes it can)
        _mark_playable(payload, market)
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def emu() -> Emulator:
    e: Emulator = g.emulator
    return e


def shapes() -> Shapes:
    s: Shapes = g.shapes
    return s


def me() -> Listener:
    m: Listener = g.member
    return m


# The scopes each endpoint documents (openapi.yml `security`); any one of them lets the call through here, and
# the endpoints check the one their object needs (a private playlist needs playlist-read-private or
# playlist-modify-private, a public one playlist-modify-public; /me/library each URI's own).
_SCOPES: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", "/v1/me/player/recently-played", ("user-read-recently-played",)),
    ("GET", "/v1/me/tracks", ("user-library-read",)),
    ("GET", "/v1/me/top/", ("user-top-read",)),
    ("GET", "/v1/me/following", ("user-follow-read",)),
    ("POST", "/v1/me/playlists", ("playlist-modify-public", "playlist-modify-private")),
    ("PUT", "/v1/playlists/", ("playlist-modify-public", "playlist-modify-private")),
    ("POST", "/v1/playlists/", ("playlist-modify-public", "playlist-modify-private")),
    ("DELETE", "/v1/playlists/", ("playlist-modify-public", "playlist-modify-private")),
    ("PUT", "/v1/me/library", ("user-library-modify", "user-follow-modify", "playlist-modify-public")),
    ("DELETE", "/v1/me/library", ("user-library-modify", "user-follow-modify", "playlist-modify-public")),
    ("GET", "/v1/me/library/contains", ("user-library-read", "user-follow-read", "playlist-read-private")),
]


def has_scope(*any_of: str) -> bool:
    granted: set[str] = g.scopes
    return bool(granted.intersection(any_of))


def need_scope(*any_of: str) -> None:
    if not has_scope(*any_of):
        raise ApiError(403, "Insufficient client scope")


@bp.before_request
def _authenticate() -> Response | None:
    e = emu()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        return error_response(401, "No token provided")
    with e.lock:
        record = e.token_owner(header[7:].strip())
        if isinstance(record, str):
            return error_response(401, record)
        g.user_id = record.user_id
        if not record.user_id:
            # a client-credentials token: the catalogue answers, nothing that needs a member does
            if not request.path.startswith(APP_TOKEN_PATHS):
                return error_response(401, "This request requires user authentication.")
        else:
            member = e.household.members[record.user_id]
            g.member = member
            if not member.allowlisted:
                return error_response(403, NOT_REGISTERED)
        refused = e.charge()
        if refused is not None:
            retry_after, reason = refused
            message = QUOTA_MESSAGE if reason == "QUOTA_EXCEEDED" else RATE_MESSAGE
            return error_response(429, message, reason, {"Retry-After": str(retry_after)})
        granted = set(record.scope.split())
        g.scopes = granted
        for method, prefix, needed in _SCOPES:
            if request.method == method and request.path.startswith(prefix) and not granted.intersection(needed):
                return error_response(403, "Insufficient client scope")
    market = request.args.get("market")
    if market is not None:
        if market == "from_token":
            market = g.member.country if record.user_id else None
            if market is None:
                return error_response(400, "Invalid market code: from_token needs a member's token")
        if market not in MARKETS:
            return error_response(400, "Invalid market code")
    g.market = market
    return None


def playable(track_id: str, market: str) -> bool:
    """About one track in thirty is not licensed in a given market (deterministic per track and market)."""
    return zlib.crc32(f"{track_id}/{market}".encode()) % 30 != 0


def _mark_playable(value: Any, market: str) -> None:
    if isinstance(value, list):
        for v in value:
            _mark_playable(v, market)
    elif isinstance(value, dict):
        if value.get("type") == "track" and value.get("id") and "is_playable" in value:
            value["is_playable"] = playable(value["id"], market)
            if not value["is_playable"]:
                # as Spotify does for a track not licensed in the market asked for
                value["restrictions"] = {"reason": "market"}
        for v in value.values():
            if isinstance(v, (dict, list)):
                _mark_playable(v, market)


def int_arg(name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name}: {raw!r} is not an integer") from None
    if value < lo or (hi is not None and value > hi):
        bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ApiError(400, f"Invalid {name}: {value} (allowed {bounds})")
    return value


def current_url(**override: Any) -> str:
    params = {k: v for k, v in request.args.items()}
    params.update({k: str(v) for k, v in override.items() if v is not None})
    for k, v in override.items():
        if v is None:
            params.pop(k, None)
    query = urlencode(params)
    return request.base_url + (f"?{query}" if query else "")


# --- removed in development mode -------------------------------------------------------------------
def removed() -> Response:
    return error_response(403, REMOVED)


# /recommendations answers 404 to a dev-mode app (docs/emulator.md, "Removed endpoints", has the sources)
for _rule in ("/recommendations", "/recommendations/available-genre-seeds"):
    bp.add_url_rule(_rule, f"gone{_rule}", lambda **_kw: error_response(404, "Service not found"), methods=["GET"])
# February 2026: the type-specific library writes are replaced by /me/library for dev-mode apps
for _rule in ("/me/tracks", "/me/albums", "/me/episodes", "/me/shows", "/me/audiobooks", "/me/following"):
    bp.add_url_rule(_rule, f"removed_write{_rule}", lambda **_kw: removed(), methods=["PUT", "DELETE"])
for _rule in (
    "/me/tracks/contains",
    "/me/albums/contains",
    "/me/episodes/contains",
    "/me/shows/contains",
    "/me/audiobooks/contains",
    "/me/following/contains",
    "/playlists/<_id>/followers/contains",
):
    bp.add_url_rule(_rule, f"removed{_rule}", lambda **_kw: removed(), methods=["GET"])
bp.add_url_rule("/playlists/<_id>/followers", "removed_followers", lambda **_kw: removed(), methods=["PUT", "DELETE"])

for _rule in (
    "/audio-features",
    "/audio-features/<_id>",
    "/audio-analysis/<_id>",
    "/artists/<_id>/related-artists",
    "/artists/<_id>/top-tracks",
    "/browse/<path:_rest>",
    "/users/<_id>",
    "/markets",
    # the batch forms of the catalogue endpoints this emulator does not otherwise serve
    "/shows",
    "/episodes",
    "/audiobooks",
    "/chapters",
):
    bp.add_url_rule(_rule, f"removed{_rule}", lambda **_kw: removed(), methods=["GET"])
bp.add_url_rule("/users/<_id>/playlists", "removed_user_playlists", lambda **_kw: removed(), methods=["GET", "POST"])
bp.add_url_rule(
    "/playlists/<_id>/tracks",
    "removed_playlist_tracks",
    lambda **_kw: removed(),
    methods=["GET", "POST", "PUT", "DELETE"],
)


@bp.get("/tracks")
@bp.get("/artists")
@bp.get("/albums")
def batch_lookup() -> Response:
    # the batch ?ids= forms are gone for dev-mode apps: one call per entity
    return removed()


# --- the player ------------------------------------------------------------------------------------
@bp.get("/me/player/devices")
def devices() -> Response:
    # Playback is not modelled: the members listen on devices the app never sees, as when none is active.
    need_scope("user-read-playback-state")
    return ok({"devices": []})


@bp.get("/me/player")
def playback_state() -> Response:
    # nothing playing on a device the app can see: Spotify answers 204 with no body
    need_scope("user-read-playback-state")
    return Response("", status=204)


# --- the current user --------------------------------------------------------------------------------
@bp.get("/me")
@bp.get("/me/")
def get_me() -> Response:
    return ok(shapes().me(me()))


def eligible_recent(m: Listener) -> list[Play]:
    """The last 50 plays the API still knows of, newest first: over 30 s, not in a private session."""
    out: list[Play] = []
    now = emu().now_ms
    # Every play the platform knows of, future-dated ones included (a device with a wrong clock):
    # plays generated for later today are not visible yet.
    for play in reversed(emu().household.plays[m.user_id]):
        if play.ms_played >= MIN_PLAY_MS and not play.incognito and play.visible_ms <= now:
            out.append(play)
            if len(out) == RECENT_WINDOW:
                break
    return out


def context_object(play: Play) -> dict[str, Any] | None:
    if play.context_uri is None:
        return None
    kind = play.context_type or play.context_uri.split(":")[1]
    ident = play.context_uri.rsplit(":", 1)[1]
    s = shapes()
    href = {
        "album": f"{s.api}albums/{ident}",
        "artist": f"{s.api}artists/{ident}",
        "playlist": f"{s.api}playlists/{ident}",
    }.get(kind, f"{s.api}me/tracks")
    web = (
        f"https://open.spotify.com/{kind}/{ident}"
        if kind in ("album", "artist", "playlist")
        else "https://open.spotify.com/collection/tracks"
    )
    return {"type": kind, "uri": play.context_uri, "href": href, "external_urls": {"spotify": web}}


@bp.get("/me/player/recently-played")
def recently_played() -> Response:
    limit = int_arg("limit", 20, 1, 50)
    after = request.args.get("after")
    before = request.args.get("before")
    if after is not None and before is not None:
        raise ApiError(400, "Only one of after and before may be given")
    with emu().lock:
        window = eligible_recent(me())
        if before is not None:
            cursor = int_arg("before", 0, 0, None)
            page = [p for p in window if p.at_ms < cursor][:limit]
        elif after is not None:
            cursor = int_arg("after", 0, 0, None)
            newer = [p for p in window if p.at_ms > cursor]
            page = newer[-limit:]
        else:
            page = window[:limit]
        s = shapes()
        items = [
            {
                "track": s.track(emu().catalog.tracks[p.track_id]),
                "played_at": iso_ms(p.at_ms),
                "context": context_object(p),
            }
            for p in page
        ]
    body: dict[str, Any] = {"items": items, "next": None, "limit": limit, "href": current_url()}
    if page:
        body["cursors"] = {"after": str(page[0].at_ms), "before": str(page[-1].at_ms)}
        if any(p.at_ms < page[-1].at_ms for p in window):
            body["next"] = current_url(before=page[-1].at_ms, after=None, limit=limit)
    return ok(body)


@bp.get("/me/tracks")
def saved_tracks() -> Response:
    limit = int_arg("limit", 20, 1, 50)
    offset = int_arg("offset", 0, 0, None)
    with emu().lock:
        saved = emu().household.saved_until(me().user_id, emu().now_ms)
        newest = sorted(saved, key=lambda s: -s[0])
        s = shapes()
        items = [
            {"added_at": iso_s(at), "track": s.track(emu().releases.track_table[t])}
            for at, t in newest[offset : offset + limit]
        ]
        return ok(s.paging("me/tracks", items, len(newest), limit, offset))


def library_uris() -> list[tuple[str, str]]:
    raw = request.args.get("uris")
    if not raw:
        # the live API's words when uris come in a JSON body instead of the query (psst#740, 2026-07-08)
        raise ApiError(400, "Missing required field: uris")
    uris = [u for u in raw.split(",") if u]
    if len(uris) > 40:
        raise ApiError(400, f"Too many uris: at most 40, got {len(uris)}")
    out = []
    for uri in uris:
        match = _ANY_URI.match(uri)
        if match is None:
            raise ApiError(400, f"Invalid uri: {uri}")
        out.append((match.group(1), match.group(2)))
    return out


_LIBRARY_SCOPE = {"artist": "user-follow-modify", "user": "user-follow-modify", "playlist": "playlist-modify-public"}


def change_library(add: bool) -> Response:
    """PUT/DELETE /me/library: tracks go to liked songs, artists to follows, playlists to followed ones."""
    entries = library_uris()
    for kind, _ in entries:
        need_scope(_LIBRARY_SCOPE.get(kind, "user-library-modify"))
    with emu().lock:
        e = emu()
        h = e.household
        m = me()
        for kind, ident in entries:
            if kind == "track":
                if ident not in e.releases.track_table:
                    raise ApiError(400, "Payload contains a non-existing ID")
                h.set_saved(m.user_id, ident, add, e.now_ms)
            elif kind == "artist":
                if ident not in e.catalog.artists:
                    raise ApiError(400, "Payload contains a non-existing ID")
                if add and ident not in m.followed:
                    m.followed.append(ident)
                elif not add and ident in m.followed:
                    m.followed.remove(ident)
            elif kind == "playlist":
                pl = h.playlists.get(ident)
                if pl is None:
                    raise ApiError(400, "Payload contains a non-existing ID")
                if add:
                    pl.followers.add(m.user_id)
                else:
                    pl.followers.discard(m.user_id)
            else:
                other = h.other_library.setdefault(m.user_id, set())
                if add:
                    other.add(f"{kind}:{ident}")
                else:
                    other.discard(f"{kind}:{ident}")
    return Response("", status=200)


@bp.put("/me/library")
def save_library() -> Response:
    return change_library(True)


@bp.delete("/me/library")
def remove_library() -> Response:
    return change_library(False)


@bp.get("/me/library/contains")
def library_contains() -> Response:
    entries = library_uris()
    with emu().lock:
        h = emu().household
        m = me()
        saved = {t for at, t in h.saved_until(m.user_id, emu().now_ms)}
        other = h.other_library.get(m.user_id, set())
        answer = []
        for kind, ident in entries:
            if kind == "track":
                answer.append(ident in saved)
            elif kind == "artist":
                answer.append(ident in m.followed)
            elif kind == "playlist":
                pl = h.playlists.get(ident)
                answer.append(pl is not None and m.user_id in pl.followers)
            else:
                answer.append(f"{kind}:{ident}" in other)
    return ok(answer)


def top_counts(m: Listener, time_range: str) -> Counter[str]:
    since = emu().now_ms - TIME_RANGES[time_range] * DAY_MS
    counts: Counter[str] = Counter()
    for play in reversed(emu().household.plays_until(m.user_id, emu().now_ms)):
        if play.at_ms < since:
            break
        if play.ms_played >= MIN_PLAY_MS and not play.incognito:
            counts[play.track_id] += 1
    return counts


@bp.get("/me/top/<kind>")
def top(kind: str) -> Response:
    if kind not in ("tracks", "artists"):
        raise ApiError(404, "Service not found")
    time_range = request.args.get("time_range", "medium_term")
    if time_range not in TIME_RANGES:
        raise ApiError(400, f"Invalid time range {time_range!r}: use short_term, medium_term or long_term")
    limit = int_arg("limit", 20, 1, 50)
    offset = int_arg("offset", 0, 0, None)
    with emu().lock:
        counts = top_counts(me(), time_range)
        cat = emu().catalog
        s = shapes()
        if kind == "tracks":
            ranked = sorted(counts, key=lambda t: (-counts[t], t))
            items = [s.track(cat.tracks[t]) for t in ranked[offset : offset + limit]]
        else:
            by_artist: Counter[str] = Counter()
            for t, n in counts.items():
                by_artist[cat.tracks[t].artist_ids[0]] += n
            ranked = sorted(by_artist, key=lambda a: (-by_artist[a], a))
            items = [s.artist(cat.artists[a]) for a in ranked[offset : offset + limit]]
        return ok(s.paging(f"me/top/{kind}", items, len(ranked), limit, offset, {"time_range": time_range}))


@bp.get("/me/following")
def following() -> Response:
    if request.args.get("type") != "artist":
        raise ApiError(400, "Bad request: type must be artist")
    limit = int_arg("limit", 20, 1, 50)
    after = request.args.get("after")
    with emu().lock:
        followed = list(me().followed)
        start = 0
        if after:
            if after not in followed:
                raise ApiError(400, f"Invalid after cursor {after!r}")
            start = followed.index(after) + 1
        page = followed[start : start + limit]
        s = shapes()
        body: dict[str, Any] = {
            "items": [s.artist(emu().catalog.artists[a]) for a in page],
            "next": current_url(after=page[-1], limit=limit) if page and start + limit < len(followed) else None,
            "total": len(followed),
            "limit": limit,
            "href": current_url(),
        }
        if page and start + limit < len(followed):
            body["cursors"] = {"after": page[-1]}
        else:
            body["cursors"] = {}
        return ok({"artists": body})


# --- playlists ---------------------------------------------------------------------------------------
def visible_playlists(m: Listener) -> list[Playlist]:
    """Own, collaborative and followed playlists, newest first; private ones only with playlist-read-private,
    collaborative ones only with playlist-read-collaborative (as Spotify documents GET /me/playlists)."""
    out = []
    for p in emu().household.playlists.values():
        if p.owner_id != m.user_id and m.user_id not in p.collaborators and m.user_id not in p.followers:
            continue
        if p.collaborative and not has_scope("playlist-read-collaborative"):
            continue
        if not p.public and not p.collaborative and not has_scope("playlist-read-private"):
            continue
        out.append(p)
    return list(reversed(out))


def parse_fields(spec: str) -> dict[str, Any]:
    """Spotify's `fields` filter: `a,b.c,items(added_at,item(name,id))`; a leaf maps to None (keep it whole)."""
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(spec):
            start = pos
            while pos < len(spec) and spec[pos] not in ",()":
                pos += 1
            name = spec[start:pos].strip()
            sub: dict[str, Any] | None = None
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = parse_list()
                if pos >= len(spec) or spec[pos] != ")":
                    raise ApiError(400, f"Invalid fields {spec!r}: unbalanced parentheses")
                pos += 1
            if not name:
                raise ApiError(400, f"Invalid fields {spec!r}: empty field name")
            node = out
            *path, last = name.split(".")
            for part in path:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = node[part] = {}
                node = nxt
            node[last] = sub
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            break
        return out

    tree = parse_list()
    if pos != len(spec):
        raise ApiError(400, f"Invalid fields {spec!r}: unbalanced parentheses")
    return tree


def select_fields(value: Any, tree: dict[str, Any] | None) -> Any:
    if tree is None:
        return value
    if isinstance(value, list):
        return [select_fields(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: select_fields(value[k], sub) for k, sub in tree.items() if k in value}
    return value


def with_fields(payload: dict[str, Any]) -> Any:
    spec = request.args.get("fields")
    return select_fields(payload, parse_fields(spec)) if spec else payload


@bp.get("/me/playlists")
def my_playlists() -> Response:
    limit = int_arg("limit", 20, 1, 50)
    offset = int_arg("offset", 0, 0, 100_000)
    with emu().lock:
        pls = visible_playlists(me())
        s = shapes()
        members = emu().household.members
        items = [s.simple_playlist(p, members.get(p.owner_id)) for p in pls[offset : offset + limit]]
        return ok(s.paging("me/playlists", items, len(pls), limit, offset))


def json_body() -> Any:
    if not request.data:
        return None
    try:
        return json.loads(request.data)
    except ValueError:
        raise ApiError(400, "Error parsing JSON.") from None


@bp.post("/me/playlists")
def create_playlist() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "Error parsing JSON.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "Missing required field: name")
    public = body.get("public", True)
    collaborative = body.get("collaborative", False)
    if not isinstance(public, bool) or not isinstance(collaborative, bool):
        raise ApiError(400, "public and collaborative must be booleans")
    if collaborative and public:
        raise ApiError(400, "Collaborative playlists can only be private.")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise ApiError(400, "description must be a string")
    need_scope("playlist-modify-public" if public else "playlist-modify-private")
    with emu().lock:
        e = emu()
        # A counter, not the number of playlists: Spotify never hands out a deleted playlist's id again.
        e.created_playlists += 1
        rng = random.Random(f"playlist/{e.seed}/{e.created_playlists}/{e.now_ms}")
        from recs.emulator.catalog import base62_id

        playlist = Playlist(base62_id(rng), name, me().user_id, description, public, collaborative)
        e.household.playlists[playlist.id] = playlist
        return ok(full_playlist(playlist), 201)


def full_playlist(p: Playlist) -> dict[str, Any]:
    s = shapes()
    body = s.simple_playlist(p, emu().household.members.get(p.owner_id))
    body["description"] = p.description or None
    body["followers"] = {"href": None, "total": 0}
    if p.can_edit(me().user_id):
        items = [s.playlist_item(it, emu().household.episodes) for it in p.items[:100]]
        body["items"] = s.paging(f"playlists/{p.id}/items", items, len(p.items), 100, 0)
    else:
        # dev mode: contents only for playlists the member owns or collaborates on
        del body["items"]
    return body


def find_playlist(playlist_id: str) -> Playlist:
    p = emu().household.playlists.get(playlist_id)
    # Spotify's editorial and algorithmic playlists do not exist for a dev-mode app (since 2024-11-27)
    if p is None or p.owner_id == SPOTIFY_USER:
        if not is_base62_id(playlist_id):
            raise ApiError(400, "Invalid base62 id")
        raise ApiError(404, "Resource not found")
    return p


def check_read_scope(p: Playlist) -> None:
    if p.collaborative:
        need_scope("playlist-read-collaborative", "playlist-read-private")
    elif not p.public:
        need_scope("playlist-read-private")


def check_modify_scope(p: Playlist) -> None:
    need_scope("playlist-modify-public" if p.public else "playlist-modify-private")


@bp.get("/playlists/<playlist_id>")
def get_playlist(playlist_id: str) -> Response:
    with emu().lock:
        p = find_playlist(playlist_id)
        check_read_scope(p)
        return ok(with_fields(full_playlist(p)))


@bp.put("/playlists/<playlist_id>")
def change_playlist(playlist_id: str) -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "Error parsing JSON.")
    with emu().lock:
        p = find_playlist(playlist_id)
        if p.owner_id != me().user_id:
            raise ApiError(403, "You cannot change details of a playlist you do not own.")
        check_modify_scope(p)
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise ApiError(400, "name must be a non-empty string")
            p.name = body["name"]
        if "description" in body:
            p.description = str(body["description"] or "")
        if "public" in body:
            p.public = bool(body["public"])
        if "collaborative" in body:
            p.collaborative = bool(body["collaborative"])
        p.version += 1
    return Response("", status=200)


def editable(playlist_id: str) -> Playlist:
    p = find_playlist(playlist_id)
    if not p.can_edit(me().user_id):
        raise ApiError(403, "You cannot modify a playlist you neither own nor collaborate on.")
    check_modify_scope(p)
    return p


@bp.get("/playlists/<playlist_id>/items")
def playlist_items(playlist_id: str) -> Response:
    limit = int_arg("limit", 20, 1, 50)
    offset = int_arg("offset", 0, 0, None)
    with emu().lock:
        p = find_playlist(playlist_id)
        check_read_scope(p)
        if not p.can_edit(me().user_id):
            raise ApiError(403, "Forbidden")
        s = shapes()
        items = [s.playlist_item(it, emu().household.episodes) for it in p.items[offset : offset + limit]]
        return ok(with_fields(s.paging(f"playlists/{p.id}/items", items, len(p.items), limit, offset)))


def track_ids_from(uris: Any) -> list[str]:
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ApiError(400, "uris must be a list of Spotify track URIs")
    if len(uris) > 100:
        raise ApiError(400, f"Too many items: at most 100 URIs per request, got {len(uris)}")
    out: list[str] = []
    for uri in uris:
        match = _URI.match(uri.strip())
        if match is None:
            raise ApiError(400, f"Invalid track uri: {uri}")
        if match.group(1) not in emu().releases.track_table:
            # Spotify's words, and like Spotify it does not say which: the whole request is refused.
            raise ApiError(400, "Payload contains a non-existing ID")
        out.append(match.group(1))
    return out


def uris_arg(body: Any) -> list[str] | None:
    """URIs from the query (comma-separated; wins, as documented), a {"uris": [...]} body, or a bare array (spotipy)."""
    if request.args.get("uris"):
        return [u for u in request.args["uris"].split(",") if u]
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and "uris" in body:
        uris = body["uris"]
        if not isinstance(uris, list):
            raise ApiError(400, "uris must be a list of Spotify track URIs")
        return uris
    return None


@bp.post("/playlists/<playlist_id>/items")
def add_items(playlist_id: str) -> Response:
    body = json_body()
    uris = uris_arg(body)
    if uris is None:
        raise ApiError(400, "No uris provided")
    position: int | None = None
    if request.args.get("position") is not None:
        position = int_arg("position", 0, 0, None)
    elif isinstance(body, dict) and body.get("position") is not None:
        if not isinstance(body["position"], int) or body["position"] < 0:
            raise ApiError(400, "position must be a non-negative integer")
        position = body["position"]
    with emu().lock:
        p = editable(playlist_id)
        ids = track_ids_from(uris)
        now = emu().now_ms
        new = [PlaylistItem(t, now, me().user_id) for t in ids]
        at = len(p.items) if position is None else min(position, len(p.items))
        p.items[at:at] = new
        p.version += 1
        return ok({"snapshot_id": p.snapshot_id}, 201)


@bp.put("/playlists/<playlist_id>/items")
def replace_items(playlist_id: str) -> Response:
    body = json_body()
    uris = uris_arg(body)
    with emu().lock:
        p = editable(playlist_id)
        if uris is not None:
            ids = track_ids_from(uris)
            now = emu().now_ms
            p.items = [PlaylistItem(t, now, me().user_id) for t in ids]
        elif isinstance(body, dict) and "range_start" in body and "insert_before" in body:
            start, before, length = body["range_start"], body["insert_before"], body.get("range_length", 1)
            n = len(p.items)
            if not all(isinstance(v, int) for v in (start, before, length)) or not (
                0 <= start < n and 0 <= before <= n and 1 <= length <= n - start
            ):
                raise ApiError(400, "Invalid range_start, range_length or insert_before")
            moved = p.items[start : start + length]
            rest = p.items[:start] + p.items[start + length :]
            target = before if before <= start else before - length
            p.items = rest[:target] + moved + rest[target:]
        else:
            raise ApiError(400, "Either uris (replace) or range_start and insert_before (reorder) must be given")
        p.version += 1
        return ok({"snapshot_id": p.snapshot_id})


@bp.delete("/playlists/<playlist_id>/items")
def remove_items(playlist_id: str) -> Response:
    body = json_body()
    # `tracks` was the key of the removed /tracks endpoint: /items wants `items`
    entries = body.get("items") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ApiError(400, 'Body must be {"items": [{"uri": ...}]}')
    if len(entries) > 100:
        raise ApiError(400, f"Too many items: at most 100 per request, got {len(entries)}")
    snapshot = body.get("snapshot_id") if isinstance(body, dict) else None
    with emu().lock:
        p = editable(playlist_id)
        # positions are read against the version the client names; against a stale one they cannot be applied
        if (
            snapshot is not None
            and snapshot != p.snapshot_id
            and (not isinstance(snapshot, str) or any(isinstance(e, dict) and e.get("positions") for e in entries))
        ):
            raise ApiError(400, f"Invalid snapshot_id {snapshot!r}: the playlist has changed since")
        drop_all: set[str] = set()
        drop_at: set[int] = set()
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str):
                raise ApiError(400, 'Each item must be {"uri": "spotify:track:..."}')
            (track_id,) = track_ids_from([entry["uri"]])
            positions = entry.get("positions")
            if positions is None:
                drop_all.add(track_id)
            else:
                for pos in positions:
                    if not isinstance(pos, int) or not 0 <= pos < len(p.items) or p.items[pos].track_id != track_id:
                        raise ApiError(
                            400,
                            f"Could not remove tracks, please check parameters: {entry['uri']} is not at position {pos}",
                        )
                    drop_at.add(pos)
        p.items = [it for i, it in enumerate(p.items) if i not in drop_at and it.track_id not in drop_all]
        p.version += 1
        return ok({"snapshot_id": p.snapshot_id})


# --- catalogue ---------------------------------------------------------------------------------------
def checked_id(entity_id: str, table: Mapping[str, Any]) -> Any:
    if not is_base62_id(entity_id):
        raise ApiError(400, "Invalid base62 id")
    entity = table.get(entity_id)
    if entity is None:
        raise ApiError(404, "Resource not found")
    return entity


@bp.get("/tracks/<track_id>")
def get_track(track_id: str) -> Response:
    return ok(shapes().track(checked_id(track_id, emu().releases.track_table)))


@bp.get("/artists/<artist_id>")
def get_artist(artist_id: str) -> Response:
    return ok(shapes().artist(checked_id(artist_id, emu().catalog.artists)))


def album_tracks_page(album_id: str, limit: int, offset: int) -> dict[str, Any]:
    releases = emu().releases
    album = releases.album_table[album_id]
    tracks = releases.track_table
    s = shapes()
    items = [s.simple_track(tracks[t]) for t in album.track_ids[offset : offset + limit]]
    return s.paging(f"albums/{album_id}/tracks", items, len(album.track_ids), limit, offset)


@bp.get("/albums/<album_id>")
def get_album(album_id: str) -> Response:
    album = checked_id(album_id, emu().releases.album_table)
    return ok(shapes().album(album, album_tracks_page(album.id, 50, 0)))


@bp.get("/albums/<album_id>/tracks")
def get_album_tracks(album_id: str) -> Response:
    limit = int_arg("limit", 20, 1, 50)
    offset = int_arg("offset", 0, 0, None)
    album = checked_id(album_id, emu().releases.album_table)
    return ok(album_tracks_page(album.id, limit, offset))


@bp.get("/artists/<artist_id>/albums")
def get_artist_albums(artist_id: str) -> Response:
    limit = int_arg("limit", 5, 0, 10)
    offset = int_arg("offset", 0, 0, None)
    artist = checked_id(artist_id, emu().catalog.artists)
    groups = request.args.get("include_groups")
    wanted = set(GROUPS) if not groups else {g.strip() for g in groups.split(",")}
    if not wanted <= set(GROUPS):
        raise ApiError(400, f"Invalid include_groups {groups!r}")
    s = shapes()
    e = emu()
    # only what is out by the emulated day: releases dated ahead are not listed yet
    albums = e.releases.artist_albums(artist.id, wanted, from_ms(e.now_ms).date().isoformat())
    items = [{**s.simple_album(al), "album_group": group} for al, group in albums[offset : offset + limit]]
    extra = {"include_groups": groups} if groups else None
    return ok(
        s.paging(
            f"artists/{artist.id}/albums", items, len(albums), max(limit, 1) if not items else limit, offset, extra
        )
    )


_FILTER = re.compile(r'(\w+):(?:"([^"]*)"|(\S+))')


@bp.get("/search")
def search() -> Response:
    q = request.args.get("q")
    if not q:
        raise ApiError(400, "No search query")
    types = request.args.get("type")
    if not types:
        raise ApiError(400, "Missing parameter type")
    kinds = types.split(",")
    bad = [k for k in kinds if k not in ("album", "artist", "playlist", "track", "show", "episode", "audiobook")]
    if bad:
        raise ApiError(400, f"Bad search type field {bad[0]}")
    limit = int_arg("limit", 5, 1, 10)
    offset = int_arg("offset", 0, 0, 1000)
    filters = {m.group(1).lower(): (m.group(2) or m.group(3)).lower() for m in _FILTER.finditer(q)}
    words = tokens(_FILTER.sub(" ", q))
    e = emu()
    cat = e.catalog
    index = index_for(cat)
    today = from_ms(e.now_ms).date().isoformat()
    s = shapes()
    out: dict[str, Any] = {}

    def page(key: str, items: list[Any], total: int) -> None:
        out[key] = s.paging("search", items, total, limit, offset, {"q": q, "type": types})

    if "track" in kinds:
        ranked = index.search("track", words, filters, today)
        page("tracks", [s.track(cat.tracks[t]) for t in ranked[offset : offset + limit]], len(ranked))
    if "artist" in kinds:
        ranked = index.search("artist", words, filters, today)
        page("artists", [s.artist(cat.artists[a]) for a in ranked[offset : offset + limit]], len(ranked))
    if "album" in kinds:
        ranked = index.search("album", words, filters, today)
        page("albums", [s.simple_album(cat.albums[a]) for a in ranked[offset : offset + limit]], len(ranked))
    if "playlist" in kinds:
        # playlists change over time: ranked per query (no field filter applies to them: they are left out)
        with e.lock:
            public = {
                p.id: (p.name, [p.name], float(len(p.followers))) for p in e.household.playlists.values() if p.public
            }
            ranked = rank_named(public, words)
            members = e.household.members
            pls = e.household.playlists
            items = [s.simple_playlist(pls[p], members.get(pls[p].owner_id)) for p in ranked[offset : offset + limit]]
        page("playlists", items, len(ranked))
    if "episode" in kinds:
        with e.lock:
            eps = e.household.episodes
            named = {ep.id: (ep.name, [ep.name, ep.show_name], 0.0) for ep in eps.values()}
            ranked = rank_named(named, words)
            page("episodes", [s.episode(eps[x]) for x in ranked[offset : offset + limit]], len(ranked))
    for kind in ("show", "audiobook"):
        if kind in kinds:
            # no shows or audiobooks of their own here: an empty page, as for a search that finds none
            page(f"{kind}s", [], 0)
    return ok(out)
