"""Metric-CRS helpers and the two flat grid indexes the checks are built on.

Why grids and not an R-tree per query: the checks ask "which features are within a few tens of
metres of each of a million points". Hashing points into square cells and registering every feature
in the cells its (distance-expanded) bounding box touches turns the candidate search into a handful
of whole-array numpy operations (floor, searchsorted, repeat) with no per-point Python or GEOS call;
exact distances are then computed for the candidate pairs only, again vectorised. Long lines are
cut into short pieces first, so a diagonal street does not drag its whole bounding box along.

Every distance here is in the metric CRS (``settings.metric_crs``, default EPSG:9210), never degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

WGS84 = "EPSG:4326"


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    # full EPSG definitions through pyproj (never PROJ-4 strings: they drop the VN-2000 datum shift)
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


@lru_cache(maxsize=64)
def same_crs(a: str, b: str) -> bool:
    """Whether two CRS texts ("EPSG:4326", "OGC:CRS84", a WKT) name the same system, axis order aside.

    Every transformation here is ``always_xy`` (lon/lat, easting/northing), so two definitions that
    differ only in axis order move no coordinate and count as the same. A text that names no CRS
    raises :class:`pyproj.exceptions.CRSError` rather than reading as "different".
    """
    return a == b or bool(CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True))


def project_xy(x: Any, y: Any, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays between two CRS (``always_xy``: lon/lat or easting/northing)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if same_crs(src, dst):
        return x.copy(), y.copy()
    tx, ty = _transformer(src, dst).transform(x, y)
    return np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)


def to_crs(geoms: Any, src: str, dst: str) -> np.ndarray:
    """Transform an array of shapely geometries (any type) between two CRS."""
    arr = np.asarray(geoms, dtype=object)
    if same_crs(src, dst):
        return arr
    t = _transformer(src, dst)
    return shapely.transform(arr, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def crs_string(crs: Any) -> str:
    """'EPSG:NNNN' when the CRS has an EPSG code, else its WKT (for cache keys and messages)."""
    c = CRS.from_user_input(crs)
    code = c.to_epsg()
    return f"EPSG:{code}" if code else c.to_wkt()


def metric_xy(frame: Any, metric_crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Metric coordinates of point rows: stored ``x_m``/``y_m`` where present, else projected geometry.

    Sites keep ``x_m``/``y_m`` (projected once at write time) because projecting a million points on
    every check costs more than the whole check; rows without them are projected here.
    """
    n = len(frame)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if "x_m" in frame and "y_m" in frame:
        x = np.asarray(frame["x_m"], dtype=float).copy()
        y = np.asarray(frame["y_m"], dtype=float).copy()
    todo = np.isnan(x) | np.isnan(y)
    if todo.any():
        geom = getattr(frame, "geometry", None)
        if geom is None or frame.crs is None:
            raise ValueError("rows without x_m/y_m need a point geometry with a CRS")
        g = np.asarray(geom.values)[todo]
        gx, gy = shapely.get_x(g), shapely.get_y(g)
        px, py = project_xy(gx, gy, crs_string(frame.crs), metric_crs)
        x[todo], y[todo] = px, py
    return x, y


# --------------------------------------------------------------------------------------------
# segments and distances
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segments:
    """Straight pieces of line features: piece ``i`` runs (ax, ay) → (bx, by) and belongs to ``owner``."""

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    owner: np.ndarray

    def __len__(self) -> int:
        return int(self.ax.size)


