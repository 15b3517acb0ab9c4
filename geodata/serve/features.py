"""What each OGC API Features collection exposes, and the queries behind ``/collections/{id}/items``.

Every collection is declared once (:data:`COLLECTIONS`): its table, geometry type, the properties it
publishes with a stable JSON type, which of them are queryable, and its temporal property. The
router, the queryables/schema documents and the SQL are all derived from that declaration, so a
property filter can only ever name a whitelisted column and its value is always a bound parameter —
no SQL is ever built from user strings.

Queries run on both backends: PostGIS uses its GiST index through ``ST_Intersects``; SpatiaLite is
told to use its R*Tree explicitly (``id IN (SELECT pkid FROM idx_<table>_geom WHERE …)``), which is
the only way SQLite consults a spatial index. Geometries leave the database as WKB and are written
as GeoJSON by shapely (vectorised), reprojected by pyproj when another CRS is asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import shapely
from pyproj import CRS
from sqlalchemy import Column, Date, Engine, MetaData, Table, and_, func, literal, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from geodata.errors import InvalidParameter
from geodata.store import models as m
from geodata.store.meta import data_version
from geodata.crs import transformer
from geodata.store.db import engine_backend
from geodata.store.units import resolve_units
from planning.findings import message_text
from planning.vocab import (
    CABLE_METHODS,
    COMPLAINT_STATUSES,
    DERIVED_CLASSES,
    MAST_CLASSES,
    MOUNTS,
    SEGMENT_STATUSES,
    SEVERITIES,
    SITE_STATUSES,
    ZONE_POLICIES,
)
from planning.i18n import _

if TYPE_CHECKING:
    from geodata.serve.cql2 import Cql2Filter

PropType = Literal["string", "number", "integer", "boolean", "date", "date-time", "array"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"

#: ``numberMatched`` is exact up to this many matches and omitted above it: counting a million
#: rows on every page would cost more than the page itself (clients page with ``next`` links).
COUNT_CAP = 100_000
#: an area with at most this many matches is paged from its own matches on PostGIS: one scan of the
#: spatial index yields both ``numberMatched`` and the page (see :func:`_page_from_area`)
AREA_SORT_MAX = 20_000
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Prop:
    """One published property: JSON name, table column, JSON type; ``queryable`` allows ``?name=``."""

    name: str
    column: str
    type: PropType
    title: str
    queryable: bool = False
    enum: tuple[str, ...] | None = None
    unit: str | None = None
    #: the filter value may also be the *name* of an admin unit of this level (``district=Lê Chân``)
    unit_level: str | None = None
    #: the code column such a unit filter matches when the property itself publishes the unit's name
    unit_column: str | None = None


@dataclass(frozen=True)
class Temporal:
    start: str
    end: str | None = None  # an interval property (admin units: valid_from … valid_to)


@dataclass(frozen=True)
class CollectionDef:
    id: str
    title: str
    description: str
    model: Any
    geometry_type: str
    props: tuple[Prop, ...]
    temporal: Temporal | None = None
    #: a unique text column accepted in place of the numeric id by ``/items/{featureId}``
    code_column: str | None = None

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[no-any-return]

    @property
    def queryables(self) -> dict[str, Prop]:
        return {p.name: p for p in self.props if p.queryable}

    @property
    def filterables(self) -> dict[str, Prop]:
        """What a CQL2 ``filter`` may name: the queryables plus numeric and date properties, which
        only ranges (BETWEEN, <, T_AFTER) filter usefully, so ``?name=value`` does not offer them."""
        return {p.name: p for p in self.props
                if p.queryable or p.type in ("number", "integer", "date", "date-time")}


#: properties that several collections publish the same way
_DISTRICT = Prop("district", "district_code", "string", "District code", True, unit_level="district")
_COMMUNE = Prop("commune", "commune_code", "string", "Commune code", True, unit_level="commune")
_POLICY = Prop("policy", "policy", "string", "Policy", True, ZONE_POLICIES)
_LEGAL_SOURCE = Prop("legal_source", "legal_source", "string", "Legal source")

_SITE_PROPS = (
    Prop("code", "code", "string", "Site code", True),
    Prop("operator", "operator", "string", "Operator code", True),
    Prop("name", "name", "string", "Name"),
    Prop("address", "address", "string", "Address"),
    Prop("mount", "mount", "string", "Mount", True, MOUNTS),
    Prop("mast_height_m", "mast_height_m", "number", "Mast height (antenna included)", unit="m"),
    Prop("building_height_m", "building_height_m", "number", "Building height", unit="m"),
    Prop("reach_m", "reach_m", "number", "Horizontal reach from the mast centre", unit="m"),
    Prop("camouflaged", "camouflaged", "boolean", "Camouflaged", True),
    Prop("declared_class", "declared_class", "string", "Declared mast class", True, MAST_CLASSES),
    Prop("derived_class", "derived_class", "string", "Derived mast class", True, DERIVED_CLASSES),
    Prop("tech", "tech", "string", "Technologies", True),
    Prop("transmitters", "transmitters", "integer", "Transmitters"),
    Prop("shared_by", "shared_by", "array", "Operators sharing the mast"),
    Prop("status", "status", "string", "Status", True, SITE_STATUSES),
    _DISTRICT,
    _COMMUNE,
    Prop("built_on", "built_on", "date", "Built on"),
    Prop("target_date", "target_date", "date", "Target date (planned sites)"),
    Prop("updated_at", "updated_at", "date-time", "Last updated"),
)

_ADMIN_UNIT_PROPS = (
    Prop("code", "code", "string", "Official code", True),
    Prop("name", "name", "string", "Name", True),
    Prop("level", "level", "string", "Level", True, ("province", "district", "commune")),
    Prop("unit_type", "unit_type", "string", "Unit type", True),
    Prop("parent", "parent_code", "string", "Parent unit code", True),
    Prop("urban", "urban", "boolean", "Urban", True),
    Prop("valid_from", "valid_from", "date", "Valid from"),
    Prop("valid_to", "valid_to", "date", "Valid to"),
)

_ZONE_PROPS = (
    Prop("name", "name", "string", "Name", True),
    Prop("kind", "kind", "string", "Kind", True),
    _POLICY,
    Prop("radius_m", "radius_m", "number", "Radius (point zones)", unit="m"),
    Prop("buffer_m", "buffer_m", "number", "Buffer", unit="m"),
    _DISTRICT,
    _LEGAL_SOURCE,
)

_ROUTE_PROPS = (
    Prop("name", "name", "string", "Street", True),
    _DISTRICT,
    Prop("corridor_m", "corridor_m", "number", "Corridor half-width", unit="m"),
    _POLICY,
    _LEGAL_SOURCE,
)

_CABLE_SEGMENT_PROPS = (
    Prop("code", "code", "string", "Section code", True),
    Prop("street", "street", "string", "Street", True),
    Prop("from_desc", "from_desc", "string", "From"),
    Prop("to_desc", "to_desc", "string", "To"),
    _DISTRICT,
    _COMMUNE,
    Prop("length_m", "length_m", "number", "Length", unit="m"),
    Prop("plan_ref", "plan_ref", "string", "Plan", True),
    Prop("target_year", "target_year", "integer", "Target year", True),
    Prop("method", "method", "string", "Method", True, CABLE_METHODS),
    Prop("operators", "operators", "array", "Operators"),
    Prop("status", "status", "string", "Status", True, SEGMENT_STATUSES),
    Prop("status_changed_on", "status_changed_on", "date", "Status changed on"),
)

_FINDING_PROPS = (
    Prop("check", "check", "string", "Check", True),
    Prop("rule", "rule", "string", "Rule", True),
    Prop("severity", "severity", "string", "Severity", True, SEVERITIES),
    Prop("site_code", "site_code", "string", "Site code", True),
    Prop("operator", "operator", "string", "Operator", True),
    Prop("zone", "zone", "string", "Zone", True),
    Prop("route", "route", "string", "Route", True),
    Prop("other_site_code", "other_site_code", "string", "Other site (spacing)"),
    Prop("distance_m", "distance_m", "number", "Distance", unit="m"),
    Prop("district", "district", "string", "District", True, unit_level="district",
         unit_column="district_code"),
    Prop("commune", "commune", "string", "Commune", True, unit_level="commune", unit_column="commune_code"),
    _LEGAL_SOURCE,
    Prop("message", "message", "string", "Message"),
    Prop("created_at", "created_at", "date-time", "Found at"),
)

_COMPLAINT_PROPS = (
    Prop("text", "text", "string", "Complaint"),
    Prop("reported_on", "reported_on", "date", "Reported on"),
    Prop("status", "status", "string", "Status", True, COMPLAINT_STATUSES),
    Prop("segment_id", "segment_id", "integer", "Cable section id", True),
    _DISTRICT,
)

COLLECTIONS: dict[str, CollectionDef] = {c.id: c for c in (
    CollectionDef(
        "sites", "Trạm BTS / BTS sites",
        "BTS sites with their antenna-mast class (declared by the operator and derived by the rule pack).",
        m.Site, "Point", _SITE_PROPS, Temporal("built_on"), code_column="code",
    ),
    CollectionDef(
        "admin-units", "Đơn vị hành chính / Administrative units",
        "Province, districts and communes, versioned by validity (valid_from … valid_to); "
        "datetime= selects the units valid at that time.",
        m.AdminUnit, "MultiPolygon", _ADMIN_UNIT_PROPS, Temporal("valid_from", "valid_to"),
    ),
    CollectionDef(
        "zones", "Khu vực quy hoạch / Planning zones",
        "Areas where placement rules apply (A1-only squares, heritage sites, headquarters with a radius).",
        m.Zone, "Geometry", _ZONE_PROPS,
    ),
    CollectionDef(
        "routes", "Tuyến đường quy hoạch / Planning routes",
        "Street centrelines with a corridor half-width and a placement policy (a1_only, a2a_allowed, any).",
        m.Route, "LineString", _ROUTE_PROPS,
    ),
    CollectionDef(
        "cable-segments", "Tuyến cáp chỉnh trang, hạ ngầm / Cable tidy-up sections",
        "Street sections of the cable tidy-up and undergrounding plans (18/KH-BCĐ, 85/KH-BCĐ …).",
        m.CableSegment, "LineString", _CABLE_SEGMENT_PROPS, Temporal("status_changed_on"), code_column="code",
    ),
    CollectionDef(
        "findings", "Kết quả kiểm tra / Planning-check findings",
        "Stored results of the planning checks (A1-only routes and zones, spacing, class mismatches).",
        m.Finding, "Point", _FINDING_PROPS, Temporal("created_at"),
    ),
    CollectionDef(
        "complaints", "Phản ánh của người dân / Citizen complaints",
        "Complaints about sagging or unsafe cables (reporters' names are not published).",
        m.Complaint, "Point", _COMPLAINT_PROPS, Temporal("reported_on"),
    ),
)}


# --------------------------------------------------------------------------------------------
# CRS handling (OGC API Features Part 2)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutputCrs:
    uri: str
    epsg: int | None  # None = CRS84 (lon/lat, the storage order)
    swap: bool  # authority axis order is northing/latitude first

    @property
    def pyproj(self) -> str:
        return "EPSG:4326" if self.epsg is None else f"EPSG:{self.epsg}"


def supported_crs(metric_crs: str) -> list[str]:
    """CRS84 (default), WGS 84 in EPSG axis order, the province's VN-2000 TM-3 zone, VN-2000
    geographic and UTM 48N/49N, and Web Mercator."""
    zone = CRS.from_user_input(metric_crs).to_epsg()  # None for a TM-3 zone without an EPSG code: not offered
    codes = [4326, *([zone] if zone else []), 4756, 3405, 3406, 3857]
    seen: list[str] = [CRS84]
    for c in codes:
        uri = EPSG_URI.format(c)
        if uri not in seen:
            seen.append(uri)
    return seen


_CRS_RE = re.compile(r"^(?:https?://www\.opengis\.net/def/crs/(?:EPSG/0/(\d+)|OGC/1\.3/CRS84)|"
                     r"\[?EPSG:(\d+)\]?|(CRS84|OGC:CRS84))$", re.IGNORECASE)


@lru_cache(maxsize=64)
def _axis_swapped(epsg: int) -> bool:
    return CRS.from_epsg(epsg).axis_info[0].direction.lower() in ("north", "south")


def parse_crs_param(value: str, param: str, metric_crs: str) -> OutputCrs:
    """The OGC ``crs``/``bbox-crs`` query parameter: a CRS URI (or ``EPSG:n`` shorthand) from the
    supported list, else :class:`InvalidParameter`."""
    mt = _CRS_RE.match(value.strip())
    if not mt:
        raise InvalidParameter(param, _("unknown CRS {value!r}; use one of {values}",
                                        value=value, values=', '.join(supported_crs(metric_crs))))
    code = mt.group(1) or mt.group(2)
    if code is None:
        return OutputCrs(CRS84, None, False)
    uri = EPSG_URI.format(int(code))
    if uri not in supported_crs(metric_crs):
        raise InvalidParameter(param, _("CRS {value!r} is not offered; use one of {values}",
                                        value=value, values=', '.join(supported_crs(metric_crs))))
    return OutputCrs(uri, int(code), _axis_swapped(int(code)))


def reproject(geoms: np.ndarray, crs: OutputCrs) -> np.ndarray:
    """WGS84 lon/lat geometries → ``crs`` in its authority axis order (pyproj, full EPSG definitions)."""
    if crs.epsg is None:
        return geoms
    if crs.epsg == 4326:
        out = geoms
    else:
        t = transformer("EPSG:4326", crs.pyproj)
        out = shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    if crs.swap:
        out = shapely.transform(out, lambda xy: xy[:, ::-1])
    return out


# --------------------------------------------------------------------------------------------
# parameter parsing
# --------------------------------------------------------------------------------------------

@dataclass
class Area:
    """The ``bbox`` of a request, always in lon/lat: its envelope (for the index) and exact shape."""

    envelope: tuple[float, float, float, float]
    shape: Any  # shapely Polygon in lon/lat


def parse_bbox(value: str, bbox_crs: OutputCrs) -> Area:
    try:
        nums = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidParameter("bbox", _("{value!r} is not four (or six) comma-separated numbers", value=value)) from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(np.isfinite(nums)):
        raise InvalidParameter("bbox", _("{value!r} is not four (or six) comma-separated numbers", value=value))
    a, b, c, d = nums
    if bbox_crs.swap:  # authority order lat,lon / northing,easting
        a, b, c, d = b, a, d, c
    if a > c or b > d:
        raise InvalidParameter("bbox", _("lower corner must come first (min ≤ max on both axes)"))
    if bbox_crs.epsg in (None, 4326, 4756):
        if not (-180 <= a <= 180 and -180 <= c <= 180 and -90 <= b <= 90 and -90 <= d <= 90):
            raise InvalidParameter("bbox", _("longitude must lie in [-180, 180] and latitude in [-90, 90]"))
    box = shapely.box(a, b, c, d)
    if bbox_crs.epsg not in (None, 4326):
        # a rectangle in a projected CRS is not a rectangle in lon/lat: densify, then reproject
        box = shapely.segmentize(box, max(c - a, d - b) / 32 or 1.0)
        t = transformer(bbox_crs.pyproj, "EPSG:4326")
        box = shapely.transform(box, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        if not shapely.is_valid(box) or not np.isfinite(shapely.bounds(box)).all():
            raise InvalidParameter("bbox", _("the box cannot be transformed to WGS 84 (outside the CRS's area of use?)"))
    x0, y0, x1, y1 = shapely.bounds(box).tolist()
    return Area((x0, y0, x1, y1), box)


_DT_OPEN = ("", "..")


def _parse_instant(text: str, end: bool) -> dt.datetime:
    s = text.strip()
    try:
        if len(s) == 10:
            d = dt.date.fromisoformat(s)
            return dt.datetime.combine(d, dt.time.max if end else dt.time.min)
        v = dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidParameter("datetime", _("{text!r} is not an RFC 3339 date-time or date", text=text)) from None
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def parse_datetime(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``instant`` | ``start/end`` with ``..`` (or empty) for an open end, as naive UTC bounds."""
    if "/" in value:
        a, _sep, b = value.partition("/")
        if a.strip() in _DT_OPEN and b.strip() in _DT_OPEN:
            raise InvalidParameter("datetime", _("an interval needs at least one bound"))
        start = None if a.strip() in _DT_OPEN else _parse_instant(a, False)
        end = None if b.strip() in _DT_OPEN else _parse_instant(b, True)
        if start and end and start > end:
            raise InvalidParameter("datetime", _("the interval starts after it ends"))
        return start, end
    return _parse_instant(value, False), _parse_instant(value, True)


