"""SQL injection through every place a user string reaches a query: property filters, paging and
format parameters, path segments, search and export filters. Hostile strings must never cause a
5xx, never match rows they do not literally equal, and never change stored data (both backends)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.store.keys import create_key
from app.main import create_app
from geodata.store.checksum import table_checksums
from geodata.store.db import session_factory
from geodata.settings import Settings
from tests.conftest import db_url

HOSTILE = [
    "' OR '1'='1",
    "VTL' OR 1=1 --",
    "x'); DROP TABLE sites; --",
    "1; DELETE FROM sites",
    "\" OR \"\"=\"",
    "%' UNION SELECT key_hash FROM api_keys --",
    "303) OR (1=1",
    "'||(SELECT sqlite_version())||'",
    "$$; SELECT pg_sleep(5); $$",
    "\\x00\u0000",
    "Lê Chân'; --",
]

GET_TEMPLATES = [
    "/collections/sites/items?operator={v}",
    "/collections/sites/items?district_code={v}&derived_class={v}",
    "/collections/sites/items?limit={v}",
    "/collections/sites/items?bbox={v}",
    "/collections/sites/items?datetime={v}",
    "/collections/sites/items/{v}",
    "/collections/{v}/items",
    "/collections/routes/items?name={v}",
    "/checks/a1-routes?bbox={v}",
    "/checks/a1-routes?operator={v}&district={v}",
    "/stats/sites?by={v}",
    "/stats/sites?as_of={v}",
    "/exports/sites.csv?operator={v}",
    "/exports/sites.geojson?district={v}&type={v}",
    "/cables/progress?by={v}",
    "/cables/progress?plan={v}",
    "/cables/segments/{v}",
    "/complaints?status={v}",
    "/search?q={v}",
    "/plans?status={v}",
    "/plans?operator={v}",
    "/audit?entity={v}&id={v}",
    "/tiles/{v}/12/3261/1805.mvt",
    "/monitoring/implementation?operator={v}&district={v}",
]


@pytest.fixture
def client_and_admin(demo_db: Engine):  # type: ignore[no-untyped-def]
    with session_factory(demo_db)() as s, s.begin():
        key = create_key(s, "admin", name="injection-test").secret
    # generous limits: every hostile string must reach the query, not stop at a 429
    app = create_app(Settings(database_url=db_url(demo_db), write_rate_per_minute=100_000,
                              expensive_read_rate_per_minute=100_000))
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {key}"}


def test_hostile_strings_change_nothing(client_and_admin, demo_db: Engine) -> None:  # type: ignore[no-untyped-def]
    client, auth = client_and_admin
    before = table_checksums(demo_db, exclude_columns=("last_used_at",))
    total = client.get("/collections/sites/items?limit=1").json()
    n_all = total.get("numberMatched")
    for template in GET_TEMPLATES:
        for value in HOSTILE:
            url = template.format(v=quote(value, safe=""))
            r = client.get(url, headers=auth)
            assert r.status_code < 500, (url, r.status_code, r.text[:300])
            if r.status_code == 200 and url.startswith("/collections/sites/items?operator"):
                body = r.json()
                assert body["numberReturned"] == 0, f"{value!r} matched rows"
                assert body.get("numberMatched", 0) != n_all
    after = table_checksums(demo_db, exclude_columns=("last_used_at",))
    # bookkeeping, not data: the audit trail, the data version, the rate limiter's counters
    changed = {t for t in before if before[t] != after[t] and t not in ("audit_log", "meta", "rate_limits")}
    assert not changed, changed


def test_hostile_bodies_are_rejected_cleanly(client_and_admin, demo_db: Engine) -> None:  # type: ignore[no-untyped-def]
    client, auth = client_and_admin
    before = table_checksums(demo_db, tables=["sites", "routes", "zones", "cable_segments", "api_keys"],
                             exclude_columns=("last_used_at",))
    for value in HOSTILE:
        feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.682, 20.856]},
                "properties": {"code": value, "operator": value, "mount": value, "mast_height_m": 30}}
        r = client.post("/checks/site", json=feat, headers=auth)
        assert r.status_code < 500, r.text[:300]
        r = client.patch(f"/cables/segments/{quote(value, safe='')}", json={"status": value}, headers=auth)
        assert r.status_code < 500, r.text[:300]
    after = table_checksums(demo_db, tables=["sites", "routes", "zones", "cable_segments", "api_keys"],
                            exclude_columns=("last_used_at",))
    assert after == before
