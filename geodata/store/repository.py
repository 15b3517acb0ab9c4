"""The planning inputs read from the database as (Geo)DataFrames, and check results written back.

Both backends, one API. Sites come with their metric coordinates (``x_m``/``y_m``, projected
once at write time); when the stored coordinates are missing or were projected into another CRS
than the one asked for, they are recomputed here from the stored WGS84 point.

The A1 check over a million sites only needs four small columns of the sites that can be
subjects, so :func:`load_site_points` fetches exactly those, and on PostGIS packs them on the
server into one binary value (``string_agg`` of ``int4send``/``float8send``) that numpy reads in
place — no per-row Python objects on either side of the wire.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, and_, delete, false, func, insert, or_, select, text

from geodata.store import models as m
from geodata.store.meta import bump_data_version, meta_get
from planning.findings import FINDING_COLUMNS, empty_findings
from planning.geometry import WGS84, project_xy
from planning.units import rows_in_force
from planning.vocab import DERIVED_CLASSES, MAST_CLASSES

#: the CRS of the stored ``sites.x_m``/``y_m`` unless ``meta['sites.metric_crs']`` says otherwise
STORED_METRIC_CRS = "EPSG:9210"
META_SITES_CRS = "sites.metric_crs"

SITE_FIELDS = ("id", "code", "operator", "name", "address", "mount", "structure", "mast_height_m", "building_height_m",
               "reach_m", "camouflaged", "declared_class", "derived_class", "tech", "transmitters", "shared_by",
               "max_tenants", "status", "commune_code", "district_code", "x_m", "y_m", "built_on", "target_date")


def _conn(bind: Engine | Connection) -> Any:
    """A context manager yielding a Connection for either an Engine or an open Connection."""
    if isinstance(bind, Engine):
        return bind.connect()

    class _Same:
        def __enter__(self) -> Connection:
            return bind  # type: ignore[return-value]

        def __exit__(self, *exc: object) -> None:
            return None

    return _Same()


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def sites_metric_crs(bind: Engine | Connection) -> str:
    """The CRS the stored ``x_m``/``y_m`` are in."""
    return str(meta_get(bind, META_SITES_CRS) or STORED_METRIC_CRS)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def _frame(conn: Connection, stmt: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
    res = conn.execute(stmt, params or {}) if not isinstance(stmt, str) else conn.execute(text(stmt), params or {})
    keys = list(res.keys())
    rows = res.fetchall()
    # column by column from plain tuples: pandas would otherwise probe every Row for namedtuple fields
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(keys)
    return pd.DataFrame({k: _column(c) for k, c in zip(keys, cols, strict=True)})


def _column(values: Sequence[Any]) -> pd.Series:
    """A column with a numeric/bool dtype when its values are numbers, else plain Python objects
    (text stays ``object``: converting a million codes to Arrow strings costs more than it saves)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool | int | float):  # mixed columns stay object (infer_objects decides)
        return pd.Series(arr, dtype=object).infer_objects()
    return pd.Series(arr, dtype=object)


def _fix_metric(frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, stored_crs: str, metric_crs: str) -> None:
    """Make ``x_m``/``y_m`` be in ``metric_crs``: project from lon/lat where missing or stored elsewhere."""
    x = pd.to_numeric(frame["x_m"], errors="coerce").to_numpy(dtype=float, copy=True)
    y = pd.to_numeric(frame["y_m"], errors="coerce").to_numpy(dtype=float, copy=True)
    todo = np.ones(x.size, dtype=bool) if stored_crs != metric_crs else (np.isnan(x) | np.isnan(y))
    if todo.any():
        px, py = project_xy(lon[todo], lat[todo], WGS84, metric_crs)
        x[todo], y[todo] = px, py
    frame["x_m"], frame["y_m"] = x, y


Box = tuple[float, float, float, float]


