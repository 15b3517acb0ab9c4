"""Mapbox Vector Tiles for the map: one query per tile, per-zoom generalisation, cached by data version.

Lessons from tipg / martin / pg_tileserv (docs/architecture.md, "Tile servers"): build a tile with one
``ST_AsMVT(ST_AsMVTGeom(…))`` query on PostGIS (SpatiaLite: clip with shapely, encode with
mapbox-vector-tile); keep low zooms small; cache in process with a memory cap; ETag/304; statement
timeouts.

Sites are the big layer (a million in the benchmark). Every tile is a 32 × 32 grid of cells (16 screen
pixels on a 512-pixel tile, the usual cluster radius), and every occupied cell becomes one point: the
site itself when it is alone, else a cluster with its ``count`` and class counts. The grids of all
zooms up to :data:`CELL_MAX_ZOOM` are precomputed in ``tile_site_cells`` (level = zoom + 5) by one
``INSERT … SELECT … GROUP BY`` per level, run inside the database whenever ``meta['data_version']``
moves; a tile then reads at most 1,024 rows through an index, whatever the density under it. Above
that zoom (cells under 10 m) sites are read directly.
Other layers are small (zones, routes, sections, admin units) or capped per zoom (findings), and
are simplified by one pixel of the tile grid before clipping.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from geodata.errors import Unavailable
from geodata.store import models as m
from geodata.store.cache import LRUCache
from geodata.store.meta import data_version, meta_get
from geodata.crs import transformer
from geodata.store.db import engine_backend
from planning.vocab import MAST_CLASSES, SEVERITIES
from planning.i18n import N_, _

TMS = morecantile.tms.get("WebMercatorQuad")
EXTENT = 4096
BUFFER = 256  # tile units around lines and polygons, so strokes join across tile edges
GRID_BITS = 5  # 2**5 = 32 cells per tile side for site clustering
CELL_MAX_ZOOM = 17
GZIP_LEVEL = 1  # 7 % larger than level 6 on these tiles, five times faster
CELL_MAX_LEVEL = CELL_MAX_ZOOM + GRID_BITS
WORLD = 20037508.342789244  # half the Web-Mercator world width, metres
CELLS_META_KEY = "tiles.cells_version"
TILE_TIMEOUT_MS = 10_000
CELLS_TIMEOUT_MS = 600_000


class TileTimeout(Unavailable):
    """A tile query ran past :data:`TILE_TIMEOUT_MS`: the map asks again later."""

    title = N_("Tile took too long")


@dataclass(frozen=True)
class Layer:
    """A tile layer: its table, geometry kind, the fields the map gets (TileJSON types), zoom range."""

    id: str
    description: str
    table: str
    kind: str  # point | line | polygon
    fields: dict[str, str]
    columns: dict[str, str] = field(default_factory=dict)  # field -> SQL expression (PostGIS and SQLite alike)
    minzoom: int = 0
    maxzoom: int = 20
    #: most features per tile at a zoom (None = all); the highest-priority ones are kept
    cap: Callable[[int], int | None] = lambda z: None
    order: str = "id"
    where: Callable[[int], str] = lambda z: "1=1"


SITE_TILE_PROPERTIES = {
    "count": "Number — sites in this cluster (1 = a single site)",
    "code": "String — site code (single sites)",
    "operator": "String — operator code (single sites)",
    "class": "String — derived mast class, else declared (single sites)",
    "derived_class": "String — class derived by the rule pack (single sites)",
    "declared_class": "String — class declared by the operator (single sites)",
    "status": "String — planned | built | removed (single sites)",
    "a1": "Number — A1a + A1b sites in the cluster",
    "a2": "Number — A2a + A2b + A2c sites in the cluster",
    "a2a": "Number — A2a sites in the cluster",
}

#: SQL sort key of a finding's severity, most severe first (the last severity and unknown values share a rank).
_SEVERITY_RANK = ("CASE severity " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES[:-1]))
                  + f" ELSE {len(SEVERITIES) - 1} END")

LAYERS: dict[str, Layer] = {lyr.id: lyr for lyr in (
    Layer("sites", "BTS sites; clustered on a 32×32 grid per tile where they are dense", "sites", "point",
          SITE_TILE_PROPERTIES, minzoom=0, maxzoom=22),
    Layer("zones", "Planning zones (point zones drawn as their radius)", "zones", "polygon",
          {"name": "String", "kind": "String", "policy": "String", "radius_m": "Number", "district": "String"},
          {"name": "name", "kind": "kind", "policy": "policy", "radius_m": "radius_m", "district": "district_code"},
          minzoom=8, maxzoom=18),
    Layer("routes", "Street centrelines with their placement policy and corridor half-width", "routes", "line",
          {"name": "String", "policy": "String", "corridor_m": "Number", "district": "String"},
          {"name": "name", "policy": "policy", "corridor_m": "corridor_m", "district": "district_code"},
          minzoom=8, maxzoom=18),
    Layer("cable-segments", "Cable tidy-up / undergrounding street sections by status", "cable_segments", "line",
          {"code": "String", "street": "String", "status": "String", "method": "String", "plan_ref": "String",
           "target_year": "Number", "length_m": "Number", "district": "String", "commune": "String"},
          {"code": "code", "street": "street", "status": "status", "method": "method", "plan_ref": "plan_ref",
           "target_year": "target_year", "length_m": "length_m", "district": "district_code",
           "commune": "commune_code"},  # the map's unit filter: a commune since 2025-07-01
          minzoom=8, maxzoom=18),
    Layer("admin-units", "Province, district and commune boundaries (communes from zoom 10)", "admin_units",
          "polygon",
          {"code": "String", "name": "String", "level": "String", "parent": "String", "urban": "Boolean",
           "valid_from": "String", "valid_to": "String"},
          {"code": "code", "name": "name", "level": "level", "parent": "parent_code", "urban": "urban",
           "valid_from": "CAST(valid_from AS VARCHAR(10))", "valid_to": "CAST(valid_to AS VARCHAR(10))"},
          minzoom=0, maxzoom=16, where=lambda z: "1=1" if z >= 10 else "level <> 'commune'"),
    Layer("findings", "Planning-check findings (violations first where capped)", "findings", "point",
          {"check": "String", "rule": "String", "severity": "String", "site_code": "String", "operator": "String",
           "zone": "String", "route": "String", "distance_m": "Number"},
          {"check": '"check"', "rule": "rule", "severity": "severity", "site_code": "site_code",
           "operator": "operator", "zone": "zone", "route": "route", "distance_m": "distance_m"},
          minzoom=6, maxzoom=20, cap=lambda z: 2000 if z < 10 else (10_000 if z < 13 else None),
          order=f"{_SEVERITY_RANK}, id", where=lambda z: "geom IS NOT NULL"),
)}


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    b = TMS.xy_bounds(morecantile.Tile(x, y, z))
    return b.left, b.bottom, b.right, b.top


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z


# --------------------------------------------------------------------------------------------
# statement timeouts
# --------------------------------------------------------------------------------------------

@contextmanager
def _timeout(conn: Connection, ms: int) -> Iterator[None]:
    """Bound one transaction's queries: ``SET LOCAL statement_timeout`` on PostGIS, a progress
    handler that interrupts SQLite after the deadline."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL statement_timeout = {max(1, int(ms))}"))  # 0 would mean "none"
        yield
        return
    raw = conn.connection.dbapi_connection
    deadline = time.monotonic() + ms / 1000
    raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)  # type: ignore[union-attr]
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)  # type: ignore[union-attr]


