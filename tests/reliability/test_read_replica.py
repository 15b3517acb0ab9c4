"""Read replicas against a real streaming standby: a throwaway primary and a ``pg_basebackup -R`` copy of
it on another port. Writes go through the API to the primary; tiles, features and stats are read back
from the standby once replication catches up; while the standby lags (replay paused) the reads show its
older data under its older data version (never an old tile under the new version); with the standby
stopped reads fall back to the primary and still answer 200, and go back to the standby once it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import mapbox_vector_tile
import morecantile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from geodata.store import migrate
from geodata.store.meta import data_version
from geodata.store.db import DatabaseConfigError, make_engine
from geodata.demo import load_demo
from geodata.store.replicas import READ_APPLICATION_NAME
from geodata.settings import Settings
from tests.app.plan_helpers import collection, make_keys, new_site
from tests.reliability.pgcluster import ThrowawayCluster

T = TypeVar("T")
LAG_WAIT_S = 20.0
NEW_SITE = (106.7010, 20.8400)
TILE = morecantile.tms.get("WebMercatorQuad").tile(*NEW_SITE, 12)
TILE_URL = f"/tiles/sites/{TILE.z}/{TILE.x}/{TILE.y}.mvt"


class Pair:
    def __init__(self, primary: ThrowawayCluster, standby: ThrowawayCluster) -> None:
        self.primary, self.standby = primary, standby
        self.primary_engine = make_engine(primary.url)
        self.standby_engine = make_engine(standby.url)

    def app(self, **settings: Any) -> TestClient:
        return TestClient(create_app(Settings(database_url=self.primary.url, read_database_urls=[self.standby.url],
                                              **settings)))

    def read_connections(self, engine: Engine) -> int:
        """Connections of the read engines (``application_name=btsplan-read``) open on a server."""
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                                 {"a": READ_APPLICATION_NAME}).scalar_one())


def scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as c:
        return c.execute(text(sql)).scalar()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = LAG_WAIT_S) -> T:
    """Poll ``probe`` until it returns something truthy (bounded: replication lag, restarts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = probe()
        except Exception:  # noqa: BLE001 — a standby still starting refuses connections
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    primary = ThrowawayCluster()
    url = primary.create(replication=True)
    standby = ThrowawayCluster()
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        load_demo(engine, seed=1, n_sites=200)
        engine.dispose()
        standby.create_standby(primary)
        p = Pair(primary, standby)
        sites = wait_for("the standby to hold the demo", lambda: scalar(p.standby_engine, "SELECT count(*) FROM sites"))
        assert sites == 200
        yield p
        p.primary_engine.dispose()
        p.standby_engine.dispose()
    finally:
        standby.drop()
        primary.drop()


def _tile_count(client: TestClient) -> tuple[int, int]:
    """(sites in the tile of the new site, data version the tile was built for)."""
    r = client.get(TILE_URL)
    assert r.status_code in (200, 204), r.text
    version = int(r.headers["x-data-version"])
    if r.status_code == 204:
        return 0, version
    layers = mapbox_vector_tile.decode(r.content)
    return sum(f["properties"]["count"] for f in layers["sites"]["features"]), version


def _stats_total(client: TestClient) -> int:
    r = client.get("/stats/sites")
    assert r.status_code == 200, r.text
    return int(r.json()["totals"]["total"])


def _approve_new_site(client: TestClient, engine: Engine, code: str) -> None:
    k = make_keys(engine)
    r = client.post("/plans", json=collection(new_site(*NEW_SITE, code=code, target_date="2027-06-30")),
                    headers=k.h("vtl"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert client.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    assert client.post(f"/plans/{pid}/review", headers=k.h("planner")).status_code == 200
    r = client.post(f"/plans/{pid}/decision", json={"decision": "approve"}, headers=k.h("planner"))
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text


def test_reads_come_from_the_standby_and_follow_writes(pair: Pair) -> None:
    with pair.app() as client:
        # warm up: cells of the current version are built on the primary and replicate to the standby
        before_tile, v0 = _tile_count(client)
        before_total = _stats_total(client)
        wait_for("the tile cells on the standby", lambda: int(scalar(
            pair.standby_engine, "SELECT value FROM meta WHERE key = 'tiles.cells_version'")) == v0)
        assert client.get("/collections/sites/items/RR-NEW-1").status_code == 404

        # the standby falls behind: replay paused, then a plan approved through the API adds a site
        with pair.standby_engine.connect() as c:
            c.execute(text("SELECT pg_wal_replay_pause()"))
        wait_for("replay to pause",
                 lambda: scalar(pair.standby_engine, "SELECT pg_get_wal_replay_pause_state()") == "paused")
        _approve_new_site(client, pair.primary_engine, "RR-NEW-1")
        v1 = data_version(pair.primary_engine)
        assert v1 > v0

        # reads still come from the lagging standby: old data, under the old version, not 503s
        assert client.get("/collections/sites/items/RR-NEW-1").status_code == 404
        assert _stats_total(client) == before_total
        assert _tile_count(client) == (before_tile, v0)
        tj = client.get("/tiles/sites/tilejson.json").json()
        assert tj["tiles"][0].endswith(f"?v={v0}")
        health = client.get("/health").json()
        [rep] = health["replicas"]
        assert rep["reachable"] and rep["in_recovery"] and rep["in_use"] and rep["lag_s"] is not None
        assert pair.read_connections(pair.standby_engine) > 0
        assert pair.read_connections(pair.primary_engine) == 0

        # replay resumes: within the bounded wait every replica-routed read shows the write
        with pair.standby_engine.connect() as c:
            c.execute(text("SELECT pg_wal_replay_resume()"))
        item = wait_for("the new site on the standby",
                        lambda: (r := client.get("/collections/sites/items/RR-NEW-1")).status_code == 200 and r)
        assert item.json()["properties"]["status"] == "planned"
        assert wait_for("stats to count it", lambda: _stats_total(client) == before_total + 1)
        # the standby has the new data but its site cells are still those of v0 (they are rebuilt on the
        # primary on the first tile request, and replay is paused again so they cannot arrive): the tile
        # under v1 must not be rendered from those old cells
        with pair.standby_engine.connect() as c:
            c.execute(text("SELECT pg_wal_replay_pause()"))
        wait_for("replay to pause",
                 lambda: scalar(pair.standby_engine, "SELECT pg_get_wal_replay_pause_state()") == "paused")
        assert int(scalar(pair.standby_engine, "SELECT value FROM meta WHERE key = 'tiles.cells_version'")) == v0
        assert _tile_count(client) == (before_tile + 1, v1)
        with pair.standby_engine.connect() as c:
            c.execute(text("SELECT pg_wal_replay_resume()"))
        assert client.get("/tiles/sites/tilejson.json").json()["tiles"][0].endswith(f"?v={v1}")
        assert client.get("/search", params={"q": "RR-NEW"}).json()["count"] >= 1
        assert client.get("/map/sites/RR-NEW-1").status_code == 200
        assert pair.read_connections(pair.primary_engine) == 0


def test_standby_down_reads_fall_back_to_the_primary(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    with pair.app() as client, caplog.at_level(logging.WARNING, logger="btsplan.replicas"):
        client.app.state.reads.retry_after_s = 0.5  # type: ignore[attr-defined]
        assert client.get("/collections/sites/items?limit=1").status_code == 200
        assert pair.read_connections(pair.standby_engine) > 0
        pair.standby.stop()
        try:
            n = data_version(pair.primary_engine)
            _approve_new_site(client, pair.primary_engine, "RR-NEW-2")  # writes never needed the standby
            for path in ("/collections/sites/items/RR-NEW-2", "/collections/sites/items?limit=5", "/stats/sites",
                         "/collections/sites", "/tiles/sites/tilejson.json", "/map/labels"):
                r = client.get(path)
                assert r.status_code == 200, (path, r.text)
            assert _tile_count(client)[1] == data_version(pair.primary_engine) > n
            health = client.get("/health")
            assert health.status_code == 200
            [rep] = health.json()["replicas"]
            assert rep["reachable"] is False and rep["in_use"] is False and rep["error"]
            assert "unreachable" in caplog.text
        finally:
            pair.standby.start()
        # once the standby is back (and has caught up) reads return to it, no restart needed
        wait_for("reads to return to the standby", lambda: client.get(
            "/collections/sites/items/RR-NEW-2").status_code == 200 and pair.read_connections(pair.standby_engine))
        assert "back in use" in caplog.text


def test_sqlite_replica_url_is_refused_at_startup() -> None:
    pg = "postgresql+psycopg://u:p@127.0.0.1:1/db"
    with pytest.raises(DatabaseConfigError, match="read replicas must be PostgreSQL"):
        create_app(Settings(database_url=pg, read_database_urls=["sqlite:///tmp/replica.sqlite"]))
    with pytest.raises(DatabaseConfigError, match="BTSPLAN_DATABASE_URL is SQLite"):
        create_app(Settings(database_url="sqlite:///tmp/primary.sqlite", read_database_urls=[pg]))
    assert Settings(read_database_urls="postgresql://a/b, postgresql://c/d").read_database_urls == [
        "postgresql://a/b", "postgresql://c/d"]
