"""``btsplan classify | check | stats sites`` on the demo database (both backends): the stable JSON
shapes of docs/architecture.md, "Machine-readable outputs", CSV, stored findings, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select

from geodata.store import models as m
from geodata.store import repository as repo
from geodata.store.meta import meta_get
from tests.conftest import db_url

FINDING_KEYS = {"rule", "severity", "site_code", "operator", "distance_m", "district", "commune", "legal_source"}


def run(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BTSPLAN_DATABASE_URL": db_url(engine), "BTSPLAN_PROVINCE": "haiphong",
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_classify_check_and_stats(demo_db: Engine, tmp_path: Path) -> None:
    r = run(demo_db, "classify")
    assert r.returncode == 0, r.stderr
    assert "A2a" in r.stderr and "mismatch" in r.stderr

    out = tmp_path / "a1.json"
    r = run(demo_db, "check", "a1-routes", "--format", "json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["count"] == len(data["findings"]) > 0
    planted = set(meta_get(demo_db, "demo.planted_a2a_on_a1"))
    assert {f["site_code"] for f in data["findings"]} == planted
    for f in data["findings"]:
        assert FINDING_KEYS <= set(f)
        assert ("zone" in f) != ("route" in f)  # exactly one of them
        assert f["severity"] == "violation" and isinstance(f["distance_m"], float)
    assert len(repo.load_findings(demo_db, ["a1-routes"])) == data["count"]

    r = run(demo_db, "check", "all", "--format", "csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("check,rule,severity,site_code,operator,zone,route,other_site_code,distance_m,district,"
                        "commune,legal_source,message")
    assert {ln.split(",")[0] for ln in lines[1:]} == {"a1-routes", "spacing"}
    assert "a1-routes:" in r.stderr and "spacing:" in r.stderr

    r = run(demo_db, "check", "spacing")  # rich table on stdout
    assert r.returncode == 0, r.stderr
    assert "spacing.min_distance" in r.stdout

    r = run(demo_db, "stats", "sites", "--by", "district,type", "--format", "json", "--as-of", "2024-01-01")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["by"] == ["district", "type"] and stats["as_of"] == "2024-01-01"
    with demo_db.connect() as c:
        n = c.execute(select(func.count()).select_from(m.Site).where(m.Site.status != "removed")).scalar()
    assert stats["totals"]["total"] == n == sum(row["total"] for row in stats["rows"])
    for row in stats["rows"]:
        assert {"district", "A1a", "A1b", "A2a", "A2b", "A2c", "unknown", "total"} <= set(row)

    csv_out = tmp_path / "communes.csv"
    r = run(demo_db, "stats", "sites", "--by", "commune,type", "--format", "csv", "--out", str(csv_out))
    assert r.returncode == 0, r.stderr
    raw = csv_out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows the Vietnamese names
    text = raw.decode("utf-8-sig").splitlines()
    assert text[0].startswith("district_code,district,commune_code,commune,A1a")
    # today (after 2025-07-01) sites are counted by the 31 new communes of the demo's second vintage (issue 15);
    # the 60 pre-reform communes (and the made-up former Hải Dương's 4) are what it shows as of 2025-06-30
    assert len(text) == 1 + 31 + 2  # header, 31 communes, total and share lines
    r = run(demo_db, "stats", "sites", "--by", "commune,type", "--as-of", "2025-06-30", "--format", "csv",
            "--out", str(csv_out))
    assert r.returncode == 0, r.stderr
    assert len(csv_out.read_bytes().decode("utf-8-sig").splitlines()) == 1 + 60 + 4 + 2  # + former Hải Dương


def test_errors_are_one_line(demo_db: Engine, tmp_path: Path) -> None:
    bad_pack = tmp_path / "bad.yaml"
    bad_pack.write_text("id: x\ntitle: t\nversion: '1'\nvalid_from: 2020-01-01\nlegal_sources: []\n",
                        encoding="utf-8")
    cases = [
        (["check", "a1-routes", "--format", "xml"], "--format 'xml'"),
        (["check", "everything"], "'everything' is not one of"),
        (["check", "a1-routes", "--classes", "A3"], "unknown mast class"),
        (["check", "a1-routes", "--pack", str(bad_pack)], "bad.yaml: legal_sources"),
        (["stats", "sites", "--by", "province,type"], "--by 'province,type'"),
        (["stats", "sites", "--as-of", "31/12/2024"], "--as-of '31/12/2024' is not a date"),
    ]
    for args, needle in cases:
        r = run(demo_db, *args)
        assert r.returncode != 0, args
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) <= 2, r.stderr
