"""Exports on both backends: six formats that GDAL (ogrinfo) and openpyxl open, filters, streaming
for HTTP, and the round trip export → re-import giving the same sites within 0.01 m."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, delete, func, select, text

from geodata.store import models as m
from geodata.io import writers
from geodata.crs import transformer
from geodata.io.exports import ExportError, ExportFilter, layer_from_frame, open_export
from geodata.io.importer import ImportOptions, import_file
from planning import i18n
from tests.conftest import plant_findings

FORMATS = list(writers.FORMATS)


def _ogrinfo(path: Path) -> str:
    r = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_opens_in_gdal(demo_db: Engine, tmp_path: Path, fmt: str) -> None:
    layer = open_export(demo_db, "sites")
    path = writers.write(layer, fmt, tmp_path / f"sites.{fmt}")
    assert path is not None and path.exists()
    info = _ogrinfo(path)
    # GDAL's XLSX driver sees no header in the title row, so title, labels and field names are rows too
    assert f"Feature Count: {1003 if fmt == 'xlsx' else 1000}" in info
    if fmt != "csv" and fmt != "xlsx":
        assert pyogrio.read_info(path)["features"] == 1000


def test_csv_has_bom_and_vietnamese(demo_db: Engine, tmp_path: Path) -> None:
    path = writers.write(open_export(demo_db, "sites"), "csv", tmp_path / "s.csv")
    raw = path.read_bytes()
    assert raw[:3] == b"\xef\xbb\xbf"
    text_ = raw.decode("utf-8-sig")
    assert text_.splitlines()[0].startswith("code,operator,name,")
    assert "Quận Lê Chân" in text_ or "Quận Hồng Bàng" in text_
    assert "vn2000_x" in text_.splitlines()[0]


def test_xlsx_title_header_freeze_filter_widths(demo_db: Engine, tmp_path: Path) -> None:
    flt = ExportFilter(district=["Lê Chân"], type=["A2a"])
    with i18n.use_language("vi"):  # the department's default: the suite itself runs in English (tests/conftest.py)
        path = writers.write(open_export(demo_db, "sites", flt), "xlsx", tmp_path / "s.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    title = ws["A1"].value
    assert "district=Lê Chân" in title and "type=A2a" in title and "20" in title  # filter and date
    assert ws["A2"].value == "Mã trạm" and ws["A3"].value == "code"
    assert ws.freeze_panes == "B4"
    assert ws.auto_filter.ref.startswith("A3:")
    assert ws.column_dimensions["A"].width >= 15
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    header = [c.value for c in ws[3]]
    assert rows and all(r[header.index("district_code")] == "305" for r in rows)
    assert all((r[header.index("derived_class")] or r[header.index("declared_class")]) == "A2a" for r in rows)


def test_shapefile_zip_with_cpg_and_field_sidecar(demo_db: Engine, tmp_path: Path) -> None:
    with i18n.use_language("vi"):
        path = writers.write(open_export(demo_db, "sites"), "shp", tmp_path / "s.shp")
    assert path.name == "s.shp.zip"
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {"sites.shp", "sites.dbf", "sites.shx", "sites.prj", "sites.cpg", "sites_fields.csv"} <= names
        assert z.read("sites.cpg").decode().strip().upper().replace("-", "") == "UTF8"
        side = z.read("sites_fields.csv").decode("utf-8-sig").splitlines()
    assert side[0] == "short_name,field,label_vi,type"
    assert "decl_cls,declared_class,Loại cột kê khai,text" in side  # issue 16: "kê khai" for declared
    fields = pyogrio.read_info(path)["fields"]
    assert all(len(f) <= 10 for f in fields) and "decl_cls" in fields
    df = pyogrio.read_dataframe(path)
    assert df["district"].str.contains("Quận").any()  # UTF-8 text intact


def test_kml_styles_per_class(demo_db: Engine, tmp_path: Path) -> None:
    path = writers.write(open_export(demo_db, "sites"), "kml", tmp_path / "s.kml")
    kml = path.read_text(encoding="utf-8")
    for cls in ("A1a", "A1b", "A2a", "A2b", "A2c"):
        assert f'<Style id="{cls}">' in kml and f"<styleUrl>#{cls}</styleUrl>" in kml
    assert kml.count("<Placemark>") == 1000


def test_filters(demo_db: Engine) -> None:
    def count(layer: str, flt: ExportFilter) -> int:
        return sum(len(df) for df in open_export(demo_db, layer, flt).chunks())

    with demo_db.connect() as c:
        n305 = c.execute(select(func.count()).select_from(m.Site).where(m.Site.district_code == "305")).scalar()
        nvtl = c.execute(select(func.count()).select_from(m.Site).where(m.Site.operator == "VTL")).scalar()
        nplan = c.execute(select(func.count()).select_from(m.Site).where(m.Site.status == "planned")).scalar()
    assert count("sites", ExportFilter(district=["305"])) == n305
    assert count("sites", ExportFilter(district=["quận lê chân"])) == n305
    assert count("sites", ExportFilter(operator=["Viettel"])) == nvtl
    assert count("sites", ExportFilter(status=["planned"])) == nplan
    with pytest.raises(ExportError, match="no district"):
        open_export(demo_db, "sites", ExportFilter(district=["Hà Nội"]))
    with pytest.raises(ExportError, match="not a mast class"):
        open_export(demo_db, "sites", ExportFilter(type=["B3"]))
    with pytest.raises(ExportError, match="--finding applies"):
        open_export(demo_db, "sites", ExportFilter(finding=["a1-routes"]))
    n_cables = count("cables", ExportFilter(district=["Lê Chân"]))
    assert n_cables == 11  # the demo's 11 remaining routes in Lê Chân (18/KH-BCĐ)
    plant_findings(demo_db)
    assert count("findings", ExportFilter(finding=["a1-routes"])) == 1
    assert count("findings", ExportFilter(district=["305"])) == 1
    assert count("findings", ExportFilter(district=["le  chan"])) == 1, "findings filter by unit like sites"


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_same_sites_within_1cm(demo_db: Engine, tmp_path: Path, fmt: str) -> None:
    t = m.Site.__table__
    cols = (t.c.code, t.c.operator, t.c.declared_class, t.c.mount, t.c.mast_height_m, t.c.status, t.c.camouflaged,
            t.c.transmitters, t.c.max_tenants, t.c.shared_by, t.c.built_on, t.c.target_date, t.c.tech, t.c.reach_m,
            t.c.building_height_m, t.c.name, func.ST_X(t.c.geom).label("lon"), func.ST_Y(t.c.geom).label("lat"))
    with demo_db.connect() as c:
        before = {r.code: r for r in c.execute(select(*cols).order_by(t.c.code))}
    path = writers.write(open_export(demo_db, "sites"), fmt, tmp_path / f"sites.{fmt}")
    with demo_db.begin() as c:
        c.execute(delete(m.Site))
    res = import_file(demo_db, "sites", path, ImportOptions())
    assert res.committed and res.inserted == 1000, [e.line() for e in res.log.sorted()[:5]]
    with demo_db.connect() as c:
        after = {r.code: r for r in c.execute(select(*cols).order_by(t.c.code))}
    assert list(after) == list(before)
    fwd = transformer("EPSG:4326", "EPSG:9210")
    b = np.array([(r.lon, r.lat) for r in before.values()])
    a = np.array([(r.lon, r.lat) for r in after.values()])
    bx, by = fwd.transform(b[:, 0], b[:, 1])
    ax, ay = fwd.transform(a[:, 0], a[:, 1])
    assert np.hypot(ax - bx, ay - by).max() < 0.01
    for code, r in before.items():
        s = after[code]
        keys = ("operator", "declared_class", "mount", "status", "camouflaged", "transmitters", "max_tenants",
                "built_on", "target_date", "tech", "reach_m", "building_height_m", "mast_height_m")
        if fmt != "kml":  # the KML placemark label is the code; the site name travels as site_name
            keys += ("name",)
        assert {k: getattr(s, k) for k in keys} == {k: getattr(r, k) for k in keys}, code
        assert (s.shared_by or []) == (r.shared_by or [])


def test_stream_api_for_http(demo_db: Engine) -> None:
    layer = open_export(demo_db, "sites", ExportFilter(district=["303"]))
    csv_bytes = b"".join(writers.stream(layer, "csv"))
    assert csv_bytes.startswith(b"\xef\xbb\xbf")
    xlsx = b"".join(writers.stream(layer, "xlsx"))
    assert xlsx[:2] == b"PK" and openpyxl.load_workbook(io.BytesIO(xlsx)).active["A3"].value == "code"
    shp = b"".join(writers.stream(layer, "shp.zip"))
    assert zipfile.ZipFile(io.BytesIO(shp)).namelist()
    assert writers.filename(layer, "shp") == "sites.shp.zip"
    assert writers.FORMATS["geojson"].media_type == "application/geo+json"
    gj = b"".join(writers.stream(layer, "geojson"))
    assert gpd.read_file(io.BytesIO(gj)).shape[0] == csv_bytes.decode("utf-8-sig").count("\n") - 1


def test_layer_from_a_geodataframe(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"code": ["A", "B"], "distance_m": [12.5, 80.0]},
                           geometry=shapely.points([106.68, 106.69], [20.86, 20.85]), crs="EPSG:4326")
    layer = layer_from_frame("checks", gdf, title="Kết quả", class_field="code")
    for fmt in FORMATS:
        path = writers.write(layer, fmt, tmp_path / f"c.{fmt}")
        assert _ogrinfo(path)


def test_cables_export_lines(demo_db: Engine, tmp_path: Path) -> None:
    layer = open_export(demo_db, "cables", ExportFilter(status=["done"]))
    for fmt in FORMATS:
        path = writers.write(layer, fmt, tmp_path / f"cables.{fmt}")
        _ogrinfo(path)
    head = (tmp_path / "cables.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert head.endswith(",wkt")
    with demo_db.connect() as c:
        done = c.execute(text("SELECT count(*) FROM cable_segments WHERE status = 'done'")).scalar()
    assert pyogrio.read_info(tmp_path / "cables.gpkg")["features"] == done


def test_geopackage_is_version_1_2(demo_db: Engine, tmp_path: Path) -> None:
    """GDAL ≤ 3.6 and older QGIS warn on 1.4 (GDAL's default); the header says 'GPKG' 1.2.0."""
    import sqlite3

    path = writers.write(open_export(demo_db, "sites", ExportFilter(district=["Lê Chân"])), "gpkg",
                         tmp_path / "sites.gpkg")
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
    finally:
        con.close()
    assert pyogrio.read_info(path)["features"] > 0
