"""``POST /checks/site`` and the stored-findings endpoints, on both backends."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text, update

from geodata.store import models as m
from geodata.store.db import transaction
from geodata.store.keys import create_key
from geodata.store.meta import bump_data_version
from planning.findings import FINDING_CSV_FIELDS
from tests.app.live import make_app


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db))


def _planted(engine: Engine) -> list[str]:
    with engine.connect() as c:
        v = c.execute(text("SELECT value FROM meta WHERE key = 'demo.planted_a2a_on_a1'")).scalar()
    return v if isinstance(v, list) else json.loads(v)


def _feature(engine: Engine, code: str, new_code: str = "NEW-1") -> dict[str, Any]:
    """A proposed site with the physical attributes and position of a stored one."""
    s = m.Site
    with engine.connect() as c:
        r = c.execute(select(func.ST_X(s.geom), func.ST_Y(s.geom), s.operator, s.mount, s.mast_height_m,
                             s.building_height_m, s.reach_m, s.camouflaged, s.declared_class)
                      .where(s.code == code)).one()
    props = {"code": new_code, "operator": r[2], "mount": r[3], "mast_height_m": r[4], "reach_m": r[6],
             "camouflaged": bool(r[7]), "declared_class": r[8]}
    if r[5] is not None:
        props["building_height_m"] = r[5]
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r[0], r[1]]}, "properties": props}


def _key(engine: Engine, role: str) -> dict[str, str]:
    with transaction(engine) as s:
        return {"Authorization": f"Bearer {create_key(s, role, name='test').secret}"}


def test_planted_a2a_on_a1_sites_are_flagged(client: TestClient, demo_db: Engine) -> None:
    planted = _planted(demo_db)
    assert planted
    for code in planted[:6]:
        r = client.post("/checks/site", json=_feature(demo_db, code))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["derived_class"] == "A2a"
        assert body["reasons"] and all("rule" in x for x in body["reasons"])
        a1 = [f for f in body["findings"] if f["check"] == "a1-routes"]
        assert a1 and a1[0]["severity"] == "violation", code
        assert (a1[0].get("route") or a1[0].get("zone")) and a1[0]["legal_source"]
        assert a1[0]["distance_m"] >= 0
        assert body["location"]["district"]
        assert "context;dur=" in r.headers["server-timing"]


def test_a_compliant_site_has_no_a1_finding(client: TestClient, demo_db: Engine) -> None:
    # inside the demo's made-up outline: a site check refuses points outside the province's imported
    # boundaries (106.80, 20.72 lies ≈ 1.5 km beyond them, so it is no longer accepted)
    feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.79, 20.73]},
            "properties": {"code": "RURAL-1", "operator": "VTL", "mount": "ground", "mast_height_m": 36.0,
                           "reach_m": 2.0, "camouflaged": False, "declared_class": "A2b"}}
    body = client.post("/checks/site", json=feat).json()
    assert body["derived_class"] == "A2b" and not body["class_mismatch"]
    assert not [f for f in body["findings"] if f["check"] == "a1-routes"]
    declared_wrong = {**feat, "properties": {**feat["properties"], "declared_class": "A1b"}}
    mism = client.post("/checks/site", json=declared_wrong).json()
    assert mism["class_mismatch"] and any(f["check"] == "class-mismatch" for f in mism["findings"])


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda f: f["geometry"].update(coordinates=[20.86, 106.68]), "geometry"),  # lat/lon swapped
    (lambda f: f["geometry"].update(coordinates=[106.68, 95.0]), "geometry"),
    (lambda f: f["geometry"].update(coordinates=[100.5, 13.7]), "geometry.coordinates"),  # Bangkok
    (lambda f: f["geometry"].update(type="LineString"), "geometry"),
    (lambda f: f["geometry"].update(coordinates="106.68,20.86"), "geometry"),
    (lambda f: f["properties"].update(mast_height_m="12"), "properties.mast_height_m"),
    (lambda f: f["properties"].update(mast_height_m=-3), "properties.mast_height_m"),
    (lambda f: f["properties"].update(camouflaged="yes"), "properties.camouflaged"),
    (lambda f: f["properties"].update(mount="roof"), "properties.mount"),
    (lambda f: f["properties"].update(declared_class="A3"), "properties.declared_class"),
    (lambda f: f["properties"].update(mast_heigth_m=12), "properties.mast_heigth_m"),
    (lambda f: f["properties"].update(operator=7), "properties.operator"),
    (lambda f: f["properties"].pop("mast_height_m"), "properties.mast_height_m"),
    (lambda f: f.update(type="FeatureCollection"), "type"),
    (lambda f: f.update(properties=[1, 2]), "properties"),
])
def test_invalid_sites_are_422_naming_the_field(client: TestClient, demo_db: Engine, mutate: Any, field: str) -> None:
    feat = _feature(demo_db, _planted(demo_db)[0])
    mutate(feat)
    r = client.post("/checks/site", json=feat)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["field"] == field
    assert body["detail"].startswith(field)


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post("/checks/site", content=b'{"type": "Feature", ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/checks/site", json=[1, 2]).status_code == 422


def test_context_follows_the_data_version(client: TestClient, demo_db: Engine) -> None:
    code = _planted(demo_db)[0]
    feat = _feature(demo_db, code)
    first = client.post("/checks/site", json=feat).json()
    near = [c for c in first["colocation_candidates"]] + [f for f in first["findings"] if f["check"] == "spacing"]
    assert any(f.get("other_site_code") == code for f in first["findings"]) or near
    # a write records what it changed (here one mast, by code), so the context updates that mast at
    # once; a write that says nothing is rebuilt in the background (geodata.work.context_cache)
    with demo_db.begin() as c:
        c.execute(update(m.Site).where(m.Site.code == code).values(status="removed"))
        v = bump_data_version(c, {"sites": [code]})
    second = client.post("/checks/site", json=feat).json()
    assert second["data_version"] == v == first["data_version"] + 1
    assert not any(f.get("other_site_code") == code for f in second["findings"])  # a removed mast is no obstacle


def test_stored_a1_findings_paged_filtered_and_downloaded(client: TestClient, demo_db: Engine) -> None:
    assert client.get("/checks/a1-routes").json()["count"] == 0
    assert client.post("/checks/a1-routes/run").status_code == 401
    assert client.post("/checks/a1-routes/run", headers=_key(demo_db, "inspector")).status_code == 403
    run = client.post("/checks/a1-routes/run", headers=_key(demo_db, "planner"))
    assert run.status_code == 200, run.text
    n = run.json()["count"]
    planted = set(_planted(demo_db))
    body = client.get("/checks/a1-routes?limit=5").json()
    assert body["count"] == n >= len(planted) and body["returned"] == 5 and body["next"]
    seen: list[dict[str, Any]] = []
    url: str | None = "/checks/a1-routes?limit=7"
    while url:
        page = client.get(url.removeprefix("http://testserver")).json()
        seen += page["findings"]
        url = page.get("next")
    assert len(seen) == n
    assert {f["site_code"] for f in seen} == planted
    assert all((f.get("route") or f.get("zone")) and f["severity"] == "violation" for f in seen)
    assert set(seen[0]) >= {"rule", "severity", "site_code", "operator", "distance_m", "district", "commune",
                            "legal_source"}
    district = seen[0]["district"]
    only = client.get("/checks/a1-routes", params={"district": district, "limit": 1000}).json()
    assert only["count"] == sum(1 for f in seen if f["district"] == district)
    vtl = client.get("/checks/a1-routes?operator=VTL&limit=1000").json()["findings"]
    assert all(f["operator"] == "VTL" for f in vtl)
    assert client.get("/checks/a1-routes?colour=red").status_code == 400
    assert client.get("/checks/a1-routes?severity=fatal").status_code == 400

    r = client.get("/checks/a1-routes?format=csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="findings-a1-routes-')
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == FINDING_CSV_FIELDS and len(rows) == n + 1
    x = client.get("/checks/a1-routes?format=xlsx&operator=VTL")
    xrows = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    h = max(i for i, r in enumerate(xrows[:4]) if r and r[0] == "check")  # header below the title and labels
    assert list(xrows[h]) == FINDING_CSV_FIELDS and len(xrows) - h - 1 == len(vtl)
    assert "vtl" in x.headers["content-disposition"]
    g = client.get("/checks/a1-routes?format=geojson").json()
    assert g["type"] == "FeatureCollection" and len(g["features"]) == n
    assert all(f["geometry"]["type"] == "Point" for f in g["features"])


def test_spacing_findings_endpoint(client: TestClient, demo_db: Engine) -> None:
    run = client.post("/checks/spacing/run", headers=_key(demo_db, "admin"))
    assert run.status_code == 200, run.text
    body = client.get("/checks/spacing?limit=10000").json()
    assert body["count"] == run.json()["count"] == len(body["findings"])
    assert all(f["check"] == "spacing" for f in body["findings"])
    with demo_db.connect() as c:
        stored = c.execute(select(func.count()).select_from(m.Finding).where(m.Finding.check == "spacing")).scalar()
    assert stored == body["count"]
    assert client.post("/checks/other/run", headers=_key(demo_db, "admin")).status_code == 422
