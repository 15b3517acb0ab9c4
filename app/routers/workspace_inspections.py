"""The inspector's workspace, made for a phone in the field: ``/workspace/inspections``.

Pages: the campaigns with their progress and export links, and one campaign with its sites on the
map and as a list, and the result form (result, notes, photos from the phone camera). The form works
without script (a multipart post, redirected back); with script (``static/js/workspace/inspections.js``)
each result goes into a queue kept on the phone (IndexedDB) first and is sent from there, so a result
entered without a connection is kept and sent when the connection returns.

Never lost, never twice: every queued result and photo carries a key made on the phone, and
:mod:`geodata.store.idempotency` keeps the first answer under (staff member, key), so a request sent
again after its answer was lost gets that answer back instead of storing a second row.

CSRF: a queued request may be sent long after the page that queued it was drawn (or from a page the
service worker served from its cache), so it does not carry the token of that page. Just before it
sends, the queue asks :func:`session_info` (never cached) for the live session's token and user name,
and sends the token in ``X-CSRF-Token``. When the session has ended (401), nothing is sent: the
queue waits, the page says to sign in again, and after the new sign-in the new session's token is used;
entries queued by another user are never sent under this one's name.

The service worker (``/workspace/sw.js``, scope ``/workspace/``) keeps the pages and assets needed
offline; :func:`offline_manifest` lists them for its install step.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.errors import Problem
from app.routers.inspections import read_photo, sites_export
from app.web import current_staff, render, require_staff
from geodata.errors import InvalidField
from geodata.store import staff
from geodata.store.db import transaction
from geodata.store.idempotency import Answer, check_key
from geodata.work import inspections as gi
from planning import i18n
from planning.i18n import N_, _
from planning.vocab import INSPECTION_RESULTS

router = APIRouter(prefix="/workspace", include_in_schema=False)
Inspecting = Annotated[staff.StaffPrincipal, Depends(require_staff("inspector", "planner", "admin"))]
#: who may record a result: as in the API (``InspectorOrPlanner``), an admin only reads
Recording = Annotated[staff.StaffPrincipal, Depends(require_staff("inspector", "planner"))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]

STATIC = FsPath(__file__).resolve().parents[1] / "static"
SERVICE_WORKER = STATIC / "js" / "workspace" / "sw.js"
#: what a phone needs offline besides the pages: every ES module the pages import, their styles, MapLibre
OFFLINE_ASSET_GLOBS = ("js/*.js", "js/workspace/*.js", "css/*.css", "vendor/htmx/*.js", "vendor/maplibre-gl/*.mjs",
                       "vendor/maplibre-gl/*.css")
#: a campaign stays in the phone's offline copy until this many days after its end date
OFFLINE_AFTER_END_DAYS = 14
RESULT_LABELS = {"conforms": N_("Conforms (no violation found)"), "violation": N_("Violation found")}


def result_label(code: str | None) -> str:
    return i18n.gettext(RESULT_LABELS[code]) if code in RESULT_LABELS else ""


@router.get("/inspections")
def campaigns_page(request: Request, who: Inspecting) -> Response:
    """The campaigns with their progress and the export links of each site list."""
    with transaction(request.app.state.engine) as session:
        campaigns = [gi.campaign_summary(session, c) for c in gi.list_campaigns(session)]
    return render(request, "workspace/inspections.html", {"campaigns": campaigns}, who=who)


@router.get("/inspections/{campaign_id}")
def campaign_page(request: Request, campaign_id: Id, who: Inspecting) -> Response:
    """One campaign: its sites on the map and as a list, and the result form (``?site=CODE`` picks one)."""
    with transaction(request.app.state.engine) as session:
        detail = gi.campaign_detail(session, campaign_id)
    site = request.query_params.get("site", "")
    today = dt.date.today()
    start, end = dt.date.fromisoformat(detail["start_on"]), detail["end_on"]
    day = min(max(today, start), dt.date.fromisoformat(end)) if end else max(today, start)
    return render(request, "workspace/campaign.html", {
        "campaign": detail, "sites": detail["site_list"], "selected": site, "results": INSPECTION_RESULTS,
        "result_label": result_label, "today": day.isoformat(), "form_key": str(uuid.uuid4()),
        "saved": request.query_params.get("saved", ""), "max_photo_bytes": request.app.state.settings.max_photo_bytes,
    }, who=who)


@router.get("/inspections/{campaign_id}/sites.geojson")
def campaign_sites_geojson(request: Request, campaign_id: Id, who: Inspecting) -> JSONResponse:
    """The campaign's sites for its map, each with its latest result (``none`` before the first)."""
    with transaction(request.app.state.engine) as session:
        rows = gi.campaign_sites(session, gi.get_campaign(session, campaign_id))
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                 "properties": {"code": r["code"], "name": r["name"], "operator": r["operator"],
                                "result": r["result"] or "none"}}
                for r in rows if r["lon"] is not None]
    return JSONResponse({"type": "FeatureCollection", "features": features}, headers={"Cache-Control": "no-store"})


@router.get("/inspections/{campaign_id}/sites.{format}")
def campaign_sites_export(request: Request, campaign_id: Id, format: str, who: Inspecting) -> Response:
    """The campaign's site list as CSV or XLSX: the same files ``GET /inspections/campaigns/{id}/sites``
    gives an API key (a session cannot call key-only endpoints, so the workspace links here)."""
    if format not in ("csv", "xlsx"):
        raise Problem(404, N_("Not found"), N_("the site list is exported as csv or xlsx"))
    return sites_export(request.app.state.engine, campaign_id, format)


