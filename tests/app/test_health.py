"""``/health`` names the backend and fails clearly when the database is unusable."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from geodata.settings import Settings
from tests.conftest import db_url


def test_health_names_backend(demo_db: Engine, backend: str) -> None:
    app = create_app(Settings(database_url=db_url(demo_db)))
    with TestClient(app) as client:
        r = client.get("/health")
        assert r.status_code == 200
        assert r.json()["backend"] == backend
        assert r.json()["sites"] == 1000
        assert client.get("/openapi.json").status_code == 200
        r = client.get("/no-such-thing")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
