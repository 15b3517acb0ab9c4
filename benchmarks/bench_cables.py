"""Per-district cable progress: ``planning.cables`` versus the textbook GeoPandas overlay.

Baseline: ``geopandas.overlay(segments, districts, how="intersection")`` then a group-by of the
pieces' lengths — what one would write by hand. Ours: STRtree-paired vectorised intersections plus
the reconciliation that makes per-district kilometres add up to the total (the baseline does not:
it drops the parts outside every district and double-counts overlaps; its error is reported too).

Run: ``.venv/bin/python benchmarks/bench_cables.py [--segments 50000] [--districts 60]``; writes
``benchmarks/results/cables_progress.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely import box

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from planning import cables as pc  # noqa: E402
from planning.vocab import SEGMENT_STATUSES  # noqa: E402

METRIC = "EPSG:9210"
RESULTS = Path(__file__).resolve().parent / "results" / "cables_progress.json"


def synthetic(n_segments: int, n_districts: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Street sections of 100–900 m over a 30 km square cut into Voronoi districts (some run outside)."""
    rng = np.random.default_rng(seed)
    side = 30_000.0
    x0, y0 = rng.uniform(0, side, n_segments), rng.uniform(0, side, n_segments)
    ang, length = rng.uniform(0, np.pi, n_segments), rng.uniform(100, 900, n_segments)
    coords = np.stack([np.column_stack([x0, y0]),
                       np.column_stack([x0 + length * np.cos(ang), y0 + length * np.sin(ang)])], axis=1)
    segs = gpd.GeoDataFrame({
        "status": rng.choice(SEGMENT_STATUSES, n_segments), "target_year": rng.choice([2017, 2020, 2027], n_segments),
        "plan_ref": rng.choice(["18/KH-BCĐ", "85/KH-BCĐ"], n_segments),
        "operators": [["VTL", "VNP"]] * n_segments,
    }, geometry=shapely.linestrings(coords), crs=METRIC)
    frame = box(0, 0, side, side)
    cells = shapely.voronoi_polygons(shapely.multipoints(rng.uniform(0, side, (n_districts, 2))), extend_to=frame)
    polys = [c.intersection(frame) for c in cells.geoms]
    districts = gpd.GeoDataFrame({"code": [f"{300 + i}" for i in range(len(polys))],
                                  "name": [f"Quận {i}" for i in range(len(polys))]}, geometry=polys, crs=METRIC)
    return segs, districts


def best_of(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=50_000)
    ap.add_argument("--districts", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    segs, districts = synthetic(args.segments, args.districts)
    total = float(segs.geometry.length.sum())
    as_of = dt.date(2026, 1, 1)

    ours_s, progress = best_of(lambda: pc.compute_progress(segs, by="district", as_of=as_of, districts=districts),
                               args.repeat)

    def baseline() -> object:
        pieces = gpd.overlay(segs, districts, how="intersection", keep_geom_type=True)
        pieces["km"] = pieces.geometry.length / 1000
        return pieces.groupby(["code", "status"])["km"].sum().unstack(fill_value=0.0)

    base_s, table = best_of(baseline, args.repeat)
    ours_sum = sum(r.total_m for r in progress.rows)  # type: ignore[attr-defined]
    base_sum = float(table.to_numpy().sum()) * 1000  # type: ignore[attr-defined]
    result = {
        "name": "cables_progress_by_district",
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "segments": args.segments, "districts": len(districts), "total_km": round(total / 1000, 3),
        "ours_s": round(ours_s, 4), "baseline_s": round(base_s, 4),
        "baseline": "geopandas.overlay(how='intersection') + groupby",
        "ratio": round(base_s / ours_s, 2),
        "ours_sum_error_m": round(abs(ours_sum - total), 6),
        "baseline_sum_error_m": round(abs(base_sum - total), 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_result(RESULTS, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
