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

router = APIRouter(tags=["monitoring"])


@router.get("/monitoring/implementation", summary="Planned vs built vs overdue sites per firm and district")
def implementation(
    engine: EngineDep,
    settings: SettingsDep,
    who: AnyKey,
    operator: Annotated[str | None, Query(max_length=20)] = None,
    district: Annotated[str | None, Query(max_length=20, description="District code")] = None,
    as_of: Annotated[IsoDate | None, Query(description="Overdue means target date before this day (default today)")] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=5000, description="A built site this close realises a plan")] = None,
) -> dict[str, Any]:
    """``{"as_of", "radius_m", "rows": [{operator, district, district_name, planned, built, realised, overdue,
    overdue_sites}], "totals"}``. A planned site is realised by a built site of the same firm within
    ``radius_m`` metres; overdue when its target date has passed and it is not realised."""
    if who.role == "operator":
        if operator and operator != who.operator:
            raise Forbidden("an operator key sees only its own firm's implementation")
        operator = who.operator
    return monitoring.implementation(engine, operator=operator, district=district, as_of=as_of,
                                     radius_m=radius_m or settings.built_match_m)
