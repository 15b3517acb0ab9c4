"""What an export holds: sites, findings or cable segments matching the inspectors' filters, read in
chunks straight from the database with their WGS84 lon/lat and the province's VN-2000 X/Y.

An :class:`ExportLayer` is format-free: :mod:`geodata.io.writers` turns it into CSV, XLSX, GeoJSON,
GeoPackage, KML or a zipped Shapefile, for the CLI (``btsplan export``) and the HTTP layer
(``/exports/sites.csv`` …) alike. Chunks are re-read on every iteration, so one layer can be written
twice, and memory stays at one chunk whatever the table size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import ColumnElement, Engine, FromClause, Select, and_, func, or_, select

from geodata.errors import InvalidField
from geodata.store import models as m
from geodata.crs import province_metric_crs, transformer
from geodata.store.repository import unit_names
from geodata.store.units import unit_choices
from geodata.store.dated_units import UnitsOnDay, units_on
from planning.names import fold
from planning.units import match_units
from planning.vocab import DERIVED_CLASSES, SITE_STATUSES, UNKNOWN_CLASS
from planning import labels
from planning.i18n import N_, gettext

LAYERS = ("sites", "findings", "cables")


@dataclass(frozen=True)
class Column:
    name: str  #: field name (the same in imports, the API and exports)
    label: str  #: header for people (XLSX label row, Shapefile sidecar, KML): an English msgid, see caption
    kind: str = "text"  #: text | float | int | bool | date | list
    short: str | None = None  #: ≤ 10 characters for Shapefile .dbf
    width: int | None = None  #: XLSX column width hint
    #: code → label msgid of the values people read in tables (``building`` → "on a building"); the
    #: Vietnamese labels re-import (the importer knows them as words for the codes)
    values: Mapping[str, str] | None = None

    @property
    def caption(self) -> str:
        """The header in the current language."""
        return gettext(self.label)

    @property
    def dbf(self) -> str:
        return (self.short or self.name)[:10]


SITE_EXPORT_COLUMNS = [
    Column("code", N_("Site code"), width=18), Column("operator", N_("Operator"), short="operator"),
    Column("name", N_("Site name"), width=24), Column("address", N_("Address"), width=30),
    Column("mount", N_("Placement"), values=labels.MOUNT), Column("mast_height_m", N_("Mast height (m)"), "float", "mast_h_m"),
    Column("building_height_m", N_("Building height (m)"), "float", "bldg_h_m"),
    Column("reach_m", N_("Reach from the mast centre to its outermost point (m)"), "float"),
    Column("camouflaged", N_("Camouflaged"), "bool", "camouflag"),
    Column("declared_class", N_("Declared class"), short="decl_cls"),
    Column("derived_class", N_("Derived class"), short="deriv_cls", values=labels.CLASS), Column("tech", N_("Technology")),
    Column("transmitters", N_("Transmitters"), "int", "trx"), Column("shared_by", N_("Shared with"), "list"),
    Column("max_tenants", N_("Most operators"), "int", "max_ten"),
    Column("status", N_("Status"), values=labels.SITE_STATUS),
    Column("district_code", N_("District code"), short="dist_code"), Column("district", N_("District"), width=20),
    Column("commune_code", N_("Commune code"), short="comm_code"), Column("commune", N_("Commune"), width=20),
    Column("lon", N_("Longitude (WGS84)"), "float"), Column("lat", N_("Latitude (WGS84)"), "float"),
    Column("vn2000_x", N_("VN-2000 X (m, northing)"), "float"),
    Column("vn2000_y", N_("VN-2000 Y (m, easting)"), "float"),
    Column("built_on", N_("Built on"), "date"), Column("target_date", N_("Deadline"), "date", "target_dt"),
]
FINDING_EXPORT_COLUMNS = [
    Column("check", N_("Check"), values=labels.CHECK), Column("rule", N_("Rule"), width=24),
    Column("severity", N_("Severity"), values=labels.SEVERITY),
    Column("site_code", N_("Site code"), width=18), Column("operator", N_("Operator")),
    Column("zone", N_("Zone"), width=24),
    Column("route", N_("Route"), width=24), Column("other_site_code", N_("Other site"), short="other_site"),
    Column("distance_m", N_("Distance (m)"), "float", "dist_m"), Column("district", N_("District"), width=20),
    Column("commune", N_("Commune"), width=20), Column("legal_source", N_("Legal source"), width=30, short="legal_src"),
    Column("message", N_("Message"), width=50), Column("lon", N_("Longitude (WGS84)"), "float"),
    Column("lat", N_("Latitude (WGS84)"), "float"), Column("vn2000_x", N_("VN-2000 X (m, northing)"), "float"),
    Column("vn2000_y", N_("VN-2000 Y (m, easting)"), "float"),
]
CABLE_EXPORT_COLUMNS = [
    Column("code", N_("Segment code"), width=16), Column("street", N_("Street"), width=24),
    Column("from_desc", N_("From"), width=20),
    Column("to_desc", N_("To"), width=20), Column("district_code", N_("District code"), short="dist_code"),
    Column("district", N_("District"), width=20), Column("commune_code", N_("Commune code"), short="comm_code"),
    Column("length_m", N_("Length (m)"), "float"), Column("plan_ref", N_("Plan")),
    Column("target_year", N_("Target year"), "int", "target_yr"), Column("method", N_("Method"), values=labels.CABLE_METHOD),
    Column("operators", N_("Operators"), "list"), Column("status", N_("Status"), values=labels.SEGMENT_STATUS),
    Column("status_changed_on", N_("Status changed on"), "date", "status_on"),
]


@dataclass
class ExportFilter:
    """Inspectors' filters; each list matches any of its values. Districts and communes may be given
    by code or by name ('Lê Chân', 'le chan', '305')."""

    district: list[str] = field(default_factory=list)
    commune: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)  #: mast class (derived, else declared)
    operator: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    finding: list[str] = field(default_factory=list)  #: findings: check name or rule id
    #: the units of this day name and select the rows (by geometry, see :class:`DatedUnits`); None:
    #: the unit codes stored with each row (those in force when it was imported)
    as_of: dt.date | None = None

    def describe(self) -> str:
        parts = [f"{k}={','.join(v)}" for k, v in (("district", self.district), ("commune", self.commune),
                                                   ("type", self.type), ("operator", self.operator),
                                                   ("status", self.status), ("finding", self.finding)) if v]
        if self.as_of is not None:
            parts.append(f"as_of={self.as_of.isoformat()}")
        return "; ".join(parts) or gettext("all")


class ExportError(InvalidField):
    """A filter that does not apply to the layer or names nothing (one clear line); ``field`` is the filter."""

    title = N_("Invalid filter")


@dataclass
class ExportLayer:
    """A format-free export: columns, geometry kind, title, and a chunk generator."""

    name: str
    title: str
    columns: list[Column]
    geometry_type: str  #: Point | LineString | MultiLineString …
    chunk_source: Callable[[], Iterator[pd.DataFrame]]
    filter_text: str = ""
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0))
    class_field: str | None = None  #: column that picks the KML style (mast class, severity, status)

    def chunks(self) -> Iterator[pd.DataFrame]:
        """DataFrames with the layer's columns plus ``geometry`` (shapely, WGS84)."""
        return self.chunk_source()

    @property
    def heading(self) -> str:
        return gettext("{title} — filter: {filter} — date: {date}", title=self.caption,
                       filter=self.filter_text or gettext("all"), date=self.created.isoformat(" "))

    @property
    def caption(self) -> str:
        """The title in the current language (``title`` is its English msgid)."""
        return gettext(self.title)