def load_sites(bind: Engine | Connection, *, metric_crs: str | None = None, statuses: Sequence[str] | None = None,
               columns: Sequence[str] | None = None, with_reasons: bool = False,
               lonlat_boxes: Sequence[Box] | None = None) -> gpd.GeoDataFrame:
    """Sites as a GeoDataFrame (EPSG:4326 points) with ``x_m``/``y_m`` in ``metric_crs``.

    ``statuses`` filters (e.g. ``["built", "planned"]``); ``columns`` narrows the fields read
    (``id``, ``x_m``, ``y_m`` are always included). ``lonlat_boxes`` (minx, miny, maxx, maxy in
    EPSG:4326) keeps the sites in any of the boxes — through the spatial index on PostGIS.
    """
    fields = list(dict.fromkeys(["id", *(columns or SITE_FIELDS), "x_m", "y_m"]))
    if with_reasons and "reasons" not in fields:
        fields.append("reasons")
    t = m.Site.__table__
    stmt = select(*[t.c[f] for f in fields], t.c.geom.ST_X().label("_lon"), t.c.geom.ST_Y().label("_lat"))
    if statuses:
        stmt = stmt.where(t.c.status.in_(list(statuses)))
    if lonlat_boxes is not None:
        stmt = stmt.where(or_(false(), *[_in_box(bind, t.c.geom, b) for b in lonlat_boxes]))
    stmt = stmt.order_by(t.c.id)
    with _conn(bind) as conn:
        df = _frame(conn, stmt)
        stored = sites_metric_crs(conn)
    lon = df.pop("_lon").to_numpy(dtype=float)
    lat = df.pop("_lat").to_numpy(dtype=float)
    if len(df):
        _fix_metric(df, lon, lat, stored, metric_crs or stored)
    else:
        df["x_m"] = pd.Series(dtype=float)
        df["y_m"] = pd.Series(dtype=float)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def _in_box(bind: Engine | Connection, geom: Any, box: Box) -> Any:
    """``geom`` in a lon/lat box: the ``&&`` operator (GiST index) on PostGIS; coordinate ranges on
    SpatiaLite, whose R*Tree index is not used by plain predicates (a province-sized table scans
    fast)."""
    minx, miny, maxx, maxy = (max(box[0], -180.0), max(box[1], -90.0), min(box[2], 180.0), min(box[3], 90.0))
    if bind.dialect.name == "postgresql":
        return geom.op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))
    x, y = geom.ST_X(), geom.ST_Y()
    return and_(x >= minx, x <= maxx, y >= miny, y <= maxy)


def _wkb_frame(conn: Connection, model: Any, fields: Sequence[str], where: Any = None) -> gpd.GeoDataFrame:
    t = model.__table__
    stmt = select(*[t.c[f] for f in fields], t.c.geom.ST_AsBinary().label("_wkb")).order_by(t.c.id)
    if where is not None:
        stmt = stmt.where(where)
    df = _frame(conn, stmt)
    wkb = df.pop("_wkb").to_numpy(dtype=object)
    geoms = shapely.from_wkb([bytes(w) for w in wkb]) if len(wkb) else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(df, geometry=geoms, crs=WGS84)


def load_routes(bind: Engine | Connection, *, policy: str | None = None) -> gpd.GeoDataFrame:
    """Routes (street centrelines, EPSG:4326) with ``corridor_m``, ``policy``, ``legal_source``."""
    t = m.Route.__table__
    with _conn(bind) as conn:
        return _wkb_frame(conn, m.Route, ["id", "name", "district_code", "corridor_m", "policy", "legal_source"],
                          t.c.policy == policy if policy else None)


def load_zones(bind: Engine | Connection, *, policy: str | None = None) -> gpd.GeoDataFrame:
    """Zones (polygons, or points with ``radius_m``; EPSG:4326) with ``buffer_m`` and ``legal_source``."""
    t = m.Zone.__table__
    with _conn(bind) as conn:
        return _wkb_frame(conn, m.Zone, ["id", "name", "kind", "policy", "radius_m", "buffer_m", "district_code",
                                         "legal_source"], t.c.policy == policy if policy else None)


def load_admin_units(bind: Engine | Connection, *, level: str | None = None) -> gpd.GeoDataFrame:
    """Every version of the administrative units (``valid_from``/``valid_to``), EPSG:4326."""
    t = m.AdminUnit.__table__
    with _conn(bind) as conn:
        return _wkb_frame(conn, m.AdminUnit, ["id", "code", "name", "level", "unit_type", "parent_code", "urban",
                                              "valid_from", "valid_to"], t.c.level == level if level else None)


def unit_names(bind: Engine | Connection, as_of: dt.date | None = None) -> dict[str, str]:
    """Admin-unit code → name, taking the version in force on ``as_of`` (today; else the last one
    before it, :func:`planning.units.in_force`) where codes repeat."""
    as_of = as_of or dt.date.today()
    t = m.AdminUnit.__table__
    with _conn(bind) as conn:
        rows = conn.execute(select(t.c.code, t.c.name, t.c.valid_from, t.c.valid_to).order_by(t.c.valid_from)).all()
    versions: dict[str, list[Any]] = {}
    for r in rows:
        versions.setdefault(r.code, []).append(r)
    return {code: (rows_in_force(vs, as_of)[0] or vs)[-1].name for code, vs in versions.items()}


