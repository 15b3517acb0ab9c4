"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0) with Part 2 CRS and Part 3 queryables.

What real clients need, from QGIS's and GDAL's OAPIF sources: a landing page whose ``service-desc``
link is typed ``application/vnd.oai.openapi+json;version=3.0`` (served at ``/api``: FastAPI's
OpenAPI 3.1 document rewritten to 3.0), a ``data`` link, paging only through ``next`` links typed
``application/geo+json``, a top-level integer feature ``id``, queryables/schema documents with
stable property types, and the ``limit`` maximum declared in the OpenAPI. Every resource answers JSON
unless the client prefers HTML (``?f=html`` or ``text/html`` ranked first, see :mod:`app.negotiation`):
OWSLib sends ``Accept: */*`` and must get JSON. ``GET /`` is the map page for browsers; the other
resources' HTML is their JSON document as a page.

Errors in OGC query parameters answer 400 problem+json naming the parameter (the OGC requirement);
unknown parameters are refused the same way, so a typo never silently returns everything.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from app import openapi, schemas
from app.negotiation import html_page, json_response, landing_wants_html, wants_html
from app.routers import ogc_tiles
from app.deps import MAX_OFFSET, ReadEngineDep, SettingsDep, public_base
from app.errors import Problem, one_of
from geodata.errors import InvalidParameter
from geodata.serve import cql2
from geodata.serve import features as gf
from geodata.serve.cql2 import FILTER_LANGS
from planning.i18n import N_, _, gettext

router = APIRouter(tags=["OGC API Features"])

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
STATIC_INDEX = FsPath(__file__).resolve().parent.parent / "static" / "index.html"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    # Part 3 filtering with CQL2 (geodata/serve/cql2.py); no temporal-functions class: pygeofilter
    # reads T_AFTER etc. only infix in CQL2 text, and S_DWITHIN not at all
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
]

#: Parameters every ``/items`` request may carry besides the collection's queryables.
ITEMS_PARAMS = ("limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "filter", "filter-lang", "filter-crs", "f")

CollectionId = Annotated[str, Path(alias="collectionId", description="Collection id, e.g. `sites`",
                                   examples=list(gf.COLLECTIONS))]
FeatureId = Annotated[str, Path(alias="featureId", description="Feature id (or the code, for sites and cable sections)",
                                max_length=60)]
Format = Annotated[str | None, Query(description="Output format: `json` or `html` (default: JSON unless the "
                                                 "Accept header prefers text/html)")]


def _collection_def(collection_id: str) -> gf.CollectionDef:
    return one_of(gf.COLLECTIONS, collection_id, N_("Collection not found"),
                  _("no collection {id!r}", id=collection_id))


def _answer(request: Request, html: bool, title: str, resp: Response) -> Response:
    """``resp`` (JSON), or the same document as an HTML page (``html``, from :func:`wants_html`, asked
    before any work so that a bad ``f`` costs nothing); either way varying by ``Accept``."""
    out = html_page(request, title, json.loads(resp.body)) if html else resp
    out.headers["Vary"] = "Accept"
    return out


# --------------------------------------------------------------------------------------------
# landing page, API description, conformance
# --------------------------------------------------------------------------------------------

_FALLBACK_HTML = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>btsplan</title></head>
<body><h1>btsplan</h1><p>Quy hoạch hạ tầng kỹ thuật viễn thông thụ động — passive telecom infrastructure planning.</p>
<ul><li><a href="collections?f=json">Collections (OGC API Features)</a></li>
<li><a href="conformance">Conformance</a></li><li><a href="docs">API documentation</a></li></ul></body></html>"""


@router.get("/", summary="Landing page: the map (HTML) or the OGC API landing document (JSON)",
            response_model=schemas.LandingPage,
            responses={200: {"content": {"text/html": {}, JSON: {}}}})
def landing(request: Request, f: Format = None) -> Response:
    if landing_wants_html(request, f):
        html = STATIC_INDEX.read_text(encoding="utf-8") if STATIC_INDEX.is_file() else _FALLBACK_HTML
        return HTMLResponse(html, headers={"Vary": "Accept, User-Agent"})
    b = public_base(request)
    body = schemas.LandingPage(
        title="btsplan — quy hoạch hạ tầng viễn thông thụ động",
        description="BTS sites and mast classes, A1-only zones and routes, cable undergrounding "
                    "(OGC API – Features, vector tiles, planning checks).",
        links=[
            schemas.Link(href=f"{b}/?f=json", rel="self", type=JSON, title="This document"),
            schemas.Link(href=f"{b}/", rel="alternate", type="text/html", title="Interactive map"),
            schemas.Link(href=f"{b}/api", rel="service-desc", type=OPENAPI_30, title="API definition (OpenAPI 3.0)"),
            schemas.Link(href=f"{b}/docs", rel="service-doc", type="text/html", title="API documentation"),
            schemas.Link(href=f"{b}/conformance", rel="conformance", type=JSON, title="Conformance classes"),
            schemas.Link(href=f"{b}/collections", rel="data", type=JSON, title="Collections"),
            schemas.Link(href=f"{b}/tileMatrixSets", rel=ogc_tiles.REL_TILING_SCHEMES, type=JSON,
                         title="Tile matrix sets (OGC API Tiles)"),
        ],
    )
    return json_response(body.model_dump(exclude_none=True), headers={"Vary": "Accept, User-Agent"})


@router.get("/api", summary="API definition as OpenAPI 3.0 (for OGC clients; /openapi.json is 3.1)",
            response_class=Response, responses={200: {"content": {OPENAPI_30: {}}}})
def api_definition(request: Request) -> Response:
    return Response(openapi.openapi30(request.app), media_type=OPENAPI_30)


@router.get("/conformance", summary="Conformance classes", response_model=schemas.Conformance)
def conformance(request: Request, f: Format = None) -> Response:
    html = wants_html(request, f)
    body = {"conformsTo": CONFORMANCE + ogc_tiles.CONFORMANCE}
    return _answer(request, html, "Conformance classes", json_response(body))


# --------------------------------------------------------------------------------------------
# collections
# --------------------------------------------------------------------------------------------

def _collection_doc(request: Request, engine: Any, settings: Any, coll: gf.CollectionDef) -> dict[str, Any]:
    b = f"{public_base(request)}/collections/{coll.id}"
    ext = gf.extent(engine, coll)
    extent: dict[str, Any] = {}
    if ext["bbox"]:
        extent["spatial"] = {"bbox": [ext["bbox"]], "crs": gf.CRS84}
    if ext["interval"]:
        extent["temporal"] = {"interval": [ext["interval"]],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    doc: dict[str, Any] = {
        "id": coll.id,
        "title": coll.title,
        "description": coll.description,
        "links": [
            {"href": b, "rel": "self", "type": JSON, "title": "This collection"},
            {"href": f"{b}/items", "rel": "items", "type": GEOJSON, "title": "Features (GeoJSON)"},
            {"href": f"{b}/queryables", "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": SCHEMA_JSON, "title": "Queryable properties"},
            # the draft's name for the same link: GDAL 3.6 and older look for it (see _schema_doc)
            {"href": f"{b}/queryables", "rel": "queryables", "type": JSON, "title": "Queryable properties"},
            {"href": f"{b}/schema", "rel": "describedby", "type": SCHEMA_JSON, "title": "Feature schema"},
            {"href": f"{b}/schema", "rel": "http://www.opengis.net/def/rel/ogc/1.0/schema",
             "type": SCHEMA_JSON, "title": "Feature schema"},
        ],
        "itemType": "feature",
        "crs": gf.supported_crs(settings.metric_crs),
        "storageCrs": gf.CRS84,
    }
    if extent:
        doc["extent"] = extent
    if coll.id in _TILE_LAYERS:
        doc["links"].append({"href": f"{public_base(request)}/tiles/{coll.id}/tilejson.json", "rel": "tiles",
                             "type": JSON, "title": "Vector tiles (TileJSON)"})
        doc["links"].append({"href": f"{b}/tiles", "rel": ogc_tiles.REL_TILESETS_VECTOR, "type": JSON,
                             "title": "Vector tilesets (OGC API Tiles)"})
    return doc


#: Collections that also have a vector-tile layer (see app/routers/tiles.py).
_TILE_LAYERS = {"sites", "zones", "routes", "cable-segments", "admin-units", "findings"}


@router.get("/collections", summary="Feature collections", response_model=schemas.Collections)
def collections(request: Request, engine: ReadEngineDep, settings: SettingsDep, f: Format = None) -> Response:
    html = wants_html(request, f)
    b = public_base(request)
    return _answer(request, html, "Collections", json_response({
        "links": [{"href": f"{b}/collections", "rel": "self", "type": JSON, "title": "Collections"}],
        "collections": [_collection_doc(request, engine, settings, c) for c in gf.COLLECTIONS.values()],
    }))


@router.get("/collections/{collectionId}", summary="One feature collection", response_model=schemas.Collection)
def collection(request: Request, engine: ReadEngineDep, settings: SettingsDep, collection_id: CollectionId,
               f: Format = None) -> Response:
    html = wants_html(request, f)
    coll = _collection_def(collection_id)
    return _answer(request, html, coll.title, json_response(_collection_doc(request, engine, settings, coll)))


@router.get("/collections/{collectionId}/queryables", summary="Queryable properties (JSON Schema)",
            response_class=Response, responses={200: {"content": {SCHEMA_JSON: {}}}})
def queryables(request: Request, collection_id: CollectionId, f: Format = None) -> Response:
    return _schema_doc(request, collection_id, f, "queryables")


@router.get("/collections/{collectionId}/schema", summary="Feature schema (JSON Schema, stable property types)",
            response_class=Response, responses={200: {"content": {SCHEMA_JSON: {}}}})
def feature_schema(request: Request, collection_id: CollectionId, f: Format = None) -> Response:
    return _schema_doc(request, collection_id, f, "schema")


def _schema_doc(request: Request, collection_id: str, f: str | None,
                kind: Literal["queryables", "schema"]) -> Response:
    """Both JSON Schema documents of a collection: ``queryables`` lists only the filterable properties
    (and forbids others), ``schema`` every published one; each names its own URL as ``$id``."""
    html = wants_html(request, f)
    coll = _collection_def(collection_id)
    url = f"{public_base(request)}/collections/{coll.id}/{kind}"
    body = gf.json_schema(coll, url, queryables_only=kind == "queryables")
    if kind == "queryables" and _draft_client(request.headers.get("accept", "")):
        # Clients of the filtering draft (GDAL's OAPIF driver up to 3.6) accept only application/json
        # and read the draft's list of queryable ids; without it they filter every feature locally
        # instead of sending ``filter``. They get the same schema, as JSON, with that list added.
        body["queryables"] = [{"id": name, "title": p.title, "type": p.type}
                              for name, p in coll.filterables.items()]
        return _answer(request, html, f"{coll.title}: {kind}", json_response(body, JSON))
    return _answer(request, html, f"{coll.title}: {kind}", json_response(body, SCHEMA_JSON))


def _draft_client(accept: str) -> bool:
    """An Accept naming application/json but no JSON Schema type (and no wildcard)."""
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return JSON in types and not (types & {SCHEMA_JSON, "application/*", "*/*"})


