"""``btsplan serve``: the API and the map with uvicorn."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
    reload: bool = typer.Option(False, help="Reload on code changes (development)."),
    timeout_keep_alive: int = typer.Option(5, min=1, help="Seconds an idle keep-alive connection stays open."),
    limit_concurrency: int = typer.Option(
        1000, min=1, help="Connections and requests in progress per worker; beyond it new requests get 503."),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the interactive map at /.

    Limits against slow or greedy clients (see docs/deploy.md for what the reverse proxy adds): a
    request's headers must arrive within ``BTSPLAN_HEADER_TIMEOUT_S`` and fit in 32 KiB, idle
    connections close after ``--timeout-keep-alive``, no ``Server`` header, and keys in URLs are
    redacted from the access log."""
    import uvicorn

    from app.commands.db import engine_from_settings

    engine_from_settings().dispose()  # fail fast, one line, if the database is unusable
    from geodata.store.replicas import replica_url
    from geodata.settings import get_settings

    for url in get_settings().read_database_urls:  # …or a read replica URL is not PostgreSQL
        replica_url(url)
    from app.serving import HTTP_PROTOCOL, MAX_HEADER_BYTES, log_config

    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                http=HTTP_PROTOCOL, server_header=False, timeout_keep_alive=timeout_keep_alive,
                limit_concurrency=limit_concurrency, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                log_config=log_config())
