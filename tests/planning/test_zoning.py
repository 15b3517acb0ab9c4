"""The flagship A1 check: properties (hypothesis) and the rules around it."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from planning.geometry import BoxGrid, PointGrid, line_segments, point_segment_distance, project_xy
from planning.rules import load_pack
from planning.zoning import a1_findings, build_a1_targets

PACK = load_pack("haiphong")
CX, CY = 596_600.0, 2_307_700.0  # central Hải Phòng in EPSG:9210
M = "EPSG:9210"


def sites_frame(xy: list[tuple[float, float]], **cols: Any) -> pd.DataFrame:
    n = len(xy)
    base = {"code": [f"S{i}" for i in range(n)], "operator": "VTL", "x_m": [p[0] for p in xy],
            "y_m": [p[1] for p in xy], "derived_class": "A2a", "declared_class": "A2a", "status": "built",
            "district_code": "305", "commune_code": "11333"}
    base.update(cols)
    return pd.DataFrame(base)


def routes_frame(lines: list[Any], corridors: list[float], policy: str = "a1_only", crs: str = M) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": range(1, len(lines) + 1), "name": [f"Đường {i}" for i in range(len(lines))],
                             "policy": policy, "corridor_m": corridors, "district_code": "305",
                             "legal_source": None}, geometry=lines, crs=crs)


def zones_frame(geoms: list[Any], radius: list[float | None], buffer: float = 0.0, crs: str = M) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": range(1, len(geoms) + 1), "name": [f"Khu {i}" for i in range(len(geoms))],
                             "kind": "square", "policy": "a1_only", "radius_m": radius, "buffer_m": buffer,
                             "legal_source": "QĐ test"}, geometry=geoms, crs=crs)


coord = st.floats(-1500, 1500, allow_nan=False)
polyline = st.lists(st.tuples(coord, coord), min_size=2, max_size=6).map(
    lambda pts: LineString([(CX + x, CY + y) for x, y in pts])).filter(lambda ln: ln.length > 1.0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=polyline, corridor=st.floats(5, 80), t=st.floats(0, 1), offset=st.floats(-200, 200),
       along=st.floats(-100, 100))
def test_route_finding_iff_within_corridor(line: LineString, corridor: float, t: float, offset: float,
                                           along: float) -> None:
    """A site farther than corridor + ε from the route never gets a finding; within it always does,
    with the exact distance to the centreline."""
    p = line.interpolate(t, normalized=True)
    site = Point(p.x + offset, p.y + along * 0.3)
    d = line.distance(site)
    assume(abs(d - corridor) > 1e-4)
    f = a1_findings(sites_frame([(site.x, site.y)]), routes_frame([line], [corridor]), None, PACK, metric_crs=M)
    if d > corridor:
        assert len(f) == 0
    else:
        assert len(f) == 1
        assert f["route"][0] == "Đường 0" and f["rule"][0] == "A1.route_corridor"
        assert f["distance_m"][0] == pytest.approx(d, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(pts=st.lists(st.tuples(coord, coord), min_size=3, max_size=8), w=st.floats(0.05, 0.95),
       k=st.integers(0, 7))
def test_site_inside_zone_polygon_always_has_a_finding(pts: list[tuple[float, float]], w: float, k: int) -> None:
    poly = shapely.convex_hull(shapely.multipoints([(CX + x, CY + y) for x, y in pts]))
    assume(isinstance(poly, Polygon) and poly.area > 10.0)
    # a point strictly inside: between the centroid and a vertex of the hull
    vx, vy = poly.exterior.coords[k % (len(poly.exterior.coords) - 1)]
    c = poly.centroid
    site = (c.x + w * (vx - c.x), c.y + w * (vy - c.y))
    assume(poly.contains(Point(site)))
    f = a1_findings(sites_frame([site]), None, zones_frame([poly], [None]), PACK, metric_crs=M)
    assert len(f) == 1 and f["zone"][0] == "Khu 0" and f["distance_m"][0] == 0.0
    # issue 16: the message names what the area admits ("where only A1 masts may be installed")
    assert "is inside zone Khu 0, where only A1 masts may be installed" in f["message"][0]


@settings(max_examples=100, deadline=None)
@given(r=st.floats(10, 300), dx=st.floats(-400, 400), dy=st.floats(-400, 400), buffer=st.floats(0, 50))
def test_point_zone_radius_plus_buffer(r: float, dx: float, dy: float, buffer: float) -> None:
    d = float(np.hypot(dx, dy))
    assume(abs(d - (r + buffer)) > 1e-4)
    f = a1_findings(sites_frame([(CX + dx, CY + dy)]), None, zones_frame([Point(CX, CY)], [r], buffer),
                    PACK, metric_crs=M)
    assert len(f) == (1 if d <= r + buffer else 0)
    if len(f):
        assert f["distance_m"][0] == pytest.approx(d, abs=1e-6)


lon = st.floats(106.55, 106.80)
lat = st.floats(20.75, 20.95)


@settings(max_examples=60, deadline=None)
@given(route=st.lists(st.tuples(lon, lat), min_size=2, max_size=5), corridor=st.floats(10, 60),
       t=st.lists(st.floats(0, 1), min_size=1, max_size=8), off=st.lists(st.floats(-150, 150), min_size=8,
                                                                          max_size=8))
def test_same_result_in_tm3_and_utm48n(route: list[tuple[float, float]], corridor: float, t: list[float],
                                       off: list[float]) -> None:
    """EPSG:9210 (VN-2000 / TM-3 105°45') and UTM 48N agree within 0.5 m on every distance."""
    line = LineString(route)
    assume(line.length > 1e-4)
    xs, ys = [], []
    for i, ti in enumerate(t):
        p = line.interpolate(ti, normalized=True)
        xs.append(p.x + off[i] * 1e-5)
        ys.append(p.y - off[(i + 3) % 8] * 1e-5)
    sites = gpd.GeoDataFrame({"code": [f"S{i}" for i in range(len(xs))], "operator": "VTL", "derived_class": "A2a",
                              "declared_class": "A2a", "status": "built"},
                             geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326")
    routes = routes_frame([line], [corridor], crs="EPSG:4326")
    res = {}
    for crs in ("EPSG:9210", "EPSG:32648", "EPSG:3405"):
        f = a1_findings(sites, routes, None, PACK, metric_crs=crs)
        res[crs] = dict(zip(f["site_code"], f["distance_m"], strict=True))
        # the truth in this CRS: distance to the projected line
        lx, ly = project_xy(*np.array(route).T, "EPSG:4326", crs)
        sx, sy = project_xy(xs, ys, "EPSG:4326", crs)
        mline = LineString(np.column_stack([lx, ly]))
        truth = {f"S{i}": mline.distance(Point(sx[i], sy[i])) for i in range(len(xs))}
        for code, d in truth.items():
            if d < corridor - 0.5:
                assert code in res[crs]
            elif d > corridor + 0.5:
                assert code not in res[crs]
    for crs in ("EPSG:32648", "EPSG:3405"):
        for code in set(res["EPSG:9210"]) & set(res[crs]):
            assert res[crs][code] == pytest.approx(res["EPSG:9210"][code], abs=0.5)


# --- rules around the check ---

def test_only_a1_only_routes_and_subject_classes_count() -> None:
    line = LineString([(CX - 500, CY), (CX + 500, CY)])
    sites = sites_frame([(CX, CY + 5)] * 6, code=[f"S{i}" for i in range(6)],
                        derived_class=["A2a", "A1a", "A2b", "A1a", "A2a", None],
                        declared_class=["A2a", "A1a", "A2b", "A2a", "A2a", None],
                        status=["built", "built", "built", "planned", "removed", "built"],
                        mount=[None, None, None, None, None, "building"], mast_height_m=[None] * 5 + [12.0],
                        building_height_m=[None] * 5 + [20.0], reach_m=[None] * 5 + [1.0],
                        camouflaged=[None] * 5 + [False])
    routes = pd.concat([routes_frame([line], [30.0]), routes_frame([line], [30.0], policy="a2a_allowed")],
                       ignore_index=True)
    f = a1_findings(sites, routes, None, PACK, metric_crs=M)
    # Changed by issue 16 (rules as the plans write them): an A1-only route keeps out EVERY A2 class
    # ("chỉ được lắp đặt cột ăng ten loại A1"), so the A2b mast S2 is flagged there too, and the
    # a2a_allowed route (same line) keeps out A2b/A2c, so S2 is flagged once more on it.
    # S0 derived A2a; S3 declared A2a (planned); S5 never classified -> classified here as A2a;
    # S4 removed; S1 A1a allowed everywhere.
    by_policy = {p: sorted(c for c, d in zip(f["site_code"], f["details"], strict=True) if d["policy"] == p)
                 for p in ("a1_only", "a2a_allowed")}
    assert by_policy == {"a1_only": ["S0", "S2", "S3", "S5"], "a2a_allowed": ["S2"]}
    assert set(f["severity"]) == {"violation"}
    # the CLI override replaces the A1-only list and narrows the others to it
    only_a2a = a1_findings(sites, routes, None, PACK, metric_crs=M, classes=("A2a",))
    assert sorted(only_a2a["site_code"]) == ["S0", "S3", "S5"] and set(only_a2a["route"]) == {"Đường 0"}


def test_one_finding_per_site_and_route_with_the_nearest_piece() -> None:
    # a zig-zag street passes the site three times; one finding, the smallest distance
    line = LineString([(CX - 300, CY + 10), (CX, CY + 10), (CX, CY - 12), (CX - 300, CY - 12), (CX - 300, CY + 40)])
    f = a1_findings(sites_frame([(CX - 150, CY)]), routes_frame([line], [30.0]), None, PACK, metric_crs=M)
    assert len(f) == 1 and f["distance_m"][0] == pytest.approx(10.0)
    # …and a site near two routes gets one finding for each
    other = LineString([(CX - 150, CY - 500), (CX - 150, CY + 500)])
    f = a1_findings(sites_frame([(CX - 150, CY)]), routes_frame([line, other], [30.0, 20.0]), None, PACK,
                    metric_crs=M)
    assert sorted(f["route"]) == ["Đường 0", "Đường 1"]
    assert dict(zip(f["route"], f["distance_m"], strict=True))["Đường 1"] == pytest.approx(0.0)


def test_finding_fields_and_legal_source_fallback() -> None:
    line = LineString([(CX - 500, CY), (CX + 500, CY)])
    f = a1_findings(sites_frame([(CX, CY + 12.5)]), routes_frame([line], [30.0]), zones_frame([Point(CX, CY)], [50.0]),
                    PACK, metric_crs=M, unit_names={"305": "Quận Lê Chân", "11333": "Phường Cầu Tre"})
    assert len(f) == 2
    r = f[f["route"].notna()].iloc[0]
    z = f[f["zone"].notna()].iloc[0]
    # the route has none of its own: the source of its policy's rule (issue 16: the plan wording)
    assert r["legal_source"] == PACK.citation(PACK.zoning.policy("a1_only").source)
    assert z["legal_source"] == "QĐ test"
    for row in (r, z):
        assert row["severity"] == "violation" and row["site_code"] == "S0" and row["operator"] == "VTL"
        assert row["district"] == "Quận Lê Chân" and row["commune"] == "Phường Cầu Tre"
        assert row["distance_m"] == pytest.approx(12.5)
    assert "corridor 30 m" in r["message"] and "radius 50 m" in z["message"]


def test_no_targets_or_no_sites() -> None:
    assert len(a1_findings(sites_frame([]), None, None, PACK, metric_crs=M)) == 0
    line = LineString([(CX - 500, CY), (CX + 500, CY)])
    assert len(a1_findings(sites_frame([(CX, CY)]), routes_frame([line], [30.0], policy="any"), None, PACK,
                           metric_crs=M)) == 0
    t = build_a1_targets(routes_frame([line], [30.0]), None, PACK, M)
    si, ti, d = t.match(np.array([CX + 10_000.0]), np.array([CY]))  # far outside the grid
    assert si.size == 0


# --- the grid indexes against brute force ---

@settings(max_examples=60, deadline=None)
@given(boxes=st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1000), st.floats(0, 200), st.floats(0, 200)),
                      min_size=1, max_size=30),
       pts=st.lists(st.tuples(st.floats(-100, 1300), st.floats(-100, 1300)), min_size=1, max_size=60),
       cell=st.floats(5, 400))