def parse_filter(prop: Prop, raw: str) -> Any:
    """The typed value of ``?<prop>=raw``, else :class:`InvalidParameter` naming the property."""
    raw = raw.strip()
    if prop.type == "integer":
        try:
            return int(raw)
        except ValueError:
            raise InvalidParameter(prop.name, _("{raw!r} is not an integer", raw=raw)) from None
    if prop.type == "number":
        try:
            return float(raw)
        except ValueError:
            raise InvalidParameter(prop.name, _("{raw!r} is not a number", raw=raw)) from None
    if prop.type == "boolean":
        low = raw.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise InvalidParameter(prop.name, _("{raw!r} is not true or false", raw=raw))
    if len(raw) > 200:
        raise InvalidParameter(prop.name, _("value too long"))
    if prop.enum and raw not in prop.enum:
        raise InvalidParameter(prop.name, _("{raw!r} is not one of {enum}",
                                            raw=raw, enum=', '.join(prop.enum)))
    return raw


@dataclass
class ItemsQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    area: Area | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    interval: tuple[dt.datetime | None, dt.datetime | None] | None = None
    #: keyset paging for streamed exports: only ids above this one (cheaper than a deep OFFSET)
    after_id: int | None = None
    #: an OGC API Features Part 3 ``filter`` (CQL2), ANDed with the other conditions
    cql: Cql2Filter | None = None


