"""A ListenBrainz dump mirror: a folder of dumps served like data.musicbrainz.org (listings, files, byte ranges)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Response, g, redirect, request
from werkzeug.security import safe_join
from werkzeug.wrappers import Response as BaseResponse

from recs.emulator.listenbrainz import MIRROR_PATH
from recs.emulator.state import Emulator

PREFIX = "/" + MIRROR_PATH
bp = Blueprint("listenbrainz_mirror", __name__, url_prefix=PREFIX)


def serves(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _not_found() -> Response:
    return Response("<html><body><h1>404 Not Found</h1></body></html>", status=404, mimetype="text/html")


@bp.get("/", defaults={"subpath": ""})
@bp.get("/<path:subpath>")
def serve(subpath: str) -> BaseResponse:
    emulator: Emulator = g.emulator
    root = emulator.listenbrainz_dir
    if root is None:
        return _not_found()
    joined = safe_join(str(root), subpath) if subpath else str(root)
    if joined is None:
        return _not_found()
    target = Path(joined)
    if target.is_dir():
        if not request.path.endswith("/"):
            return redirect(request.path + "/", code=301)
        return _listing(target, request.path)
    if not target.is_file() or target.name.endswith(".part"):
        return _not_found()
    return _file(target)


def _listing(folder: Path, path: str) -> Response:
    """An nginx autoindex page, as the MetaBrainz mirror shows: names, modification time, size."""
    rows = ['<a href="../">../</a>']
    for entry in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
        if entry.name.endswith(".part") or entry.name.startswith("."):
            continue
        name = entry.name + ("/" if entry.is_dir() else "")
        stat = entry.stat()
        when = datetime.fromtimestamp(stat.st_mtime, tz=UTC).strftime("%d-%b-%Y %H:%M")
        size = "-" if entry.is_dir() else str(stat.st_size)
        label = html.escape(name if len(name) <= 50 else name[:47] + "..>")
        rows.append(f'<a href="{html.escape(name)}">{label}</a>{" " * max(1, 51 - len(label))}{when} {size:>19}')
    title = f"Index of {html.escape(path)}"
    body = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<h1>{title}</h1><hr><pre>"
    body += "\r\n".join(rows) + "\r\n</pre><hr></body>\r\n</html>\r\n"
    return Response(body, mimetype="text/html")


def _file(target: Path) -> Response:
    """The file, or the byte range asked for (206 with Content-Range; 416 when it starts past the end)."""
    size = target.stat().st_size
    headers = {"Accept-Ranges": "bytes"}
    wanted = request.range
    start, stop, status = 0, size, 200
    if wanted is not None and len(wanted.ranges) == 1:
        bounds = wanted.range_for_length(size)
        if bounds is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        start, stop = bounds
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    with target.open("rb") as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    return Response(data, status=status, mimetype="application/octet-stream", headers=headers)
