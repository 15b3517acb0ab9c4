"""Downloads: ``GET /exports/sites.{csv,xlsx,geojson,gpkg,kml,shp.zip}`` (also ``findings`` and
``cables``) with the inspectors' filters, streamed.

The layer and the writers are the I/O module's (:func:`geodata.io.exports.open_export`,
:mod:`geodata.io.writers`), exactly what ``btsplan export`` writes; this router only parses the query,
names the file after what it holds (``sites-le-chan-vtl-2026-05-01.csv``) and streams the bytes as
the database is read, so memory stays flat however many sites match.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from app import downloads
from app.auth import OptionalPrincipalExpensiveRead
from app.deps import EngineDep, SettingsDep
from app.errors import Problem
from app.schemas import IsoDate
from geodata.io import writers
from geodata.io.exports import LAYERS, ExportFilter, open_export
from planning.i18n import N_, _

router = APIRouter(tags=["exports"])

#: the names of the features queryables (``type`` is the older name of ``derived_class``, still accepted)
FILTERS = ("district", "commune", "derived_class", "type", "operator", "status", "finding", "as_of")
#: rows read and encoded at a time: bounds the server's memory per download (+90 MB RSS measured for
#: 30,000 and for 1,000,000 sites), whatever the size
CHUNK_ROWS = 10_000
Many = Annotated[list[str] | None, Query(description="Repeat the parameter or separate values with commas")]


def _values(raw: list[str] | None) -> list[str]:
    return [v.strip() for item in raw or [] for v in item.split(",") if v.strip()]


@router.get(
    "/exports/{name}",
    summary="Download sites (or findings, cables) as CSV, XLSX, GeoJSON, GeoPackage, KML or zipped Shapefile",
    response_class=StreamingResponse,
    responses={200: {"content": {f.media_type.split(";")[0]: {} for f in writers.FORMATS.values()},
                     "description": "The file (attachment), streamed"},
               404: {"description": "Unknown layer or format"},
               422: {"description": "A filter names nothing (problem+json naming it)"}},
)
def export(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    _who: OptionalPrincipalExpensiveRead,
    name: Annotated[str, Path(description="`<layer>.<format>`: layer sites, findings or cables; format csv, "
                                          "xlsx, geojson, gpkg, kml or shp.zip", examples=["sites.csv"])],
    district: Many = None,
    commune: Many = None,
    derived_class: Many = None,
    type: Many = None,  # noqa: A002 — the older name of derived_class, kept so existing links work
    operator: Many = None,
    status: Many = None,
    finding: Many = None,
    as_of: Annotated[IsoDate | None, Query(description="Name and select rows by the administrative units in force on "
                                                       "this day (by position): communes from 2025-07-01, districts "
                                                       "before. Without it, the units stored with each row")] = None,
) -> StreamingResponse:
    """CSV is UTF-8 with a BOM (Excel shows Vietnamese); every format carries WGS84 lon/lat and the
    province's VN-2000 X (northing) / Y (easting). ``district``/``commune`` take codes or names
    (``305``, ``Lê Chân``, ``le chan``); ``derived_class`` (or ``type``) is the mast class (derived,
    else declared). The names are those of the features queryables and of campaign filters."""
    layer, _sep, fmt = name.partition(".")
    if layer not in LAYERS:
        raise Problem(404, N_("Export not found"), _("no export {layer!r}; exports: {layers}",
                                                     layer=layer, layers=', '.join(LAYERS)))
    try:
        key = writers.check_format(fmt)
    except ValueError:
        raise Problem(404, N_("Export format not found"),
                      _("{fmt!r} is not offered; use one of {by_suffix}",
                        fmt=fmt, by_suffix=', '.join(writers.BY_SUFFIX))) from None
    unknown = sorted(set(request.query_params) - set(FILTERS))
    if unknown:
        raise Problem(422, N_("Invalid request"), _("{value}: unknown parameter; filters: {filters}",
                                                    value=unknown[0], filters=', '.join(FILTERS)),
                      field=unknown[0])
    given = {"district": _values(district), "commune": _values(commune), "type": _values(derived_class) + _values(type),
             "operator": _values(operator), "status": _values(status), "finding": _values(finding)}
    flt = ExportFilter(**given, as_of=as_of)
    lyr = open_export(engine, layer, flt, province_key=settings.province, chunk_size=CHUNK_ROWS)
    suffix = writers.FORMATS[key].suffix.lstrip(".")
    parts = [layer, *given["district"], *given["commune"], *given["type"], *given["operator"], *given["status"],
             *given["finding"]]
    fname = downloads.filename(*parts[:6], ext=suffix, day=as_of or dt.date.today())
    return downloads.stream(writers.stream(lyr, key), writers.FORMATS[key].media_type, fname)
