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
from geodata.store.repository import unit_names
from planning.findings import message_text
from planning.vocab import SEVERITY_RANK

_CARD_SITE_FIELDS = ("code", "operator", "name", "address", "mount", "mast_height_m", "building_height_m",
                     "reach_m", "camouflaged", "declared_class", "derived_class", "reasons", "tech", "transmitters",
                     "shared_by", "max_tenants", "status", "district_code", "commune_code", "built_on", "target_date")
_CARD_FINDING_FIELDS = ("check", "rule", "severity", "zone", "route", "other_site_code", "distance_m",
                        "district", "commune", "legal_source", "message")


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


def site_card(engine: Engine, code: str) -> dict[str, Any] | None:
    """``{"site": {...}, "findings": [...]}`` for the site ``code``; ``None`` when there is no such site."""
    s = m.Site
    with engine.connect() as conn:
        row = conn.execute(select(*[getattr(s, c) for c in _CARD_SITE_FIELDS], func.ST_X(s.geom), func.ST_Y(s.geom))
                           .where(s.code == code)).first()
        if row is None:
            return None
        site = {c: _plain(v) for c, v in zip(_CARD_SITE_FIELDS, row[:len(_CARD_SITE_FIELDS)], strict=True)}
        site["lon"], site["lat"] = float(row[-2]), float(row[-1])
        codes = [c for c in (site["district_code"], site["commune_code"]) if c]
        names = unit_names(conn) if codes else {}
        site["district"] = names.get(site["district_code"])
        site["commune"] = names.get(site["commune_code"])
        f = m.Finding
        findings = []
        for r in conn.execute(select(*[getattr(f, c) for c in _CARD_FINDING_FIELDS], f.details)
                              .where(f.site_code == code).order_by(f.id)):
            card = dict(zip(_CARD_FINDING_FIELDS, r[:-1], strict=True))
            card["message"] = message_text({"message": card["message"], "details": r[-1]})  # reader's language
            findings.append(card)
    findings.sort(key=lambda x: (SEVERITY_RANK.get(x["severity"], 9), x["distance_m"] if x["distance_m"] is not None else 0))
    return {"site": site, "findings": findings}