# --------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=32)
def _rtree(table_name: str) -> Table:
    """The SpatiaLite R*Tree of ``table_name.geom`` (pkid = rowid = our integer primary key)."""
    md = MetaData()
    return Table(f"idx_{table_name}_geom", md, Column("pkid"), Column("xmin"), Column("xmax"),
                 Column("ymin"), Column("ymax"))


def bbox_condition(table: Table, backend: str, area: Area) -> ColumnElement[bool]:
    """Index-using intersection test against the request area, on either backend."""
    x0, y0, x1, y1 = area.envelope
    geom = table.c.geom
    exact = func.ST_Intersects(geom, func.ST_GeomFromText(literal(shapely.to_wkt(area.shape)), 4326))
    if backend == "postgis":
        return exact  # type: ignore[no-any-return]
    idx = _rtree(table.name)
    hit = table.c.id.in_(select(idx.c.pkid).where(idx.c.xmin <= x1, idx.c.xmax >= x0,
                                                   idx.c.ymin <= y1, idx.c.ymax >= y0))
    return and_(hit, exact)  # type: ignore[no-any-return]


def _conditions(coll: CollectionDef, backend: str, q: ItemsQuery, conn: Any) -> list[ColumnElement[bool]]:
    t = coll.table
    where: list[ColumnElement[bool]] = []
    if q.area is not None:
        where.append(bbox_condition(t, backend, q.area))
    for name, value in q.filters.items():
        prop = coll.queryables[name]
        col = t.c[prop.column]
        if prop.unit_level and isinstance(value, str):
            codes = resolve_units(conn, prop.unit_level, value)
            where.append(t.c[prop.unit_column or prop.column].in_(codes) if codes else col == value)
        else:
            where.append(col == value)
    if q.cql is not None:
        where.append(q.cql.condition(coll, backend))
    if q.after_id is not None:
        where.append(t.c.id > q.after_id)
    if q.interval is not None and coll.temporal is not None:
        start, end = q.interval
        s_col = t.c[coll.temporal.start]
        e_col = t.c[coll.temporal.end] if coll.temporal.end else s_col
        is_date = isinstance(s_col.type, Date)
        conv = (lambda v: v.date()) if is_date else (lambda v: v)
        if end is not None:
            where.append(s_col <= conv(end))
        if start is not None:
            where.append(or_(e_col.is_(None), e_col >= conv(start)) if coll.temporal.end
                         else e_col >= conv(start))
        if coll.temporal.end is None:
            where.append(s_col.is_not(None))
    return where


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


