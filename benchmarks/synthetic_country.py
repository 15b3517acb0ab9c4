"""A synthetic country of BTS masts for the scale benchmark, generated partition by partition.

A strip of 700 km × 1,650 km (about Vietnam's frame) in VN-2000 / UTM 48N, with 63 provincial
cities along it: three quarters of the masts around the cities, the rest spread over the land.
The number of masts per 2 km cell is drawn once (a small array); the masts of a partition are
generated only when a worker asks for that partition, so ten million masts never sit in one
process. A run on one process draws every partition of the same plan and concatenates them, so
both engines check exactly the same masts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planning.geometry import project_xy, to_crs
from planning.partitions import HilbertPartitions, hilbert_partitions
from planning.vocab import MAST_CLASSES

CRS = "EPSG:3405"  # VN-2000 / UTM zone 48N
X0, Y0 = 200_000.0, 950_000.0
WIDTH, HEIGHT = 700_000.0, 1_650_000.0
CELL_M = 2_000.0
CLASSES = np.array(MAST_CLASSES, dtype=object)
CLASS_P = [0.30, 0.10, 0.25, 0.30, 0.05]
OPERATORS = np.array(["Viettel", "VNPT", "MobiFone", "Vietnamobile"], dtype=object)
N_CITIES = 63


@dataclass(frozen=True)
class Country:
    n_sites: int
    seed: int = 1
    planned_share: float = 0.02
    removed_share: float = 0.02

    @property
    def ncols(self) -> int:
        return int(WIDTH // CELL_M)

    @property
    def nrows(self) -> int:
        return int(HEIGHT // CELL_M)

    @cached_property
    def cities(self) -> np.ndarray:
        """(x, y, sigma) of the cities, along a gentle S like the country's spine."""
        rng = np.random.default_rng([self.seed, 1])
        t = np.sort(rng.uniform(0.02, 0.98, N_CITIES))
        x = X0 + WIDTH * (0.5 + 0.3 * np.sin(t * 2 * np.pi)) + rng.normal(0, 30_000, N_CITIES)
        y = Y0 + HEIGHT * t
        sigma = rng.uniform(4_000, 15_000, N_CITIES)
        return np.column_stack([np.clip(x, X0 + 20_000, X0 + WIDTH - 20_000), y, sigma])

    @cached_property
    def counts(self) -> np.ndarray:
        """Masts per cell (flat, row-major), summing to ``n_sites``."""
        cx = X0 + (np.arange(self.ncols) + 0.5) * CELL_M
        cy = Y0 + (np.arange(self.nrows) + 0.5) * CELL_M
        gx, gy = np.meshgrid(cx, cy)
        dens = np.full(gx.shape, 0.25 / gx.size)
        weight = 0.75 / N_CITIES
        for x, y, s in self.cities:
            near = (np.abs(gx - x) < 4 * s) & (np.abs(gy - y) < 4 * s)
            g = np.exp(-((gx[near] - x) ** 2 + (gy[near] - y) ** 2) / (2 * s * s))
            dens[near] += weight * g / g.sum()
        rng = np.random.default_rng([self.seed, 2])
        counts = rng.multinomial(self.n_sites, dens.ravel() / dens.sum())
        return counts.astype(np.int64)

    def plan(self, npartitions: int) -> HilbertPartitions:
        return hilbert_partitions(self.counts, x0=X0, y0=Y0, ncols=self.ncols, nrows=self.nrows, cell_m=CELL_M,
                                  npartitions=npartitions, crs=CRS)

    @cached_property
    def starts(self) -> np.ndarray:
        """Global number of the first mast of each cell (masts are numbered cell by cell)."""
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)

    def sites(self, plan: HilbertPartitions, partition: int) -> Any:
        """The masts of one partition (GeoDataFrame in EPSG:4326 with ``x_m``/``y_m`` in :data:`CRS`)."""
        return self.cells(plan.cells(partition))

    def empty(self) -> Any:
        """No masts, with the columns and types of a partition (Dask's ``meta``)."""
        return self.cells(np.empty(0, dtype=np.int64))

    def cells(self, cells: np.ndarray) -> Any:
        """The masts of the given cells. Every value of a mast is a hash of its global number, so a
        mast is the same whichever partition or halo draws it."""
        cells = np.asarray(cells, dtype=np.int64)
        per = self.counts[cells]
        n = int(per.sum())
        cell = np.repeat(cells, per)
        first = np.repeat(self.starts[cells] - np.concatenate([[0], np.cumsum(per)[:-1]]), per)
        g = first + np.arange(n, dtype=np.int64)  # global mast number
        u = _Uniform(g, self.seed)
        cy, cx = np.divmod(cell, self.ncols)
        x = X0 + (cx + u(0)) * CELL_M
        y = Y0 + (cy + u(1)) * CELL_M
        cls = CLASSES[np.searchsorted(np.cumsum(CLASS_P), u(2) * np.sum(CLASS_P), side="right").clip(0, 4)]
        attrs = _attributes(u, cls)
        s = u(10)
        status = np.where(s < self.planned_share, "planned",
                          np.where(s < self.planned_share + self.removed_share, "removed", "built")).astype(object)
        codes = np.array([f"S{v:08d}" for v in g.tolist()], dtype=object)
        lon, lat = project_xy(x, y, CRS, "EPSG:4326")
        frame = pd.DataFrame({
            "code": pd.Series(codes, dtype=object),
            "operator": pd.Series(OPERATORS[(u(11) * len(OPERATORS)).astype(np.int64)], dtype=object),
            "mount": pd.Series(attrs["mount"].astype(object), dtype=object),
            "mast_height_m": attrs["mast_height_m"], "building_height_m": attrs["building_height_m"],
            "reach_m": attrs["reach_m"], "camouflaged": attrs["camouflaged"],
            "declared_class": pd.Series(np.full(n, None, dtype=object), dtype=object),
            "derived_class": pd.Series(np.full(n, None, dtype=object), dtype=object),
            "shared_by": pd.Series(np.full(n, None, dtype=object), dtype=object),
            "max_tenants": np.where(attrs["mount"] == "ground", 3, 1),
            "status": pd.Series(status, dtype=object),
            "district_code": pd.Series((cy // 50 * 100 + cx // 50).astype(str).astype(object), dtype=object),
            "commune_code": pd.Series((cy // 5 * 1000 + cx // 5).astype(str).astype(object), dtype=object),
            "x_m": x, "y_m": y,
        })
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")

    def pairs_across_edges(self, findings: Any, plan: HilbertPartitions) -> int:
        """Spacing findings whose subject and nearest mast lie in different partitions: the pairs
        only a halo can find (masts are numbered cell by cell, so a code gives the cell, the cell
        its owner)."""
        sp = findings[findings["check"] == "spacing"]
        if len(sp) == 0:
            return 0

        def owner(codes: list[str]) -> np.ndarray:
            g = np.array([int(c[1:]) for c in codes], dtype=np.int64)
            return plan.owner[np.searchsorted(self.starts, g, side="right") - 1]  # last cell starting ≤ g

        return int((owner(sp["site_code"].tolist()) != owner(sp["other_site_code"].tolist())).sum())

    def all_sites(self, plan: HilbertPartitions) -> Any:
        """Every partition in one frame (the single-process run)."""
        return pd.concat([self.sites(plan, i) for i in range(plan.npartitions)], ignore_index=True)

    def _near_cities(self, rng: np.random.Generator, n: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points scattered around random cities, ``spread`` city radii apart (the draws of the rng are
        the same as before this helper existed, so stored figures stay comparable)."""
        c = self.cities[rng.integers(0, N_CITIES, n)]
        return c[:, 0] + rng.normal(0, spread, n) * c[:, 2], c[:, 1] + rng.normal(0, spread, n) * c[:, 2]

    def a1_routes(self, n: int = 20_000) -> Any:
        """A1-only streets in the city centres (EPSG:4326 like stored routes)."""
        rng = np.random.default_rng([self.seed, 4])
        sx, sy = self._near_cities(rng, n, 0.6)
        k = rng.integers(2, 6, n)
        lines = []
        for i in range(n):
            steps = rng.normal(0, 250, (int(k[i]), 2)).cumsum(axis=0)
            lines.append(shapely.LineString(np.column_stack([sx[i] + steps[:, 0], sy[i] + steps[:, 1]])))
        geoms = to_crs(np.array(lines, dtype=object), CRS, "EPSG:4326")
        return gpd.GeoDataFrame({"id": np.arange(n), "name": [f"Route {i}" for i in range(n)], "policy": "a1_only",
                                 "corridor_m": rng.choice([20.0, 30.0, 50.0], n), "district_code": None,
                                 "legal_source": None}, geometry=list(geoms), crs="EPSG:4326")

    def a1_zones(self, n: int = 2_000) -> Any:
        """Protected areas: small squares and points with a radius."""
        rng = np.random.default_rng([self.seed, 5])
        x, y = self._near_cities(rng, n, 0.8)
        half = rng.uniform(50, 250, n)
        point = rng.random(n) < 0.3
        geoms = np.where(point, shapely.points(x, y), shapely.box(x - half, y - half, x + half, y + half))
        return gpd.GeoDataFrame({"id": np.arange(n), "name": [f"Zone {i}" for i in range(n)], "kind": "heritage",
                                 "policy": "a1_only", "radius_m": np.where(point, half, np.nan), "buffer_m": 0.0,
                                 "district_code": None, "legal_source": None},
                                geometry=list(to_crs(geoms, CRS, "EPSG:4326")), crs="EPSG:4326")

    def units(self) -> Any:
        """Provinces: 7 × 15 rectangles of 100 × 110 km (EPSG:4326, as stored units are)."""
        rows = []
        for j in range(15):
            for i in range(7):
                box = shapely.box(X0 + i * 100_000, Y0 + j * 110_000, X0 + (i + 1) * 100_000, Y0 + (j + 1) * 110_000)
                rows.append({"code": f"{j:02d}{i}", "name": f"Tỉnh {j:02d}{i}", "level": "district", "parent_code": None,
                             "valid_from": None, "valid_to": None, "geometry": shapely.segmentize(box, 5_000.0)})
        frame = pd.DataFrame(rows)
        geoms = to_crs(frame.pop("geometry").to_numpy(dtype=object), CRS, "EPSG:4326")
        return gpd.GeoDataFrame(frame, geometry=list(geoms), crs="EPSG:4326")


class PartitionLoader:
    """``load(i)`` and ``read_cells(cells)`` for :mod:`planning.distributed` (pickled to the workers)."""

    def __init__(self, country: Country, plan: HilbertPartitions) -> None:
        self.country, self.plan = country, plan

    def __call__(self, i: int) -> Any:
        return self.country.sites(self.plan, i)

    def read_cells(self, cells: np.ndarray) -> Any:
        return self.country.cells(cells)


class _Uniform:
    """Uniform [0, 1) numbers keyed by (mast number, stream): SplitMix64 of the key, vectorised."""

    def __init__(self, g: np.ndarray, seed: int) -> None:
        self.g = g.astype(np.uint64)
        self.seed = np.uint64(seed)

    def __call__(self, stream: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            z = self.g * np.uint64(0x9E3779B97F4A7C15) + np.uint64(((stream + 1) * 0x632BE59BD9B4E019) % 2**64) + self.seed
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _attributes(u: _Uniform, cls: np.ndarray) -> dict[str, np.ndarray]:
    """Physical fields that make the classifier derive ``cls`` (the demo's ranges, one draw each)."""
    building = np.isin(cls, ["A1a", "A2a"])
    bh = np.where(building, (12 + 33 * u(3)).round(1), np.nan)
    r4, r5, r6 = u(4), u(5), u(6)
    lim = np.minimum(0.2 * np.nan_to_num(bh, nan=15.0), 3.0)
    hidden = (cls == "A1a") & (r6 < 0.25)
    lo_hi = {"A1b": (9, 24, 0.3, 1.0), "A2a": (6, 21, 0.6, 2.5), "A2b": (18, 48, 1.0, 3.0), "A2c": (51, 72, 1.5, 3.5)}
    mh = np.where(cls == "A1a", (lim * (0.4 + 0.55 * r4)).round(2), np.nan)
    reach = np.where(cls == "A1a", (0.15 + 0.3 * r5).round(2), np.nan)
    for c, (h0, h1, e0, e1) in lo_hi.items():
        m = cls == c
        mh = np.where(m, (h0 + (h1 - h0) * r4).round(1), mh)
        reach = np.where(m, (e0 + (e1 - e0) * r5).round(2), reach)
    mh = np.where(hidden, (3.5 + 2.5 * r4).round(1), mh)
    camo = hidden | (cls == "A1b")
    return {"mount": np.where(building, "building", "ground"), "building_height_m": bh, "mast_height_m": mh,
            "reach_m": reach, "camouflaged": camo}