def test_box_grid_never_misses(boxes: list[tuple[float, ...]], pts: list[tuple[float, float]], cell: float) -> None:
    b = np.array(boxes)
    minx, miny, maxx, maxy = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    g = BoxGrid(minx, miny, maxx, maxy, cell)
    p = np.array(pts)
    pi, bi = g.candidates(p[:, 0], p[:, 1])
    got = set(zip(pi.tolist(), bi.tolist(), strict=True))
    assert len(got) == pi.size  # no duplicate pairs
    for i, (x, y) in enumerate(pts):
        for j in range(len(boxes)):
            if minx[j] <= x <= maxx[j] and miny[j] <= y <= maxy[j]:
                assert (i, j) in got


@settings(max_examples=60, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1000)), min_size=0, max_size=80),
       q=st.lists(st.tuples(st.floats(-200, 1200), st.floats(-200, 1200)), min_size=1, max_size=10),
       r=st.floats(0, 300), cell=st.floats(5, 300))
def test_point_grid_within_equals_brute_force(pts: list[tuple[float, float]], q: list[tuple[float, float]],
                                              r: float, cell: float) -> None:
    p = np.array(pts).reshape(-1, 2)
    g = PointGrid(p[:, 0], p[:, 1], cell)
    qa = np.array(q)
    qi, pi, d = g.within(qa[:, 0], qa[:, 1], r)
    got = {(a, b) for a, b in zip(qi.tolist(), pi.tolist(), strict=True)}
    want = {(i, j) for i in range(len(q)) for j in range(len(pts))
            if np.hypot(p[j, 0] - qa[i, 0], p[j, 1] - qa[i, 1]) <= r}
    assert got == want


