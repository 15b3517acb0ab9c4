"""Spatial partitions for batch checks spread over many processes: Hilbert-ordered grid cells.

A national run (10 million sites) cannot hold every site in one process, and the checks that
compare sites with each other (spacing) must still see every neighbour. So the metric plane is
cut into square cells; the cells are put in Hilbert-curve order (nearby cells stay nearby in the
order) and the order is cut into runs holding about the same number of sites. Each run is one
partition and *owns* its cells: every site belongs to exactly one partition, by its cell, so a
finding is produced exactly once. Checks that need neighbours read a *halo* — the sites of other
partitions within the largest search distance of the partition's box — see
:mod:`planning.distributed`.

The Hilbert index comes from GeoPandas (``GeoSeries.hilbert_distance``, the same curve
dask-geopandas' ``spatial_shuffle`` uses), computed on cell centres over a square power-of-two
grid so each cell gets its own index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np

#: the finest Hilbert level GeoPandas computes (2**16 cells a side)
MAX_LEVEL = 16


@dataclass(frozen=True)
class HilbertPartitions:
    """Which partition owns each grid cell, and each partition's box (metric CRS)."""

    crs: str
    x0: float
    y0: float
    cell_m: float
    ncols: int
    nrows: int
    owner: np.ndarray  # (nrows * ncols,) partition id of each cell, row-major (row = y)
    boxes: np.ndarray  # (npartitions, 4) minx, miny, maxx, maxy of the partition's non-empty cells
    counts: np.ndarray  # (npartitions,) sites per partition in the histogram the plan was cut from

    @property
    def npartitions(self) -> int:
        return int(self.boxes.shape[0])

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell id of each point; points off the grid are clamped to its border cells (the grid is
        built from the data's extent, so only later additions can fall off it, and they still get
        exactly one owner)."""
        cx = np.clip(np.floor((np.asarray(x, dtype=float) - self.x0) / self.cell_m), 0, self.ncols - 1)
        cy = np.clip(np.floor((np.asarray(y, dtype=float) - self.y0) / self.cell_m), 0, self.nrows - 1)
        return (cy.astype(np.int64) * self.ncols + cx.astype(np.int64))

    def owner_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.owner[self.cell_of(x, y)]

    def cells(self, partition: int) -> np.ndarray:
        """Cell ids owned by ``partition``."""
        return np.flatnonzero(self.owner == partition)

    def halo_cells(self, partition: int, halo_m: float) -> np.ndarray:
        """Cells of *other* partitions that may hold a site within ``halo_m`` of one of this
        partition's sites: every cell within ``ceil(halo_m / cell_m)`` cells (in both axes) of a
        cell it owns. Much tighter than a box around the partition, whose Hilbert run can be any
        shape."""
        r = max(1, math.ceil(halo_m / self.cell_m))
        cells = self.cells(partition)
        if cells.size == 0:
            return cells
        # dilate only the window around the partition's cells (r cells wider): the same cells as
        # dilating the whole grid, at the cost of the partition's area instead of the country's
        # (this runs once per partition when the batch's graph is built)
        rows, cols = np.divmod(cells, self.ncols)
        r0, r1 = max(0, int(rows.min()) - r), min(self.nrows, int(rows.max()) + r + 1)
        c0, c1 = max(0, int(cols.min()) - r), min(self.ncols, int(cols.max()) + r + 1)
        own = (self.owner.reshape(self.nrows, self.ncols)[r0:r1, c0:c1] == partition)
        wr, wc = np.nonzero(dilate(own, r) & ~own)
        return (wr + r0) * self.ncols + (wc + c0)

    def read_box(self, partition: int) -> tuple[float, float, float, float]:
        """The box to read a partition's own sites from, opened on the grid's borders because the
        border cells also own the points clamped onto them. The plan is a snapshot: a site added
        since the histogram in a cell that was empty then is checked by the next run."""
        minx, miny, maxx, maxy = (float(v) for v in self.boxes[partition])
        gx1 = self.x0 + self.ncols * self.cell_m
        gy1 = self.y0 + self.nrows * self.cell_m
        return (-math.inf if minx <= self.x0 else minx, -math.inf if miny <= self.y0 else miny,
                math.inf if maxx >= gx1 else maxx, math.inf if maxy >= gy1 else maxy)


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Cells within ``r`` cells (Chebyshev distance) of a true cell of a 2-D mask, by prefix sums
    (linear in the grid size whatever ``r``)."""
    m = np.asarray(mask, dtype=np.int64)
    rows, cols = m.shape
    c = np.zeros((rows + 1, cols + 1), dtype=np.int64)
    c[1:, 1:] = m.cumsum(axis=0).cumsum(axis=1)
    y0 = np.clip(np.arange(rows) - r, 0, rows)
    y1 = np.clip(np.arange(rows) + r + 1, 0, rows)
    x0 = np.clip(np.arange(cols) - r, 0, cols)
    x1 = np.clip(np.arange(cols) + r + 1, 0, cols)
    total = c[y1][:, x1] - c[y0][:, x1] - c[y1][:, x0] + c[y0][:, x0]
    return total > 0


