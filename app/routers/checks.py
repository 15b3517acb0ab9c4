"""Planning checks over HTTP: one proposed site (``POST /checks/site``) and the stored findings of the
A1-route and spacing checks (``GET /checks/a1-routes``, ``GET /checks/spacing``).

``POST /checks/site`` validates the Feature exactly as a ``new_site`` item of a plan submission
(:func:`planning.plan_items.parse_feature`), so a firm gets the same answer from a quick check and
from appraisal; the planning context (A1 pieces, existing masts, communes) is built once per data
version by :func:`geodata.work.checks.planning_context`, so a check costs milliseconds, not a reload.

The stored findings are those of the last run (``btsplan check …`` or ``POST /checks/{check}/run``);
they are read page by page from the ``findings`` table with whitelisted filters, and downloaded
whole as CSV (UTF-8 with BOM, the CLI's columns), XLSX or GeoJSON.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from app import downloads, schemas
from app.auth import OptionalPrincipal, PlannerOrAdmin

from app.deps import MAX_OFFSET, EngineDep, SettingsDep, public_base
from app.errors import Problem
from geodata.errors import InvalidParameter
from geodata.work import checks as gchecks
from geodata.serve import features as gf
from geodata.io import writers
from geodata.store.area import ProvinceArea, province_area
from geodata.store.meta import data_version
from geodata.io.exports import FINDING_EXPORT_COLUMNS, Column, ExportLayer
from planning.checks import check_site
from planning.geometry import WGS84, project_xy
from planning.findings import FINDING_CSV_FIELDS
from planning.plan_items import parse_feature
from planning.rules import RulePack, pack_for_province
from planning.vocab import CheckName
from planning.i18n import N_, _, gettext

router = APIRouter(tags=["planning checks"])


FINDING_FILTERS = ("severity", "rule", "operator", "site_code", "district", "commune", "zone", "route")

_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [106.6812, 20.8610]},
    "properties": {"code": "HP-VTL-NEW-001", "operator": "VTL", "mount": "building", "mast_height_m": 12.0,
                   "building_height_m": 24.0, "reach_m": 1.2, "camouflaged": False, "declared_class": "A2a"},
}


@lru_cache(maxsize=8)
def _pack(name: str) -> RulePack:
    return pack_for_province(name)


def _invalid(errors: list[dict[str, str]]) -> Problem:
    first = errors[0]
    return Problem(422, N_("Invalid site"), f"{first['field']}: {first['message']}", field=first["field"],
                   errors=errors)


def parse_site_feature(body: Any, area: ProvinceArea) -> tuple[dict[str, Any], float, float]:
    """(properties, lon, lat) of a proposed-site Feature, or 422 naming the failing field."""
    if not isinstance(body, dict):
        raise _invalid([{"field": "body", "message": "must be a GeoJSON Feature object"}])
    if body.get("type") != "Feature":
        raise _invalid([{"field": "type", "message": "must be \"Feature\" (a GeoJSON Feature with a Point)"}])
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _invalid([{"field": "properties", "message": "must be an object with the site's fields "
                                                         "(mount, mast_height_m, building_height_m, …)"}])
    extra: dict[str, Any] = {}
    props = dict(props)
    item = props.pop("item", "new_site")
    if item != "new_site":
        raise _invalid([{"field": "properties.item", "message": "a check takes a proposed new_site"}])
    operator = props.pop("operator", None)
    if operator is not None:
        if not isinstance(operator, str) or not 1 <= len(operator.strip()) <= 20:
            raise _invalid([{"field": "properties.operator", "message": "must be an operator code (text)"}])
        extra["operator"] = operator.strip()
    body = {**body, "properties": {**props, "item": "new_site"}}
    feature, errs = parse_feature(0, body)
    if errs or feature is None:
        raise _invalid([{"field": e.field, "message": e.message} for e in errs])
    lon, lat = feature["geometry"]["coordinates"][:2]
    if not area.contains(lon, lat):
        message = (_("[{lon:g}, {lat:g}] is outside {province} ({how}): longitude and latitude swapped?",
                     lon=lon, lat=lat, province=area.name, how=area.described) if area.contains(lat, lon) else
                   _("[{lon:g}, {lat:g}] is outside {province} ({how})", lon=lon, lat=lat, province=area.name,
                     how=area.described))
        raise _invalid([{"field": "geometry.coordinates", "message": message}])
    out = {k: v for k, v in feature["properties"].items() if k != "item"}
    return {**out, **extra}, float(lon), float(lat)


#: Threads that run ``POST /checks/site``, apart from the shared pool of the sync endpoints (anyio's,
#: 40 tokens). Measured under the load mix (benchmarks/bench_load.py, py-spy): while a worker built its
#: planning context (seconds at a million masts) every check that arrived blocked a pool thread on the
#: context lock, until tiles and feature queries found no thread left and queued for seconds; and
#: anyio retires a thread idle for 10 s, so new threads kept paying pyproj's per-thread transformer
#: set-up (~35 ms) on their first check. These threads are few (a check is CPU work under the
#: interpreter lock: more threads only queue inside it) and live as long as the process.
CHECK_THREADS = 4
_check_pool: ThreadPoolExecutor | None = None
_check_pool_lock = threading.Lock()


def check_pool() -> ThreadPoolExecutor:
    """The process's site-check threads (created on first use; a forked worker makes its own)."""
    global _check_pool
    with _check_pool_lock:
        if _check_pool is None:
            _check_pool = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="site-check")
        return _check_pool


