"""What recs prints: aligned member columns, every command in the README, readable metrics, honest demo links."""

from __future__ import annotations

import re
from pathlib import Path

from recs.cli.main import _load_plugins, main
from recs.core.config import load_settings
from recs.core.metrics import format_metric
from recs.storage import Database
from recs.storage.members import create_member, set_consent
from tests.operations.cli import invoke

REPO = Path(__file__).resolve().parents[2]


def test_members_columns_line_up_whatever_the_names(tmp_path: Path) -> None:
    assert invoke(tmp_path, "init")[0] == 0
    db = Database(f"sqlite:///{tmp_path / 'data' / 'recs.sqlite3'}")
    with db.write() as conn:
        create_member(conn, "o", "Olive", role="owner")
        long = create_member(conn, "m", "Maximiliana Wolkenstein-Trostberg")
        set_consent(conn, long.id, "store", True)
        set_consent(conn, long.id, "train", True)
        for n in range(3, 12):
            create_member(conn, f"x{n}", f"M{n}")
    db.dispose()
    code, out = invoke(tmp_path, "members")
    assert code == 0, out
    header, *rows = out.splitlines()[1:]
    assert "Maximiliana Wolkenstein-Trostberg" in out
    starts = [
        m.start() for m in re.finditer(r"(?<!\S)(?:name|role|consent|sign-in expires|last sync|status)\b", header)
    ]
    assert len(starts) == 6, header
    for row in rows:
        for start in starts:
            # every left-aligned column starts at its header's offset, after a space
            assert row[start - 1] == " " and row[start] != " ", f"misaligned at {start}:\n{header}\n{row}"
    # the id and gaps columns are flush right under their headers
    id_end, gaps_end = header.index("id") + 2, header.index("gaps") + 4
    for row in rows:
        assert row[id_end - 1].isdigit() and row[gaps_end - 1].isdigit() and row[gaps_end] == " ", row


def _readme_commands() -> set[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `recs"):
            first_cell = line.split(" | ")[0]
            names.update(re.findall(r"`recs ([a-z][a-z-]*)", first_cell))
    return names


def test_readme_command_table_lists_every_command() -> None:
    _load_plugins()
    commands = set(main.commands)
    listed = _readme_commands()
    assert commands - listed == set(), f"README's command table leaves out: {sorted(commands - listed)}"
    assert listed - commands == set(), (
        f"README's command table lists commands that do not exist: {sorted(listed - commands)}"
    )


def test_metrics_show_counts_as_whole_numbers() -> None:
    assert format_metric("users", 4.0) == "4"
    assert format_metric("ndcg@10", 0.41234) == "0.412"
    assert format_metric("recall@50", 1.0) == "1.000"


def test_track_links_go_to_spotify_or_to_the_emulator_page() -> None:
    real = load_settings(None, {})
    assert real.track_page("abc") == "https://open.spotify.com/track/abc"
    emulated = load_settings(None, {"RECS_SPOTIFY__API_BASE_URL": "http://127.0.0.1:5555/v1/"})
    assert emulated.track_page("abc") == "http://127.0.0.1:5555/track/abc"
