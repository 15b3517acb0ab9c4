"""OGC API – Tiles beside ``/tiles``: the tile matrix set, each collection's tileset list and metadata,
and ``/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}`` (row before column, as the standard
orders them). A tile here is answered by :func:`app.routers.tiles.tile_response`, so it is the very
bytes, ETag, 304, 204 and caching of ``/tiles/{layer}/{z}/{x}/{y}.mvt``; morecantile describes the
matrix set. Only WebMercatorQuad is offered (the tiles are built in it) and only as MVT; these are
JSON resources with no HTML, so ``f=html`` is a 400 naming ``f``.
"""

from __future__ import annotations

from typing import Annotated, Any

import morecantile
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from app.deps import ReadEngineDep, public_base
from app.errors import Problem, one_of
from app.negotiation import json_response, wants_html
from app.routers.tiles import MVT, tile_response, tile_route
from geodata.errors import InvalidParameter
from geodata.serve import features as gf
from geodata.serve import tiles as gt
from planning.i18n import N_, _

router = APIRouter(tags=["OGC API Tiles"])

JSON = "application/json"
TMS_ID = "WebMercatorQuad"
TMS = morecantile.tms.get(TMS_ID)
TMS_URI = str(TMS.uri)
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
OGC_TILE_PATH = "/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"

#: what /conformance declares for this module (app/routers/features.py adds it to its list)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]

CollectionId = Annotated[str, Path(alias="collectionId", description="Collection with a tile layer",
                                   examples=list(gt.LAYERS))]
Format = Annotated[str | None, Query(description="Output format: `json` (no HTML for these resources)")]


def _tms_id(tms_id: str) -> None:
    if tms_id != TMS_ID:
        raise Problem(404, N_("Tile matrix set not found"), _("no tile matrix set {tms_id!r}; offered: "
                                                              "{tms_id2}", tms_id=tms_id, tms_id2=TMS_ID))


def _layer(collection_id: str) -> gt.Layer:
    return one_of(gt.LAYERS, collection_id, N_("Tileset not found"),
                  _("collection {id!r} has no tiles", id=collection_id))


def _tms_link(base: str) -> dict[str, str]:
    return {"href": f"{base}/tileMatrixSets/{TMS_ID}", "rel": REL_TILING_SCHEME, "type": JSON,
            "title": "WebMercatorQuad tile matrix set"}


@router.get("/tileMatrixSets", summary="Tile matrix sets the tiles are offered in")
def tile_matrix_sets(request: Request, f: Format = None) -> Response:
    wants_html(request, f, html=False)
    base = public_base(request)
    return json_response({"tileMatrixSets": [{
        "id": TMS_ID, "title": TMS.title, "uri": TMS_URI,
        "links": [{"href": f"{base}/tileMatrixSets/{TMS_ID}", "rel": "self", "type": JSON,
                   "title": "WebMercatorQuad tile matrix set"}],
    }]})


@router.get("/tileMatrixSets/{tileMatrixSetId}", summary="One tile matrix set (OGC TMS 2.0 JSON)")
def tile_matrix_set(request: Request, tms_id: Annotated[str, Path(alias="tileMatrixSetId")],
                    f: Format = None) -> Response:
    wants_html(request, f, html=False)
    _tms_id(tms_id)
    return Response(TMS.model_dump_json(exclude_none=True, by_alias=True), media_type=JSON)


def _tileset(request: Request, lyr: gt.Layer) -> dict[str, Any]:
    base = public_base(request)
    b = f"{base}/collections/{lyr.id}/tiles/{TMS_ID}"
    return {
        "title": f"{gf.COLLECTIONS[lyr.id].title} (vector tiles)" if lyr.id in gf.COLLECTIONS else lyr.id,
        "description": lyr.description,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": [
            {"tileMatrix": str(z), "minTileRow": 0, "maxTileRow": 2 ** z - 1, "minTileCol": 0,
             "maxTileCol": 2 ** z - 1} for z in range(lyr.minzoom, lyr.maxzoom + 1)],
        "layers": [{"id": lyr.id, "dataType": "vector", "description": lyr.description,
                    "minTileMatrix": str(lyr.minzoom), "maxTileMatrix": str(lyr.maxzoom),
                    "propertiesSchema": {"type": "object",
                                         "properties": {k: {"description": v} for k, v in lyr.fields.items()}}}],
        "links": [
            {"href": b, "rel": "self", "type": JSON, "title": "This tileset"},
            _tms_link(base),
            {"href": f"{b}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "rel": "item", "type": MVT,
             "templated": True, "title": "Tiles (Mapbox Vector Tile)"},
            {"href": f"{base}/collections/{lyr.id}", "rel": "collection", "type": JSON, "title": "The collection"},
        ],
    }


@router.get("/collections/{collectionId}/tiles", summary="Tilesets of a collection (OGC API Tiles)")
def collection_tilesets(request: Request, collection_id: CollectionId, f: Format = None) -> Response:
    wants_html(request, f, html=False)
    lyr = _layer(collection_id)
    full = _tileset(request, lyr)
    summary = {k: full[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI")}
    links = [ln for ln in full["links"] if ln["rel"] != "collection"]
    return json_response({
        "links": [{"href": f"{public_base(request)}/collections/{lyr.id}/tiles", "rel": "self", "type": JSON,
                   "title": "Tilesets"}],
        "tilesets": [{**summary, "links": links}],
    })


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}", summary="Tileset metadata (OGC API Tiles)")
def collection_tileset(request: Request, collection_id: CollectionId,
                       tms_id: Annotated[str, Path(alias="tileMatrixSetId")], f: Format = None) -> Response:
    wants_html(request, f, html=False)
    _tms_id(tms_id)
    return json_response(_tileset(request, _layer(collection_id)))


@router.get(OGC_TILE_PATH, **tile_route("One vector tile (OGC API Tiles path: row before column; the same tile "
                                         "as /tiles/…)",
                                         "No tiles for the collection, or outside the matrix / beyond its zoom"))
def collection_tile(
    request: Request,
    engine: ReadEngineDep,
    collection_id: CollectionId,
    z: Annotated[int, Path(alias="tileMatrix", ge=0, le=30)],
    y: Annotated[int, Path(alias="tileRow", ge=0)],
    x: Annotated[int, Path(alias="tileCol", ge=0)],
    v: Annotated[int | None, Query(description="Data version (cache buster)")] = None,
    f: Annotated[str | None, Query(description="Output format: `mvt` (the only one)")] = None,
) -> Response:
    if f is not None and f.lower() not in ("mvt", MVT):
        raise InvalidParameter("f", _("{f!r} is not offered; use f=mvt", f=f))
    _layer(collection_id)
    return tile_response(request, engine, collection_id, z, x, y, v)


# HEAD answers like GET, undocumented so the OpenAPI keeps one operation per path (as /tiles does)
router.add_api_route(OGC_TILE_PATH, collection_tile, methods=["HEAD"], include_in_schema=False)