def _run_check(engine: Any, settings: Any, feature: Any) -> JSONResponse:
    """The check itself (on a check thread): one connection reads the province outline and the data
    version, and the context of exactly that version answers (its ``data_version`` is in the answer)."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        area = province_area(conn, settings.province)
        version = data_version(conn)
    props, lon, lat = parse_site_feature(feature, area)
    pack = _pack(settings.province)
    t1 = time.perf_counter()
    ctx = gchecks.planning_context(engine, pack, metric_crs=settings.metric_crs, version=version)
    t2 = time.perf_counter()
    result = check_site(ctx, props, lon, lat)
    t3 = time.perf_counter()
    timing = (f"db;dur={(t1 - t0) * 1000:.1f}, context;dur={(t2 - t1) * 1000:.1f}, "
              f"check;dur={(t3 - t2) * 1000:.1f}")
    return JSONResponse(result, headers={"Server-Timing": timing, "X-Data-Version": str(ctx.data_version)})


def warm_site_checks(engine: Any, settings: Any) -> None:
    """Build the planning context and each check thread's coordinate transformer ahead of the first
    request (``btsplan serve`` calls this at start-up, see ``BTSPLAN_WARM_CHECK_CONTEXT``); a failure
    only means the first check builds it."""
    pool = check_pool()
    ready = threading.Barrier(CHECK_THREADS)

    def warm_thread() -> None:
        project_xy([106.0], [21.0], WGS84, settings.metric_crs)
        try:  # hold this thread until every check thread has started, so each one warms itself
            ready.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass

    for _thread in range(CHECK_THREADS):
        pool.submit(warm_thread)
    pool.submit(gchecks.planning_context, engine, _pack(settings.province), metric_crs=settings.metric_crs)


@router.post(
    "/checks/site",
    summary="Check one proposed site: derived class with reasons, A1 zone/route findings, spacing, co-location",
    response_model=schemas.SiteCheckResult,
    responses={422: {"description": "Invalid GeoJSON, coordinates out of range, wrong property types "
                                    "(problem+json naming the field)"}},
)
async def check_one_site(
    engine: EngineDep,
    settings: SettingsDep,
    _who: OptionalPrincipal,
    feature: Annotated[dict[str, Any], Body(description="GeoJSON Feature (Point, WGS84) with the site's properties",
                                             openapi_examples={"rooftop A2a": {"value": _EXAMPLE}})],
) -> JSONResponse:
    # on the check threads, with this request's context variables (its language)
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        check_pool(), partial(ctx.run, _run_check, engine, settings, feature))


# --------------------------------------------------------------------------------------------
# stored findings
# --------------------------------------------------------------------------------------------

def _findings_query(request: Request, check: str, limit: int, offset: int, bbox: str | None) -> gf.ItemsQuery:
    coll = gf.COLLECTIONS["findings"]
    q = gf.ItemsQuery(limit=limit, offset=offset)
    q.filters["check"] = check
    allowed = {"limit", "offset", "format", "bbox", *FINDING_FILTERS}
    for key in request.query_params:
        if key not in allowed:
            raise InvalidParameter(key, gettext("unknown parameter; allowed: {allowed}", allowed=", ".join(sorted(allowed))))
    for name in FINDING_FILTERS:
        value = request.query_params.get(name)
        if value is not None:
            q.filters[name] = gf.parse_filter(coll.queryables[name], value)
    if bbox is not None:
        q.area = gf.parse_bbox(bbox, gf.OutputCrs(gf.CRS84, None, False))
    return q


def _records(page: gf.Page) -> list[dict[str, Any]]:
    """Stored findings in the §3.5 shape (``zone`` or ``route`` only when set)."""
    out = []
    for p in page.properties:
        rec = {"check": p["check"], "rule": p["rule"], "severity": p["severity"], "site_code": p["site_code"],
               "operator": p["operator"]}
        for k in ("zone", "route", "other_site_code"):
            if p.get(k) is not None:
                rec[k] = p[k]
        d = p.get("distance_m")
        rec.update({"distance_m": None if d is None else round(float(d), 2), "district": p["district"],
                    "commune": p["commune"], "legal_source": p["legal_source"], "message": p["message"]})
        out.append(rec)
    return out


def _download(engine: Any, coll: gf.CollectionDef, q: gf.ItemsQuery, check: str, fmt: str) -> Response:
    """Every matching finding through the I/O module's writers (the CLI's CSV columns)."""
    known = {c.name: c for c in FINDING_EXPORT_COLUMNS}
    columns = [Column(f, known[f].label if f in known else f, "float" if f == "distance_m" else "text",
                      values=known[f].values if f in known else None) for f in FINDING_CSV_FIELDS]

    def chunks() -> Iterator[pd.DataFrame]:
        for page in gf.iter_pages(engine, coll, q, gf.OutputCrs(gf.CRS84, None, False)):
            recs = _records(page)
            frame = pd.DataFrame({f: [r.get(f) for r in recs] for f in FINDING_CSV_FIELDS})
            frame["geometry"] = page.shapes
            yield frame

    flt = "; ".join(f"{k}={v}" for k, v in q.filters.items())
    layer = ExportLayer(f"findings-{check}", _("Findings: {check}", check=check), columns, "Point", chunks, flt,
                        class_field="severity")
    fname = downloads.filename("findings", check, q.filters.get("district"), q.filters.get("operator"),
                               q.filters.get("severity"), ext=fmt)
    return downloads.stream(writers.stream(layer, fmt), writers.FORMATS[fmt].media_type, fname)


def _stored_findings(request: Request, engine: Any, check: str, fmt: str, limit: int, offset: int,
                     bbox: str | None) -> Response:
    coll = gf.COLLECTIONS["findings"]
    q = _findings_query(request, check, limit, offset, bbox)
    if fmt in ("csv", "xlsx", "geojson"):
        return _download(engine, coll, q, check, fmt)
    page = gf.query_items(engine, coll, q, gf.OutputCrs(gf.CRS84, None, False))
    records = _records(page)
    body: dict[str, Any] = {"check": check, "findings": records, "count": page.matched,
                            "returned": len(records), "limit": q.limit, "offset": q.offset}
    if len(records) == q.limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
        params.append(("offset", str(q.offset + q.limit)))
        body["next"] = f"{public_base(request)}{request.url.path}?{urlencode(params)}"
    return JSONResponse(body)


_FINDING_DOC = ("Stored findings of the last run, ordered as reports read them (violations first). Filters: "
                "`severity`, `rule`, `operator`, `site_code`, `district`, `commune`, `zone`, `route`, `bbox`. "
                "`format=json` (paged, with a `next` URL) or `csv` / `xlsx` / `geojson` (every matching finding).")

_FINDING_DOWNLOADS: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
    "application/geo+json": {}}}}
Fmt = Annotated[Literal["json", "csv", "xlsx", "geojson"], Query(description="Output format")]
Limit = Annotated[int, Query(ge=1, le=gf.MAX_LIMIT, description="Findings per page (json)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Findings to skip (json)")]
Bbox = Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")]


@router.get("/checks/a1-routes", summary="A2a masts on A1-only routes and zones (stored findings)",
            description=_FINDING_DOC, response_model=schemas.FindingsPage, responses=_FINDING_DOWNLOADS)
def a1_routes(request: Request, engine: EngineDep, format: Fmt = "json", limit: Limit = 100, offset: Offset = 0,
              bbox: Bbox = None) -> Response:
    return _stored_findings(request, engine, "a1-routes", format, limit, offset, bbox)


@router.get("/checks/spacing", summary="Masts too close to existing ones: share or move (stored findings)",
            description=_FINDING_DOC, response_model=schemas.FindingsPage, responses=_FINDING_DOWNLOADS)
def spacing(request: Request, engine: EngineDep, format: Fmt = "json", limit: Limit = 100, offset: Offset = 0,
            bbox: Bbox = None) -> Response:
    return _stored_findings(request, engine, "spacing", format, limit, offset, bbox)


@router.post("/checks/{check}/run", summary="Run a check now and replace its stored findings (planner, admin)",
             response_model=schemas.CheckRun)
def run_check(
    engine: EngineDep,
    settings: SettingsDep,
    check: CheckName,
    _who: PlannerOrAdmin,
) -> JSONResponse:
    pack = _pack(settings.province)
    t0 = time.perf_counter()
    found = gchecks.run_checks(engine, pack, [check], metric_crs=settings.metric_crs, store=True)
    return JSONResponse({"check": check, "count": len(found), "seconds": round(time.perf_counter() - t0, 3),
                         "rule_pack": {"id": pack.id, "version": pack.version}})