def layer_from_frame(name: str, frame: Any, *, title: str = "", filter_text: str = "", columns: Sequence[Column] | None = None,
                     class_field: str | None = None, chunk_size: int = 50_000) -> ExportLayer:
    """An export layer over an in-memory GeoDataFrame (WGS84), e.g. check results computed on the fly."""
    gdf = frame.to_crs("EPSG:4326") if getattr(frame, "crs", None) is not None else frame
    cols = list(columns) if columns is not None else [Column(str(c), str(c), _kind_of(gdf[c]))
                                                     for c in gdf.columns if c != gdf.geometry.name]
    gtypes = sorted(set(gdf.geometry.geom_type.dropna()))

    def gen() -> Iterator[pd.DataFrame]:
        for s in range(0, len(gdf), chunk_size):
            part = gdf.iloc[s:s + chunk_size]
            out = pd.DataFrame({c.name: part[c.name].to_numpy() for c in cols})
            out["geometry"] = np.asarray(part.geometry.values, dtype=object)
            yield out

    return ExportLayer(name, title or name, cols, gtypes[0] if len(gtypes) == 1 else "Geometry", gen, filter_text,
                       class_field=class_field)


def _kind_of(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_integer_dtype(s):
        return "int"
    if pd.api.types.is_float_dtype(s):
        return "float"
    return "text"


# --------------------------------------------------------------------------------------------
# resolving filter values against the database
# --------------------------------------------------------------------------------------------

def _match_units(conn: Any, values: Sequence[str], level: str) -> list[str]:
    """Codes of the units of ``level`` that ``values`` name (codes, or names however typed: the same
    rule as every other unit filter, :func:`planning.units.match_units`); one unknown value is an error."""
    units = unit_choices(conn, level)
    out: list[str] = []
    for v in values:
        hits = match_units(v, units)
        if not hits:
            known = ", ".join(f"{c} {n}" for c, n in units[:12])
            raise ExportError(gettext("no {level} {value!r} (known: {known})", level=level, value=v,
                                      known=known + (", …" if len(units) > 12 else "")), level)
        out += hits
    return sorted(set(out))


@dataclass(frozen=True)
class DatedUnits:
    """The unit columns and unit filter of an export dated ``as_of``, by geometry.

    Rows store the units in force when they were imported; an export for a day names the units of
    that day instead, the way the statistics count (:mod:`geodata.store.dated_units`): the communes of
    the day, and the districts only before 1/7/2025 (after it the district columns stay empty rather
    than name a district that no longer exists); a row in a split old commune without new polygons
    reads "not placed (partial merge of X)" with no code.
    """

    communes: UnitsOnDay
    districts: UnitsOnDay | None
    want_communes: frozenset[str] | None
    want_districts: frozenset[str] | None

    @classmethod
    def build(cls, engine: Engine, flt: ExportFilter, as_of: dt.date) -> DatedUnits:
        communes = units_on(engine, as_of, by="commune")
        districts = units_on(engine, as_of, by="district") if units_on(engine, as_of).by == "district" else None
        if flt.district and districts is None:
            raise ExportError(gettext("no district is in force on {day}: since 1/7/2025 filter by commune, ward or "
                                      "special zone", day=as_of.isoformat()), "district")
        return cls(communes, districts, _wanted(communes, flt.commune, "commune"),
                   _wanted(districts, flt.district, "district") if districts is not None else None)

    def apply(self, df: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, *, codes: bool = True) -> np.ndarray:
        """Write the unit columns of ``df`` for the points (lon, lat); the rows the filter keeps."""
        keep = np.ones(len(df), dtype=bool)
        for level, units, want in (("commune", self.communes, self.want_communes),
                                   ("district", self.districts, self.want_districts)):
            keys = units.place(lon, lat) if units is not None else np.full(len(df), None, dtype=object)
            if codes:
                df[f"{level}_code"] = [units.code(k) if units is not None else None for k in keys.tolist()]
            df[level] = [units.label(k) if units is not None else None for k in keys.tolist()]
            if want is not None:
                keep &= np.isin(keys.astype(str), list(want))
        return keep


def _wanted(units: UnitsOnDay, values: Sequence[str], level: str) -> frozenset[str] | None:
    """The placement keys ``values`` name among the units of the day; an unknown value is an error."""
    if not values:
        return None
    out: set[str] = set()
    for v in values:
        hits = units.resolve(v)
        if not hits:
            known = [f"{k} {n}" for k, n in units.names_by_key().items() if units.code(k)][:12]
            raise ExportError(gettext("no {level} {value!r} (known: {known})", level=level, value=v,
                                      known=", ".join(known) + ", …"), level)
        out |= set(hits)
    return frozenset(out)


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------

def _xy(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    if not len(lon):
        return np.zeros(0), np.zeros(0)
    e, n = transformer("EPSG:4326", crs).transform(lon, lat)
    return np.round(np.asarray(n, float), 3), np.round(np.asarray(e, float), 3)


def _stream(engine: Engine, stmt: Any, chunk: int) -> Iterator[pd.DataFrame]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
        keys = list(result.keys())
        for part in result.partitions(chunk):
            yield pd.DataFrame.from_records(part, columns=keys)


def open_export(engine: Engine, layer: str, flt: ExportFilter | None = None, *, province_key: str = "haiphong",
                chunk_size: int = 50_000) -> ExportLayer:
    """The ``layer`` (sites | findings | cables) restricted by ``flt``; raises :class:`ExportError`."""
    if layer not in LAYERS:
        raise ExportError(gettext("unknown export {layer!r}; one of {layers}", layer=layer, layers=", ".join(LAYERS)),
                          "layer")
    flt = flt or ExportFilter()
    vn_crs = province_metric_crs(province_key)
    dated = DatedUnits.build(engine, flt, flt.as_of) if flt.as_of is not None else None
    with engine.connect() as conn:
        # a dated export selects by the units of its day (geometry, per chunk), not by stored codes
        districts = _match_units(conn, flt.district, "district") if flt.district and dated is None else []
        communes = _match_units(conn, flt.commune, "commune") if flt.commune and dated is None else []
        names = unit_names(conn)
        operators = {r.code: r.code for r in conn.execute(select(m.Operator.code, m.Operator.short_name))}
        for r in conn.execute(select(m.Operator.code, m.Operator.short_name, m.Operator.name)):
            for w in (r.short_name, r.name):
                if w:
                    operators[fold(w)] = r.code
    ops = []
    for o in flt.operator:
        code = operators.get(o) or operators.get(o.upper()) or operators.get(fold(o))
        if code is None:
            raise ExportError(gettext("unknown operator {operator!r} (known: {known})", operator=o,
                                      known=", ".join(sorted(set(operators.values())))),
                              "operator")
        ops.append(code)

    if layer == "sites":
        return _sites_layer(engine, flt, districts, communes, ops, names, vn_crs, chunk_size, dated)
    if layer == "findings":
        return _findings_layer(engine, flt, districts, communes, ops, vn_crs, chunk_size, dated)
    return _cables_layer(engine, flt, districts, communes, ops, names, chunk_size, dated)


def _unit_and_operator(t: FromClause, districts: list[str], communes: list[str],
                       ops: Sequence[str] = ()) -> list[ColumnElement[bool]]:
    """The filters every layer shares, as conditions on ``t``; each layer adds its own to the list."""
    conds: list[ColumnElement[bool]] = []
    if districts:
        conds.append(t.c.district_code.in_(districts))
    if communes:
        conds.append(t.c.commune_code.in_(communes))
    if ops:
        conds.append(t.c.operator.in_(ops))
    return conds


def _narrowed(stmt: Select[Any], conds: list[ColumnElement[bool]], *order: Any) -> Select[Any]:
    """``stmt`` under all of ``conds``, in a fixed order so that the same filter writes the same file."""
    return (stmt.where(and_(*conds)) if conds else stmt).order_by(*order)


def _sites_layer(engine: Engine, flt: ExportFilter, districts: list[str], communes: list[str], ops: list[str],
                 names: dict[str, str], vn_crs: str, chunk: int, dated: DatedUnits | None = None) -> ExportLayer:
    if flt.finding:
        raise ExportError(gettext("--finding applies to the findings export, not sites"), "finding")
    t = m.Site.__table__
    cls = func.coalesce(t.c.derived_class, t.c.declared_class)
    cols = [t.c[c.name] for c in SITE_EXPORT_COLUMNS if c.name in t.c and c.name not in ("lon", "lat")]
    stmt = select(*cols, func.ST_X(t.c.geom).label("lon"), func.ST_Y(t.c.geom).label("lat"))
    conds = _unit_and_operator(t, districts, communes, ops)
    if flt.type:
        from geodata.io.import_values import mast_class

        classes = [mast_class(v) or v for v in flt.type]
        unknown = [v for v in classes if v not in DERIVED_CLASSES]
        if unknown:
            raise ExportError(gettext("--type {value!r} is not a mast class ({known})", value=unknown[0],
                                      known=", ".join(DERIVED_CLASSES)), "type")
        cond = cls.in_([c for c in classes if c != UNKNOWN_CLASS])
        conds.append(or_(cond, cls.is_(None)) if UNKNOWN_CLASS in classes else cond)
    if flt.status:
        bad = [s for s in flt.status if s not in SITE_STATUSES]
        if bad:
            raise ExportError(gettext("--status {value!r} is not one of {known}", value=bad[0],
                                      known=", ".join(SITE_STATUSES)), "status")
        conds.append(t.c.status.in_(flt.status))
    stmt = _narrowed(stmt, conds, t.c.code)

    def gen() -> Iterator[pd.DataFrame]:
        for df in _stream(engine, stmt, chunk):
            lon = df["lon"].to_numpy(float)
            lat = df["lat"].to_numpy(float)
            df["vn2000_x"], df["vn2000_y"] = _xy(lon, lat, vn_crs)
            if dated is None:
                df["district"] = df["district_code"].map(names)
                df["commune"] = df["commune_code"].map(names)
            else:
                keep = dated.apply(df, lon, lat)
                df, lon, lat = df[keep].reset_index(drop=True), lon[keep], lat[keep]
            df["geometry"] = shapely.points(lon, lat)
            yield df[[c.name for c in SITE_EXPORT_COLUMNS] + ["geometry"]]

    return ExportLayer("sites", N_("BTS sites"), SITE_EXPORT_COLUMNS, "Point", gen, flt.describe(),
                       class_field="derived_class")


def _findings_layer(engine: Engine, flt: ExportFilter, districts: list[str], communes: list[str], ops: list[str],
                    vn_crs: str, chunk: int, dated: DatedUnits | None = None) -> ExportLayer:
    if flt.status or flt.type:
        raise ExportError(gettext("--status/--type apply to sites and cables, not findings (use --finding CHECK_OR_RULE)"),
                          "type" if flt.type else "status")
    t = m.Finding.__table__
    cols = [t.c[c.name] for c in FINDING_EXPORT_COLUMNS if c.name in t.c]
    stmt = select(*cols, func.ST_X(t.c.geom).label("lon"), func.ST_Y(t.c.geom).label("lat"))
    conds = _unit_and_operator(t, districts, communes, ops)
    if flt.finding:
        conds.append(or_(t.c.check.in_(flt.finding), t.c.rule.in_(flt.finding)))
    stmt = _narrowed(stmt, conds, t.c.check, t.c.rule, t.c.site_code, t.c.id)

    def gen() -> Iterator[pd.DataFrame]:
        for df in _stream(engine, stmt, chunk):
            lon = df["lon"].to_numpy(float, na_value=np.nan)
            lat = df["lat"].to_numpy(float, na_value=np.nan)
            ok = np.isfinite(lon) & np.isfinite(lat)
            x, y = np.full(len(df), np.nan), np.full(len(df), np.nan)
            if ok.any():
                x[ok], y[ok] = _xy(lon[ok], lat[ok], vn_crs)
            df["vn2000_x"], df["vn2000_y"] = x, y
            geoms = np.full(len(df), None, dtype=object)
            geoms[ok] = shapely.points(lon[ok], lat[ok])
            df["geometry"] = geoms
            if dated is not None:
                keep = dated.apply(df, lon, lat, codes=False)
                df = df[keep].reset_index(drop=True)
            yield df[[c.name for c in FINDING_EXPORT_COLUMNS] + ["geometry"]]

    return ExportLayer("findings", N_("Findings of the planning checks"), FINDING_EXPORT_COLUMNS, "Point", gen, flt.describe(),
                       class_field="severity")


def _cables_layer(engine: Engine, flt: ExportFilter, districts: list[str], communes: list[str], ops: list[str],
                  names: dict[str, str], chunk: int, dated: DatedUnits | None = None) -> ExportLayer:
    if flt.type or flt.finding:
        raise ExportError(gettext("--type/--finding do not apply to cables (use --status, --district, --operator)"),
                          "type" if flt.type else "finding")
    t = m.CableSegment.__table__
    cols = [t.c[c.name] for c in CABLE_EXPORT_COLUMNS if c.name in t.c]
    stmt = select(*cols, func.ST_AsBinary(t.c.geom).label("wkb"))
    conds = _unit_and_operator(t, districts, communes)  # operators is an array here: matched per chunk below
    if flt.status:
        conds.append(t.c.status.in_(flt.status))
    stmt = _narrowed(stmt, conds, t.c.code)

    def gen() -> Iterator[pd.DataFrame]:
        for df in _stream(engine, stmt, chunk):
            if ops:
                keep = [bool(set(v or []) & set(ops)) for v in df["operators"]]
                df = df[keep].reset_index(drop=True)
            df["geometry"] = shapely.from_wkb([bytes(b) for b in df["wkb"]]) if len(df) else np.zeros(0, object)
            if dated is None:
                df["district"] = df["district_code"].map(names)
            else:  # a section belongs to the unit holding its midpoint
                mid = shapely.line_interpolate_point(df["geometry"].to_numpy(object), 0.5, normalized=True) \
                    if len(df) else np.zeros(0, object)
                keep = dated.apply(df, shapely.get_x(mid), shapely.get_y(mid))
                df = df[keep].reset_index(drop=True)
            yield df[[c.name for c in CABLE_EXPORT_COLUMNS] + ["geometry"]]

    return ExportLayer("cables", N_("Cable segments (tidy-up and undergrounding)"), CABLE_EXPORT_COLUMNS, "LineString",
                       gen, flt.describe(), class_field="status")
