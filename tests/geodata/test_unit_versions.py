"""Two-level administration on both backends: the demo's two vintages, a unit mapping imported from
the reform's file, counts that group by the units of the day asked (partial merges not placed),
and the admin import's level and validity options."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import shapely
from sqlalchemy import Engine, func, insert, select

from geodata.io.import_mapping import import_unit_mapping
from geodata.store import models as m
from geodata.store.units import unit_mapping_frame
from geodata.work import checks
from planning.rules import load_pack
from tests.conftest import SHARED_DATA, db_url

PACK = load_pack("haiphong")
BEFORE, AFTER = dt.date(2025, 6, 30), dt.date(2025, 12, 31)
MAPPING = SHARED_DATA / "hai_phong_ward_mapping_2025_reform.json"
ROOT = Path(__file__).resolve().parents[2]


def _codes(rows: list[dict], key: str) -> set[str]:
    return {r[key] for r in rows if r.get(key)}


def test_demo_counts_both_vintages_to_the_same_total(demo_db: Engine) -> None:
    old = checks.stored_site_counts(demo_db, PACK, by="district", as_of=BEFORE).to_json()
    new = checks.stored_site_counts(demo_db, PACK, by="commune", as_of=AFTER).to_json()
    old_communes = checks.stored_site_counts(demo_db, PACK, by="commune", as_of=BEFORE).to_json()
    assert old["totals"]["total"] == new["totals"]["total"] == old_communes["totals"]["total"] > 0
    held = {r["commune_code"] for r in new["rows"] if r.get("commune_code") and r["total"]}
    assert len(held) >= 5 and not held & _codes(old_communes["rows"], "commune_code")
    # after the reform no row names a district: the new communes belong to the province
    assert not _codes(new["rows"], "district_code")
    with demo_db.connect() as c:
        parents = set(c.execute(select(m.AdminUnit.parent_code).where(
            m.AdminUnit.level == "commune", m.AdminUnit.valid_from == dt.date(2025, 7, 1))).scalars())
    assert parents == {"31"}


def test_a_site_in_former_hai_duong_belongs_to_hai_phong_after_the_reform(demo_db: Engine) -> None:
    with demo_db.connect() as c:
        wkb = c.execute(select(m.AdminUnit.geom.ST_AsBinary()).where(m.AdminUnit.code == "10801")).scalar()
        p = shapely.from_wkb(bytes(wkb)).representative_point()
        hp = {r.valid_to: shapely.from_wkb(bytes(r.wkb)) for r in c.execute(select(
            m.AdminUnit.valid_to, m.AdminUnit.geom.ST_AsBinary().label("wkb")).where(
            m.AdminUnit.level == "province", m.AdminUnit.code == "31"))}
    assert not hp[BEFORE].covers(p) and hp[None].covers(p), "Hải Phòng holds former Hải Dương from 2025-07-01"
    with demo_db.begin() as c:
        c.execute(insert(m.Site), [{"code": "HD-1", "operator": "VTL", "mount": "ground", "status": "built",
                                    "declared_class": "A2b", "geom": f"SRID=4326;POINT({p.x} {p.y})"}])
    # the demo already has sites there (its former Hải Dương part, issue 15): one more is counted
    with demo_db.connect() as c:
        demo_there = c.execute(select(func.count()).where(m.Site.district_code == "288")).scalar()
    before = checks.stored_site_counts(demo_db, PACK, by="district", as_of=BEFORE)
    after = checks.stored_site_counts(demo_db, PACK, by="commune", as_of=AFTER)
    assert before.rows.set_index("district_code").loc["288", "total"] == demo_there + 1
    with demo_db.connect() as c:
        new_units = {r.code: shapely.from_wkb(bytes(r.wkb)) for r in c.execute(select(
            m.AdminUnit.code, m.AdminUnit.geom.ST_AsBinary().label("wkb")).where(
            m.AdminUnit.level == "commune", m.AdminUnit.valid_from == dt.date(2025, 7, 1)))}
    home = next(code for code, g in new_units.items() if g.covers(p))
    assert after.rows.set_index("commune_code").loc[home, "total"] >= 1
    assert after.totals["total"] == before.totals["total"]


def _old_world(engine: Engine) -> None:
    """Two pre-reform communes by their real codes, with polygons (Quán Toan went wholly into one new
    ward, Gia Viên was split among three); no new polygons."""
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
        c.execute(insert(m.Site), [{"code": f"S{i}", "operator": "VTL", "mount": "ground", "status": "built",
                                    "declared_class": "A2b", "geom": f"SRID=4326;POINT({x} 20.85)"}
                                   for i, x in enumerate((106.65, 106.66, 106.75))])


def test_new_units_without_polygons_place_full_merges_only(empty_db: Engine, tmp_path: Path) -> None:
    _old_world(empty_db)
    res = import_unit_mapping(empty_db, MAPPING)
    assert res.committed and res.inserted == 454 and res.new_units == 114
    mp = unit_mapping_frame(empty_db)
    quan_toan = mp[mp["old_code"] == "11296"]
    gia_vien = mp[mp["old_code"] == "11341"]
    assert len(quan_toan) == 1 and quan_toan["kind"].iloc[0] == "full"
    assert len(gia_vien) == 3 and set(gia_vien["kind"]) == {"partial"}  # split by the reform
    old = checks.stored_site_counts(empty_db, PACK, by="district", as_of=BEFORE).to_json()
    new = checks.stored_site_counts(empty_db, PACK, by="commune", as_of=AFTER).to_json()
    assert old["totals"]["total"] == new["totals"]["total"] == 3 == sum(r["total"] for r in new["rows"])
    got = {(r["commune_code"], r["commune"]): r["total"] for r in new["rows"] if r["total"]}
    assert got == {(quan_toan["new_code"].iloc[0], quan_toan["new_name"].iloc[0]): 2,
                   (None, "not placed (partial merge of Phường Gia Viên)"): 1}
    assert new["not_placed"] == 1
    # the mapping's 114 new units are the rows, those without sites too
    assert len(_codes(new["rows"], "commune_code")) == 114


def test_unit_mapping_import_reports_bad_rows_and_writes_nothing(empty_db: Engine, tmp_path: Path) -> None:
    assert import_unit_mapping(empty_db, MAPPING).committed
    doc = json.loads(MAPPING.read_text(encoding="utf-8"))
    units = doc["new_to_old"][0]["level2s"]
    units[0]["merges"][0]["type"] = "merged"
    units[1]["merges"].append(dict(units[1]["merges"][0]))
    units[2]["merges"][0]["old_id"] = ""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    res = import_unit_mapping(empty_db, bad, dt.date(2025, 7, 1))
    assert not res.committed and res.log.n_errors == 3
    first = res.log.sorted()[0]
    assert first.row == 3 and first.field == "type" and first.value == "merged" and "full or partial" in first.message
    assert "Phường Thành Đông" in first.message
    assert len(unit_mapping_frame(empty_db)) == 454, "the stored mapping is untouched"
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    broken = import_unit_mapping(empty_db, tmp_path / "x.json")
    assert not broken.committed and broken.log.sorted()[0].row is None


def _cli(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BTSPLAN_DATABASE_URL": db_url(engine)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_imports_admin_levels_with_validity_and_the_mapping(empty_db: Engine) -> None:
    r = _cli(empty_db, "import", "admin", str(SHARED_DATA / "hai_phong_districts_dvhcvn.geojson"), "--level",
             "district", "--valid-from", "2020-01-01", "--valid-to", "2025-06-30")
    assert r.returncode == 0, r.stderr
    with empty_db.connect() as c:
        rows = c.execute(select(m.AdminUnit.level, m.AdminUnit.valid_from, m.AdminUnit.valid_to, func.count())
                         .group_by(m.AdminUnit.level, m.AdminUnit.valid_from, m.AdminUnit.valid_to)).all()
    assert [tuple(x) for x in rows] == [("district", dt.date(2020, 1, 1), BEFORE, 15)]
    r = _cli(empty_db, "import", "unit-mapping", str(MAPPING))
    assert r.returncode == 0, r.stderr
    assert "454" in r.stdout and "114" in r.stdout
    r = _cli(empty_db, "import", "unit-mapping", str(SHARED_DATA / "hai_phong_admin_units_20250301.json"))
    assert r.returncode != 0 and "new_to_old" in r.stderr


def test_demo_on_real_boundaries(empty_db: Engine) -> None:
    """``demo --admin``: the shared Hải Phòng polygons instead of the made-up ones; every site inside
    them and given its real district."""
    r = _cli(empty_db, "demo", "--sites", "300", "--admin", str(SHARED_DATA / "hai_phong_province_dvhcvn.geojson"),
             "--admin", str(SHARED_DATA / "hai_phong_districts_dvhcvn.geojson"), "--valid-to", "2025-06-30")
    assert r.returncode == 0, r.stderr
    with empty_db.connect() as c:
        levels = dict(c.execute(select(m.AdminUnit.level, func.count()).group_by(m.AdminUnit.level)).all())
        assert levels == {"province": 1, "district": 15}
        assert c.execute(select(func.count()).select_from(m.UnitMapping)).scalar() == 0
        placed = c.execute(select(m.Site.district_code, func.count()).group_by(m.Site.district_code)).all()
    assert None not in dict(placed) and sum(n for _, n in placed) == 300 and len(placed) >= 8
    counts = checks.stored_site_counts(empty_db, PACK, by="district", as_of=BEFORE)
    assert counts.totals["total"] == 300 and "(outside every district)" not in set(counts.rows["district"])
