"""Pure cable rules: status transitions, splitting by districts, length-weighted progress."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely import LineString, box

from planning import cables as pc
from planning.vocab import CABLE_METHODS, SEGMENT_STATUSES

AS_OF = dt.date(2026, 6, 1)


# --------------------------------------------------------------------------------------------
# transitions
# --------------------------------------------------------------------------------------------

ALLOWED = {("planned", "in_progress", False), ("in_progress", "done", False), ("done", "in_progress", True)}


@pytest.mark.parametrize("current", SEGMENT_STATUSES)
@pytest.mark.parametrize("requested", [*SEGMENT_STATUSES, "frozen", "", "DONE"])
@pytest.mark.parametrize("reopen", [False, True])
def test_transition_table(current: str, requested: str, reopen: bool) -> None:
    if (current, requested, reopen) in ALLOWED:
        pc.check_transition(current, requested, reopen=reopen)
        return
    with pytest.raises(pc.TransitionError) as e:
        pc.check_transition(current, requested, reopen=reopen)
    assert e.value.current == current and e.value.requested == requested
    assert str(e.value)  # a sentence, not an empty error


def test_transition_messages_say_why() -> None:
    with pytest.raises(pc.TransitionError, match="unknown status 'frozen'"):
        pc.check_transition("planned", "frozen")
    with pytest.raises(pc.TransitionError, match="cannot go back to 'planned'"):
        pc.check_transition("done", "planned")
    with pytest.raises(pc.TransitionError, match="cannot go back to 'planned'"):
        pc.check_transition("done", "planned", reopen=True)
    with pytest.raises(pc.TransitionError, match="explicit reopen"):
        pc.check_transition("done", "in_progress")
    with pytest.raises(pc.TransitionError, match="in_progress' before 'done"):
        pc.check_transition("planned", "done")
    with pytest.raises(pc.TransitionError, match="already 'done'"):
        pc.check_transition("done", "done")
    assert pc.allowed_next("planned") == ["in_progress"]
    assert pc.allowed_next("done") == ["in_progress"]


# --------------------------------------------------------------------------------------------
# status as of a date, overdue
# --------------------------------------------------------------------------------------------

def _history(rows: list[tuple[int, str | None, str, dt.date]]) -> pd.DataFrame:
    return pd.DataFrame([{"segment_id": s, "from_status": f, "to_status": t, "changed_on": d, "order": i}
                         for i, (s, f, t, d) in enumerate(rows)])


def test_status_as_of_rebuilds_from_history() -> None:
    segs = pd.DataFrame({"status": ["done", "in_progress", "done", "planned"]}, index=[1, 2, 3, 4])
    hist = _history([
        (1, "planned", "in_progress", dt.date(2018, 3, 1)), (1, "in_progress", "done", dt.date(2018, 11, 1)),
        (2, "planned", "in_progress", dt.date(2020, 1, 1)), (2, "in_progress", "done", dt.date(2020, 6, 1)),
        (2, "done", "in_progress", dt.date(2021, 1, 1)),
        # same-day changes keep their recording order
        (4, "planned", "in_progress", dt.date(2022, 5, 5)), (4, "in_progress", "done", dt.date(2022, 5, 5)),
        (4, "done", "in_progress", dt.date(2023, 1, 1)),
    ])
    segs.loc[4, "status"] = "in_progress"
    at = lambda d: pc.status_as_of(segs, hist, d).to_dict()  # noqa: E731
    assert at(None) == {1: "done", 2: "in_progress", 3: "done", 4: "in_progress"}
    assert at(dt.date(2017, 12, 31)) == {1: "planned", 2: "planned", 3: "done", 4: "planned"}
    assert at(dt.date(2018, 11, 1)) == {1: "done", 2: "planned", 3: "done", 4: "planned"}  # end of day counts
    assert at(dt.date(2020, 12, 31)) == {1: "done", 2: "done", 3: "done", 4: "planned"}
    assert at(dt.date(2022, 5, 5)) == {1: "done", 2: "in_progress", 3: "done", 4: "done"}


def test_overdue_means_target_year_ended_and_not_done() -> None:
    status = pd.Series(["done", "in_progress", "planned", "planned", "planned"])
    years = pd.Series([2017, 2017, 2025, 2026, None])
    assert pc.is_overdue(status, years, dt.date(2026, 6, 1)).tolist() == [False, True, True, False, False]
    assert pc.is_overdue(status, years, dt.date(2027, 1, 1)).tolist() == [False, True, True, True, False]


# --------------------------------------------------------------------------------------------
# splitting by districts (property-tested)
# --------------------------------------------------------------------------------------------

def _grid(xcuts: list[float], ycuts: list[float], size: float) -> gpd.GeoDataFrame:
    xs = [0.0, *sorted(xcuts), size]
    ys = [0.0, *sorted(ycuts), size]
    cells, codes = [], []
    for i in range(len(xs) - 1):
        for j in range(len(ys) - 1):
            if xs[i + 1] - xs[i] > 1e-6 and ys[j + 1] - ys[j] > 1e-6:
                cells.append(box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
                codes.append(f"D{i}-{j}")
    return gpd.GeoDataFrame({"code": codes, "name": codes}, geometry=cells)


def _voronoi(points: list[tuple[float, float]], size: float) -> gpd.GeoDataFrame:
    frame = box(0, 0, size, size)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=frame)
    polys = [c.intersection(frame) for c in cells.geoms]
    polys = [p for p in polys if not p.is_empty and p.area > 0]
    return gpd.GeoDataFrame({"code": [f"V{i}" for i in range(len(polys))], "name": ""}, geometry=polys)


SIZE = 10_000.0
# survey coordinates have millimetre resolution (and no subnormal floats, which GEOS cannot order)
coord = st.floats(-2_000, SIZE + 2_000, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 3))
polyline = st.lists(st.tuples(coord, coord), min_size=2, max_size=6).map(LineString).filter(lambda g: g.length > 0)
cuts = st.lists(st.floats(1, SIZE - 1, allow_nan=False), min_size=0, max_size=5)


def _check_split(lines: list[LineString], units: gpd.GeoDataFrame) -> pd.DataFrame:
    parts = pc.split_by_units(lines, units)
    assert (parts["length_m"] > 0).all()
    assert all(u is None or isinstance(u, str) for u in parts["unit"])
    sums = parts.groupby("line")["length_m"].sum()
    for i, ln in enumerate(lines):
        # the parts of every line add up to its length (to floating-point precision, far below 1 m)
        assert sums.get(i, 0.0) == pytest.approx(ln.length, rel=1e-12, abs=1e-6)
    return parts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(polyline, min_size=1, max_size=8), xcuts=cuts, ycuts=cuts)
def test_split_parts_add_up_on_a_grid(lines: list[LineString], xcuts: list[float], ycuts: list[float]) -> None:
    units = _grid(xcuts, ycuts, SIZE)
    parts = _check_split(lines, units)
    frame = box(0, 0, SIZE, SIZE)
    tol = len(units) * pc.SLIVER_M + 1e-6
    edges = shapely.union_all(list(units.boundary))
    for i, ln in enumerate(lines):
        # no independent reference for lines that double back (set operations dissolve overlaps)
        # or that run along a boundary (a tie between two districts, shared out by the rule)
        if not ln.is_simple or ln.intersection(edges).length > 0:
            continue
        mine = parts[parts["line"] == i]
        outside = float(mine.loc[mine["unit"].isna(), "length_m"].sum())
        assert outside == pytest.approx(ln.difference(frame).length, abs=tol)
        for code, geom in zip(units["code"], units.geometry, strict=True):
            got = float(mine.loc[mine["unit"] == code, "length_m"].sum())
            assert got == pytest.approx(ln.intersection(geom).length, abs=tol)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(polyline, min_size=1, max_size=6),
       seeds=st.lists(st.tuples(st.floats(0, SIZE), st.floats(0, SIZE)), min_size=2, max_size=12, unique=True))
def test_split_parts_add_up_on_irregular_districts(lines: list[LineString], seeds: list[tuple[float, float]]) -> None:
    assume(len({(round(x), round(y)) for x, y in seeds}) == len(seeds))
    units = _voronoi(seeds, SIZE)
    _check_split(lines, units)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(polyline, min_size=1, max_size=6), shift=st.floats(-500, 500), xcuts=cuts)
def test_split_with_overlapping_or_duplicated_units_still_adds_up(lines: list[LineString], shift: float,
                                                                 xcuts: list[float]) -> None:
    """Digitised boundaries overlap; a line's parts must never add up to more than its length."""
    units = _grid(xcuts, [], SIZE)
    moved = units.copy()
    moved["geometry"] = units.geometry.translate(xoff=shift)
    moved["code"] = [f"{c}-moved" for c in units["code"]]
    both = pd.concat([units, moved, units.iloc[:1]], ignore_index=True)  # overlaps and a duplicate
    _check_split(lines, gpd.GeoDataFrame(both, geometry="geometry"))


