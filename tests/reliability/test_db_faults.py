"""PostgreSQL restarts while the server runs: requests get 503 problem+json quickly (no hang, no
traceback) and the server recovers on its own; expensive statements hit the statement timeout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from geodata.store import migrate
from geodata.store.db import make_engine
from geodata.demo import load_demo
from tests.reliability.pgcluster import ThrowawayCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[ThrowawayCluster, str]]:
    c = ThrowawayCluster()
    url = c.create()
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_demo(engine, seed=1, n_sites=200)
    engine.dispose()
    yield c, url
    c.drop()


def _port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = int(s.getsockname()[1])
    s.close()
    return p


def test_outage_gives_503_then_recovers(cluster: tuple[ThrowawayCluster, str]) -> None:
    c, url = cluster
    port = _port()
    env = {**os.environ, "BTSPLAN_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(f"{base}/health", timeout=5).json()["backend"] == "postgis"
        c.stop()
        t0 = time.monotonic()
        r = httpx.get(f"{base}/health", timeout=15)
        assert time.monotonic() - t0 < 10
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in r.text
        c.start()
        ok = False
        for _ in range(50):
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                ok = True
                break
            time.sleep(0.2)
        assert ok, "server did not recover after PostgreSQL came back"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out


def test_statement_timeout(cluster: tuple[ThrowawayCluster, str]) -> None:
    _, url = cluster
    engine = make_engine(url, statement_timeout_ms=200)
    with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(2)"))
    engine.dispose()
