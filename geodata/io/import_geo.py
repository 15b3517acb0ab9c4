"""Coordinates and geometries of imported rows: which columns hold the position, which CRS and which
axis convention apply, plausibility (degrees vs metres, inside the province, lat/lon swapped),
repair of invalid polygons, and the spatial join that names each row's commune and district.

Everything is vectorised over a batch (numpy + shapely 2 + one cached pyproj transformer); row
problems come back as (mask, message) pairs for the importer's error log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.engine import Connection

from geodata.store import models as m
from geodata.crs import METRE_THRESHOLD, ResolvedCRS, transformer
from geodata.store.area import ProvinceArea
from planning.units import rows_in_force
from planning.i18n import _

#: Vietnamese TM-3/UTM northings are 950 km (Cà Mau) to 2,600 km (Hà Giang); eastings stay below this.
NORTHING_MIN = 900_000.0
#: a repaired polygon may differ this much in area from what the file drew, else it is refused
REPAIR_AREA_TOLERANCE = 0.01

#: (mask, field, message, values shown): the values are an array, or a function of row indices that
#: formats only the rows actually reported (formatting a million coordinates costs seconds)
Problems = list[tuple[np.ndarray, str, str, Any]]


@dataclass
class Positions:
    """Lon/lat (WGS84) and metric x/y of a batch of points, with per-row problems."""

    lon: np.ndarray
    lat: np.ndarray
    problems: Problems = field(default_factory=list)


def _fmt(*arrays: np.ndarray) -> Callable[[np.ndarray], list[str]]:
    """Lazy ', '-joined text of the given coordinate arrays, for the reported rows only."""
    def shown(idx: np.ndarray) -> list[str]:
        return [", ".join("" if np.isnan(a[i]) else f"{a[i]:.10g}" for a in arrays) for i in idx]
    return shown


def to_wgs84(x: np.ndarray, y: np.ndarray, crs: ResolvedCRS) -> tuple[np.ndarray, np.ndarray]:
    if crs.srs == "EPSG:4326":
        return x.astype(float), y.astype(float)
    lon, lat = transformer(crs.srs, "EPSG:4326").transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def check_lonlat(lon: np.ndarray, lat: np.ndarray, has: np.ndarray, crs: ResolvedCRS,
                 prov: ProvinceArea, *, names: tuple[str, str] = ("lon", "lat")) -> Positions:
    """Degrees in ``crs`` → WGS84, with the checks a GPS table needs (metres given as degrees,
    latitude over 90, outside the province, swapped columns)."""
    probs: Problems = []
    shown = _fmt(lon, lat)
    shown_lat = _fmt(lat)
    metric_like = has & ((np.abs(lon) > METRE_THRESHOLD) | (np.abs(lat) > METRE_THRESHOLD))
    if metric_like.any():
        probs.append((metric_like, names[1] if np.abs(lat[metric_like]).max() > METRE_THRESHOLD else names[0],
                      _("looks like metres (VN-2000 X/Y?) but {value}/{value2} are read as degrees in "
                        "{label}: put them in X/Y columns or pass --crs (e.g. 'VN-2000 {name}')",
                        value=names[0], value2=names[1], label=crs.label, name=prov.name), shown))
    ok = has & ~metric_like
    wlon, wlat = np.full(len(lon), np.nan), np.full(len(lat), np.nan)
    if ok.any():
        wlon[ok], wlat[ok] = to_wgs84(lon[ok], lat[ok], crs)
    swapped = ok & _swapped(wlon, wlat, prov)
    bad_lat = ok & ~swapped & (np.abs(wlat) > 90)
    if swapped.any():
        probs.append((swapped, names[1], _("outside {name}: did you mean lat/lon swapped? ({value} holds a "
                                           "longitude)", name=prov.name, value=names[1]), shown_lat))
    if bad_lat.any():
        probs.append((bad_lat, names[1], _("latitude must be between -90 and 90"), shown_lat))
    outside = ok & ~swapped & ~bad_lat & ~prov.contains(wlon, wlat)
    if outside.any():
        probs.append((outside, names[0], _("outside {name} ({described})",
                                           name=prov.name, described=prov.described), shown))
    return Positions(wlon, wlat, probs)


@dataclass
class Convention:
    """Which of the survey columns is the northing: the surveyors' X = northing, or GIS x = easting."""

    north_first: bool
    note: str