def test_split_folds_boundary_slivers_into_the_main_part() -> None:
    a, b = box(0, 0, 100, 100), box(100, 0, 200, 100)
    units = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["A", "B"]}, geometry=[a, b.union(box(99.99, 40, 100, 60))])
    line = LineString([(10, 50), (99.995, 50)])  # grazes B's sliver for 0.005 m
    parts = pc.split_by_units([line], units)
    assert parts[["unit", "length_m"]].to_dict("records") == [{"unit": "A", "length_m": pytest.approx(line.length)}]
    crossing = LineString([(50, 50), (150, 50)])
    parts = pc.split_by_units([crossing], units)
    got = dict(zip(parts["unit"], parts["length_m"], strict=True))  # the 1 cm overlap is shared out
    assert got == {"A": pytest.approx(50, abs=0.01), "B": pytest.approx(50, abs=0.01)}
    assert sum(got.values()) == pytest.approx(100.0, abs=1e-9)
    assert pc.majority_unit([crossing, LineString([(120, 10), (190, 10)]), LineString([(300, 0), (400, 0)])],
                            units) in (["A", "B", None], ["B", "B", None])


def test_split_counts_lines_that_double_back_in_full() -> None:
    """A section that runs out and back along one street is twice as long; no metre may be lost."""
    units = _grid([5_000.0], [], SIZE)
    back = LineString([(4_000, 10), (6_000, 10), (4_500, 10)])  # 2,000 m out, 1,500 m back
    parts = pc.split_by_units([back], units)
    got = dict(zip(parts["unit"], parts["length_m"], strict=True))
    assert got == {"D0-0": pytest.approx(1_500), "D1-0": pytest.approx(2_000)}
    assert sum(got.values()) == pytest.approx(back.length)


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------