def line_segments(geoms: Any, max_len: float | None = None) -> Segments:
    """Explode (multi)line geometries into straight pieces, each at most ``max_len`` long.

    Cutting a segment into pieces does not change the distance from a point to it (the minimum over
    the pieces is the minimum over the segment) but keeps every piece's bounding box small.
    """
    arr = np.asarray(geoms, dtype=object)
    parts, part_owner = shapely.get_parts(arr, return_index=True)
    coords, vidx = shapely.get_coordinates(parts, return_index=True)
    same = vidx[1:] == vidx[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    owner = part_owner[vidx[:-1][same]]
    if max_len and a.size:
        length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
        k = np.maximum(1, np.ceil(length / max_len).astype(np.int64))
        if (k > 1).any():
            seg = np.repeat(np.arange(k.size), k)
            j = np.arange(seg.size) - np.repeat(np.cumsum(k) - k, k)
            t0 = j / k[seg]
            t1 = (j + 1) / k[seg]
            d = b[seg] - a[seg]
            a, b = a[seg] + d * t0[:, None], a[seg] + d * t1[:, None]
            owner = owner[seg]
    return Segments(a[:, 0].copy(), a[:, 1].copy(), b[:, 0].copy(), b[:, 1].copy(), owner.astype(np.int64))


def point_segment_distance(px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray,
                           bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Euclidean distance from points to segments, element-wise (a zero-length segment is a point)."""
    dx = bx - ax
    dy = by - ay
    l2 = dx * dx + dy * dy
    wx = px - ax
    wy = py - ay
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(l2 > 0, (wx * dx + wy * dy) / l2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(wx - t * dx, wy - t * dy)


# --------------------------------------------------------------------------------------------
# grid indexes
# --------------------------------------------------------------------------------------------

#: grids up to this many cells get a dense cell → range table (one gather per lookup instead of a
#: binary search); bigger ones fall back to searchsorted over the occupied cells
DENSE_MAX_CELLS = 16_000_000


def _dense_table(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_cells: int) -> np.ndarray | None:
    if n_cells > DENSE_MAX_CELLS or keys.size == 0:
        return None
    dtype = np.int32 if int(ends.max(initial=0)) < 2**31 else np.int64
    table = np.zeros((n_cells, 2), dtype=dtype)
    table[keys, 0] = starts
    table[keys, 1] = ends - starts
    return table


def _cell_table(key: np.ndarray, item: np.ndarray, n_cells: int,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(items, keys, starts, ends, dense) of a grid: ``item`` sorted by cell ``key``, each occupied cell's
    run in that order, and the direct table where the grid is small. Both grids share this layout so
    that :func:`_lookup` serves them both."""
    order = np.argsort(key, kind="stable")
    key = key[order]
    keys, starts = np.unique(key, return_index=True)
    ends = np.append(starts[1:], key.size).astype(np.int64)
    return item[order], keys, starts, ends, _dense_table(keys, starts, ends, n_cells)


def _lookup(key: np.ndarray, keys: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            dense: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(start, count) of the items in each cell ``key`` (count 0 for empty cells)."""
    if dense is not None:
        row = dense[key]
        return row[:, 0].astype(np.int64), row[:, 1].astype(np.int64)
    if keys.size == 0:
        return np.zeros(key.size, dtype=np.int64), np.zeros(key.size, dtype=np.int64)
    pos = np.searchsorted(keys, key)
    pos[pos >= keys.size] = 0
    hit = keys[pos] == key
    s = np.where(hit, starts[pos], 0)
    return s, np.where(hit, ends[pos] - starts[pos], 0)


def _expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every (s, c) without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total, dtype=np.int64)


class BoxGrid:
    """Axis-aligned boxes registered in every grid cell they touch; point queries return candidates.

    A point inside a box always lies in one of the box's cells, so a query that looks only at the
    point's own cell never misses a box (it may return boxes that do not contain the point; the
    caller filters candidates by exact distance).
    """

    def __init__(self, minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray,
                 cell: float, max_cells: int = 50_000_000) -> None:
        if cell <= 0:
            raise ValueError("cell size must be positive")
        self.n = int(np.asarray(minx).size)
        self.cell = float(cell)
        if self.n == 0:
            self.x0 = self.y0 = 0.0
            self.nx = self.ny = 0
            self.keys = np.empty(0, dtype=np.int64)
            self.starts = self.ends = np.empty(0, dtype=np.int64)
            self.items = np.empty(0, dtype=np.int64)
            self._dense = None
            return
        self.x0 = float(np.min(minx))
        self.y0 = float(np.min(miny))
        ix0 = np.floor((minx - self.x0) / cell).astype(np.int64)
        iy0 = np.floor((miny - self.y0) / cell).astype(np.int64)
        ix1 = np.floor((maxx - self.x0) / cell).astype(np.int64)
        iy1 = np.floor((maxy - self.y0) / cell).astype(np.int64)
        self.nx = int(ix1.max()) + 1
        self.ny = int(iy1.max()) + 1
        w = ix1 - ix0 + 1
        h = iy1 - iy0 + 1
        counts = w * h
        if int(counts.sum()) > max_cells:
            raise ValueError(f"boxes cover {int(counts.sum()):,} grid cells; use a larger cell size")
        item = np.repeat(np.arange(self.n, dtype=np.int64), counts)
        k = _expand_ranges(np.zeros(self.n, dtype=np.int64), counts)
        cx = ix0[item] + k // h[item]
        cy = iy0[item] + k % h[item]
        self.items, self.keys, self.starts, self.ends, self._dense = _cell_table(cx * self.ny + cy, item,
                                                                                  self.nx * self.ny)

    def candidates(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point index, box index) for every box registered in each point's cell."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.n == 0 or x.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        fx = np.floor((x - self.x0) / self.cell)
        fy = np.floor((y - self.y0) / self.cell)
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        pts = np.flatnonzero(inside)
        key = fx[pts].astype(np.int64) * self.ny + fy[pts].astype(np.int64)
        s, c = _lookup(key, self.keys, self.starts, self.ends, self._dense)
        hit = c > 0
        pts, s, c = pts[hit], s[hit], c[hit]
        return np.repeat(pts, c), self.items[_expand_ranges(s, c)]


class PointGrid:
    """Points hashed into square cells, for "all points within r of these query points" searches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, cell: float) -> None:
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.cell = float(cell)
        ok = ~(np.isnan(self.x) | np.isnan(self.y))
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            self.x0 = self.y0 = 0.0
            self.nx = self.ny = 0
            self.keys = self.starts = self.ends = self.items = np.empty(0, dtype=np.int64)
            self._dense = None
            return
        self.x0 = float(self.x[idx].min())
        self.y0 = float(self.y[idx].min())
        ix = np.floor((self.x[idx] - self.x0) / cell).astype(np.int64)
        iy = np.floor((self.y[idx] - self.y0) / cell).astype(np.int64)
        self.nx = int(ix.max()) + 1
        self.ny = int(iy.max()) + 1
        self.items, self.keys, self.starts, self.ends, self._dense = _cell_table(ix * self.ny + iy, idx,
                                                                                  self.nx * self.ny)

    def __len__(self) -> int:
        return int(self.items.size)

    def within(self, qx: np.ndarray, qy: np.ndarray, radius: np.ndarray | float,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, point index, distance) for every indexed point within ``radius`` (inclusive)."""
        qx = np.atleast_1d(np.asarray(qx, dtype=float))
        qy = np.atleast_1d(np.asarray(qy, dtype=float))
        r = np.broadcast_to(np.asarray(radius, dtype=float), qx.shape)
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0))
        if self.items.size == 0 or qx.size == 0:
            return empty
        ix0 = np.clip(np.floor((qx - r - self.x0) / self.cell), 0, self.nx).astype(np.int64)
        ix1 = np.clip(np.floor((qx + r - self.x0) / self.cell), -1, self.nx - 1).astype(np.int64)
        iy0 = np.clip(np.floor((qy - r - self.y0) / self.cell), 0, self.ny).astype(np.int64)
        iy1 = np.clip(np.floor((qy + r - self.y0) / self.cell), -1, self.ny - 1).astype(np.int64)
        w = np.maximum(ix1 - ix0 + 1, 0)
        h = np.maximum(iy1 - iy0 + 1, 0)
        counts = w * h
        q = np.repeat(np.arange(qx.size, dtype=np.int64), counts)
        k = _expand_ranges(np.zeros(qx.size, dtype=np.int64), counts)
        key = (ix0[q] + k // h[q]) * self.ny + (iy0[q] + k % h[q])
        s, c = _lookup(key, self.keys, self.starts, self.ends, self._dense)
        hit = c > 0
        q, s, c = q[hit], s[hit], c[hit]
        qi = np.repeat(q, c)
        pi = self.items[_expand_ranges(s, c)]
        d = np.hypot(self.x[pi] - qx[qi], self.y[pi] - qy[qi])
        keep = d <= r[qi]
        return qi[keep], pi[keep], d[keep]
