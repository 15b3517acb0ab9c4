"""``btsplan serve``: the API and the map with uvicorn."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
    reload: bool = typer.Option(False, help="Reload on code changes (development)."),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the interactive map at /."""
    import uvicorn

    from app.commands.db import engine_from_settings

    engine_from_settings().dispose()  # fail fast, one line, if the database is unusable
    from geodata.store.replicas import replica_url
    from geodata.settings import get_settings

    for url in get_settings().read_database_urls:  # …or a read replica URL is not PostgreSQL
        replica_url(url)
    from app.serving import HTTP_PROTOCOL

    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                http=HTTP_PROTOCOL)
