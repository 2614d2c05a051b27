"""The /_emulator/ control API: seed/reset, clock, plays, faults, request log, ground truth, members, exports."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, Response, g, request

from recs.emulator.export import export_zip
from recs.emulator.household import from_ms, iso_ms, iso_s
from recs.emulator.state import Emulator, EmulatorError
from recs.emulator.webapi import playable

bp = Blueprint("control", __name__, url_prefix="/_emulator")


def _emu() -> Emulator:
    e: Emulator = g.emulator
    return e


def _ok(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


@bp.errorhandler(EmulatorError)
def _bad(exc: EmulatorError) -> Response:
    return _ok({"error": str(exc)}, 400)


def _body() -> dict[str, Any]:
    if not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except ValueError as exc:
        raise EmulatorError(f"request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EmulatorError("request body must be a JSON object")
    return body


def _clock() -> dict[str, Any]:
    e = _emu()
    return {"now": iso_ms(e.now_ms), "now_ms": e.now_ms}


@bp.get("/health")
def health() -> Response:
    return _ok({"ok": True})


@bp.get("/app")
def app_info() -> Response:
    e = _emu()
    return _ok({"client_id": e.client_id, "client_secret": e.client_secret, "seed": e.seed, "members": e.n_members})


@bp.post("/reset")
def reset() -> Response:
    body = _body()
    seed = body.get("seed")
    members = body.get("members")
    if seed is not None and not isinstance(seed, int):
        raise EmulatorError(f"seed must be an integer, got {seed!r}")
    if members is not None and not isinstance(members, int):
        raise EmulatorError(f"members must be an integer, got {members!r}")
    _emu().reset(seed, members)
    return _ok(_clock())


@bp.get("/clock")
def clock() -> Response:
    return _ok(_clock())


@bp.post("/clock/advance")
def advance() -> Response:
    seconds = _body().get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise EmulatorError(f"seconds must be a number, got {seconds!r}")
    new_plays = _emu().advance(seconds)
    return _ok({**_clock(), "new_plays": new_plays})


@bp.post("/plays")
def add_plays() -> Response:
    body = _body()
    plays = body.get("plays")
    if not isinstance(plays, list) or not all(isinstance(p, dict) for p in plays):
        raise EmulatorError("plays must be a list of objects")
    added = _emu().add_plays(str(body.get("user_id")), plays)
    return _ok({"added": added})


@bp.get("/faults")
def list_faults() -> Response:
    with _emu().lock:
        return _ok([f.as_dict() for f in _emu().faults])


@bp.post("/faults")
def add_fault() -> Response:
    return _ok(_emu().add_fault(_body()).as_dict(), 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    with _emu().lock:
        _emu().faults.clear()
    return _ok({"cleared": True})


@bp.delete("/faults/<int:fault_id>")
def remove_fault(fault_id: int) -> Response:
    with _emu().lock:
        before = len(_emu().faults)
        _emu().faults[:] = [f for f in _emu().faults if f.id != fault_id]
        return _ok({"removed": before - len(_emu().faults)})


@bp.get("/requests")
def requests_log() -> Response:
    since = request.args.get("since", 0, type=int) or 0
    with _emu().lock:
        return _ok(_emu().log[since:])


@bp.delete("/requests")
def clear_requests() -> Response:
    with _emu().lock:
        _emu().log.clear()
    return _ok({"cleared": True})


@bp.get("/usage")
def usage() -> Response:
    return _ok(_emu().usage())


@bp.get("/members")
def members() -> Response:
    e = _emu()
    with e.lock:
        return _ok(
            [
                {
                    "user_id": m.user_id,
                    "account_id": m.account_id,
                    "display_name": m.display_name,
                    "allowlisted": m.allowlisted,
                    "genres": m.genres,
                }
                for m in e.household.members.values()
            ]
        )


@bp.put("/members/<user_id>/allowlisted")
def set_allowlisted(user_id: str) -> Response:
    value = _body().get("allowlisted")
    if not isinstance(value, bool):
        raise EmulatorError(f"allowlisted must be true or false, got {value!r}")
    _emu().set_allowlisted(user_id, value)
    return _ok({"user_id": user_id, "allowlisted": value})


@bp.get("/members/<user_id>/availability")
def availability(user_id: str) -> Response:
    """Ground truth of GET /tracks/{id}?market=from_token for a member: does each track exist, does it play there."""
    e = _emu()
    ids = [t for t in request.args.get("track_ids", "").split(",") if t]
    with e.lock:
        member = e.household.members.get(user_id)
        if member is None:
            raise EmulatorError(f"no member {user_id!r}")
        table = e.releases.track_table
        tracks = {t: {"exists": t in table, "playable": t in table and playable(t, member.country)} for t in ids}
    return _ok({"market": member.country, "tracks": tracks})


@bp.post("/members/<user_id>/revoke")
def revoke(user_id: str) -> Response:
    return _ok({"revoked_grants": _emu().revoke(user_id)})


@bp.delete("/playlists/<playlist_id>")
def delete_playlist(playlist_id: str) -> Response:
    _emu().delete_playlist(playlist_id)
    return _ok({"deleted": playlist_id})


@bp.get("/members/<user_id>/export.zip")
def export(user_id: str) -> Response:
    package = request.args.get("package", "extended")
    try:
        data = export_zip(_emu(), user_id, package)
    except ValueError as exc:
        raise EmulatorError(str(exc)) from None
    return Response(
        data, mimetype="application/zip", headers={"Content-Disposition": 'attachment; filename="my_spotify_data.zip"'}
    )


@bp.get("/releases")
def releases() -> Response:
    """Releases dated in [since, until] (ISO days; until defaults to today), with the tracks each brought out first."""
    e = _emu()
    with e.lock:
        today = from_ms(e.now_ms).date().isoformat()
        until = min(request.args.get("until") or today, today)
        since = request.args.get("since") or until
        for name, value in (("since", since), ("until", until)):
            try:
                date.fromisoformat(value)
            except ValueError:
                raise EmulatorError(f"{name} must be an ISO day like 2026-11-01, got {value!r}") from None
        return _ok({"today": today, "releases": e.releases.ground_truth(since, until)})


@bp.get("/ground-truth")
def ground_truth() -> Response:
    e = _emu()
    only = request.args.get("user_id")
    since = request.args.get("since_ms", 0, type=int) or 0
    with e.lock:
        h = e.household
        users = [only] if only else list(h.members)
        for u in users:
            e.member(u)
        plays = [
            {
                "user_id": p.user_id,
                "played_at": iso_ms(p.at_ms),
                "played_at_ms": p.at_ms,
                "visible_at_ms": p.visible_ms,
                "track_id": p.track_id,
                "ms_played": p.ms_played,
                "context": {"type": p.context_type, "uri": p.context_uri} if p.context_uri else None,
                "skipped": p.skipped,
                "incognito": p.incognito,
                "offline": p.offline,
                "shuffle": p.shuffle,
                "reason_start": p.reason_start,
                "reason_end": p.reason_end,
            }
            for u in users
            for p in h.plays_until(u, e.now_ms)
            if p.at_ms >= since
        ]
        playlists = [
            {
                "id": p.id,
                "name": p.name,
                "owner_id": p.owner_id,
                "collaborators": sorted(p.collaborators),
                "public": p.public,
                "collaborative": p.collaborative,
                "description": p.description,
                "snapshot_id": p.snapshot_id,
                "followers": sorted(p.followers),
                # kind: track, episode (track_id is the episode's id), local (a file: no id) or null
                "items": [
                    {
                        "track_id": it.track_id or None,
                        "kind": it.kind,
                        "added_at": iso_s(it.added_at_ms),
                        "added_by": it.added_by,
                    }
                    for it in p.items
                ],
            }
            for p in h.playlists.values()
            if not only or p.owner_id == only or only in p.collaborators or only in p.followers
        ]
        saved = {u: [{"track_id": t, "added_at": iso_s(at)} for at, t in h.saved_until(u, e.now_ms)] for u in users}
        followed = {u: list(h.members[u].followed) for u in users}
        return _ok(
            {**_clock(), "plays": plays, "playlists": playlists, "saved_tracks": saved, "followed_artists": followed}
        )