def grid_for(bounds: tuple[float, float, float, float], cell_m: float) -> tuple[float, float, int, int, float]:
    """(x0, y0, ncols, nrows, cell) covering ``bounds``; the cell grows when the extent would need
    more than 2**16 cells a side."""
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, maxy - miny, cell_m)
    cell = max(cell_m, span / (2 ** MAX_LEVEL - 1))
    ncols = int(math.floor((maxx - minx) / cell)) + 1
    nrows = int(math.floor((maxy - miny) / cell)) + 1
    return float(minx), float(miny), ncols, nrows, float(cell)


def cell_histogram(x: np.ndarray, y: np.ndarray, x0: float, y0: float, ncols: int, nrows: int,
                   cell_m: float) -> np.ndarray:
    """Sites per cell (flat, row-major) — for callers holding coordinates; a database computes the
    same counts with a GROUP BY."""
    cx = np.clip(np.floor((np.asarray(x, dtype=float) - x0) / cell_m), 0, ncols - 1).astype(np.int64)
    cy = np.clip(np.floor((np.asarray(y, dtype=float) - y0) / cell_m), 0, nrows - 1).astype(np.int64)
    return np.bincount(cy * ncols + cx, minlength=ncols * nrows)


def hilbert_order(ncols: int, nrows: int) -> np.ndarray:
    """Cell ids (row-major) in Hilbert-curve order."""
    level = max(1, math.ceil(math.log2(max(ncols, nrows, 2))))
    side = 2 ** level
    cx, cy = np.meshgrid(np.arange(ncols), np.arange(nrows))
    centres = gpd.GeoSeries(gpd.points_from_xy(cx.ravel() + 0.5, cy.ravel() + 0.5))
    key = centres.hilbert_distance(total_bounds=(0.0, 0.0, float(side), float(side)), level=level).to_numpy()
    return np.argsort(key, kind="stable")


def hilbert_partitions(counts: np.ndarray, *, x0: float, y0: float, ncols: int, nrows: int, cell_m: float,
                       npartitions: int, crs: str) -> HilbertPartitions:
    """Cut the Hilbert order of the cells into ``npartitions`` runs of about equal site counts.

    ``counts``: sites per cell (flat, row-major, length ``ncols * nrows``). Empty runs are
    dropped, so a tiny dataset gets fewer partitions than asked.
    """
    counts = np.asarray(counts, dtype=np.int64).ravel()
    if counts.size != ncols * nrows:
        raise ValueError(f"counts has {counts.size} cells, the grid {ncols}×{nrows}")
    if npartitions < 1:
        raise ValueError("npartitions must be at least 1")
    order = hilbert_order(ncols, nrows)
    cum = np.cumsum(counts[order])
    total = int(cum[-1]) if cum.size else 0
    if total == 0:
        run = np.zeros(order.size, dtype=np.int64)
    else:
        # cell k of the order goes to the run its cumulative count falls in (the cell's whole
        # count stays together: a cell is never split)
        run = np.minimum(((cum - counts[order]) * npartitions) // total, npartitions - 1)
    owner = np.empty(counts.size, dtype=np.int64)
    owner[order] = run
    used = np.unique(run[counts[order] > 0]) if total else np.array([0])
    remap = np.full(npartitions, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    # empty cells belong to the run before them (or the first used run), so every cell has an owner
    owner_runs = remap[owner]
    if (owner_runs < 0).any():
        ordered = owner_runs[order]
        ordered = np.maximum.accumulate(np.where(ordered < 0, -1, ordered))
        ordered[ordered < 0] = 0
        owner_runs[order] = ordered
    owner = owner_runs
    p = int(used.size)
    boxes = np.empty((p, 4), dtype=float)
    cy, cx = np.divmod(np.arange(counts.size), ncols)
    part_counts = np.bincount(owner, weights=counts, minlength=p).astype(np.int64)
    for i in range(p):
        m = owner == i
        if total:
            m &= counts > 0  # boxes hug the sites: empty cells (sea, forest) would only widen halos
        boxes[i] = (x0 + cx[m].min() * cell_m, y0 + cy[m].min() * cell_m,
                    x0 + (cx[m].max() + 1) * cell_m, y0 + (cy[m].max() + 1) * cell_m)
    return HilbertPartitions(crs, x0, y0, cell_m, ncols, nrows, owner, boxes, part_counts)


def partitions_for_points(x: np.ndarray, y: np.ndarray, *, npartitions: int, cell_m: float,
                          crs: str) -> HilbertPartitions:
    """A plan for points already in memory (tests, GeoDataFrames)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    bounds = (float(x.min()), float(y.min()), float(x.max()), float(y.max())) if x.size else (0.0, 0.0, 1.0, 1.0)
    x0, y0, ncols, nrows, cell = grid_for(bounds, cell_m)
    counts = cell_histogram(x, y, x0, y0, ncols, nrows, cell)
    return hilbert_partitions(counts, x0=x0, y0=y0, ncols=ncols, nrows=nrows, cell_m=cell,
                              npartitions=npartitions, crs=crs)
