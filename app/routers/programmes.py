"""Mast-conversion (Kế hoạch 153/KH-UBND) and environment-friendly-BTS programmes over HTTP.

Planners and admins create programmes; staff read everything; an operator key reads the progress
and site list of its own firm's sites only and may report progress on them (the firms do the
conversion work).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from app.auth import AnyKey, PlannerAdminOrOperator, PlannerOrAdmin, Principal
from app.deps import EngineDep, SettingsDep
from app.routers.inspections import SiteFilter
from app.schemas import IsoDate
from geodata.work import programmes as gpr
from geodata.store.db import transaction
from planning.vocab import EcoIntegration, ProgrammeKind, ProgrammeSiteStatus

router = APIRouter(tags=["programmes"])

ProgId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _scope(who: Principal) -> str | None:
    return who.operator if who.role == "operator" else None


class ProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: ProgrammeKind
    legal_ref: str | None = Field(None, max_length=200, examples=["Kế hoạch 153/KH-UBND (22/6/2018)"])
    deadline: IsoDate | None = None
    preset: Literal["a2a_on_a1"] | None = Field(
        None, description="a2a_on_a1: every A2a mast on an A1-only route or in an A1-only zone, checked now")
    filter: SiteFilter | None = None



class SiteProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ProgrammeSiteStatus
    done_on: IsoDate | None = None
    integrates: list[EcoIntegration] | None = Field(
        None, description="For eco-BTS pilots: what the pole integrates")


@router.post("/programmes", status_code=201, summary="Create a programme and fix its target list")
def create_programme(body: ProgrammeIn, engine: EngineDep, settings: SettingsDep,
                     who: PlannerOrAdmin) -> dict[str, Any]:
    codes: list[str] = []
    flt: dict[str, Any] = {}
    if body.preset == gpr.PRESET_A2A_ON_A1:
        codes = gpr.a2a_on_a1_codes(engine, settings)
        flt["preset"] = body.preset
    with transaction(engine) as s:
        if body.filter is not None:
            from geodata.work.inspections import select_sites

            f = body.filter.model_dump(exclude_none=True)
            flt["filter"] = f
            picked = select_sites(s, f)
            codes = sorted(set(codes) & set(picked)) if body.preset else picked
        prog = gpr.create_programme(s, who.actor, body.name.strip(), body.kind, body.legal_ref, body.deadline,
                                    flt, codes)
        return gpr.programme_dict(s, prog)


@router.get("/programmes", summary="Programmes")
def list_programmes(
    engine: EngineDep, _who: AnyKey,
    kind: Annotated[ProgrammeKind | None, Query(description="Only conversion or only eco_bts programmes")] = None,
) -> dict[str, Any]:
    with transaction(engine) as s:
        return {"programmes": [gpr.programme_dict(s, p) for p in gpr.list_programmes(s, kind)]}


@router.get("/programmes/{programme_id}", summary="One programme with its sites")
def get_programme(programme_id: ProgId, engine: EngineDep, who: AnyKey) -> dict[str, Any]:
    with transaction(engine) as s:
        return gpr.programme_detail(s, programme_id, _scope(who))


@router.get("/programmes/{programme_id}/progress", summary="Progress by district or operator")
def programme_progress(
    programme_id: ProgId, engine: EngineDep, who: AnyKey,
    by: Annotated[Literal["district", "operator"], Query()] = "district",
    as_of: Annotated[IsoDate | None, Query(description="Overdue = pending after the deadline on this day")] = None,
) -> dict[str, Any]:
    """``{"programme", "by", "as_of", "rows": [{district|operator, total, done, pending, dropped, overdue,
    late_done, done_pct, integrates}], "totals"}``; operator keys see their own sites only."""
    with transaction(engine) as s:
        prog = gpr.get_programme(s, programme_id)
        return gpr.progress(s, prog, by, as_of, _scope(who))


@router.put("/programmes/{programme_id}/sites/{site_code}", summary="Report one site's progress")
def set_site(
    programme_id: ProgId, site_code: Annotated[str, Path(max_length=50)], body: SiteProgressIn,
    engine: EngineDep, who: PlannerAdminOrOperator,
) -> dict[str, Any]:
    with transaction(engine) as s:
        prog = gpr.get_programme(s, programme_id)
        ps = gpr.set_site_status(s, who.actor, prog, site_code, body.status, body.done_on, body.integrates,
                                 _scope(who))
        return {"programme_id": prog.id, "site_code": ps.site_code, "status": ps.status,
                "done_on": ps.done_on.isoformat() if ps.done_on else None, "integrates": ps.integrates or []}
