"""The Dask engine gives exactly the single-process findings and counts, also for pairs of masts
and routes that straddle partition edges (the halo's whole point)."""

from __future__ import annotations

import json
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning import distributed as D
from planning.aggregate import site_counts
from planning.findings import finalise, to_records
from planning.geometry import project_xy
from planning.partitions import HilbertPartitions, hilbert_partitions, partitions_for_points
from planning.rules import load_pack
from planning.spacing import spacing_findings
from planning.zoning import a1_findings, build_a1_targets

CRS = "EPSG:9210"
X0, Y0 = 590_000.0, 2_300_000.0
PACK = load_pack("haiphong")


def _sites(x: np.ndarray, y: np.ndarray, status: np.ndarray, rng: np.random.Generator, prefix: str = "S") -> Any:
    n = x.size
    lon, lat = project_xy(x, y, CRS, "EPSG:4326")
    df = pd.DataFrame({
        "code": pd.Series([f"{prefix}{i:06d}" for i in range(n)], dtype=object),
        "operator": pd.Series(rng.choice(["VTL", "VNPT", "MBF"], n), dtype=object),
        "mount": pd.Series(rng.choice(["ground", "rooftop"], n, p=[0.7, 0.3]), dtype=object),
        "mast_height_m": rng.uniform(8, 60, n), "building_height_m": rng.uniform(0, 30, n),
        "reach_m": np.nan, "camouflaged": False,
        "declared_class": pd.Series([None] * n, dtype=object), "derived_class": pd.Series([None] * n, dtype=object),
        "status": pd.Series(status, dtype=object), "district_code": pd.Series(["303"] * n, dtype=object),
        "commune_code": pd.Series(rng.choice(["11", "12"], n), dtype=object),
        "shared_by": pd.Series([None] * n, dtype=object), "max_tenants": 3, "x_m": x, "y_m": y,
    })
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _routes(lines: list[Any]) -> Any:
    return gpd.GeoDataFrame({"id": range(len(lines)), "name": [f"R{i}" for i in range(len(lines))],
                             "policy": "a1_only", "corridor_m": 30.0, "district_code": "303", "legal_source": None},
                            geometry=lines, crs=CRS)


def _units() -> Any:
    """Two districts splitting the test square (EPSG:4326 polygons, as stored)."""
    west = shapely.box(X0 - 10, Y0 - 10, X0 + 15_000, Y0 + 30_010)
    east = shapely.box(X0 + 15_000, Y0 - 10, X0 + 30_010, Y0 + 30_010)
    geoms = [shapely.segmentize(g, 200.0) for g in (west, east)]
    from planning.geometry import to_crs

    return gpd.GeoDataFrame({"code": ["303", "304"], "name": ["Hồng Bàng", "Ngô Quyền"], "level": "district",
                             "parent_code": None, "valid_from": None, "valid_to": None},
                            geometry=list(to_crs(geoms, CRS, "EPSG:4326")), crs="EPSG:4326")


def _key(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in records)


def _single(sites: Any, routes: Any, units: Any | None = None) -> tuple[list[str], Any]:
    a1 = a1_findings(sites, routes, None, PACK, metric_crs=CRS)
    sp = spacing_findings(sites, PACK, metric_crs=CRS)
    found = finalise(pd.concat([a1, sp], ignore_index=True))
    counts = None
    if units is not None:
        classified = D.with_classes(sites, PACK)
        counts = site_counts(classified, units, by="district")
    return _key(to_records(found)), counts


def _dask(sites: Any, routes: Any, plan: HilbertPartitions, units: Any | None = None,
          halo: str = "cells") -> D.BatchResult:
    """``halo``: ``source`` (each partition reads its halo cells from the source), ``cells`` (the
    plan's cells next to each partition, sliced from the neighbours) or ``boxes`` (from the frame's
    spatial partitions, as for a frame partitioned by someone else)."""
    source = D.FrameSource(sites, plan)
    ddf = D.from_partitions(source, plan, sites.iloc[:0])
    targets = build_a1_targets(routes, None, PACK, CRS)
    with dask.config.set(scheduler="sync"):
        return D.run_batch(ddf, PACK, metric_crs=CRS, targets=targets, units=units,
                           plan=plan if halo != "boxes" else None, halo_source=source if halo == "source" else None)


