"""`recs serve`: the dashboard under waitress (a production WSGI server), registered as a recs.commands entry point."""

from __future__ import annotations

import click

from recs.cli import Context, pass_ctx


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: web.host).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: web.port).")
@click.option("--threads", default=8, show_default=True, help="Worker threads answering requests.")
@pass_ctx
def serve(obj: Context, host: str | None, port: int | None, threads: int) -> None:
    """Serve the dashboard with waitress (never Flask's development server)."""
    from waitress import serve as waitress_serve

    from web import create_app

    instance = obj.instance()
    app = create_app(overrides={"RECS_INSTANCE": instance})
    listen_host = host or instance.settings.web.host
    listen_port = instance.settings.web.port if port is None else port
    click.echo(
        f"recs dashboard on http://{listen_host}:{listen_port} (public URL {instance.settings.instance.public_url})"
    )
    waitress_serve(
        app,
        host=listen_host,
        port=listen_port,
        threads=threads,
        ident="recs",
        # Uploads up to the configured size must get through waitress too.
        max_request_body_size=instance.settings.web.max_upload_mb * 1024 * 1024 + 1024 * 1024,
        clear_untrusted_proxy_headers=True,
    )
