"""Implementation monitoring: ``GET /monitoring/implementation`` (planned vs built vs overdue).

Staff see every firm; an operator key sees its own firm only (asking for another firm is 403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.auth import AnyKey
from app.deps import EngineDep, SettingsDep
from app.schemas import IsoDate
from geodata.errors import Forbidden
from geodata.work import monitoring
from planning.i18n import _

router = APIRouter(tags=["monitoring"])


@router.get("/monitoring/implementation", summary="Planned vs built vs overdue sites per firm and administrative unit")
def implementation(
    engine: EngineDep,
    settings: SettingsDep,
    who: AnyKey,
    operator: Annotated[str | None, Query(max_length=20)] = None,
    unit: Annotated[str | None, Query(max_length=100, description="A unit of the `as_of` day, by code or name: "
                                                                  "a commune/ward/special zone from 2025-07-01, "
                                                                  "a district before")] = None,
    district: Annotated[str | None, Query(max_length=100, description="Older name of `unit`")] = None,
    as_of: Annotated[IsoDate | None, Query(description="Overdue means target date before this day, and the units are "
                                                       "those in force that day (default today)")] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=5000, description="A built site this close realises a plan")] = None,
) -> dict[str, Any]:
    """``{"as_of", "by", "units_as_of", "radius_m", "rows": [{operator, <by>, <by>_name, planned, built, realised,
    overdue, overdue_sites}], "totals"}`` where ``by`` is ``commune`` from 2025-07-01 (the two-level
    administration) and ``district`` before. A planned site is realised by a built site of the same firm
    within ``radius_m`` metres; overdue when its target date has passed and it is not realised."""
    if who.role == "operator":
        if operator and operator != who.operator:
            raise Forbidden(_("an operator key sees only its own firm's implementation"))
        operator = who.operator
    return monitoring.implementation(engine, operator=operator, unit=unit or district, as_of=as_of,
                                     radius_m=radius_m or settings.built_match_m)
