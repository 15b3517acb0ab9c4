"""The department's queue of firms' dossiers, as the planner workspace lists it: filtered by firm,
status, date of last change and administrative unit, with the count of each status.

The unit filter keeps a dossier when one of its items lies in the unit (the item's position in the
appraisal report, tested against the unit's latest outline), so a planner responsible for a ward sees
the dossiers that touch it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from shapely import wkb
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geodata.store.models import AdminUnit, PlanSubmission
from geodata.work import plans as gp

#: A page of the queue; a department rarely has more dossiers open at once.
PAGE = 200


@dataclass(frozen=True)
class QueueFilter:
    operator: str | None = None
    status: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    unit: str | None = None


def _unit_outline(session: Session, code: str) -> Any:
    """The unit's latest outline: a unit abolished by a reform still names the area its old dossiers cover."""
    row = session.execute(select(func.ST_AsBinary(AdminUnit.geom)).where(AdminUnit.code == code)
                          .order_by(AdminUnit.valid_from.desc()).limit(1)).first()
    return None if row is None or row[0] is None else wkb.loads(bytes(row[0]))


def _touches(plan: PlanSubmission, outline: Any) -> bool:
    for item in (plan.report or {}).get("items", []):
        if "lon" in item and "lat" in item and outline.covers(Point(item["lon"], item["lat"])):
            return True
    return False


def queue(session: Session, where: QueueFilter) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The dossiers matching ``where`` (newest change first) and the count by status of those matching
    every filter but the status one (so the counts say what choosing a status would show)."""
    q = select(PlanSubmission)
    if where.operator:
        q = q.where(PlanSubmission.operator == where.operator)
    if where.since:
        q = q.where(PlanSubmission.updated_at >= dt.datetime.combine(where.since, dt.time.min))
    if where.until:
        q = q.where(PlanSubmission.updated_at < dt.datetime.combine(where.until + dt.timedelta(days=1), dt.time.min))
    rows = list(session.execute(q.order_by(PlanSubmission.updated_at.desc(), PlanSubmission.id.desc())).scalars())
    if where.unit:
        outline = _unit_outline(session, where.unit)
        rows = [p for p in rows if outline is not None and _touches(p, outline)]
    counts: dict[str, int] = {}
    for p in rows:
        counts[p.status] = counts.get(p.status, 0) + 1
    shown = [gp.summary(p) for p in rows if not where.status or p.status == where.status][:PAGE]
    return shown, counts


def operators_with_plans(session: Session) -> list[str]:
    return list(session.execute(select(PlanSubmission.operator).distinct().order_by(PlanSubmission.operator)).scalars())