@dataclass
class Page:
    ids: list[int]
    geometries: list[str | None]  # GeoJSON geometry texts
    properties: list[dict[str, Any]]
    matched: int | None
    shapes: Any = None  # the same geometries as shapely objects (for file writers)


#: collections whose ``message`` is rendered from ``details["msg"]`` in the reader's language
#: (:func:`planning.findings.message_text`): the stored text is in the language of the run
_LOCALISED = ("findings",)


def _select_cols(coll: CollectionDef) -> list[Any]:
    t = coll.table
    extra = [t.c.details.label("_details")] if coll.id in _LOCALISED else []
    return [t.c.id, func.ST_AsBinary(t.c.geom).label("_wkb"), *[t.c[p.column].label(p.name) for p in coll.props],
            *extra]


def _rows_to_page(coll: CollectionDef, rows: Sequence[Any], crs: OutputCrs, matched: int | None) -> Page:
    wkb = [bytes(r[1]) if r[1] is not None else None for r in rows]
    geoms = shapely.from_wkb(np.array(wkb, dtype=object))
    geoms = reproject(geoms, crs)
    if crs.epsg not in (None, 4326, 4756):
        geoms = shapely.set_precision(geoms, 0.001)  # millimetres in projected CRSs
    texts = shapely.to_geojson(geoms)
    names = [p.name for p in coll.props]
    props = [{n: _jsonable(v) for n, v in zip(names, r[2:2 + len(names)], strict=True)} for r in rows]
    if coll.id in _LOCALISED:
        for p, r in zip(props, rows, strict=True):
            p["message"] = message_text({"message": p.get("message"), "details": r[-1]})
    return Page([int(r[0]) for r in rows], [None if g is None else str(g) for g in texts], props, matched, geoms)


