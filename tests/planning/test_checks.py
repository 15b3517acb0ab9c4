"""One proposed site against a prepared planning context (what POST /checks/site answers)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiPolygon, box

from planning.checks import build_context, check_site
from planning.geometry import project_xy
from planning.rules import load_pack

PACK = load_pack("haiphong")
M = "EPSG:9210"
LON, LAT = 106.68, 20.86
CX, CY = (float(v[0]) for v in project_xy([LON], [LAT], "EPSG:4326", M))


@pytest.fixture(scope="module")
def ctx():  # type: ignore[no-untyped-def]
    routes = gpd.GeoDataFrame({"id": [1, 2], "name": ["Đường Trần Phú", "Đường Lạch Tray"],
                               "policy": ["a1_only", "a2a_allowed"], "corridor_m": [30.0, 30.0],
                               "district_code": "305", "legal_source": ["QĐ 2522/QĐ-UBND", None]},
                              geometry=[LineString([(CX - 1000, CY), (CX + 1000, CY)]),
                                        LineString([(CX, CY - 1000), (CX, CY + 1000)])], crs=M)
    zones = gpd.GeoDataFrame({"id": [7], "name": ["Nhà hát lớn"], "kind": ["theatre"], "policy": ["a1_only"],
                              "radius_m": [None], "buffer_m": [0.0], "legal_source": ["QĐ 2522/QĐ-UBND"]},
                             geometry=[box(CX + 300, CY + 300, CX + 400, CY + 400)], crs=M)
    sites = pd.DataFrame([
        {"code": "E1", "operator": "VNP", "x_m": CX + 60, "y_m": CY + 200, "status": "built", "derived_class": "A2b",
         "mount": "ground", "max_tenants": 3, "shared_by": []},
        {"code": "E2", "operator": "MBF", "x_m": CX - 500, "y_m": CY + 500, "status": "built",
         "derived_class": "A2a", "mount": "building", "max_tenants": 1, "shared_by": []},
    ])
    lo, la = project_xy([CX - 2000, CX + 2000], [CY - 2000, CY + 2000], M, "EPSG:4326")
    units = gpd.GeoDataFrame({"code": ["11333", "305"], "name": ["Phường Cầu Tre", "Quận Lê Chân"],
                              "level": ["commune", "district"], "parent_code": ["305", None], "urban": [True, True],
                              "valid_from": [dt.date(1900, 1, 1)] * 2, "valid_to": [None, None]},
                             geometry=[MultiPolygon([box(lo[0], la[0], lo[1], la[1])])] * 2, crs="EPSG:4326")
    return build_context(sites, routes, zones, units, PACK, metric_crs=M, data_version=42)


A2A = {"mount": "building", "mast_height_m": 12.0, "building_height_m": 20.0, "reach_m": 1.5, "camouflaged": False,
       "operator": "VTL", "code": "NEW"}


def test_bulky_mast_on_an_a1_route(ctx) -> None:  # type: ignore[no-untyped-def]
    r = check_site(ctx, A2A, x_m=CX + 100, y_m=CY + 12)
    assert r["derived_class"] == "A2a" and r["reasons"][-1]["rule"] == "A2a.bulky_on_building"
    a1 = [f for f in r["findings"] if f["check"] == "a1-routes"]
    assert len(a1) == 1
    f = a1[0]
    assert f["rule"] == "A1.route_corridor" and f["severity"] == "violation" and f["route"] == "Đường Trần Phú"
    assert f["distance_m"] == pytest.approx(12.0) and f["legal_source"] == "QĐ 2522/QĐ-UBND"
    assert f["district"] == "Quận Lê Chân" and f["commune"] == "Phường Cầu Tre"
    assert r["location"]["urban"] is True and r["data_version"] == 42
    assert r["rule_pack"] == {"id": "haiphong", "version": PACK.version}


def test_non_bulky_mast_passes_the_a1_check(ctx) -> None:  # type: ignore[no-untyped-def]
    props = {**A2A, "mast_height_m": 2.0, "reach_m": 0.3}
    r = check_site(ctx, props, x_m=CX + 100, y_m=CY + 12)
    assert r["derived_class"] == "A1a"
    assert not [f for f in r["findings"] if f["check"] == "a1-routes"]


def test_declared_a2a_counts_and_mismatch_is_reported(ctx) -> None:  # type: ignore[no-untyped-def]
    props = {**A2A, "mast_height_m": 2.0, "reach_m": 0.3, "declared_class": "A2a"}
    r = check_site(ctx, props, x_m=CX + 350, y_m=CY + 350)  # inside the theatre zone
    rules = {f["rule"] for f in r["findings"]}
    assert {"A1.zone", "class.mismatch"} <= rules
    assert r["class_mismatch"] is True and r["declared_class"] == "A2a"
    zone = next(f for f in r["findings"] if f["rule"] == "A1.zone")
    assert zone["zone"] == "Nhà hát lớn" and zone["distance_m"] == 0.0


def test_spacing_and_colocation(ctx) -> None:  # type: ignore[no-untyped-def]
    r = check_site(ctx, {**A2A, "mount": "ground", "mast_height_m": 30.0}, x_m=CX + 60, y_m=CY + 150)
    sp = [f for f in r["findings"] if f["check"] == "spacing"]
    assert len(sp) == 1 and sp[0]["other_site_code"] == "E1" and sp[0]["distance_m"] == pytest.approx(50.0)
    assert [c["site_code"] for c in r["colocation_candidates"]] == ["E1"]
    assert r["colocation_candidates"][0]["free_slots"] == 2
    # an existing mast is not too close to itself (a change to E1)
    r = check_site(ctx, {**A2A, "code": "E1", "mount": "ground", "mast_height_m": 30.0}, x_m=CX + 60, y_m=CY + 150)
    assert not [f for f in r["findings"] if f["check"] == "spacing"] and r["colocation_candidates"] == []


def test_batch_and_single_site_give_identical_records(ctx) -> None:  # type: ignore[no-untyped-def]
    """Spacing and class-mismatch findings each have one builder: the batch checks and the single-site
    check (POST /checks/site) answer the same record — message, details and all — for the same site."""
    from planning.classify import classify_sites, mismatch_findings
    from planning.findings import to_records
    from planning.spacing import spacing_findings

    props = {**A2A, "mount": "ground", "mast_height_m": 30.0, "declared_class": "A1a"}
    one = check_site(ctx, props, x_m=CX + 60, y_m=CY + 150)
    site = pd.DataFrame([{**props, "x_m": CX + 60, "y_m": CY + 150, "status": "planned",
                          "district_code": "305", "commune_code": "11333"}])
    spacing = spacing_findings(site, PACK, metric_crs=M, subjects=site, index=ctx.sites,
                               urban_by_commune={"11333": True}, unit_names=ctx.unit_names)
    mismatch = mismatch_findings(classify_sites(site, PACK), PACK, unit_names=ctx.unit_names)
    assert len(spacing) == 1 and len(mismatch) == 1
    for check, batch in (("spacing", spacing), ("class-mismatch", mismatch)):
        single = [f for f in one["findings"] if f["check"] == check]
        assert single == to_records(batch), check
    # details also carry the message's id and parameters, so a stored finding reads in the reader's language
    assert single[0]["details"] == {"declared_class": "A1a", "derived_class": one["derived_class"],
                                    "class_rule": one["reasons"][-1]["rule"],
                                    "msg": {"msgid": "declared {declared}, but the rules give {derived}",
                                            "params": {"declared": "A1a", "derived": one["derived_class"]}}}
    assert single[0]["district"] == "Quận Lê Chân" and single[0]["legal_source"]


def test_lon_lat_input_and_far_away_site(ctx) -> None:  # type: ignore[no-untyped-def]
    r = check_site(ctx, A2A, LON, LAT)
    assert r["location"]["x_m"] == pytest.approx(CX, abs=1e-3)
    assert {f["check"] for f in r["findings"]} == {"a1-routes"}  # on the centreline
    r = check_site(ctx, A2A, LON + 0.5, LAT)  # outside the communes, no targets near
    assert r["findings"] == [] and r["location"]["commune"] is None and r["location"]["urban"] is None
    with pytest.raises(ValueError, match="lon/lat"):
        check_site(ctx, A2A)


def test_unknown_class_lists_missing_fields(ctx) -> None:  # type: ignore[no-untyped-def]
    r = check_site(ctx, {"mount": "building", "camouflaged": False}, x_m=CX, y_m=CY)
    assert r["derived_class"] == "unknown"
    assert r["reasons"][-1]["missing"] == ["mast_height_m", "building_height_m", "reach_m"]
    # Changed by issue 16: on an A1-only route a site whose class cannot be decided is no longer
    # silent: one warning, "cannot be confirmed", naming the missing inputs (it may be A2a)
    a1 = [f for f in r["findings"] if f["check"] == "a1-routes"]
    assert len(a1) == 1 and a1[0]["severity"] == "warning" and a1[0]["rule"].endswith(".unconfirmed")
    assert a1[0]["details"]["missing"] == ["mast_height_m", "building_height_m", "reach_m"]
    assert "cannot be confirmed, missing: mast_height_m, building_height_m, reach_m" in a1[0]["message"]
    assert "None" not in a1[0]["message"]


def test_check_site_point_geometry_matches_batch(ctx) -> None:  # type: ignore[no-untyped-def]
    """The single-site answer and the batch check agree (same targets, same distance)."""
    from planning.zoning import a1_findings

    sites = pd.DataFrame([{**A2A, "x_m": CX + 310.0, "y_m": CY + 20.0, "derived_class": "A2a",
                           "declared_class": None, "status": "planned"}])
    batch = a1_findings(sites, None, None, PACK, metric_crs=M, targets=ctx.a1)
    one = check_site(ctx, A2A, x_m=CX + 310.0, y_m=CY + 20.0)
    got = sorted((f["rule"], f["distance_m"]) for f in one["findings"] if f["check"] == "a1-routes")
    assert got == sorted(zip(batch["rule"], batch["distance_m"].round(2), strict=True))
    assert len(got) == 1
