"""Formula injection: text a firm plants (a site name, a plan title, a cable's street) reaches every CSV
and XLSX download as inert text, through the real paths: an approved plan or a direct import, then the
HTTP exports, the inspectors' campaign list, the plan report, the CLI ``export``. Both backends.

A text cell that a spreadsheet would read as a formula starts with ``'`` (OWASP's CSV-injection
guidance); numbers stay numbers; no XLSX cell is a formula; and an exported file re-imports with
the text it was exported from."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.cli import cli
from geodata.io.importer import ImportOptions, import_file
from geodata.io.readers.errors import ErrorLog, RowError
from geodata.io.writers import tabular
from tests.app.plan_helpers import Keys, client, collection, feature, make_keys, new_site
from tests.conftest import db_url

PAYLOADS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "-2+3"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --------------------------------------------------------------------------------------------
# what a safe download looks like
# --------------------------------------------------------------------------------------------

def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def csv_cells(content: bytes | str) -> list[str]:
    body = content.decode("utf-8-sig") if isinstance(content, bytes) else content.lstrip("\ufeff")
    return [cell for row in csv.reader(io.StringIO(body)) for cell in row]


def assert_safe_csv(content: bytes | str, planted: list[str]) -> None:
    """Every planted text is there behind a quote; no other cell starts a formula unless it is a number."""
    cells = csv_cells(content)
    for p in planted:
        assert "'" + p in cells, (p, [c for c in cells if c.lstrip("'")[:1] in TRIGGERS])
    risky = [c for c in cells if c.startswith(TRIGGERS) and not _is_number(c)]
    assert risky == []


def xlsx_strings(content: bytes) -> list[str]:
    """Every string cell of every sheet, after checking that none is a formula."""
    wb = openpyxl.load_workbook(io.BytesIO(content))
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    out.append(cell.value)
    return out


def assert_safe_xlsx(content: bytes, planted: list[str]) -> None:
    strings = xlsx_strings(content)
    for p in planted:
        assert "'" + p in strings, p
    assert [s for s in strings if s.startswith(TRIGGERS)] == []


# --------------------------------------------------------------------------------------------
# planted through an approved plan
# --------------------------------------------------------------------------------------------

@dataclass
class Planted:
    client: TestClient
    keys: Keys
    plan_id: int
    codes: list[str]


def _approved_plan(engine: Engine) -> Planted:
    """VTL's plan titled with a formula, five new sites named (and addressed) with formulas, and a
    cable under a formula street; the department approves it, so the texts become data."""
    c, k = client(engine), make_keys(engine)
    codes = [f"FI-{i}" for i in range(len(PAYLOADS))]
    sites = [new_site(106.700 + 0.004 * i, 20.840, code=code, name=p, address=PAYLOADS[(i + 1) % len(PAYLOADS)])
             for i, (code, p) in enumerate(zip(codes, PAYLOADS, strict=True))]
    cable = feature("cable_route", [[106.680, 20.855], [106.684, 20.857]], "LineString", street=PAYLOADS[3],
                    from_desc=PAYLOADS[4], target_year=2027, method="ha_ngam")
    r = c.post("/plans", json=collection(*sites, cable, title=PAYLOADS[0]), headers=k.h("vtl"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    r = c.post(f"/plans/{pid}/decision", json={"decision": "approve"}, headers=k.h("planner"))
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    return Planted(c, k, pid, codes)


def test_site_and_cable_exports_keep_planted_text_inert(demo_db: Engine) -> None:
    pl = _approved_plan(demo_db)
    for layer, query, planted in (("sites", "operator=VTL&status=planned", PAYLOADS),
                                  ("cables", "status=planned", [PAYLOADS[3], PAYLOADS[4]])):
        r = pl.client.get(f"/exports/{layer}.csv?{query}", headers=pl.keys.h("planner"))
        assert r.status_code == 200, r.text
        assert_safe_csv(r.content, planted)
        r = pl.client.get(f"/exports/{layer}.xlsx?{query}", headers=pl.keys.h("planner"))
        assert r.status_code == 200, r.text
        assert_safe_xlsx(r.content, planted)
    # the coordinates are still numbers in the workbook, the names text
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert any(isinstance(c.value, float) for row in ws.iter_rows() for c in row)


def test_campaign_list_keeps_planted_text_inert(demo_db: Engine) -> None:
    pl = _approved_plan(demo_db)
    body = {"name": PAYLOADS[1], "start_on": "2026-03-01", "filter": {"codes": pl.codes, "status": ["planned"]}}
    r = pl.client.post("/inspections/campaigns", json=body, headers=pl.keys.h("planner"))
    assert r.status_code == 201, r.text
    url = f"/inspections/campaigns/{r.json()['id']}/sites"
    r = pl.client.get(f"{url}?format=csv", headers=pl.keys.h("inspector"))
    assert r.status_code == 200
    assert_safe_csv(r.content, PAYLOADS)
    r = pl.client.get(f"{url}?format=xlsx", headers=pl.keys.h("inspector"))
    assert r.status_code == 200
    assert_safe_xlsx(r.content, PAYLOADS)
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert ws["A1"].value == "'" + PAYLOADS[1]  # the campaign's name heads the sheet
    assert {type(c.value) for c in ws["K"][2:]} == {float}  # lat: numbers, not text


def test_plan_report_workbook_keeps_planted_text_inert(demo_db: Engine) -> None:
    pl = _approved_plan(demo_db)
    for who in ("planner", "vtl"):
        r = pl.client.get(f"/plans/{pl.plan_id}/report", headers={**pl.keys.h(who), "Accept": XLSX})
        assert r.status_code == 200, r.text
        assert_safe_xlsx(r.content, [PAYLOADS[0], PAYLOADS[3]])  # the title, the cable's street
        wb = openpyxl.load_workbook(io.BytesIO(r.content))
        assert [row[1].value for row in wb["Tong hop"].iter_rows() if row[1].value == "'" + PAYLOADS[0]]


# --------------------------------------------------------------------------------------------
# planted through a direct import; the CLI export; the round trip
# --------------------------------------------------------------------------------------------

def _sites_csv(path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "operator", "lon", "lat", "name", "address", "mount", "mast_height_m"])
        for i, p in enumerate(PAYLOADS):
            w.writerow([f"FI-IMP-{i}", "VTL", 106.672 + 0.003 * i, 20.862, p, PAYLOADS[-1 - i], "ground", 30])
    return path


def _names(engine: Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT code, name, address FROM sites WHERE code LIKE 'FI-IMP-%'")).all()
    return {r.code: (r.name, r.address) for r in rows}


def test_cli_export_is_inert_and_reimports_unchanged(demo_db: Engine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from geodata.settings import get_settings

    res = import_file(demo_db, "sites", _sites_csv(tmp_path / "in.csv"), ImportOptions())
    assert res.committed and res.inserted == len(PAYLOADS), [e.line() for e in res.log.sorted()]
    stored = _names(demo_db)
    assert sorted(n for n, _ in stored.values()) == sorted(PAYLOADS)  # stored as typed
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    get_settings.cache_clear()
    try:
        for fmt in ("csv", "xlsx"):
            out = tmp_path / f"sites.{fmt}"
            r = CliRunner().invoke(cli, ["export", "sites", "--format", fmt, "--out", str(out), "--operator", "VTL"])
            assert r.exit_code == 0, r.output
            if fmt == "csv":
                assert_safe_csv(out.read_bytes(), PAYLOADS)
            else:
                assert_safe_xlsx(out.read_bytes(), PAYLOADS)
            # the quote is the spreadsheet's escape, not data: re-importing the export changes nothing
            again = import_file(demo_db, "sites", out, ImportOptions(on_conflict="update"))
            assert again.committed, [e.line() for e in again.log.sorted()][:5]
            assert _names(demo_db) == stored
    finally:
        get_settings.cache_clear()


# --------------------------------------------------------------------------------------------
# the writer itself (every CSV/XLSX of the project goes through it)
# --------------------------------------------------------------------------------------------

def test_only_text_is_neutralised_numbers_stay_numbers() -> None:
    rows = [["-5", -5, -2.5, True, None, "plain", "\t=1", "\r=1", "'=1", "x;=1+1"]]
    cells = csv_cells(tabular.csv_text(["a"] * 10, rows))[10:]
    assert cells == ["'-5", "-5", "-2.5", "True", "", "plain", "'\t=1", "'\r=1", "''=1", "x;=1+1"]
    raw = tabular.csv_text(["a"], [["x;=1+1"]], bom=False)
    assert raw == 'a\r\n"x;=1+1"\r\n'  # quoted: Excel where ';' separates lists would split it
    streamed = b"".join(tabular.csv_stream(["a", "b"], iter([["=1", -1.5]]))).decode("utf-8-sig")
    assert csv_cells(streamed)[2:] == ["'=1", "-1.5"]
    wb = openpyxl.load_workbook(io.BytesIO(tabular.xlsx_bytes([tabular.Sheet("s", ["t", "n"], [["-5", -5]],
                                                                             title="=1+1")])))
    ws = wb.active
    assert ws["A1"].value == "'=1+1"
    assert (ws["A3"].value, ws["A3"].data_type) == ("'-5", "s")
    assert (ws["B3"].value, ws["B3"].data_type) == (-5, "n")


def test_import_error_report_is_inert(tmp_path: Path) -> None:
    log = ErrorLog()
    log.add(RowError(3, "name", PAYLOADS[1], "too long"))
    assert_safe_csv(log.to_csv(tmp_path / "errors.csv"), [PAYLOADS[1]])
    assert_safe_csv((tmp_path / "errors.csv").read_bytes(), [PAYLOADS[1]])


def test_import_drops_exactly_the_quote_the_writer_adds() -> None:
    import pandas as pd
    import pyarrow as pa

    from geodata.io import import_values as iv

    texts = [*PAYLOADS, "'=1", "''+1", "'plain", "it's", "\t=1", "=\r1", "@", "-"]
    written = [tabular.neutral(t) for t in texts]
    assert [iv.unquote_formula(w) for w in written] == texts
    arrow = pd.Series(pd.arrays.ArrowStringArray(pa.array(written)))  # CSV through GDAL
    cells = pd.Series(written, dtype=object)  # XLSX through openpyxl
    for column in (arrow, cells):
        assert list(iv.texts(column, 100)[0]) == texts
