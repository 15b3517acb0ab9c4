"""Load what a plan's appraisal needs from the database and run :func:`planning.appraisal.appraise`.

Reads only (existing sites, zones, routes, the province outline, other firms' pending plans); the
report is then stored by :func:`geodata.work.plans.submit` in its own transaction. The per-item mast
check is the spatial core's :func:`planning.checks.check_site` — the same function behind
``POST /checks/site`` — so a plan item and a single-site check can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import Engine, select

from geodata.work import checks
from geodata.store.dated_units import units_on
from geodata.work import plans as gp
from geodata.store.db import session_factory
from geodata.store.models import Site
from geodata.store.area import province_area
from geodata.settings import Settings
from planning.geometry import WGS84, project_xy
from planning.appraisal import AppraisalContext, PendingItem, SiteChecker, appraise
from planning.rules import RulePack, pack_for_province


def referenced_sites(engine: Engine, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not codes:
        return {}
    with session_factory(engine)() as s:
        rows = s.execute(select(Site).where(Site.code.in_(sorted(set(codes))))).scalars().all()
        out = {}
        for r in rows:
            p = to_shape(r.geom)
            out[r.code] = {
                "code": r.code, "operator": r.operator, "status": r.status, "lon": p.x, "lat": p.y,
                "shared_by": r.shared_by, "max_tenants": r.max_tenants, "derived_class": r.derived_class,
                "mount": r.mount, "mast_height_m": r.mast_height_m, "building_height_m": r.building_height_m,
                "reach_m": r.reach_m, "camouflaged": r.camouflaged, "declared_class": r.declared_class,
                "tech": r.tech, "transmitters": r.transmitters, "name": r.name,
            }
        return out


def site_checker(engine: Engine, settings: Settings, pack: RulePack) -> SiteChecker:
    """The spatial core's single-site check (context cached per data version by ``geodata.work.checks``)."""
    return checks.site_checker(engine, settings, pack)


def a2a_on_a1_codes(engine: Engine, settings: Settings) -> list[str]:
    """Codes of the masts the flagship check lists now (A2a on A1-only routes/zones), for programmes."""
    found = checks.run_a1_check(engine, pack_for_province(settings.province), metric_crs=settings.metric_crs)
    return sorted(set(found["site_code"].dropna().tolist()))


def _urban_at(engine: Engine, settings: Settings, pack: RulePack) -> Callable[[float, float], bool | None]:
    """Whether a position lies in an urban commune, from the communes of the cached planning context
    (the pack's urban / non-urban distances apply to competing plans as to existing masts)."""
    ctx = checks.planning_context(engine, pack, metric_crs=settings.metric_crs)

    def urban(lon: float, lat: float) -> bool | None:
        x, y = project_xy([lon], [lat], WGS84, settings.metric_crs)
        u = int(ctx.units.locate(x, y)[0])
        return None if u < 0 or np.isnan(ctx.units.urban[u]) else bool(ctx.units.urban[u])

    return urban


def build_report(engine: Engine, settings: Settings, plan_id: int | None, operator: str,
                 features: Sequence[Mapping[str, Any]], as_of: dt.date | None = None) -> dict[str, Any]:
    """The appraisal of ``features`` dated ``as_of`` (today): "outside the province" uses the
    province's outline in force that day (a plan item in former Hải Dương is inside Hải Phòng from
    1/7/2025, outside before), and each item is labelled with the unit containing it that day
    (:func:`label_units`)."""
    as_of = as_of or dt.date.today()
    pack = pack_for_province(settings.province)
    codes = [f["properties"]["site_code"] for f in features if f["properties"].get("site_code")]
    with session_factory(engine)() as s:
        pending_rows = gp.pending_items(s, plan_id, operator)
    pending = [PendingItem(r["plan_id"], r["operator"], r["index"], r["feature"]) for r in pending_rows]
    codes += [p.feature["properties"]["site_code"] for p in pending if p.feature["properties"].get("site_code")]
    area = province_area(engine, settings.province, as_of)
    spacing = pack.spacing
    ctx = AppraisalContext(
        metric_crs=settings.metric_crs,
        check_site=site_checker(engine, settings, pack),
        sites=referenced_sites(engine, codes),
        province=area.outline,
        province_name=area.name,
        pending=pending,
        conflict_radius_m=spacing.default.urban_m,
        conflict_radius_rural_m=spacing.default.rural_m,
        urban_at=_urban_at(engine, settings, pack),
        spacing_source=pack.citation(spacing.source),
        rule_pack={"id": pack.id, "version": pack.version, "title": pack.title},
    )
    return label_units(engine, appraise(features, operator, ctx), as_of)


def label_units(engine: Engine, report: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """Date the report and name, for each placed item, the unit containing it on ``as_of``: the
    commune (xã/phường/đặc khu) from 1/7/2025, the district before, "not placed (partial merge of X)"
    where a split old commune has no new polygons yet (:mod:`geodata.store.dated_units`, the rule of
    the statistics). ``unit_code`` is None for an item outside every unit or not placed."""
    units = units_on(engine, as_of)
    items = report["items"]
    placed = [i for i, it in enumerate(items) if it.get("lon") is not None and it.get("lat") is not None]
    keys = units.place([items[i]["lon"] for i in placed], [items[i]["lat"] for i in placed])
    for i, key in zip(placed, keys.tolist(), strict=True):
        items[i]["unit_code"] = units.code(key)
        items[i]["unit"] = units.label(key)
    return {**report, "as_of": as_of.isoformat(), "units": units.as_dict()}
