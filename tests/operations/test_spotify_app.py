"""An empty spotify.client_id refuses to start what calls Spotify, saying what to set (issue 16, item 2).

The docs once said "Empty: the built-in emulator is used" while sign-in sent members to Spotify with
`client_id=`. The choice made: refuse, because the emulator inside a real instance would fill the
household's database with invented listening; `recs demo` is the way to try recs without an app.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recs.core.config import SettingsError, load_settings
from recs.spotify.oauth import oauth_client
from tests.operations.cli import invoke

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command",
    [["sync"], ["refresh"], ["publish"], ["worker", "--once", "sync"], ["serve", "--processes", "1"]],
)
def test_commands_that_call_spotify_refuse_without_a_client_id(tmp_path: Path, command: list[str]) -> None:
    code, out = invoke(tmp_path, "init")
    assert code == 0, out
    code, out = invoke(tmp_path, *command)
    assert code == 1 and "Traceback" not in out, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "spotify.client_id is empty" in lines[0] and "RECS_SPOTIFY__CLIENT_ID" in lines[0]
    assert "recs demo" in lines[0]


def test_commands_that_never_call_spotify_still_run(tmp_path: Path) -> None:
    assert invoke(tmp_path, "init")[0] == 0
    for command in (["members"], ["publish", "--dry-run"], ["worker", "--once", "backup"]):
        code, out = invoke(tmp_path, *command)
        assert code == 0, (command, out)


def test_sign_in_never_builds_an_authorize_url_with_an_empty_client_id() -> None:
    with pytest.raises(SettingsError, match=r"spotify\.client_id is empty"):
        oauth_client(load_settings(None, {}), "secret")
    client = oauth_client(load_settings(None, {"RECS_SPOTIFY__CLIENT_ID": "abc"}), "secret")
    assert client.client_id == "abc"


def test_the_docs_no_longer_promise_the_emulator_for_an_empty_client_id() -> None:
    for name in ("README.md", "config.example.toml"):
        text = (REPO / name).read_text()
        assert "Empty: the built-in emulator is used" not in text, name
        assert "recs demo" in text, name
