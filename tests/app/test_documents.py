"""Documents the department issues: the appraisal result (Báo cáo kết quả thẩm định) as DOCX and PDF in
the Decree 30/2020 layout, read back as a person would (text extraction, page 1 rendered to PNG)."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from tests.app.plan_helpers import client, collection, make_keys, new_site, planted, site_row

HEADER = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "UBND THÀNH PHỐ HẢI PHÒNG",
          "SỞ KHOA HỌC VÀ CÔNG NGHỆ", "BÁO CÁO", "Kết quả thẩm định", "Nơi nhận", "GIÁM ĐỐC")


def _plan(engine: Engine) -> tuple[object, object, int]:
    c, k = client(engine), make_keys(engine)
    p = site_row(engine, planted(engine)[0])
    body = collection(new_site(p["lon"] + 0.00005, p["lat"], code="DOC-A2A", mount="building", mast_height_m=12.0,
                               building_height_m=15.0, reach_m=2.0, camouflaged=False))
    pid = c.post("/plans", json=body, headers=k.h("vtl")).json()["id"]
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    return c, k, pid


def test_english_reader_gets_the_same_document_in_english(demo_db: Engine) -> None:
    c, k, pid = _plan(demo_db)
    d = docx.Document(io.BytesIO(c.get(f"/plans/{pid}/report?format=docx&lang=en", headers=k.h("vtl")).content))
    text = "\n".join(p.text for p in d.paragraphs)
    # the body follows the reader; the quốc hiệu is the decree's and stays Vietnamese
    assert "REPORT" in text and "III. CONCLUSION" in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in d.tables[0].rows[0].cells[1].text


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_appraisal_docx_has_the_decree_30_layout(demo_db: Engine) -> None:
    c, k, pid = _plan(demo_db)
    r = c.get(f"/plans/{pid}/report?format=docx&lang=vi", headers=k.h("vtl"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert f"plan-{pid}-v1-appraisal.docx" in r.headers["content-disposition"]
    # the acceptance check reads the raw XML: the quốc hiệu must be one contiguous run
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in zipfile.ZipFile(io.BytesIO(r.content)).read("word/document.xml").decode()
    d = docx.Document(io.BytesIO(r.content))
    head = d.tables[0]
    left, right = (cell.text for cell in head.rows[0].cells)
    assert left.splitlines()[:2] == ["UBND THÀNH PHỐ HẢI PHÒNG", "SỞ KHOA HỌC VÀ CÔNG NGHỆ THÀNH PHỐ HẢI PHÒNG"]
    assert f"Số: {pid}/BC-SKHCN" in left
    assert right.splitlines()[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    assert "Hải Phòng, ngày " in right and " tháng " in right and " năm 20" in right
    text = "\n".join(p.text for p in d.paragraphs)
    assert "BÁO CÁO" in text and "Kết quả thẩm định hồ sơ quy hoạch" in text and "III. KẾT LUẬN" in text
    items = d.tables[1]
    assert [cell.text for cell in items.rows[0].cells][:2] == ["TT", "Hạng mục"]
    finding = items.rows[1].cells[4].text
    assert "DOC-A2A" in items.rows[1].cells[2].text and "Vi phạm" in finding and "căn cứ:" in finding
    assert "Nơi nhận:" in d.tables[2].rows[0].cells[0].text and "GIÁM ĐỐC" in d.tables[2].rows[0].cells[1].text


def test_appraisal_pdf_reads_back_in_vietnamese_and_renders(demo_db: Engine, tmp_path: Path) -> None:
    c, k, pid = _plan(demo_db)
    r = c.get(f"/plans/{pid}/report", headers={**k.h("planner"), "Accept": "application/pdf", "Accept-Language": "vi"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text = _flat("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages))
    for line in HEADER:
        assert line in text, line
    assert "DOC-A2A" in text and "Vi phạm" in text
    # the issuing authority comes from the settings
    other = client(demo_db, authority="Sở Khoa học và Công nghệ tỉnh Quảng Nam", authority_parent="UBND TỈNH QUẢNG NAM",
                   authority_place="Tam Kỳ")
    pdf = other.get(f"/plans/{pid}/report?format=pdf&lang=vi", headers=k.h("planner")).content
    text = _flat("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))
    assert "UBND TỈNH QUẢNG NAM" in text and "Tam Kỳ, ngày" in text and f"{pid}/BC-SKHCN" in text
    # page 1 as a person sees it: pdftoppm renders it, pdftotext finds the header lines on it
    if shutil.which("pdftoppm") is None:
        pytest.fail("poppler-utils missing: run scripts/sysdeps.sh")
    src = tmp_path / "report.pdf"
    src.write_bytes(r.content)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", "-singlefile", str(src),
                    str(tmp_path / "page1")], check=True)
    png = (tmp_path / "page1.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    page1 = _flat(subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(src), "-"], check=True,
                                 capture_output=True, text=True).stdout)
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page1 and "Độc lập - Tự do - Hạnh phúc" in page1


def test_stats_table_as_issued_xlsx_and_pdf_from_the_cli(demo_db: Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from tests.app.test_check_cli import run

    pdf, xlsx = tmp_path / "bang-thong-ke.pdf", tmp_path / "bang-thong-ke.xlsx"
    for fmt, out in (("pdf", pdf), ("xlsx", xlsx)):
        r = run(demo_db, "--lang", "vi", "stats", "sites", "--by", "commune,type", "--as-of", "2024-01-01",
                "--format", fmt, "--out", str(out))
        assert r.returncode == 0, r.stderr
    text = _flat(subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], check=True,
                                capture_output=True, text=True).stdout)
    for line in ("UBND THÀNH PHỐ HẢI PHÒNG", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "BẢNG THỐNG KÊ",
                 "tính đến ngày 01/01/2024", "Xã/phường/đặc khu", "A2a"):
        assert line in text, line
    rows = list(load_workbook(xlsx).active.iter_rows(values_only=True))
    assert rows[1][0] == "SỞ KHOA HỌC VÀ CÔNG NGHỆ THÀNH PHỐ HẢI PHÒNG" and "Độc lập - Tự do - Hạnh phúc" in rows[1]
    assert rows[-2][1] == "Tổng" and rows[-2][-1] == sum(r[-1] for r in rows[rows.index(next(
        r for r in rows if r[0] == "no")) + 1:-2])
    # a binary document never goes to a terminal
    r = run(demo_db, "stats", "sites", "--format", "pdf")
    assert r.returncode != 0 and "--out" in r.stderr