def _page_from_area(conn: Any, coll: CollectionDef, where: list[ColumnElement[bool]],
                    q: ItemsQuery) -> tuple[list[Any], int] | None:
    """The page and ``numberMatched`` of an area query in one statement, or None when the area holds
    more than :data:`AREA_SORT_MAX` features or the page is empty (the caller's general path answers).

    Why: PostgreSQL pages ``ORDER BY id LIMIT 50`` by walking the primary key and testing each row
    against the area, because it cannot know that an area's rows are not spread evenly over the ids;
    in a dense 1 km box of the 1M-site demo it visits ~5,600 rows (each on its own page once the table
    is stored in spatial order) for 50 hits, and then counts the same area again through the spatial
    index. Collecting the area's ids once through the spatial index (a materialised CTE, capped),
    counting them and sorting them for the page costs one index scan: measured 2026-12-05 on the
    1M-site demo, 10,052 matches, ~5 ms against ~15 ms for the page and the count apart."""
    t = coll.table
    m = select(t.c.id).where(*where).limit(AREA_SORT_MAX + 1).cte("area_ids").prefix_with("MATERIALIZED")
    n = select(func.count().label("n")).select_from(m).subquery("area_count")  # counted once, joined to the page
    page = select(m.c.id).order_by(m.c.id).limit(q.limit).offset(q.offset)
    stmt = (select(*_select_cols(coll), n.c.n).select_from(t.join(n, true()))
            .where(n.c.n <= AREA_SORT_MAX, t.c.id.in_(page)).order_by(t.c.id))
    rows = conn.execute(stmt).all()
    if not rows:
        return None
    return [tuple(r)[:-1] for r in rows], int(rows[0][-1])


