"""Issue 15: every report names the units in force on the date asked, on both backends.

The demo holds both vintages and a made-up former Hải Dương part in the west (district 288 until
30/6/2025, merged into Hải Phòng from 1/7/2025) with some of its sites and two cable sections. An
appraisal dated before the merger finds a plan item there outside the province, one dated after it
finds it inside; monitoring and the appraisal report group and label by the new communes from
1/7/2025 and by the districts before; a split old commune without new polygons is "not placed".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import shapely
from openpyxl import load_workbook
from sqlalchemy import Engine, func, insert, select

from geodata.io.import_mapping import import_unit_mapping
from geodata.io.importer import ImportOptions, import_file
from geodata.store import models as m
from geodata.store.area import province_area
from geodata.work import checks
from geodata.store.dated_units import units_on
from geodata.work.monitoring import implementation
from planning.rules import load_pack
from tests.app.plan_helpers import client, collection, make_keys, new_site
from tests.conftest import SHARED_DATA

BEFORE, AFTER = dt.date(2025, 6, 30), dt.date(2025, 7, 1)
HAI_DUONG_DISTRICT = "288"


def _west_point(engine: Engine, code: str = "10801") -> shapely.Point:
    """A point inside one made-up former Hải Dương commune (stored polygon, not a copied constant)."""
    with engine.connect() as c:
        wkb = c.execute(select(m.AdminUnit.geom.ST_AsBinary()).where(m.AdminUnit.code == code)).scalar()
    return shapely.from_wkb(bytes(wkb)).representative_point()


def _new_commune_at(engine: Engine, p: shapely.Point) -> tuple[str, str]:
    with engine.connect() as c:
        rows = c.execute(select(m.AdminUnit.code, m.AdminUnit.name, m.AdminUnit.geom.ST_AsBinary().label("wkb")).where(
            m.AdminUnit.level == "commune", m.AdminUnit.valid_from == AFTER)).all()
    return next((r.code, r.name) for r in rows if shapely.from_wkb(bytes(r.wkb)).covers(p))


def test_the_demo_puts_sites_and_cables_in_former_hai_duong(demo_db: Engine) -> None:
    with demo_db.connect() as c:
        sites = c.execute(select(func.count()).where(m.Site.district_code == HAI_DUONG_DISTRICT)).scalar()
        cables = c.execute(select(func.count()).where(m.CableSegment.district_code == HAI_DUONG_DISTRICT)).scalar()
    assert sites and sites >= 10 and cables == 2
    pack = load_pack("haiphong")
    old = checks.stored_site_counts(demo_db, pack, by="district", as_of=BEFORE).to_json()
    new = checks.stored_site_counts(demo_db, pack, by="commune", as_of=dt.date(2025, 12, 31)).to_json()
    assert next(r["total"] for r in old["rows"] if r["district_code"] == HAI_DUONG_DISTRICT) == sites
    west_new = {_new_commune_at(demo_db, _west_point(demo_db, code))[0] for code in ("10801", "10804", "10807", "10810")}
    assert sum(r["total"] for r in new["rows"] if r.get("commune_code") in west_new) == sites
    assert old["totals"]["total"] == new["totals"]["total"]
    # the outline of each day: former Hải Dương is Hải Phòng only from 1/7/2025
    p = _west_point(demo_db)
    assert not province_area(demo_db, "haiphong", BEFORE).contains([p.x], [p.y])[0]
    assert province_area(demo_db, "haiphong", AFTER).contains([p.x], [p.y])[0]
    assert province_area(demo_db, "haiphong", dt.date(2026, 3, 1)).contains([p.x], [p.y])[0]


def test_an_appraisal_uses_the_outline_and_units_of_its_date(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    p = _west_point(demo_db)
    body = collection(new_site(p.x, p.y, code="HD-NEW"), new_site(code="HP-NEW"))
    pid = c.post("/plans", json=body, headers=k.h("vtl")).json()["id"]
    before = c.get(f"/plans/{pid}/report", params={"as_of": BEFORE.isoformat()}, headers=k.h("planner")).json()
    after = c.get(f"/plans/{pid}/report", params={"as_of": AFTER.isoformat()}, headers=k.h("planner")).json()
    today = c.get(f"/plans/{pid}/report", headers=k.h("planner")).json()
    b, a = ({it["code"]: it for it in r["items"]} for r in (before, after))
    assert b["HD-NEW"].get("outside_province") and any(f["rule"] == "plan.outside_province" for f in b["HD-NEW"]["findings"])
    assert not a["HD-NEW"].get("outside_province") and not b["HP-NEW"].get("outside_province")
    assert before["summary"]["outside_province"] == 1 and after["summary"]["outside_province"] == 0
    assert today["summary"]["outside_province"] == 0 and today["as_of"] == dt.date.today().isoformat()
    # the report names the unit of that day: the district before, the new commune after
    assert before["as_of"] == "2025-06-30" and before["units"]["by"] == "district"
    assert (b["HD-NEW"]["unit_code"], b["HD-NEW"]["unit"]) == (HAI_DUONG_DISTRICT, "Thành phố Hải Dương")
    code, name = _new_commune_at(demo_db, p)
    assert after["units"]["by"] == "commune" and (a["HD-NEW"]["unit_code"], a["HD-NEW"]["unit"]) == (code, name)
    assert a["HP-NEW"]["unit_code"] and a["HP-NEW"]["unit_code"] != b["HP-NEW"]["unit_code"]
    # every rendering says so: the page, the workbook, the issued document
    html = c.get(f"/plans/{pid}/report", params={"as_of": AFTER.isoformat(), "format": "html", "lang": "en"},
                 headers=k.h("planner")).text
    assert name in html and "Appraisal date: 2025-07-01" in html
    x = c.get(f"/plans/{pid}/report", params={"as_of": BEFORE.isoformat(), "format": "xlsx", "lang": "vi"},
              headers=k.h("planner"))
    wb = load_workbook(io.BytesIO(x.content))
    items = list(wb["Hang muc"].iter_rows(values_only=True))
    assert items[1][2] == "HD-NEW" and items[1][-1] == "Thành phố Hải Dương"
    assert ("Ngày thẩm định", "2025-06-30") in list(wb["Tong hop"].iter_rows(values_only=True))
    doc = c.get(f"/plans/{pid}/report", params={"as_of": AFTER.isoformat(), "format": "docx", "lang": "en"},
                headers=k.h("planner"))
    assert doc.status_code == 200
    with zipfile.ZipFile(io.BytesIO(doc.content)) as z:
        text = z.read("word/document.xml").decode("utf-8")
    assert name in text and "Appraisal date: 01/07/2025" in text
    pdf = c.get(f"/plans/{pid}/report", params={"as_of": AFTER.isoformat(), "format": "pdf"}, headers=k.h("planner"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_monitoring_groups_by_the_units_of_its_date(demo_db: Engine) -> None:
    old = implementation(demo_db, as_of=BEFORE)
    new = implementation(demo_db, as_of=dt.date(2026, 1, 1))
    assert old["by"] == "district" and new["by"] == "commune"
    assert old["totals"] == new["totals"] and new["totals"]["built"] > 0
    assert HAI_DUONG_DISTRICT in {r["district"] for r in old["rows"]}
    assert all("district" not in r for r in new["rows"]), "never the frozen districts after the reform"
    communes = {r["commune"] for r in new["rows"]}
    code, name = _new_commune_at(demo_db, _west_point(demo_db))
    assert code in communes and {r["commune_name"] for r in new["rows"] if r["commune"] == code} == {name}
    # the unit filter takes a commune of that day by code or name, a district before
    by_name = implementation(demo_db, as_of=dt.date(2026, 1, 1), unit=name.split(" ", 1)[1].lower())
    assert {r["commune"] for r in by_name["rows"]} == {code}
    assert implementation(demo_db, as_of=dt.date(2026, 1, 1), unit=HAI_DUONG_DISTRICT)["rows"] == []
    assert {r["district"] for r in implementation(demo_db, as_of=BEFORE, unit="Lê Chân")["rows"]} == {"305"}


def test_monitoring_http_and_the_workspace_page(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    r = c.get("/monitoring/implementation", params={"as_of": "2026-01-01"}, headers=k.h("planner")).json()
    assert r["by"] == "commune" and r["units_as_of"] == "2026-01-01" and r["rows"][0]["commune_name"]
    d = c.get("/monitoring/implementation", params={"as_of": "2025-06-30", "district": "305"},
              headers=k.h("planner")).json()
    assert d["by"] == "district" and {row["district"] for row in d["rows"]} == {"305"}


def _split_world(engine: Engine) -> None:
    """Pre-reform Hồng Bàng with two communes by their real codes (Quán Toan went wholly into one new
    ward, Gia Viên was split among three) and four sites; no new polygons, only the reform's mapping."""
    sq = "SRID=4326;MULTIPOLYGON((({x0} 20.8,{x1} 20.8,{x1} 20.9,{x0} 20.9,{x0} 20.8)))"
    end = {"valid_from": dt.date(1900, 1, 1), "valid_to": BEFORE, "urban": True}
    with engine.begin() as c:
        c.execute(insert(m.AdminUnit), [
            {**end, "code": "303", "name": "Quận Hồng Bàng", "level": "district", "parent_code": "31",
             "geom": sq.format(x0=106.6, x1=106.8)},
            {**end, "code": "11296", "name": "Phường Quán Toan", "level": "commune", "parent_code": "303",
             "geom": sq.format(x0=106.6, x1=106.7)},
            {**end, "code": "11341", "name": "Phường Gia Viên", "level": "commune", "parent_code": "303",
             "geom": sq.format(x0=106.7, x1=106.8)},
        ])
        c.execute(insert(m.Operator), [{"code": "VTL", "name": "Viettel"}])
        c.execute(insert(m.Site), [{"code": f"S{i}", "operator": "VTL", "mount": "ground", "status": status,
                                    "declared_class": "A2b", "target_date": dt.date(2020, 1, 1),
                                    "x_m": 1000.0 * i, "y_m": 0.0, "geom": f"SRID=4326;POINT({x} 20.85)"}
                                   for i, (x, status) in enumerate(((106.65, "built"), (106.66, "planned"),
                                                                    (106.75, "planned"), (106.76, "built")))])
    assert import_unit_mapping(engine, SHARED_DATA / "hai_phong_ward_mapping_2025_reform.json").committed


