"""The bad-file corpus (tests/data/bad): each file is rejected with the expected row/field error and
the database is unchanged (row counts and content checksums of every table), on both backends.
The SpatiaLite file itself is compared byte for byte, as the acceptance check does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import cli
from geodata.io.importer import ImportOptions, import_file
from tests.conftest import db_url
from tests.geodata.io_helpers import BAD, checksums

#: file → (kind, options, expected first error: row (None = whole file), field, message fragment)
CORPUS = {
    "truncated.csv": ("sites", {}, None, "file", "ends inside a quoted value"),
    "truncated_fields.csv": ("sites", {}, 3, "declared_class", "fewer values than the header"),
    "wrong_encoding.csv": ("sites", {}, None, "encoding", "not text in UTF-8 or Windows-1258"),
    "missing_columns.csv": ("sites", {}, None, "code", "missing column(s): code"),
    "text_in_numbers.csv": ("sites", {}, 3, "mast_height_m", "not a number"),
    "swapped_latlon.csv": ("sites", {}, 3, "lat", "did you mean lat/lon swapped?"),
    "points_in_sea.csv": ("sites", {}, 3, "lon", "outside Hải Phòng"),  # the province outline is checked first (issue 15)
    "duplicate_codes.csv": ("sites", {}, 4, "code", "duplicate code in the file (first on row 2)"),
    "empty.csv": ("sites", {}, None, "file", "the file is empty"),
    "header_only.csv": ("sites", {}, None, "file", "no data rows"),
    "too_many_rows.zip": ("sites", {"max_rows": 1000}, None, "file", "more than 1,000 rows"),
    "invalid_polygons.geojson": ("admin", {}, 2, "geometry", "cannot be repaired safely"),
    "mixed_geometry.geojson": ("admin", {}, 2, "geometry", "geometry type not allowed for admin"),
    "wrong_prj.zip": ("sites", {}, 1, "geometry", "look like metres but the CRS is EPSG:4326"),
}


def _file_sha(engine: Engine) -> str | None:
    url = db_url(engine)
    if not url.startswith("sqlite"):
        return None
    engine.dispose()  # close pooled connections so the WAL is checkpointed into the main file
    return hashlib.sha1(Path(url.split("///", 1)[1]).read_bytes()).hexdigest()


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BAD.iterdir() if p.suffix != ".md") == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_file_is_rejected_and_nothing_changes(demo_db: Engine, name: str) -> None:
    kind, opts, row, field, fragment = CORPUS[name]
    before = checksums(demo_db)
    sha = _file_sha(demo_db)
    res = import_file(demo_db, kind, BAD / name, ImportOptions(**opts))
    assert not res.committed and res.failed
    first = res.log.sorted()[0] if row is None else next(e for e in res.log.sorted() if e.severity == "error")
    assert (first.row, first.field) == (row, field), first.line()
    assert fragment in first.message, first.line()
    assert checksums(demo_db) == before
    assert _file_sha(demo_db) == sha


def test_repairable_polygon_is_a_warning_not_an_error(demo_db: Engine) -> None:
    res = import_file(demo_db, "admin", BAD / "invalid_polygons.geojson", ImportOptions(skip_bad_rows=True))
    assert res.committed and res.inserted == 2 and res.rejected == 1
    [warn] = res.log.warnings
    assert warn.row == 3 and "repaired" in warn.message


def test_crs_option_fixes_a_wrong_prj(demo_db: Engine) -> None:
    res = import_file(demo_db, "sites", BAD / "wrong_prj.zip", ImportOptions(crs="VN-2000 Hải Phòng"))
    assert res.committed and res.inserted == 2
    assert any("overrides the file's own CRS" in n for n in res.notes)


def test_cli_rejects_with_one_line_naming_row_and_field(demo_db: Engine, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    from geodata.settings import get_settings

    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    get_settings.cache_clear()
    try:
        before = checksums(demo_db)
        out = tmp_path / "errors.csv"
        r = CliRunner().invoke(cli, ["import", "sites", str(BAD / "swapped_latlon.csv"), "--errors-out", str(out)])
        assert r.exit_code == 1
        assert "row 3, lat: outside Hải Phòng: did you mean lat/lon swapped?" in r.output
        assert out.read_text(encoding="utf-8-sig").splitlines()[1].startswith("3,lat,106.69,")
        assert checksums(demo_db) == before
        r = CliRunner().invoke(cli, ["import", "sites", str(BAD / "duplicate_codes.csv"), "--skip-bad-rows"])
        assert r.exit_code == 0 and "2 inserted" in r.output
        r = CliRunner().invoke(cli, ["import", "zones", str(BAD / "empty.csv"), "--on-conflict", "merge"])
        assert r.exit_code != 0 and "--on-conflict" in r.output
    finally:
        get_settings.cache_clear()