def urban_by_commune(bind: Engine | Connection) -> dict[str, bool]:
    t = m.AdminUnit.__table__
    with _conn(bind) as conn:
        rows = conn.execute(select(t.c.code, t.c.urban).where(t.c.level == "commune")
                            .order_by(t.c.valid_from)).all()
    return {c: bool(u) for c, u in rows if u is not None}


def _array_loader(dtype: str) -> type:
    """A psycopg binary loader turning a one-dimensional array of fixed-size, non-null elements
    into a numpy array without creating a Python object per element."""
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class _Loader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            buf = memoryview(data)
            ndim = int.from_bytes(buf[0:4], "big")
            if ndim == 0:
                return np.empty(0, dtype=dtype)
            if ndim != 1:
                raise ValueError("expected a one-dimensional array")
            n = int.from_bytes(buf[12:16], "big", signed=True)
            rec = np.frombuffer(buf, dtype=np.dtype([("len", ">i4"), ("v", dtype)]), offset=20, count=n)
            if n and (rec["len"] != np.dtype(dtype).itemsize).any():
                raise ValueError("array holds NULLs or elements of another size")
            return rec["v"].astype(np.dtype(dtype).newbyteorder("="))

    return _Loader


_ARRAY_OIDS = {1007: ">i4", 1022: ">f8", 1000: "?"}  # int4[], float8[], bool[]


def _class_variants(classes: Iterable[str]) -> list[str]:
    """Spellings a stored class may have ('A2a', 'a2a', 'A2A') — matched without lower() per row."""
    out: list[str] = []
    for c in classes:
        out += [c, c.lower(), c.upper()]
    return sorted(set(out))