def _straddling(seed: int = 7) -> tuple[Any, Any, HilbertPartitions, int]:
    """Background masts, a plan cut from them, then planned/built pairs and A1 routes placed
    across the edges between cells owned by different partitions."""
    rng = np.random.default_rng(seed)
    n = 4000
    bx, by = X0 + rng.uniform(0, 30_000, n), Y0 + rng.uniform(0, 30_000, n)
    plan = partitions_for_points(bx, by, npartitions=9, cell_m=1000.0, crs=CRS)
    own = plan.owner.reshape(plan.nrows, plan.ncols)
    k = 250
    # vertical edges (cell col | col + 1 owned by different partitions): pairs across them in x
    ve = np.argwhere(own[:, :-1] != own[:, 1:])
    vp = ve[rng.integers(0, len(ve), k)]
    vx = plan.x0 + (vp[:, 1] + 1) * plan.cell_m
    vy = plan.y0 + (vp[:, 0] + rng.uniform(0.1, 0.9, k)) * plan.cell_m
    # horizontal edges (row | row + 1): pairs across them in y
    he = np.argwhere(own[:-1, :] != own[1:, :])
    hp = he[rng.integers(0, len(he), k)]
    hx = plan.x0 + (hp[:, 1] + rng.uniform(0.1, 0.9, k)) * plan.cell_m
    hy = plan.y0 + (hp[:, 0] + 1) * plan.cell_m
    px = np.concatenate([vx - rng.uniform(5, 60, k), hx])
    py = np.concatenate([vy, hy - rng.uniform(5, 60, k)])
    qx = np.concatenate([vx + rng.uniform(5, 60, k), hx + rng.uniform(-20, 20, k)])
    qy = np.concatenate([vy + rng.uniform(-20, 20, k), hy + rng.uniform(5, 60, k)])
    ex, ey = np.concatenate([vx, hx]), np.concatenate([vy, hy])
    pick = ex
    x = np.concatenate([bx, px, qx])
    y = np.concatenate([by, py, qy])
    status = np.concatenate([rng.choice(["built", "planned"], n, p=[0.85, 0.15]),
                             np.full(len(pick), "planned"), np.full(len(pick), "built")])
    sites = _sites(x, y, status, rng)
    straddling = int((plan.owner_of(px, py) != plan.owner_of(qx, qy)).sum())
    lines = [shapely.LineString([(ex[i] - 400, ey[i]), (ex[i] + 400, ey[i] + 50)]) for i in range(0, len(pick), 10)]
    return sites, _routes(lines), plan, straddling


@pytest.mark.parametrize("halo", ["source", "cells", "boxes"])
def test_edge_straddling_pairs_give_the_same_findings(halo: str) -> None:
    sites, routes, plan, straddling = _straddling()
    assert straddling == 500 and plan.npartitions == 9
    single, _ = _single(sites, routes)
    multi = _dask(sites, routes, plan, halo=halo)
    assert multi.partitions == 9
    assert _key(to_records(multi.findings)) == single
    # the pairs across edges did make findings (the test would be empty otherwise)
    sp = multi.findings[multi.findings["check"] == "spacing"]
    assert len(sp) >= 300 and (multi.findings["check"] == "a1-routes").sum() > 0


def test_without_halo_edge_pairs_are_missed() -> None:
    """The halo is what finds them: with no neighbours, the edge pairs' findings go missing."""
    sites, routes, plan, _ = _straddling()
    ddf = D.partition_frame(sites, plan)
    parts = [D.with_classes(p, PACK) for p in dask.compute(*ddf.to_delayed(), scheduler="sync")]
    alone = sum(len(D._spacing_part(p, [], PACK, CRS, None, None)) for p in parts)
    cells = {i: plan.halo_cells(i, D.halo_distance(PACK)) for i in range(plan.npartitions)}
    assert all(c.size for c in cells.values())
    assert all(not np.isin(plan.cells(i), c).any() for i, c in cells.items())  # never its own cells
    full = _dask(sites, routes, plan)
    assert alone < (full.findings["check"] == "spacing").sum()


def test_counts_by_district_add_up_over_partitions() -> None:
    sites, routes, plan, _ = _straddling(11)
    units = _units()
    _, counts = _single(sites, routes, units)
    multi = _dask(sites, routes, plan, units)
    assert multi.counts is not None
    assert multi.counts.to_json() == counts.to_json()
    assert multi.counts.totals["total"] == len(sites)