def _is_timeout(exc: Exception) -> bool:
    s = str(exc).lower()
    return "statement timeout" in s or "canceling statement" in s or "interrupted" in s


# --------------------------------------------------------------------------------------------
# the site-cell pyramid
# --------------------------------------------------------------------------------------------

_CLASS_COUNTS = ", ".join(
    f"SUM(CASE WHEN c = '{c}' THEN 1 ELSE 0 END)" for c in MAST_CLASSES)
_COLS = ("level, ix, iy, tx, ty, n, n_a1a, n_a1b, n_a2a, n_a2b, n_a2c, x, y, site_id, code, operator, "
         "derived_class, declared_class, status")


def _finest_level_sql() -> str:
    """Level 22 from the sites: Web-Mercator cell indices and metres computed from lon/lat in SQL."""
    n = 2**CELL_MAX_LEVEL
    lat = "ST_Y(geom)"
    return f"""
INSERT INTO tile_site_cells ({_COLS})
SELECT {CELL_MAX_LEVEL}, ix, iy, ix >> {GRID_BITS}, iy >> {GRID_BITS}, COUNT(*), {_CLASS_COUNTS},
       AVG(mx), AVG(my), MIN(id), MIN(code), MIN(operator), MIN(derived_class), MIN(declared_class), MIN(status)
FROM (
  SELECT id, code, operator, status, derived_class, declared_class, COALESCE(derived_class, declared_class) AS c,
         CAST(FLOOR((ST_X(geom) + 180.0) / 360.0 * {n}) AS INTEGER) AS ix,
         CAST(FLOOR((1.0 - LN(TAN(RADIANS({lat})) + 1.0 / COS(RADIANS({lat}))) / PI()) / 2.0 * {n}) AS INTEGER) AS iy,
         {WORLD / 180.0!r} * ST_X(geom) AS mx,
         6378137.0 * LN(TAN(PI() / 4.0 + RADIANS({lat}) / 2.0)) AS my
  FROM sites WHERE ST_Y(geom) BETWEEN -85.0 AND 85.0
) s
GROUP BY ix, iy"""