def load_site_points(bind: Engine | Connection, *, classes: Iterable[str] | None = None, use_declared: bool = True,
                     include_unclassified: bool = True, metric_crs: str | None = None) -> pd.DataFrame:
    """The thin site table the A1 check needs: ``id``, ``x_m``, ``y_m`` and a ``subject`` flag, for
    the non-removed sites whose derived (or declared) class is in ``classes``. Sites never
    classified come with ``subject`` None and their classifier fields, for the caller to classify.

    PostGIS: index-only scans of ``ix_sites_class_cover`` aggregated into four arrays that numpy
    reads in place. SpatiaLite: the same query, rows fetched. Derived classes are expected in their
    canonical spelling (``A1a`` … ``A2c``, ``unknown``), which is all the classifier writes.
    """
    cls = sorted(set(classes or MAST_CLASSES) & set(DERIVED_CLASSES))  # "unknown" may be a subject too
    variants = _class_variants(set(cls) & set(MAST_CLASSES))
    others = sorted(set(DERIVED_CLASSES) - set(cls))
    # Three disjoint parts, each an index range of ix_sites_class_cover (derived_class, declared_class,
    # status, id, x_m, y_m) read by an index-only scan: derived class is a subject class; derived
    # class is another (canonical) class but the declared one is a subject class; never classified.
    parts = ["SELECT id, x_m, y_m, false AS unclassified FROM sites WHERE derived_class IN :cls "
             "AND status <> 'removed'"]
    if use_declared and others:
        parts.append("SELECT id, x_m, y_m, false FROM sites WHERE derived_class IN :others "
                     "AND declared_class IN :decl AND status <> 'removed'")
    if include_unclassified:
        parts.append("SELECT id, x_m, y_m, true FROM sites WHERE derived_class IS NULL AND status <> 'removed'")
    union = " UNION ALL ".join(parts)
    params = {"cls": cls, "others": others, "decl": variants}
    with _conn(bind) as conn:
        stored = sites_metric_crs(conn)
        if _is_pg(conn):
            raw = conn.connection.dbapi_connection
            sql = (f"SELECT array_agg(id), array_agg(coalesce(x_m, 'NaN'::float8)), "
                   f"array_agg(coalesce(y_m, 'NaN'::float8)), array_agg(unclassified) FROM ({union}) AS t")
            for name in params:
                sql = sql.replace(f"IN :{name}", f"= ANY(%({name})s)")
            with raw.cursor(binary=True) as cur:  # type: ignore[union-attr]
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # arrays must line up
                for oid, dt_ in _ARRAY_OIDS.items():
                    cur.adapters.register_loader(oid, _array_loader(dt_))
                cur.execute(sql, params)
                ids, xs, ys, unclassified = cur.fetchone()
            if ids is None:  # no rows: array_agg gives NULL
                ids, xs, ys, unclassified = (np.empty(0, dtype=t) for t in (np.int64, float, float, bool))
            df = pd.DataFrame({"id": ids.astype(np.int64), "x_m": xs, "y_m": ys})
            unclassified = np.asarray(unclassified, dtype=bool)
        else:
            from sqlalchemy import bindparam

            used = [n for n in params if f":{n}" in union]
            stmt = text(union).bindparams(*[bindparam(n, expanding=True) for n in used])
            rows = conn.execute(stmt, {n: params[n] for n in used}).fetchall()
            arr = np.array(rows, dtype=object).reshape(-1, 4)
            df = pd.DataFrame({"id": arr[:, 0].astype(np.int64),
                               "x_m": pd.to_numeric(pd.Series(arr[:, 1]), errors="coerce").to_numpy(dtype=float),
                               "y_m": pd.to_numeric(pd.Series(arr[:, 2]), errors="coerce").to_numpy(dtype=float)})
            unclassified = arr[:, 3].astype(bool)
        metric_crs = metric_crs or stored
        todo = np.flatnonzero(np.isnan(df["x_m"].to_numpy()) | np.isnan(df["y_m"].to_numpy())) \
            if stored == metric_crs else np.arange(len(df))
        if todo.size:
            pos = _lonlat(conn, df["id"].to_numpy()[todo])
            x, y = project_xy(pos["lon"].to_numpy(dtype=float), pos["lat"].to_numpy(dtype=float), WGS84, metric_crs)
            xm, ym = df["x_m"].to_numpy().copy(), df["y_m"].to_numpy().copy()
            xm[todo], ym[todo] = x, y
            df["x_m"], df["y_m"] = xm, ym
        df["subject"] = pd.Series(np.where(unclassified, None, True), dtype=object)
        if unclassified.any():  # the caller classifies these from their fields
            fields = ["mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged", "declared_class"]
            extra = site_rows(conn, df["id"].to_numpy()[unclassified], fields)
            for c in fields:
                col = np.full(len(df), None, dtype=object)
                col[unclassified] = extra[c].to_numpy(dtype=object)
                df[c] = col
    df["status"] = "built"  # removed sites were filtered out above; the exact status is not needed
    return df


_SEP = "\x1f"  # ASCII unit separator: joins a text column into one value (never part of a code or name)