def test_partial_merges_are_counted_not_placed_in_every_report(empty_db: Engine) -> None:
    _split_world(empty_db)
    units = units_on(empty_db, dt.date(2025, 12, 31))
    assert units.by == "commune"
    out = implementation(empty_db, as_of=dt.date(2025, 12, 31))
    assert out["totals"] == {"planned": 2, "built": 2, "realised": 0, "overdue": 2}
    gia_vien = [r for r in out["rows"] if r.get("partial_merge_of") == "11341"]
    assert len(gia_vien) == 1 and gia_vien[0]["commune"] is None
    assert gia_vien[0]["commune_name"] == "not placed (partial merge of Phường Gia Viên)"
    assert gia_vien[0]["planned"] == 1 and gia_vien[0]["built"] == 1
    quan_toan = [r for r in out["rows"] if r["commune"]]
    assert len(quan_toan) == 1 and quan_toan[0]["planned"] + quan_toan[0]["built"] == 2
    before = implementation(empty_db, as_of=BEFORE)
    assert before["by"] == "district" and [r["district"] for r in before["rows"]] == ["303"]


def test_an_import_dated_before_the_merger_rejects_former_hai_duong(demo_db: Engine, tmp_path: Path) -> None:
    p = _west_point(demo_db, "10807")
    csv = tmp_path / "sites.csv"
    pd.DataFrame({"code": ["HD-IMP-1"], "operator": ["VTL"], "lon": [p.x], "lat": [p.y]}).to_csv(csv, index=False)
    old = import_file(demo_db, "sites", csv, ImportOptions(skip_bad_rows=True, as_of=BEFORE))
    assert old.inserted == 0 and old.rejected == 1 and "outside" in old.log.errors[0].message
    new = import_file(demo_db, "sites", csv, ImportOptions(skip_bad_rows=True, as_of=AFTER))
    assert new.committed and new.inserted == 1