def _segments(rows: list[dict[str, object]], crs: str = "EPSG:9210") -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows, index=range(1, len(rows) + 1))
    return gpd.GeoDataFrame(df.drop(columns="geometry"), geometry=list(df["geometry"]), crs=crs)


DISTRICTS = gpd.GeoDataFrame({"code": ["303", "305"], "name": ["Quận Hồng Bàng", "Quận Lê Chân"]},
                             geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs="EPSG:9210")


def test_progress_is_length_weighted_and_splits_crossing_segments() -> None:
    segs = _segments([
        {"status": "done", "target_year": 2017, "plan_ref": "18/KH-BCĐ", "operators": ["VTL"],
         "geometry": LineString([(100, 100), (200, 100)])},                     # 100 m in 303
        {"status": "planned", "target_year": 2018, "plan_ref": "18/KH-BCĐ", "operators": ["VTL", "VNP"],
         "geometry": LineString([(700, 500), (1600, 500)])},                    # 300 m in 303, 600 m in 305
        {"status": "in_progress", "target_year": 2030, "plan_ref": None, "operators": [],
         "geometry": LineString([(1500, 900), (2500, 900)])},                   # 500 m in 305, 500 m outside
    ])
    p = pc.compute_progress(segs, by="district", as_of=AS_OF, districts=DISTRICTS)
    rows = {r.key: r for r in p.rows}
    assert rows["303"].total_m == pytest.approx(400) and rows["303"].done_m == pytest.approx(100)
    assert rows["303"].overdue_m == pytest.approx(300)
    assert rows["305"].total_m == pytest.approx(1100) and rows["305"].planned_m == pytest.approx(600)
    assert rows[None].total_m == pytest.approx(500) and rows[None].name == pc.OUTSIDE_NAME
    assert sum(r.total_m for r in p.rows) == pytest.approx(p.totals.total_m, abs=1e-6)
    d = p.to_dict()
    assert [r["district_code"] for r in d["rows"]] == ["303", "305", None]
    assert d["rows"][0]["district"] == "Quận Hồng Bàng"
    assert d["totals"]["total_km"] == 2.0 and d["totals"]["done_pct"] == 5.0  # 100 m of 2 km, not 1 of 3
    assert d["totals"]["segments"] == 3  # the crossing segment counts once

    by_plan = pc.compute_progress(segs, by="plan", as_of=AS_OF).to_dict()
    assert [r["plan"] for r in by_plan["rows"]] == ["18/KH-BCĐ", pc.NO_PLAN]
    only = pc.compute_progress(segs, by="plan", as_of=AS_OF, plan="18/KH-BCĐ").to_dict()
    assert only["totals"]["total_km"] == 1.0 and only["totals"]["overdue_km"] == 0.9

    by_op = pc.compute_progress(segs, by="operator", as_of=AS_OF).to_dict()
    ops = {r["operator"]: r for r in by_op["rows"]}
    assert ops["VTL"]["total_km"] == 1.0 and ops["VNP"]["total_km"] == 0.9 and ops[pc.NO_OPERATOR]["total_km"] == 1.0
    assert ops["VTL"]["share_pct"] == 50.0
    assert by_op["totals"]["total_km"] == 2.0  # operators overlap; the network is counted once


