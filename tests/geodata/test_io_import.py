"""Imports on both backends: every input format, CRS and axis conventions, conflicts, one transaction,
audit and data version, streaming bulk path, and the real Hải Phòng boundaries."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, func, select, text

from geodata.io import import_store
from geodata.store import models as m
from geodata.crs import transformer
from geodata.io.importer import ImportOptions, import_file
from tests.conftest import SHARED_DATA
from tests.geodata.io_helpers import SITES, checksums, cp1258, sites_gdf, write_vector


def _sites(engine: Engine, prefix: str = "T-") -> dict[str, dict]:
    t = m.Site.__table__
    with engine.connect() as c:
        rows = c.execute(select(t, func.ST_X(t.c.geom).label("lon"), func.ST_Y(t.c.geom).label("lat"))
                         .where(t.c.code.like(prefix + "%")).order_by(t.c.code)).mappings().all()
    return {r["code"]: dict(r) for r in rows}


def _meta(engine: Engine, key: str):  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.execute(select(m.Meta.value).where(m.Meta.key == key)).scalar()


def _check_sites(engine: Engine) -> None:
    got = _sites(engine)
    assert list(got) == ["T-001", "T-002", "T-003"]
    assert got["T-001"]["operator"] == "VTL" and got["T-002"]["operator"] == "MBF" and got["T-003"]["operator"] == "VNP"
    assert got["T-002"]["declared_class"] == "A1a" and got["T-002"]["mount"] == "building"
    assert got["T-001"]["mast_height_m"] == pytest.approx(45.5) and got["T-001"]["mount"] == "ground"
    assert got["T-001"]["name"] in ("Trạm Lê Chân", None)  # KML files carry no site name here
    for code, lon, lat in zip(SITES["Mã trạm"], SITES["Kinh độ"], SITES["Vĩ độ"], strict=True):
        r = got[code]
        assert r["lon"] == pytest.approx(lon, abs=5e-8) and r["lat"] == pytest.approx(lat, abs=5e-8)  # ≤ 5 mm
        x, y = transformer("EPSG:4326", "EPSG:9210").transform(lon, lat)
        assert r["x_m"] == pytest.approx(x, abs=0.005) and r["y_m"] == pytest.approx(y, abs=0.005)
        assert r["commune_code"] is not None and r["district_code"] is not None


def _write(fmt: str, tmp: Path) -> Path:
    if fmt == "csv_cp1258":
        p = tmp / "tram.csv"
        p.write_bytes(cp1258(SITES.to_csv(index=False, sep=";", decimal=",")))
    elif fmt == "csv_bom":
        p = tmp / "tram.csv"
        p.write_text(SITES.to_csv(index=False), encoding="utf-8-sig")
    elif fmt == "xlsx":
        p = tmp / "tram.xlsx"
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["DANH SÁCH TRẠM BTS"])
        ws.append(list(SITES.columns))
        for r in SITES.itertuples(index=False):
            ws.append(list(r))
        wb.save(p)
    elif fmt == "geojson":
        p = write_vector(sites_gdf(), tmp / "tram.geojson", "GeoJSON")
    elif fmt == "gpkg":
        p = write_vector(sites_gdf().to_crs("EPSG:9210"), tmp / "tram.gpkg", "GPKG")
    elif fmt in ("shp_zip", "shp_dir"):
        d = tmp / "shp"
        d.mkdir()
        write_vector(sites_gdf().to_crs("EPSG:9210"), d / "tram.shp", "ESRI Shapefile", encoding="UTF-8")
        if fmt == "shp_dir":
            return d
        p = tmp / "tram.zip"
        with zipfile.ZipFile(p, "w") as z:
            for f in d.iterdir():
                z.write(f, f.name)
    elif fmt in ("kml", "kmz"):
        # Google Earth style: the placemark label is the site code (the site name would clash with it)
        g = sites_gdf().drop(columns=["name"]).rename(columns={"code": "Name"})
        p = write_vector(g, tmp / "tram.kml", "KML")
        if fmt == "kmz":
            k = tmp / "tram.kmz"
            with zipfile.ZipFile(k, "w") as z:
                z.write(p, "doc.kml")
            p = k
    else:
        raise AssertionError(fmt)
    return p


@pytest.mark.parametrize("fmt", ["csv_cp1258", "csv_bom", "xlsx", "geojson", "gpkg", "shp_zip", "shp_dir", "kml", "kmz"])
def test_import_every_format(demo_db: Engine, tmp_path: Path, fmt: str) -> None:
    path = _write(fmt, tmp_path)
    version = _meta(demo_db, "data_version")
    res = import_file(demo_db, "sites", path, ImportOptions())
    assert res.committed, [e.line() for e in res.log.sorted()]
    assert res.inserted == 3 and res.log.n_errors == 0
    _check_sites(demo_db)
    assert _meta(demo_db, "data_version") == version + 1
    with demo_db.connect() as c:
        a = c.execute(select(m.AuditLog).where(m.AuditLog.action == "import")).mappings().all()
    assert len(a) == 1 and a[0]["entity"] == "sites" and a[0]["after"]["inserted"] == 3


def test_vn2000_xy_table_with_surveyors_convention(demo_db: Engine, tmp_path: Path) -> None:
    x, y = transformer("EPSG:4326", "EPSG:9210").transform(SITES["Kinh độ"].to_numpy(), SITES["Vĩ độ"].to_numpy())
    df = SITES.drop(columns=["Kinh độ", "Vĩ độ"]).assign(**{"Tọa độ X": np.round(y, 3), "Tọa độ Y": np.round(x, 3)})
    p = tmp_path / "xy.csv"
    df.to_csv(p, index=False)
    res = import_file(demo_db, "sites", p, ImportOptions(crs="VN2000 TM3 105°45'"))
    assert res.committed and res.convention and "X = northing" in res.convention
    got = _sites(demo_db)
    assert got["T-001"]["lon"] == pytest.approx(106.68, abs=1e-7)
    # the same table with GIS columns (X = easting) is detected and said so
    p2 = tmp_path / "xy2.csv"
    df.assign(**{"Tọa độ X": np.round(x, 3), "Tọa độ Y": np.round(y, 3)}, **{"Mã trạm": ["U-1", "U-2", "U-3"]}).to_csv(p2, index=False)
    res2 = import_file(demo_db, "sites", p2, ImportOptions())
    assert res2.committed and "GIS convention" in (res2.convention or "")


def test_one_row_with_swapped_xy_is_reported(demo_db: Engine, tmp_path: Path) -> None:
    x, y = transformer("EPSG:4326", "EPSG:9210").transform(SITES["Kinh độ"].to_numpy(), SITES["Vĩ độ"].to_numpy())
    xs, ys = np.round(y, 3), np.round(x, 3)
    xs[1], ys[1] = ys[1], xs[1]
    p = tmp_path / "xy.csv"
    SITES.drop(columns=["Kinh độ", "Vĩ độ"]).assign(X=xs, Y=ys).to_csv(p, index=False)
    before = checksums(demo_db)
    res = import_file(demo_db, "sites", p, ImportOptions(crs="VN-2000 Hải Phòng"))
    assert not res.committed
    [err] = res.log.errors
    assert err.row == 3 and "X/Y swapped" in err.message
    assert checksums(demo_db) == before


def test_degrees_under_a_metric_crs_and_metres_under_degrees(demo_db: Engine, tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    SITES.to_csv(p, index=False)
    res = import_file(demo_db, "sites", p, ImportOptions(crs="EPSG:9210"))
    assert not res.committed and "metres but the file has lon/lat" in res.log.errors[0].message
    x, y = transformer("EPSG:4326", "EPSG:9210").transform(SITES["Kinh độ"].to_numpy(), SITES["Vĩ độ"].to_numpy())
    p2 = tmp_path / "m.csv"
    SITES.assign(**{"Kinh độ": x, "Vĩ độ": y}).to_csv(p2, index=False)
    res2 = import_file(demo_db, "sites", p2, ImportOptions())
    assert not res2.committed and res2.log.n_errors == 3
    assert all("looks like metres" in e.message for e in res2.log.errors)


def test_conflicts_error_skip_update(demo_db: Engine, tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    SITES.to_csv(p, index=False)
    assert import_file(demo_db, "sites", p).committed
    before = checksums(demo_db)
    res = import_file(demo_db, "sites", p)
    assert not res.committed and res.log.n_errors == 3 and "already in the database" in res.log.errors[0].message
    assert checksums(demo_db) == before
    res = import_file(demo_db, "sites", p, ImportOptions(on_conflict="skip"))
    assert res.committed and res.skipped == 3 and res.inserted == 0
    changed = SITES.assign(**{"Độ cao cột (m)": [50.0, 2.8, 13.0]})
    changed.to_csv(p, index=False)
    with demo_db.begin() as c:
        c.execute(text("UPDATE sites SET derived_class = 'A2b' WHERE code = 'T-001'"))
    res = import_file(demo_db, "sites", p, ImportOptions(on_conflict="update"))
    assert res.committed and res.updated == 3
    got = _sites(demo_db)
    assert got["T-001"]["mast_height_m"] == pytest.approx(50.0)
    assert got["T-001"]["derived_class"] is None  # a classifier input changed: the old class is stale
    assert got["T-001"]["name"] == "Trạm Lê Chân"


def test_skip_bad_rows_imports_the_good_ones_and_reports_the_rest(demo_db: Engine, tmp_path: Path) -> None:
    df = SITES.astype({"Độ cao cột (m)": object})
    df.loc[1, "Độ cao cột (m)"] = "abc"
    p = tmp_path / "s.csv"
    df.to_csv(p, index=False)
    out = tmp_path / "errors.csv"
    res = import_file(demo_db, "sites", p, ImportOptions(skip_bad_rows=True))
    assert res.committed and res.inserted == 2 and res.rejected == 1
    res.log.to_csv(out)
    report = out.read_bytes()
    assert report.startswith(b"\xef\xbb\xbf")
    rows = pd.read_csv(out, encoding="utf-8-sig")
    assert rows.iloc[0].to_dict() == {"row": 3, "field": "mast_height_m", "value": "abc", "message": "not a number",
                                      "severity": "error"}


def test_unknown_operator_and_operator_option(demo_db: Engine, tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    SITES.drop(columns=["Nhà mạng"]).to_csv(p, index=False)
    res = import_file(demo_db, "sites", p)
    assert not res.committed and "missing column" in res.log.errors[0].message
    res = import_file(demo_db, "sites", p, ImportOptions(operator="Vietnamobile"))
    assert res.committed and {r["operator"] for r in _sites(demo_db).values()} == {"VNM"}
    p2 = tmp_path / "s2.csv"
    SITES.assign(**{"Mã trạm": ["V-1", "V-2", "V-3"], "Nhà mạng": ["VTL", "Gmobile", "VTL"]}).to_csv(p2, index=False)
    res = import_file(demo_db, "sites", p2)
    assert not res.committed and res.log.errors[0].row == 3 and res.log.errors[0].field == "operator"


def test_dry_run_writes_nothing(demo_db: Engine, tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    SITES.to_csv(p, index=False)
    before = checksums(demo_db)
    res = import_file(demo_db, "sites", p, ImportOptions(dry_run=True))
    assert not res.committed and not res.failed and res.valid == 3
    assert checksums(demo_db) == before


def test_streaming_bulk_path_commits_and_rolls_back(demo_db: Engine, backend: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The PostGIS bulk path (COPY while validating) gives the same all-or-nothing result; on SpatiaLite
    the same files go through validate-then-write."""
    monkeypatch.setattr(import_store, "BULK_MIN_ROWS", 50)
    rng = np.random.default_rng(3)
    n = 240
    df = pd.DataFrame({"code": [f"B-{i:04d}" for i in range(n)], "operator": "VTL",
                       "lon": 106.68 + rng.uniform(-0.01, 0.01, n), "lat": 20.855 + rng.uniform(-0.01, 0.01, n),
                       "mast_height_m": 30.0})
    bad = df.astype({"lat": object})
    bad.loc[230, "lat"] = "x"
    p = tmp_path / "bad.csv"
    bad.to_csv(p, index=False)
    before = checksums(demo_db)
    res = import_file(demo_db, "sites", p, ImportOptions(batch_size=50))
    assert not res.committed and res.log.errors[0].row == 232
    assert checksums(demo_db) == before
    good = tmp_path / "good.csv"
    df.to_csv(good, index=False)
    res = import_file(demo_db, "sites", good, ImportOptions(batch_size=50))
    assert res.committed and res.inserted == n
    assert len(_sites(demo_db, "B-")) == n
    with demo_db.connect() as c:  # indexes dropped for the bulk load are all back
        if backend == "postgis":
            names = set(c.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'sites'")).scalars())
            assert {"sites_code_key", "idx_sites_geom", "ix_sites_operator"} <= names
    res = import_file(demo_db, "sites", good, ImportOptions(batch_size=50, on_conflict="update"))
    assert res.committed and res.updated == n


def test_real_boundaries_admin_import_and_site_assignment(empty_db: Engine, tmp_path: Path) -> None:
    """The 15 real districts (dvhcvn, pre-2025) import as admin units; sites land in the right one."""
    with empty_db.begin() as c:
        c.execute(m.Operator.__table__.insert(), [{"code": "VTL", "name": "Viettel"}])
    src = SHARED_DATA / "hai_phong_districts_dvhcvn.geojson"
    res = import_file(empty_db, "admin", src, ImportOptions(valid_to=dt.date(2025, 6, 30)))
    assert res.committed, [e.line() for e in res.log.sorted()[:5]]
    assert res.inserted == 15
    with empty_db.connect() as c:
        units = {r.code: r for r in c.execute(select(m.AdminUnit.code, m.AdminUnit.name, m.AdminUnit.level,
                                                     m.AdminUnit.parent_code, m.AdminUnit.urban,
                                                     m.AdminUnit.valid_to))}
    assert units["305"].name.endswith("Lê Chân") and units["305"].level == "district"
    assert units["305"].parent_code == "31" and units["305"].urban and units["305"].valid_to == dt.date(2025, 6, 30)
    # one site at the centroid of each urban district's polygon (representative point: always inside)
    gj = json.loads(src.read_text(encoding="utf-8"))
    pts = {f["properties"]["level2_id"]: shapely.geometry.shape(f["geometry"]).representative_point()
           for f in gj["features"]}
    df = pd.DataFrame({"code": [f"R-{k}" for k in pts], "operator": "VTL", "lon": [p.x for p in pts.values()],
                       "lat": [p.y for p in pts.values()]})
    sea = pd.DataFrame({"code": ["R-sea"], "operator": "VTL", "lon": [107.2], "lat": [20.75]})
    p = tmp_path / "r.csv"
    pd.concat([df, sea]).to_csv(p, index=False)
    res = import_file(empty_db, "sites", p, ImportOptions(skip_bad_rows=True))
    assert res.committed and res.inserted == 15 and res.rejected == 1
    # the sea point is outside the outline of the imported boundaries (no longer a bounding box)
    assert res.log.errors[0].row == 17 and "outside Hải Phòng" in res.log.errors[0].message
    got = _sites(empty_db, "R-")
    assert all(got[f"R-{k}"]["district_code"] == k for k in pts)
    # the same boundaries again: conflicts on (code, valid_from)
    res = import_file(empty_db, "admin", src)
    assert not res.committed and res.log.n_errors == 15


def test_zones_routes_cables(demo_db: Engine, tmp_path: Path) -> None:
    import geopandas as gpd

    zones = gpd.GeoDataFrame({"Tên khu vực": ["Nhà hát lớn", "Quảng trường"], "loai": ["theatre", "square"],
                              "ban_kinh": [150.0, None], "chinh_sach": ["Chỉ A1", "a1_only"]},
                             geometry=[shapely.Point(106.6822, 20.8577),
                                       shapely.box(106.675, 20.855, 106.680, 20.858)], crs="EPSG:4326")
    zp = write_vector(zones, tmp_path / "zones.geojson", "GeoJSON")
    res = import_file(demo_db, "zones", zp)
    assert res.committed and res.inserted == 2, [e.line() for e in res.log.sorted()]
    routes = gpd.GeoDataFrame({"ten_duong": ["Trần Phú mới"], "hanh_lang": [25]},
                              geometry=[shapely.LineString([(106.676, 20.858), (106.690, 20.860)])], crs="EPSG:4326")
    rp = write_vector(routes.to_crs("EPSG:9210"), tmp_path / "routes.gpkg", "GPKG")
    res = import_file(demo_db, "routes", rp)
    assert res.committed and res.inserted == 1
    cables = gpd.GeoDataFrame({"ma_tuyen": ["C-1"], "ten_duong": ["Lạch Tray"], "trang_thai": ["Đang thực hiện"],
                               "nha_mang": ["VTL;MBF"], "nam": [2026]},
                              geometry=[shapely.LineString([(106.676, 20.858), (106.690, 20.860)])], crs="EPSG:4326")
    cp = write_vector(cables, tmp_path / "cables.geojson", "GeoJSON")
    # issue 16: no method column is a row error (it used to default to underground), unless --method says it
    res = import_file(demo_db, "cables", cp)
    assert not res.committed and [e.field for e in res.log.errors] == ["method"]
    res = import_file(demo_db, "cables", cp, ImportOptions(method="chinh_trang"))
    assert res.committed and res.inserted == 1, [e.line() for e in res.log.sorted()]
    with demo_db.connect() as c:
        z = c.execute(select(m.Zone.name, m.Zone.kind, m.Zone.radius_m, m.Zone.policy)
                      .where(m.Zone.name == "Nhà hát lớn")).one()
        r = c.execute(select(m.Route.corridor_m, m.Route.district_code).where(m.Route.name == "Trần Phú mới")).one()
        s = c.execute(select(m.CableSegment.status, m.CableSegment.operators, m.CableSegment.length_m,
                             m.CableSegment.district_code, m.CableSegment.method)
                      .where(m.CableSegment.code == "C-1")).one()
    assert z.kind == "theatre" and z.radius_m == 150.0 and z.policy == "a1_only"
    assert r.corridor_m == 25 and r.district_code is not None
    expected = shapely.length(shapely.transform(
        cables.geometry.iloc[0], lambda xy: np.column_stack(transformer("EPSG:4326", "EPSG:9210").transform(xy[:, 0], xy[:, 1]))))
    assert s.status == "in_progress" and s.operators == ["VTL", "MBF"] and s.length_m == pytest.approx(expected, abs=0.01)
    assert s.district_code is not None and s.method == "chinh_trang"


@pytest.mark.parametrize(("written", "method"), [
    ("Chỉnh trang", "chinh_trang"), ("đưa cáp vào gông", "chinh_trang"), ("Hạ ngầm", "ha_ngam"),
    ("ngầm hóa", "ha_ngam"), ("Chỉnh trang, ngầm hóa cáp", "chinh_trang_ha_ngam"),
    ("underground", "ha_ngam"), ("bracketed", "chinh_trang"),  # the words of earlier releases stay readable
])
def test_cable_methods_as_the_plans_write_them(demo_db: Engine, tmp_path: Path, written: str, method: str) -> None:
    import geopandas as gpd

    cables = gpd.GeoDataFrame({"ma_tuyen": ["M-1", "M-2"], "ten_duong": ["Lạch Tray", "Tô Hiệu"],
                               "phuong_an": [written, None]},
                              geometry=[shapely.LineString([(106.676, 20.858), (106.690, 20.860)])] * 2, crs="EPSG:4326")
    cp = write_vector(cables, tmp_path / "cables.geojson", "GeoJSON")
    res = import_file(demo_db, "cables", cp)
    # the row without a method is an error of its own, never a silent default
    assert not res.committed and [e.field for e in res.log.errors] == ["method"]
    res = import_file(demo_db, "cables", cp, ImportOptions(method="ha_ngam"))
    assert res.committed, [e.line() for e in res.log.sorted()]
    with demo_db.connect() as c:
        got = dict(c.execute(select(m.CableSegment.code, m.CableSegment.method)
                             .where(m.CableSegment.code.in_(["M-1", "M-2"]))).all())
    assert got == {"M-1": method, "M-2": "ha_ngam"}  # --method fills only the rows that give none


def test_a_district_named_in_the_file_is_stored_as_its_code(demo_db: Engine, tmp_path: Path) -> None:
    """Files often name the district ("Quận Lê Chân", "le chan") where the table keeps its code: the
    importer resolves it by the rule every unit filter uses; a name it does not know stays as written."""
    import geopandas as gpd

    line = shapely.LineString([(106.676, 20.858), (106.690, 20.860)])
    names = ["Tuyến thử A", "Tuyến thử B", "Tuyến thử C", "Tuyến thử D"]
    routes = gpd.GeoDataFrame({"ten_duong": names,
                               "quan_huyen": ["Quận Lê Chân", "le  chan", "303", "Atlantis"]},
                              geometry=[line] * 4, crs="EPSG:4326")
    res = import_file(demo_db, "routes", write_vector(routes, tmp_path / "routes.geojson", "GeoJSON"))
    assert res.committed and res.inserted == 4, [e.line() for e in res.log.sorted()]
    with demo_db.connect() as c:
        got = dict(c.execute(select(m.Route.name, m.Route.district_code).where(m.Route.name.in_(names))).all())
    assert got == dict(zip(names, ["305", "305", "303", "Atlantis"], strict=True))


def test_columns_not_read_are_listed_with_why(demo_db: Engine, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A sites file with a district column (derived from the location, so not read), an unknown column
    and one ignored with ``--map``: the summary (what the CLI prints and an HTTP answer returns) lists
    each with why, and the district stored is the one the point lies in, not what the file says."""
    from typer.testing import CliRunner

    from app.cli import cli
    from geodata.settings import get_settings
    from tests.conftest import db_url

    p = tmp_path / "tram.csv"
    SITES.assign(**{"Quận/huyện": ["Quận Hồng Bàng"] * 3, "Ghi chú": ["x"] * 3,
                    "Số hộ": [1, 2, 3]}).to_csv(p, index=False)
    res = import_file(demo_db, "sites", p, ImportOptions(dry_run=True, mapping={"Số hộ": "ignore"}))
    got = {c["column"]: c for c in res.summary()["ignored_columns"]}
    assert set(got) == {"Quận/huyện", "Ghi chú", "Số hộ"}
    assert got["Quận/huyện"]["reason"] == "units derived from location"
    assert "derived from each site's location" in got["Quận/huyện"]["message"]
    assert got["Ghi chú"]["reason"] == "unknown" and "--map" in got["Ghi chú"]["message"]
    assert got["Số hộ"]["reason"] == "asked"
    assert json.loads(json.dumps(res.summary()))["ignored_columns"] == res.summary()["ignored_columns"]

    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli, ["import", "sites", str(p)])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "'Quận/huyện' not read: the district and commune are derived from each site's location" in out
    assert "'Ghi chú' unknown column, not imported" in out
    # T-001 lies in Lê Chân (305) although the file says Hồng Bàng
    assert _sites(demo_db)["T-001"]["district_code"] == "305"
