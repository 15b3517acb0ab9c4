"""Read what implementation monitoring needs (site positions, statuses, target dates) and run it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from geodata.store.models import Site
from geodata.store.repository import unit_names
from planning.monitoring import implementation as compute
from planning.vocab import LIVE_SITE_STATUSES


def implementation(engine: Engine, *, operator: str | None = None, district: str | None = None,
                   as_of: dt.date | None = None, radius_m: float = 100.0) -> dict[str, Any]:
    """Planned vs built vs overdue per firm and district (see :mod:`planning.monitoring`).

    Built sites are matched over the whole province (a site built just across a district line still
    realises the plan); the operator/district filters apply to the planned rows reported.
    """
    cols = (Site.code, Site.operator, Site.status, Site.district_code, Site.x_m, Site.y_m, Site.target_date)
    q = select(*cols).where(Site.status.in_(LIVE_SITE_STATUSES))
    if operator:
        q = q.where(Site.operator == operator)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=[c.key for c in cols])
        names = unit_names(conn)
    out = compute(frame, as_of or dt.date.today(), radius_m, names)
    if district:
        out["rows"] = [r for r in out["rows"] if r["district"] == district]
        out["totals"] = {k: sum(r[k] for r in out["rows"]) for k in out["totals"]}
    out["filters"] = {"operator": operator, "district": district}
    return out
