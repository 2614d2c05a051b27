"""The access sweep (every route as member A with member B's ids: 403/404, never B's data) and the CSRF sweep."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import NOW, Household, csrf_token, sign_in

from recs.storage import Database
from recs.storage import schema as s
from recs.storage.feedback import add_excluded_context, block_artist, hide_track, queue_job_request

B_CONTEXT = "spotify:playlist:" + "P" * 22


@dataclass
class Call:
    endpoint: str
    method: str
    path: str
    data: dict[str, Any] = field(default_factory=dict)
    # What A must get when the call names B's things (None: any answer, as long as no B data shows).
    expect: tuple[int, ...] | None = None


def _give_owner_private_things(app: Flask, db: Database, h: Household) -> str:
    """B (the owner) hides a track, blocks an artist, excludes a context, imports, and has an import running."""
    with db.write() as conn:
        hide_track(conn, h.owner, h.owner_tracks[8], NOW)
        block_artist(conn, h.owner, h.owner_artist, None, NOW)
        add_excluded_context(conn, h.owner, B_CONTEXT, "Olive party mix", NOW)
        queue_job_request(conn, "publish", h.owner, h.owner, NOW)
        conn.execute(
            s.imports.insert().values(
                member_id=h.owner, started_at=NOW, source_name="owner-secret-export.zip", status="succeeded", report={}
            )
        )
        running = conn.execute(
            s.imports.insert().values(
                member_id=h.owner,
                started_at=NOW,
                source_name="owner-running-export.zip",
                status="running",
                rows_done=5,
                rows_total=10,
                progress_at=NOW,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return str(running)


def _owner_import(db: Database, h: Household) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(s.imports.c.id).where(s.imports.c.member_id == h.owner, s.imports.c.status == "succeeded")
            ).scalar_one()
        )


def calls(h: Household, owner_import: int, owner_token: str) -> list[Call]:
    """Every route, with B's (the owner's) ids wherever a route takes an id. Destructive calls come last."""
    upload = {"export": (io.BytesIO(b"[]"), "StreamingHistory_music_0.json")}
    return [
        Call("auth.home", "GET", "/"),
        Call("auth.favicon", "GET", "/favicon.ico"),
        Call("auth.signin", "GET", "/signin"),
        Call("auth.signin", "GET", "/auth/login"),
        Call("auth.consent", "GET", "/consent"),
        Call("auth.consent_save", "POST", "/consent", {"store": "yes"}),
        Call("auth.callback", "GET", "/auth/callback?state=owner-state&code=owner-code", expect=(400,)),
        Call("auth.signin_start", "POST", "/signin", {"invite": ""}),
        Call("listening.index", "GET", "/listening"),
        Call("listening.index", "GET", "/listening?range=all"),
        Call("recommendations.index", "GET", "/recommendations"),
        Call("recommendations.index", "GET", "/recommendations?mode=rediscover"),
        Call("recommendations.hide", "POST", "/recommendations/hide", {"track_id": h.owner_tracks[0]}, (404,)),
        Call("recommendations.unhide", "POST", "/recommendations/unhide", {"track_id": h.owner_tracks[8]}, (404,)),
        Call("recommendations.like", "POST", "/recommendations/like", {"track_id": h.owner_tracks[0]}, (404,)),
        Call("recommendations.save", "POST", "/recommendations/save", {"track_id": h.owner_tracks[0]}, (404,)),
        Call("recommendations.block", "POST", "/recommendations/block", {"artist_id": h.owner_artist}, (404,)),
        Call("recommendations.unblock", "POST", "/recommendations/unblock", {"artist_id": h.owner_artist}, (404,)),
        Call("recommendations.publish", "POST", "/recommendations/publish", {}),
        Call(
            "recommendations.save_settings",
            "POST",
            "/recommendations/settings",
            {"size": "20", "discover": "yes", "frequency": "weekly", "weekday": "2", "local_time": "08:00"},
        ),
        Call("blend.index", "GET", "/blend"),
        Call("imports.index", "GET", "/import"),
        Call("imports.report", "GET", f"/import/{owner_import}", expect=(404,)),
        Call("imports.progress", "GET", f"/import/progress/{owner_token}", expect=(404,)),
        Call("imports.upload", "POST", "/import", upload),
        Call("account.index", "GET", "/settings"),
        Call("account.download", "GET", "/settings/download", expect=(200,)),
        Call("account.save_consent", "POST", "/settings/consent", {"store": "yes", "train": "yes"}),
        Call("account.save_open_data", "POST", "/settings/open-data", {"open_data": "no"}),
        Call("account.save_timezone", "POST", "/settings/timezone", {"timezone": "Asia/Tokyo"}),
        Call("account.save_radar", "POST", "/settings/radar", {"size": "9", "weekday": "1", "local_time": "09:00"}),
        Call("account.exclude_context", "POST", "/settings/contexts", {"context": "spotify:album:" + "A" * 22}),
        Call("account.include_context", "POST", "/settings/contexts/remove", {"context": B_CONTEXT}, (404,)),
        Call("admin.index", "GET", "/admin", expect=(403,)),
        Call("admin.run_now", "POST", "/admin/jobs", {"job": "train"}, (403,)),
        Call("admin.invite", "POST", "/admin/invites", {"spotify_id": ""}, (403,)),
        Call("auth.signout", "POST", "/signout", {}),
        Call("account.delete_my_data", "POST", "/settings/delete", {"confirm": "delete", "understand": "yes"}),
    ]


def _rows_of(db: Database, member_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row that belongs to *member_id* (by a member_id column, or the member row itself)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.read() as conn:
        for table in s.metadata.sorted_tables:
            if "member_id" in table.c:
                cond = table.c.member_id == member_id
            elif table.name == "members":
                cond = table.c.id == member_id
            else:
                continue
            out[table.name] = sorted(tuple(r) for r in conn.execute(sa.select(table).where(cond)))
    out["job_requests_by"] = sorted(
        tuple(r) for r in _all(db, s.job_requests) if r[s.job_requests.c.keys().index("requested_by")] == member_id
    )
    return out


def _all(db: Database, table: sa.Table) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table))]


def _everything(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {t.name: sorted(map(repr, _all(db, t))) for t in s.metadata.sorted_tables}  # type: ignore[misc]


B_MARKERS = ("Olive Owner", "owner-spotify", "owner-secret-export.zip", "Olive party mix", B_CONTEXT, "Artist 1")


def test_access_sweep_member_a_with_member_bs_ids(
    app: Flask, client: FlaskClient, db: Database, household: Household
) -> None:
    h = household
    token = _give_owner_private_things(app, db, h)
    before = _rows_of(db, h.owner)
    table = calls(h, _owner_import(db, h), token)
    covered = {c.endpoint for c in table}
    routes = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert routes == covered, f"routes missing from the sweep: {routes - covered}; stale: {covered - routes}"
    markers = (*B_MARKERS, *(f"Song {n:02d}" for n in range(10)))
    for call in table:
        sign_in(client, h.member)
        body = dict(call.data)
        if call.method == "POST":
            body["csrf_token"] = csrf_token(client, "/settings")
            response = client.post(call.path, data=body, content_type="multipart/form-data")
        else:
            response = client.get(call.path)
        if call.expect is not None:
            assert response.status_code in call.expect, f"{call.method} {call.path}: {response.status_code}"
        assert response.status_code < 500, f"{call.method} {call.path}"
        if response.mimetype == "application/zip":  # the download: what its files say, not the compressed bytes
            archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
            page = "".join(archive.read(n).decode() for n in archive.namelist())
        else:
            page = response.get_data(as_text=True)
        if response.status_code == 302:
            page += (
                client.get(response.headers["Location"]).get_data(as_text=True)
                if call.path != "/settings/delete"
                else ""
            )
        for marker in markers:
            assert marker not in page, f"{call.method} {call.path} shows B's {marker!r}"
    assert _rows_of(db, h.owner) == before, "A's requests changed B's data"
    with db.read() as conn:
        assert conn.execute(sa.select(s.members.c.id).where(s.members.c.id == h.member)).first() is None


def _csrf_posts(h: Household) -> list[Call]:
    return [c for c in calls(h, 0, "") if c.method == "POST"]


def test_csrf_sweep_every_post_without_a_token_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, db: Database, household: Household
) -> None:
    h = household
    _give_owner_private_things(app, db, h)
    posts = _csrf_posts(h)
    post_routes = {r.endpoint for r in app.url_map.iter_rules() if "POST" in (r.methods or set())}
    assert post_routes == {c.endpoint for c in posts}
    # As the owner every one of these would succeed with a token (the hide and block use the owner's own ids).
    valid = {
        "recommendations.hide": {"track_id": h.owner_tracks[7]},
        "recommendations.unhide": {"track_id": h.owner_tracks[8]},
        "recommendations.block": {"artist_id": h.owner_artist, "until": (NOW + timedelta(days=30)).date().isoformat()},
        "recommendations.unblock": {"artist_id": h.owner_artist},
        "account.include_context": {"context": B_CONTEXT},
    }
    before = _everything(db)
    for call in posts:
        sign_in(client, h.owner)
        data = valid.get(call.endpoint, call.data)
        if call.endpoint == "imports.upload":
            data = {"export": (io.BytesIO(b"[]"), "StreamingHistory_music_0.json")}
        response = client.post(call.path, data=data, content_type="multipart/form-data")
        assert response.status_code == 400, f"POST {call.path} without a token answered {response.status_code}"
        assert "The form expired or did not come from this site" in response.get_data(as_text=True)
        # A forged token is no better than none.
        response = client.post(
            call.path,
            data={**data, "csrf_token": "forged"} if call.endpoint != "imports.upload" else {"csrf_token": "forged"},
        )
        assert response.status_code == 400
    assert _everything(db) == before
    sign_in(client, h.owner)
    assert client.get("/listening").status_code == 200
