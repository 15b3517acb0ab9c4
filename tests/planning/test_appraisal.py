"""The appraisal report on a small synthetic world, with the spatial core's real single-site check."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from planning.appraisal import AppraisalContext, PendingItem, appraise, redact_for_operator, summarise
from planning.checks import build_context, check_site
from planning.geometry import project_xy
from planning.plan_items import parse_plan
from planning.rules import load_pack

CRS = "EPSG:9210"
PACK = load_pack("haiphong")
# a point in Hải Phòng and helpers to place things metres away from it
X0, Y0 = (float(v[0]) for v in project_xy([106.68], [20.85], "EPSG:4326", CRS))


def lonlat(dx: float, dy: float) -> list[float]:
    lon, lat = project_xy([X0 + dx], [Y0 + dy], CRS, "EPSG:4326")
    return [float(lon[0]), float(lat[0])]


def _world() -> AppraisalContext:
    sites = pd.DataFrame([
        {"code": "EX-1", "operator": "MBF", "status": "built", "mount": "ground", "mast_height_m": 40.0,
         "derived_class": "A2b", "max_tenants": 2, "shared_by": ["VNP"], "x_m": X0 + 1000, "y_m": Y0},
        {"code": "EX-2", "operator": "VTL", "status": "built", "mount": "ground", "mast_height_m": 30.0,
         "derived_class": "A2b", "max_tenants": 4, "shared_by": ["MBF"], "x_m": X0 - 1000, "y_m": Y0},
    ])
    route = gpd.GeoDataFrame({"id": [1], "name": ["Phố Tam Bạc"], "policy": ["a1_only"], "corridor_m": [30.0],
                              "district_code": ["303"], "legal_source": ["QĐ 2522/QĐ-UBND"]},
                             geometry=[LineString([lonlat(-5000, 2000), lonlat(5000, 2000)])], crs="EPSG:4326")
    ctx = build_context(sites, route, None, None, PACK, metric_crs=CRS)
    lo, la = lonlat(-20000, -20000), lonlat(20000, 20000)
    return AppraisalContext(
        metric_crs=CRS, check_site=lambda p, lon, lat: check_site(ctx, p, lon, lat),
        sites={"EX-1": {"code": "EX-1", "operator": "MBF", "status": "built", "lon": lonlat(1000, 0)[0],
                        "lat": lonlat(1000, 0)[1], "shared_by": ["VNP"], "max_tenants": 2, "derived_class": "A2b",
                        "mount": "ground", "mast_height_m": 40.0},
               "EX-2": {"code": "EX-2", "operator": "VTL", "status": "built", "lon": lonlat(-1000, 0)[0],
                        "lat": lonlat(-1000, 0)[1], "shared_by": ["MBF"], "max_tenants": 4, "derived_class": "A2b",
                        "mount": "ground", "mast_height_m": 30.0, "camouflaged": False}},
        province=box(lo[0], lo[1], la[0], la[1]), province_name="Hải Phòng",
        pending=[PendingItem(77, "MBF", 0, parse_plan(_fc(_site(60, 0, "MBF-P"))).features[0]),
                 PendingItem(77, "MBF", 1, parse_plan(_fc(_cable(0, 505))).features[0])],
        conflict_radius_m=100.0, spacing_source="QĐ 26/2018", rule_pack={"id": PACK.id},
    )


def _fc(*f: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(f)}


def _site(dx: float, dy: float, code: str, **p: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": lonlat(dx, dy)},
            "properties": {"item": "new_site", "code": code, "mount": "ground", "mast_height_m": 30, **p}}


def _cable(dx: float, dy: float) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [lonlat(dx, dy), lonlat(dx + 300, dy)]},
            "properties": {"item": "cable_route", "street": "Lạch Tray", "method": "ha_ngam"}}


def test_report_covers_every_kind_of_finding() -> None:
    feats = parse_plan(_fc(
        _site(0, 0, "N-1"),                                   # 60 m from MBF's pending mast
        _site(40, 0, "N-2"),                                  # 40 m from N-1 of the same plan
        _site(0, 2010, "N-A2A", mount="building", mast_height_m=12, building_height_m=20),  # on the A1 route
        _site(1030, 0, "N-NEAR"),                             # 30 m from EX-1
        _site(30000, 0, "N-OUT"),                             # outside the province box
        {"type": "Feature", "geometry": None, "properties": {"item": "share_site", "site_code": "EX-1"}},
        {"type": "Feature", "geometry": None, "properties": {"item": "remove_site", "site_code": "EX-2"}},
        _cable(0, 500),                                       # 5 m from MBF's pending cable
    )).features
    rep = appraise(feats, "VTL", _world())
    by = {it.get("code") or f"{it['item']}:{it.get('site_code', it.get('street'))}": it for it in rep["items"]}
    rules = {k: {f["rule"] for f in v["findings"]} for k, v in by.items()}
    assert "plan.pending_conflict" in rules["N-1"] and "plan.internal_spacing" in rules["N-1"]
    assert "plan.internal_spacing" in rules["N-2"]
    a2a = by["N-A2A"]
    assert a2a["derived_class"] == "A2a" and "A1.route_corridor" in rules["N-A2A"]
    route_f = next(f for f in a2a["findings"] if f["rule"] == "A1.route_corridor")
    assert 5 < route_f["distance_m"] < 15 and route_f["legal_source"] == "QĐ 2522/QĐ-UBND"
    near = next(f for f in by["N-NEAR"]["findings"] if f["rule"] == "spacing.min_distance")
    assert near["other_site_code"] == "EX-1" and abs(near["distance_m"] - 30) < 0.5 and near["legal_source"]
    assert by["N-OUT"]["outside_province"] and "plan.outside_province" in rules["N-OUT"]
    assert "plan.share_capacity" in rules["share_site:EX-1"]  # MBF + VNP on a 2-tenant mast
    assert "plan.remove_shared" in rules["remove_site:EX-2"]
    assert "plan.shared_trench" in rules["cable_route:Lạch Tray"]
    assert by["cable_route:Lạch Tray"]["length_m"] == 300.0
    s = rep["summary"]
    assert s["items"] == 8 and s["outside_province"] == 1 and s["conflicts"] == 2  # N-1 and N-2
    assert s["by_severity"]["violation"] == sum(f["severity"] == "violation" for it in rep["items"]
                                                for f in it["findings"])
    red = redact_for_operator(rep)
    assert all("other_operator" not in f for it in red["items"] for f in it["findings"]
               if f["rule"].startswith("plan.pending") or f["rule"] == "plan.shared_trench")
    assert any(f.get("other_item") is not None for it in red["items"] for f in it["findings"]
               if f["rule"] == "plan.internal_spacing")  # own plan's references stay


def test_change_site_is_not_too_close_to_itself() -> None:
    feats = parse_plan(_fc({"type": "Feature", "geometry": {"type": "Point", "coordinates": lonlat(-990, 0)},
                            "properties": {"item": "change_site", "site_code": "EX-2", "mast_height_m": 35}})).features
    rep = appraise(feats, "VTL", _world())
    assert not [f for f in rep["items"][0]["findings"] if f.get("other_site_code") == "EX-2"]
    assert rep["items"][0]["derived_class"] == "A2b"


severity = st.sampled_from(["violation", "warning", "info"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(severity, max_size=5), max_size=20))
def test_summary_counts_add_up(per_item: list[list[str]]) -> None:
    items = [{"item": "new_site", "findings": [{"rule": f"r.{s}", "severity": s} for s in sev]} for sev in per_item]
    s = summarise(items)
    assert s["items"] == len(items)
    assert sum(s["by_severity"].values()) == sum(len(x) for x in per_item) == sum(s["by_rule"].values())
    assert s["items_with_violations"] == sum("violation" in x for x in per_item)


def test_monitoring_with_no_sites_and_realised_matching() -> None:
    import datetime as dt

    from planning.monitoring import implementation

    cols = ["code", "operator", "status", "district_code", "x_m", "y_m", "target_date"]
    empty = implementation(pd.DataFrame([], columns=cols), dt.date(2026, 1, 1), 100.0)
    assert empty["rows"] == [] and empty["totals"] == {"planned": 0, "built": 0, "realised": 0, "overdue": 0}
    f = pd.DataFrame([
        ["P-1", "VTL", "planned", "305", 0.0, 0.0, dt.date(2020, 1, 1)],
        ["P-2", "VTL", "planned", "305", 5000.0, 0.0, dt.date(2020, 1, 1)],
        ["P-3", "MBF", "planned", "305", 10.0, 0.0, None],
        ["B-1", "VTL", "built", "305", 60.0, 0.0, None],
        ["B-2", "MBF", "built", "303", 5050.0, 0.0, None],  # another firm's mast does not realise P-2
    ], columns=cols)
    out = implementation(f, dt.date(2026, 1, 1), 100.0, {"305": "Lê Chân"})
    rows = {(r["operator"], r["district"]): r for r in out["rows"]}
    assert rows[("VTL", "305")] | {} == {"operator": "VTL", "district": "305", "district_name": "Lê Chân",
                                         "planned": 2, "built": 1, "realised": 1, "overdue": 1,
                                         "overdue_sites": ["P-2"]}
    assert rows[("MBF", "305")]["realised"] == 0 and rows[("MBF", "305")]["overdue"] == 0  # no target date
    assert out["totals"] == {"planned": 3, "built": 2, "realised": 1, "overdue": 1}


def test_competing_plans_use_the_packs_urban_and_non_urban_distances() -> None:
    """Issue 16: a mast 250 m from another firm's pending mast conflicts in a non-urban commune (400 m)
    but not in an urban one (100 m); where urban/non-urban is not known the larger distance holds."""
    from dataclasses import replace

    feats = parse_plan(_fc(_site(60, 250, "N-1"))).features  # 250 m from MBF's pending mast at (60, 0)

    def conflicts(urban: bool | None, with_lookup: bool = True) -> list[dict[str, Any]]:
        ctx = replace(_world(), conflict_radius_m=100.0, conflict_radius_rural_m=400.0,
                      urban_at=(lambda lon, lat: urban) if with_lookup else None)
        rep = appraise(feats, "VTL", ctx)
        return [f for f in rep["items"][0]["findings"] if f["rule"] == "plan.pending_conflict"]

    assert conflicts(True) == []
    rural = conflicts(False)
    assert len(rural) == 1 and "400" in rural[0]["message"]
    assert len(conflicts(None)) == 1 and len(conflicts(None, with_lookup=False)) == 1