def test_every_site_has_exactly_one_partition() -> None:
    rng = np.random.default_rng(3)
    x, y = X0 + rng.uniform(0, 50_000, 20_000), Y0 + rng.normal(10_000, 3_000, 20_000)
    plan = partitions_for_points(x, y, npartitions=7, cell_m=700.0, crs=CRS)
    owner = plan.owner_of(x, y)
    assert np.bincount(owner).tolist() == plan.counts.tolist()
    assert plan.counts.max() < 2 * plan.counts.mean()  # balanced runs of the Hilbert order
    for i in range(plan.npartitions):  # every owned site lies in its partition's box
        b = plan.boxes[i]
        m = owner == i
        assert ((x[m] >= b[0]) & (x[m] <= b[2]) & (y[m] >= b[1]) & (y[m] <= b[3])).all()


def test_dilation_reaches_exactly_r_cells() -> None:
    from planning.partitions import dilate

    m = np.zeros((9, 9), dtype=bool)
    m[4, 4] = True
    d = dilate(m, 2)
    assert d.sum() == 25 and d[2:7, 2:7].all()
    edge = np.zeros((3, 4), dtype=bool)
    edge[0, 0] = True
    assert dilate(edge, 1).sum() == 4


def test_a_tiny_dataset_gets_fewer_partitions_than_asked() -> None:
    counts = np.zeros(16, dtype=np.int64)
    counts[5] = 3
    plan = hilbert_partitions(counts, x0=0.0, y0=0.0, ncols=4, nrows=4, cell_m=10.0, npartitions=8, crs=CRS)
    assert plan.npartitions == 1 and (plan.owner == 0).all()


def test_unknown_check_is_refused() -> None:
    sites, routes, plan, _ = _straddling()
    with pytest.raises(ValueError, match="unknown check"):
        D.run_batch(D.partition_frame(sites, plan), PACK, metric_crs=CRS, checks=("nope",))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 400), parts=st.integers(1, 8),
       cell=st.sampled_from([50.0, 200.0, 1000.0]), spread=st.sampled_from([500.0, 3000.0, 20_000.0]))
def test_any_partitioning_gives_the_single_process_findings(seed: int, n: int, parts: int, cell: float,
                                                           spread: float) -> None:
    rng = np.random.default_rng(seed)
    x, y = X0 + rng.uniform(0, spread, n), Y0 + rng.uniform(0, spread, n)
    sites = _sites(x, y, rng.choice(["built", "planned", "removed"], n, p=[0.6, 0.3, 0.1]), rng)
    lines = [shapely.LineString([(X0 + rng.uniform(0, spread), Y0 + rng.uniform(0, spread)) for _ in range(3)])
             for _ in range(3)]
    routes = _routes(lines)
    plan = partitions_for_points(x, y, npartitions=parts, cell_m=cell, crs=CRS)
    single, _ = _single(sites, routes)
    assert _key(to_records(_dask(sites, routes, plan).findings)) == single
    assert _key(to_records(_dask(sites, routes, plan, halo="boxes").findings)) == single
    assert _key(to_records(_dask(sites, routes, plan, halo="source").findings)) == single


@pytest.mark.parametrize(("sites", "workers", "expected"), [
    (10_000_000, 16, 48), (10_000_000, 8, 40), (1_000_000, 2, 4), (0, 4, 8), (100, 1, 2), (10_000_000, 1, 40)])
def test_partition_count_is_whole_waves_of_the_workers(sites: int, workers: int, expected: int) -> None:
    n = D.partition_count(sites, workers, per_partition=250_000)
    assert n == expected and n % workers == 0 and n >= 2 * workers


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 300), workers=st.sampled_from([1, 2, 4, 8, 16]),
       per_partition=st.sampled_from([10, 50, 1000]))
def test_every_worker_count_gives_the_same_findings_and_counts_also_written_by_the_workers(
        tmp_path_factory: pytest.TempPathFactory, seed: int, n: int, workers: int, per_partition: int) -> None:
    """Partitions sized from the worker count; findings written partition by partition by the
    workers and read back: none lost, none doubled, the counts unchanged."""
    from geodata.work.distributed import ParquetSink, read_parquet_findings

    rng = np.random.default_rng(seed)
    x, y = X0 + rng.uniform(0, 3000, n), Y0 + rng.uniform(0, 3000, n)
    sites = _sites(x, y, rng.choice(["built", "planned", "removed"], n, p=[0.6, 0.3, 0.1]), rng)
    lines = [shapely.LineString([(X0 + rng.uniform(0, 3000), Y0 + rng.uniform(0, 3000)) for _ in range(3)])
             for _ in range(2)]
    routes = _routes(lines)
    units = _units()
    single, single_counts = _single(sites, routes, units)
    plan = partitions_for_points(x, y, npartitions=D.partition_count(n, workers, per_partition=per_partition),
                                 cell_m=100.0, crs=CRS)
    source = D.FrameSource(sites, plan)
    spool = tmp_path_factory.mktemp("spool")
    with dask.config.set(scheduler="sync"):
        res = D.run_batch(D.from_partitions(source, plan, sites.iloc[:0]), PACK, metric_crs=CRS,
                          targets=build_a1_targets(routes, None, PACK, CRS), units=units, plan=plan,
                          halo_source=source, sink=ParquetSink(spool))
    assert len(res.findings) == 0 and res.written is not None
    back = read_parquet_findings(spool, ["a1-routes", "spacing"])
    assert _key(to_records(back)) == single
    by_check = back.groupby("check").size().to_dict() if len(back) else {}
    assert {c: k for c, k in res.written.items() if k} == by_check
    assert res.counts is not None and single_counts is not None
    assert res.counts.to_json() == single_counts.to_json()


