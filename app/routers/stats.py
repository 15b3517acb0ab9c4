"""``GET /stats/sites``: BTS sites by district or commune × mast class, the table of the department's
reports — the same numbers, rows and CSV columns as ``btsplan stats sites``.

Counting reads every site, so results are kept per (data version, grouping, date): the report is
requested far more often than the data changes.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from app import downloads
from app.deps import ReadEngineDep, SettingsDep
from app.documents import issuer_of
from app.documents.statistics import stats_document
from app.documents.to_pdf import document_pdf
from app.documents.to_xlsx import document_xlsx
from app.errors import Problem
from app.schemas import IsoDate
from geodata.work import checks as gchecks
from geodata.io.writers import tabular
from geodata.store.cache import LRUCache
from geodata.store.meta import data_version
from planning.rules import pack_for_province
from planning.vocab import DERIVED_CLASSES
from planning.i18n import N_, _

router = APIRouter(tags=["statistics"])
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_cache: LRUCache[dict[str, Any]] = LRUCache(64, size_of=lambda _v: 1)
_lock = threading.Lock()


def _level(by: str) -> str:
    parts = [p.strip() for p in by.split(",") if p.strip()]
    if not parts or parts[0] not in ("district", "commune") or any(p not in ("type", "class") for p in parts[1:]):
        raise Problem(422, N_("Invalid request"), _("by: {by!r} — use district,type or commune,type",
                                                    by=by), field="by")
    return parts[0]


def site_counts_json(engine: Any, province: str, level: str, as_of: dt.date | None) -> dict[str, Any]:
    """The §3.5 JSON of the counts, cached per data version."""
    key = (engine.url.render_as_string(hide_password=False), data_version(engine), level, as_of, province)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            hit = gchecks.stored_site_counts(engine, pack_for_province(province), by=level, as_of=as_of).to_json()
            _cache.put(key, hit)
    return hit


def table(data: dict[str, Any], level: str) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the CSV/XLSX, as the CLI writes them (units, classes, total, share %)."""
    lead = ["district_code", "district"] + (["commune_code", "commune"] if level == "commune" else [])
    header = [*lead, *DERIVED_CLASSES, "total"]
    rows: list[list[Any]] = [[r.get(k) or "" for k in lead] + [r[c] for c in (*DERIVED_CLASSES, "total")]
                             for r in data["rows"]]
    pad = [""] * (len(lead) - 2)
    rows.append(["", "total", *pad, *[data["totals"][c] for c in (*DERIVED_CLASSES, "total")]])
    rows.append(["", "share %", *pad, *[data["shares"][c] for c in DERIVED_CLASSES], 100.0])
    return header, rows


@router.get("/stats/sites", summary="Sites by district or commune × mast class (A1a … A2c, unknown)",
            responses={200: {"content": {"text/csv": {}, XLSX_MEDIA: {}, "application/pdf": {}}}})
def stats_sites(
    engine: ReadEngineDep,
    settings: SettingsDep,
    by: Annotated[str, Query(description="`district,type` or `commune,type`")] = "district,type",
    as_of: Annotated[IsoDate | None, Query(description="Units valid on this date (default today, or the last day "
                                                       "of the latest units when none is valid today)")] = None,
    format: Annotated[Literal["json", "csv", "xlsx", "pdf"],
                      Query(description="json, csv (UTF-8 BOM), or the table the department issues (authority "
                                        "header, Decree 30/2020 layout) as xlsx or pdf")] = "json",
) -> Response:
    """``{"by", "as_of", "rows": [{"district", ("commune"), "A1a", …, "unknown", "total"}], "totals",
    "shares"}`` — derived classes; sites never classified are classified on the fly."""
    level = _level(by)
    data = site_counts_json(engine, settings.province, level, as_of)
    if format == "json":
        return JSONResponse(data)
    header, rows = table(data, level)
    name = downloads.filename("sites-by", level, "class", ext=format, day=dt.date.fromisoformat(data["as_of"]))
    if format == "csv":
        return downloads.stream(tabular.csv_stream(header, rows), downloads.CSV_MEDIA, name)
    doc = stats_document(data, level, issuer_of(settings))
    body, media = (document_pdf(doc), "application/pdf") if format == "pdf" else (document_xlsx(doc), XLSX_MEDIA)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