def _coarser_level_sql(level: int) -> str:
    """Level ``level`` from ``level + 1``: four child cells merge; weighted centroid; the single-site
    attributes survive only where the merged cell still holds one site (MIN over one row)."""
    return f"""
INSERT INTO tile_site_cells ({_COLS})
SELECT {level}, px, py, px >> {GRID_BITS}, py >> {GRID_BITS}, SUM(n), SUM(n_a1a), SUM(n_a1b), SUM(n_a2a),
       SUM(n_a2b), SUM(n_a2c), SUM(x * n) / SUM(n), SUM(y * n) / SUM(n), MIN(site_id), MIN(code), MIN(operator),
       MIN(derived_class), MIN(declared_class), MIN(status)
FROM (SELECT *, ix >> 1 AS px, iy >> 1 AS py FROM tile_site_cells WHERE level = {level + 1}) c
GROUP BY px, py"""


def cells_version(conn: Connection) -> int | None:
    v = meta_get(conn, CELLS_META_KEY)
    return None if v is None else int(v)


_rebuild_lock = threading.Lock()
#: (database, data version) whose cells this process has seen built: versions only grow, so once the
#: cells are current for a version there is nothing left to check for it.
_cells_current: set[tuple[str, int]] = set()


def ensure_cells(engine: Engine, version: int | None = None) -> bool:
    """Rebuild ``tile_site_cells`` if it was built for another data version; True if it rebuilt.

    One builder at a time: a PostgreSQL advisory lock across processes (SQLite: its write lock),
    plus a thread lock inside this process; whoever waited re-checks and usually finds it done.
    """
    with engine.connect() as conn:
        current = data_version(conn) if version is None else version
        key = (engine.url.render_as_string(hide_password=False), current)
        if key in _cells_current:
            return False
        built = cells_version(conn)
        if built is not None and built >= current:
            _cells_current.add(key)
            return False
    with _rebuild_lock, engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            conn.execute(text("SELECT pg_advisory_xact_lock(730010001)"))
        else:
            conn.execute(text("DELETE FROM tile_site_cells WHERE 0"))  # take SQLite's write lock first
        current = data_version(conn)
        built = cells_version(conn)
        if built is not None and built >= current:
            return False
        with _timeout(conn, CELLS_TIMEOUT_MS):
            conn.execute(text("TRUNCATE tile_site_cells" if pg else "DELETE FROM tile_site_cells"))
            conn.execute(text(_finest_level_sql()))
            for level in range(CELL_MAX_LEVEL - 1, GRID_BITS - 1, -1):
                conn.execute(text(_coarser_level_sql(level)))
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": CELLS_META_KEY})
        conn.execute(m.Meta.__table__.insert().values(key=CELLS_META_KEY, value=current))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE tile_site_cells"))
    _cells_current.add((engine.url.render_as_string(hide_password=False), current))
    return True