def load_existing_masts(bind: Engine | Connection, *, statuses: Sequence[str], metric_crs: str | None = None,
                        codes: Sequence[str] | None = None) -> pd.DataFrame:
    """What the spacing index needs of every existing mast: ``code``, ``operator``, ``derived_class``,
    ``mount``, ``free_slots`` (``max_tenants`` − 1 − tenants, −1 unknown), ``x_m``, ``y_m`` — plus
    the classifier fields of masts never classified.

    A million masts in about a second on PostGIS: numbers come as binary arrays, each text column
    as one joined value split in Python, instead of a million rows of objects. ``codes``: only these
    sites (an incremental update of the planning context).
    """
    free = ("coalesce(max_tenants - 1 - (CASE WHEN {typeof}(shared_by) = 'array' THEN json_array_length(shared_by) "
            "ELSE 0 END), -1)")
    with _conn(bind) as conn:
        stored = sites_metric_crs(conn)
        if _is_pg(conn):
            raw = conn.connection.dbapi_connection
            # every aggregate of one (serial) Agg node sees the rows in the same order, so the arrays
            # line up without a sort per aggregate; parallel partial aggregation is ruled out explicitly
            sql = (f"SELECT count(*), array_agg(id), array_agg(coalesce(x_m, 'NaN'::float8)), "
                   f"array_agg(coalesce(y_m, 'NaN'::float8)), "
                   f"array_agg(({free.format(typeof='json_typeof')})::int4), "
                   + ", ".join(f"string_agg(coalesce({c}, ''), %(sep)s)"
                               for c in ("code", "operator", "derived_class", "mount"))
                   + " FROM sites WHERE status = ANY(%(statuses)s)"
                   + (" AND code = ANY(%(codes)s)" if codes is not None else ""))
            with raw.cursor(binary=True) as cur:  # type: ignore[union-attr]
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                for oid, dt_ in _ARRAY_OIDS.items():
                    cur.adapters.register_loader(oid, _array_loader(dt_))
                cur.execute(sql, {"statuses": list(statuses), "sep": _SEP, "codes": list(codes or [])})
                n, ids, xs, ys, free_slots, *texts = cur.fetchone()
            if not n:
                return pd.DataFrame({c: pd.Series(dtype=object) for c in
                                     ("id", "code", "operator", "derived_class", "mount", "free_slots", "x_m", "y_m")})
            cols = {}
            for name, joined in zip(("code", "operator", "derived_class", "mount"), texts, strict=True):
                arr = np.array(joined.split(_SEP), dtype=object)
                if arr.size != n:
                    raise RuntimeError(f"existing masts: {name} has a separator character in it")
                if name != "code":  # few distinct values: share one string object per value
                    codes, uniq = pd.factorize(arr)
                    table = np.array([*[None if u == "" else u for u in uniq], None], dtype=object)
                    arr = table[codes]
                cols[name] = arr
            df = pd.DataFrame({"id": ids.astype(np.int64), **{k: pd.Series(v, dtype=object) for k, v in cols.items()},
                               "free_slots": free_slots.astype(np.int64), "x_m": xs, "y_m": ys})
        else:
            from sqlalchemy import bindparam

            only = " AND code IN :codes" if codes is not None else ""
            stmt = text(f"SELECT id, code, operator, derived_class, mount, {free.format(typeof='json_type')} "
                        f"AS free_slots, x_m, y_m FROM sites WHERE status IN :statuses{only} ORDER BY id"
                        ).bindparams(bindparam("statuses", expanding=True))
            if codes is not None:
                stmt = stmt.bindparams(bindparam("codes", expanding=True))
            df = _frame(conn, stmt, {"statuses": list(statuses), **({"codes": list(codes)} if codes is not None else {})})
            df["x_m"] = pd.to_numeric(df["x_m"], errors="coerce").astype(float)
            df["y_m"] = pd.to_numeric(df["y_m"], errors="coerce").astype(float)
        metric_crs = metric_crs or stored
        todo = np.flatnonzero(df["x_m"].isna().to_numpy() | df["y_m"].isna().to_numpy()) \
            if stored == metric_crs else np.arange(len(df))
        # the columns changed below are gathered and the frame made once: a pandas column assignment
        # costs about a millisecond, which the update of one mast in the planning context felt
        changed: dict[str, Any] = {}
        if todo.size:
            pos = _lonlat(conn, df["id"].to_numpy()[todo])
            x, y = project_xy(pos["lon"].to_numpy(dtype=float), pos["lat"].to_numpy(dtype=float), WGS84, metric_crs)
            xm, ym = df["x_m"].to_numpy(dtype=float, copy=True), df["y_m"].to_numpy(dtype=float, copy=True)
            xm[todo], ym[todo] = x, y
            changed["x_m"], changed["y_m"] = xm, ym
        unclassified = df["derived_class"].isna().to_numpy()
        if unclassified.any():
            fields = ["mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged", "declared_class"]
            extra = site_rows(conn, df["id"].to_numpy()[unclassified], fields)
            for c in fields:
                col = df[c].to_numpy(dtype=object, copy=True) if c in df else np.full(len(df), None, dtype=object)
                col[unclassified] = extra[c].to_numpy(dtype=object)
                changed[c] = pd.Series(col, dtype=object)
    status = statuses[0] if len(statuses) == 1 else "built"
    columns = {c: df[c] for c in df.columns if c not in changed}
    return pd.DataFrame({**columns, **changed, "status": pd.Series(status, index=df.index)}, copy=False)


