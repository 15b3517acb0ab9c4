"""Cable tidy-up and undergrounding over HTTP: progress, status changes with history, complaints,
duct leases and relocation projects.

Reads are public (a key, when sent, is still checked); status changes need a ``planner`` or
``admin`` key, and complaints are recorded by department staff. Status changes use optimistic
locking: send the version you read (body ``version`` or ``If-Match: "<version>"``) and a stale one
answers 409 with the current version, so two planners never overwrite each other silently.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from geojson_pydantic import Point
from pydantic import BaseModel, ConfigDict, Field

from app.auth import AnyStaff, OptionalPrincipal, PlannerOrAdmin
from app.deps import EngineDep, SettingsDep
from app.schemas import IsoDate
from geodata.errors import NotFound, StaleVersion
from geodata.work import cables as gc
from planning.cables import Grouping, allowed_next
from planning.vocab import ComplaintStatus, SegmentStatus

router = APIRouter(tags=["cables"])

SegmentRef = Annotated[str, Path(description="Segment id or code (e.g. CAP-305-001)", max_length=50)]



def _etag(version: int) -> str:
    return f'"{version}"'


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------

@router.get("/cables/progress", summary="Length-weighted progress by district, commune, method, plan or operator",
            responses={200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
                             "description": "The report (JSON, or CSV with `format=csv`)"}})
def progress(
    engine: EngineDep,
    settings: SettingsDep,
    _who: OptionalPrincipal,
    by: Annotated[Grouping, Query(description="Grouping")] = "district",
    plan: Annotated[str | None, Query(max_length=50, description="Only this plan, e.g. 18/KH-BCĐ")] = None,
    as_of: Annotated[IsoDate | None, Query(description="Report date (status rebuilt from history); default today")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv (UTF-8 with BOM for Excel)")] = "json",
) -> Response:
    """``{"rows": [{district|commune|method|plan|operator, total_km, done_km, in_progress_km, planned_km,
    done_pct, overdue_km, segments, streets, …}], "totals": {…}}`` — kilometres in the metric CRS and the
    streets counted next to them, as the plans report ("11 tuyến … Lê Chân"); per-unit rows split segments
    that cross unit boundaries, so their kilometres add up to the total (a street in two units counts in
    each, once in the total). ``method``: chinh_trang (chỉnh trang), ha_ngam (hạ ngầm), chinh_trang_ha_ngam."""
    data = gc.progress(engine, settings.metric_crs, by=by, as_of=as_of, plan=plan or None)
    if format == "csv":
        name = f"cables-progress-by-{by}-{data['as_of']}.csv"
        return Response(gc.progress_csv(data, bom=True), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(data)


# --------------------------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------------------------

class SegmentPatch(BaseModel):
    """A status change. ``version`` (or ``If-Match``) makes it conditional on what you read."""

    model_config = ConfigDict(extra="forbid")
    status: SegmentStatus = Field(
        description="planned → in_progress → done; done → in_progress needs `reopen`")
    date: IsoDate | None = Field(None, description="When it happened (default today; not in the future)")
    note: str | None = Field(None, max_length=2000)
    reopen: bool = Field(False, description="Required to move a done segment back to in_progress")
    version: int | None = Field(None, ge=1, description="The version you read; 409 if it changed since")


@router.get("/cables/segments/{ref}", summary="One cable segment (ETag = its version)")
def get_segment(ref: SegmentRef, engine: EngineDep, settings: SettingsDep, _who: OptionalPrincipal) -> JSONResponse:
    seg = gc.segment_dict(engine, ref, settings.metric_crs)
    seg["allowed_next"] = allowed_next(seg["status"])
    return JSONResponse(seg, headers={"ETag": _etag(seg["version"])})


@router.patch("/cables/segments/{ref}", summary="Change a segment's status (planner/admin)")
def patch_segment(
    ref: SegmentRef,
    body: SegmentPatch,
    engine: EngineDep,
    settings: SettingsDep,
    who: PlannerOrAdmin,
    if_match: Annotated[str | None, Header(description='The ETag you read ("3"); 409 when it is not current')] = None,
) -> JSONResponse:
    expected = body.version
    if if_match is not None and if_match.strip() != "*":
        # an If-Match that is not the segment's current ETag is a failed precondition: 409 + current version
        raw = if_match.strip().removeprefix("W/").strip('"')
        if not raw.isdigit() or len(raw) > 9 or (expected is not None and int(raw) != expected):
            current = gc.segment_dict(engine, ref, settings.metric_crs)["version"]
            raise StaleVersion(f"If-Match {if_match!r} does not match the segment's ETag "
                               f'"{current}" (or the body version)', current)
        expected = int(raw)
    ch = gc.set_status(engine, ref, body.status, actor=who.actor, on=body.date, note=body.note,
                       reopen=body.reopen, expected_version=expected)
    seg = gc.segment_dict(engine, ch.segment_id, settings.metric_crs)
    seg["allowed_next"] = allowed_next(seg["status"])
    seg["change"] = {"from_status": ch.from_status, "to_status": ch.to_status, "changed_on": ch.changed_on.isoformat(),
                     "actor": ch.actor, "note": ch.note}
    return JSONResponse(seg, headers={"ETag": _etag(ch.version)})


@router.get("/cables/segments/{ref}/history", summary="A segment's dated status history")
def segment_history(ref: SegmentRef, engine: EngineDep, _who: OptionalPrincipal) -> JSONResponse:
    data = gc.history(engine, ref)
    return JSONResponse(data, headers={"ETag": _etag(data["version"])})


# --------------------------------------------------------------------------------------------
# leases, relocation projects
# --------------------------------------------------------------------------------------------

@router.get("/cables/leases", summary="Underground-duct leases and agreed prices")
def duct_leases(engine: EngineDep, _who: OptionalPrincipal,
                as_of: Annotated[IsoDate | None, Query(description="Date for the `active` flag")] = None,
                ) -> dict[str, Any]:
    rows = gc.leases(engine, as_of)
    return {"leases": rows, "count": len(rows), "unit": "VND per metre per month"}


@router.get("/cables/projects", summary="Relocation projects (e.g. the Cầu Rào bridge)")
def projects(engine: EngineDep, _who: OptionalPrincipal) -> dict[str, Any]:
    rows = gc.projects(engine)
    return {"projects": rows, "count": len(rows)}


@router.get("/cables/projects/{name}/affected", summary="Segments intersecting a relocation project's area")
def affected(name: Annotated[str, Path(max_length=200)], engine: EngineDep, settings: SettingsDep,
             _who: OptionalPrincipal) -> dict[str, Any]:
    return gc.affected_segments(engine, name, settings.metric_crs)


# --------------------------------------------------------------------------------------------
# complaints
# --------------------------------------------------------------------------------------------

class ComplaintProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000, description="What the citizen reported")
    reported_on: IsoDate | None = Field(None, description="Date received (default today; not in the future)")
    reporter: str | None = Field(None, max_length=200, description="Who reported it (shown to staff only)")


class ComplaintIn(BaseModel):
    """A GeoJSON Feature: a WGS84 Point where the problem is, and the complaint's properties."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Feature"]
    geometry: Point
    properties: ComplaintProperties


