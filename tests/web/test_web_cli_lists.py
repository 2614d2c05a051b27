"""`recs recommend` and the dashboard show one list: the stored list minus hidden tracks, blocked artists, plays."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from cryptography.fernet import Fernet
from web_helpers import sign_in

from recs.cli.main import main
from recs.core.config import load_settings
from recs.core.keys import Secrets
from recs.storage import Database, migrate
from recs.usecases import feedback
from recs.usecases.instance import Instance
from tests.model import household as hh
from web import create_app

_CLI_LINE = re.compile(r"^\s*\d+\. (.+?) - .+\[", re.MULTILINE)
_CARD = re.compile(r'<h2 class="title">([^<]+)</h2>')


def test_recs_recommend_and_the_dashboard_list_the_same_tracks(tmp_path: Path) -> None:
    env = {
        "RECS_INSTANCE__DATA_DIR": str(tmp_path / "data"),
        "RECS_RECOMMEND__LIST_SIZE": "30",
        "RECS_TRAINING__TUNING_BUDGET_S": "1",
    }
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    settings = load_settings(None, env)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        now = datetime.now(UTC)
        house = hh.build(db, days=60, now=now)
        ann = house.members["ann"]
        trained = runner.invoke(main, ["train"], env=env, catch_exceptions=False)
        assert trained.exit_code == 0, trained.output

        def cli_list() -> list[str]:
            result = runner.invoke(main, ["recommend", "--member", str(ann), "--limit", "100"], env=env)
            assert result.exit_code == 0, result.output
            return _CLI_LINE.findall(result.output)

        before = cli_list()
        names = {v: k for k, v in _track_names(db, house).items()}
        # Ann hides her first track and blocks the artist of her third (for good).
        hidden = names[before[0]]
        blocked_track = names[before[2]]
        feedback.hide_track(db, ann, hidden, now)
        feedback.block_artist(db, ann, house.artist_of[blocked_track], None, now.date(), now)

        shown = cli_list()
        assert before[0] not in shown and before[2] not in shown
        assert not any(house.artist_of[names[n]] == house.artist_of[blocked_track] for n in shown)
        assert len(shown) < len(before) - 1

        secrets = Secrets(session_key="test-session-key-" + "x" * 32, token_keys=(Fernet.generate_key().decode(),))
        app = create_app(
            overrides={
                "RECS_INSTANCE": Instance(settings=settings, secrets=secrets, db=db),
                "TESTING": True,
                "RECS_CLOCK": lambda: now,
            }
        )
        client = app.test_client()
        sign_in(client, ann)
        page = client.get("/recommendations?mode=discover").get_data(as_text=True)
        cards = _CARD.findall(page)
        assert cards, page
        # The page shows a playlist's length of the list; the CLI the same list, longer.
        assert cards == shown[: len(cards)]
    finally:
        db.dispose()


def _track_names(db: Database, house: hh.Household) -> dict[int, str]:
    from recs.storage.catalog import get_tracks

    with db.read() as conn:
        return {t: row.name for t, row in get_tracks(conn, house.artist_of).items()}
