"""Readers: encodings, delimiters, titles above the header, sheets, aliases and --map (no database)."""

from __future__ import annotations

import codecs
from pathlib import Path

import openpyxl
import pytest

from geodata.io.readers import ReadError, open_source, parse_overrides, resolve
from geodata.io.readers.columns import norm
from tests.geodata.io_helpers import cp1258

KNOWN = {"code", "ma_tram", "lat", "lon", "kinh_do", "vi_do"}
TEXT = "Mã trạm;Nhà mạng;Kinh độ;Vĩ độ;Tên trạm\nHP-1;Viettel;106,68;20,86;Trạm Lê Chân\nHP-2;VNP;106.69;20.85;Đồng Hòa\n"


def _rows(path: Path, **kw):  # type: ignore[no-untyped-def]
    with open_source(path, known_columns=KNOWN, **kw) as src:
        frames = [(b.rows.tolist(), b.frame) for b in src.batches()]
        return src, frames


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1258", "utf-16"])
def test_encodings_are_detected_and_text_is_nfc(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes(cp1258(TEXT) if encoding == "cp1258" else TEXT.encode(encoding))
    src, frames = _rows(p)
    assert src.columns == ["Mã trạm", "Nhà mạng", "Kinh độ", "Vĩ độ", "Tên trạm"]
    rows, frame = frames[0]
    assert rows == [2, 3]
    assert frame["Tên trạm"].tolist() == ["Trạm Lê Chân", "Đồng Hòa"]  # NFC, equal to typed text
    assert frame["Kinh độ"].tolist() == ["106,68", "106.69"]  # values as typed; parsing is the importer's job


def test_comma_delimiter_and_title_rows_above_the_header(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("DANH SÁCH TRẠM BTS,,\nNgày 01/03/2025,,\ncode,lat,lon\nA,20.86,106.68\n", encoding="utf-8")
    src, frames = _rows(p)
    assert src.header_row == 3 and src.columns == ["code", "lat", "lon"]
    assert frames[0][0] == [4]


def test_cp1258_forced_encoding_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes(cp1258("code;name\nA;Lê Chân\n"))
    with pytest.raises(ReadError, match="line 2"):
        open_source(p, encoding="utf-8")


def test_utf16_without_bom_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes(TEXT.encode("utf-16-le"))
    with pytest.raises(ReadError, match="NUL bytes"):
        open_source(p)


def test_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes(codecs.BOM_UTF8 + b"code,lat\nA,1\n")
    src, _ = _rows(p)
    assert src.columns[0] == "code"


def test_row_limit_fails_before_parsing(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("code\n" + "".join(f"S{i}\n" for i in range(50)), encoding="utf-8")
    with pytest.raises(ReadError, match="more than 10 rows"):
        open_source(p, max_rows=10)


def test_xlsx_sheet_by_name_or_number_and_title_rows(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ghi chú"
    ws.append(["nothing here"])
    ws2 = wb.create_sheet("Trạm BTS")
    ws2.append(["BÁO CÁO TRẠM BTS QUÝ I"])
    ws2.append([])
    ws2.append(["Mã trạm", "Kinh độ", "Vĩ độ", "Độ cao cột"])
    ws2.append(["HP-1", 106.68, 20.86, 45])
    ws2.append([None, None, None, None])
    ws2.append(["HP-2", "106,69", "20,85", "cao"])
    p = tmp_path / "s.xlsx"
    wb.save(p)
    for sheet in ("Trạm BTS", "2"):
        src, frames = _rows(p, sheet=sheet)
        assert src.columns == ["Mã trạm", "Kinh độ", "Vĩ độ", "Độ cao cột"]
        rows, frame = frames[0]
        assert rows == [4, 6]  # Excel's row numbers; the blank row 5 is skipped
        assert frame.iloc[0].tolist() == ["HP-1", 106.68, 20.86, 45]
    with pytest.raises(ReadError, match="no sheet"):
        open_source(p, sheet="Không có")


def test_aliases_vietnamese_and_english() -> None:
    cm = resolve(["Mã trạm", "NHÀ MẠNG", "Kinh độ", "Vĩ Độ", "Tọa độ X", "Toạ độ Y", "Độ cao cột (m)", "Loại cột",
                  "Ghi chú"], "sites")
    assert cm.field_of == {"Mã trạm": "code", "NHÀ MẠNG": "operator", "Kinh độ": "lon", "Vĩ Độ": "lat",
                           "Tọa độ X": "survey_x", "Toạ độ Y": "survey_y", "Độ cao cột (m)": "mast_height_m",
                           "Loại cột": "declared_class"}
    assert cm.unused == ["Ghi chú"]
    assert norm("Tọa độ X (m)") == "toa_do_x_m"


def test_map_overrides_and_conflicts() -> None:
    cm = resolve(["Số hiệu", "Kinh độ", "Vĩ độ"], "sites", parse_overrides(["Số hiệu=code"]))
    assert cm.field_of["Số hiệu"] == "code"
    with pytest.raises(ReadError, match="not a field of sites"):
        resolve(["Số hiệu"], "sites", parse_overrides(["Số hiệu=ma_so"]))
    with pytest.raises(ReadError, match="no column"):
        resolve(["a"], "sites", {"b": "code"})
    with pytest.raises(ReadError, match="all mean lon"):
        resolve(["Kinh độ", "longitude"], "sites")
    # an exact field name wins over an alias (a file exported by btsplan plus a user's column)
    assert resolve(["code", "Mã trạm"], "sites").field_of == {"code": "code"}


def test_gso_codes_in_dvhcvn_files() -> None:
    cm = resolve(["level1_id", "level2_id", "name", "admin_type"], "admin")
    assert cm.column_of["code"] == "level2_id" and cm.column_of["parent_code"] == "level1_id"


def test_kml_placemark_name_is_the_code_unless_a_column_gives_it() -> None:
    cm = resolve(["Name", "description", "operator"], "sites", kml=True)
    assert cm.column_of["code"] == "Name" and "description" not in cm.field_of
    cm = resolve(["Name", "description", "code", "site_name"], "sites", kml=True)
    assert cm.column_of["code"] == "code" and cm.column_of["name"] == "site_name"


def test_unsupported_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "x.doc").write_text("x")
    with pytest.raises(ReadError, match="unsupported file type"):
        open_source(tmp_path / "x.doc")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ReadError, match="empty"):
        open_source(tmp_path / "e.csv")
    (tmp_path / "b.csv").write_text("\n\n ;;\n")
    with pytest.raises(ReadError, match="empty"):
        open_source(tmp_path / "b.csv")
