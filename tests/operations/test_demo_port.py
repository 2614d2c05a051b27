"""`recs demo --port N` with N taken says so in one line before any set-up, as `recs serve` does (issue 16, item 6)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.operations.cli import invoke


def test_demo_on_a_port_in_use_is_one_line_and_builds_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = invoke(tmp_path, "demo", "--no-browser", "--port", str(port))
    assert code == 1 and "Traceback" not in out, out
    lines = out.strip().splitlines()
    assert lines == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port (0 picks a free one)"
    ]
    assert not (tmp_path / "demo-data").exists(), "the demo was set up before the port was checked"
