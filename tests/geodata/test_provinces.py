"""Any province, before and after the 2025 reform: the registry, VN-2000 / TM-3 for every meridian
(against EPSG:9205–9218 where EPSG has the zone), the custom SRIDs in both databases, and a province
never seen before set up from scratch (registry key + boundary file)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import morecantile
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pyproj import CRS, Transformer
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion
from pyproj.transformer import TransformerGroup
from sqlalchemy import Engine, text

from geodata.crs import (
    TM3_BY_MERIDIAN,
    VN2000_TO_WGS84,
    custom_tm3_zones,
    parse_crs,
    province_metric_crs,
    tm3_proj,
    tm3_srid,
    transformer,
)
from geodata.io.importer import ImportOptions, import_file
from geodata.store.area import province_area, registry_area
from geodata.settings import Settings
from geodata.store import models as m
from geodata.work.checks import run_checks
from planning import provinces as P
from planning.errors import InvalidField
from planning.rules import pack_for_province
from planning.vocab import CHECK_NAMES
from tests.app.live import make_app
from tests.conftest import SHARED_DATA

# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------


def test_registry_has_both_vintages_and_every_former_province_goes_somewhere() -> None:
    reg = P.registry()
    before = [p for p in reg if p.in_force(dt.date(2025, 6, 30))]
    after = [p for p in reg if p.in_force(P.REFORM_DAY)]
    assert len(before) == 63 and len(after) == 34
    assert len({p.code for p in after}) == 34 and len({p.key for p in before}) == 63
    former = sorted(p.key for p in reg if not p.merged_from)
    assert len(former) == 63
    assert sorted(q.key for p in after for q in P.parts(p)) == former, "each former province exactly once"
    assert sum(p.type != "tỉnh" for p in after) == 6  # Hà Nội, Huế, Hải Phòng, Đà Nẵng, TP HCM, Cần Thơ


def test_a_key_in_both_vintages_names_the_version_in_force() -> None:
    now = P.province("haiphong", dt.date(2026, 1, 1))
    old = P.province("haiphong", dt.date(2025, 6, 30))
    assert now.merged_from == ("haiphong", "haiduong") and not old.merged_from
    assert {k: v.meridian for k, v in P.meridians(now).items()} == {"haiphong": "105-45", "haiduong": "105-30"}
    assert P.default_meridian(now).meridian == "105-45"  # the seat's zone: the demo's EPSG:9210
    # a key with only a pre-reform version names it whatever the day
    assert P.province("haiduong", dt.date(2026, 1, 1)).name == "Hải Dương"
    assert P.province("HungYen").merged_from == ("hungyen", "thaibinh")
    with pytest.raises(InvalidField, match="unknown province 'atlantis'; known: angiang"):
        P.province("atlantis")


def test_merged_bbox_covers_its_parts_and_islands_are_kept() -> None:
    hp = P.province("haiphong")
    x0, y0, x1, y1 = P.bbox(hp)
    for part in P.parts(hp):
        a, b, c, d = part.bbox
        assert x0 <= a and y0 <= b and c <= x1 and d <= y1
    dn = registry_area("danang")
    assert dn.contains([112.33], [16.53])[0], "Hoàng Sa (Phú Lâm) is Đà Nẵng's"
    assert not dn.contains([106.68], [20.86])[0]


def test_every_meridian_cites_its_source() -> None:
    for p in P.registry():
        if p.tm3 is not None:
            assert "973/2001" in p.tm3.source
            code = TM3_BY_MERIDIAN.get(p.tm3.meridian)
            # "verified" means EPSG's area of use for that zone names the province too
            assert p.tm3.verified == (code is not None and f"EPSG:{code}" in p.tm3.source)


# ---------------------------------------------------------------------------------------------
# VN-2000 / TM-3 for every meridian
# ---------------------------------------------------------------------------------------------


def test_shift_parameters_are_epsg_vn2000_to_wgs84_2() -> None:
    op = next(t for t in TransformerGroup("EPSG:4756", "EPSG:4326").transformers
              if t.description == "VN-2000 to WGS 84 (2)")
    params = {p.split("=")[0]: float(p.split("=")[1]) for p in op.definition.split() if p.split("=")[0] in
              ("x", "y", "z", "rx", "ry", "rz", "s")}
    assert tuple(params[k] for k in ("x", "y", "z", "rx", "ry", "rz", "s")) == VN2000_TO_WGS84
    assert "convention=coordinate_frame" in op.definition


def _samples(meridian: str) -> tuple[np.ndarray, np.ndarray]:
    d, mm = meridian.split("-")
    c = int(d) + int(mm) / 60
    lon = np.array([c - 1.4, c - 0.5, c, c + 0.3, c + 1.4, c + 0.9])
    lat = np.array([8.6, 11.0, 14.2, 16.0, 20.8, 23.3])
    return lon, lat


@pytest.mark.parametrize("meridian", sorted(TM3_BY_MERIDIAN))
def test_our_definition_agrees_with_epsg_within_1cm(meridian: str) -> None:
    lon, lat = _samples(meridian)
    code = TM3_BY_MERIDIAN[meridian]
    ours = Transformer.from_crs("EPSG:4326", tm3_proj(meridian), always_xy=True)
    # EPSG's zone through its "VN-2000 to WGS 84 (2)": PROJ's default would switch to the older (1) in
    # the box of the Mekong offshore blocks DBSCL 02/03 (104.24–107.11 E, 9.35–11.04 N), 0.8 m apart
    epsg = next(t for t in TransformerGroup("EPSG:4326", f"EPSG:{code}", always_xy=True).transformers
                if "VN-2000 to WGS 84 (2)" in t.description)
    x1, y1 = ours.transform(lon, lat)
    x2, y2 = epsg.transform(lon, lat)
    assert np.hypot(x1 - x2, y1 - y2).max() < 0.01
    # and back to WGS84 from the same metres
    b1 = np.array(Transformer.from_crs(tm3_proj(meridian), "EPSG:4326", always_xy=True).transform(x2, y2))
    back = next(t for t in TransformerGroup(f"EPSG:{code}", "EPSG:4326", always_xy=True).transformers
                if "VN-2000 to WGS 84 (2)" in t.description)
    b2 = np.array(back.transform(x2, y2))
    assert np.abs(b1 - b2).max() < 1e-7  # degrees: ≈ 1 cm
    assert tm3_srid(meridian) == code


def test_a_zone_without_epsg_code_round_trips_and_matches_a_pyproj_reference() -> None:
    meridian = "107-45"
    assert tm3_srid(meridian) == 980745 and custom_tm3_zones()[980745] == meridian
    lon, lat = _samples(meridian)
    fwd = transformer("EPSG:4326", tm3_proj(meridian))
    inv = transformer(tm3_proj(meridian), "EPSG:4326")
    x, y = fwd.transform(lon, lat)
    lon2, lat2 = inv.transform(x, y)
    x2, y2 = fwd.transform(lon2, lat2)
    assert np.hypot(x2 - x, y2 - y).max() < 0.01
    # reference: pyproj's own TM on the EPSG VN-2000 datum (PROJ picks the EPSG shift to WGS84)
    ref = ProjectedCRS(conversion=TransverseMercatorConversion(
        latitude_natural_origin=0, longitude_natural_origin=107.75, false_easting=500000, false_northing=0,
        scale_factor_natural_origin=0.9999), geodetic_crs=CRS.from_epsg(4756))
    rx, ry = Transformer.from_crs("EPSG:4326", ref, always_xy=True).transform(lon, lat)
    assert np.hypot(rx - x, ry - y).max() <= 1.0
    assert parse_crs("VN-2000 Đà Nẵng").srs == tm3_proj(meridian) == parse_crs("980745").srs


def test_settings_default_the_metric_crs_to_the_provinces_zone() -> None:
    assert Settings(province="haiphong").metric_crs == "EPSG:9210"
    assert Settings(province="hungyen").metric_crs == "EPSG:9209"
    assert Settings(province="danang").metric_crs == tm3_proj("107-45") == province_metric_crs("quangnam")
    assert Settings(province="danang", metric_crs="EPSG:3405").metric_crs == "EPSG:3405"
    with pytest.raises(ValueError, match="unknown province 'nowhere'"):
        Settings(province="nowhere")


def test_distances_in_a_province_use_its_zone() -> None:
    """1 km east–west in Đà Nẵng measured in its own zone is 1 km within TM-3's scale (1e-4); in
    Hải Phòng's zone (2.5° away) it would be ≈ 0.75 ‰ long."""
    from pyproj import Geod

    lon0, lat0, lon1, lat1 = 108.20, 16.05, 108.2093, 16.05
    true = Geod(ellps="WGS84").inv(lon0, lat0, lon1, lat1)[2]

    def measured(crs: str) -> float:
        x, y = transformer("EPSG:4326", crs).transform([lon0, lon1], [lat0, lat1])
        return float(np.hypot(x[1] - x[0], y[1] - y[0]))

    own = measured(Settings(province="danang").metric_crs)
    assert abs(own - true) / true < 2e-4
    assert abs(measured("EPSG:9210") - true) / true > 5e-4


