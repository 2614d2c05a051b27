"""Serving the dashboard: one listening socket, waitress in one process or in N forked workers under a supervisor."""

from __future__ import annotations

import contextlib
import gc
import logging
import mmap
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

from flask import Flask
from waitress.server import create_server

log = logging.getLogger(__name__)

WsgiApp = Callable[..., Any]
MAX_DEFAULT_PROCESSES = 4
# A worker that dies sooner than this after starting counts as a crash; after CRASH_LIMIT in a row the
# supervisor gives up (a broken config would otherwise fork forever).
QUICK_DEATH_S = 2.0
CRASH_LIMIT = 5
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
RETIRED = 2**62


def default_processes() -> int:
    """One worker per core, at most four (a household's dashboard needs no more)."""
    return max(1, min(MAX_DEFAULT_PROCESSES, os.cpu_count() or 1))


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """Bind and listen once, in the parent: every worker accepts from this one socket (see Balance)."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Balance:
    """Open connections per worker, in memory shared across the fork: a worker accepts only while it holds no
    more connections than the least busy one.

    Browsers (and the benchmark's clients) keep a connection open and send every request on it, so which
    worker accepts a connection decides who answers all of them; left to the kernel, one worker was seen
    taking 17 of 20 connections while the other idled.
    """

    # How often an idle worker looks again (waitress's default of 1 s would delay a connection that
    # only became this worker's to take when another worker accepted).
    POLL_S = 0.05

    def __init__(self, workers: int) -> None:
        self._memory = mmap.mmap(-1, 8 * workers)  # anonymous and shared: the children see one another
        self.counts = memoryview(self._memory).cast("q")
        for slot in range(workers):
            self.retire(slot)  # until its worker is ready to accept

    def retire(self, slot: int) -> None:
        """A slot without a serving worker never holds the least connections (the others would wait for it)."""
        self.counts[slot] = RETIRED

    def may_accept(self, slot: int, open_connections: int) -> bool:
        self.counts[slot] = open_connections
        return open_connections <= min(self.counts)

    def attach(self, server: Any, slot: int) -> None:
        """Gate waitress's accepting on the balance (its loop polls the socket only while readable())."""
        readable = server.readable
        parent = os.getppid()

        def balanced_readable() -> bool:
            if os.getppid() != parent:  # the supervisor was killed outright: stop rather than serve orphaned
                raise SystemExit(0)
            ok = bool(readable())
            return self.may_accept(slot, len(server.active_channels)) and ok

        server.readable = balanced_readable
        server.adj.asyncore_loop_timeout = self.POLL_S


def run_waitress(
    app: WsgiApp,
    sock: socket.socket,
    threads: int,
    balance: tuple[Balance, int] | None = None,
    **adjustments: Any,
) -> None:
    """Serve *app* on the already listening *sock* until SIGTERM or SIGINT (then finish what runs and return)."""
    server = create_server(app, sockets=[sock], threads=threads, **adjustments)
    # What exists now (modules, the app, the schema) lives as long as the process: keep it out of the
    # collector's full passes, which otherwise stop every thread of the process for ~80 ms now and then.
    gc.collect()
    gc.freeze()
    if balance is not None:
        balance[0].attach(server, balance[1])

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # Ctrl-C reaches the workers and the supervisor (which forwards a SIGTERM): one stop is enough.
        # A Python handler, not SIG_IGN: a signal already on its way would then raise an OSError.
        for sig in STOP_SIGNALS:
            signal.signal(sig, _already_stopping)
        raise SystemExit(0)  # waitress's loop catches it, shuts its threads down and closes the socket

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    try:
        server.run()
    finally:
        if isinstance(app, Flask):
            from web import close_app

            close_app(app)


def _already_stopping(_signum: int, _frame: FrameType | None) -> None:
    """A second stop signal while stopping: nothing more to do."""


class Supervisor:
    """The parent of N workers: starts them, restarts one that dies, and stops them all on SIGTERM or SIGINT."""

    def __init__(
        self, processes: int, worker: Callable[[int], None], gone: Callable[[int], None] | None = None
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.processes = processes
        self.worker = worker  # runs in the child with its slot (0 … processes-1)
        self.gone = gone  # called in the parent with the slot of a worker that stopped
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (slot, when it started)
        self.stopping = False
        self.crashes = 0

    def _spawn(self, slot: int) -> None:
        # Signals wait until the worker has its own handlers (the parent's would stop its siblings).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the parent's code
                self._worker_main(slot)
            self.children[pid] = (slot, time.monotonic())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        log.info("dashboard worker %s started", pid)

    def _worker_main(self, slot: int) -> NoReturn:
        code = 1
        try:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            self.worker(slot)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        except BaseException:
            log.exception("dashboard worker %s failed", os.getpid())
        finally:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        """Supervise until every worker has stopped; 0 after a requested stop, 1 when workers kept crashing."""
        previous = {sig: signal.signal(sig, self._forward) for sig in STOP_SIGNALS}
        try:
            for slot in range(self.processes):
                self._spawn(slot)
            while self.children:
                try:
                    pid, status = os.wait()  # retried by Python after a signal handler runs (PEP 475)
                except ChildProcessError:  # pragma: no cover - nothing left to wait for
                    break
                child = self.children.pop(pid, None)
                if child is None:
                    continue
                slot, started = child
                if self.gone is not None:
                    self.gone(slot)
                if self.stopping:
                    continue
                code = os.waitstatus_to_exitcode(status)
                lived = time.monotonic() - started
                log.warning("dashboard worker %s stopped (exit %s) after %.1f s; starting another", pid, code, lived)
                self.crashes = self.crashes + 1 if lived < QUICK_DEATH_S else 0
                if self.crashes >= CRASH_LIMIT:
                    log.error("dashboard workers keep dying at start; stopping")
                    self._forward(signal.SIGTERM, None)
                    continue
                if self.crashes:
                    time.sleep(min(5.0, 0.2 * 2**self.crashes))
                if not self.stopping:
                    self._spawn(slot)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.crashes >= CRASH_LIMIT else 0


def serve(
    make_app: Callable[[], WsgiApp],
    sock: socket.socket,
    *,
    processes: int,
    threads: int,
    **adjustments: Any,
) -> int:
    """Serve on *sock*: in this process when *processes* is 1, else in that many forked workers.

    *make_app* runs in each worker after the fork, so no database connection, lock or thread is shared.
    """
    if processes <= 1:
        run_waitress(make_app(), sock, threads, **adjustments)
        return 0

    balance = Balance(processes)

    def worker(slot: int) -> None:
        # The slot counts once waitress polls (a worker still building its app takes no turn).
        run_waitress(make_app(), sock, threads, (balance, slot), **adjustments)

    try:
        return Supervisor(processes, worker, gone=balance.retire).run()
    finally:
        sock.close()
