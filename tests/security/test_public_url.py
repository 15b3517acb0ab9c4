"""Links are built from ``BTSPLAN_PUBLIC_URL`` or a trusted host, never from whatever ``Host`` a client
sends: a poisoned ``Host`` must not reach next-page links, collection links or TileJSON tile URLs, which
caches keep and other clients follow."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from geodata.settings import Settings
from tests.conftest import db_url

#: the documents that carry absolute links: landing page, collections, a page of items with a next
#: link, TileJSON, the tile-layer list and a page of stored findings
LINKED = ("/?f=json", "/collections", "/collections/sites", "/collections/sites/items?limit=2",
          "/tiles/sites/tilejson.json", "/tiles", "/checks/a1-routes?limit=1")


def _client(engine: Engine, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(database_url=db_url(engine), **settings)))


@pytest.fixture
def default_client(demo_db: Engine) -> Iterator[TestClient]:
    with _client(demo_db) as c:
        yield c


def _links(client: TestClient, host: str) -> str:
    texts = []
    for path in LINKED:
        r = client.get(path, headers={"Host": host, "Accept": "application/json"})
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        texts.append(json.dumps(r.json()))
    return "\n".join(texts)


def test_an_unlisted_host_never_reaches_links(default_client: TestClient) -> None:
    text = _links(default_client, "evil.example")
    assert "evil.example" not in text
    assert "http://testserver/collections" in text  # the address the server itself answers on


def test_a_loopback_host_is_echoed_for_local_use(default_client: TestClient) -> None:
    text = _links(default_client, "127.0.0.1:8000")
    assert "http://127.0.0.1:8000/collections/sites/items?" in text


def test_public_url_builds_every_link(demo_db: Engine) -> None:
    with _client(demo_db, public_url="https://gis.haiphong.gov.vn/btsplan/") as c:
        for host in ("evil.example", "127.0.0.1:8000"):
            text = _links(c, host)
            assert host not in text
            assert "https://gis.haiphong.gov.vn/btsplan/collections/sites/items?" in text
            assert "https://gis.haiphong.gov.vn/btsplan/tiles/sites/" in text


def test_allowed_hosts_are_configurable(demo_db: Engine) -> None:
    with _client(demo_db, allowed_hosts=["gis.internal"]) as c:
        assert "http://gis.internal/collections" in _links(c, "gis.internal")
        assert "127.0.0.1:8000" not in _links(c, "127.0.0.1:8000")