def _answer(answer: Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def _day(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value or ""))
    except ValueError:
        raise InvalidField(_("must be a date (YYYY-MM-DD)"), "inspected_on") from None


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.post("/inspections/{campaign_id}/results")
async def record_result(request: Request, campaign_id: Id, who: Recording) -> Response:
    """One site's result. From the phone's queue: JSON with the key in ``Idempotency-Key``, answered
    with the inspection (201; a replay gets the same). From the plain form (no script): multipart with
    the key in a hidden field and the photos attached, answered with a redirect back to the campaign."""
    settings = request.app.state.settings
    engine = request.app.state.engine
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise InvalidField(_("must be a JSON object"), "body")
        notes = _text(body.get("notes"), 4000) or None
        result = _text(body.get("result"), 20)
        answer = await run_in_threadpool(gi.record_result_once, engine, who.actor, who.name, campaign_id,
                                         _text(body.get("site_code"), 50), result, notes,
                                         _day(body.get("inspected_on")), check_key(request.headers.get("idempotency-key")))
        return _answer(answer)
    form = await request.form()
    key = check_key(_text(form.get("idempotency_key"), 100) or None, "idempotency_key")
    site_code = _text(form.get("site_code"), 50)
    answer = await run_in_threadpool(gi.record_result_once, engine, who.actor, who.name, campaign_id, site_code,
                                     _text(form.get("result"), 20), _text(form.get("notes"), 4000) or None,
                                     _day(form.get("inspected_on")), key)
    # request.form() gives Starlette's UploadFile (FastAPI's is a subclass); the database work runs in
    # the thread pool so it does not hold up the event loop
    for n, upload in enumerate(p for p in form.getlist("photos") if isinstance(p, UploadFile) and p.filename):
        data = await read_photo(upload, settings.max_photo_bytes)
        await run_in_threadpool(gi.add_photo_once, engine, who.actor, int(answer.body["id"]), data,
                                upload.content_type or "", upload.filename, FsPath(settings.upload_dir),
                                f"{key}.photo-{n + 1}" if key else None)
    return RedirectResponse(f"/workspace/inspections/{campaign_id}?saved={quote(site_code, safe='')}",
                            status_code=303)


@router.post("/inspections/results/{inspection_id}/photos")
async def upload_photo(request: Request, inspection_id: Id, who: Recording) -> JSONResponse:
    """One photo of a recorded result, sent from the phone's queue (multipart field ``file``) with its
    own key in ``Idempotency-Key``; a replay gets the first answer and stores nothing."""
    settings = request.app.state.settings
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidField(_("no photo in the upload"), "file")
    data = await read_photo(upload, settings.max_photo_bytes)
    return _answer(await run_in_threadpool(gi.add_photo_once, request.app.state.engine, who.actor, inspection_id,
                                           data, upload.content_type or "", upload.filename,
                                           FsPath(settings.upload_dir), check_key(request.headers.get("idempotency-key"))))


@router.get("/inspections-session")
def session_info(request: Request) -> JSONResponse:
    """The live session's CSRF token and user name, for the queue just before it sends (never cached).

    401 without a session: the queue keeps its entries until the inspector signs in again."""
    if request.headers.get("authorization") is not None:
        raise Problem(403, N_("Forbidden"), N_("API keys cannot open the workspace; sign in at /auth/login"))
    who = current_staff(request)
    if who is None:
        raise Problem(401, N_("Unauthorized"), N_("sign in at /auth/login first"))
    return JSONResponse({"username": who.username, "role": who.role, "csrf_token": who.csrf_token},
                        headers={"Cache-Control": "no-store"})


@router.get("/inspections-offline.json")
def offline_manifest(request: Request, who: Inspecting) -> JSONResponse:
    """What the service worker keeps for use without a connection: the inspector pages (the campaign
    list, each campaign and its map data) and the static assets they load."""
    since = dt.date.today() - dt.timedelta(days=OFFLINE_AFTER_END_DAYS)
    with transaction(request.app.state.engine) as session:  # finished campaigns are not worth a phone's data
        ids = [c.id for c in gi.list_campaigns(session) if c.end_on is None or c.end_on >= since]
    pages = ["/workspace/inspections"]
    for cid in ids:
        pages += [f"/workspace/inspections/{cid}", f"/workspace/inspections/{cid}/sites.geojson"]
    assets = sorted({f"/static/{p.relative_to(STATIC).as_posix()}" for g in OFFLINE_ASSET_GLOBS
                     for p in STATIC.glob(g) if p.name != "sw.js"})
    return JSONResponse({"user": who.username, "pages": pages, "assets": assets},
                        headers={"Cache-Control": "no-store"})


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """The inspector workspace's service worker. Served from ``/workspace/`` so its scope may be the
    workspace (the file lives with the other scripts; ``Service-Worker-Allowed`` says the same);
    ``no-cache`` so a phone picks up a new version on its next visit."""
    return FileResponse(SERVICE_WORKER, media_type="text/javascript; charset=utf-8", headers={
        "Cache-Control": "no-cache", "Service-Worker-Allowed": "/workspace/"})