def query_items(engine: Engine, coll: CollectionDef, q: ItemsQuery, crs: OutputCrs) -> Page:
    """One page of a collection, ordered by id, with ``numberMatched`` when it is cheap to know."""
    backend = engine_backend(engine)
    t = coll.table
    with engine.connect() as conn:
        where = _conditions(coll, backend, q, conn)
        if backend == "postgis" and q.area is not None:
            found = _page_from_area(conn, coll, where, q)
            if found is not None:
                return _rows_to_page(coll, found[0], crs, found[1])
        stmt = select(*_select_cols(coll)).where(*where).order_by(t.c.id).limit(q.limit).offset(q.offset)
        rows = conn.execute(stmt).all()
        if q.offset == 0 and len(rows) < q.limit:
            matched: int | None = len(rows)
        else:
            capped = select(literal(1)).select_from(t).where(*where).limit(COUNT_CAP + 1).subquery()
            n = int(conn.execute(select(func.count()).select_from(capped)).scalar() or 0)
            matched = n if n <= COUNT_CAP else None
    return _rows_to_page(coll, rows, crs, matched)


def iter_pages(engine: Engine, coll: CollectionDef, q: ItemsQuery, crs: OutputCrs,
               page_size: int = 5000) -> Iterator[Page]:
    """Every matching feature, in id order, a page at a time (keyset paging: memory stays flat and
    the millionth row costs what the first did). ``q.limit``/``q.offset`` are ignored."""
    after = None
    while True:
        page_q = ItemsQuery(limit=page_size, offset=0, area=q.area, filters=q.filters, interval=q.interval,
                            after_id=after, cql=q.cql)
        backend = engine_backend(engine)
        with engine.connect() as conn:
            where = _conditions(coll, backend, page_q, conn)
            stmt = select(*_select_cols(coll)).where(*where).order_by(coll.table.c.id).limit(page_size)
            rows = conn.execute(stmt).all()
        if not rows:
            return
        yield _rows_to_page(coll, rows, crs, None)
        if len(rows) < page_size:
            return
        after = int(rows[-1][0])