def load_site_classes(bind: Engine | Connection, *, statuses: Sequence[str]) -> gpd.GeoDataFrame:
    """Points (EPSG:4326) and derived classes of the sites with these statuses, for the statistics —
    plus the classifier fields of sites never classified. Fast on PostGIS (binary arrays)."""
    with _conn(bind) as conn:
        if _is_pg(conn):
            raw = conn.connection.dbapi_connection
            with raw.cursor(binary=True) as cur:  # type: ignore[union-attr]
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # arrays must line up
                for oid, dt_ in _ARRAY_OIDS.items():
                    cur.adapters.register_loader(oid, _array_loader(dt_))
                cur.execute("SELECT count(*), array_agg(id), array_agg(ST_X(geom)), array_agg(ST_Y(geom)), "
                            "string_agg(coalesce(derived_class, ''), %(sep)s) FROM sites "
                            "WHERE status = ANY(%(statuses)s)", {"statuses": list(statuses), "sep": _SEP})
                n, ids, lon, lat, joined = cur.fetchone()
            if not n:
                ids, lon, lat, cls = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0),
                                      np.empty(0, dtype=object))
            else:
                cls = np.array(joined.split(_SEP), dtype=object)
                cls[cls == ""] = None
            df = pd.DataFrame({"id": ids.astype(np.int64), "derived_class": pd.Series(cls, dtype=object)})
        else:
            from sqlalchemy import bindparam

            stmt = text("SELECT id, derived_class, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM sites "
                        "WHERE status IN :statuses ORDER BY id").bindparams(bindparam("statuses", expanding=True))
            df = _frame(conn, stmt, {"statuses": list(statuses)})
            lon = pd.to_numeric(df.pop("lon"), errors="coerce").to_numpy(dtype=float)
            lat = pd.to_numeric(df.pop("lat"), errors="coerce").to_numpy(dtype=float)
            if len(df) == 0:
                df = pd.DataFrame({"id": pd.Series(dtype=np.int64), "derived_class": pd.Series(dtype=object)})
        todo = df["derived_class"].isna().to_numpy()
        if todo.any():
            fields = ["mount", "structure", "mast_height_m", "building_height_m", "reach_m", "camouflaged"]
            extra = site_rows(conn, df["id"].to_numpy()[todo], fields)
            for c in fields:
                col = np.full(len(df), None, dtype=object)
                col[todo] = extra[c].to_numpy(dtype=object)
                df[c] = pd.Series(col, dtype=object)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def _id_filter(conn: Connection, ids: np.ndarray) -> tuple[str, dict[str, Any]]:
    ids_list = [int(i) for i in np.asarray(ids).tolist()]
    if _is_pg(conn):
        return "id = ANY(:ids)", {"ids": ids_list}
    return "id IN (SELECT value FROM json_each(:ids))", {"ids": json.dumps(ids_list)}


def _lonlat(conn: Connection, ids: np.ndarray) -> pd.DataFrame:
    cond, params = _id_filter(conn, ids)
    df = _frame(conn, f"SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM sites WHERE {cond}", params)
    return df.set_index("id").loc[np.asarray(ids)].reset_index()


def site_rows(bind: Engine | Connection, ids: np.ndarray, fields: Sequence[str]) -> pd.DataFrame:
    """Chosen fields of the sites with these ids, in the order of ``ids`` (repeats allowed)."""
    bad = [f for f in fields if f not in SITE_FIELDS]
    if bad:
        raise ValueError(f"unknown site field(s): {', '.join(bad)}")
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0:
        return pd.DataFrame(columns=list(fields))
    with _conn(bind) as conn:
        cond, params = _id_filter(conn, np.unique(ids))
        if _is_pg(conn):  # plain DB-API rows: no ORM row objects for tens of thousands of sites
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                cur.execute(f"SELECT id, {', '.join(fields)} FROM sites WHERE id = ANY(%(ids)s)",
                            {"ids": params["ids"]})
                rows = cur.fetchall()
            cols = list(zip(*rows, strict=True)) if rows else [()] * (len(fields) + 1)
            df = pd.DataFrame({k: pd.Series(np.asarray(c, dtype=object), dtype=object)
                               for k, c in zip(["id", *fields], cols, strict=True)})
        else:
            df = _frame(conn, f"SELECT id, {', '.join(fields)} FROM sites WHERE {cond}", params)
    df["id"] = df["id"].astype(np.int64)
    return df.set_index("id").reindex(ids).reset_index(drop=True)


