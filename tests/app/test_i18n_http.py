"""Language over HTTP: Vietnamese by default, English with ``?lang=en`` or ``Accept-Language: en``, for a
finding, an error problem and an export header; stored findings read in the reader's language.

The suite runs in English (tests/conftest.py), so the "default" app here is built with
``Settings(lang="vi")``, which is what production gets when nothing is configured.
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.settings import Settings
from planning import i18n
from planning.classify import mismatch_finding
from tests.app.live import make_app

#: a 35 m ground tower declared A1a: the class-mismatch finding is there whatever the zoning around it
SITE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.70, 20.80]},
        "properties": {"code": "LANG-1", "mount": "ground", "mast_height_m": 35, "camouflaged": False,
                       "declared_class": "A1a"}}


@pytest.fixture
def client(demo_db: Engine) -> TestClient:
    return TestClient(make_app(demo_db, lang="vi"))


def _mismatch(body: dict) -> dict:  # type: ignore[type-arg]
    return next(f for f in body["findings"] if f["check"] == "class-mismatch")


def test_settings_default_is_vietnamese() -> None:
    assert Settings.model_fields["lang"].default == "vi" == i18n.DEFAULT_LANGUAGE


def test_finding_message_follows_the_request_language(client: TestClient) -> None:
    vi = client.post("/checks/site", json=SITE)
    assert vi.status_code == 200, vi.text
    assert vi.headers["content-language"] == "vi" and "accept-language" in vi.headers["vary"].lower()
    assert _mismatch(vi.json())["message"].startswith("kê khai A1a, nhưng theo quy định là")
    for en in (client.post("/checks/site?lang=en", json=SITE),
               client.post("/checks/site", json=SITE, headers={"Accept-Language": "en-GB,en;q=0.8"})):
        assert en.headers["content-language"] == "en"
        assert _mismatch(en.json())["message"].startswith("declared A1a, but the rules give")
    # ?lang wins over the header
    r = client.post("/checks/site?lang=vi", json=SITE, headers={"Accept-Language": "en"})
    assert r.headers["content-language"] == "vi"


def test_problem_title_follows_the_request_language(client: TestClient) -> None:
    vi = client.get("/exports/nothing.csv")
    assert vi.status_code == 404 and vi.headers["content-language"] == "vi"
    assert vi.json()["title"] == "Không có lớp dữ liệu xuất này"
    en = client.get("/exports/nothing.csv", headers={"Accept-Language": "en"})
    assert en.json()["title"] == "Export not found"
    # a route that refuses unknown parameters never sees ?lang
    assert client.get("/exports/sites.csv?lang=en&district=305").status_code == 200


def test_export_headers_and_value_labels(client: TestClient) -> None:
    vi = client.get("/exports/sites.xlsx?district=305")
    ws = openpyxl.load_workbook(io.BytesIO(vi.content)).active
    assert ws["A2"].value == "Mã trạm" and ws["A3"].value == "code"
    header = [c.value for c in ws[3]]
    mounts = {r[header.index("mount")] for r in ws.iter_rows(min_row=4, values_only=True)}
    assert mounts <= {"trên công trình", "trên mặt đất"} and mounts
    en = client.get("/exports/sites.xlsx?district=305&lang=en")
    ws = openpyxl.load_workbook(io.BytesIO(en.content)).active
    assert ws["A2"].value == "Site code"
    assert {r[header.index("mount")] for r in ws.iter_rows(min_row=4, values_only=True)} <= {
        "on a building", "on the ground"}
    rows = list(csv.DictReader(io.StringIO(client.get("/exports/sites.csv?district=305").content.decode("utf-8-sig"))))
    assert rows and {r["status"] for r in rows} <= {"quy hoạch", "đã xây dựng", "đã tháo dỡ"}


def test_a_stored_finding_renders_in_the_reader_language() -> None:
    """What a check stores is read back in the language of whoever reads it, not of the run."""
    from planning.findings import localise_messages, message_text

    with i18n.use_language("en"):
        row = mismatch_finding(code="S1", operator="VTL", declared="A1a", derived="A2b", class_rule="r",
                               legal_source=None)
    assert row["message"] == "declared A1a, but the rules give A2b"
    with i18n.use_language("vi"):
        assert message_text(row) == "kê khai A1a, nhưng theo quy định là A2b"
        assert localise_messages({"items": [row]})["items"][0]["message"] == message_text(row)


def test_a1_route_finding_reads_in_vietnamese(client: TestClient) -> None:
    """The acceptance case of issue 16: a ground tower on the demo's A1-only route Đường Quang Trung."""
    tower = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.684610, 20.849120]},
             "properties": {"code": "BAR-G", "mount": "ground", "mast_height_m": 35, "camouflaged": False}}
    vi = [f for f in client.post("/checks/site?lang=vi", json=tower).json()["findings"] if f["check"].startswith("a1")]
    en = [f for f in client.post("/checks/site?lang=en", json=tower).json()["findings"] if f["check"].startswith("a1")]
    assert vi and en and len(vi) == len(en)
    assert any(c in vi[0]["message"] for c in "ăâđêôơưạảấầậắằặẹẻếềệỉịọỏốồộớờợụủứừựỳỵỷỹ"), vi[0]["message"]
    assert "mast" in en[0]["message"].lower() and "Quang Trung" in en[0]["message"]
    assert vi[0]["message"] != en[0]["message"]
