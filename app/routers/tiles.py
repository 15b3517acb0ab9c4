"""Vector tiles (``/tiles/{layer}/{z}/{x}/{y}.mvt``) and their TileJSON 3.0.0 documents.

Tiles are gzip-compressed once, when built, and served as stored; ``ETag`` is a hash of the tile's
content, so ``If-None-Match`` answers ``304`` without sending anything. The TileJSON's tile URL
carries the data version (``?v=``): such URLs never change content, so browsers may keep them for
a day, while bare URLs are revalidated after a minute. Empty tiles are ``204``. Zooms below a
layer's ``minzoom`` are empty; beyond its ``maxzoom`` (or outside the tile matrix) they are ``404``.
"""

from __future__ import annotations

import gzip
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from app.deps import ReadEngineDep, public_base
from app.errors import Problem
from geodata.serve import features as gf
from geodata.serve import tiles as gt
from geodata.store.area import province_area
from planning.i18n import N_, _

router = APIRouter(tags=["vector tiles"])

MVT = "application/vnd.mapbox-vector-tile"
LayerId = Annotated[str, Path(description="Tile layer", examples=list(gt.LAYERS))]
_init_lock = threading.Lock()


def tile_service(request: Request) -> gt.TileService:
    """One :class:`TileService` (and so one tile cache) per application, created on first use."""
    state = request.app.state
    svc = getattr(state, "tiles", None)
    if svc is None:
        with _init_lock:
            svc = getattr(state, "tiles", None)
            if svc is None:
                settings = state.settings
                svc = state.tiles = gt.TileService(state.engine, settings.tile_cache_bytes, settings.metric_crs)
    return svc


def _layer(layer: str) -> gt.Layer:
    lyr = gt.LAYERS.get(layer)
    if lyr is None:
        raise Problem(404, N_("Tile layer not found"), _("no tile layer {layer!r}; layers: {layers}",
                                                         layer=layer, layers=', '.join(gt.LAYERS)))
    return lyr


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))


TILE_PATH = "/tiles/{layer}/{z}/{x}/{y}.mvt"


def tile_route(summary: str, not_found: str) -> dict[str, Any]:
    """How a tile operation is declared, the same on both tile paths but for what 404 means there."""
    return {"summary": summary, "response_class": Response,
            "responses": {200: {"content": {MVT: {}}, "description": "The tile (gzip when accepted)"},
                          204: {"description": "Empty tile"}, 304: {"description": "Not modified (If-None-Match)"},
                          404: {"description": not_found},
                          503: {"description": "The tile took too long (statement timeout)"}}}


@router.get(TILE_PATH, **tile_route("One vector tile (Mapbox Vector Tile, WebMercatorQuad)",
                                    "Unknown layer, or tile outside the matrix / beyond maxzoom"))
def tile(
    request: Request,
    engine: ReadEngineDep,
    layer: LayerId,
    z: Annotated[int, Path(ge=0, le=30)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    v: Annotated[int | None, Query(description="Data version (cache buster from the TileJSON)")] = None,
) -> Response:
    return tile_response(request, engine, layer, z, x, y, v)


def tile_response(request: Request, engine: Any, layer: str, z: int, x: int, y: int, v: int | None) -> Response:
    """The one way a tile is answered, here and on the OGC API Tiles path: bytes, ETag/304, 204, caching."""
    lyr = _layer(layer)
    if not gt.valid_tile(z, x, y) or z > lyr.maxzoom:
        raise Problem(404, N_("Tile not found"), _("{layer}/{z}/{x}/{y} is outside the tile matrix (zoom "
                                                   "{minzoom}–{maxzoom}, x and y below 2^z)",
                                                   layer=layer, z=z, x=x, y=y, minzoom=lyr.minzoom,
                                                   maxzoom=lyr.maxzoom))
    svc = tile_service(request)
    version = svc.version(engine)  # from the engine that renders the tile: see TileService
    cache = "public, max-age=86400, immutable" if v is not None and v == version else "public, max-age=60"
    if z < lyr.minzoom:
        etag = f'"below-minzoom-{layer}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        return Response(status_code=304 if _etag_matches(request.headers.get("if-none-match"), etag) else 204,
                        headers=headers)
    t = svc.get(lyr, z, x, y, version, engine)
    headers = {"ETag": t.etag, "Cache-Control": cache, "Vary": "Accept-Encoding", "X-Data-Version": str(t.version)}
    if _etag_matches(request.headers.get("if-none-match"), t.etag):
        return Response(status_code=304, headers=headers)
    if not t.gz:
        return Response(status_code=204, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(t.gz, media_type=MVT, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(t.gz), media_type=MVT, headers=headers)


# HEAD answers like GET (headers, no body), undocumented so the OpenAPI keeps one operation per path
router.add_api_route(TILE_PATH, tile, methods=["HEAD"], include_in_schema=False)


def _tilejson(request: Request, engine: Any, lyr: gt.Layer, version: int) -> dict[str, Any]:
    base = public_base(request)
    ext = gf.extent(engine, gf.COLLECTIONS[lyr.id])["bbox"]
    if not ext:
        ext = list(province_area(engine, request.app.state.settings.province).extent)
    x0, y0, x1, y1 = ext
    return {
        "tilejson": "3.0.0",
        "name": lyr.id,
        "description": lyr.description,
        "version": "1.0.0",
        "attribution": f"btsplan — {request.app.state.settings.authority}",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{lyr.id}/{{z}}/{{x}}/{{y}}.mvt?v={version}"],
        "minzoom": lyr.minzoom,
        "maxzoom": lyr.maxzoom,
        "bounds": [round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6)],
        "center": [round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6), max(lyr.minzoom, 11)],
        "vector_layers": [{"id": lyr.id, "description": lyr.description, "minzoom": lyr.minzoom,
                           "maxzoom": lyr.maxzoom, "fields": dict(lyr.fields)}],
    }


@router.get("/tiles/{layer}/tilejson.json", summary="TileJSON 3.0.0 of a tile layer")
def tilejson(request: Request, engine: ReadEngineDep, layer: LayerId) -> JSONResponse:
    lyr = _layer(layer)
    version = tile_service(request).version(engine)
    return JSONResponse(_tilejson(request, engine, lyr, version), headers={"Cache-Control": "no-cache"})


@router.get("/tiles", summary="Tile layers and their TileJSON links")
def tile_layers(request: Request) -> JSONResponse:
    base = public_base(request)
    return JSONResponse({"layers": [
        {"id": lyr.id, "description": lyr.description, "minzoom": lyr.minzoom, "maxzoom": lyr.maxzoom,
         "tilejson": f"{base}/tiles/{lyr.id}/tilejson.json"} for lyr in gt.LAYERS.values()]})