def feature_json(fid: int, geometry: str | None, props: dict[str, Any]) -> str:
    """One GeoJSON Feature as text, around an already-serialised geometry (no re-parsing)."""
    return (f'{{"type":"Feature","id":{fid},"geometry":{geometry or "null"},"properties":'
            f'{json.dumps(props, ensure_ascii=False, separators=(",", ":"))}}}')


def get_item(engine: Engine, coll: CollectionDef, fid: str, crs: OutputCrs) -> Page | None:
    t = coll.table
    if fid.isdigit() and len(fid) < 12:
        cond = t.c.id == int(fid)
    elif coll.code_column:
        cond = t.c[coll.code_column] == fid
    else:
        return None
    with engine.connect() as conn:
        rows = conn.execute(select(*_select_cols(coll)).where(cond).limit(1)).all()
    return _rows_to_page(coll, rows, crs, None) if rows else None


# --------------------------------------------------------------------------------------------
# extents (cached per data version)
# --------------------------------------------------------------------------------------------

_extent_cache: dict[tuple[str, str, int], dict[str, Any]] = {}


def extent(engine: Engine, coll: CollectionDef) -> dict[str, Any]:
    """``{"bbox": [x0, y0, x1, y1] | None, "interval": [start, end] | None}`` for the collection."""
    with engine.connect() as conn:
        version = data_version(conn)
        key = (str(engine.url), coll.id, version)
        hit = _extent_cache.get(key)
        if hit is not None:
            return hit
        t = coll.table
        g = t.c.geom
        if engine_backend(engine) == "postgis":
            cols = [func.ST_XMin(func.ST_Extent(g)), func.ST_YMin(func.ST_Extent(g)),
                    func.ST_XMax(func.ST_Extent(g)), func.ST_YMax(func.ST_Extent(g))]
        else:
            cols = [func.min(func.MbrMinX(g)), func.min(func.MbrMinY(g)),
                    func.max(func.MbrMaxX(g)), func.max(func.MbrMaxY(g))]
        if coll.temporal:
            s = t.c[coll.temporal.start]
            cols += [func.min(s), func.max(t.c[coll.temporal.end] if coll.temporal.end else s)]
        row = conn.execute(select(*cols)).one()
    bbox = [round(float(v), 7) for v in row[:4]] if row[0] is not None else None
    interval = None
    if coll.temporal and (row[4] is not None or row[5] is not None):
        interval = [_iso_instant(row[4]), _iso_instant(row[5])]
    out = {"bbox": bbox, "interval": interval}
    if len(_extent_cache) > 256:
        _extent_cache.clear()
    _extent_cache[key] = out
    return out


