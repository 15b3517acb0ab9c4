"""Read what implementation monitoring needs (site positions, statuses, target dates) and run it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from geodata.store.models import Site
from geodata.store.dated_units import PARTIAL_KEY, units_on
from planning.monitoring import implementation as compute
from planning.vocab import LIVE_SITE_STATUSES


def implementation(engine: Engine, *, operator: str | None = None, unit: str | None = None,
                   as_of: dt.date | None = None, radius_m: float = 100.0) -> dict[str, Any]:
    """Planned vs built vs overdue per firm and unit (see :mod:`planning.monitoring`).

    The units are those of ``as_of`` (today), placed by geometry like the statistics
    (:mod:`geodata.store.dated_units`): the communes (xã/phường/đặc khu) from 1/7/2025, the districts
    before; a site in a split old commune without new polygons is "not placed (partial merge of X)".
    Built sites are matched over the whole province (a site built just across a unit line still
    realises the plan); the operator/unit filters apply to the planned rows reported. ``unit`` is a
    code or a name of a unit of that day.
    """
    day = as_of or dt.date.today()
    cols = (Site.code, Site.operator, Site.status, Site.x_m, Site.y_m, Site.target_date)
    q = select(*cols, func.ST_X(Site.geom).label("lon"), func.ST_Y(Site.geom).label("lat")).where(
        Site.status.in_(LIVE_SITE_STATUSES))
    if operator:
        q = q.where(Site.operator == operator)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=[*(c.key for c in cols), "lon", "lat"])
        units = units_on(conn, day)
    frame["unit_code"] = units.place(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)) \
        if len(frame) else np.empty(0, dtype=object)
    out = compute(frame, day, radius_m, units.names_by_key(), by=units.by, unit_column="unit_code")
    for r in out["rows"]:
        key = r[units.by]
        if key and key.startswith(PARTIAL_KEY):  # counted, never guessed: no unit code to give
            r[units.by], r["partial_merge_of"] = None, key[len(PARTIAL_KEY):]
    if unit:
        wanted = set(units.resolve(unit))
        out["rows"] = [r for r in out["rows"] if r[units.by] in wanted]
        out["totals"] = {k: sum(r[k] for r in out["rows"]) for k in out["totals"]}
    out.update(units.as_dict())
    out["filters"] = {"operator": operator, "unit": unit}
    return out