def test_exports_name_and_select_the_units_of_their_date(demo_db: Engine) -> None:
    c = client(demo_db)
    p = _west_point(demo_db)
    code, name = _new_commune_at(demo_db, p)
    after = c.get("/exports/sites.csv", params={"as_of": "2026-01-01", "commune": code})
    assert after.status_code == 200, after.text
    rows = list(csv.DictReader(io.StringIO(after.content.decode("utf-8-sig"))))
    with demo_db.connect() as conn:
        inside = conn.execute(select(func.count()).where(m.Site.commune_code == code)).scalar()
    assert len(rows) == inside > 0
    assert {(r["commune_code"], r["commune"], r["district_code"], r["district"]) for r in rows} == {(code, name, "", "")}
    # before the merger: the districts of that day, and the communes of that day (old codes)
    before = c.get("/exports/sites.csv", params={"as_of": "2025-06-30", "district": HAI_DUONG_DISTRICT})
    old = list(csv.DictReader(io.StringIO(before.content.decode("utf-8-sig"))))
    assert old and {r["district"] for r in old} == {"Thành phố Hải Dương"}
    assert {r["commune_code"] for r in old} <= {"10801", "10804", "10807", "10810"}
    # a district after the reform is refused, with the reason; cables name the unit of their midpoint
    refused = c.get("/exports/sites.csv", params={"as_of": "2026-01-01", "district": "305"})
    assert refused.status_code == 422 and "district" in refused.text
    cables = c.get("/exports/cables.csv", params={"as_of": "2025-06-30", "district": HAI_DUONG_DISTRICT})
    segs = list(csv.DictReader(io.StringIO(cables.content.decode("utf-8-sig"))))
    assert len(segs) == 2 and all(r["code"].startswith("CAP-288-") for r in segs)


