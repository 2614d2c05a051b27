"""`recs serve`: the dashboard under waitress (a production WSGI server), registered as a recs.commands entry point."""

from __future__ import annotations

import os

import click

from recs.cli.context import Context, pass_ctx


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: web.host).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: web.port).")
@click.option("--threads", default=8, show_default=True, help="Worker threads answering requests, per process.")
@click.option(
    "--processes",
    default=None,
    type=click.IntRange(min=1),
    help="Server processes sharing the port (default: the number of cores, at most 4; 1 serves in this process).",
)
@pass_ctx
def serve(obj: Context, host: str | None, port: int | None, threads: int, processes: int | None) -> None:
    """Serve the dashboard with waitress (never Flask's development server)."""
    from flask import Flask

    from recs.usecases.instance import open_instance
    from web import create_app
    from web.serving import default_processes, listen
    from web.serving import serve as serve_on

    # Opened here to fail early (secrets, migrations); each worker opens its own after the fork.
    instance = obj.instance(spotify=True)
    settings = instance.settings
    count = processes or default_processes()
    listen_host = host or settings.web.host
    listen_port = settings.web.port if port is None else port
    try:
        sock = listen(listen_host, listen_port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {listen_host}:{listen_port}: {exc}") from None
    bound_port = sock.getsockname()[1]
    plural = "es" if count > 1 else ""
    click.echo(
        f"recs dashboard on http://{listen_host}:{bound_port} (public URL {settings.instance.public_url}), "
        f"{count} process{plural} × {threads} threads"
    )

    def make_app() -> Flask:
        # After a fork, an instance (and connections) of the worker's own, never the parent's.
        own = instance if count == 1 else open_instance(settings, os.environ)
        return create_app(overrides={"RECS_INSTANCE": own})

    if count > 1:
        instance.close()  # nothing of the parent's pool crosses the fork
    code = serve_on(
        make_app,
        sock,
        processes=count,
        threads=threads,
        ident="recs",
        # Uploads up to the configured size must get through waitress too.
        max_request_body_size=settings.web.max_upload_mb * 1024 * 1024 + 1024 * 1024,
        clear_untrusted_proxy_headers=True,
    )
    if code:
        raise SystemExit(code)
