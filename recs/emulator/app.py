"""The emulator's Flask app: wires the accounts service, Web API v1, control API and images to one Emulator."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from recs.emulator import accounts, control_api, mirror, webapi
from recs.emulator.household import iso_s
from recs.emulator.shapes import Shapes
from recs.emulator.state import Emulator, Fault

_HTML_ERROR = "<html><head><title>{status} Error</title></head><body><h1>{status} Error</h1><p>upstream connect error or disconnect/reset before headers</p></body></html>"


def create_app(emulator: Emulator) -> Flask:
    """One Flask app per Emulator; tests reach it over real HTTP through EmulatorServer."""
    app = Flask(__name__)
    app.config["EMULATOR"] = emulator
    app.url_map.strict_slashes = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def _faults() -> Response | None:
        emulator.follow_wall_clock()  # first: limits, tokens and plays all see the time of this request
        g.emulator = emulator
        g.user_id = None
        g.fault = None
        g.shapes = Shapes(
            emulator.catalog, request.host_url, emulator.releases.album_table, emulator.releases.track_table
        )
        if _unlogged(request.path):
            return None
        fault = emulator.take_fault(request.method, request.path)
        if fault is None:
            return None
        g.fault = fault.id
        if fault.after or (fault.drop and mirror.serves(request.path)):
            # a dump mirror drops a connection midway through the real file's bytes, not an error body
            g.after_fault = fault
            return None
        if fault.delay_s:
            # a real sleep, outside the lock: the point is to outlast the client's real timeout
            time.sleep(fault.delay_s)
        if fault.status is None and not (fault.drop or fault.malformed or fault.html):
            return None
        return fault_response(fault)

    @app.after_request
    def _after_fault(response: Response) -> Response:
        # Registered before _log, so it runs after it: the log shows what the endpoint did.
        fault: Fault | None = g.pop("after_fault", None)
        if fault is None:
            return response
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.status is not None or fault.malformed or fault.html:
            return fault_response(fault)
        if fault.drop:
            kept = {k: v for k, v in response.headers.items() if k in ("Content-Range", "Accept-Ranges")}
            return dropped(response.get_data(), response.status_code, response.content_type, kept)
        return response

    @app.after_request
    def _log(response: Response) -> Response:
        if not _unlogged(request.path):
            entry: dict[str, Any] = {
                "at": iso_s(emulator.now_ms),
                "method": request.method,
                "path": request.path,
                "query": {k: (v[0] if len(v) == 1 else v) for k, v in request.args.lists()},
                "status": response.status_code,
                "member": getattr(g, "user_id", None),
                "fault": getattr(g, "fault", None),
            }
            if request.headers.get("Range"):
                entry["range"] = request.headers["Range"]
            if request.path == "/api/token":
                entry["body"] = {"grant_type": request.form.get("grant_type")}
            elif request.is_json:
                entry["body"] = request.get_json(silent=True)
            emulator.record(entry)
        return response

    app.register_blueprint(accounts.bp)
    app.register_blueprint(webapi.bp)
    app.register_blueprint(control_api.bp)
    app.register_blueprint(mirror.bp)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _routing_error(exc: HTTPException) -> Response:
        # unknown Web API paths answer in the API's error shape, as Spotify does
        status = exc.code or 404
        if request.path.startswith("/v1/"):
            return webapi.error_response(status, "Service not found" if status == 404 else "Method not allowed")
        return Response(json.dumps({"error": exc.description}), status=status, mimetype="application/json")

    @app.get("/image/<entity_id>")
    def image(entity_id: str) -> Response:
        size = min(640, max(1, request.args.get("size", 64, type=int) or 64))
        return Response(_png(entity_id, size), mimetype="image/png", headers={"Cache-Control": "max-age=86400"})

    @app.get("/track/<track_id>")
    def track_page(track_id: str) -> Response:
        # What "Open in Spotify" shows for the emulator's invented ids (no real Spotify page has them).
        track = emulator.catalog.tracks.get(track_id)
        if track is None:
            return Response("<h1>No such track in this emulator</h1>", status=404, mimetype="text/html")
        artists = ", ".join(emulator.catalog.artists[a].name for a in track.artist_ids)
        album = emulator.catalog.albums[track.album_id].name
        body = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(track.name)}</title></head><body>"
            f"<h1>{escape(track.name)}</h1><p>{escape(artists)} · {escape(album)}</p>"
            "<p>This track exists only in the recs Spotify emulator (the demo and the tests). "
            "With a real Spotify app, this link opens the track on open.spotify.com.</p></body></html>"
        )
        return Response(body, mimetype="text/html")

    @app.get("/")
    def index() -> Response:
        body = {
            "emulator": "recs Spotify emulator",
            "api_base_url": request.host_url + "v1/",
            "accounts_base_url": request.host_url,
            "control": request.host_url + "_emulator/",
        }
        return Response(json.dumps(body), mimetype="application/json")

    return app


def _unlogged(path: str) -> bool:
    return path.startswith(("/_emulator", "/image/", "/track/")) or path == "/"


def fault_response(fault: Fault) -> Response:
    """The answer a fault rule prescribes: status/headers/body, malformed JSON, an HTML page or a dropped body."""
    status = fault.status or (502 if fault.html else 200)
    headers = dict(fault.headers)
    if fault.html:
        body = _HTML_ERROR.format(status=status).encode()
        content_type = "text/html; charset=utf-8"
    elif fault.malformed:
        body = b'{"items": [{"track": {"name": "trunc'
        content_type = "application/json; charset=utf-8"
    else:
        payload = fault.body
        if payload is None and status >= 400:
            if request.path == "/api/token":
                payload = token_error(status)
            else:
                message = _default_message(status)
                if status == 429 and (fault.reason or "").upper() == "QUOTA_EXCEEDED":
                    message = webapi.QUOTA_MESSAGE
                error: dict[str, Any] = {"status": status, "message": message}
                if fault.reason:
                    error["reason"] = fault.reason
                payload = {"error": error}
        if isinstance(payload, str):
            body = payload.encode()
        else:
            body = json.dumps(payload if payload is not None else {}).encode()
        content_type = "application/json; charset=utf-8"
    if fault.drop:
        return dropped(body, status, content_type, headers)
    return Response(body, status=status, content_type=content_type, headers=headers)


def token_error(status: int) -> dict[str, str]:
    """The OAuth error body the accounts service sends with *status* (RFC 6749 5.2 names).

    Only a 400 says the grant is dead (`invalid_grant`: the member must sign in again); a 5xx is the
    service failing, which a client retries. Answering `invalid_grant` to every fault made a passing
    outage look like a revoked grant.
    """
    if status == 400:
        return {"error": "invalid_grant", "error_description": "Refresh token revoked"}
    if status == 401:
        return {"error": "invalid_client", "error_description": "Invalid client"}
    if status == 503:
        return {"error": "temporarily_unavailable", "error_description": "Service unavailable"}
    if status >= 500:
        return {"error": "server_error", "error_description": "Server error"}
    return {"error": "invalid_request", "error_description": _default_message(status)}


def dropped(body: bytes, status: int, content_type: str, headers: dict[str, str]) -> Response:
    """Send the headers and half of *body*, then cut the connection: the client sees a short read."""
    sock = request.environ.get("werkzeug.socket")

    def partial() -> Iterator[bytes]:
        yield body[: max(1, len(body) // 2)]
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    return Response(
        partial(), status=status, content_type=content_type, headers={**headers, "Content-Length": str(len(body))}
    )


def _default_message(status: int) -> str:
    return {
        401: "The access token expired",
        403: "Forbidden",
        404: "Service not found",
        429: webapi.RATE_MESSAGE,
        500: "Server error.",
        502: "Bad gateway.",
        503: "Service unavailable",
    }.get(status, "Error")


def _png(entity_id: str, size: int) -> bytes:
    import struct
    import zlib

    digest = base64.b16encode(entity_id.encode()[-3:].rjust(3, b"\0"))
    rgb = bytes(int(digest[i : i + 2], 16) | 0x40 for i in (0, 2, 4))
    raw = b"".join(b"\0" + rgb * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
