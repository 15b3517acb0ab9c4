"""``GET /stats/sites`` gives the CLI's numbers and CSV, on both backends."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from geodata.store import models as m
from geodata.store.meta import bump_data_version
from tests.app.live import ROOT, make_app
from tests.conftest import db_url


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db))


def _cli(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BTSPLAN_DATABASE_URL": db_url(engine)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_json_and_csv_match_the_cli(client: TestClient, demo_db: Engine, tmp_path: Path) -> None:
    for by in ("district,type", "commune,type"):
        api = client.get("/stats/sites", params={"by": by, "as_of": "2024-01-01"})
        assert api.status_code == 200
        out = tmp_path / "s.json"
        r = _cli(demo_db, "stats", "sites", "--by", by, "--as-of", "2024-01-01", "--format", "json", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert api.json() == json.loads(out.read_text(encoding="utf-8"))
        csv_api = client.get("/stats/sites", params={"by": by, "as_of": "2024-01-01", "format": "csv"})
        out_csv = tmp_path / "s.csv"
        r = _cli(demo_db, "stats", "sites", "--by", by, "--as-of", "2024-01-01", "--format", "csv",
                 "--out", str(out_csv))
        assert r.returncode == 0, r.stderr
        assert csv_api.content == out_csv.read_bytes()
        assert csv_api.headers["content-disposition"].startswith(
            f'attachment; filename="sites-by-{by.split(",")[0]}-class-2024-01-01.csv"')


def test_counts_add_up_and_follow_the_data(client: TestClient, demo_db: Engine) -> None:
    body = client.get("/stats/sites?as_of=2024-01-01").json()
    assert body["by"] == ["district", "type"] and body["as_of"] == "2024-01-01"
    with demo_db.connect() as c:
        n = c.execute(select(func.count()).select_from(m.Site).where(m.Site.status.in_(("built", "planned")))).scalar()
    assert body["totals"]["total"] == n == sum(r["total"] for r in body["rows"])
    for r in body["rows"]:
        assert r["total"] == sum(r[k] for k in ("A1a", "A1b", "A2a", "A2b", "A2c", "unknown"))
    with demo_db.begin() as c:
        c.execute(update(m.Site).where(m.Site.id <= 10).values(status="removed"))
        bump_data_version(c)
    after = client.get("/stats/sites?as_of=2024-01-01").json()
    assert after["totals"]["total"] == n - 10
    # no district is valid after the 2025 reform: the report says which day it counted
    late = client.get("/stats/sites").json()
    assert late["as_of"] == "2025-06-30" and "note" in late


def test_xlsx_and_bad_parameters(client: TestClient) -> None:
    x = client.get("/stats/sites?by=commune,type&format=xlsx&as_of=2024-01-01&lang=vi")
    assert x.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    # the workbook is now the table the department issues (issue 16): the authority header above it,
    # Vietnamese labels over field names, units by name, then "Tổng" and "Tỷ lệ (%)"
    assert rows[0][0] == "UBND THÀNH PHỐ HẢI PHÒNG" and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in rows[0]
    h = next(i for i, r in enumerate(rows) if r and r[0] == "no")
    assert list(rows[h][:3]) == ["no", "district", "commune"] and rows[h][-1] == "total"
    assert rows[h - 1][2] == "Xã/phường/đặc khu"
    assert rows[-2][1] == "Tổng" and rows[-1][1] == "Tỷ lệ (%)"
    data = [r for r in rows[h + 1:-2]]
    assert sum(r[-1] for r in data) == rows[-2][-1] > 0
    pdf = client.get("/stats/sites?by=commune,type&format=pdf&as_of=2024-01-01")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # pdf is a format now (issue 16): docx stands in as the format the table is not issued in
    for bad in ("by=province,type", "by=district,colour", "as_of=yesterday", "format=docx"):
        r = client.get(f"/stats/sites?{bad}")
        assert r.status_code == 422, bad
        assert r.headers["content-type"].startswith("application/problem+json")


def test_after_the_reform_the_table_groups_by_the_new_communes(client: TestClient) -> None:
    """Issue 15: on 2025-12-31 the rows are the communes in force then (the demo's new units), and
    both dates count the same sites; the map is told the demo's boundaries are illustrative."""
    old = client.get("/stats/sites", params={"by": "district,type", "as_of": "2025-06-30"}).json()
    new = client.get("/stats/sites", params={"by": "commune,type", "as_of": "2025-12-31"}).json()
    assert new["totals"]["total"] == old["totals"]["total"] > 0
    codes = {r["commune_code"] for r in new["rows"] if r["commune_code"]}
    assert len(codes) > 5 and all(r["district_code"] is None for r in new["rows"])
    assert client.get("/map/about").json() == {"demo": True, "illustrative": True}