def load_findings(bind: Engine | Connection, checks: Sequence[str] | None = None) -> pd.DataFrame:
    """Stored findings (columns of :data:`planning.findings.FINDING_COLUMNS`, plus ``id``)."""
    t = m.Finding.__table__
    stmt = select(t.c.id, *[t.c[c] for c in FINDING_COLUMNS if c in t.c and c != "details"], t.c.details,
                  t.c.geom.ST_X().label("lon"), t.c.geom.ST_Y().label("lat")).order_by(t.c.id)
    if checks:
        stmt = stmt.where(t.c.check.in_(list(checks)))
    with _conn(bind) as conn:
        df = _frame(conn, stmt)
    for c in FINDING_COLUMNS:
        if c not in df:
            df[c] = None
    return df


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def store_classification(engine: Engine, ids: Sequence[int] | np.ndarray, derived: Sequence[str] | np.ndarray,
                         reasons_json: Sequence[str]) -> int:
    """Write derived classes and their reasons (JSON text) in one transaction; returns rows changed.

    Rows whose class and reasons are already stored unchanged are not rewritten (re-running
    ``btsplan classify`` on an unchanged database writes nothing but the data version).
    """
    ids = np.asarray(ids, dtype=np.int64)
    rows = list(zip(ids.tolist(), [None if c is None else str(c) for c in derived], list(reasons_json),
                    strict=True))
    with engine.begin() as conn:
        if _is_pg(conn):
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                cur.execute("CREATE TEMP TABLE _cls (id integer PRIMARY KEY, derived_class text, reasons json) "
                            "ON COMMIT DROP")
                with cur.copy("COPY _cls (id, derived_class, reasons) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
                cur.execute("UPDATE sites s SET derived_class = c.derived_class, reasons = c.reasons FROM _cls c "
                            "WHERE s.id = c.id AND (s.derived_class IS DISTINCT FROM c.derived_class "
                            "OR s.reasons::text IS DISTINCT FROM c.reasons::text)")
                changed = cur.rowcount
        else:
            conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS _cls (id INTEGER PRIMARY KEY, derived_class TEXT, "
                                 "reasons TEXT)")
            conn.exec_driver_sql("DELETE FROM _cls")
            conn.exec_driver_sql("INSERT INTO _cls (id, derived_class, reasons) VALUES (?, ?, ?)", rows)
            res = conn.exec_driver_sql(
                "UPDATE sites SET derived_class = c.derived_class, reasons = c.reasons FROM _cls c "
                "WHERE sites.id = c.id AND (sites.derived_class IS NOT c.derived_class "
                "OR sites.reasons IS NOT c.reasons)")
            changed = res.rowcount
            conn.exec_driver_sql("DROP TABLE _cls")
        bump_data_version(conn, {"sites": "all"})
    if engine.dialect.name == "postgresql" and changed > 10_000:
        # rewritten rows lose their all-visible bit, which index-only scans (the A1 check's read)
        # need; vacuum now rather than whenever autovacuum gets round to it
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) sites")
    return int(changed)


def _plain(v: Any) -> Any:
    """JSON-safe Python values (numpy scalars → Python, NaN → None), recursively."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_plain(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def replace_findings(engine: Engine, checks: Sequence[str], findings: pd.DataFrame, *, metric_crs: str) -> int:
    """Replace the stored findings of ``checks`` by ``findings`` in one transaction (atomic: readers
    see the old set or the new one, never a mix or nothing); returns the number written."""
    f = findings if len(findings) else empty_findings()
    bad = sorted(set(f["check"].dropna()) - set(checks)) if len(f) else []
    if bad:
        raise ValueError(f"findings of check(s) {', '.join(bad)} given to replace {', '.join(checks)}")
    rows: list[dict[str, Any]] = []
    if len(f):
        x = f["x_m"].to_numpy(dtype=float)
        y = f["y_m"].to_numpy(dtype=float)
        ok = ~(np.isnan(x) | np.isnan(y))
        lon = np.full(x.size, np.nan)
        lat = np.full(x.size, np.nan)
        if ok.any():
            lon[ok], lat[ok] = project_xy(x[ok], y[ok], metric_crs, WGS84)
        cols = [c for c in FINDING_COLUMNS if c in m.Finding.__table__.c]
        for i, rec in enumerate(f[cols].to_dict("records")):
            row = {k: _plain(v) for k, v in rec.items()}
            if row.get("distance_m") is not None:
                row["distance_m"] = round(row["distance_m"], 3)
            row["geom"] = f"SRID=4326;POINT({lon[i]:.8f} {lat[i]:.8f})" if ok[i] else None
            rows.append(row)
    with engine.begin() as conn:
        conn.execute(delete(m.Finding).where(m.Finding.check.in_(list(checks))))
        for lo in range(0, len(rows), 5000):
            conn.execute(insert(m.Finding), rows[lo:lo + 5000])
        bump_data_version(conn, {"findings": True})
    return len(rows)
