"""Administrative units read from the database through the two rules of :mod:`planning.units`.

Every reader that asks "which unit does this word name" or "which units are in force on that day"
comes here, so filters, reports, checks, imports and the province outline agree: a unit whose
``valid_to`` is before the day is never used while a version in force exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import shapely
from shapely import union_all
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.orm import Session

from geodata.store import models as m
from planning.units import match_units, rows_in_force

Bind = Connection | Session


def unit_choices(conn: Bind, level: str) -> list[tuple[str, str]]:
    """(code, name) of every version of the units of ``level``, as :func:`planning.units.match_units` reads them."""
    a = m.AdminUnit
    return [(r.code, r.name) for r in conn.execute(select(a.code, a.name).where(a.level == level).distinct())]


def resolve_units(conn: Bind, level: str, value: str) -> list[str]:
    """Codes of the units of ``level`` that ``value`` names (a code, or a name however typed); [] when none."""
    return match_units(value, unit_choices(conn, level))


def units_in_force(conn: Bind, level: str, on: dt.date, *columns: Any) -> tuple[list[Any], dt.date]:
    """``columns`` of the units of ``level`` in force on ``on`` (else the last ones before it, see
    :func:`planning.units.in_force`), ordered by code, and the day they are in force.

    Validity is decided on the small (id, dates) rows first, so geometries are read only for the
    versions used.
    """
    a = m.AdminUnit
    versions = conn.execute(select(a.id, a.valid_from, a.valid_to).where(a.level == level)).all()
    picked, day = rows_in_force(versions, on)
    if not picked:
        return [], day
    rows = conn.execute(select(*columns).where(a.id.in_([r.id for r in picked])).order_by(a.code)).all()
    return list(rows), day


def province_outline(conn: Bind, on: dt.date | None = None, code: str | None = None) -> tuple[Any, str | None]:
    """The province polygon (WGS84) in force on ``on`` (today) and its name: the province unit in
    force that day, else the union of the districts in force, else of the communes in force (since
    1/7/2025 a province may hold only communes, wards and special zones); when no unit of any level
    is in force that day, the last province or district versions before it. ``(None, None)`` when
    nothing is stored.

    ``code`` (the province's GSO code in force on ``on``) keeps only that province's units when some
    are stored: a database holding the neighbours a reform merged in (the demo's former Hải Dương
    until 30/6/2025) must not count them as the province before the merger. Units of no known
    province (without a parent) are the province's own; when no unit carries the code at all, every
    unit of the level is taken, as before codes were compared (a boundary file with other codes).
    The name is given only when exactly one province unit is used.
    """
    on = on or dt.date.today()
    a = m.AdminUnit
    cols = (a.code, a.parent_code, a.name, a.geom.ST_AsBinary().label("wkb"))
    found = {level: units_in_force(conn, level, on, *cols) for level in ("province", "district", "commune")}
    # the levels in force on the day itself first: frozen districts must not outline the merged province
    order = [lv for lv in ("province", "district", "commune") if found[lv][0] and found[lv][1] == on]
    order += [lv for lv in ("province", "district") if lv not in order]
    for level in order:
        rows = found[level][0]
        if code is not None:
            owner = (lambda r: r.code) if level == "province" else (lambda r: r.parent_code)
            own = [r for r in rows if owner(r) == code]
            if own:
                rows = own + ([r for r in rows if r.parent_code is None] if level != "province" else [])
        if rows:
            geom = union_all(shapely.from_wkb([bytes(r.wkb) for r in rows]))
            return geom, (rows[0].name if level == "province" and len(rows) == 1 else None)
    return None, None


def vintage_of(conn: Bind, on: dt.date) -> dt.date | None:
    """The first day of the stretch of days, around ``on``, over which no admin unit version starts
    or ends (None: before every change). Two days with the same vintage see the same units, so
    caches of things built from units (the province outline) are keyed by it, not by the day."""
    a = m.AdminUnit
    starts = {r[0] for r in conn.execute(select(a.valid_from).where(a.valid_from <= on).distinct()) if r[0]}
    ends = {r[0] + dt.timedelta(days=1) for r in conn.execute(
        select(a.valid_to).where(a.valid_to < on).distinct()) if r[0]}
    days = [d.date() if isinstance(d, dt.datetime) else d for d in starts | ends]
    return max(days) if days else None


MAPPING_COLUMNS = ("effective_on", "old_code", "old_name", "new_code", "new_name", "new_level", "new_parent_code", "kind")


def unit_mapping_frame(bind: Bind | Engine) -> pd.DataFrame:
    """Every stored old → new merge (columns :data:`MAPPING_COLUMNS`), as the site counts read it."""
    t = m.UnitMapping.__table__
    stmt = select(*(t.c[c] for c in MAPPING_COLUMNS)).order_by(t.c.effective_on, t.c.new_code, t.c.old_code)
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = bind.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(MAPPING_COLUMNS))


def replace_unit_mapping(conn: Connection, effective_on: dt.date, rows: list[dict[str, Any]]) -> int:
    """Store the merges of one reform day in place of any stored for that day (the caller's transaction)."""
    t = m.UnitMapping.__table__
    conn.execute(delete(t).where(t.c.effective_on == effective_on))
    if rows:
        conn.execute(insert(t), [{**r, "effective_on": effective_on} for r in rows])
    return len(rows)


__all__ = ["MAPPING_COLUMNS", "province_outline", "replace_unit_mapping", "resolve_units", "unit_choices",
           "unit_mapping_frame", "units_in_force", "vintage_of"]
