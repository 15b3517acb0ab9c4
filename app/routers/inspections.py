"""Inspection campaigns over HTTP: create from a site filter, list for inspectors (JSON/CSV/XLSX),
per-site results, photo uploads. Department staff only (planner, inspector, admin); operator keys 403.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

import xlsxwriter
from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth import Principal, require_roles
from app.deps import EngineDep, SettingsDep
from app.errors import Problem
from app.schemas import IsoDate
from geodata.work import inspections as gi
from geodata.store.db import transaction
from geodata.store.models import MAST_CLASSES, SITE_STATUSES, Inspection

router = APIRouter(tags=["inspections"])

Staff = Annotated[Principal, Depends(require_roles("planner", "inspector", "admin"))]
Organiser = Annotated[Principal, Depends(require_roles("planner", "inspector", "admin"))]
Inspector = Annotated[Principal, Depends(require_roles("inspector", "planner"))]
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_COLUMNS = ["code", "operator", "name", "address", "district", "commune", "mount", "mast_height_m",
                  "declared_class", "derived_class", "lat", "lon", "result", "inspected_on"]



@contextmanager
def _problems() -> Iterator[None]:
    try:
        yield
    except gi.InspectionError as exc:
        title = {404: "Not found", 409: "Conflict", 413: "Photo too large", 415: "Unsupported photo type"}.get(
            exc.status, "Invalid request")
        extra = {"field": exc.field} if exc.field else {}
        raise Problem(exc.status, title, f"{exc.field}: {exc.detail}" if exc.field else exc.detail, **extra) from None


class SiteFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: list[str] | None = Field(None, max_length=20, description="Operator codes, e.g. [VTL, VNP, MBF]")
    district: list[str] | None = Field(None, max_length=100)
    commune: list[str] | None = Field(None, max_length=500)
    mast_class: list[Literal[MAST_CLASSES]] | None = None  # type: ignore[valid-type]
    status: list[Literal[SITE_STATUSES]] | None = None  # type: ignore[valid-type]
    codes: list[str] | None = Field(None, max_length=10000)
    max_sites: int | None = Field(None, ge=1, le=100000, description="Keep the first N sites by code")


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    start_on: IsoDate
    end_on: IsoDate | None = None
    filter: SiteFilter = Field(default_factory=SiteFilter)


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_code: str = Field(min_length=1, max_length=50)
    result: Literal["conforms", "violation"]
    notes: str | None = Field(None, max_length=4000)
    inspected_on: IsoDate


@router.post("/inspections/campaigns", status_code=201, summary="Create a campaign from a site filter")
def create_campaign(body: CampaignIn, engine: EngineDep, who: Organiser) -> dict[str, Any]:
    with _problems(), transaction(engine) as s:
        camp = gi.create_campaign(s, who.actor, body.name.strip(), body.start_on, body.end_on,
                                  body.filter.model_dump(exclude_none=True))
        return gi.campaign_summary(s, camp)


@router.get("/inspections/campaigns", summary="Campaigns with their progress")
def list_campaigns(engine: EngineDep, _who: Staff) -> dict[str, Any]:
    from sqlalchemy import select

    from geodata.store.models import InspectionCampaign
    with transaction(engine) as s:
        camps = s.execute(select(InspectionCampaign).order_by(InspectionCampaign.id)).scalars().all()
        return {"campaigns": [gi.campaign_summary(s, c) for c in camps]}


@router.get("/inspections/campaigns/{campaign_id}", summary="One campaign: summary and its sites")
def get_campaign(campaign_id: CampaignId, engine: EngineDep, _who: Staff) -> dict[str, Any]:
    with _problems(), transaction(engine) as s:
        camp = gi.get_campaign(s, campaign_id)
        return {**gi.campaign_summary(s, camp), "site_list": gi.campaign_sites(s, camp)}


@router.get("/inspections/campaigns/{campaign_id}/sites", summary="The inspectors' site list: json, csv or xlsx",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}})
def campaign_sites(
    campaign_id: CampaignId, engine: EngineDep, _who: Staff,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Response:
    with _problems(), transaction(engine) as s:
        camp = gi.get_campaign(s, campaign_id)
        rows, name = gi.campaign_sites(s, camp), camp.name
    fname = f"campaign-{campaign_id}-sites"
    if format == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
        return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{fname}.csv"'})
    if format == "xlsx":
        out = io.BytesIO()
        wb = xlsxwriter.Workbook(out, {"in_memory": True})
        ws = wb.add_worksheet("Danh sach tram")
        bold = wb.add_format({"bold": True, "bg_color": "#EEEEEE"})
        ws.write(0, 0, name, bold)
        for c, h in enumerate(EXPORT_COLUMNS):
            ws.write(1, c, h, bold)
        for r, row in enumerate(rows, start=2):
            for c, h in enumerate(EXPORT_COLUMNS):
                v = row.get(h)
                ws.write(r, c, "" if v is None else v)
        ws.autofilter(1, 0, max(2, len(rows) + 1), len(EXPORT_COLUMNS) - 1)
        wb.close()
        return Response(out.getvalue(), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{fname}.xlsx"'})
    return JSONResponse({"campaign_id": campaign_id, "sites": rows})


@router.post("/inspections/campaigns/{campaign_id}/results", status_code=201,
             summary="Record one site's result; a violation raises a finding")
def record_result(campaign_id: CampaignId, body: ResultIn, engine: EngineDep, who: Inspector) -> dict[str, Any]:
    with _problems(), transaction(engine) as s:
        camp = gi.get_campaign(s, campaign_id)
        ins = gi.record_result(s, who.actor, camp, body.site_code, body.result, body.notes, body.inspected_on,
                               who.name)
        return gi.inspection_dict(ins)


@router.get("/inspections/{inspection_id}", summary="One inspection result with its photos")
def get_inspection(inspection_id: CampaignId, engine: EngineDep, _who: Staff) -> dict[str, Any]:
    with transaction(engine) as s:
        ins = s.get(Inspection, inspection_id)
        if ins is None:
            raise Problem(404, "Not found", f"no inspection {inspection_id}")
        return gi.inspection_dict(ins)


@router.post("/inspections/{inspection_id}/photos", status_code=201,
             summary="Upload a photo (JPEG, PNG or WebP; size-limited; content checked)")
async def upload_photo(
    inspection_id: CampaignId,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    who: Inspector,
    file: Annotated[UploadFile, File(description="The photo")],
) -> dict[str, Any]:
    limit = settings.max_photo_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise Problem(413, "Photo too large", f"photos may be at most {limit:,} bytes", limit_bytes=limit)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, "Photo too large", f"photos may be at most {limit:,} bytes", limit_bytes=limit)
    if not data:
        raise Problem(422, "Empty photo", "file: the upload is empty", field="file")
    with _problems(), transaction(engine) as s:
        photo = gi.add_photo(s, who.actor, inspection_id, data, file.content_type or "", file.filename,
                             FsPath(settings.upload_dir))
    return {k: v for k, v in photo.items() if k != "path"}


@router.get("/inspections/{inspection_id}/photos/{n}", summary="Download one photo")
def get_photo(inspection_id: CampaignId, n: Annotated[int, Path(ge=1, le=10000)], engine: EngineDep,
              settings: SettingsDep, _who: Staff) -> FileResponse:
    with transaction(engine) as s:
        ins = s.get(Inspection, inspection_id)
        photos = (ins.photos or []) if ins else []
    if not 1 <= n <= len(photos):
        raise Problem(404, "Not found", f"inspection {inspection_id} has no photo {n}")
    p = photos[n - 1]
    path = FsPath(settings.upload_dir) / p["path"]
    if not path.is_file():
        raise Problem(404, "Not found", "the photo file is missing from the upload directory")
    return FileResponse(path, media_type=p["content_type"])
