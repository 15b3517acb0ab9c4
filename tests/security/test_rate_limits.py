"""Rate limits that hold across workers (issue 18, point 6): the buckets live in the database, so two apps
over one database (two uvicorn workers) share them; anonymous writes are limited per client address,
expensive reads (plan reports, exports) per key or address; tiles and feature pages are never metered.
Both backends."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from starlette.requests import Request

from app.auth import client_address
from app.main import create_app
from geodata.settings import Settings
from geodata.store.db import make_engine
from geodata.store.models import RateLimit
from geodata.store.ratelimit import Limit, TokenBuckets
from tests.app.plan_helpers import collection, make_keys, new_site
from tests.conftest import db_url

#: Slow refills: a test never sees a token come back while it runs.
SLOW = 0.01
SITE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.6812, 20.8610]},
        "properties": {"code": "RL-1", "operator": "VTL", "mount": "building", "mast_height_m": 12.0,
                       "building_height_m": 24.0, "reach_m": 1.2, "camouflaged": False}}


def _worker(engine: Engine, client: tuple[str, int] = ("203.0.113.7", 40000), **settings: Any) -> TestClient:
    """One app over the test database: two of them stand for two uvicorn workers."""
    app = create_app(Settings(database_url=db_url(engine), **settings))
    return TestClient(app, client=client)


def _refused(r: Any) -> bool:
    """A 429 problem+json that says when to come back."""
    if r.status_code != 429:
        return False
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) >= 1 and r.json()["status"] == 429
    return True


def _rows(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(RateLimit)).scalar_one())


def test_two_workers_share_one_write_limit(demo_db: Engine) -> None:
    keys = make_keys(demo_db)
    limits = {"write_burst": 3, "write_rate_per_minute": SLOW}
    a, b = _worker(demo_db, **limits), _worker(demo_db, **limits)
    plan = collection(new_site())
    answers = [w.post("/plans", json=plan, headers=keys.h("vtl")) for w in (a, b, a, b)]
    assert [r.status_code for r in answers[:3]] == [201, 201, 201]
    assert _refused(answers[3])  # the 4th write, whichever worker gets it
    assert _refused(a.post("/plans", json=plan, headers=keys.h("vtl")))
    assert b.post("/plans", json=plan, headers=keys.h("mbf")).status_code == 201  # buckets are per key


def test_anonymous_writes_are_limited_per_address(demo_db: Engine) -> None:
    limits = {"anonymous_write_burst": 2, "anonymous_write_rate_per_minute": SLOW}
    one, same_address = _worker(demo_db, **limits), _worker(demo_db, **limits)
    assert [w.post("/checks/site", json=SITE).status_code for w in (one, same_address)] == [200, 200]
    assert _refused(one.post("/checks/site", json=SITE))
    assert _refused(same_address.post("/checks/site", json=SITE))
    other = _worker(demo_db, client=("198.51.100.9", 40000), **limits)
    assert other.post("/checks/site", json=SITE).status_code == 200
    # a key is metered as itself, not as the address it calls from
    keyed = make_keys(demo_db).h("planner")
    assert one.post("/checks/site", json=SITE, headers=keyed).status_code == 200


def test_an_ipv6_client_is_its_64(demo_db: Engine) -> None:
    limits = {"anonymous_write_burst": 1, "anonymous_write_rate_per_minute": SLOW}
    first = _worker(demo_db, client=("2001:db8:1:2::1", 40000), **limits)
    assert first.post("/checks/site", json=SITE).status_code == 200
    assert _refused(_worker(demo_db, client=("2001:db8:1:2:ffff::9", 40000), **limits)
                    .post("/checks/site", json=SITE))
    assert _worker(demo_db, client=("2001:db8:1:3::1", 40000), **limits).post("/checks/site", json=SITE).status_code == 200


@pytest.mark.parametrize(("host", "caller"), [("192.0.2.1", "192.0.2.1"), ("::ffff:192.0.2.1", "192.0.2.1"),
                                              ("2001:db8::7", "2001:db8::/64"), ("testclient", "testclient")])
def test_client_address(host: str, caller: str) -> None:
    assert client_address(Request({"type": "http", "client": (host, 1), "headers": []})) == caller


def test_expensive_reads_are_limited(demo_db: Engine) -> None:
    keys = make_keys(demo_db)
    limits = {"expensive_read_burst": 2, "expensive_read_rate_per_minute": SLOW}
    a, b = _worker(demo_db, **limits), _worker(demo_db, **limits)
    assert [w.get("/exports/sites.csv?district=305").status_code for w in (a, b)] == [200, 200]
    assert _refused(a.get("/exports/sites.geojson?district=305"))
    plan_id = a.post("/plans", json=collection(new_site()), headers=keys.h("vtl")).json()["id"]
    report = f"/plans/{plan_id}/report"
    assert [w.get(report, headers=keys.h("planner")).status_code for w in (a, b)] == [200, 200]
    assert _refused(b.get(report, headers=keys.h("planner")))
    assert a.get(report, headers=keys.h("vtl")).status_code == 200  # another key, another bucket
    assert b.get(report).status_code == 401  # authentication first: no key, no report


def test_cheap_reads_are_never_metered(demo_db: Engine) -> None:
    """Tiles, feature pages and stored findings stay unlimited, and reading them writes nothing."""
    tight = {"write_burst": 1, "anonymous_write_burst": 1, "expensive_read_burst": 1,
             "write_rate_per_minute": SLOW, "anonymous_write_rate_per_minute": SLOW,
             "expensive_read_rate_per_minute": SLOW}
    w = _worker(demo_db, **tight)
    planner = make_keys(demo_db).h("planner")
    urls = ["/tiles/sites/14/13048/7222.mvt", "/tiles/zones/12/3262/1805.mvt", "/tiles/sites/tilejson.json",
            "/collections/sites/items?limit=50", "/collections/sites/items?bbox=106.6,20.8,106.7,20.9",
            "/checks/a1-routes", "/stats/sites", "/health"]
    for _ in range(5):
        for url in urls:
            for headers in ({}, planner):
                r = w.get(url, headers=headers)
                assert r.status_code in (200, 204), (url, r.status_code, r.text[:200])
    assert _rows(demo_db) == 0


def test_bucket_refills_and_full_buckets_are_pruned(empty_db: Engine) -> None:
    now = [1_000.0]
    lim = Limit(per_minute=60, burst=2)
    buckets = TokenBuckets(empty_db, [lim, Limit(per_minute=60, burst=5)], clock=lambda: now[0])
    assert [buckets.take("a", lim) for _ in range(2)] == [0, 0]
    assert buckets.take("a", lim) == pytest.approx(1.0)
    now[0] += 0.25
    assert buckets.take("a", lim) == pytest.approx(0.75)
    now[0] += 0.75
    assert buckets.take("a", lim) == 0
    now[0] += 2.0
    assert buckets.take("b", lim) == 0
    # "a" was last counted 2 s ago: full under the 2-token limit, not yet under the 5-token one
    assert buckets.prune() == 0
    now[0] += 3.5
    assert buckets.prune() == 1 and _rows(empty_db) == 1
    assert [buckets.take("a", lim) for _ in range(3)][:2] == [0, 0]  # a pruned bucket is a full one


def test_concurrent_takes_from_two_engines_grant_exactly_the_burst(empty_db: Engine) -> None:
    """The upsert is atomic: 16 threads over two connection pools (two workers) race for 20 tokens."""
    lim = Limit(per_minute=SLOW, burst=20)
    engines = [empty_db, make_engine(db_url(empty_db))]
    granted: list[int] = []
    lock = threading.Lock()

    def run(engine: Engine) -> None:
        buckets = TokenBuckets(engine, [lim], lock_wait_ms=30_000)  # atomicity, not the busy fallback
        got = sum(buckets.take("race", lim) == 0 for _ in range(5))
        with lock:
            granted.append(got)

    threads = [threading.Thread(target=run, args=(engines[i % 2],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engines[1].dispose()
    assert sum(granted) == 20


def test_a_busy_sqlite_writer_lets_the_request_through(empty_db: Engine) -> None:
    """A long import holds SQLite's only write lock: a token is not worth queueing a read behind it."""
    if empty_db.dialect.name != "sqlite":
        return
    lim = Limit(per_minute=SLOW, burst=1)
    buckets = TokenBuckets(empty_db, [lim], lock_wait_ms=50)
    assert buckets.take("k", lim) == 0 and buckets.take("k", lim) > 0
    with empty_db.connect().execution_options(isolation_level="AUTOCOMMIT") as importer:
        importer.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            assert buckets.take("k", lim) == 0
        finally:
            importer.exec_driver_sql("ROLLBACK")
    assert buckets.take("k", lim) > 0
    with empty_db.connect() as c:  # the connection's own wait is back to the engine's
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_the_postgis_table_skips_the_wal(empty_db: Engine) -> None:
    if empty_db.dialect.name != "postgresql":
        return
    with empty_db.connect() as c:
        persistence = c.exec_driver_sql("SELECT relpersistence FROM pg_class WHERE relname = 'rate_limits'").scalar()
    assert persistence == "u"


def test_nginx_does_not_let_a_client_choose_its_address() -> None:
    """uvicorn trusts ``X-Forwarded-For`` from nginx and takes its first address: were nginx to append to
    the client's header, an anonymous caller would pick a new address, hence a full bucket, per request."""
    conf = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text()
    forwarded = re.findall(r"^\s*proxy_set_header\s+X-Forwarded-For\s+(\S+);", conf, re.MULTILINE | re.IGNORECASE)
    assert forwarded and set(forwarded) == {"$remote_addr"}
