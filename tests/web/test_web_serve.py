"""`recs serve --processes 2` for real: pages from both processes, a dead worker replaced, an import followed from another."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from web_helpers import export_rows

from recs.cli.main import main
from recs.storage.members import create_member, set_consent
from web import create_app


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    cookie: str
    output: list[str] = field(default_factory=list)
    # Session cookies of every member, the first one's is `cookie`.
    cookies: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(
        self, path: str, conn: http.client.HTTPConnection | None = None, cookie: str | None = None
    ) -> tuple[int, str, str]:
        """(status, answering worker's pid, body) of a GET; on a new connection, closed after, unless given one."""
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path, headers={"Cookie": f"recs_session={cookie or self.cookie}"})
            response = c.getresponse()
            body = response.read().decode()
            return response.status, response.getheader("X-Recs-Worker", ""), body
        finally:
            if own:
                c.close()


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def serving(
    tmp_path: Path, *, processes: int = 2, threads: int = 2, members: int = 1, memory_limit: int | None = None
) -> Iterator[Served]:
    """`recs serve` on a fresh instance with *members* members who allowed storing; the first one's session.

    *memory_limit* caps the server's address space (bytes): a memory regression then fails the test
    instead of taking the machine down.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    env["RECS_INSTANCE__DATA_DIR"] = str(tmp_path / "data")
    env["RECS_SPOTIFY__CLIENT_ID"] = "test-app"  # serve refuses to start without a Spotify app
    result = CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    app = create_app(environ=env)
    instance = app.extensions["recs"]
    now = datetime.now(UTC)
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookies = []
    with instance.db.write() as conn:
        for n in range(members):
            member = create_member(
                conn,
                f"u{n + 1}",
                ["Ada", "Bo", "Cy"][n % 3],
                role="owner" if n == 0 else "member",
                timezone="UTC",
                now=now,
            )
            set_consent(conn, member.id, "store", True, now)
            cookies.append(str(serializer.dumps({"member_id": member.id})))
    instance.close()

    def limit_memory() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    recs = Path(sys.executable).with_name("recs")
    process = subprocess.Popen(
        [
            str(recs),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it (Ctrl-C reaches every process)
        preexec_fn=limit_memory if memory_limit is not None else None,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", first)
    assert found, first
    server = Served(process, int(found.group(1)), cookies[0], [first], cookies)
    stream = process.stdout
    # Keep reading the output so the pipe never fills (and it is there to show when a test fails).
    threading.Thread(target=lambda: server.output.extend(iter(stream.readline, "")), daemon=True).start()
    try:
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - only when stopping broke
                process.kill()
                process.wait()
        stream.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as server:
        yield server


def _wait_until_served(served: Served) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if served.get("/listening")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("recs serve did not answer: " + "".join(served.output))


def _held_by_two_workers(served: Served) -> tuple[http.client.HTTPConnection, str, http.client.HTTPConnection, str]:
    """Two open connections answered by two different workers.

    A worker accepts only while it holds no more connections than the least busy one, so with the first
    connection held the second goes to the other worker, once that one is ready (it may still be starting).
    """
    first = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    pid_a = served.get("/listening", first)[1]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        second = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        pid_b = served.get("/listening", second)[1]
        if pid_b != pid_a:
            return first, pid_a, second, pid_b
        second.close()
        time.sleep(0.05)
    raise AssertionError("one worker answered every connection: " + "".join(served.output))


@pytest.mark.slow  # several seconds of real processes or training: CI runs it, `pytest` alone does not
def test_two_processes_answer_and_a_dead_one_is_replaced(served: Served) -> None:
    _wait_until_served(served)
    # Connections are kept open (as a browser does): the second one goes to the worker holding none.
    first, pid_a, second, pid_b = _held_by_two_workers(served)
    status, _, page = served.get("/listening", first)
    assert status == 200 and "Ada" in page
    workers = {int(pid_a), int(pid_b)}
    assert {_parent_of(pid) for pid in workers} == {served.process.pid}
    # Each keeps answering on its own connection.
    assert served.get("/settings", first)[1] == pid_a and served.get("/settings", second)[1] == pid_b

    os.kill(int(pid_a), signal.SIGKILL)
    first.close()
    seen: set[str] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (seen - {pid_a, pid_b}):
        try:
            status, pid, _ = served.get("/listening")
        except OSError:
            continue
        assert status == 200
        seen.add(pid)
    replacement = seen - {pid_a, pid_b}
    assert replacement, f"no new worker after killing {pid_a}: " + "".join(served.output)
    assert _parent_of(int(replacement.pop())) == served.process.pid
    second.close()

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=15) == 0
    assert not _alive(int(pid_b))


def test_ctrl_c_stops_every_process_cleanly(served: Served) -> None:
    _wait_until_served(served)
    first, pid_a, second, pid_b = _held_by_two_workers(served)
    os.killpg(served.process.pid, signal.SIGINT)  # the terminal signals the whole group
    assert served.process.wait(timeout=15) == 0
    first.close()
    second.close()
    time.sleep(0.2)  # the output thread reads the last lines
    assert "Traceback" not in "".join(served.output), "".join(served.output)
    assert not _running(int(pid_a)) and not _running(int(pid_b))


def test_workers_stop_when_the_supervisor_is_killed(served: Served) -> None:
    _wait_until_served(served)
    first, pid_a, second, pid_b = _held_by_two_workers(served)
    workers = {int(pid_a), int(pid_b)}
    first.close()
    second.close()
    served.process.kill()
    served.process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_an_import_is_followed_from_another_process(served: Served) -> None:
    _wait_until_served(served)
    first, _, second, _ = _held_by_two_workers(served)  # both workers are up
    first.close()
    second.close()
    uploader = requests.Session()
    uploader.cookies.set("recs_session", served.cookie, domain="127.0.0.1", path="/")
    page = uploader.get(f"{served.base}/import", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    rows = export_rows(28)
    upload = uploader.post(
        f"{served.base}/import",
        data={"csrf_token": token.group(1)},
        files={"export": ("Streaming_History_Audio_2024.json", json.dumps(rows).encode())},
        allow_redirects=False,
        timeout=30,
    )
    assert upload.status_code == 302, upload.text
    ran_in = upload.headers["X-Recs-Worker"]
    location = upload.headers["Location"]
    assert re.search(r"/import/progress/\d+$", location)

    # The uploader's connection stays open on the worker running the import; a new one goes to the other.
    watcher = requests.Session()
    watcher.cookies.update(uploader.cookies)
    deadline = time.monotonic() + 30
    while True:
        progress = watcher.get(f"{served.base}{location}", allow_redirects=False, timeout=10)
        assert progress.headers["X-Recs-Worker"] != ran_in
        if progress.status_code == 302 or time.monotonic() > deadline:
            break
        assert progress.status_code == 200 and "Importing your history" in progress.text
        time.sleep(0.2)
    assert progress.status_code == 302, progress.text
    report = watcher.get(f"{served.base}{progress.headers['Location']}", timeout=10)
    assert report.headers["X-Recs-Worker"] != ran_in
    assert re.search(r'class="big">28</span> plays added', report.text), report.text
    uploader.close()
    watcher.close()


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECS_")}
    env["RECS_INSTANCE__DATA_DIR"] = str(tmp_path / "data")
    env["RECS_SPOTIFY__CLIENT_ID"] = "test-app"  # serve refuses to start without a Spotify app
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(Path(sys.executable).with_name("recs")), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0 and "cannot listen" in result.stderr, result.stderr


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in kB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def _upload(session: requests.Session, served: Served, name: str, content: bytes) -> requests.Response:
    page = session.get(f"{served.base}/import", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return session.post(
        f"{served.base}/import",
        data={"csrf_token": token.group(1)},
        files={"export": (name, content)},
        allow_redirects=False,
        timeout=30,
    )


def _settled(session: requests.Session, served: Served, location: str) -> requests.Response:
    deadline = time.monotonic() + 30
    while True:
        page = session.get(f"{served.base}{location}", allow_redirects=False, timeout=10)
        if page.status_code == 302 or "Importing your history" not in page.text or time.monotonic() > deadline:
            return page
        time.sleep(0.01)


@pytest.mark.slow  # several seconds of real processes or generated data: CI runs it, `pytest` alone does not
def test_a_deeply_nested_upload_is_refused_at_once_with_bounded_memory(tmp_path: Path) -> None:
    # 100,000 nested arrays (200 kB): before the depth guard, ijson's prefixes grew with the square of the
    # depth (gigabytes). The address-space cap turns a regression into a failed import, not a dead machine.
    deep = b"[" * 100_000 + b"]" * 100_000
    with serving(tmp_path, processes=1, threads=4, members=2, memory_limit=3 * 1024**3) as served:
        _wait_until_served(served)
        uploader = requests.Session()
        uploader.cookies.set("recs_session", served.cookie, domain="127.0.0.1", path="/")
        # Warm up: one real import, so the baseline holds everything an import loads.
        warm = _upload(uploader, served, "Streaming_History_Audio_2023.json", json.dumps(export_rows(5)).encode())
        assert warm.status_code == 302, warm.text
        assert _settled(uploader, served, warm.headers["Location"]).status_code == 302
        pid = int(warm.headers["X-Recs-Worker"])
        assert served.get("/listening", cookie=served.cookies[1])[0] == 200
        before = _memory_kb(pid)

        # Another member keeps using the dashboard the whole time.
        answers: list[tuple[float, int, float]] = []
        stop = threading.Event()

        def other_member() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    status = served.get("/listening", conn, cookie=served.cookies[1])[0]
                except OSError:  # timed out: the server stopped answering
                    status = 0
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
                answers.append((sent, status, time.monotonic() - sent))
            conn.close()

        other = threading.Thread(target=other_member)
        other.start()
        try:
            time.sleep(0.1)
            started = time.monotonic()
            upload = _upload(uploader, served, "Streaming_History_Audio_2024.json", deep)
            assert upload.status_code == 302, upload.text
            page = _settled(uploader, served, upload.headers["Location"])
            refused_after = time.monotonic() - started
            time.sleep(0.1)
        finally:
            stop.set()
            other.join(timeout=15)
        after = _memory_kb(pid)

        assert page.status_code == 200 and "The import did not go through" in page.text, page.text
        # A sentence naming the member's file, without the server's folders.
        assert "Streaming_History_Audio_2024.json is not a file of a Spotify data export" in page.text, page.text
        assert str(tmp_path) not in page.text and "uploads" not in page.text
        assert refused_after < 1.0, f"refused after {refused_after:.2f} s"
        growth_mb = (after["VmHWM"] - before["VmRSS"]) / 1024
        assert growth_mb < 50, f"the server grew by {growth_mb:.0f} MB (peak {after['VmHWM'] // 1024} MB)"
        during = [a for a in answers if started <= a[0] <= started + refused_after]
        assert answers and all(status == 200 for _, status, _ in answers), answers
        assert during, "no other request was answered while the upload was handled"
        assert max(latency for _, _, latency in answers) < 1.0, answers
        print(
            f"nested upload: refused in {refused_after * 1000:.0f} ms, server memory +{growth_mb:.1f} MB "
            f"(peak {after['VmHWM'] // 1024} MB); other member answered {len(answers)} times, "
            f"slowest {max(a[2] for a in answers) * 1000:.0f} ms"
        )
