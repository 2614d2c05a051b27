"""`recs demo --no-browser` from a clean folder: the dashboard answers and every member got a published playlist."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from recs.emulator import ControlClient


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_demo_sets_up_a_household_and_serves_the_dashboard(tmp_path: Path) -> None:
    port = _free_port()
    recs = Path(sys.executable).with_name("recs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    process = subprocess.Popen(
        [str(recs), "demo", "--no-browser", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the demo" in line:
                break
        output = "".join(lines)
        assert "Ctrl-C stops the demo" in output, output
        opened = re.search(r"Discover holds (\d+) tracks no household member ever played", output)
        assert opened and int(opened.group(1)) > 0, output
        seconds = float(re.search(r"Set up in ([\d.]+) s", output).group(1))  # type: ignore[union-attr]
        assert seconds < 60, output
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "recs" in page.text
        emulator_url = re.search(r"Emulated Spotify: (http://127\.0\.0\.1:\d+)", output).group(1)  # type: ignore[union-attr]
        control = ControlClient(emulator_url)
        members = control.members()
        assert len(members) == 5
        playlists = control.ground_truth()["playlists"]
        blend_copies = []
        for member in members:
            mine = [p for p in playlists if p["owner_id"] == member["user_id"] and p["name"].startswith("recs")]
            ours = [p for p in mine if p["name"] != "recs · Blend"]
            assert len(ours) == 1, f"{member['display_name']} has {len(ours)} recs playlists"
            assert len(ours[0]["items"]) > 0
            blend_copies.append([i["track_id"] for p in mine if p["name"] == "recs · Blend" for i in p["items"]])
        # Every demo member takes part in the household Blend: one copy each, the same tracks.
        assert blend_copies[0] and all(c == blend_copies[0] for c in blend_copies), output
        assert (tmp_path / "demo-data" / ".recs-demo").exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    from recs.usecases.demo import DemoError, prepare_folder

    real = tmp_path / "data"
    real.mkdir()
    (real / "recs.sqlite3").write_bytes(b"precious")
    try:
        prepare_folder(real)
    except DemoError as exc:
        assert "not a demo folder" in str(exc)
    else:
        raise AssertionError("the demo took over a real instance's folder")
    assert (real / "recs.sqlite3").read_bytes() == b"precious"
