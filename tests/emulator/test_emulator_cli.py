"""`recs emulator` prints its base URLs, serves until stopped, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
def test_recs_emulator_serves_until_stopped() -> None:
    command = [
        sys.executable,
        "-c",
        "from recs.cli.main import run; run()",
        "emulator",
        "--port",
        "0",
        "--seed",
        "3",
        "--members",
        "2",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = {}
            while "clock" not in lines:
                line = proc.stdout.readline()
                assert line, f"recs emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
                key, _, value = line.partition(":")
                lines[key.strip()] = value.strip()
            api = lines["api_base_url"]
            assert api.startswith("http://127.0.0.1:") and api.endswith("/v1/")
            members = requests.get(lines["base URL"] + "/_emulator/members", timeout=5).json()
            assert len(members) == 2
            app = requests.get(lines["base URL"] + "/_emulator/app", timeout=5).json()
            assert app["client_id"] == lines["client_id"] and app["seed"] == 3
            # The clock starts today (not a fixed date in the past) and follows the wall clock by default.
            started = datetime.fromisoformat(lines["clock"].split(" ")[0])
            assert abs(started - datetime.now(UTC)) < timedelta(minutes=10), lines["clock"]
            assert "follows the wall clock" in lines["clock"]
            emulated = datetime.fromisoformat(
                requests.get(lines["base URL"] + "/_emulator/clock", timeout=5).json()["now"]
            )
            assert started <= emulated <= datetime.now(UTC) + timedelta(seconds=1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    assert proc.returncode == 0
