"""Test helpers for the HTTP layer: an in-process client and a real uvicorn on loopback.

Real clients (GDAL's OAPIF driver, curl) need a real socket, so :func:`live_server` starts
``uvicorn`` in a subprocess on a free loopback port against the test database and waits for
``/health``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from app.main import create_app
from benchmarks.common import stop as stop_process
from geodata.settings import Settings
from tests.conftest import db_url

ROOT = Path(__file__).resolve().parents[2]


def make_app(engine: Engine, **settings: object) -> FastAPI:
    return create_app(Settings(database_url=db_url(engine), **settings))  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(base: str, proc: subprocess.Popen[bytes], output: Callable[[], str], seconds: float = 30) -> None:
    """Return once ``base`` answers ``/health``; raise with the server's ``output`` if it dies or is late."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {output()[-2000:]}")
        time.sleep(0.2)


def start_uvicorn(port: int, env: Mapping[str, str], workers: int = 1) -> subprocess.Popen[bytes]:
    """uvicorn serving the app on ``127.0.0.1:port`` with ``env`` added to this environment; returns
    once ``/health`` answers (a test that stops and restarts the server keeps its port, so its origin)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc,
                        lambda: proc.stdout.read().decode(errors="replace") if proc.stdout else "")
    except BaseException:
        stop(proc)
        raise
    return proc


@contextmanager
def live_server(engine: Engine, workers: int = 1, **env: str) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a uvicorn serving the app on ``engine``'s database."""
    port = free_port()
    proc = start_uvicorn(port, {"BTSPLAN_DATABASE_URL": db_url(engine), **env}, workers)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server, killing it if it has not ended after 10 s."""
    stop_process(proc, timeout=10)