# --------------------------------------------------------------------------------------------
# items
# --------------------------------------------------------------------------------------------


def _page_url(request: Request, offset: int, limit: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    params += [("limit", str(limit)), ("offset", str(offset))]
    return f"{public_base(request)}{request.url.path}?{urlencode(params)}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection (GeoJSON), with paging, bbox, datetime, CRS and property filters",
    description="Besides the parameters below, every queryable property of the collection "
                "(see `/collections/{collectionId}/queryables`) is a filter: `?operator=VTL&derived_class=A2a`. "
                "`district`/`commune` accept a code or a name. Page with the `next` link.",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {"schema": schemas.FeatureCollectionDoc.model_json_schema()}}},
               400: {"description": "Invalid query parameter (problem+json naming it)"},
               404: {"description": "No such collection"}},
)
def items(
    request: Request,
    engine: ReadEngineDep,
    settings: SettingsDep,
    collection_id: CollectionId,
    limit: Annotated[int, Query(ge=1, description="Features per page (above the maximum, the maximum is used)",
                                json_schema_extra={"maximum": gf.MAX_LIMIT})] = gf.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip")] = 0,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in `bbox-crs` (default CRS84 lon/lat)")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS of `bbox` (see the collection's `crs`)")] = None,
    datetime: Annotated[str | None, Query(description="RFC 3339 instant or interval (`a/b`, `../b`, `a/..`)")] = None,
    crs: Annotated[str | None, Query(description="Output CRS (default CRS84), e.g. http://www.opengis.net/def/crs/EPSG/0/9210")] = None,
    filter: Annotated[str | None, Query(description="CQL2 filter on the queryables, numeric and date properties and `geometry`, e.g. "
                                        "`operator = 'VTL' AND mast_height_m BETWEEN 20 AND 40`")] = None,
    filter_lang: Annotated[str | None, Query(
        alias="filter-lang", description="Encoding of `filter`: `cql2-text` (default) or `cql2-json` "
        "(`cql-text` is the draft name older GDAL sends, and finds in this enum)",
        json_schema_extra={"enum": list(FILTER_LANGS)})] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs", description="CRS of the geometries in `filter` "
                                            "(default CRS84; EPSG:4326 is lat/lon)")] = None,
    f: Format = None,
) -> Response:
    html = wants_html(request, f)
    coll = _collection_def(collection_id)
    allowed = set(ITEMS_PARAMS) | set(coll.queryables)
    q = gf.ItemsQuery(limit=min(limit, gf.MAX_LIMIT), offset=offset)
    for key in request.query_params:
        if key not in allowed:
            raise InvalidParameter(key, gettext("unknown parameter; allowed: {allowed}", allowed=", ".join(sorted(allowed))))
    out_crs = gf.parse_crs_param(crs or gf.CRS84, "crs", settings.metric_crs)
    if bbox is not None:
        q.area = gf.parse_bbox(bbox, gf.parse_crs_param(bbox_crs or gf.CRS84, "bbox-crs", settings.metric_crs))
    elif bbox_crs is not None:
        raise InvalidParameter("bbox-crs", _("given without bbox"))
    if datetime is not None:
        q.interval = gf.parse_datetime(datetime)
    if filter is not None:
        fcrs = gf.parse_crs_param(filter_crs or gf.CRS84, "filter-crs", settings.metric_crs)
        q.cql = cql2.parse(filter, filter_lang or "cql2-text", fcrs, settings.metric_crs)
    elif filter_lang is not None or filter_crs is not None:
        raise InvalidParameter("filter-lang" if filter_lang is not None else "filter-crs", _("given without "
                                                                                             "filter"))
    for name, prop in coll.queryables.items():
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise InvalidParameter(name, _("given more than once"))
        if values:
            q.filters[name] = gf.parse_filter(prop, values[0])

    page = gf.query_items(engine, coll, q, out_crs)
    n = len(page.ids)
    links = [{"href": _page_url(request, q.offset, q.limit), "rel": "self", "type": GEOJSON, "title": "This page"},
             {"href": f"{public_base(request)}/collections/{coll.id}", "rel": "collection", "type": JSON,
              "title": "The collection"}]
    more = n == q.limit and (page.matched is None or q.offset + n < page.matched)
    if more:
        links.append({"href": _page_url(request, q.offset + n, q.limit), "rel": "next", "type": GEOJSON,
                      "title": "Next page"})
    if q.offset > 0:
        links.append({"href": _page_url(request, max(0, q.offset - q.limit), q.limit), "rel": "prev",
                      "type": GEOJSON, "title": "Previous page"})
    feats = ",".join(gf.feature_json(i, g, p) for i, g, p in zip(page.ids, page.geometries, page.properties,
                                                                strict=True))
    head = {"numberReturned": n, "timeStamp": _now(), "links": links}
    if page.matched is not None:
        head = {"numberMatched": page.matched, **head}
    tail = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[1:]
    body = f'{{"type":"FeatureCollection","features":[{feats}],{tail}'
    resp = Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs.uri}>"})
    return _answer(request, html, f"{coll.title}: features", resp)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature (GeoJSON)",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}, 404: {"description": "No such feature (problem+json)"}},
)
def item(
    request: Request,
    engine: ReadEngineDep,
    settings: SettingsDep,
    collection_id: CollectionId,
    feature_id: FeatureId,
    crs: Annotated[str | None, Query(description="Output CRS (default CRS84)")] = None,
    f: Format = None,
) -> Response:
    html = wants_html(request, f)
    coll = _collection_def(collection_id)
    out_crs = gf.parse_crs_param(crs or gf.CRS84, "crs", settings.metric_crs)
    page = gf.get_item(engine, coll, feature_id, out_crs)
    if page is None:
        raise Problem(404, N_("Feature not found"), _("no feature {feature_id!r} in collection {id!r}",
                                                      feature_id=feature_id, id=coll.id))
    b = f"{public_base(request)}/collections/{coll.id}"
    fid = page.ids[0]
    feat = json.loads(gf.feature_json(fid, page.geometries[0], page.properties[0]))
    feat["links"] = [{"href": f"{b}/items/{fid}", "rel": "self", "type": GEOJSON, "title": "This feature"},
                     {"href": b, "rel": "collection", "type": JSON, "title": "The collection"}]
    resp = json_response(feat, GEOJSON, headers={"Content-Crs": f"<{out_crs.uri}>"})
    return _answer(request, html, f"{coll.title}: {fid}", resp)
