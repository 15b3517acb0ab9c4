"""One site as the map's popup shows it: every attribute, the classifier's reasons, and its findings.

The OGC ``sites`` collection publishes flat, stably typed properties for GIS clients; a planner who
clicks a mast also wants *why* it has its class (the stored ``reasons``) and what the checks found
about it, in one round trip. This module reads exactly that for one site code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select

from geodata.store import models as m

_SITE_COLUMNS = ("code", "operator", "name", "address", "mount", "mast_height_m", "building_height_m", "reach_m",
                 "camouflaged", "declared_class", "derived_class", "reasons", "tech", "transmitters", "shared_by",
                 "max_tenants", "status", "district_code", "commune_code", "built_on", "target_date")
_FINDING_COLUMNS = ("check", "rule", "severity", "zone", "route", "other_site_code", "distance_m", "district",
                    "commune", "legal_source", "message")


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


def site_card(engine: Engine, code: str) -> dict[str, Any] | None:
    """``{"site": {...}, "findings": [...]}`` for the site ``code``; ``None`` when there is no such site."""
    s = m.Site
    with engine.connect() as conn:
        row = conn.execute(select(*[getattr(s, c) for c in _SITE_COLUMNS], func.ST_X(s.geom), func.ST_Y(s.geom))
                           .where(s.code == code)).first()
        if row is None:
            return None
        site = {c: _plain(v) for c, v in zip(_SITE_COLUMNS, row[:len(_SITE_COLUMNS)], strict=True)}
        site["lon"], site["lat"] = float(row[-2]), float(row[-1])
        codes = [c for c in (site["district_code"], site["commune_code"]) if c]
        names = dict(conn.execute(select(m.AdminUnit.code, m.AdminUnit.name).where(m.AdminUnit.code.in_(codes))
                                  .order_by(m.AdminUnit.valid_from)).all()) if codes else {}
        site["district"] = names.get(site["district_code"])
        site["commune"] = names.get(site["commune_code"])
        f = m.Finding
        findings = [{c: v for c, v in zip(_FINDING_COLUMNS, r, strict=True)} for r in conn.execute(
            select(*[getattr(f, c) for c in _FINDING_COLUMNS]).where(f.site_code == code).order_by(f.id))]
    order = {"violation": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda x: (order.get(x["severity"], 9), x["distance_m"] if x["distance_m"] is not None else 0))
    return {"site": site, "findings": findings}