def test_progress_by_method_and_by_commune_counts_streets_next_to_kilometres() -> None:
    """The plans report "11 tuyến … Lê Chân": kilometres split into chỉnh trang and hạ ngầm, and streets."""
    segs = _segments([
        {"status": "done", "target_year": 2025, "plan_ref": None, "operators": [], "method": "ha_ngam",
         "street": "Lạch Tray", "geometry": LineString([(100, 100), (300, 100)])},       # 200 m in A
        {"status": "planned", "target_year": 2026, "plan_ref": None, "operators": [], "method": "chinh_trang",
         "street": "Lạch Tray", "geometry": LineString([(900, 500), (1300, 500)])},      # 100 m A, 300 m B
        {"status": "planned", "target_year": 2026, "plan_ref": None, "operators": [], "method": "chinh_trang",
         "street": "Tô Hiệu", "geometry": LineString([(1500, 100), (1600, 100)])},       # 100 m in B
        {"status": "in_progress", "target_year": 2026, "plan_ref": None, "operators": [],
         "method": "chinh_trang_ha_ngam", "street": "Cầu Đất", "geometry": LineString([(1500, 800), (1800, 800)])},
    ])
    by_method = pc.compute_progress(segs, by="method", as_of=AS_OF).to_dict()
    rows = {r["method"]: r for r in by_method["rows"]}
    assert list(rows) == ["chinh_trang", "ha_ngam", "chinh_trang_ha_ngam"]  # the vocabulary's order
    assert rows["chinh_trang"]["total_km"] == 0.5 and rows["chinh_trang"]["streets"] == 2
    assert rows["ha_ngam"]["done_km"] == 0.2 and rows["ha_ngam"]["streets"] == 1
    assert by_method["totals"]["streets"] == 3 and by_method["totals"]["total_km"] == 1.0
    communes = DISTRICTS.assign(code=["30301", "30501"], name=["Phường An Biên", "Phường Lê Chân"])
    by_commune = pc.compute_progress(segs, by="commune", as_of=AS_OF, districts=communes).to_dict()
    rows = {r["commune_code"]: r for r in by_commune["rows"]}
    assert rows["30301"]["commune"] == "Phường An Biên" and rows["30301"]["streets"] == 1
    assert rows["30501"]["streets"] == 3 and rows["30501"]["total_km"] == 0.7
    # Lạch Tray runs through both communes: a street of each, one street of the programme
    assert by_commune["totals"]["streets"] == 3