def survey_convention(x: np.ndarray, y: np.ndarray, has: np.ndarray) -> Convention:
    """Decide the axis convention of 'X'/'Y' columns from their magnitudes (northings in Vietnam
    exceed 900 km, TM-3/UTM eastings do not); ties keep the surveyors' convention."""
    with np.errstate(invalid="ignore"):
        nf = int((has & (x > NORTHING_MIN) & (y < NORTHING_MIN)).sum())
        ef = int((has & (y > NORTHING_MIN) & (x < NORTHING_MIN)).sum())
    if ef > nf:
        return Convention(False, "X/Y columns: GIS convention detected (X = easting, Y = northing) and applied")
    return Convention(True, "X/Y columns: surveyors' convention applied (X = northing, Y = easting)")


def check_metric(east: np.ndarray, north: np.ndarray, has: np.ndarray, crs: ResolvedCRS, prov: ProvinceArea,
                 *, names: tuple[str, str], swap_hint: str, shown: Any = None) -> Positions:
    """Metres in ``crs`` → WGS84, with the checks: degrees given as metres, outside the province, and
    rows whose two values are exchanged relative to the rest (``swap_hint`` names the mistake)."""
    probs: Problems = []
    shown = _fmt(east, north) if shown is None else shown
    if crs.geographic:
        probs.append((has, names[0], _("{value}/{value2} are metres but the CRS {label} is in degrees: pass "
                                       "--crs (e.g. 'VN-2000 {name}')",
                                       value=names[0], value2=names[1], label=crs.label,
                                       name=prov.name), shown))
        nan = np.full(len(east), np.nan)
        return Positions(nan, nan.copy(), probs)
    deg_like = has & (np.abs(east) <= METRE_THRESHOLD) & (np.abs(north) <= METRE_THRESHOLD)
    if deg_like.any():
        probs.append((deg_like, names[0], _("looks like degrees (lon/lat?) but {value}/{value2} are read as "
                                            "metres in {label}: put them in lon/lat columns or pass --crs "
                                            "WGS84",
                                            value=names[0], value2=names[1], label=crs.label), shown))
    ok = has & ~deg_like
    lon, lat = np.full(len(east), np.nan), np.full(len(east), np.nan)
    if ok.any():
        lon[ok], lat[ok] = to_wgs84(east[ok], north[ok], crs)
    inside = prov.contains(lon, lat)
    out = ok & ~inside
    if out.any():
        slon, slat = np.full(len(east), np.nan), np.full(len(east), np.nan)
        slon[out], slat[out] = to_wgs84(north[out], east[out], crs)
        swapped = out & prov.contains(slon, slat)
        if swapped.any():
            probs.append((swapped, names[0], _("outside {name}: did you mean {swap_hint}?",
                                               name=prov.name, swap_hint=swap_hint), shown))
        rest = out & ~swapped
        if rest.any():
            probs.append((rest, names[0], _("outside {name} in {label}: wrong CRS or wrong values?",
                                            name=prov.name, label=crs.label), shown))
    return Positions(lon, lat, probs)


