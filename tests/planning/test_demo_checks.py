"""The checks on the demo database, on both backends: exactly the planted A2a-on-A1 masts, the same
findings on SpatiaLite and PostGIS, stored atomically, aggregation totals equal the sites."""

from __future__ import annotations

import datetime as dt

import pandas as pd

import pytest
from sqlalchemy import Engine, func, select, text

from geodata.work import checks
from geodata.store import models as m
from geodata.store import repository as repo
from geodata.store.meta import meta_get
from geodata.store.db import make_engine
from planning.findings import to_records
from planning.rules import load_pack

PACK = load_pack("haiphong")
M = "EPSG:9210"


def _planted(engine: Engine) -> set[str]:
    return set(meta_get(engine, "demo.planted_a2a_on_a1"))


def test_a1_check_finds_exactly_the_planted_sites(demo_db: Engine) -> None:
    summary = checks.classify_stored(demo_db, PACK)
    assert summary.sites == 1000 and sum(summary.by_class.values()) == 1000
    f = checks.run_a1_check(demo_db, PACK, metric_crs=M)
    assert set(f["site_code"]) == _planted(demo_db)
    assert (f["severity"] == "violation").all() and f["distance_m"].notna().all()
    assert f["district"].notna().all() and f["commune"].notna().all() and f["legal_source"].notna().all()
    assert set(f["rule"]) <= {"A1.route_corridor", "A1.zone"}
    # without stored classes (never classified) the check classifies on the fly and agrees
    with demo_db.begin() as c:
        c.execute(text("UPDATE sites SET derived_class = NULL, reasons = NULL"))
    g = checks.run_a1_check(demo_db, PACK, metric_crs=M)
    assert to_records(g) == to_records(f)


def test_same_findings_on_both_backends(db_factory) -> None:  # type: ignore[no-untyped-def]
    out = {}
    for backend in ("spatialite", "postgis"):
        url = db_factory.clone(backend, "demo")
        engine = make_engine(url)
        try:
            checks.classify_stored(engine, PACK)
            f = checks.run_checks(engine, PACK, ["a1-routes", "spacing"], metric_crs=M)
            out[backend] = to_records(f)
            stored = repo.load_findings(engine)
            assert sorted(stored["check"].unique()) == ["a1-routes", "class-mismatch", "spacing"]
            out[backend + "-counts"] = checks.stored_site_counts(engine, PACK, by="commune").to_json()
        finally:
            engine.dispose()
            db_factory.drop(url)
    assert out["spatialite"] == out["postgis"]
    assert out["spatialite-counts"] == out["postgis-counts"]
    assert {r["check"] for r in out["postgis"]} == {"a1-routes", "spacing"}


def test_rerun_replaces_findings_atomically(demo_db: Engine) -> None:
    checks.classify_stored(demo_db, PACK)
    first = checks.run_checks(demo_db, PACK, ["a1-routes"], metric_crs=M)
    checks.run_checks(demo_db, PACK, ["a1-routes"], metric_crs=M)
    stored = repo.load_findings(demo_db, ["a1-routes"])
    assert len(stored) == len(first)  # replaced, not appended
    assert set(stored["site_code"]) == set(first["site_code"])
    # the stored point is the site's position
    with demo_db.connect() as c:
        lon, lat = c.execute(select(m.Site.geom.ST_X(), m.Site.geom.ST_Y())
                             .where(m.Site.code == stored["site_code"].iloc[0])).one()
    assert stored["lon"].iloc[0] == pytest.approx(lon, abs=1e-7)
    assert stored["lat"].iloc[0] == pytest.approx(lat, abs=1e-7)
    # a failing write leaves the previous findings in place
    bad = first.copy()
    bad.loc[0, "details"] = object()  # not JSON
    with pytest.raises(Exception):
        repo.replace_findings(demo_db, ["a1-routes"], bad, metric_crs=M)
    assert len(repo.load_findings(demo_db, ["a1-routes"])) == len(first)
    # findings of another check are refused, nothing written
    with pytest.raises(ValueError, match="spacing"):
        repo.replace_findings(demo_db, ["a1-routes"], first.assign(check="spacing"), metric_crs=M)


def test_classification_is_stored_with_reasons_and_rerun_changes_nothing(demo_db: Engine) -> None:
    first = checks.classify_stored(demo_db, PACK)
    assert first.changed == 1000 and first.unknown >= 1
    version = meta_get(demo_db, "data_version")
    again = checks.classify_stored(demo_db, PACK)
    assert again.changed == 0
    assert meta_get(demo_db, "data_version") > version  # the write still bumps the version
    s = repo.load_sites(demo_db, with_reasons=True)
    assert s["derived_class"].notna().all()
    row = s[s["derived_class"] == "A2c"].iloc[0]
    assert row["reasons"][-1]["rule"] == "A2c.tall_ground" and row["reasons"][-1]["ambiguous"] is True
    unknown = s[s["derived_class"] == "unknown"].iloc[0]
    assert unknown["reasons"][-1]["missing"] == ["mast_height_m"]
    mm = repo.load_findings(demo_db, ["class-mismatch"])
    assert len(mm) == first.mismatches - int(((s["derived_class"] != s["declared_class"]) &
                                              (s["status"] == "removed")).sum())
    assert mm["message"].str.startswith("declared ").all()