def test_a_frame_partitioned_elsewhere_gives_the_single_process_findings_and_counts() -> None:
    """A frame not made by :func:`D.from_partitions` (its partitions come from its own graph, the
    halo from its spatial partitions' boxes) runs the same checks and counts as one made by it."""
    import dask_geopandas

    sites, routes, plan, _ = _straddling(5)
    units = _units()
    single, counts = _single(sites, routes, units)
    ddf = dask_geopandas.from_geopandas(sites, npartitions=6)
    assert ddf._name not in D._LOADERS
    with dask.config.set(scheduler="sync"):
        res = D.run_batch(ddf, PACK, metric_crs=CRS, targets=build_a1_targets(routes, None, PACK, CRS), units=units)
    assert res.partitions == 6
    assert _key(to_records(res.findings)) == single
    assert res.counts is not None and counts is not None and res.counts.to_json() == counts.to_json()


def test_a1_targets_travel_without_their_grid_and_match_the_same() -> None:
    """Workers receive the targets pickled without the grid (the bulk of the bytes) and rebuild it:
    the same grid, the same matches."""
    import pickle

    rng = np.random.default_rng(2)
    lines = [shapely.LineString(np.column_stack([X0 + rng.uniform(0, 20_000) + rng.normal(0, 300, 4).cumsum(),
                                                 Y0 + rng.uniform(0, 20_000) + rng.normal(0, 300, 4).cumsum()]))
             for _ in range(300)]
    zones = gpd.GeoDataFrame({"id": [1, 2], "name": ["Z1", "Z2"], "kind": "heritage", "policy": "a1_only",
                              "radius_m": [np.nan, 150.0], "buffer_m": 0.0, "district_code": None,
                              "legal_source": None},
                             geometry=[shapely.box(X0 + 500, Y0 + 500, X0 + 900, Y0 + 800),
                                       shapely.Point(X0 + 5000, Y0 + 5000)], crs=CRS)
    targets = build_a1_targets(_routes(lines), zones, PACK, CRS)
    blob = pickle.dumps(targets)
    back = pickle.loads(blob)
    assert len(blob) < len(pickle.dumps(targets.grid))  # the grid alone outweighs the rest
    for name in ("items", "keys", "starts", "ends"):
        assert np.array_equal(getattr(back.grid, name), getattr(targets.grid, name))
    x, y = X0 + rng.uniform(0, 20_000, 50_000), Y0 + rng.uniform(0, 20_000, 50_000)
    got, want = back.match(x, y), targets.match(x, y)
    assert want[0].size > 100 and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), parts=st.integers(1, 12), halo=st.floats(1.0, 5000.0))
def test_halo_cells_are_the_whole_grid_dilation(seed: int, parts: int, halo: float) -> None:
    """The halo is dilated in a window around the partition only: the same cells as dilating the grid."""
    import math

    from planning.partitions import dilate

    rng = np.random.default_rng(seed)
    x, y = X0 + rng.uniform(0, 30_000, 3000), Y0 + rng.normal(10_000, 4_000, 3000)
    plan = partitions_for_points(x, y, npartitions=parts, cell_m=500.0, crs=CRS)
    r = max(1, math.ceil(halo / plan.cell_m))
    for i in range(plan.npartitions):
        own = (plan.owner == i).reshape(plan.nrows, plan.ncols)
        assert plan.halo_cells(i, halo).tolist() == np.flatnonzero((dilate(own, r) & ~own).ravel()).tolist()


def test_tree_sum_adds_every_item_once() -> None:
    items = [dask.delayed(np.array)([i, 1]) for i in range(13)]
    with dask.config.set(scheduler="sync"):
        assert dask.compute(D.tree_sum(items, np.zeros(2)))[0].tolist() == [78, 13]