def _iso_instant(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v) if "T" in v or " " in v else dt.date.fromisoformat(v)
    if isinstance(v, dt.datetime):
        return v.replace(microsecond=0).isoformat() + "Z"
    return f"{v.isoformat()}T00:00:00Z"


# --------------------------------------------------------------------------------------------
# JSON Schema of a collection's properties (queryables and "describedby")
# --------------------------------------------------------------------------------------------

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
    "array": {"type": "array", "items": {"type": "string"}},
}

_GEOJSON_SCHEMA = {
    "Point": "https://geojson.org/schema/Point.json",
    "LineString": "https://geojson.org/schema/LineString.json",
    "MultiPolygon": "https://geojson.org/schema/MultiPolygon.json",
    "Geometry": "https://geojson.org/schema/Geometry.json",
}


def prop_schema(p: Prop) -> dict[str, Any]:
    s: dict[str, Any] = {"title": p.title, **_JSON_TYPES[p.type]}
    if p.enum:
        s["enum"] = list(p.enum)
    if p.unit:
        s["x-ogc-unit"] = p.unit
    return s


def json_schema(coll: CollectionDef, url: str, queryables_only: bool) -> dict[str, Any]:
    # the queryables are what a CQL2 filter may name (numbers and dates too), as clients read them
    props = list(coll.filterables.values()) if queryables_only else list(coll.props)
    body: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": coll.title,
        "properties": {"geometry": {"$ref": _GEOJSON_SCHEMA[coll.geometry_type], "x-ogc-role": "primary-geometry"}},
    }
    if not queryables_only:
        body["properties"]["id"] = {"title": "Feature id", "type": "integer", "x-ogc-role": "id"}
    for p in props:
        body["properties"][p.name] = prop_schema(p)
    if queryables_only:
        body["additionalProperties"] = False
    return body
