"""The map page and its server side: offline assets, the vendored MapLibre, CSP, and ``/search``.

The browser itself is exercised in ``test_map_browser.py``; these tests pin what can be checked
without one, on both backends.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from app.routers.map import STATIC_DIR
from geodata.store import models as m
from geodata.work.checks import classify_stored, run_checks
from geodata.store.meta import bump_data_version
from geodata.serve.search import search
from planning.rules import pack_for_province
from tests.app.live import make_app

VENDOR = STATIC_DIR / "vendor" / "maplibre-gl"
ASSET_RE = re.compile(r'(?:src|href)="([^"]+)"')
IMPORT_RE = re.compile(r'^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"', re.MULTILINE)


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db))


# ----------------------------------------------------------------------------------------------
# the page and its assets
# ----------------------------------------------------------------------------------------------

def test_map_page_uses_only_local_assets(client: TestClient) -> None:
    for path in ("/", "/map"):
        r = client.get(path, headers={"Accept": "text/html"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        html = r.text
        assert "maplibre-gl" in html.lower()
        refs = ASSET_RE.findall(html)
        assert refs, "the page references its assets"
        assert [u for u in refs if re.match(r"(?:https?:)?//", u)] == [], "no asset from another host"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "worker-src 'self' blob:" in csp


def test_every_referenced_asset_and_module_is_served(client: TestClient) -> None:
    """index.html → CSS/JS, and every ES-module import from there on, resolves on this server."""
    todo = [u for u in ASSET_RE.findall(client.get("/map").text) if u.startswith("/static/")]
    seen: set[str] = set()
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url)
        assert r.status_code == 200, url
        if url.endswith((".js", ".mjs")):
            assert r.headers["content-type"].startswith("text/javascript"), (url, r.headers["content-type"])
            if "/vendor/" not in url:
                base = url.rsplit("/", 1)[0]
                for spec in IMPORT_RE.findall(r.text):
                    parts = (base + "/" + spec).split("/")
                    norm: list[str] = []
                    for p in parts:
                        if p == "..":
                            norm.pop()
                        elif p != ".":
                            norm.append(p)
                    todo.append("/".join(norm))
    assert "/static/vendor/maplibre-gl/maplibre-gl.mjs" in seen
    assert "/static/js/main.js" in seen and "/static/js/style.js" in seen


def test_vendored_maplibre_is_intact_and_licensed(client: TestClient) -> None:
    version = (VENDOR / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    sums = dict(reversed(line.split("  ", 1)) for line in (VENDOR / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {"maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css", "LICENSE.txt"}
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "BSD" in (VENDOR / "LICENSE.txt").read_text() or "Redistribution" in (VENDOR / "LICENSE.txt").read_text()
    js = (VENDOR / "maplibre-gl.mjs").read_text(encoding="utf-8")
    assert f"`{version}`" in js[:5000], "the file is the version it claims"
    # the worker is found next to the module (same origin: no CDN, no blob needed)
    assert "maplibre-gl-worker.mjs" in js
    # our own code never evaluates strings (the CSP forbids it anyway)
    for f in (STATIC_DIR / "js").glob("*.js"):
        src = f.read_text(encoding="utf-8")
        assert "eval(" not in src and "new Function" not in src, f.name
        assert not re.search(r"\.(?:innerHTML|outerHTML|insertAdjacentHTML)\b|\.setHTML\(", src), \
            f"{f.name}: build DOM nodes, never parse strings"


def test_static_files_revalidate_and_refuse_traversal(client: TestClient) -> None:
    r = client.get("/static/js/main.js")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    etag = r.headers["etag"]
    assert client.get("/static/js/main.js", headers={"If-None-Match": etag}).status_code == 304
    vendor = client.get("/static/vendor/maplibre-gl/maplibre-gl.css")
    assert vendor.status_code == 200 and "max-age" in vendor.headers["cache-control"]
    assert client.head("/static/css/map.css").status_code == 200
    for bad in ("/static/nope.js", "/static/../routers/map.py", "/static/%2e%2e/routers/map.py"):
        r = client.get(bad)
        assert r.status_code == 404, bad
        assert r.headers["content-type"].startswith("application/problem+json")


def test_the_page_only_talks_to_documented_endpoints() -> None:
    """Every server path the JS asks for is part of the HTTP contract (docs/architecture.md, "Field names")
    or ours."""
    src = "\n".join(f.read_text(encoding="utf-8") for f in (STATIC_DIR / "js").glob("*.js"))
    paths = set(re.findall(r'["`](/(?:tiles|collections|stats|cables|checks|exports|search)[^"`$?]*)', src))
    allowed = re.compile(r"^/(map/sites/|map/labels|tiles/|collections/((sites|findings|admin-units)/items)?|stats/sites|cables/progress"
                         r"|checks/site|exports/|search)")
    assert paths and all(allowed.match(p) for p in paths), paths
    assert "https://tile.openstreetmap.org" in src, "the OSM base layer is the one remote URL"
    remote = set(re.findall(r'https?://[^\s"`\'<>]+', src)) - {"http://www.w3.org/2000/svg"}
    assert {u for u in remote if "openstreetmap.org" not in u} == set(), remote


# ----------------------------------------------------------------------------------------------
# accent-insensitive search
# ----------------------------------------------------------------------------------------------

def test_search_finds_le_chan_without_accents(client: TestClient) -> None:
    for q in ("le chan", "LE CHAN", "Lê Chân", "chan le"):
        r = client.get("/search", params={"q": q})
        assert r.status_code == 200
        results = r.json()["results"]
        labels = [h["label"] for h in results]
        assert labels[0] == "Quận Lê Chân", (q, labels)
        assert "Đường Lê Chân" in labels
        district = results[0]
        assert district["kind"] == "district" and len(district["bbox"]) == 4
        assert district["bbox"][0] < district["lon"] < district["bbox"][2]


def test_search_streets_zones_and_site_codes(client: TestClient, demo_db: Engine) -> None:
    hits = client.get("/search", params={"q": "dien bien phu"}).json()["results"]
    route = next(h for h in hits if h["kind"] == "route")
    assert route["label"] == "Đường Điện Biên Phủ" and route["policy"] == "a1_only"
    hits = client.get("/search", params={"q": "quan uy le chan"}).json()["results"]
    assert hits[0]["kind"] == "zone" and hits[0]["label"] == "Quận ủy Lê Chân"
    hits = client.get("/search", params={"q": "hp-vtl-000012", "limit": 5}).json()["results"]
    assert 0 < len(hits) <= 5 and all(h["kind"] == "site" and "HP-VTL-000012" in h["label"] for h in hits)
    assert hits[0]["bbox"] is None and 106 < hits[0]["lon"] < 107 and 20 < hits[0]["lat"] < 21.5
    assert client.get("/search", params={"q": "zzzz qqqq"}).json() == {"q": "zzzz qqqq", "count": 0, "results": []}
    # LIKE wildcards in the query are plain text, not patterns
    assert client.get("/search", params={"q": "%"}).json()["count"] == 0


def test_search_rejects_bad_queries(client: TestClient) -> None:
    for params in ({}, {"q": ""}, {"q": "x" * 101}, {"q": "le", "limit": 0}, {"q": "le", "limit": 51}):
        r = client.get("/search", params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"].startswith("application/problem+json")


def test_search_sees_new_data_after_a_write(demo_db: Engine) -> None:
    """The name index is cached per data version: a write that bumps it is visible at once."""
    assert [h for h in search(demo_db, "thu nghiem") if h.kind == "route"] == []
    with demo_db.begin() as conn:
        conn.execute(insert(m.Route), [{"name": "Đường Thử Nghiệm", "district_code": "305", "corridor_m": 30.0,
                                        "policy": "a1_only",
                                        "geom": "SRID=4326;LINESTRING(106.66 20.84, 106.67 20.845)"}])
        bump_data_version(conn)
    hits = [h for h in search(demo_db, "thu nghiem") if h.kind == "route"]
    assert [h.label for h in hits] == ["Đường Thử Nghiệm"]
    assert hits[0].bbox == (106.66, 20.84, 106.67, 20.845)


# ----------------------------------------------------------------------------------------------
# what the popups and labels read
# ----------------------------------------------------------------------------------------------

def test_admin_labels_name_each_unit_once(client: TestClient) -> None:
    r = client.get("/map/labels")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    districts = [f for f in fc["features"] if f["properties"]["level"] == "district"]
    communes = [f for f in fc["features"] if f["properties"]["level"] == "commune"]
    # the demo holds both vintages of the 2025 reform (issue 15): 7 + 1 made-up former Hải Dương
    # districts, 60 + 4 old communes and 31 new ones, each code named once
    assert len(districts) == 8 and len(communes) == 95
    assert len({f["properties"]["code"] for f in fc["features"]}) == len(fc["features"])
    assert "Quận Lê Chân" in {f["properties"]["name"] for f in districts}
    assert client.get("/map/labels", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_site_card_has_reasons_and_findings(client: TestClient, demo_db: Engine) -> None:
    with demo_db.connect() as conn:
        planted = conn.execute(select(m.Meta.value).where(m.Meta.key == "demo.planted_a2a_on_a1")).scalar()
    code = planted[0]
    # classify and run the flagship check as `btsplan classify` / `btsplan check` do, then read the card
    pack = pack_for_province("haiphong")
    classify_stored(demo_db, pack)
    run_checks(demo_db, pack, ["a1-routes"], metric_crs="EPSG:9210")
    r = client.get(f"/map/sites/{code}")
    assert r.status_code == 200
    card = r.json()
    site = card["site"]
    assert site["code"] == code and site["derived_class"] == "A2a"
    assert site["district"] and site["district"].startswith("Quận")
    assert isinstance(site["reasons"], list) and site["reasons"] and "rule" in site["reasons"][0]
    assert any(f["check"] == "a1-routes" and f["severity"] == "violation" for f in card["findings"])
    missing = client.get("/map/sites/HP-NOPE-1")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
