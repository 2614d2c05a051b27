"""Fixtures of the emulator's own tests: a served emulator and its control client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recs.emulator import ControlClient, EmulatorServer


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=7, members=5) as srv:
        yield srv


@pytest.fixture
def control(server: EmulatorServer) -> ControlClient:
    return server.control


@pytest.fixture
def member_id(control: ControlClient) -> str:
    user_id: str = control.members()[0]["user_id"]
    return user_id
