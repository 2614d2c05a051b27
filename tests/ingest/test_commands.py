"""The command line: `recs sync`, `recs members`, `recs invite`, `recs consent`, `recs rotate-key` on an initialised instance."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from recs.cli.main import main
from recs.emulator import EmulatorServer
from recs.storage import accounts as aq
from recs.usecases.instance import load, open_instance

from .conftest import Household


def test_sync_members_invite_consent_and_rotate_key_from_the_command_line(tmp_path: Path) -> None:
    with EmulatorServer(seed=5, members=2, history_days=10) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[instance]\ndata_dir = "{tmp_path / "data"}"\n'
            f'[spotify]\nclient_id = "{server.client_id}"\napi_base_url = "{server.api_base_url}"\n'
            f'accounts_base_url = "{server.accounts_base_url}"\nredirect_uri = "http://127.0.0.1:8000/auth/callback"\n'
        )
        env = {"RECS_CONFIG": str(config), "RECS_SECRETS__CLIENT_SECRET": server.client_secret}
        runner = CliRunner(env=env)
        assert runner.invoke(main, ["init"]).exit_code == 0
        result = runner.invoke(main, ["members"])
        assert result.exit_code == 0 and "no members yet" in result.output
        assert "no owner yet" in runner.invoke(main, ["invite"]).output

        instance = open_instance(load(str(config), env), env)
        try:
            household = Household(server, instance)
            owner = household.sign_in(household.users[0], consent=False)
            result = runner.invoke(main, ["invite"])
            assert result.exit_code == 0, result.output
            link = re.search(r"invite=(\S+)", result.output)
            assert link and "User Management" in result.output
            household.sign_in(household.users[1], invite_code=link.group(1), consent=False)

            result = runner.invoke(main, ["sync"])
            assert "no member has agreed" in result.output
            assert runner.invoke(main, ["consent", str(owner.id), "store", "on"]).exit_code == 0
            result = runner.invoke(main, ["sync"])
            assert result.exit_code == 0, result.output
            assert re.search(
                rf"member {owner.id}: [1-9]\d* new plays, \d+ saved tracks, 0 gaps, [1-9]\d* calls", result.output
            )
            assert "API calls in the last 24 h" in result.output

            result = runner.invoke(main, ["members"])
            assert "2 of at most 5 members" in result.output and "owner" in result.output
            assert "sign-in expires" in result.output and "  2027-" in result.output

            with instance.db.read() as conn:
                before = aq.get_token(conn, owner.id)
            result = runner.invoke(main, ["rotate-key"])
            assert result.exit_code == 0, result.output
            with instance.db.read() as conn:
                after = aq.get_token(conn, owner.id)
            assert before is not None and after is not None and before.ciphertext != after.ciphertext
            # A freshly opened instance (new keys from the file) still reads the tokens and syncs.
            result = runner.invoke(main, ["sync", "--member", str(owner.id)])
            assert result.exit_code == 0, result.output
        finally:
            instance.close()
