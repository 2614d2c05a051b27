"""Settings: precedence, errors that name the key and file, and the example file documenting every setting."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from recs.core.config import Settings, SettingsError, load_settings, setting_fields

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"


def test_defaults_without_file_or_environment() -> None:
    s = load_settings(None, {})
    assert s == Settings()
    assert s.database_url == "sqlite:///data/recs.sqlite3"
    assert s.redirect_uri == "http://127.0.0.1:8000/auth/callback"


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[budget]\ndaily_calls = 500\nmax_retry_after_s = 30\n[training]\nhalf_life_days = 30\n")
    s = load_settings(cfg, {"RECS_BUDGET__DAILY_CALLS": "600", "UNRELATED": "x"})
    assert s.budget.daily_calls == 600  # environment wins
    assert s.budget.max_retry_after_s == 30  # from the file
    assert s.training.half_life_days == 30.0 and isinstance(s.training.half_life_days, float)
    assert s.sync.min_poll_minutes == Settings().sync.min_poll_minutes  # default


def test_unknown_key_in_file_names_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[budget]\ndaily_cals = 5\n")
    with pytest.raises(SettingsError, match=r"config\.toml.*budget\.daily_cals"):
        load_settings(cfg, {})


def test_unknown_section_and_env_key_are_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[nope]\nx = 1\n")
    with pytest.raises(SettingsError, match=r"unknown section \[nope\]"):
        load_settings(cfg, {})
    with pytest.raises(SettingsError, match="RECS_BUDGET__NOPE"):
        load_settings(None, {"RECS_BUDGET__NOPE": "1"})


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('[budget]\ndaily_calls = "many"\n', r"budget\.daily_calls: expected int"),
        ("[budget]\ndaily_calls = true\n", r"budget\.daily_calls: expected int"),
        ("[publish]\npublic = 1\n", r"publish\.public: expected bool"),
        ('[training]\nsources = "radio"\n', r"training\.sources: must be one of api, export, both"),
        ("[budget\n", r"not valid TOML"),
    ],
)
def test_wrong_types_are_errors_naming_the_key(tmp_path: Path, text: str, pattern: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=pattern):
        load_settings(cfg, {})


def test_environment_values_are_converted_by_declared_type() -> None:
    s = load_settings(None, {"RECS_PUBLISH__PUBLIC": "yes", "RECS_SPOTIFY__REQUEST_TIMEOUT_S": "2.5"})
    assert s.publish.public is True
    assert s.spotify.request_timeout_s == 2.5
    with pytest.raises(SettingsError, match="RECS_BUDGET__DAILY_CALLS: expected int"):
        load_settings(None, {"RECS_BUDGET__DAILY_CALLS": "lots"})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.toml", {})


def test_example_documents_every_setting_with_a_comment_and_default() -> None:
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    fields = setting_fields()
    assert set(data) == set(fields), "sections differ between Settings and config.example.toml"
    for section, keys in fields.items():
        assert set(data[section]) == set(keys), f"[{section}] keys differ from Settings"
    # Each key line is preceded by a comment line.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line):
            assert lines[i - 1].startswith("#"), f"no comment above {line!r} in config.example.toml"
    # Its values are the defaults: copying it changes nothing (data_dir starts at the file's folder either way).
    defaults = Settings()
    anchored = dataclasses.replace(defaults.instance, data_dir=str(EXAMPLE.parent / "data"))
    assert load_settings(EXAMPLE, {}) == dataclasses.replace(defaults, instance=anchored)


def test_example_holds_no_secret() -> None:
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    assert "secrets" not in data
    assert data["spotify"]["client_id"] == ""
    # No long random-looking token anywhere in the values.
    for section in data.values():
        for key, value in section.items():
            if isinstance(value, str):
                assert not re.search(r"[A-Za-z0-9_\-]{24,}", value), f"{key} looks like a secret"
    assert not re.search(r"(?im)^\s*(client_secret|session_key|token_keys)\s*=", text)
