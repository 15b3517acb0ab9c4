"""``/health`` names the backend and fails clearly when the database is unusable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from geodata.settings import Settings
from tests.conftest import db_url


@pytest.fixture
def client(demo_db: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url(demo_db)))) as c:
        yield c


def test_health_names_backend(client: TestClient, backend: str) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["backend"] == backend
    assert r.json()["sites"] == 1000
    assert client.get("/openapi.json").status_code == 200
    r = client.get("/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_security_headers_and_cors_off_by_default(demo_db: Engine) -> None:
    app = create_app(Settings(database_url=db_url(demo_db)))
    with TestClient(app) as client:
        r = client.get("/health", headers={"Origin": "https://evil.example"})
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "access-control-allow-origin" not in r.headers
    app = create_app(Settings(database_url=db_url(demo_db), cors_origins=["https://gis.haiphong.gov.vn"]))
    with TestClient(app) as client:
        ok = client.get("/health", headers={"Origin": "https://gis.haiphong.gov.vn"})
        assert ok.headers["access-control-allow-origin"] == "https://gis.haiphong.gov.vn"
        bad = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in bad.headers


def test_405_lists_every_method_of_the_resource(client: TestClient) -> None:
    r = client.delete("/health")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == "GET, HEAD"


def test_nameless_query_parameter_is_400(client: TestClient) -> None:
    r = client.get("/collections/sites/items?=false")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/collections/sites/items?operator=VTL&limit=1").status_code == 200