def test_progress_rejects_degrees_and_unknown_groupings() -> None:
    segs = _segments([{"status": "done", "target_year": 2017, "plan_ref": None, "operators": [],
                       "geometry": LineString([(106.6, 20.8), (106.7, 20.8)])}], crs="EPSG:4326")
    with pytest.raises(ValueError, match="metric"):
        pc.compute_progress(segs, by="plan", as_of=AS_OF)
    with pytest.raises(ValueError, match="cannot group"):
        pc.compute_progress(segs.to_crs(9210), by="street", as_of=AS_OF)  # type: ignore[arg-type]


@st.composite
def segment_sets(draw: st.DrawFn) -> gpd.GeoDataFrame:
    n = draw(st.integers(1, 25))
    rows = []
    for _ in range(n):
        xy = st.tuples(st.floats(-300, 2300).map(lambda v: round(v, 3)), st.floats(-100, 1100).map(lambda v: round(v, 3)))
        pts = draw(st.lists(xy, min_size=2, max_size=4))
        geom = LineString(pts)
        assume(geom.length > 0)
        rows.append({"status": draw(st.sampled_from(SEGMENT_STATUSES)), "target_year": draw(st.sampled_from([2017, 2030])),
                     "plan_ref": draw(st.sampled_from(["18/KH-BCĐ", "85/KH-BCĐ", None])),
                     "operators": draw(st.lists(st.sampled_from(["VTL", "VNP", "MBF"]), max_size=3)),
                     # issue 16: a segment carries its method and street (progress by method, streets counted)
                     "method": draw(st.sampled_from(CABLE_METHODS)),
                     "street": draw(st.sampled_from(["Lạch Tray", "Tô Hiệu", "Cầu Đất", None])),
                     "geometry": geom})
    return _segments(rows)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segs=segment_sets(), by=st.sampled_from(pc.GROUPINGS))
def test_progress_figures_add_up(segs: gpd.GeoDataFrame, by: str) -> None:
    p = pc.compute_progress(segs, by=by, as_of=AS_OF, districts=DISTRICTS)  # type: ignore[arg-type]
    total = float(segs.geometry.length.sum())
    assert p.totals.total_m == pytest.approx(total)
    if by != "operator":
        assert sum(r.total_m for r in p.rows) == pytest.approx(total, abs=1.0)  # within 1 m (in fact ~1e-9)
    for r in p.rows:
        assert r.done_m + r.in_progress_m + r.planned_m == pytest.approx(r.total_m)
        assert r.overdue_m <= r.total_m - r.done_m + 1e-6
    d = p.to_dict()
    for r in [*d["rows"], d["totals"]]:
        if r["total_km"] > 0:
            assert round(r["done_pct"] + r["in_progress_pct"] + r["planned_pct"], 6) == 100.0
        assert round(r["done_km"] + r["in_progress_km"] + r["planned_km"] - r["total_km"], 6) == 0.0
    named = {st for st in segs["street"] if isinstance(st, str)}
    assert d["totals"]["streets"] == len(named) and all(r["streets"] <= len(named) for r in d["rows"])
    if by != "operator":
        assert round(sum(r["total_km"] for r in d["rows"]) - d["totals"]["total_km"], 6) == 0.0
        assert d["totals"]["total_km"] == pytest.approx(total / 1000, abs=0.0005 * max(1, len(d["rows"])) + 1e-9)


@given(values=st.lists(st.floats(0, 1e7, allow_nan=False), min_size=1, max_size=20))
def test_apportion_keeps_the_total(values: list[float]) -> None:
    total = round(sum(values))
    out = pc.apportion(values, total)
    assert sum(out) == total
    assert all(abs(o - v) < 1.0 + 1e-6 * v for o, v in zip(out, values, strict=True))


def test_nearest_line_and_length_within() -> None:
    lines = gpd.GeoSeries([LineString([(0, 0), (100, 0)]), LineString([(0, 80), (100, 80)])])
    assert pc.nearest_line(shapely.Point(50, 30), lines, 50.0) == (0, 30.0)
    assert pc.nearest_line(shapely.Point(50, 200), lines, 50.0) is None
    np.testing.assert_allclose(pc.length_within(lines, box(50, -10, 200, 10)), [50.0, 0.0])
