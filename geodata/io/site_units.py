"""Give every stored site the commune and district that contain it, by the units of a day.

Sites keep their units' codes beside the point (filters and exports read them); when the units
change underneath the sites — real boundaries loaded after the sites, as ``btsplan demo --admin``
does — the codes are recomputed here with the importer's own spatial join, in one transaction.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import Engine, bindparam, func, select, update

from geodata.io.import_geo import load_admin_index
from geodata.store import models as m
from geodata.store.meta import bump_data_version


def assign_site_units(engine: Engine, as_of: dt.date | None = None) -> int:
    """Recompute ``commune_code``/``district_code`` of every site for the units in force on ``as_of``
    (today); returns the number of sites inside some unit."""
    s = m.Site.__table__
    with engine.begin() as conn:
        rows = conn.execute(select(s.c.id, func.ST_X(s.c.geom), func.ST_Y(s.c.geom))).all()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        lon = np.array([r[1] for r in rows], dtype=float)
        lat = np.array([r[2] for r in rows], dtype=float)
        commune, district, inside = load_admin_index(conn, as_of).assign(lon, lat)
        conn.execute(update(s).where(s.c.id == bindparam("sid")).values(
            commune_code=bindparam("c"), district_code=bindparam("d")),
            [{"sid": i, "c": c, "d": d} for i, c, d in zip(ids, commune.tolist(), district.tolist(), strict=True)])
        bump_data_version(conn)
    return int(inside.sum())


__all__ = ["assign_site_units"]