# --------------------------------------------------------------------------------------------
# PostGIS: one ST_AsMVT query per tile
# --------------------------------------------------------------------------------------------

_PG_CELLS = """
SELECT ST_AsMVT(t, 'sites', 4096, 'geom', 'fid') FROM (
  SELECT ST_AsMVTGeom(ST_MakePoint(x, y), ST_TileEnvelope(:z, :x, :y), 4096, 0, false) AS geom,
         CASE WHEN n = 1 THEN site_id END AS fid, n AS count,
         CASE WHEN n = 1 THEN code END AS code, CASE WHEN n = 1 THEN operator END AS operator,
         CASE WHEN n = 1 THEN COALESCE(derived_class, declared_class) END AS class,
         CASE WHEN n = 1 THEN derived_class END AS derived_class,
         CASE WHEN n = 1 THEN declared_class END AS declared_class,
         CASE WHEN n = 1 THEN status END AS status,
         n_a1a + n_a1b AS a1, n_a2a + n_a2b + n_a2c AS a2, n_a2a AS a2a
  FROM tile_site_cells WHERE level = :level AND tx = :x AND ty = :y
) t"""

_PG_SITES = """
SELECT ST_AsMVT(t, 'sites', 4096, 'geom', 'fid') FROM (
  SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 0, false) AS geom,
         id AS fid, 1 AS count, code, operator, COALESCE(derived_class, declared_class) AS class,
         derived_class, declared_class, status,
         CASE WHEN COALESCE(derived_class, declared_class) IN ('A1a', 'A1b') THEN 1 ELSE 0 END AS a1,
         CASE WHEN COALESCE(derived_class, declared_class) IN ('A2a', 'A2b', 'A2c') THEN 1 ELSE 0 END AS a2,
         CASE WHEN COALESCE(derived_class, declared_class) = 'A2a' THEN 1 ELSE 0 END AS a2a
  FROM sites WHERE geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
) t"""


def _zone_geom(dialect: str) -> str:
    if dialect == "postgresql":
        return ("CASE WHEN radius_m IS NOT NULL AND GeometryType(geom) = 'POINT' "
                "THEN ST_Buffer(geom::geography, radius_m, 'quad_segs=8')::geometry ELSE geom END")
    return "geom"


def _pg_layer_sql(layer: Layer, z: int) -> str:
    props = ", ".join(f"{expr} AS \"{name}\"" for name, expr in layer.columns.items())
    geom = _zone_geom("postgresql") if layer.id == "zones" else "geom"
    simplify = ("ST_SimplifyPreserveTopology(ST_Transform({g}, 3857), :tol)" if layer.kind != "point"
                else "ST_Transform({g}, 3857)").format(g=geom)
    buffer = 0 if layer.kind == "point" else BUFFER
    clip = "false" if layer.kind == "point" else "true"
    # zones stored as a point with a radius reach beyond their point: widen the index filter
    reach = "0.01" if layer.id == "zones" else "0"
    cap = layer.cap(z)
    limit = f"ORDER BY {layer.order} LIMIT {int(cap)}" if cap else ""
    return f"""
SELECT ST_AsMVT(t, '{layer.id}', 4096, 'geom', 'fid') FROM (
  SELECT * FROM (
    SELECT id AS fid, ST_AsMVTGeom({simplify}, ST_TileEnvelope(:z, :x, :y), 4096, {buffer}, {clip}) AS geom, {props}
    FROM (SELECT * FROM {layer.table}
          WHERE geom && ST_Expand(ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326), {reach})
            AND {layer.where(z)} {limit}) src
  ) q WHERE geom IS NOT NULL
) t"""


def _render_postgis(conn: Connection, layer: Layer, z: int, x: int, y: int) -> bytes:
    params: dict[str, Any] = {"z": z, "x": x, "y": y}
    if layer.id == "sites":
        if z <= CELL_MAX_ZOOM:
            sql, params["level"] = _PG_CELLS, z + GRID_BITS
        else:
            sql = _PG_SITES
    else:
        sql = _pg_layer_sql(layer, z)
        left, _, right, _ = tile_bounds(z, x, y)
        params["tol"] = (right - left) / EXTENT
    data = conn.execute(text(sql), params).scalar()
    return bytes(data) if data else b""


