"""The Spotify platform as a local service (accounts, Web API v1, control API) for tests and the demo."""

from recs.emulator.control import ControlClient, ControlError
from recs.emulator.server import EmulatorServer
from recs.emulator.state import Emulator, EmulatorError

__all__ = ["ControlClient", "ControlError", "Emulator", "EmulatorError", "EmulatorServer"]
