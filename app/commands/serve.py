"""``btsplan serve``: the API and the map with uvicorn."""

from __future__ import annotations

import os

import typer


#: seconds a worker process may take to answer the supervisor's first ping. A spawned worker imports the
#: whole CLI (pandas, GEOS, PROJ) before it can answer; uvicorn's 5 s default killed and respawned
#: workers in a loop on a busy 2-core machine, so several workers never served at all
WORKER_HEALTHCHECK_S = 60


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or ``taskset`` sets it),
    not the machine's count: one uvicorn worker per core keeps every core busy under load — a
    single worker's thread pool shares one interpreter lock."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(None, min=1, show_default="the cores available",
                                help="uvicorn worker processes (default: one per core available)"),
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
    from geodata.settings import get_settings

    # every worker builds its planning context at start-up, not on its first site check (set before
    # the settings are read again: a single worker runs in this process)
    os.environ.setdefault("BTSPLAN_WARM_CHECK_CONTEXT", "1")
    get_settings.cache_clear()

    engine_from_settings().dispose()  # fail fast, one line, if the database is unusable
    from geodata.store.replicas import replica_url

    for url in get_settings().read_database_urls:  # …or a read replica URL is not PostgreSQL
        replica_url(url)
    from app.serving import HTTP_PROTOCOL, MAX_HEADER_BYTES, log_config

    if workers is None:
        workers = 1 if reload else available_cores()  # --reload runs one process whatever is asked
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
                http=HTTP_PROTOCOL, server_header=False, timeout_keep_alive=timeout_keep_alive,
                limit_concurrency=limit_concurrency, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                log_config=log_config(), timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)
