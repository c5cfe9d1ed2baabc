"""``contimg serve``: the REST API, ``/metrics`` and the dashboard, with uvicorn.

Binds to loopback by default. Binding elsewhere with no API key configured
logs a warning: the read endpoints and the dashboard are then open to the
network (write endpoints stay disabled without a key).
"""

from __future__ import annotations

from typing import Annotated

import typer

from contimg.cli._common import ConfigOpt, SetOpt, WorkdirOpt, cli_context

__all__ = ["serve"]


def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind (default api.host, 127.0.0.1).", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default api.port, 8000).", show_default=False),
    ] = None,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Serve the REST API (/api/v1), Prometheus /metrics and the web dashboard."""
    import uvicorn

    from contimg.api import create_app
    from contimg.api.security import is_loopback
    from contimg.observability import get_logger

    with cli_context(workdir, config, sets) as ctx:
        settings = ctx.settings
        bind_host = host or settings.api.host
        bind_port = port or settings.api.port
        log = get_logger("contimg.serve")
        if not is_loopback(bind_host) and not settings.api.api_key_sha256:
            log.warning(
                "serve.open_bind",
                host=bind_host,
                message="binding to a non-loopback address with no API key: the "
                "dashboard and read API are reachable from the network; write "
                "endpoints stay disabled until api.api_key_sha256 is set",
            )
        app = create_app(settings, config_file=config)
        log.info(
            "serve.started", url=f"http://{bind_host}:{bind_port}/", database=settings.database_url
        )
        uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning")