def test_aggregation_totals_equal_the_sites(demo_db: Engine) -> None:
    checks.classify_stored(demo_db, PACK)
    with demo_db.connect() as c:
        n = c.execute(select(func.count()).select_from(m.Site).where(m.Site.status != "removed")).scalar()
    for by in ("district", "commune"):
        counts = checks.stored_site_counts(demo_db, PACK, by=by, as_of=dt.date(2024, 1, 1))
        assert counts.totals["total"] == n == int(counts.rows["total"].sum())
        assert "(outside every district)" not in set(counts.rows["district"])
    d = checks.stored_site_counts(demo_db, PACK, by="district", as_of=dt.date(2024, 1, 1)).to_json()
    # the seven Hải Phòng districts, and the made-up former Hải Dương district (288) of the demo's
    # west, which holds one demo site in geodata.demo.WEST_EVERY (issue 15: the post-reform table shows them)
    assert {r["district_code"] for r in d["rows"]} == {str(c) for c in range(303, 310)} | {"288"}
    with demo_db.connect() as c:
        west = c.execute(select(func.count()).where(m.Site.district_code == "288", m.Site.status != "removed")).scalar()
    assert next(r["total"] for r in d["rows"] if r["district_code"] == "288") == west > 0


def test_repository_reads(demo_db: Engine) -> None:
    s = repo.load_sites(demo_db)
    assert len(s) == 1000 and s.crs.to_epsg() == 4326
    # stored metric coordinates are those of EPSG:9210; another CRS is projected from the point
    utm = repo.load_sites(demo_db, metric_crs="EPSG:32648", columns=["code"])
    assert (abs(utm["x_m"] - s["x_m"]) > 1000).all()
    with demo_db.begin() as c:
        c.execute(text("UPDATE sites SET x_m = NULL, y_m = NULL WHERE id <= 10"))
    again = repo.load_sites(demo_db, columns=["code"])
    assert again["x_m"].notna().all()
    assert (abs(again["x_m"] - s["x_m"]) < 0.01).all() and (abs(again["y_m"] - s["y_m"]) < 0.01).all()
    pts = repo.load_site_points(demo_db, classes=["A2a"])
    assert pts["x_m"].notna().all()
    routes = repo.load_routes(demo_db, policy="a1_only")
    zones = repo.load_zones(demo_db)
    units = repo.load_admin_units(demo_db, level="commune")
    # every version: 60 + 4 (former Hải Dương) communes until 2025-06-30, 31 new ones from 2025-07-01
    assert len(routes) == 9 and len(zones) == 14 and len(units) == 95
    assert routes.geometry.geom_type.isin(["LineString", "MultiLineString"]).all()
    names = repo.unit_names(demo_db)
    assert names["305"] == "Quận Lê Chân"
    rows = repo.site_rows(demo_db, pts["id"].to_numpy()[[3, 1, 3]], ["code", "operator"])
    assert rows["code"].iloc[0] == rows["code"].iloc[2] and len(rows) == 3


def test_single_site_checker_caches_per_data_version(demo_db: Engine) -> None:
    from geodata.settings import Settings

    checks.classify_stored(demo_db, PACK)
    check = checks.site_checker(demo_db, Settings(database_url=str(demo_db.url)), PACK)
    props = {"mount": "building", "mast_height_m": 12.0, "building_height_m": 20.0, "reach_m": 1.5,
             "camouflaged": False, "operator": "VTL", "code": "NEW"}
    planted = next(iter(_planted(demo_db)))
    with demo_db.connect() as c:
        lon, lat = c.execute(select(m.Site.geom.ST_X(), m.Site.geom.ST_Y()).where(m.Site.code == planted)).one()
    r1 = check(props, lon, lat)
    assert any(f["check"] == "a1-routes" for f in r1["findings"])
    ctx1 = checks.planning_context(demo_db, PACK, metric_crs=M)
    assert checks.planning_context(demo_db, PACK, metric_crs=M) is ctx1  # cached
    checks.run_checks(demo_db, PACK, ["spacing"], metric_crs=M)  # a write bumps the data version
    assert checks.planning_context(demo_db, PACK, metric_crs=M) is not ctx1


def test_fast_readers_line_up_with_the_rows(demo_db: Engine) -> None:
    """The array-based readers (one aggregate per column) keep every column of a site together."""
    checks.classify_stored(demo_db, PACK)
    full = repo.load_sites(demo_db).set_index("id")
    with demo_db.begin() as c:  # a few sites never classified and without metric coordinates
        c.execute(text("UPDATE sites SET derived_class = NULL, x_m = NULL, y_m = NULL, shared_by = NULL "
                       "WHERE id IN (3, 4, 5)"))
    odd = {3, 4, 5}
    masts = repo.load_existing_masts(demo_db, statuses=["built"])
    assert len(masts) == int((full["status"] == "built").sum())
    sample = pd.concat([masts.sample(50, random_state=1), masts[masts["id"].isin(odd)]])
    for r in sample.to_dict("records"):
        f = full.loc[r["id"]]
        assert (r["code"], r["operator"], r["mount"]) == (f["code"], f["operator"], f["mount"])
        assert r["x_m"] == pytest.approx(f["x_m"], abs=0.01) and r["y_m"] == pytest.approx(f["y_m"], abs=0.01)
        tenants = 0 if r["id"] in odd else len(f["shared_by"] or [])
        assert r["free_slots"] == int(f["max_tenants"]) - 1 - tenants
        if r["id"] in odd:
            assert r["derived_class"] is None  # with its classifier fields, for the caller to classify
            assert r["reach_m"] == pytest.approx(f["reach_m"])
        else:
            assert r["derived_class"] == f["derived_class"]
    classes = repo.load_site_classes(demo_db, statuses=["built", "planned"])
    assert len(classes) == int(full["status"].isin(["built", "planned"]).sum())
    assert set(classes.loc[classes["derived_class"].isna(), "id"]) == odd & set(classes["id"])
    for r in classes.sample(30, random_state=2).itertuples():
        assert r.geometry.x == pytest.approx(full.loc[r.id].geometry.x)
        assert r.derived_class == full.loc[r.id]["derived_class"]
