"""`recs demo`: a five-member household on the built-in Spotify emulator, set up end to end, then the dashboard."""

from __future__ import annotations

import threading
import time
import webbrowser
from pathlib import Path

import click


def _run_requests(instance: object, stop: threading.Event) -> None:
    """The demo's stand-in for `recs worker`: runs the dashboard's run-now requests in this process."""
    from recs.cli.scheduling import Worker

    worker = Worker(instance, in_process=True)  # type: ignore[arg-type]
    while not stop.wait(3):
        try:
            worker.fire_requests()
        except Exception as exc:  # keep serving; the admin page shows failed jobs
            click.echo(f"demo worker: {exc}", err=True)


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Dashboard port (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-data"),
    show_default=True,
    help="The demo's own folder, rebuilt on each run (never a real instance's).",
)
def demo(port: int, no_browser: bool, data_dir: Path) -> None:
    """Try recs offline: an emulated Spotify household, synced, trained and published, then the dashboard."""
    from waitress.server import create_server

    from recs.core.logs import setup_logging
    from recs.usecases.demo import DemoError, build
    from web import create_app
    from web.serving import listen

    setup_logging("WARNING")
    # Take the port before the set-up, so a port in use costs one line, not a built demo and a traceback.
    try:
        sock = listen("127.0.0.1", port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; pick another --port (0 picks a free one)"
        ) from None
    port = sock.getsockname()[1]
    click.echo("Setting up the demo household (offline, on the built-in Spotify emulator)...")
    try:
        instance, emulator, report = build(data_dir, port, say=lambda line: click.echo(f"  - {line}"))
    except DemoError as exc:
        sock.close()
        raise click.ClickException(str(exc)) from None
    app = create_app(overrides={"RECS_INSTANCE": instance})
    server = create_server(app, sockets=[sock], threads=8, ident="recs-demo")
    stop = threading.Event()
    threading.Thread(target=_run_requests, args=(instance, stop), daemon=True, name="demo-worker").start()
    url = f"http://127.0.0.1:{port}"
    click.echo(f"Set up in {report.seconds:.1f} s. Data in {data_dir}/ (deleted and rebuilt on the next run).")
    click.echo("")
    click.echo(f"  Dashboard:  {url}")
    click.echo(f"  Sign in with Spotify, then pick any member on the emulator's page ({', '.join(report.members)}).")
    click.echo(f"  {report.members[0]} owns the instance and sees the admin page.")
    click.echo(f"  Emulated Spotify: {emulator.base_url} (control API under /_emulator/, see docs/emulator.md)")
    click.echo("")
    click.echo("Ctrl-C stops the demo.")
    if not no_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    try:
        server.run()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        stop.set()
        server.close()
        emulator.stop()
        instance.close()
        time.sleep(0.1)
