"""Filesystem and database problems end in one line saying what to do, never a traceback (issue 16, item 4)."""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.operations.cli import invoke


def _one_line_error(code: int, out: str) -> str:
    lines = out.strip().splitlines()
    assert code == 1, out
    assert "Traceback" not in out, out
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    return lines[0]


def _init(tmp_path: Path, **env: str) -> str:
    return _one_line_error(*invoke(tmp_path, "init", env=env))


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    line = _init(tmp_path)
    assert f"{tmp_path / 'data'} is a file" in line and "instance.data_dir" in line
    # An initialised command says the same, not "run recs init".
    assert "is a file" in _one_line_error(*invoke(tmp_path, "members"))


def test_data_dir_that_cannot_be_written(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through file modes: use a filesystem that refuses everyone (sysfs on Linux).
        if not Path("/sys/kernel").is_dir():
            pytest.skip("running as root without /sys/kernel: no folder here refuses root")
        line = _init(tmp_path, RECS_INSTANCE__DATA_DIR="/sys/kernel/recs-test/data")
        assert "cannot create the data folder /sys/kernel/recs-test/data" in line
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        line = _init(tmp_path, RECS_INSTANCE__DATA_DIR=str(locked))
        assert "not writable" in line
    assert "instance.data_dir" in line


def test_database_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "data" / "recs.sqlite3").mkdir(parents=True)
    line = _init(tmp_path)
    assert "is a folder, not a SQLite file" in line


def test_database_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "recs.sqlite3").write_bytes(b"hello, this is not SQLite" * 100)
    line = _init(tmp_path)
    assert "is not a SQLite database" in line and "backup" in line


@pytest.mark.slow  # SQLite waits its whole busy timeout (15 s) before saying "locked"
def test_database_that_is_locked(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "init")
    assert code == 0, out
    holder = sqlite3.connect(tmp_path / "data" / "recs.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        line = _one_line_error(*invoke(tmp_path, "rotate-key"))
    finally:
        holder.close()
    assert "is locked by another process" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://user@host/db", "unsupported database 'mysql'"),
        ("not a url", "is not a database URL"),
        ("sqlite+aiosqlite:///x.db", "unsupported database"),
    ],
)
def test_unsupported_database_url(tmp_path: Path, url: str, expected: str) -> None:
    line = _init(tmp_path, RECS_INSTANCE__DATABASE_URL=url)
    assert expected in line and "postgresql+psycopg://" in line


def test_postgresql_unreachable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    line = _init(tmp_path, RECS_INSTANCE__DATABASE_URL=f"postgresql+psycopg://recs:secret@127.0.0.1:{port}/recs")
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in line
    assert "secret" not in line


@pytest.mark.postgres
def test_postgresql_refuses_the_password(tmp_path: Path) -> None:
    admin = os.environ.get("RECS_TEST_POSTGRES_URL")
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("RECS_TEST_POSTGRES_URL is not set in CI")
        pytest.skip("no PostgreSQL server: set RECS_TEST_POSTGRES_URL")
    wrong = make_url(admin).set(password="certainly-wrong-password")
    url = wrong.render_as_string(hide_password=False)
    line = _init(tmp_path, RECS_INSTANCE__DATABASE_URL=url)
    assert "refused the password" in line and "certainly-wrong-password" not in line


def test_sync_refresh_publish_of_an_unknown_member(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "init")
    assert code == 0, out
    for command in ("sync", "refresh", "publish"):
        line = _one_line_error(*invoke(tmp_path, command, "--member", "99", env={"RECS_SPOTIFY__CLIENT_ID": "app"}))
        assert "no member with id 99" in line and "recs members" in line


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
def test_the_real_executable_prints_one_line(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "data").write_text("")
    recs = str(Path(sys.executable).with_name("recs"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    done = subprocess.run([recs, "init"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"Error: the data folder {tmp_path / 'data'} is a file: move it away or set instance.data_dir to a folder"
    ]
