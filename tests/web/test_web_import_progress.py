"""An import's progress lives on its record: another app (process) reads it, and a silent one shows as interrupted."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import NOW, Household, export_rows, sign_in

from recs.core.config import Settings
from recs.storage import Database
from recs.storage.imports import create_import, get_import, record_progress
from recs.usecases.imports import service
from recs.usecases.imports.service import run_import
from recs.usecases.instance import Instance
from web import create_app
from web import imports as web_imports


def _export(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_text(json.dumps(export_rows(rows)), encoding="utf-8")
    return path


def _running(db: Database, member_id: int, last_sign: timedelta, done: int = 3, total: int = 10) -> int:
    with db.write() as conn:
        import_id = create_import(conn, member_id, "export.zip", NOW - timedelta(hours=1))
        record_progress(conn, import_id, NOW - last_sign, done, total)
    return import_id


def test_progress_written_by_one_app_is_read_by_another(
    instance: Instance, settings: Settings, household: Household, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second app has its own connection pool on the same database, as another server process has.
    other_db = Database(settings.database_url)
    other = create_app(
        overrides={"RECS_INSTANCE": Instance(settings, instance.secrets, other_db), "RECS_CLOCK": lambda: NOW}
    )
    monkeypatch.setattr(service, "BATCH_ROWS", 2)
    monkeypatch.setattr(service, "PROGRESS_EVERY_S", 0.0)
    paused, resume = threading.Event(), threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 4:  # rows 1-2 are written and recorded; hold the import here
            paused.set()
            resume.wait(10)

    recorded: list[int] = []
    thread = threading.Thread(
        target=run_import,
        args=(instance.db, settings, household.member, [_export(tmp_path, 5)]),
        kwargs={"progress": progress, "clock": lambda: NOW, "on_record": recorded.append},
    )
    thread.start()
    try:
        assert paused.wait(10)
        client = other.test_client()
        sign_in(client, household.member)
        page = client.get(f"/import/progress/{recorded[0]}").get_data(as_text=True)
        assert "2 of 5 rows" in page and 'value="40"' in page and 'http-equiv="refresh"' in page
        # Nobody else sees it.
        sign_in(client, household.owner)
        assert client.get(f"/import/progress/{recorded[0]}").status_code == 404
    finally:
        resume.set()
        thread.join(10)
    sign_in(client, household.member)
    done = client.get(f"/import/progress/{recorded[0]}")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/import/{recorded[0]}")
    other_db.dispose()


def test_a_silent_import_shows_as_interrupted_and_a_live_one_as_running(
    client: FlaskClient, db: Database, household: Household
) -> None:
    sign_in(client, household.member)
    live = _running(db, household.member, timedelta(seconds=20))
    page = client.get(f"/import/progress/{live}").get_data(as_text=True)
    assert "3 of 10 rows" in page and 'http-equiv="refresh"' in page
    silent = _running(db, household.member, web_imports.SILENT_AFTER + timedelta(seconds=1))
    page = client.get(f"/import/progress/{silent}").get_data(as_text=True)
    assert "stopped before it finished" in page and 'http-equiv="refresh"' not in page
    assert "Nothing from this upload was added" not in page  # batches written before the cut are kept


def test_a_new_import_closes_records_silent_for_long_but_not_a_live_one(
    db: Database, settings: Settings, household: Household, tmp_path: Path
) -> None:
    # Records without an owner (another host's, or from before owners were kept): the lease decides.
    silent = _running(db, household.member, service.LEASE + timedelta(seconds=1))
    live = _running(db, household.member, timedelta(seconds=20))
    run_import(db, settings, household.member, [_export(tmp_path, 3)], clock=lambda: NOW)
    with db.read() as conn:
        closed, running = get_import(conn, silent), get_import(conn, live)
    assert (
        closed is not None and closed.status == "interrupted" and "stopped after 3 of 10 rows" in (closed.error or "")
    )
    assert running is not None and running.status == "running"


def test_a_running_import_is_kept_alive(db: Database, household: Household, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "HEARTBEAT_S", 0.01)
    import_id = _running(db, household.member, timedelta(minutes=5))
    later = NOW + timedelta(minutes=1)
    stop = threading.Event()
    beat = threading.Thread(target=service._heartbeat, args=(db, import_id, lambda: later, stop))
    beat.start()
    try:
        for _ in range(500):
            if _progress_at(db, import_id) == later:
                break
            stop.wait(0.01)
        assert _progress_at(db, import_id) == later
    finally:
        stop.set()
        beat.join(5)


def _progress_at(db: Database, import_id: int) -> object:
    import sqlalchemy as sa

    from recs.storage import schema as s

    with db.read() as conn:
        return conn.execute(sa.select(s.imports.c.progress_at).where(s.imports.c.id == import_id)).scalar_one()


def test_a_stopping_server_lets_running_imports_finish(
    app: Flask, household: Household, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web import close_app

    release = threading.Event()

    def slow_import(*args: object, **kwargs: object) -> object:
        on_record = kwargs["on_record"]
        assert callable(on_record)
        on_record(4242)
        release.wait(10)
        return None

    monkeypatch.setattr(web_imports, "run_import", slow_import)
    folder = tmp_path / "upload"
    folder.mkdir()
    with app.app_context():
        started = web_imports.runs().start(household.member, folder, [])
        assert started.import_id == 4242
        assert web_imports.runs().finish(0.05) == 1  # still running after the grace
    threading.Timer(0.1, release.set).start()
    close_app(app, import_grace_s=10)  # returns once the import has finished
    with app.app_context():
        assert web_imports.runs().finish(0) == 0 and not folder.exists()