@settings(max_examples=60, deadline=None)
@given(line=polyline, max_len=st.floats(1, 500), px=coord, py=coord)
def test_cut_segments_keep_the_distance(line: LineString, max_len: float, px: float, py: float) -> None:
    s = line_segments([line], max_len=max_len)
    assert np.all(np.hypot(s.bx - s.ax, s.by - s.ay) <= max_len + 1e-6)
    d = point_segment_distance(np.full(len(s), CX + px), np.full(len(s), CY + py), s.ax, s.ay, s.bx, s.by).min()
    assert d == pytest.approx(line.distance(Point(CX + px, CY + py)), abs=1e-6)


def test_provisional_zoning_is_reported_on_each_finding() -> None:
    tb = load_pack("thaibinh")
    line = LineString([(CX - 500, CY), (CX + 500, CY)])
    f = a1_findings(sites_frame([(CX, CY + 5)]), routes_frame([line], [30.0]), None, tb, metric_crs=M)
    assert f["details"][0]["status"] == "provisional" and "not retrieved" in f["details"][0]["ambiguity"]
    hp = a1_findings(sites_frame([(CX, CY + 5)]), routes_frame([line], [30.0]), None, PACK, metric_crs=M)
    # Changed by issue 16: Hải Phòng's zoning is provisional too (the QĐ 2522 street list was never
    # retrieved); the quoted plan sentence travels with the finding.
    assert hp["details"][0]["status"] == "provisional" and "QĐ 2522" in hp["details"][0]["ambiguity"]
    assert "chỉ được lắp đặt cột ăng ten loại A1" in hp["details"][0]["quote"]


@pytest.mark.parametrize("dense", [True, False])
def test_grid_lookup_dense_and_sparse_agree(dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import planning.geometry as g

    if not dense:
        monkeypatch.setattr(g, "DENSE_MAX_CELLS", 0)
    rng = np.random.default_rng(3)
    lines = [LineString(CX + rng.uniform(-2000, 2000, (3, 2)) + [0, CY - CX]) for _ in range(40)]
    xy = list(zip(CX + rng.uniform(-2100, 2100, 3000), CY + rng.uniform(-2100, 2100, 3000), strict=True))
    f = a1_findings(sites_frame(xy), routes_frame(lines, [25.0] * 40), None, PACK, metric_crs=M)
    pts = shapely.points(np.array(xy))
    want = sum(int(np.count_nonzero(shapely.distance(ln, pts) <= 25.0)) for ln in lines)
    assert len(f) == want > 0
