"""EmulatorServer: the emulator served over real HTTP on 127.0.0.1 in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from recs.emulator.app import create_app
from recs.emulator.control import ControlClient
from recs.emulator.listenbrainz import MIRROR_PATH
from recs.emulator.state import DEFAULT_START, Emulator


class _QuietHandler(WSGIRequestHandler):
    """The request log lives in the emulator; werkzeug's per-request lines would only flood test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass


class EmulatorServer:
    """Context manager (or start()/stop()) serving one Emulator on host:port (port 0 = ephemeral)."""

    def __init__(
        self,
        seed: int = 0,
        members: int = 5,
        quota_per_day: int | None = 1000,
        rate_limit_per_30s: int | None = 150,
        *,
        history_days: int = 365,
        start: datetime = DEFAULT_START,
        allowlisted: int | None = None,
        redirect_uris: tuple[str, ...] | None = None,
        rotate_refresh_tokens: bool = False,
        listenbrainz_dir: Path | None = None,
        wall_clock: Callable[[], float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        artists_per_genre: int = 30,
    ) -> None:
        self.emulator = Emulator(
            seed,
            members,
            quota_per_day=quota_per_day,
            rate_limit_per_30s=rate_limit_per_30s,
            history_days=history_days,
            start=start,
            allowlisted=allowlisted,
            redirect_uris=redirect_uris,
            rotate_refresh_tokens=rotate_refresh_tokens,
            listenbrainz_dir=listenbrainz_dir,
            wall_clock=wall_clock,
            artists_per_genre=artists_per_genre,
        )
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._control: ControlClient | None = None

    # the registered app's credentials (they change on reset with another seed)
    @property
    def client_id(self) -> str:
        return self.emulator.client_id

    @property
    def client_secret(self) -> str:
        return self.emulator.client_secret

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_port}"

    @property
    def api_base_url(self) -> str:
        """For spotipy's prefix: ends with /v1/."""
        return self.base_url + "/v1/"

    @property
    def accounts_base_url(self) -> str:
        return self.base_url + "/"

    @property
    def listenbrainz_mirror_url(self) -> str:
        """The ListenBrainz dump mirror's base URL (serves listenbrainz_dir), ending with /."""
        return f"{self.base_url}/{MIRROR_PATH}/"

    @property
    def control(self) -> ControlClient:
        """One control client per running server (closed by stop())."""
        if self._control is None:
            self._control = ControlClient(self.base_url)
        return self._control

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self._server = make_server(
            self.host, self.port, create_app(self.emulator), threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="spotify-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        if self._control is not None:
            self._control.close()
            self._control = None
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