# --------------------------------------------------------------------------------------------
# SpatiaLite: read through the R*Tree, clip with shapely, encode with mapbox-vector-tile
# --------------------------------------------------------------------------------------------

def _to_tile_coords(geoms: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    left, bottom, right, top = bounds
    sx = EXTENT / (right - left)
    sy = EXTENT / (top - bottom)
    return shapely.transform(geoms, lambda xy: np.column_stack(((xy[:, 0] - left) * sx, (top - xy[:, 1]) * sy)))


def _encode(layer_id: str, geoms: list[Any], props: list[dict[str, Any]], ids: list[int | None]) -> bytes:
    if not geoms:
        return b""
    features = []
    for g, p, i in zip(geoms, props, ids, strict=True):
        f: dict[str, Any] = {"geometry": g, "properties": {k: v for k, v in p.items() if v is not None}}
        if i is not None:
            f["id"] = int(i)
        features.append(f)
    return bytes(mapbox_vector_tile.encode(
        [{"name": layer_id, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True, "check_winding_order": True,
                         "on_invalid_geometry": mapbox_vector_tile.encoder.on_invalid_geometry_make_valid}))


def _cell_props(r: Any) -> dict[str, Any]:
    single = r.n == 1
    return {"count": int(r.n), "code": r.code if single else None, "operator": r.operator if single else None,
            "class": (r.derived_class or r.declared_class) if single else None,
            "derived_class": r.derived_class if single else None,
            "declared_class": r.declared_class if single else None,
            "status": r.status if single else None,
            "a1": int(r.n_a1a + r.n_a1b), "a2": int(r.n_a2a + r.n_a2b + r.n_a2c), "a2a": int(r.n_a2a)}


@lru_cache(maxsize=1)
def _merc() -> Any:
    return transformer("EPSG:4326", "EPSG:3857")


def _lonlat_bounds(bounds: tuple[float, float, float, float], pad: float) -> tuple[float, float, float, float]:
    left, bottom, right, top = bounds
    w = (right - left) * pad
    t = transformer("EPSG:3857", "EPSG:4326")
    x0, y0 = t.transform(left - w, bottom - w)
    x1, y1 = t.transform(right + w, top + w)
    return x0, y0, x1, y1


def _render_spatialite(conn: Connection, layer: Layer, z: int, x: int, y: int, metric_crs: str) -> bytes:
    bounds = tile_bounds(z, x, y)
    if layer.id == "sites" and z <= CELL_MAX_ZOOM:
        rows = conn.execute(text("SELECT * FROM tile_site_cells WHERE level = :l AND tx = :x AND ty = :y"),
                            {"l": z + GRID_BITS, "x": x, "y": y}).all()
        pts = shapely.points(np.array([[r.x, r.y] for r in rows]).reshape(-1, 2))
        return _encode("sites", list(_to_tile_coords(pts, bounds)), [_cell_props(r) for r in rows],
                       [r.site_id if r.n == 1 else None for r in rows])

    pad = 0.0 if layer.kind == "point" else BUFFER / EXTENT
    x0, y0, x1, y1 = _lonlat_bounds(bounds, pad)
    if layer.id == "zones":
        x0, y0, x1, y1 = x0 - 0.01, y0 - 0.01, x1 + 0.01, y1 + 0.01
    if layer.id == "sites":
        counts = ", ".join(f"CASE WHEN COALESCE(derived_class, declared_class) = '{c}' THEN 1 ELSE 0 END AS n_{c.lower()}"
                           for c in MAST_CLASSES)
        cols = f"id, code, operator, derived_class, declared_class, status, 1 AS n, id AS site_id, {counts}"
        where = "1=1"
        limit = ""
    else:
        cols = "id, " + ", ".join(f"{expr} AS \"{name}\"" for name, expr in layer.columns.items())
        if layer.id == "zones":
            cols += ", radius_m AS _radius"
        where = layer.where(z)
        cap = layer.cap(z)
        limit = f"ORDER BY {layer.order} LIMIT {int(cap)}" if cap else ""
    sql = (f"SELECT {cols}, AsBinary(geom) AS _wkb FROM {layer.table} "
           f"WHERE id IN (SELECT pkid FROM idx_{layer.table}_geom WHERE xmin <= :x1 AND xmax >= :x0 "
           f"AND ymin <= :y1 AND ymax >= :y0) AND {where} {limit}")
    rows = conn.execute(text(sql), {"x0": x0, "y0": y0, "x1": x1, "y1": y1}).all()
    if not rows:
        return b""
    geoms = shapely.from_wkb([bytes(r._wkb) for r in rows])
    if layer.id == "zones":
        geoms = _buffer_point_zones(geoms, [r._radius for r in rows], metric_crs)
    t = _merc()
    geoms = shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    left, bottom, right, top = bounds
    if layer.kind == "point":
        keep = shapely.contains_xy(shapely.box(left, bottom, right, top), *shapely.get_coordinates(geoms).T) \
            if len(geoms) else np.zeros(0, bool)
    else:
        tol = (right - left) / EXTENT
        geoms = shapely.simplify(geoms, tol, preserve_topology=True)
        b = (right - left) * BUFFER / EXTENT
        geoms = shapely.clip_by_rect(geoms, left - b, bottom - b, right + b, top + b)
        keep = ~shapely.is_empty(geoms)
    geoms = _to_tile_coords(geoms, bounds)
    out_g, out_p, out_i = [], [], []
    for g, r, k in zip(geoms, rows, keep, strict=True):
        if not k:
            continue
        if layer.id == "sites":
            props = _cell_props(r)
        else:
            props = {name: (bool(getattr(r, name)) if layer.fields[name] == "Boolean" and getattr(r, name) is not None
                            else getattr(r, name)) for name in layer.columns}
        out_g.append(g)
        out_p.append(props)
        out_i.append(r.id)
    return _encode(layer.id, out_g, out_p, out_i)


def _buffer_point_zones(geoms: np.ndarray, radii: list[float | None], metric_crs: str) -> np.ndarray:
    """Point zones become their circle, buffered in the province's metric CRS (PostGIS buffers on
    the geography; the two agree to centimetres at these radii)."""
    out = geoms.copy()
    fwd = transformer("EPSG:4326", metric_crs)
    inv = transformer(metric_crs, "EPSG:4326")
    for i, (g, r) in enumerate(zip(geoms, radii, strict=True)):
        if r and g.geom_type == "Point":
            mx, my = fwd.transform(g.x, g.y)
            circle = shapely.Point(mx, my).buffer(float(r), 8)
            out[i] = shapely.transform(circle, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))
    return out


# --------------------------------------------------------------------------------------------
# the tile service: data version, cache, ETag
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    gz: bytes  # gzip-compressed MVT; b"" for an empty tile
    etag: str
    size: int  # uncompressed bytes
    version: int


def render(engine: Engine, layer: Layer, z: int, x: int, y: int, metric_crs: str = "EPSG:9210") -> bytes:
    """The uncompressed MVT of one tile (b"" when empty), within the tile statement timeout."""
    try:
        with engine.begin() as conn, _timeout(conn, TILE_TIMEOUT_MS):
            if engine_backend(engine) == "postgis":
                return _render_postgis(conn, layer, z, x, y)
            return _render_spatialite(conn, layer, z, x, y, metric_crs)
    except Exception as exc:
        if _is_timeout(exc):
            raise TileTimeout(_("tile {id}/{z}/{x}/{y} took longer than {tile_timeout_ms} ms",
                                id=layer.id, z=z, x=x, y=y, tile_timeout_ms=TILE_TIMEOUT_MS)) from None
        raise


def _read_engine(engine: Engine) -> Engine | None:
    """PostGIS: a pool of its own for tile reads, in autocommit with the tile statement timeout set
    once per connection — a tile is then one round trip (no BEGIN, SET, COMMIT), and a warm tile's
    data-version check another."""
    if engine_backend(engine) != "postgis":
        return None
    from geodata.store.db import make_engine

    fast = make_engine(engine.url.render_as_string(hide_password=False), statement_timeout_ms=max(1, TILE_TIMEOUT_MS),
                       serving=True)
    return fast.execution_options(isolation_level="AUTOCOMMIT")


class TileService:
    """Tiles of one database, cached in process under (layer, z, x, y, data version).

    With read replicas, ``engine=`` (of :meth:`version` and :meth:`get`) is the engine chosen for the
    request; the caller reads the version from that same engine, so a lagging standby can only put its
    old tiles under its old version, never under the primary's newer one. The site cells are built on
    the primary (a standby is read-only) and reach a standby by replication, possibly *after* the data
    version they belong to: a tile is rendered from a standby only once the standby's own
    ``tiles.cells_version`` has caught up with the version, else from the primary (whose data are at
    least as new).
    """

    def __init__(self, engine: Engine, cache_bytes: int, metric_crs: str = "EPSG:9210") -> None:
        self.engine = engine
        self.metric_crs = metric_crs
        self.cache: LRUCache[Tile] = LRUCache(cache_bytes, size_of=lambda t: len(t.gz) + 200)
        self.read = _read_engine(engine)
        self._fast: dict[str, Engine | None] = {}  # replica URL → its autocommit tile pool
        self._cells_seen: set[tuple[str, int]] = set()  # (replica URL, version) whose cells are current
        self._lock = threading.Lock()

    def _fast_for(self, engine: Engine | None) -> tuple[Engine, Engine | None]:
        """(the engine, its autocommit tile pool or None) for ``engine`` (default: the primary)."""
        if engine is None or engine is self.engine:
            return self.engine, self.read
        key = engine.url.render_as_string(hide_password=False)
        if key not in self._fast:
            with self._lock:
                if key not in self._fast:
                    self._fast[key] = _read_engine(engine)
        return engine, self._fast[key]

    def version(self, engine: Engine | None = None) -> int:
        src, fast = self._fast_for(engine)
        return data_version(fast or src)

    def _render(self, layer: Layer, z: int, x: int, y: int, engine: Engine | None = None) -> bytes:
        src, fast = self._fast_for(engine)
        if fast is None:
            return render(src, layer, z, x, y, self.metric_crs)
        try:
            with fast.connect() as conn:
                return _render_postgis(conn, layer, z, x, y)
        except Exception as exc:
            if _is_timeout(exc):
                raise TileTimeout(_("tile {id}/{z}/{x}/{y} took longer than {tile_timeout_ms} ms",
                                    id=layer.id, z=z, x=x, y=y, tile_timeout_ms=TILE_TIMEOUT_MS)) from None
            raise

    def _replica_cells_current(self, engine: Engine, version: int) -> bool:
        key = (engine.url.render_as_string(hide_password=False), version)
        if key in self._cells_seen:
            return True
        src, fast = self._fast_for(engine)
        with (fast or src).connect() as conn:
            built = cells_version(conn)
        if built is not None and built >= version:
            self._cells_seen.add(key)
            return True
        return False

    def get(self, layer: Layer, z: int, x: int, y: int, version: int | None = None,
            engine: Engine | None = None) -> Tile:
        """The tile at ``version`` (read from ``engine`` when not given), rendered from ``engine``."""
        v = self.version(engine) if version is None else version
        key = (layer.id, z, x, y, v)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        src = self.engine if engine is None else engine
        if layer.id == "sites" and (src is self.engine or not self._replica_cells_current(src, v)):
            ensure_cells(self.engine, v)
            src = self.engine
        raw = self._render(layer, z, x, y, src)
        if raw:
            tile = Tile(gzip.compress(raw, GZIP_LEVEL), '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"',
                        len(raw), v)
        else:
            tile = Tile(b"", f'"empty-{layer.id}-v{v}"', 0, v)
        self.cache.put(key, tile)
        return tile

    def dispose(self) -> None:
        """Close the tile pools this service opened (the engines it was given are their owners' to close)."""
        for fast in [self.read, *self._fast.values()]:
            if fast is not None:
                fast.dispose()  # an OptionEngine: disposes the pool it shares with its parent
