"""Both API descriptions pass openapi-spec-validator, as the clients that read them expect.

GDAL, QGIS and OWSLib follow the landing page's ``service-desc`` to ``/api`` (OpenAPI 3.0); code
generators and Swagger UI read ``/openapi.json`` (3.1). The documents are read from the live app, so a
route added later is validated too. The documentation pages are checked here for what does not need
a browser (no remote URL, a strict CSP, assets that answer); ``test_docs_browser.py`` renders them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator.validation.validators import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from app.main import create_app
from app.routers.map import STATIC_DIR
from geodata.settings import Settings
from tests.conftest import DatabaseFactory


@pytest.fixture(scope="module")
def c(db_factory: DatabaseFactory) -> Iterator[TestClient]:
    url = db_factory.clone("spatialite", "empty")
    with TestClient(create_app(Settings(database_url=url))) as client:  # type: ignore[arg-type]
        yield client


def _errors(validator: type, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator(doc).iter_errors()]


def test_openapi_31_document_validates(c: TestClient) -> None:
    doc = c.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert _errors(OpenAPIV31SpecValidator, doc) == []
    # inline schemas (FeatureCollectionDoc of /items) had their $defs moved into components
    text = json.dumps(doc)
    assert "#/$defs/" not in text and '"$defs"' not in text
    assert "Link" in doc["components"]["schemas"]


def test_api_30_document_validates(c: TestClient) -> None:
    r = c.get("/api")
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    doc = r.json()
    assert doc["openapi"] == "3.0.3"
    assert _errors(OpenAPIV30SpecValidator, doc) == []
    text = json.dumps(doc)
    for only_31 in ('"type": "null"', '"const"', '"examples": [', '"prefixItems"', '"$defs"'):
        assert only_31 not in text, only_31


def test_api_30_keeps_what_ogc_clients_read(c: TestClient) -> None:
    """Nullability, the items ``limit`` maximum (GDAL pages with it) and the same operations survive."""
    doc30, doc31 = c.get("/api").json(), c.get("/openapi.json").json()
    assert doc30["paths"].keys() == doc31["paths"].keys()
    params = {p["name"]: p for p in doc30["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] >= params["limit"]["schema"]["default"]
    assert params["bbox"]["schema"].get("nullable") is True
    link = doc30["components"]["schemas"]["Link"]["properties"]["type"]
    assert link == {"type": "string", "nullable": True, "title": "Type"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_load_only_our_assets(c: TestClient, page: str) -> None:
    r = c.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.findall(r"https?://", r.text), "no CDN: the page must work offline"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        got = c.get(asset)
        assert got.status_code == 200, asset
        assert got.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript", "text/css")
    assert 'data-openapi="/openapi.json"' in r.text


@pytest.mark.parametrize(("package", "licence"), [("swagger-ui", "Apache License"), ("redoc", "MIT License")])
def test_vendored_doc_assets_are_intact_and_licensed(package: str, licence: str) -> None:
    vendor = STATIC_DIR / "vendor" / package
    assert re.fullmatch(r"\d+\.\d+\.\d+", (vendor / "VERSION").read_text().strip())
    sums = dict(reversed(line.split("  ", 1)) for line in (vendor / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert licence in (vendor / "LICENSE.txt").read_text()
    # no asset is fetched from a CDN at run time (ReDoc's logo URL is emptied by the vendoring script)
    assert "cdn.redoc.ly" not in "".join((vendor / n).read_text(encoding="utf-8") for n in sums)
