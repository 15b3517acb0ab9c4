"""Where the configured province is, for every "outside the province" decision (imports, site
checks, appraisals, complaints, tile extents).

Once boundaries are imported the area is the union of the admin units in force on the day asked
(:func:`geodata.store.units.province_outline`), widened by :data:`OUTLINE_TOLERANCE_DEG` and joined
with the registry's offshore districts; before that it is the registry's bounding box (of every
former part, for a merged province). One rule, so an import never accepts a point an appraisal then
calls outside.

Tolerance: published boundary files are simplified (the Hải Phòng file's coast is drawn to
≈ 100 m) and masts stand on piers, dykes and islets the polygons leave out, so the outline is widened
by 0.01° (≈ 1.1 km north–south, ≈ 1.0 km east–west at 20° N). Island districts that boundary files
often omit entirely (Hoàng Sa of Đà Nẵng, Trường Sa of Khánh Hòa, Bạch Long Vĩ of Hải Phòng) are
added from the registry (``islands``) as their bounding boxes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from geodata.store import models as m
from geodata.store.meta import units_version
from geodata.store.units import province_outline, vintage_of
from planning import provinces
from planning.i18n import _

OUTLINE_TOLERANCE_DEG = 0.01
#: Vertices of the imported outline closer than this are merged before widening (≈ 50 m), which keeps
#: the widened outline cheap to test without moving it by more than the tolerance.
_SIMPLIFY_DEG = 0.0005

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class ProvinceArea:
    """The province as "outside" tests see it (WGS84 lon/lat)."""

    key: str
    name: str
    outline: Any  #: shapely (Multi)Polygon, tolerance and islands included
    from_boundaries: bool  #: False: the registry's bounding box (no boundaries imported yet)

    @property
    def extent(self) -> BBox:
        x0, y0, x1, y1 = shapely.bounds(self.outline)
        return (float(x0), float(y0), float(x1), float(y1))

    @property
    def described(self) -> str:
        """How the area was decided, for messages ("outside Hải Phòng (imported boundaries)")."""
        if self.from_boundaries:
            return _("imported boundaries")
        x0, y0, x1, y1 = self.extent
        return _("lon {x0:.2f}–{x1:.2f}, lat {y0:.2f}–{y1:.2f}; import its boundaries for the exact outline",
                 x0=x0, x1=x1, y0=y0, y1=y1)

    def contains(self, lon: Any, lat: Any) -> np.ndarray:
        """Which points lie in the area (on its edge included); NaN → False."""
        x = np.asarray(lon, dtype=float)
        y = np.asarray(lat, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        out = np.zeros(x.shape, dtype=bool)
        if ok.any():
            out[ok] = shapely.intersects_xy(self.outline, x[ok], y[ok])
        return out

    def covers(self, geom: Any) -> bool:
        return bool(self.outline.covers(geom))

    def intersects(self, geom: Any) -> bool:
        return bool(self.outline.intersects(geom))


def registry_area(key: str, on: dt.date | None = None) -> ProvinceArea:
    """The area before boundaries are imported: the registry's bounding box and islands."""
    p = provinces.province(key, on)
    shapes = [shapely.box(*provinces.bbox(p)), *(shapely.box(*i.bbox) for i in provinces.islands(p))]
    outline = shapely.union_all(shapes)
    shapely.prepare(outline)
    return ProvinceArea(p.key, p.name, outline, False)


_CACHE: dict[tuple[Any, ...], ProvinceArea] = {}


def province_area(bind: Engine | Connection | Session, key: str, on: dt.date | None = None) -> ProvinceArea:
    """The area of province ``key`` on ``on`` (today): its imported admin units in force then, else
    the registry's box of the province version in force then. Cached per database, units version,
    admin units table and *vintage* (the province version and the stretch of days over which no unit
    version changes, :func:`geodata.store.units.vintage_of`), so a site check does not union polygons
    on every request and appraisals dated on different days of one vintage share one outline, while
    an appraisal dated before 1/7/2025 gets Hải Phòng without former Hải Dương."""
    on = on or dt.date.today()
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return province_area(conn, key, on)
    engine = bind.get_bind() if isinstance(bind, Session) else bind.engine
    a = m.AdminUnit
    state = tuple(bind.execute(select(func.count(a.id), func.max(a.id))).one())
    p = provinces.province(key, on)
    vintage = vintage_of(bind, on) if state[0] else None
    cache_key = (engine.url.render_as_string(hide_password=False), key, p.valid_from, vintage, units_version(bind),
                 state)
    hit = _CACHE.get(cache_key)
    if hit is not None:
        return hit
    outline, _ = province_outline(bind, on, p.code) if state[0] else (None, None)
    if outline is None or outline.is_empty:
        area = registry_area(key, on)
    else:
        widened = shapely.simplify(outline, _SIMPLIFY_DEG).buffer(OUTLINE_TOLERANCE_DEG)
        whole = shapely.union_all([widened, *(shapely.box(*i.bbox) for i in provinces.islands(p))])
        shapely.prepare(whole)
        area = ProvinceArea(p.key, p.name, whole, True)
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[cache_key] = area
    return area


__all__ = ["OUTLINE_TOLERANCE_DEG", "ProvinceArea", "province_area", "registry_area"]
