"""``GET /exports/sites.{csv,xlsx,geojson,gpkg,kml,shp.zip}``: filters, file names, every format readable,
on both backends."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from geodata.store import models as m
from tests.app.live import make_app

FORMATS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3",
           "kml": "application/vnd.google-earth.kml+xml", "shp.zip": "application/zip"}


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db))


def _count(engine: Engine, *where: object) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(m.Site).where(*where)).scalar() or 0)


def _rows(fmt: str, content: bytes, tmp: Path) -> int:
    """Number of features in a downloaded file, read back with the format's own reader."""
    if fmt == "csv":
        assert content.startswith(b"\xef\xbb\xbf")
        return len(list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))) - 1
    if fmt == "xlsx":
        ws = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
        rows = list(ws.iter_rows(values_only=True))
        header = next(i for i, r in enumerate(rows) if r and r[0] == "code")
        return len(rows) - header - 1
    if fmt == "geojson":
        return len(json.loads(content)["features"])
    if fmt == "kml":
        return content.count(b"<Placemark")
    path = tmp / ("x.gpkg" if fmt == "gpkg" else "x.zip")
    path.write_bytes(content)
    if fmt == "shp.zip":
        names = zipfile.ZipFile(path).namelist()
        assert {"sites.shp", "sites.dbf", "sites.prj", "sites.cpg"} <= set(names)
        return len(pyogrio.read_dataframe(f"/vsizip/{path}/sites.shp"))
    return len(pyogrio.read_dataframe(path))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_downloads_the_filtered_sites(client: TestClient, demo_db: Engine, fmt: str,
                                                   tmp_path: Path) -> None:
    expected = _count(demo_db, m.Site.district_code == "305", m.Site.operator == "VTL")
    r = client.get(f"/exports/sites.{fmt}", params={"district": "Lê Chân", "operator": "VTL"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FORMATS[fmt])
    disp = r.headers["content-disposition"]
    assert disp.startswith('attachment; filename="sites-le-chan-vtl-') and f'.{fmt}"' in disp
    assert "content-length" not in r.headers  # streamed
    assert _rows(fmt, r.content, tmp_path) == expected > 0


def test_filters_combine_and_accept_lists(client: TestClient, demo_db: Engine) -> None:
    all_rows = _rows("csv", client.get("/exports/sites.csv").content, Path("."))
    assert all_rows == _count(demo_db)
    cls = func.coalesce(m.Site.derived_class, m.Site.declared_class)
    n = _count(demo_db, cls.in_(("A2a", "A2b")), m.Site.status == "built")
    both = client.get("/exports/sites.csv?type=A2a,A2b&status=built")
    assert _rows("csv", both.content, Path(".")) == n
    repeated = client.get("/exports/sites.csv?type=A2a&type=A2b&status=built")
    assert repeated.content == both.content
    districts = _count(demo_db, m.Site.district_code.in_(("303", "305")))
    by_code_and_name = client.get("/exports/sites.csv", params=[("district", "303"), ("district", "le chan")])
    assert _rows("csv", by_code_and_name.content, Path(".")) == districts
    header = next(csv.reader(io.StringIO(both.content.decode("utf-8-sig"))))
    assert header[:2] == ["code", "operator"] and {"lon", "lat", "vn2000_x", "vn2000_y"} <= set(header)


def test_bad_requests_name_the_problem(client: TestClient) -> None:
    for url, status, field in (("/exports/sites.csv?district=Atlantis", 422, "district"),
                               ("/exports/sites.csv?type=A9", 422, "type"),
                               ("/exports/sites.csv?status=demolished", 422, "status"),
                               ("/exports/sites.csv?colour=red", 422, "colour"),
                               ("/exports/sites.pdf", 404, None), ("/exports/towers.csv", 404, None)):
        r = client.get(url)
        assert r.status_code == status, url
        assert r.headers["content-type"].startswith("application/problem+json")
        if field:
            assert r.json()["field"] == field, url


def test_findings_and_cables_export_too(client: TestClient, demo_db: Engine) -> None:
    with demo_db.connect() as c:
        n_cables = c.execute(select(func.count()).select_from(m.CableSegment).where(
            m.CableSegment.district_code == "305")).scalar()
    r = client.get("/exports/cables.geojson?district=305")
    assert r.status_code == 200 and len(r.json()["features"]) == n_cables
    assert client.get("/exports/findings.csv").status_code == 200


def test_file_names_fold_names_like_every_filter() -> None:
    from app.downloads import ascii_slug

    assert ascii_slug("Lê  Chân") == ascii_slug("le chan") == ascii_slug("LE CHAN") == "le-chan"
    assert ascii_slug("Quận Đồ Sơn / 2026") == "quan-do-son-2026" and ascii_slug("???") == "file"