@router.post("/complaints", status_code=201, summary="Record a citizen complaint about cables (staff)")
def create_complaint(body: ComplaintIn, engine: EngineDep, settings: SettingsDep, who: AnyStaff) -> JSONResponse:
    """The point must lie inside the province; the complaint is linked to the nearest cable
    segment within 50 m (measured in the metric CRS), if any."""
    lon, lat = body.geometry.coordinates[0], body.geometry.coordinates[1]
    out = gc.add_complaint(engine, lon=float(lon), lat=float(lat), text=body.properties.text, actor=who.actor,
                           metric_crs=settings.metric_crs, province=settings.province,
                           reported_on=body.properties.reported_on, reporter=body.properties.reporter)
    return JSONResponse(out, status_code=201, headers={"Location": f"/complaints/{out['id']}"})


@router.get("/complaints", summary="Complaints about cables, newest first")
def list_complaints(
    engine: EngineDep,
    who: OptionalPrincipal,
    status: Annotated[ComplaintStatus | None, Query()] = None,
) -> dict[str, Any]:
    """Reporters' names are personal data: only staff keys see them."""
    rows = gc.complaints(engine, status)
    if who is None or not who.is_staff:
        for r in rows:
            r.pop("reporter", None)
    return {"complaints": rows, "count": len(rows)}


@router.get("/complaints/{complaint_id}", summary="One complaint")
def get_complaint(complaint_id: Annotated[int, Path(ge=1, le=2**31 - 1)], engine: EngineDep, who: OptionalPrincipal) -> dict[str, Any]:
    rows = gc.complaints(engine, complaint_id=complaint_id)
    if not rows:
        raise NotFound(f"no complaint {complaint_id}")
    if who is None or not who.is_staff:
        rows[0].pop("reporter", None)
    return rows[0]
