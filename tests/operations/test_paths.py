"""Relative paths in a config file start at the file's folder, whatever the current folder (issue 16, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recs.core.config import load_settings
from tests.operations.cli import invoke


def test_relative_data_dir_and_secrets_start_at_the_config_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "opt" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('[instance]\ndata_dir = "data"\nsecrets_file = "private/secrets.toml"\n')
    s = load_settings(cfg, {})
    assert s.data_path == cfg.parent / "data"
    assert s.secrets_path == cfg.parent / "private" / "secrets.toml"
    assert s.database_url == f"sqlite:///{cfg.parent / 'data' / 'recs.sqlite3'}"
    # From the environment too, once there is a config file: one base for the whole instance.
    env = load_settings(cfg, {"RECS_INSTANCE__DATA_DIR": "other"})
    assert env.data_path == cfg.parent / "other"
    # Absolute paths and non-SQLite URLs stay as written.
    cfg.write_text(f'[instance]\ndata_dir = "{tmp_path}/abs"\ndatabase_url = "postgresql+psycopg://u@h/db"\n')
    s = load_settings(cfg, {})
    assert s.data_path == tmp_path / "abs" and s.database_url == "postgresql+psycopg://u@h/db"


def test_relative_sqlite_url_starts_at_the_config_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[instance]\ndatabase_url = "sqlite:///db/recs.sqlite3"\n')
    assert load_settings(cfg, {}).database_url == f"sqlite:///{tmp_path / 'db' / 'recs.sqlite3'}"


def test_the_default_data_dir_starts_at_the_config_folder_too(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[budget]\ndaily_calls = 500\n")
    assert load_settings(cfg, {}).data_path == tmp_path / "data"
    # Without a config file nothing is anchored: the current folder, as before.
    assert load_settings(None, {}).data_path == Path("data")


@pytest.mark.parametrize("command", [["members"], ["init"]])
def test_cli_from_another_folder_finds_the_same_instance(tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "opt" / "recs"
    home.mkdir(parents=True)
    cfg = home / "config.toml"
    cfg.write_text('[instance]\ndata_dir = "data"\n')
    code, out = invoke(home, "init")
    assert code == 0, out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out = invoke(elsewhere, "--config", str(cfg), *command)
    assert code == 0, out
    assert "recs init" not in out or command == ["init"]
    assert not (elsewhere / "data").exists(), "a second, empty instance was created in the current folder"
    if command == ["init"]:
        assert "kept" in out and "up to date" in out


def test_init_prints_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    code, out = invoke(tmp_path, "init")
    assert code == 0, out
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert lines["data folder"].strip() == str(tmp_path / "data")
    assert lines["secrets"].split()[-3 if "created" in lines["secrets"] else -2] == str(
        tmp_path / "data" / "secrets.toml"
    )
    assert str(tmp_path / "data" / "recs.sqlite3") in lines["database"]
