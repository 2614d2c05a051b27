"""`recs init` and the secrets file: created once with mode 0600, idempotent, environment secrets never written."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from recs.cli.main import main
from recs.core.keys import SecretsError
from recs.storage import Database, migrate
from recs.usecases.secrets_file import add_token_key, drop_old_token_keys, load_secrets


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    runner = CliRunner()
    environ = {"RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"), **(env or {})}
    result = runner.invoke(main, list(args), env=environ, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_creates_everything_and_second_run_changes_nothing(tmp_path: Path) -> None:
    out = _run(tmp_path, "init")
    secrets = tmp_path / "data" / "secrets.toml"
    assert "created" in out and "empty -> " in out
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    first = secrets.read_bytes()
    db_file = tmp_path / "data" / "recs.sqlite3"
    db = Database(f"sqlite:///{db_file}")
    assert migrate.current_revision(db) == migrate.head_revision()
    db.dispose()
    out2 = _run(tmp_path, "init")
    assert "kept" in out2 and "up to date" in out2
    assert secrets.read_bytes() == first


def test_secrets_from_environment_are_not_written(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    env = {"RECS_SECRETS__SESSION_KEY": "s" * 40, "RECS_SECRETS__TOKEN_KEYS": key}
    _run(tmp_path, "init", env=env)
    text = (tmp_path / "data" / "secrets.toml").read_text() if (tmp_path / "data" / "secrets.toml").exists() else ""
    assert key not in text and "s" * 40 not in text


def test_help_describes_every_command(tmp_path: Path) -> None:
    out = _run(tmp_path, "--help")
    for name, command in main.commands.items():
        assert name in out
        assert command.get_short_help_str(), f"`recs {name}` has no help text"


def test_secrets_missing_and_malformed_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    with pytest.raises(SecretsError, match="recs init"):
        load_secrets(path, {})
    with pytest.raises(SecretsError, match="not a valid Fernet key"):
        load_secrets(path, {"RECS_SECRETS__SESSION_KEY": "x", "RECS_SECRETS__TOKEN_KEYS": "short"})
    path.write_text("session_key = [")
    with pytest.raises(SecretsError, match="not valid TOML"):
        load_secrets(path, {})


def test_key_rotation_keeps_old_ciphertext_readable(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    old = load_secrets(path, {}, create=True)
    ciphertext = old.cipher().encrypt(b"refresh-token")
    assert "refresh-token" not in repr(old) and old.session_key not in repr(old)
    new = add_token_key(path)
    assert len(new.token_keys) == 2 and new.token_keys[1] == old.token_keys[0]
    assert new.cipher().decrypt(ciphertext) == b"refresh-token"
    rotated = new.cipher().rotate(ciphertext)
    latest = drop_old_token_keys(path)
    assert latest.cipher().decrypt(rotated) == b"refresh-token"
    with pytest.raises(SecretsError, match="cannot be decrypted"):
        latest.cipher().decrypt(ciphertext)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