def test_the_zones_are_in_spatial_ref_sys(empty_db: Engine) -> None:
    with empty_db.connect() as c:
        rows = dict(c.execute(text("SELECT srid, auth_name FROM spatial_ref_sys WHERE srid IN (9210, 980745)")).all())
        assert rows[980745] == "BTSPLAN" and rows[9210].upper() == "EPSG"
        x, y = transformer("EPSG:4326", tm3_proj("107-45")).transform(108.2, 16.05)
        if empty_db.dialect.name == "postgresql":
            got = c.execute(text("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform("
                                 "ST_SetSRID(ST_MakePoint(108.2, 16.05), 4326), 980745) AS g) t")).one()
        else:  # SpatiaLite 5 asks PROJ for "auth:srid" only: custom zones go by their PROJ definition
            got = c.execute(text("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(MakePoint(108.2, 16.05, 4326), "
                                 "980745, NULL, 'EPSG:4326', :p) AS g)"), {"p": tm3_proj("107-45")}).one()
        assert np.hypot(got[0] - x, got[1] - y) < 0.01


# ---------------------------------------------------------------------------------------------
# the province outline from imported boundaries
# ---------------------------------------------------------------------------------------------


def test_real_hai_phong_boundaries_make_the_outline(empty_db: Engine) -> None:
    before = province_area(empty_db, "haiphong")
    assert not before.from_boundaries and before.contains([106.30], [20.95])[0], "former Hải Dương: registry box"
    res = import_file(empty_db, "admin", SHARED_DATA / "hai_phong_province_dvhcvn.geojson",
                      ImportOptions(level="province"))
    assert res.committed, [e.line() for e in res.log.sorted()[:5]]
    area = province_area(empty_db, "haiphong")
    assert area.from_boundaries
    inside = area.contains([106.6822, 107.05, 107.73], [20.8577, 20.78, 20.13])  # centre, Cát Bà, Bạch Long Vĩ
    assert inside.all()
    assert not area.contains([106.30, 105.85], [20.95, 21.03]).any()  # Hải Dương city, Hà Nội: pre-reform outline


