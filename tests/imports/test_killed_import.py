"""A `recs import` killed mid-run (SIGKILL, a real process): its record is settled as interrupted, its rows stay, and importing again completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from recs.cli.main import main
from recs.core.processes import owner_id
from recs.storage import Database
from recs.storage import schema as s
from recs.storage.imports import create_import, get_import, record_progress
from recs.storage.members import create_member, set_consent
from recs.usecases.imports import run_import
from recs.usecases.imports.service import LEASE, PID_REUSE_AFTER, settle_interrupted
from recs.usecases.instance import load
from tests.imports.conftest import ext_row
from web import create_app

START = datetime(2020, 1, 1, tzinfo=UTC)


def _history(path: Path, n: int) -> Path:
    rows = [
        ext_row(
            ts=(START + timedelta(minutes=4 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            spotify_track_uri="spotify:track:" + f"{i % 2000:022d}",
        )
        for i in range(n)
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _record(db: Database, import_id: int) -> dict[str, object]:
    with db.read() as conn:
        row = conn.execute(sa.select(s.imports).where(s.imports.c.id == import_id)).one()
    return dict(row._mapping)


def _plays(db: Database, member_id: int) -> tuple[int, int]:
    """(plays, distinct played_at) of the member."""
    with db.read() as conn:
        plays, distinct = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(s.plays.c.played_at))).where(
                s.plays.c.member_id == member_id
            )
        ).one()
    return int(plays), int(distinct)


@pytest.mark.slow
def test_a_killed_recs_import_is_settled_as_interrupted_and_the_data_is_right(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    env["RECS_INSTANCE__DATA_DIR"] = str(tmp_path / "data")
    assert CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False).exit_code == 0
    db = Database(f"sqlite:///{tmp_path / 'data' / 'recs.sqlite3'}")
    with db.write() as conn:
        member = create_member(conn, "kim", "Kim", now=START)
        set_consent(conn, member.id, "store", True)
    rows = 60_000
    export = _history(tmp_path / "Streaming_History_Audio_2020.json", rows)

    recs = str(Path(sys.executable).with_name("recs"))
    with subprocess.Popen(
        [recs, "import", str(export), "--member", str(member.id)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        # Kill it by its own pid once some batches are written (and recorded), well before the end.
        deadline = time.monotonic() + 60
        record: dict[str, object] = {}
        while time.monotonic() < deadline and process.poll() is None:
            with db.read() as conn:
                found = conn.execute(sa.select(s.imports.c.id).where(s.imports.c.member_id == member.id)).first()
            # Written plays, not the record's rows_done: progress is recorded every few seconds, so on a quiet
            # machine the whole import could be written before rows_done first moves.
            if found is not None and _plays(db, member.id)[0] >= 5000:
                record = _record(db, found.id)
                break
            time.sleep(0.01)
        assert process.poll() is None, "the import finished before it could be killed: give it more rows"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    import_id = int(record["id"])  # type: ignore[call-overload]
    killed = _record(db, import_id)
    assert killed["status"] == "running" and killed["owner"] == f"{owner_id().rpartition(':')[0]}:{process.pid}"
    written, _ = _plays(db, member.id)
    assert 0 < written < rows

    # A look at the import page settles it: no lease to wait out, its process is gone.
    app = create_app(environ=env, overrides={"TESTING": True})
    client = app.test_client()
    with client.session_transaction() as session:
        session["member_id"] = member.id
    page = client.get("/import").get_data(as_text=True)
    settled = _record(db, import_id)
    assert settled["status"] == "interrupted", settled
    assert "interrupted" in page and "running" not in page.split("Past imports", 1)[-1]
    report = settled["report"]
    assert isinstance(report, dict) and report["plays_imported"] == written and report["rows_total"] == rows
    assert f"stopped after {report['rows_done']:,} of {rows:,} rows" in str(settled["error"])
    app.extensions["recs"].close()

    # The data is right: what the killed run wrote is kept once, and importing again adds exactly the rest.
    again = run_import(db, load(None, env), member.id, [export])
    assert again.plays_imported == rows - written and again.duplicate_plays == written
    assert _plays(db, member.id) == (rows, rows)
    db.dispose()


def _dead_pid() -> int:
    with subprocess.Popen([sys.executable, "-c", "pass"]) as child:
        child.wait()
    return child.pid


def test_settling_checks_the_owner_first_and_a_lease_elsewhere(db: Database, member_id: int) -> None:
    now = START + timedelta(days=1)
    host = owner_id().rpartition(":")[0]

    def running(owner: str | None, silent: timedelta) -> int:
        with db.write() as conn:
            import_id = create_import(conn, member_id, "export.zip", now - timedelta(hours=2), owner=owner)
            record_progress(conn, import_id, now - silent, 7, 10)
        return import_id

    dead_here = running(f"{host}:{_dead_pid()}", timedelta(seconds=1))
    alive_here = running(owner_id(), LEASE * 10)  # this process: alive, however quiet
    reused_pid = running(owner_id(), PID_REUSE_AFTER + timedelta(minutes=1))
    elsewhere_live = running("another-host:123", LEASE / 2)
    elsewhere_silent = running("another-host:124", LEASE + timedelta(seconds=1))
    no_owner_silent = running(None, LEASE + timedelta(seconds=1))
    assert settle_interrupted(db, now) == 4
    with db.read() as conn:
        status = {
            i: get_import(conn, i).status
            for i in (dead_here, alive_here, reused_pid, elsewhere_live, elsewhere_silent, no_owner_silent)
        }  # type: ignore[union-attr]
    assert status == {
        dead_here: "interrupted",
        alive_here: "running",
        reused_pid: "interrupted",
        elsewhere_live: "running",
        elsewhere_silent: "interrupted",
        no_owner_silent: "interrupted",
    }
    assert settle_interrupted(db, now) == 0  # nothing left to settle: no write
