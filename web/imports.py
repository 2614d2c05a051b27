"""The "Import" page: upload my Spotify data export, follow its progress, read its report, see the gaps in my history."""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response

from recs.imports.errors import ImportRejected
from recs.imports.service import run_import
from recs.stats import history_coverage, member_import
from web.auth import consents_of, db, instance, member, member_required
from web.security import error_page

log = logging.getLogger(__name__)
bp = Blueprint("imports", __name__)

ACCEPTED = (".zip", ".json")


@dataclass
class ImportJob:
    """One upload being imported in a background thread of the web process."""

    member_id: int
    folder: Path
    done: int = 0
    total: int = 0
    state: str = "running"  # running, succeeded, rejected, failed
    import_id: int | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


class ImportJobs:
    """Imports running in this process, by an unguessable token; each is visible only to its member."""

    KEEP_FINISHED = 50

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def start(self, member_id: int, folder: Path, paths: list[Path]) -> str:
        token = secrets.token_urlsafe(16)
        job = ImportJob(member_id, folder)
        with self._lock:
            # Forget the oldest finished imports: their reports are stored; only the progress page needed them.
            finished = [t for t, j in self._jobs.items() if j.finished.is_set()]
            for old in finished[: max(0, len(finished) - self.KEEP_FINISHED)]:
                del self._jobs[old]
            self._jobs[token] = job
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        thread = threading.Thread(target=self._run, args=(app, job, paths), name=f"import-{token[:6]}", daemon=True)
        thread.start()
        return token

    def get(self, token: str, member_id: int) -> ImportJob | None:
        with self._lock:
            job = self._jobs.get(token)
        return job if job is not None and job.member_id == member_id else None

    def wait(self, token: str, timeout: float = 60.0) -> bool:
        with self._lock:
            job = self._jobs.get(token)
        return job is not None and job.finished.wait(timeout)

    @staticmethod
    def _run(app: object, job: ImportJob, paths: list[Path]) -> None:
        from web import clock_of, instance_of

        inst = instance_of(app)  # type: ignore[arg-type]
        clock = clock_of(app)  # type: ignore[arg-type]

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            report = run_import(inst.db, inst.settings, job.member_id, paths, progress=progress, clock=clock)
            job.import_id = report.import_id
            job.done = job.total
            job.state = "succeeded"
        except ImportRejected as exc:
            job.state, job.error = "rejected", str(exc)
        except Exception:
            log.exception("import for member %s failed", job.member_id)
            job.state, job.error = "failed", "the import stopped on an unexpected error; nothing partial is shown"
        finally:
            shutil.rmtree(job.folder, ignore_errors=True)
            job.finished.set()


def jobs() -> ImportJobs:
    registry: ImportJobs | None = current_app.extensions.get("recs_imports")
    if registry is None:
        registry = current_app.extensions["recs_imports"] = ImportJobs()
    return registry


@bp.get("/import")
@member_required
def index() -> str:
    me = member()
    return render_template(
        "import.html",
        coverage=history_coverage(db(), me.id),
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
    token = jobs().start(me.id, folder, paths)
    return redirect(url_for("imports.progress", token=token))


@bp.get("/import/progress/<token>")
@member_required
def progress(token: str) -> str | Response | tuple[str, int]:
    job = jobs().get(token, member().id)
    if job is None:
        return error_page(404)
    if job.state == "succeeded" and job.import_id is not None:
        return redirect(url_for("imports.report", import_id=job.import_id))
    return render_template("import_progress.html", job=job)


@bp.get("/import/<int:import_id>")
@member_required
def report(import_id: int) -> str | tuple[str, int]:
    row = member_import(db(), member().id, import_id)
    if row is None:
        return error_page(404)
    return render_template("import_report.html", row=row, report=row.report or {})