def metric_xy(lon: np.ndarray, lat: np.ndarray, metric_crs: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = transformer("EPSG:4326", metric_crs).transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


# --------------------------------------------------------------------------------------------
# geometries (zones, routes, cables, admin units, point files)
# --------------------------------------------------------------------------------------------

ALLOWED = {
    "admin": ("Polygon", "MultiPolygon"),
    "zones": ("Polygon", "MultiPolygon", "Point"),
    "routes": ("LineString", "MultiLineString"),
    "cables": ("LineString", "MultiLineString"),
    "sites": ("Point",),
}


def geometries_to_wgs84(geoms: np.ndarray, crs: ResolvedCRS) -> np.ndarray:
    if crs.srs == "EPSG:4326":
        return geoms
    t = transformer(crs.srs, "EPSG:4326")
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def check_geometries(kind: str, geoms: np.ndarray, crs: ResolvedCRS, prov: ProvinceArea,
                     ) -> tuple[np.ndarray, Problems, Problems]:
    """Validate and convert geometries to WGS84: (geometries, errors, warnings).

    Types must suit the kind; Z is dropped; coordinates must match the CRS's unit (a wrong .prj shows
    up as metres under a degree CRS or vice versa) and lie in the province; invalid polygons are
    repaired with ``make_valid`` when the repair keeps the drawn area (within 1 %), else refused.
    """
    errs: Problems = []
    warns: Problems = []
    geoms, tname, ok = _typed_2d(kind, geoms, errs)
    b = shapely.bounds(geoms)
    ok = _unit_matches_crs(b, ok, crs, prov, errs)
    out = np.full(len(geoms), None, dtype=object)
    if ok.any():
        out[ok] = geometries_to_wgs84(geoms[ok], crs)
    ok = _repair_polygons(out, ok & np.isin(tname, ("Polygon", "MultiPolygon")), ok, errs, warns)
    _drop_outside(out, ok, b, prov, errs)
    return out, errs, warns


def _typed_2d(kind: str, geoms: np.ndarray, errs: Problems) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2D geometries, type names, usable mask): missing ones and types the kind does not take refused."""
    types = shapely.get_type_id(geoms)
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                      "MultiPolygon", "GeometryCollection"], dtype=object)
    tname = np.where(types >= 0, names[np.clip(types, 0, 7)], "")
    missing = (types < 0) | shapely.is_empty(geoms)
    if missing.any():
        errs.append((missing, "geometry", "missing or empty geometry", None))
    # a MultiPoint of one point is a point (KML/GPKG writers often make them)
    if kind in ("sites", "zones"):
        one = (tname == "MultiPoint") & (shapely.get_num_geometries(geoms) == 1)
        if one.any():
            geoms = geoms.copy()
            geoms[one] = shapely.get_geometry(geoms[one], 0)
            tname = tname.copy()
            tname[one] = "Point"
    allowed = ALLOWED[kind]
    wrong = ~missing & ~np.isin(tname, allowed)
    if wrong.any():
        errs.append((wrong, "geometry", f"geometry type not allowed for {kind} (allowed: {', '.join(allowed)})",
                     tname.astype(object)))
    ok = ~missing & ~wrong
    return np.where(ok, shapely.force_2d(np.where(ok, geoms, None)), None), tname, ok


def _unit_matches_crs(b: np.ndarray, ok: np.ndarray, crs: ResolvedCRS, prov: ProvinceArea,
                      errs: Problems) -> np.ndarray:
    """CRS unit sanity on the bounds ``b`` (a .prj that says degrees on VN-2000 metres, or the reverse)."""
    n = len(ok)
    with np.errstate(invalid="ignore"):
        big = ok & (np.nanmax(np.abs(b), axis=1) > METRE_THRESHOLD) if n else np.zeros(0, bool)
        small = ok & (np.nanmax(np.abs(b), axis=1) <= METRE_THRESHOLD) if n else np.zeros(0, bool)
    if crs.geographic and big.any():
        errs.append((big, "geometry", f"coordinates look like metres but the CRS is {crs.label} (degrees): "
                     f"is the .prj wrong? pass --crs (e.g. 'VN-2000 {prov.name}')", _bounds_text(b)))
        ok = ok & ~big
    if not crs.geographic and small.any():
        errs.append((small, "geometry", f"coordinates look like degrees but the CRS is {crs.label} (metres): "
                     "is the .prj wrong? pass --crs WGS84", _bounds_text(b)))
        ok = ok & ~small
    return ok


def _repair_polygons(out: np.ndarray, poly: np.ndarray, ok: np.ndarray, errs: Problems,
                     warns: Problems) -> np.ndarray:
    """Repair invalid polygons (``poly``) of ``out`` in place where the repair keeps the drawn area,
    refuse the others; answers the usable mask without the refused ones."""
    if not poly.any():
        return ok
    invalid = poly & ~shapely.is_valid(np.where(poly, out, None))
    if not invalid.any():
        return ok
    n = len(out)
    idx = np.flatnonzero(invalid)
    reasons = np.array(shapely.is_valid_reason(out[idx]), dtype=object)
    polys = np.array([_polygonal(g) for g in shapely.make_valid(out[idx])], dtype=object)
    a0 = shapely.area(out[idx])
    a1 = np.array([g.area if g is not None else 0.0 for g in polys])
    safe = np.array([g is not None and not g.is_empty for g in polys]) & \
        (np.abs(a1 - a0) <= REPAIR_AREA_TOLERANCE * np.maximum(a1, 1e-30))
    repaired = np.zeros(n, bool)
    refused = np.zeros(n, bool)
    repaired[idx[safe]] = True
    refused[idx[~safe]] = True
    out[idx[safe]] = polys[safe]
    shown = np.full(n, None, dtype=object)
    shown[idx] = reasons
    if repaired.any():
        warns.append((repaired, "geometry", "invalid polygon repaired (make_valid; area unchanged)", shown))
    if refused.any():
        errs.append((refused, "geometry", "invalid polygon that cannot be repaired safely (repair would change "
                     "its area by more than 1%, e.g. a self-intersecting 'bow-tie'): fix it in GIS", shown))
        out[refused] = None
        ok = ok & ~refused
    return ok


def _drop_outside(out: np.ndarray, ok: np.ndarray, b: np.ndarray, prov: ProvinceArea, errs: Problems) -> None:
    """Refuse geometries outside the province (by bounding-box centre: a road may leave the outline a
    little), naming swapped lat/lon where that is what happened."""
    if not ok.any():
        return
    c = shapely.centroid(np.where(ok, out, None))
    cx, cy = shapely.get_x(c), shapely.get_y(c)
    outside = ok & ~prov.contains(cx, cy)
    if not outside.any():
        return
    sw = outside & _swapped(cx, cy, prov)
    if sw.any():
        errs.append((sw, "geometry", f"outside {prov.name}: did you mean lat/lon swapped?", _bounds_text(b)))
    if (outside & ~sw).any():
        errs.append((outside & ~sw, "geometry", f"outside {prov.name}: wrong CRS or wrong coordinates?",
                     _bounds_text(b)))
    out[outside] = None


def _swapped(lon: np.ndarray, lat: np.ndarray, prov: ProvinceArea) -> np.ndarray:
    """Points outside the province that would be inside with lat and lon exchanged (the GPS-table
    mistake: a column headed 'lat' holding longitudes)."""
    return ~prov.contains(lon, lat) & prov.contains(lat, lon)


def _bounds_text(b: np.ndarray) -> np.ndarray:
    return np.array(["" if np.isnan(r).any() else f"{r[0]:.6g} {r[1]:.6g} … {r[2]:.6g} {r[3]:.6g}" for r in b],
                    dtype=object)


def _polygonal(g: Any) -> Any:
    """The polygonal part of a make_valid result (lines/points left by the repair are dropped)."""
    if g is None:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts)


# --------------------------------------------------------------------------------------------
# administrative units: which commune and district a point or line lies in
# --------------------------------------------------------------------------------------------

@dataclass
class UnitLayer:
    codes: np.ndarray  #: object array of unit codes
    parents: np.ndarray
    geoms: np.ndarray  #: WGS84 (multi)polygons, prepared
    bounds: np.ndarray  #: (n, 4) bounding boxes

    @classmethod
    def build(cls, codes: Sequence[str], parents: Sequence[str | None], geoms: Sequence[Any]) -> UnitLayer:
        g = np.asarray(geoms, dtype=object)
        shapely.prepare(g)
        return cls(np.asarray(codes, dtype=object), np.asarray(parents, dtype=object), g, shapely.bounds(g))

    def locate(self, lon: np.ndarray, lat: np.ndarray, only: np.ndarray | None = None) -> np.ndarray:
        """Index of the unit holding each point (-1 if none; ``only`` limits the points tested).

        Points are sorted by longitude once; each unit takes the slab of its bounding box by binary
        search, keeps the points inside the box, and tests them against its prepared polygon in one
        vectorised call — no Point objects are built for a million rows."""
        out = np.full(len(lon), -1, dtype=np.int64)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if only is not None:
            ok &= only
        if not ok.any() or len(self.geoms) == 0:
            return out
        idx = np.flatnonzero(ok)
        order = idx[np.argsort(lon[idx], kind="stable")]
        xs = lon[order]
        for g, (x0, y0, x1, y1) in enumerate(self.bounds):
            lo, hi = np.searchsorted(xs, x0, "left"), np.searchsorted(xs, x1, "right")
            if lo >= hi:
                continue
            cand = order[lo:hi]
            yc = lat[cand]
            cand = cand[(yc >= y0) & (yc <= y1) & (out[cand] < 0)]  # first unit wins on a shared edge
            if len(cand):
                hit = shapely.contains_xy(self.geoms[g], lon[cand], lat[cand])
                out[cand[hit]] = g
        return out


@dataclass
class AdminIndex:
    """Communes and districts valid on ``as_of`` (or the latest vintage when none is, as with the
    pre-2025 district polygons), for assigning imported features to units."""

    communes: UnitLayer | None
    districts: UnitLayer | None
    vintage: str

    @property
    def empty(self) -> bool:
        return self.communes is None and self.districts is None

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(commune_code, district_code, inside any unit) per point."""
        n = len(lon)
        commune = np.full(n, None, dtype=object)
        district = np.full(n, None, dtype=object)
        inside = np.zeros(n, dtype=bool)
        if self.communes is not None:
            ci = self.communes.locate(lon, lat)
            hit = ci >= 0
            commune[hit] = self.communes.codes[ci[hit]]
            district[hit] = self.communes.parents[ci[hit]]
            inside |= hit
        if self.districts is not None:
            # a commune names its district when its parent is one; since 2025-07-01 a commune's parent is
            # the province, so the district (of the last vintage) comes from the location like the rest
            known = set(self.districts.codes.tolist())
            need = np.array([d is None or d not in known for d in district], dtype=bool)
            district[need] = None
            di = self.districts.locate(lon, lat, only=need)
            hit = di >= 0
            district[hit] = self.districts.codes[di[hit]]
            inside |= hit
        return commune, district, inside

    def districts_metric(self, metric_crs: str) -> Any:
        """District polygons in the metric CRS as a GeoDataFrame (for line → district by length)."""
        import geopandas as gpd

        if self.districts is None:
            return None
        return gpd.GeoDataFrame({"code": self.districts.codes}, geometry=list(self.districts.geoms),
                                crs="EPSG:4326").to_crs(metric_crs)


def load_admin_index(conn: Connection, as_of: dt.date | None = None) -> AdminIndex:
    as_of = as_of or dt.date.today()
    t = m.AdminUnit.__table__
    rows = conn.execute(select(t.c.code, t.c.parent_code, t.c.level, t.c.valid_from, t.c.valid_to,
                               t.c.geom.ST_AsBinary().label("wkb"))
                        .where(t.c.level.in_(("commune", "district")))).all()
    layers: dict[str, UnitLayer | None] = {"commune": None, "district": None}
    vintages: list[str] = []
    for level in ("commune", "district"):
        rs = [r for r in rows if r.level == level]
        if not rs:
            continue
        valid, day = rows_in_force(rs, as_of)  # e.g. districts abolished on 2025-07-01: their last vintage
        word = "on" if day == as_of else "until" if day < as_of else "from"
        vintages.append(f"{level}s valid {word} {day.isoformat()}")
        layers[level] = UnitLayer.build([r.code for r in valid], [r.parent_code for r in valid],
                                        shapely.from_wkb([bytes(r.wkb) for r in valid]))
    return AdminIndex(layers["commune"], layers["district"], "; ".join(vintages) or "no admin units loaded")
