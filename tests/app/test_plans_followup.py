"""After approval: implementation monitoring, inspection campaigns (results, photos, findings),
conversion / eco-BTS programmes and their progress (HTTP and CLI), the read-only audit API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from geoalchemy2.shape import from_shape
from openpyxl import load_workbook
from shapely.geometry import Point
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from app.cli import cli
from geodata.store.db import transaction
from geodata.store.models import Finding, Site
from planning.geometry import project_xy
from tests.app.plan_helpers import client, make_keys, planted, site_row
from tests.conftest import db_url

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 12
JPEG = b"\xff\xd8\xff\xe0" + b"\x10JFIF" + bytes(200)


def _add_planned(engine: Engine, code: str, lon: float, lat: float, target: dt.date, operator: str = "VTL") -> None:
    x, y = project_xy([lon], [lat], "EPSG:4326", "EPSG:9210")
    with transaction(engine) as s:
        s.add(Site(code=code, operator=operator, status="planned", target_date=target, district_code="305",
                   x_m=float(x[0]), y_m=float(y[0]), geom=from_shape(Point(lon, lat), srid=4326)))


# --------------------------------------------------------------------------------------------
# monitoring
# --------------------------------------------------------------------------------------------

def test_implementation_monitoring(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    base = c.get("/monitoring/implementation?operator=VTL&as_of=2026-01-01", headers=k.h("planner")).json()
    with transaction(demo_db) as s:
        built = s.execute(select(Site).where(Site.operator == "VTL", Site.status == "built")
                          .order_by(Site.code)).scalars().first()
        assert built is not None
        blon, blat = s.scalar(built.geom.ST_X()), s.scalar(built.geom.ST_Y())
    _add_planned(demo_db, "MON-NEAR", blon + 0.0003, blat, dt.date(2020, 1, 1))  # ~30 m from a built VTL site
    _add_planned(demo_db, "MON-FAR", 106.5000, 20.6000, dt.date(2020, 1, 1))  # nothing built there
    _add_planned(demo_db, "MON-LATER", 106.5000, 20.6010, dt.date(2030, 1, 1))  # not due yet
    now = c.get("/monitoring/implementation?operator=VTL&as_of=2026-01-01", headers=k.h("planner")).json()
    d = {key: now["totals"][key] - base["totals"][key] for key in now["totals"]}
    assert d == {"planned": 3, "built": 0, "realised": 1, "overdue": 1}
    overdue = [code for r in now["rows"] for code in r["overdue_sites"]]
    assert "MON-FAR" in overdue and "MON-NEAR" not in overdue and "MON-LATER" not in overdue
    assert {r["operator"] for r in now["rows"]} == {"VTL"}
    # a smaller radius: the built site no longer realises the plan
    tight = c.get("/monitoring/implementation?operator=VTL&as_of=2026-01-01&radius_m=10", headers=k.h("planner"))
    assert "MON-NEAR" in [code for r in tight.json()["rows"] for code in r["overdue_sites"]]
    # unit filter and operator scoping; districts exist until 2025-06-30 only (issue 15: after it the rows
    # are the communes of the day, so a district filter needs a date before the reform)
    only = c.get("/monitoring/implementation?district=305&as_of=2025-06-30", headers=k.h("inspector")).json()
    assert {r["district"] for r in only["rows"]} == {"305"} and len({r["operator"] for r in only["rows"]}) > 1
    mine = c.get("/monitoring/implementation", headers=k.h("vtl")).json()
    assert {r["operator"] for r in mine["rows"]} == {"VTL"}
    assert c.get("/monitoring/implementation?operator=MBF", headers=k.h("vtl")).status_code == 403


# --------------------------------------------------------------------------------------------
# inspections
# --------------------------------------------------------------------------------------------

def test_inspection_campaign_results_findings(demo_db: Engine, tmp_path: Path) -> None:
    c, k = client(demo_db, upload_dir=str(tmp_path), max_photo_bytes=2048), make_keys(demo_db)
    body = {"name": "Kiểm tra trạm BTS đợt 1/2026", "start_on": "2026-03-01", "end_on": "2026-03-31",
            "filter": {"operator": ["VTL", "VNP", "MBF"], "max_sites": 93}}
    r = c.post("/inspections/campaigns", json=body, headers=k.h("planner"))
    assert r.status_code == 201, r.text
    camp = r.json()
    assert camp["sites"] == 93 and set(camp["operators"]) <= {"VTL", "VNP", "MBF"}
    assert c.post("/inspections/campaigns", json=body, headers=k.h("planner")).status_code == 409
    # the filter model of exports and features: derived_class (mast_class still accepted), district by name
    by_name = {**body, "name": "Lê Chân A1", "filter": {"district": ["le chan"], "derived_class": ["A1a", "A1b"]}}
    r = c.post("/inspections/campaigns", json=by_name, headers=k.h("planner"))
    assert r.status_code == 201, r.text
    old_name = {**by_name, "name": "Lê Chân A1 (old)", "filter": {"district": ["Lê Chân"], "mast_class": ["A1a", "A1b"]}}
    r2 = c.post("/inspections/campaigns", json=old_name, headers=k.h("planner"))
    assert r2.status_code == 201 and r2.json()["sites"] == r.json()["sites"], r2.text
    ex = c.get("/exports/sites.csv?district=le%20chan&derived_class=A1a,A1b&status=built", headers=k.h("planner"))
    assert len(ex.content.decode("utf-8-sig").splitlines()) - 1 == r.json()["sites"]
    empty = {**body, "name": "x", "filter": {"codes": ["NOPE"]}}
    assert c.post("/inspections/campaigns", json=empty, headers=k.h("planner")).status_code == 422
    cid = camp["id"]
    # the inspectors' list
    r = c.get(f"/inspections/campaigns/{cid}/sites?format=csv", headers=k.h("inspector"))
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 93 and rows[0]["lat"] and rows[0]["district"]
    wb = load_workbook(io.BytesIO(c.get(f"/inspections/campaigns/{cid}/sites?format=xlsx",
                                        headers=k.h("inspector")).content))
    assert wb.active.max_row == 2 + 93
    codes = [row["code"] for row in rows]
    # results
    url = f"/inspections/campaigns/{cid}/results"
    ok = c.post(url, json={"site_code": codes[0], "result": "conforms", "inspected_on": "2026-03-05"},
                headers=k.h("inspector"))
    assert ok.status_code == 201
    bad = {"site_code": codes[1], "result": "violation", "inspected_on": "2026-03-06"}
    assert c.post(url, json=bad, headers=k.h("inspector")).json()["field"] == "notes"
    r = c.post(url, json={**bad, "notes": "Cột không có giấy phép xây dựng; thiếu biển báo"},
               headers=k.h("inspector"))
    assert r.status_code == 201
    ins_id = r.json()["id"]
    assert c.post(url, json={**bad, "site_code": "HP-NOT-IN", "notes": "x"}, headers=k.h("inspector")).status_code == 404
    assert c.post(url, json={**bad, "inspected_on": "2026-05-01", "notes": "x"},
                  headers=k.h("inspector")).json()["field"] == "inspected_on"
    with transaction(demo_db) as s:
        f = s.execute(select(Finding).where(Finding.check == "inspection")).scalars().all()
        assert [(x.site_code, x.severity) for x in f] == [(codes[1], "violation")]
        assert f[0].geom is not None and f[0].details["inspection_id"] == ins_id and f[0].operator
    summary = c.get(f"/inspections/campaigns/{cid}", headers=k.h("planner")).json()
    assert (summary["inspected"], summary["conforms"], summary["violations"]) == (2, 1, 1)
    # photos: content type checked against the bytes, size limited
    up = f"/inspections/{ins_id}/photos"
    r = c.post(up, files={"file": ("cot.png", PNG[:1500], "image/png")}, headers=k.h("inspector"))
    assert r.status_code == 201, r.text
    assert r.json()["bytes"] == 1500 and len(r.json()["sha256"]) == 64 and "path" not in r.json()
    assert c.post(up, files={"file": ("cot.jpg", PNG[:1500], "image/jpeg")}, headers=k.h("inspector")).status_code == 415
    assert c.post(up, files={"file": ("a.txt", b"hello", "text/plain")}, headers=k.h("inspector")).status_code == 415
    assert c.post(up, files={"file": ("big.png", PNG, "image/png")}, headers=k.h("inspector")).status_code == 413
    assert c.post(up, files={"file": ("cot.jpg", JPEG, "image/jpeg")}, headers=k.h("inspector")).status_code == 201
    got = c.get(f"/inspections/{ins_id}/photos/1", headers=k.h("planner"))
    assert got.status_code == 200 and got.content == PNG[:1500] and got.headers["content-type"] == "image/png"
    assert c.get(f"/inspections/{ins_id}/photos/3", headers=k.h("planner")).status_code == 404
    assert [p["n"] for p in c.get(f"/inspections/{ins_id}", headers=k.h("planner")).json()["photos"]] == [1, 2]
    assert c.post("/inspections/99999/photos", files={"file": ("cot.png", PNG[:100], "image/png")},
                  headers=k.h("inspector")).status_code == 404


# --------------------------------------------------------------------------------------------
# programmes
# --------------------------------------------------------------------------------------------

def test_conversion_programme_153(demo_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    r = c.post("/programmes", json={"name": "Chuyển đổi cột A2a sang A1 (153/KH-UBND)", "kind": "conversion",
                                    "legal_ref": "Kế hoạch 153/KH-UBND (22/6/2018)", "deadline": "2020-12-31",
                                    "preset": "a2a_on_a1"}, headers=k.h("planner"))
    assert r.status_code == 201, r.text
    prog = r.json()
    pid = prog["id"]
    detail = c.get(f"/programmes/{pid}", headers=k.h("planner")).json()
    targets = {s["site_code"] for s in detail["site_list"]}
    assert set(planted(demo_db)) <= targets and len(targets) == prog["sites"]
    vtl_sites = sorted(s["site_code"] for s in detail["site_list"] if s["operator"] == "VTL")
    other = next(s["site_code"] for s in detail["site_list"] if s["operator"] != "VTL")
    # the firm reports its own conversions, never another firm's
    url = f"/programmes/{pid}/sites/{vtl_sites[0]}"
    assert c.put(url, json={"status": "converted"}, headers=k.h("vtl")).status_code == 422  # needs done_on
    assert c.put(url, json={"status": "converted", "done_on": "2020-06-30"}, headers=k.h("vtl")).status_code == 200
    assert c.put(f"/programmes/{pid}/sites/{vtl_sites[1]}", json={"status": "converted", "done_on": "2021-03-01"},
                 headers=k.h("planner")).status_code == 200
    assert c.put(f"/programmes/{pid}/sites/{other}", json={"status": "converted", "done_on": "2020-06-30"},
                 headers=k.h("vtl")).status_code == 404
    assert c.put(url, json={"status": "piloted", "done_on": "2020-06-30"}, headers=k.h("planner")).status_code == 422
    assert c.put(url, json={"status": "converted", "done_on": "0"}, headers=k.h("planner")).status_code == 422
    assert c.get(f"/programmes/{pid}/progress?as_of=0", headers=k.h("planner")).status_code == 422
    # progress by operator and district
    p = c.get(f"/programmes/{pid}/progress?by=operator&as_of=2026-01-01", headers=k.h("planner")).json()
    t = p["totals"]
    assert t["total"] == len(targets) and t["done"] == 2 and t["late_done"] == 1
    assert t["pending"] == len(targets) - 2 and t["overdue"] == t["pending"]
    assert t["done_pct"] == round(200 / len(targets), 1)
    vtl = next(r for r in p["rows"] if r["operator"] == "VTL")
    assert vtl["done"] == 2
    by_d = c.get(f"/programmes/{pid}/progress", headers=k.h("inspector")).json()
    assert sum(r["total"] for r in by_d["rows"]) == len(targets) and all(r["district_name"] for r in by_d["rows"])
    before = c.get(f"/programmes/{pid}/progress?as_of=2020-01-01", headers=k.h("planner")).json()
    assert before["totals"]["overdue"] == 0
    mine = c.get(f"/programmes/{pid}/progress?by=operator", headers=k.h("vtl")).json()
    assert [r["operator"] for r in mine["rows"]] == ["VTL"]
    # the CLI tells the same story
    from geodata.settings import get_settings

    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli, ["programmes", "progress", str(pid), "--by", "operator", "--as-of",
                                       "2026-01-01", "--format", "json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["totals"] == t
        res = CliRunner().invoke(cli, ["programmes", "progress", "Chuyển đổi cột A2a sang A1 (153/KH-UBND)"])
        assert res.exit_code == 0 and "total" in res.stdout
        res = CliRunner().invoke(cli, ["programmes", "progress", "nope"])
        assert res.exit_code != 0 and "no programme" in res.output
        res = CliRunner().invoke(cli, ["programmes", "create", "--name", "Thí điểm BTS thân thiện môi trường",
                                       "--kind", "eco_bts", "--legal-ref", "Seeds 2017"])
        assert res.exit_code == 0, res.output
    finally:
        get_settings.cache_clear()


def test_eco_bts_pilots(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    pid = c.post("/programmes", json={"name": "BTS thân thiện môi trường kết hợp điểm thông tin", "kind": "eco_bts",
                                      "deadline": "2027-12-31"}, headers=k.h("admin")).json()["id"]
    with transaction(demo_db) as s:
        vtl = s.execute(select(Site.code).where(Site.operator == "VTL").limit(1)).scalar_one()
        mbf = s.execute(select(Site.code).where(Site.operator == "MBF").limit(1)).scalar_one()
    r = c.put(f"/programmes/{pid}/sites/{vtl}", headers=k.h("vtl"), json={
        "status": "piloted", "done_on": "2026-04-01", "integrates": ["information_screen", "lighting", "wifi"]})
    assert r.status_code == 200 and r.json()["integrates"] == ["information_screen", "lighting", "wifi"]
    c.put(f"/programmes/{pid}/sites/{mbf}", headers=k.h("mbf"), json={"status": "pending"})
    assert c.put(f"/programmes/{pid}/sites/{mbf}", headers=k.h("mbf"),
                 json={"status": "piloted", "done_on": "2026-05-01", "integrates": ["teleport"]}).status_code == 422
    p = c.get(f"/programmes/{pid}/progress?by=operator", headers=k.h("planner")).json()
    rows = {r["operator"]: r for r in p["rows"]}
    assert rows["VTL"]["done"] == 1 and rows["VTL"]["integrates"] == {"information_screen": 1, "lighting": 1, "wifi": 1}
    assert rows["MBF"]["pending"] == 1 and p["totals"]["done_pct"] == 50.0
    def ids(kind: str) -> list[int]:
        return [x["id"] for x in c.get(f"/programmes?kind={kind}", headers=k.h("planner")).json()["programmes"]]

    assert pid in ids("eco_bts") and pid not in ids("conversion")
    assert c.get("/programmes?kind=mural", headers=k.h("planner")).status_code in (400, 422)


# --------------------------------------------------------------------------------------------
# audit
# --------------------------------------------------------------------------------------------

def test_audit_api_is_read_only(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    entries = c.get("/audit?entity=api_key", headers=k.h("admin")).json()["entries"]
    assert len(entries) == 6 and all(e["action"] == "create" for e in entries)
    one = c.get(f"/audit?entity=api_key&id={entries[0]['entity_id']}", headers=k.h("admin")).json()["entries"]
    assert len(one) == 1
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for path in ("/audit", f"/audit/{entries[0]['id']}"):
            assert c.request(method, path, headers=k.h("admin"), json={}).status_code in (404, 405)
    assert c.get("/audit?entity=api_key", headers=k.h("admin")).json()["entries"] == entries
    assert site_row(demo_db, "nope") == {}


def test_audit_log_is_append_only_in_the_database(empty_db: Engine) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from geodata.store import audit as gaudit

    with transaction(empty_db) as s:
        gaudit.record(s, "tester", "create", "plan", 1, None, {"status": "draft"})
    for stmt in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with empty_db.begin() as conn:
                conn.execute(text(stmt))
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["tester"]
