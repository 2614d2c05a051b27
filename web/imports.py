"""The "Import" page: upload my Spotify data export, follow its progress, read its report, see the gaps in my history."""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response

from recs.usecases.imports.errors import ImportRejected
from recs.usecases.imports.service import LEASE, run_import, settle_interrupted
from recs.usecases.stats import CoverageCache, import_progress, member_import
from web.auth import consents_of, db, instance, member, member_required, now
from web.security import error_page

log = logging.getLogger(__name__)
bp = Blueprint("imports", __name__)

ACCEPTED = (".zip", ".json")


# A running import's record gets a sign of life every few seconds from the process running it
# (recs.usecases.imports.service); one silent for SILENT_AFTER was cut off and the progress page says so.
SILENT_AFTER = LEASE


@dataclass
class Started:
    """What the request that uploaded learns from the import thread it started."""

    recorded: threading.Event = field(default_factory=threading.Event)
    import_id: int | None = None
    error: str | None = None


class ImportRuns:
    """Imports running in background threads of this process.

    Their progress is on their import record, not here: with `recs serve --processes N` the next progress
    poll may reach another process. This registry only knows the threads, so that a stopping server (and a
    test) can wait for them.
    """

    def __init__(self) -> None:
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, member_id: int, folder: Path, paths: list[Path], wait_s: float = 30.0) -> Started:
        """Start the import; returns once its record exists (milliseconds: it is made before reading)."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        started = Started()
        thread = threading.Thread(
            target=self._run, args=(app, member_id, folder, paths, started), name="import", daemon=True
        )
        with self._lock:
            for done in [i for i, t in self._threads.items() if not t.is_alive()]:
                del self._threads[done]
        thread.start()
        started.recorded.wait(wait_s)
        return started

    def wait(self, import_id: int, timeout: float = 60.0) -> bool:
        """Wait for an import started by this process to end (tests); False if it is unknown or still runs."""
        with self._lock:
            thread = self._threads.get(import_id)
        if thread is None:
            return False
        thread.join(timeout)
        return not thread.is_alive()

    def finish(self, timeout: float) -> int:
        """Wait up to *timeout* seconds for the imports still running (a server stopping); how many still run."""
        deadline = time.monotonic() + timeout
        with self._lock:
            running = [t for t in self._threads.values() if t.is_alive()]
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(1 for t in running if t.is_alive())

    def _run(self, app: Flask, member_id: int, folder: Path, paths: list[Path], started: Started) -> None:
        from web import clock_of, instance_of

        inst = instance_of(app)
        clock = clock_of(app)

        def on_record(import_id: int) -> None:
            with self._lock:
                self._threads[import_id] = threading.current_thread()
            started.import_id = import_id
            started.recorded.set()

        try:
            run_import(inst.db, inst.settings, member_id, paths, clock=clock, on_record=on_record)
        except ImportRejected as exc:  # stored on the record when there is one
            started.error = str(exc)
        except Exception:
            log.exception("import for member %s failed", member_id)
            started.error = FAILED
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            started.recorded.set()


FAILED = "the import stopped on an unexpected error; nothing partial is shown"
INTERRUPTED = (
    "The import stopped before it finished: the server was restarted or stopped while it ran. Plays written "
    "before that are kept; upload the same export again to add the rest (what is already stored is left out)."
)


def runs() -> ImportRuns:
    registry: ImportRuns | None = current_app.extensions.get("recs_imports")
    if registry is None:
        registry = current_app.extensions["recs_imports"] = ImportRuns()
    return registry


def coverage_cache() -> CoverageCache:
    cache: CoverageCache | None = current_app.extensions.get("recs_coverage_cache")
    if cache is None:
        cache = current_app.extensions["recs_coverage_cache"] = CoverageCache()
    return cache


def settle_gone_imports() -> None:
    """Close the signed-in member's imports whose process is gone, so no page shows them as running.

    A killed `recs import` or server leaves its record 'running' and nothing else would close it. The
    only write a GET makes, and only when there is such a record: it goes through the instance's own
    database, then the request's shared read snapshot is renewed so the page shows the settled record.
    """
    if settle_interrupted(instance().db, now(), member().id, reads=db()):
        reads = g.get("reads")
        if reads is not None:
            reads.release()


@bp.get("/import")
@member_required
def index() -> str:
    settle_gone_imports()
    me = member()
    return render_template(
        "import.html",
        coverage=coverage_cache().coverage(db(), me.id),
        may_store=consents_of(me.id)["store"].granted,
        max_mb=instance().settings.web.max_upload_mb,
    )


@bp.post("/import")
@member_required
def upload() -> Response | tuple[str, int]:
    me = member()
    if not consents_of(me.id)["store"].granted:
        flash("Importing keeps your listening: allow “Keep my listening” under Settings & privacy first.", "error")
        return redirect(url_for("imports.index"))
    files = [f for f in request.files.getlist("export") if f and f.filename]
    if not files:
        flash("Choose your export first: the zip file Spotify sent you, or the JSON files inside it.", "error")
        return redirect(url_for("imports.index"))
    for f in files:
        if not (f.filename or "").lower().endswith(ACCEPTED):
            flash(f"“{f.filename}” is not a .zip or .json file from a Spotify data export.", "error")
            return redirect(url_for("imports.index"))
    folder = instance().settings.data_path / "uploads" / secrets.token_hex(8)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, f in enumerate(files):
        name = secure_filename(f.filename or "") or f"upload-{n}.json"
        # One folder per file keeps the member's own file name (the import report shows it).
        target = folder / f"{n:03d}" / name
        target.parent.mkdir()
        f.save(target)
        paths.append(target)
    started = runs().start(me.id, folder, paths)
    if started.import_id is None:
        if started.error is not None:  # refused before it began (consent withdrawn meanwhile)
            flash(started.error, "error")
        else:  # pragma: no cover - the database kept the record waiting for half a minute
            flash("Your import is starting; it will show under “Past imports” below.", "ok")
        return redirect(url_for("imports.index"))
    return redirect(url_for("imports.progress", import_id=started.import_id))


@bp.get("/import/progress/<int:import_id>")
@member_required
def progress(import_id: int) -> str | Response | tuple[str, int]:
    settle_gone_imports()
    found = import_progress(db(), member().id, import_id)
    if found is None:
        return error_page(404)
    if found.status == "succeeded":
        return redirect(url_for("imports.report", import_id=import_id))
    interrupted = found.silent_since(now() - SILENT_AFTER)
    if found.status == "running" and not interrupted:
        return render_template("import_progress.html", p=found, running=True, message=None, interrupted=False)
    interrupted = interrupted or found.status == "interrupted" or (found.error or "").startswith("interrupted")
    if interrupted:
        message = INTERRUPTED
    elif found.status == "rejected":
        message = found.error or "The upload was refused."
    else:
        message = FAILED
    return render_template("import_progress.html", p=found, running=False, message=message, interrupted=interrupted)


@bp.get("/import/<int:import_id>")
@member_required
def report(import_id: int) -> str | tuple[str, int]:
    settle_gone_imports()
    row = member_import(db(), member().id, import_id)
    if row is None:
        return error_page(404)
    return render_template("import_report.html", row=row, report=row.report or {})
