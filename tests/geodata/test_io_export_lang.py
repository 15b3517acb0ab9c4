"""Exports in the reader's language (issue 16): Vietnamese headers and labels by default, English with
``--lang en`` / ``?lang=en``, for every format people open — CSV, XLSX, KML, the Shapefile's field list —
while what scripts and GIS tools key on (CSV field names, GeoJSON/GeoPackage/Shapefile codes, 10-character
.dbf names) stays the same in both languages.
"""

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
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import cli
from geodata.io import writers
from geodata.io.exports import ExportFilter, open_export
from geodata.settings import get_settings
from planning import i18n
from tests.app.live import make_app
from tests.conftest import db_url

MOUNT = {"vi": {"trên công trình", "trên mặt đất"}, "en": {"on a building", "on the ground"}}
SITE_CODE = {"vi": "Mã trạm", "en": "Site code"}


def _write(engine: Engine, fmt: str, lang: str, tmp_path: Path) -> Path:
    with i18n.use_language(lang):
        path = writers.write(open_export(engine, "sites", ExportFilter(district=["305"])), fmt,
                             tmp_path / f"{lang}.{fmt}")
    assert path is not None
    return path


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_people_formats_follow_the_language(demo_db: Engine, tmp_path: Path, lang: str) -> None:
    other = "en" if lang == "vi" else "vi"
    # CSV: field names are the contract (scripts, the importer); coded values are labels
    rows = list(csv.DictReader(io.StringIO(_write(demo_db, "csv", lang, tmp_path).read_text("utf-8-sig"))))
    assert rows and {r["mount"] for r in rows} <= MOUNT[lang] and {r["mount"] for r in rows} & MOUNT[lang]
    # XLSX: a label row in the language above the field names
    ws = openpyxl.load_workbook(_write(demo_db, "xlsx", lang, tmp_path)).active
    assert ws["A2"].value == SITE_CODE[lang] and ws["A3"].value == "code"
    # KML (Google Earth's balloons): display names and coded values in the language
    kml = _write(demo_db, "kml", lang, tmp_path).read_text(encoding="utf-8")
    assert f"<displayName>{SITE_CODE[lang]}</displayName>" in kml
    assert any(f'<SimpleData name="mount">{w}</SimpleData>' in kml for w in MOUNT[lang])
    assert not any(f'<SimpleData name="mount">{w}</SimpleData>' in kml for w in MOUNT[other])
    # Shapefile: .dbf names at most 10 characters in both languages; the sidecar's labels in the language
    shp = _write(demo_db, "shp", lang, tmp_path)
    assert all(len(f) <= 10 for f in pyogrio.read_info(shp)["fields"])
    with zipfile.ZipFile(shp) as z:
        side = list(csv.DictReader(io.StringIO(z.read("sites_fields.csv").decode("utf-8-sig"))))
    assert {r["field"]: r[f"label_{lang}"] for r in side}["code"] == SITE_CODE[lang]


def test_gis_formats_keep_codes_whatever_the_language(demo_db: Engine, tmp_path: Path) -> None:
    """GeoJSON/GeoPackage/Shapefile values are data for GIS tools: the same codes in both languages."""
    got = {}
    for lang in ("vi", "en"):
        gj = json.loads(_write(demo_db, "geojson", lang, tmp_path).read_text(encoding="utf-8"))
        gpkg = pyogrio.read_dataframe(_write(demo_db, "gpkg", lang, tmp_path))
        shp = pyogrio.read_dataframe(_write(demo_db, "shp", lang, tmp_path))
        got[lang] = ({f["properties"]["mount"] for f in gj["features"]}, set(gpkg["mount"]), set(shp["mount"]))
        assert gj["title"] and (lang == "en") == ("filter" in gj["title"])  # the title is for people
    assert got["vi"] == got["en"] and got["vi"][0] <= {"building", "ground"}


def test_cli_export_lang_switch(demo_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``--lang`` gives the department's language (BTSPLAN_LANG unset: vi); ``--lang en`` switches."""
    runner = CliRunner()
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    monkeypatch.delenv("BTSPLAN_LANG", raising=False)  # the suite sets it to en
    env: dict[str, str] = {}
    get_settings.cache_clear()
    try:
        for lang, args in (("vi", []), ("en", ["--lang", "en"])):
            out = tmp_path / f"cli-{lang}.xlsx"
            r = runner.invoke(cli,
                              [*args, "export", "sites", "--format", "xlsx", "--out", str(out), "--district", "305"],
                              env=env)
            assert r.exit_code == 0, r.output
            assert openpyxl.load_workbook(out).active["A2"].value == SITE_CODE[lang]
    finally:
        i18n.set_language("en")  # the suite's language (tests/conftest.py): the CLI set it for this thread
        monkeypatch.undo()
        get_settings.cache_clear()


def test_http_kml_lang_switch(demo_db: Engine) -> None:
    client = TestClient(make_app(demo_db, lang="vi"))
    vi = client.get("/exports/sites.kml?district=305").text
    en = client.get("/exports/sites.kml?district=305&lang=en").text
    assert f"<displayName>{SITE_CODE['vi']}</displayName>" in vi
    assert f"<displayName>{SITE_CODE['en']}</displayName>" in en
