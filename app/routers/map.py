"""The web map's own routes: static assets (MapLibre vendored, our JS/CSS), ``/map``, ``/search``,
``/map/labels`` (admin-unit label points), ``/map/sites/{code}`` (the popup of one site) and
``/map/i18n/{lang}.json`` (the map's interface texts, from the message catalog).

``/`` is the OGC landing page owned by the features router, which answers browsers with
``app/static/index.html``; ``/map`` serves the same page whatever the Accept header says. Static
files are served through a route rather than ``app.mount`` so this module plugs in with one
``include_router`` line, and Starlette's ``StaticFiles`` still does ETag / 304 / Range for us.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from app.deps import ReadEngineDep
from app.errors import Problem
from app.map_strings import map_strings
from app.routers.tiles import _etag_matches
from geodata.store.meta import data_version, meta_get
from geodata.serve.search import admin_labels, search
from geodata.serve.sitecard import site_card
from planning.i18n import LANGUAGES, N_, _

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
INDEX_HTML = STATIC_DIR / "index.html"

# Module scripts are refused by browsers unless served as JavaScript; not every mime.types knows .mjs.
mimetypes.add_type("text/javascript", ".mjs")

router = APIRouter(tags=["map"])
_static = StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.api_route("/map", methods=["GET", "HEAD"], include_in_schema=False)
def map_page() -> FileResponse:
    """The interactive map (also served at ``/`` to browsers)."""
    return FileResponse(INDEX_HTML, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def static_file(path: str, request: Request) -> Response:
    try:
        response = await _static.get_response(path, request.scope)
    except StarletteHTTPException as exc:
        raise Problem(exc.status_code, N_("Not found") if exc.status_code == 404 else str(exc.detail),
                      _("no static file {path!r}", path=path)) from None
    # Vendored MapLibre changes only with its version (it is in the file's directory's VERSION);
    # our own JS/CSS change with the code, so the browser revalidates them (cheap 304s via ETag).
    response.headers.setdefault("Cache-Control", "public, max-age=86400" if path.startswith("vendor/")
                                else "no-cache")
    return response


@router.api_route("/map/i18n/{lang}.json", methods=["GET", "HEAD"], include_in_schema=False)  # an asset, like /static
def map_texts(lang: str, request: Request) -> Response:
    """Every text the map's JavaScript shows, keyed as ``t()`` asks for it. The table changes only with a
    deployment, so it carries a strong ETag: the page revalidates (``no-cache``) and gets a 304."""
    if lang not in LANGUAGES:
        raise Problem(404, N_("Not found"), _("no language {lang!r}; offered: {languages}", lang=lang,
                                              languages=", ".join(LANGUAGES)), field="lang")
    body, etag = map_strings(lang)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/search", summary="Accent-insensitive search of site codes, streets, zones and admin units")
def search_places(
    engine: ReadEngineDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description='Text to find, e.g. "le chan" or "HP-VTL-00012"')],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> JSONResponse:
    """``"le chan"`` finds ``"Lê Chân"``: names are compared without diacritics; site codes by substring."""
    hits = search(engine, q, limit)
    return JSONResponse({"q": q, "count": len(hits), "results": [h.as_dict() for h in hits]})


@router.get("/map/about", summary="What the map shows: whether the data are the demo's illustrative geography")
def about(engine: ReadEngineDep) -> JSONResponse:
    """``{"demo", "illustrative"}``: ``illustrative`` is true for the demo on its made-up boundaries
    (not for ``btsplan demo --admin`` on real ones), so the map can say so beside its table."""
    demo = meta_get(engine, "demo")
    return JSONResponse({"demo": demo is not None, "illustrative": demo is not None and "admin" not in demo},
                        headers={"Cache-Control": "no-cache"})


@router.get("/map/labels", summary="One label point per district and commune (GeoJSON)",
            response_class=JSONResponse,
            responses={200: {"content": {"application/geo+json": {}}, "description": "FeatureCollection of points"},
                       304: {"description": "Unchanged since the ETag sent in If-None-Match"}})
def labels(engine: ReadEngineDep, request: Request) -> Response:
    """Label points for the map's admin-unit names; ``ETag`` is the data version, so 304s are cheap."""
    etag = f'"labels-{data_version(engine)}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(admin_labels(engine), media_type="application/geo+json",
                        headers={"ETag": etag, "Cache-Control": "no-cache"})


@router.get("/map/sites/{code}", summary="One site for the map's popup: attributes, class reasons and findings")
def site_popup(engine: ReadEngineDep, code: Annotated[str, PathParam(max_length=50)]) -> JSONResponse:
    card = site_card(engine, code)
    if card is None:
        raise Problem(404, N_("Site not found"), _("no site with code {code!r}", code=code), field="code")
    return JSONResponse(card)
