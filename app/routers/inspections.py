"""Inspection campaigns over HTTP: create from a site filter, list for inspectors (JSON/CSV/XLSX),
per-site results, photo uploads. Department staff only (planner, inspector, admin); operator keys 403.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, Path, Query, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from app.auth import AnyStaff, InspectorOrPlanner
from app.deps import EngineDep, SettingsDep
from app.errors import Problem
from app.schemas import IsoDate
from geodata.io.writers import tabular
from geodata.store.db import transaction
from geodata.store.idempotency import Answer, check_key
from geodata.work import inspections as gi
from planning.i18n import N_, _
from planning.vocab import InspectionResult, MastClass, SiteStatus

router = APIRouter(tags=["inspections"])

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_COLUMNS = ["code", "operator", "name", "address", "district", "commune", "mount", "mast_height_m",
                  "declared_class", "derived_class", "lat", "lon", "result", "inspected_on"]


class SiteFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: list[str] | None = Field(None, max_length=20, description="Operator codes, e.g. [VTL, VNP, MBF]")
    district: list[str] | None = Field(None, max_length=100)
    commune: list[str] | None = Field(None, max_length=500)
    derived_class: list[MastClass] | None = Field(
        None, validation_alias=AliasChoices("derived_class", "mast_class", "type"),
        description="Mast class (derived, else declared); `mast_class` and `type` are accepted too")
    status: list[SiteStatus] | None = None
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
    result: InspectionResult
    notes: str | None = Field(None, max_length=4000)
    inspected_on: IsoDate


@router.post("/inspections/campaigns", status_code=201, summary="Create a campaign from a site filter")
def create_campaign(body: CampaignIn, engine: EngineDep, who: AnyStaff) -> dict[str, Any]:
    with transaction(engine) as s:
        camp = gi.create_campaign(s, who.actor, body.name.strip(), body.start_on, body.end_on,
                                  body.filter.model_dump(exclude_none=True))
        return gi.campaign_summary(s, camp)


@router.get("/inspections/campaigns", summary="Campaigns with their progress")
def list_campaigns(engine: EngineDep, _who: AnyStaff) -> dict[str, Any]:
    with transaction(engine) as s:
        return {"campaigns": [gi.campaign_summary(s, c) for c in gi.list_campaigns(s)]}


@router.get("/inspections/campaigns/{campaign_id}", summary="One campaign: summary and its sites")
def get_campaign(campaign_id: CampaignId, engine: EngineDep, _who: AnyStaff) -> dict[str, Any]:
    with transaction(engine) as s:
        return gi.campaign_detail(s, campaign_id)


@router.get("/inspections/campaigns/{campaign_id}/sites", summary="The inspectors' site list: json, csv or xlsx",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}})
def campaign_sites(
    campaign_id: CampaignId, engine: EngineDep, _who: AnyStaff,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Response:
    return sites_export(engine, campaign_id, format)


def sites_export(engine: Engine, campaign_id: int, format: str) -> Response:
    """The inspectors' site list as JSON, CSV or XLSX; the workspace's export links give the same files."""
    with transaction(engine) as s:
        camp = gi.get_campaign(s, campaign_id)
        rows, name = gi.campaign_sites(s, camp), camp.name
    fname = f"campaign-{campaign_id}-sites"
    table = [[row.get(k) for k in EXPORT_COLUMNS] for row in rows]
    if format == "csv":
        return Response(tabular.csv_text(EXPORT_COLUMNS, table), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{fname}.csv"'})
    if format == "xlsx":
        sheet = tabular.Sheet("Danh sach tram", EXPORT_COLUMNS, table, title=name)
        return Response(tabular.xlsx_bytes([sheet]), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{fname}.xlsx"'})
    return JSONResponse({"campaign_id": campaign_id, "sites": rows})


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=100,
    description="Optional key made by the client (a UUID) for this one request. The first answer is kept "
                "under (caller, key): sending the request again with the same key returns that answer "
                "(same status and body, header `Idempotent-Replayed: true`) and creates nothing; the same "
                "key with a different request is 422. Keys of different callers never collide.")]
_IDEMPOTENT = {422: {"description": "Invalid body, or an Idempotency-Key already used for a different request"}}


def _answer(answer: Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@router.post("/inspections/campaigns/{campaign_id}/results", status_code=201,
             summary="Record one site's result; a violation raises a finding", responses=_IDEMPOTENT)
def record_result(campaign_id: CampaignId, body: ResultIn, engine: EngineDep,
                  who: InspectorOrPlanner, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """With an ``Idempotency-Key``, a retry after a lost answer returns the first inspection, not a second."""
    return _answer(gi.record_result_once(engine, who.actor, who.name, campaign_id, body.site_code, body.result,
                                         body.notes, body.inspected_on, check_key(idempotency_key)))


@router.get("/inspections/{inspection_id}", summary="One inspection result with its photos")
def get_inspection(inspection_id: CampaignId, engine: EngineDep, _who: AnyStaff) -> dict[str, Any]:
    with transaction(engine) as s:
        return gi.inspection_dict(gi.get_inspection(s, inspection_id))


@router.post("/inspections/{inspection_id}/photos", status_code=201,
             summary="Upload a photo (JPEG, PNG or WebP; size-limited; content checked)", responses=_IDEMPOTENT)
async def upload_photo(
    inspection_id: CampaignId,
    engine: EngineDep,
    settings: SettingsDep,
    who: InspectorOrPlanner,
    file: Annotated[UploadFile, File(description="The photo")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    key = check_key(idempotency_key)
    data = await read_photo(file, settings.max_photo_bytes)
    return _answer(await run_in_threadpool(gi.add_photo_once, engine, who.actor, inspection_id, data,
                                           file.content_type or "", file.filename, FsPath(settings.upload_dir), key))


async def read_photo(file: StarletteUpload, limit: int) -> bytes:
    """The upload's bytes: 413 past ``limit`` (the whole body was capped by app.gate), 422 when empty."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, N_("Photo too large"), _("photos may be at most {limit:,} bytes",
                                                    limit=limit), limit_bytes=limit)
    if not data:
        raise Problem(422, N_("Empty photo"), _("file: the upload is empty"), field="file")
    return data


@router.get("/inspections/{inspection_id}/photos/{n}", summary="Download one photo")
def get_photo(inspection_id: CampaignId, n: Annotated[int, Path(ge=1, le=10000)], engine: EngineDep,
              settings: SettingsDep, _who: AnyStaff) -> FileResponse:
    with transaction(engine) as s:
        path, content_type = gi.photo_file(s, inspection_id, n, FsPath(settings.upload_dir))
    return FileResponse(path, media_type=content_type)