def test_a_complaint_dated_before_the_merger_is_outside_hai_phong(demo_db: Engine) -> None:
    from geodata.work.cables import CableError, add_complaint

    p = _west_point(demo_db, "10804")
    args = dict(lon=p.x, lat=p.y, text="Cáp võng thấp", actor="test", metric_crs="EPSG:9210", province="haiphong",
                today=dt.date(2026, 1, 1))
    with pytest.raises(CableError, match="outside"):
        add_complaint(demo_db, reported_on=BEFORE, **args)
    assert add_complaint(demo_db, reported_on=dt.date(2025, 9, 1), **args)["reported_on"] == "2025-09-01"


def test_features_filter_by_todays_commune(demo_db: Engine) -> None:
    """OGC API items take the commune of today by code or name (demo sites store the units an import today
    gives them), and the admin units of a day list communes after the reform, districts before."""
    c = client(demo_db)
    code, name = _new_commune_at(demo_db, _west_point(demo_db))
    by_code = c.get("/collections/sites/items", params={"commune": code, "limit": 1}).json()["numberMatched"]
    by_name = c.get("/collections/sites/items", params={"commune": name.split(" ", 1)[1], "limit": 1}).json()
    assert by_code == by_name["numberMatched"] > 0
    units = c.get("/collections/admin-units/items", params={"level": "district", "datetime": "2026-01-01"}).json()
    assert units["numberMatched"] == 0, "no district is in force today"
    old = c.get("/collections/admin-units/items", params={"level": "district", "datetime": "2025-06-30"}).json()
    assert HAI_DUONG_DISTRICT in {f["properties"]["code"] for f in old["features"]}


def test_districts_still_in_force_are_reported_after_2025(empty_db: Engine) -> None:
    """A province whose only import is districts with no end date (boundaries not yet redrawn in its files)
    reports by those districts after 1/7/2025: they are in force, not frozen; the outline is theirs too."""
    sq = "SRID=4326;MULTIPOLYGON((({x0} 16.0,{x1} 16.0,{x1} 16.06,{x0} 16.06,{x0} 16.0)))"
    with empty_db.begin() as c:
        c.execute(insert(m.AdminUnit), [
            {"code": code, "name": name, "level": "district", "parent_code": "48", "urban": True,
             "valid_from": dt.date(1997, 1, 1), "valid_to": None, "geom": sq.format(x0=x0, x1=x0 + 0.06)}
            for code, name, x0 in (("490", "Quận Hải Châu", 108.18), ("491", "Quận Thanh Khê", 108.12))])
        c.execute(insert(m.Operator), [{"code": "VTL", "name": "Viettel"}])
        c.execute(insert(m.Site), [{"code": "DN-1", "operator": "VTL", "mount": "ground", "status": "built",
                                    "x_m": 0.0, "y_m": 0.0, "geom": "SRID=4326;POINT(108.20 16.03)"}])
    out = implementation(empty_db, as_of=dt.date(2026, 1, 1))
    assert out["by"] == "district" and [(r["district"], r["built"]) for r in out["rows"]] == [("490", 1)]
    area = province_area(empty_db, "danang", dt.date(2026, 1, 1))
    assert area.from_boundaries and area.contains([108.20], [16.03])[0] and not area.contains([108.5], [16.5])[0]


def test_an_outline_of_new_communes_only_is_the_merged_province(empty_db: Engine) -> None:
    """Only the old districts (until 30/6/2025) and the new communes (from 1/7/2025) imported: an
    appraisal of today uses the communes' union, not the districts frozen on 30/6/2025."""
    sq = "SRID=4326;MULTIPOLYGON((({x0} 20.8,{x1} 20.8,{x1} 20.9,{x0} 20.9,{x0} 20.8)))"
    with empty_db.begin() as c:
        c.execute(insert(m.AdminUnit), [
            {"code": "305", "name": "Quận Lê Chân", "level": "district", "parent_code": "31", "urban": True,
             "valid_from": dt.date(1900, 1, 1), "valid_to": BEFORE, "geom": sq.format(x0=106.6, x1=106.7)},
            *({"code": code, "name": name, "level": "commune", "parent_code": "31", "urban": True,
               "valid_from": AFTER, "valid_to": None, "geom": sq.format(x0=x0, x1=x0 + 0.1)}
              for code, name, x0 in (("11600", "Phường Lê Chân", 106.6), ("11700", "Phường Hải Dương", 106.3)))])
    west = ([106.35], [20.85])
    assert not province_area(empty_db, "haiphong", BEFORE).contains(*west)[0]
    assert province_area(empty_db, "haiphong", AFTER).contains(*west)[0]