# ---------------------------------------------------------------------------------------------
# a province never seen before, from scratch
# ---------------------------------------------------------------------------------------------

DANANG_DISTRICTS = {  # made-up squares near Đà Nẵng (lon0, lat0, size in degrees)
    "490": ("Quận Hải Châu", 108.18, 16.00, 0.06),
    "491": ("Quận Thanh Khê", 108.12, 16.00, 0.06),
}


def _danang_admin(path: Path) -> Path:
    feats = []
    for code, (name, x0, y0, d) in DANANG_DISTRICTS.items():
        ring = [[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]
        feats.append({"type": "Feature", "properties": {"level1_id": "48", "level2_id": code, "name": name},
                      "geometry": {"type": "MultiPolygon", "coordinates": [[ring]]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return path


def test_a_new_province_is_set_up_from_scratch(empty_db: Engine, tmp_path: Path) -> None:
    s = Settings(database_url="sqlite://", province="danang")
    opts = dict(province=s.province, metric_crs=s.metric_crs)
    with empty_db.begin() as c:
        c.execute(m.Operator.__table__.insert(), [{"code": "VTL", "name": "Viettel"}])
    res = import_file(empty_db, "admin", _danang_admin(tmp_path / "dn.geojson"), ImportOptions(level="district", **opts))
    assert res.committed and res.inserted == 2, [e.line() for e in res.log.sorted()[:5]]
    # sites in Đà Nẵng's own TM-3 zone (107°45', no EPSG code), surveyors' X = northing
    lon = np.array([108.20, 108.21, 108.15, 108.16, 106.68])  # the last one is in Hải Phòng
    lat = np.array([16.03, 16.031, 16.02, 16.05, 20.86])
    east, north = transformer("EPSG:4326", s.metric_crs).transform(lon, lat)
    csv = tmp_path / "sites.csv"
    pd.DataFrame({"code": [f"DN-{i}" for i in range(5)], "operator": "VTL", "X": np.round(north, 3),
                  "Y": np.round(east, 3)}).to_csv(csv, index=False)
    res = import_file(empty_db, "sites", csv, ImportOptions(skip_bad_rows=True, **opts))
    assert res.committed and res.inserted == 4 and res.rejected == 1
    assert "107-45" in res.crs
    assert "outside Đà Nẵng" in res.log.errors[0].message
    with empty_db.connect() as c:
        placed = dict(c.execute(text("SELECT code, district_code FROM sites ORDER BY code")).all())
    assert placed == {"DN-0": "490", "DN-1": "490", "DN-2": "491", "DN-3": "491"}
    run_checks(empty_db, pack_for_province(s.province), list(CHECK_NAMES), metric_crs=s.metric_crs)
    authority = "Sở Khoa học và Công nghệ thành phố Đà Nẵng"
    client = TestClient(make_app(empty_db, province="danang", authority=authority))
    assert client.get("/tiles/sites/tilejson.json").json()["attribution"] == f"btsplan — {authority}"
    t = morecantile.tms.get("WebMercatorQuad").tile(108.20, 16.03, 14)
    r = client.get(f"/tiles/sites/{t.z}/{t.x}/{t.y}.mvt")
    assert r.status_code == 200 and r.content
    items = client.get("/collections/sites/items", params={"limit": 10}).json()
    assert items["numberMatched"] == 4
